/**
 * Authentication, TLS and least privilege against real nats-server processes, as
 * docs/security.md describes them:
 *
 * - user/password, token and NKey authentication: a worker starts, owns its partitions and stops;
 *   refused credentials fail in `connect()` with `AuthorizationError`;
 * - the permission sets are read from the fenced blocks of docs/security.md (with the group name
 *   put in), so the page stays true: a provisioner creates the buckets, a worker alone cannot; two
 *   workers with the worker set settle and hand over, also across lost watch consumers and a server
 *   restart; a deleted bucket waits for the provisioner; the same user cannot reach another group
 *   nor delete its own streams; an observer reads the topology and cannot write; an operator may
 *   drain and nothing more;
 * - TLS with a throwaway CA made by `openssl` in a temporary directory, and mutual TLS whose
 *   client certificate is the user (`verify_and_map`);
 * - two accounts running a group of the same name without seeing each other.
 *
 * Connection attempts that must be refused run in a child process
 * (`tests/fixtures/security/connect_attempt.ts`): on Deno a refused attempt over
 * `@nats-io/transport-node` sometimes raises a stray uncaught error from its socket (`ECONNRESET`,
 * or a TLS alert), which would end this test run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, type ConnectionOptions, nkeyAuthenticator } from "@nats-io/transport-node";
import { type NatsConnection, nkeys } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import {
  GroupAdmin,
  type Logger,
  Manager,
  type ManagerOptions,
  type Partition,
  PermissionDeniedError,
  recommendedConnectionOptions,
} from "../../mod.ts";
import { NatsServer, type NatsServerProbeOptions, waitFor } from "../../testing/mod.ts";
import { fastOptions, fullyCovered, makePartitions, waitForSettled } from "../helpers/pool.ts";

const ROOT = new URL("../../", import.meta.url);
const DOC = new URL("docs/security.md", ROOT);
const ATTEMPT = new URL("tests/fixtures/security/connect_attempt.ts", ROOT).pathname;
/** The group the permission blocks of docs/security.md are written for. */
const DOC_GROUP = "orders";
const BUCKETS = ["ids", "hb", "leader", "assign"] as const;

// -------------------------------------------------------------------------------------------------
// Permission sets from docs/security.md

/** The permission variables docs/security.md defines. */
type PermissionSet = "PARTI_WORKER" | "PARTI_PROVISIONER" | "PARTI_OBSERVER" | "PARTI_OPERATOR";

/** The fenced block of docs/security.md that defines `name`, rewritten for `group`. */
function permissionBlock(name: PermissionSet, group: string): string {
  const text = Deno.readTextFileSync(DOC);
  const blocks = [...text.matchAll(/^```[^\n]*\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => m[1]!);
  const found = blocks.filter((b) => b.trimStart().startsWith(`${name} = {`));
  assert.equal(found.length, 1, `docs/security.md defines ${name} in exactly one block`);
  const block = found[0]!.replaceAll(`parti_${DOC_GROUP}`, `parti_${group}`);
  assert.doesNotMatch(block, new RegExp(DOC_GROUP), `${name}: every '${DOC_GROUP}' is replaced`);
  return block;
}

/** The private inbox prefix a set allows: its one subscribe subject without the `.>`. */
function inboxPrefixOf(name: PermissionSet, group: string): string {
  const match = /subscribe:\s*\{\s*allow:\s*\["([^"]+)\.>"\]/.exec(permissionBlock(name, group));
  assert.ok(match, `${name} allows one inbox subscription`);
  return match[1]!;
}

/** One user of a test server: user/password, optionally with a permission set. */
interface TestUser {
  readonly user: string;
  readonly pass: string;
  readonly set?: PermissionSet;
  /** Replaces the set's subscribe subject (for a client with the default inbox prefix). */
  readonly subscribe?: string;
}

const ADMIN: TestUser = { user: "admin", pass: secret() };

function secret(): string {
  return crypto.randomUUID();
}

/**
 * Server config for users of `group`: the blocks they use (nats-server rejects an unused
 * variable) and an `authorization` block with an unrestricted admin for the readiness probe and
 * the test's own checks.
 */
function authConfig(group: string, users: readonly TestUser[]): string {
  const lines: string[] = [];
  const entries = [`{ user: ${q(ADMIN.user)}, password: ${q(ADMIN.pass)} }`];
  for (const [i, u] of users.entries()) {
    if (u.set === undefined) {
      entries.push(`{ user: ${q(u.user)}, password: ${q(u.pass)} }`);
      continue;
    }
    // Each user gets its own copy of the block, so that a user may alter the subscribe line.
    const variable = `${u.set}_${i}`;
    let block = permissionBlock(u.set, group).replace(`${u.set} = {`, `${variable} = {`);
    if (u.subscribe !== undefined) {
      block = block.replace(/(subscribe:\s*\{\s*allow:\s*\[)"[^"]+"/, `$1${q(u.subscribe)}`);
    }
    lines.push(block);
    entries.push(`{ user: ${q(u.user)}, password: ${q(u.pass)}, permissions: $${variable} }`);
  }
  lines.push("authorization {", "  users: [", ...entries.map((e) => `    ${e}`), "  ]", "}");
  return lines.join("\n");
}

function q(value: string): string {
  return JSON.stringify(value);
}

function startServer(config: string, probe: NatsServerProbeOptions = ADMIN): Promise<NatsServer> {
  return NatsServer.start({ config, probe });
}

// -------------------------------------------------------------------------------------------------
// Clients

/** A worker on its own connection, with what its logger warned and the connection's errors. */
class Worker implements AsyncDisposable {
  readonly nc: NatsConnection;
  readonly manager: Manager;
  /** `message: fields.error` of every warning and error the manager logged. */
  readonly warnings: string[] = [];
  /** Messages of the connection's `error` status events (permission violations). */
  readonly statusErrors: string[];
  /** `name: message` of every error given to the manager's `onError`. */
  readonly reported: string[] = [];
  readonly #followed: Promise<void>;

  constructor(
    nc: NatsConnection,
    options: Partial<ManagerOptions> & Pick<ManagerOptions, "group" | "source">,
  ) {
    this.nc = nc;
    const { errors, done } = followErrors(nc);
    this.statusErrors = errors;
    this.#followed = done;
    const record = (message: string, fields?: Record<string, unknown>) =>
      void this.warnings.push(`${message}: ${String(fields?.error ?? "")}`);
    const logger: Logger = { debug() {}, info() {}, warn: record, error: record };
    const hooks = { onError: (e: Error) => void this.reported.push(`${e.name}: ${e.message}`) };
    this.manager = new Manager(fastOptions({ ...options, connection: nc, logger, hooks }));
  }

  get owned(): number {
    return this.manager.assignment.partitions.length;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.manager.stop();
    await this.nc.close();
    await this.#followed;
  }
}

/** Collects the messages of a connection's `error` status events until it closes. */
function followErrors(nc: NatsConnection): { errors: string[]; done: Promise<void> } {
  const errors: string[] = [];
  const done = (async () => {
    for await (const status of nc.status()) {
      if (status.type === "error") errors.push(`${status.error.name}: ${status.error.message}`);
    }
  })();
  return { errors, done };
}

function connectAs(
  server: NatsServer,
  user: TestUser,
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  return connect({
    servers: server.url,
    ...recommendedConnectionOptions,
    user: user.user,
    pass: user.pass,
    ...extra,
  });
}

/**
 * A worker of `group` logged in as `user`, with the inbox prefix of its set; the set is for
 * `setGroup` (default: `group`).
 */
async function workerAs(
  server: NatsServer,
  user: TestUser,
  group: string,
  source: readonly Partition[],
  overrides: Partial<ManagerOptions> = {},
  setGroup = group,
): Promise<Worker> {
  const inbox = user.set ? { inboxPrefix: inboxPrefixOf(user.set, setGroup) } : {};
  return new Worker(await connectAs(server, user, inbox), { ...overrides, group, source });
}

/** Starts a Manager with the provisioner's rights once and stops it: the buckets stay. */
async function provision(
  server: NatsServer,
  user: TestUser,
  group: string,
  source: readonly Partition[],
): Promise<void> {
  await using provisioner = await workerAs(server, user, group, source);
  await provisioner.manager.start();
}

/** The outcome printed by tests/fixtures/security/connect_attempt.ts. */
interface AttemptResult {
  readonly connected: boolean;
  readonly tls?: boolean;
  readonly name?: string;
  readonly message?: string;
  /** The error was an uncaught one from the socket, not the rejection of `connect()`. */
  readonly uncaught?: boolean;
}

/** One connection attempt in a child process (see the module comment). */
async function attempt(options: Record<string, unknown>): Promise<AttemptResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ATTEMPT, JSON.stringify(options)],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("{"));
  assert.ok(line, `the attempt printed no result; stderr: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(line) as AttemptResult;
}

async function streamNames(server: NatsServer): Promise<string[]> {
  const nc = await connectAs(server, ADMIN);
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    return names.sort();
  } finally {
    await nc.close();
  }
}

/** Waits until the server's log has a line containing `text`. */
async function serverLogged(server: NatsServer, text: string): Promise<void> {
  await waitFor(async () => (await Deno.readTextFile(server.logFile)).includes(text), {
    timeoutMs: 3_000,
    message: `the server logs '${text}'`,
  });
}

const streamsOf = (group: string) => BUCKETS.map((b) => `KV_parti_${group}_${b}`).sort();

/** Runs `step` and returns how long it took to reject, with the rejection. */
async function rejection(step: () => Promise<unknown>): Promise<{ error: Error; ms: number }> {
  const t0 = performance.now();
  try {
    await step();
  } catch (error) {
    return { error: error as Error, ms: performance.now() - t0 };
  }
  assert.fail("expected a rejection");
}

// -------------------------------------------------------------------------------------------------
// Authentication

Deno.test("user and password: a worker starts, owns every partition and stops; wrong credentials are refused", async () => {
  const worker: TestUser = { user: "worker", pass: secret() };
  await using server = await startServer(authConfig("pw", [worker]));
  const partitions = makePartitions(8);
  {
    await using w = await workerAs(server, worker, "pw", partitions);
    await w.manager.start();
    assert.equal(w.owned, 8);
    await waitFor(() => w.manager.state === "stable" && w.manager.isLeader, { timeoutMs: 5_000 });
    await w.manager.stop();
    assert.equal(w.manager.state, "shutdown");
  }
  const wrong = await attempt({ servers: server.url, user: "worker", pass: "not-the-password" });
  assert.deepEqual(wrong, {
    connected: false,
    name: "AuthorizationError",
    message: "Authorization Violation",
  });
  await serverLogged(server, `authentication error - User "worker"`);
  const anonymous = await attempt({ servers: server.url });
  assert.equal(anonymous.name, "AuthorizationError");
});

Deno.test("token: a worker with the token runs; a wrong token is refused", async () => {
  const token = secret();
  await using server = await startServer(`authorization { token: ${q(token)} }`, { token });
  const nc = await connect({ servers: server.url, ...recommendedConnectionOptions, token });
  await using w = new Worker(nc, { group: "tok", source: makePartitions(4) });
  await w.manager.start();
  assert.equal(w.owned, 4);
  const wrong = await attempt({ servers: server.url, token: "not-the-token" });
  assert.equal(wrong.connected, false);
  assert.equal(wrong.name, "AuthorizationError");
});

Deno.test("nkeys: a worker signing with its seed runs; another seed is refused", async () => {
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const config = `authorization {\n  users: [ { nkey: ${user.getPublicKey()} } ]\n}`;
  await using server = await startServer(config, { seed });
  const nc = await connect({
    servers: server.url,
    ...recommendedConnectionOptions,
    authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
  });
  await using w = new Worker(nc, { group: "nk", source: makePartitions(4) });
  await w.manager.start();
  assert.equal(w.owned, 4);
  const stranger = new TextDecoder().decode(nkeys.createUser().getSeed());
  const wrong = await attempt({ servers: server.url, seed: stranger });
  assert.equal(wrong.connected, false);
  assert.equal(wrong.name, "AuthorizationError");
});

// -------------------------------------------------------------------------------------------------
// Least privilege

Deno.test("worker set: it cannot create the buckets; after the provisioner, two workers settle and hand over", async () => {
  const group = "lp";
  const provisioner: TestUser = { user: "provisioner", pass: secret(), set: "PARTI_PROVISIONER" };
  const worker: TestUser = { user: "worker", pass: secret(), set: "PARTI_WORKER" };
  await using server = await startServer(authConfig(group, [provisioner, worker]));
  const partitions = makePartitions(12);

  // Before provisioning, a worker cannot make the buckets: start() fails at once (not at
  // startupTimeoutMs) with a PermissionDeniedError naming the refused subject.
  {
    await using early = await workerAs(server, worker, group, partitions, {
      startupTimeoutMs: 10_000,
    });
    const { error, ms } = await rejection(() => early.manager.start());
    assert.ok(error instanceof PermissionDeniedError, String(error));
    assert.equal(error.code, "PERMISSION_DENIED");
    assert.equal(error.operation, "publish");
    assert.ok(
      error.subject.startsWith(`$JS.API.STREAM.CREATE.KV_parti_${group}_`),
      error.subject,
    );
    assert.match(error.message, /docs\/security\.md/);
    assert.ok(ms < 3_000, `start() gave up after ${Math.round(ms)} ms`);
  }
  assert.deepEqual(await streamNames(server), []);

  await provision(server, provisioner, group, partitions);
  assert.deepEqual(await streamNames(server), streamsOf(group));

  await using a = await workerAs(server, worker, group, partitions);
  await using b = await workerAs(server, worker, group, partitions);
  await a.manager.start();
  await b.manager.start();
  const managers = [a.manager, b.manager];
  await waitForSettled(managers, partitions, 8_000);
  assert.ok(a.owned > 0 && b.owned > 0, `both own partitions: ${a.owned} + ${b.owned}`);

  await b.manager.stop();
  await waitFor(() => a.owned === 12 && a.manager.isLeader && a.manager.state === "stable", {
    timeoutMs: 8_000,
    message: "the remaining worker owns every partition",
  });
  assert.deepEqual([...a.statusErrors, ...b.statusErrors], [], "no permission violations");
  assert.deepEqual([...a.warnings, ...b.warnings], []);
});

/** A provisioned group and two settled workers with the worker set, for the recovery tests. */
async function settledPair(group: string, partitions: readonly Partition[]) {
  const provisioner: TestUser = { user: "provisioner", pass: secret(), set: "PARTI_PROVISIONER" };
  const worker: TestUser = { user: "worker", pass: secret(), set: "PARTI_WORKER" };
  const server = await startServer(authConfig(group, [provisioner, worker]));
  const workers: Worker[] = [];
  const dispose = async () => {
    for (const w of workers) await w[Symbol.asyncDispose]();
    await server.stop();
  };
  try {
    await provision(server, provisioner, group, partitions);
    for (let i = 0; i < 2; i++) workers.push(await workerAs(server, worker, group, partitions));
    for (const w of workers) await w.manager.start();
    await waitForSettled(workers.map((w) => w.manager), partitions, 8_000);
  } catch (error) {
    await dispose();
    throw error;
  }
  const violations = () =>
    workers.flatMap((w) => w.statusErrors).filter((e) => e.includes("Permissions Violation"));
  return {
    server,
    provisioner,
    worker,
    workers,
    violations,
    [Symbol.asyncDispose]: dispose,
    add: async () => {
      const w = await workerAs(server, worker, group, partitions);
      workers.push(w);
      return w;
    },
  };
}

Deno.test("worker set: lost watch consumers are recreated, and the follower takes over", async () => {
  const partitions = makePartitions(12);
  await using pair = await settledPair("lpc", partitions);
  // Every watch consumer disappears (as after inactive_threshold): the watchdogs recreate them,
  // replacing and deleting consumers with nothing but the worker set. The follower then sees the
  // leader go, takes over and applies the new assignment through its recreated watches.
  const nc = await connectAs(pair.server, ADMIN);
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of streamsOf("lpc")) {
      for await (const c of jsm.consumers.list(stream)) await jsm.consumers.delete(stream, c.name);
    }
  } finally {
    await nc.close();
  }
  const [a, b] = pair.workers as [Worker, Worker];
  const [leader, follower] = a.manager.isLeader ? [a, b] : [b, a];
  await leader.manager.stop();
  await waitFor(() => follower.owned === 12 && follower.manager.isLeader, {
    timeoutMs: 12_000,
    message: "the follower took over every partition",
  });
  assert.deepEqual(pair.violations(), []);
});

Deno.test("worker set: a deleted bucket stays gone until a provisioner creates it again", async () => {
  const partitions = makePartitions(8);
  await using pair = await settledPair("lpd", partitions);
  const nc = await connectAs(pair.server, ADMIN);
  try {
    await (await jetstreamManager(nc)).streams.delete("KV_parti_lpd_hb");
  } finally {
    await nc.close();
  }
  // The workers see the bucket gone and cannot create it: they report both and fence.
  const refused = `publish on '$JS.API.STREAM.CREATE.KV_parti_lpd_hb'`;
  await waitFor(
    () =>
      pair.workers.every((w) =>
        w.reported.some((e) => e.startsWith("BucketNotFoundError")) &&
        w.reported.some((e) => e.startsWith("PermissionDeniedError") && e.includes(refused))
      ),
    { timeoutMs: 8_000, message: "both workers report the missing bucket and the refused create" },
  );
  assert.deepEqual(
    await streamNames(pair.server),
    streamsOf("lpd").filter((s) => !s.endsWith("_hb")),
  );
  await provision(pair.server, pair.provisioner, "lpd", partitions);
  await waitFor(
    () =>
      fullyCovered(pair.workers.map((w) => w.manager), partitions) &&
      pair.workers.every((w) => w.manager.state === "stable"),
    { timeoutMs: 10_000, message: "the pair owns every partition again" },
  );
});

Deno.test("worker set: a server restart is survived and a new worker joins", async () => {
  const partitions = makePartitions(12);
  await using pair = await settledPair("lpr", partitions);
  await pair.server.kill();
  await pair.server.restart();
  const c = await pair.add();
  await c.manager.start();
  await waitFor(
    () => fullyCovered(pair.workers.map((w) => w.manager), partitions) && c.owned > 0,
    { timeoutMs: 8_000, message: "three workers share the partitions after the restart" },
  );
  assert.deepEqual(pair.violations(), []);
});

Deno.test("worker set: the user cannot reach another group, read other inboxes or change its own streams", async () => {
  const group = "mine";
  const provisioner: TestUser = { user: "provisioner", pass: secret(), set: "PARTI_PROVISIONER" };
  const worker: TestUser = { user: "worker", pass: secret(), set: "PARTI_WORKER" };
  await using server = await startServer(authConfig(group, [provisioner, worker]));
  await provision(server, provisioner, group, makePartitions(4));

  // A Manager of another group: its first request is refused, start() fails at once with a
  // PermissionDeniedError naming the subject, and nothing was created.
  {
    await using other = await workerAs(server, worker, "other", makePartitions(4), {
      startupTimeoutMs: 10_000,
    }, group);
    const { error, ms } = await rejection(() => other.manager.start());
    assert.ok(error instanceof PermissionDeniedError, String(error));
    assert.equal(error.code, "PERMISSION_DENIED");
    assert.ok(error.subject.startsWith("$JS.API.STREAM.INFO.KV_parti_other_"), error.subject);
    assert.ok(ms < 3_000, `start() gave up after ${Math.round(ms)} ms`);
    assert.equal(other.manager.state, "shutdown");
    const subject = `Permissions Violation for Publish to "$JS.API.STREAM.INFO.KV_parti_other_`;
    assert.ok(
      other.statusErrors.some((e) =>
        e.startsWith("PermissionViolationError") && e.includes(subject)
      ),
      other.statusErrors.join("\n"),
    );

    await serverLogged(
      server,
      `Publish Violation - User "worker", Subject "$JS.API.STREAM.INFO.KV_parti_other_`,
    );

    // GroupAdmin does not retry: it fails at once and names the subject.
    const admin = await rejection(() =>
      GroupAdmin.open({ connection: other.nc, group: "other", operationTimeoutMs: 2_000 })
    );
    assert.ok(admin.error instanceof PermissionDeniedError, String(admin.error));
    assert.match(admin.error.message, /'\$JS\.API\.STREAM\.INFO\.KV_parti_other_/);
    assert.ok(admin.ms < 1_500, `GroupAdmin.open failed after ${Math.round(admin.ms)} ms`);

    // A plain write into the other group's bucket and a snooping subscription: both refused.
    other.nc.publish(`$KV.parti_other_assign.w.worker-0`, "{}");
    const snoop = other.nc.subscribe("_INBOX.>");
    await other.nc.flush();
    await waitFor(
      () =>
        other.statusErrors.some((e) =>
          e.includes(`Publish to "$KV.parti_other_assign.w.worker-0"`)
        ) &&
        other.statusErrors.some((e) => e.includes(`Subscription to "_INBOX.>"`)),
      { timeoutMs: 3_000, message: "both violations reported" },
    );
    await snoop.closed.catch(() => {});

    // Nor may it change its own group's streams.
    const jsm = await jetstreamManager(other.nc, { checkAPI: false });
    await assert.rejects(jsm.streams.delete(`KV_parti_${group}_hb`), /Permissions Violation/);
    await assert.rejects(jsm.streams.purge(`KV_parti_${group}_assign`), /Permissions Violation/);
  }
  assert.deepEqual(await streamNames(server), streamsOf(group));

  // A worker of the right group that forgets its inbox prefix fails on its first request.
  {
    const nc = await connectAs(server, worker);
    await using careless = new Worker(nc, {
      group,
      source: makePartitions(4),
      startupTimeoutMs: 10_000,
    });
    const { error, ms } = await rejection(() => careless.manager.start());
    assert.ok(error instanceof PermissionDeniedError, String(error));
    assert.equal(error.operation, "subscription");
    assert.ok(error.subject.startsWith("_INBOX."), error.subject);
    assert.ok(ms < 3_000, `start() gave up after ${Math.round(ms)} ms`);
  }
});

Deno.test("observer set reads the topology and cannot write; operator set may drain and nothing more", async () => {
  const group = "obs";
  const provisioner: TestUser = { user: "provisioner", pass: secret(), set: "PARTI_PROVISIONER" };
  const worker: TestUser = { user: "worker", pass: secret(), set: "PARTI_WORKER" };
  const observer: TestUser = { user: "observer", pass: secret(), set: "PARTI_OBSERVER" };
  const operator: TestUser = { user: "operator", pass: secret(), set: "PARTI_OPERATOR" };
  await using server = await startServer(
    authConfig(group, [provisioner, worker, observer, operator]),
  );
  const partitions = makePartitions(10);
  await provision(server, provisioner, group, partitions);
  await using a = await workerAs(server, worker, group, partitions);
  await using b = await workerAs(server, worker, group, partitions);
  await a.manager.start();
  await b.manager.start();
  await waitForSettled([a.manager, b.manager], partitions, 8_000);
  const ids = [a.manager.workerId!, b.manager.workerId!].sort();

  // Observer: every read works.
  const onc = await connectAs(server, observer, {
    inboxPrefix: inboxPrefixOf("PARTI_OBSERVER", group),
  });
  const observed = followErrors(onc);
  try {
    await using admin = await GroupAdmin.open({
      connection: onc,
      group,
      operationTimeoutMs: 3_000,
    });
    const topology = await admin.topology();
    assert.deepEqual(topology.workers.map((w) => w.workerId).sort(), ids);
    assert.ok(ids.includes(topology.leader!.workerId), `leader ${topology.leader?.workerId}`);
    assert.deepEqual([...(await admin.assignments()).keys()].sort(), ids);
    assert.ok(ids.includes((await admin.ownerOf(partitions[3]!))!));
    const watching = new AbortController();
    for await (const t of admin.watch({ signal: watching.signal })) {
      assert.equal(t.workers.length, 2);
      watching.abort();
    }
    assert.deepEqual(observed.errors, [], "reading needs nothing outside the observer set");

    // ... and no write does.
    const drain = await rejection(() => admin.drain(ids[0]!));
    assert.ok(drain.error instanceof PermissionDeniedError, String(drain.error));
    assert.equal(drain.error.subject, `$KV.parti_${group}_assign.ctl.drain`);
    await serverLogged(
      server,
      `Publish Violation - User "observer", Subject "$KV.parti_${group}_assign.ctl.drain"`,
    );
    const kv = await new Kvm(onc).open(`parti_${group}_assign`);
    await assert.rejects(kv.put(`w.${ids[0]}`, "{}"), /Permissions Violation/);
    const jsm = await jetstreamManager(onc, { checkAPI: false });
    await assert.rejects(jsm.streams.delete(`KV_parti_${group}_hb`), /Permissions Violation/);
  } finally {
    await onc.close();
    await observed.done;
  }
  assert.deepEqual(await streamNames(server), streamsOf(group));

  // Operator: drain and undrain work; an assignment key is still out of reach.
  const pnc = await connectAs(server, operator, {
    inboxPrefix: inboxPrefixOf("PARTI_OPERATOR", group),
  });
  try {
    await using admin = await GroupAdmin.open({
      connection: pnc,
      group,
      operationTimeoutMs: 3_000,
    });
    const [drained, kept] = a.manager.workerId === ids[0] ? [a, b] : [b, a];
    assert.equal(await admin.drain(ids[0]!), true);
    await waitFor(() => drained.owned === 0 && kept.owned === 10, {
      timeoutMs: 8_000,
      message: "the drained worker hands everything over",
    });
    assert.equal(await admin.undrain(ids[0]!), true);
    await waitFor(() => drained.owned > 0 && fullyCovered([a.manager, b.manager], partitions), {
      timeoutMs: 8_000,
      message: "the undrained worker gets partitions back",
    });
    const kv = await new Kvm(pnc).open(`parti_${group}_assign`);
    await assert.rejects(kv.put(`w.${ids[0]}`, "{}"), /Permissions Violation/);
  } finally {
    await pnc.close();
  }

  // The CLI reads the group as the observer, with the inbox prefix its set allows.
  const status = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("cli/parti.ts", ROOT).pathname,
      "status",
      "--server",
      server.url,
      "--group",
      group,
      "--user",
      observer.user,
      "--password",
      observer.pass,
      "--inbox-prefix",
      inboxPrefixOf("PARTI_OBSERVER", group),
    ],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(status.stdout) + new TextDecoder().decode(status.stderr);
  assert.equal(status.code, 0, output);
  for (const id of ids) assert.match(output, new RegExp(id));
});

// -------------------------------------------------------------------------------------------------
// TLS

/** Paths of a throwaway CA, a server certificate for 127.0.0.1/localhost and client certificates. */
interface Certificates {
  readonly dir: string;
  readonly ca: string;
  readonly server: { readonly cert: string; readonly key: string };
  /** Client certificates by name, each with the subject `CN=parti-<name>`. */
  readonly clients: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
}

async function makeCertificates(clientNames: readonly string[]): Promise<Certificates> {
  const dir = await Deno.makeTempDir({ prefix: "parti-tls-" });
  const openssl = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(
    "req",
    "-x509",
    ...key,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=Parti throwaway test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  const issue = async (name: string, subject: string, extensions: string) => {
    await Deno.writeTextFile(`${dir}/${name}.ext`, extensions);
    await openssl("req", ...key, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    await openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
    );
    return { cert: `${dir}/${name}.pem`, key: `${dir}/${name}.key` };
  };
  const server = await issue(
    "server",
    "/CN=localhost",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  const clients: Record<string, { cert: string; key: string }> = {};
  for (const name of clientNames) {
    clients[name] = await issue(name, `/CN=parti-${name}`, "extendedKeyUsage=clientAuth\n");
  }
  return { dir, ca: `${dir}/ca.pem`, server, clients };
}

Deno.test("TLS: a worker that trusts the CA runs over TLS; a client without the CA is refused", async () => {
  const certs = await makeCertificates([]);
  try {
    const config = `tls {\n  cert_file: ${q(certs.server.cert)}\n  key_file: ${
      q(certs.server.key)
    }\n}`;
    await using server = await startServer(config, { tls: { caFile: certs.ca } });
    const nc = await connect({
      servers: server.url,
      ...recommendedConnectionOptions,
      tls: { caFile: certs.ca },
    });
    assert.equal(nc.info?.tls_required, true);
    await using w = new Worker(nc, { group: "tls", source: makePartitions(6) });
    await w.manager.start();
    assert.equal(w.owned, 6);
    await w.manager.stop();

    assert.deepEqual(await attempt({ servers: server.url, tls: { caFile: certs.ca } }), {
      connected: true,
      tls: true,
    });
    const untrusted = await attempt({ servers: server.url });
    assert.equal(untrusted.connected, false);
    assert.match(untrusted.message ?? "", /unable to verify/, JSON.stringify(untrusted));
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
});

Deno.test("mutual TLS: the client certificate is the user and carries the worker set; no certificate is refused", async () => {
  const certs = await makeCertificates(["admin", "worker"]);
  const group = "mtls";
  try {
    const worker = permissionBlock("PARTI_WORKER", group);
    const config = [
      "tls {",
      `  cert_file: ${q(certs.server.cert)}`,
      `  key_file: ${q(certs.server.key)}`,
      `  ca_file: ${q(certs.ca)}`,
      "  verify_and_map: true",
      "}",
      worker,
      "authorization {",
      "  users: [",
      `    { user: "CN=parti-admin" }`,
      `    { user: "CN=parti-worker", permissions: $PARTI_WORKER }`,
      "  ]",
      "}",
    ].join("\n");
    const tlsOf = (name: string) => ({
      caFile: certs.ca,
      certFile: certs.clients[name]!.cert,
      keyFile: certs.clients[name]!.key,
    });
    await using server = await startServer(config, { tls: tlsOf("admin") });
    const partitions = makePartitions(6);
    // The admin certificate maps to an unrestricted user: it creates the buckets.
    {
      const nc = await connect({
        servers: server.url,
        ...recommendedConnectionOptions,
        tls: tlsOf("admin"),
      });
      await using provisioner = new Worker(nc, { group, source: partitions });
      await provisioner.manager.start();
    }
    const nc = await connect({
      servers: server.url,
      ...recommendedConnectionOptions,
      tls: tlsOf("worker"),
      inboxPrefix: inboxPrefixOf("PARTI_WORKER", group),
    });
    assert.equal(nc.info?.tls_verify, true);
    await using w = new Worker(nc, { group, source: partitions });
    await w.manager.start();
    assert.equal(w.owned, 6);
    assert.deepEqual(w.statusErrors, []);

    const anonymous = await attempt({ servers: server.url, tls: { caFile: certs.ca } });
    assert.equal(anonymous.connected, false, JSON.stringify(anonymous));
    await serverLogged(server, "TLS handshake error: tls: client didn't provide a certificate");
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
});

// -------------------------------------------------------------------------------------------------
// Accounts

Deno.test("accounts: two tenants run a group of the same name without seeing each other", async () => {
  const a: TestUser = { user: "tenant-a", pass: secret() };
  const b: TestUser = { user: "tenant-b", pass: secret() };
  const config = [
    "accounts {",
    `  TENANT_A: { jetstream: enabled, users: [ { user: ${q(a.user)}, password: ${q(a.pass)} } ] }`,
    `  TENANT_B: { jetstream: enabled, users: [ { user: ${q(b.user)}, password: ${q(b.pass)} } ] }`,
    "}",
  ].join("\n");
  await using server = await startServer(config, { user: a.user, pass: a.pass });
  const partitions = makePartitions(6);
  await using wa = await workerAs(server, a, "shared", partitions);
  await using wb = await workerAs(server, b, "shared", partitions);
  await Promise.all([wa.manager.start(), wb.manager.start()]);
  // Each tenant's worker is alone in its group: leader, worker-0, every partition.
  for (const w of [wa, wb]) {
    await waitFor(() => w.manager.isLeader && w.owned === 6 && w.manager.state === "stable", {
      timeoutMs: 8_000,
    });
    assert.equal(w.manager.workerId, "worker-0");
  }
  for (const user of [a, b]) {
    const nc = await connectAs(server, user);
    try {
      const names: string[] = [];
      for await (const name of (await jetstreamManager(nc)).streams.names()) names.push(name);
      assert.deepEqual(names.sort(), streamsOf("shared"), `${user.user} sees its own four streams`);
    } finally {
      await nc.close();
    }
  }
});
