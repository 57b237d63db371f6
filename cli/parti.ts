/**
 * `parti`: the operator's command line for a Parti group, built on `GroupAdmin` (it never joins
 * the group: no worker ID, no heartbeat). Shows the topology as a table, follows it live, drains
 * and undrains workers, asks the leader to rebalance or re-read its partitions, and answers "who
 * owns this partition". Every command has `--help`; the exit codes are made for scripts (0 ok,
 * 1 failure, 2 usage, 3 group not found) and every error is one line on stderr.
 *
 * Run: `deno task parti <command> --server URL --group G [options]`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import {
  type AdminTopology,
  GroupAdmin,
  GroupNotFoundError,
  recommendedConnectionOptions,
} from "../mod.ts";
import {
  assignmentsJson,
  formatAssignments,
  formatTopology,
  topologyJson,
} from "../src/admin/format.ts";

/** Exit codes; part of the CLI's contract. */
const EXIT = { ok: 0, failure: 1, usage: 2, groupNotFound: 3 } as const;

/** A mistake in how the CLI was called (exit code 2). */
class UsageError extends Error {
  override name = "UsageError";
}

/** What every command gets: its parsed flags and positionals. */
interface Invocation {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: readonly string[];
}

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly description: string;
  /** Flags of this command only (name → help line). */
  readonly flags: Readonly<Record<string, string>>;
  /** Number of positionals it takes. */
  readonly positionals: number;
  readonly run: (admin: GroupAdmin, call: Invocation) => Promise<number>;
}

const COMMON_OPTIONS = `Connection and group (every command):
  -s, --server URL       NATS server URL [default: $NATS_URL or nats://127.0.0.1:4222]
  -g, --group G          the group (required)
      --user U           user name (with --password)
      --password P       password (with --user)
      --token T          token authentication
      --creds FILE       NATS credentials file (JWT + NKey seed)
      --tls-ca FILE      CA certificate to verify the server's TLS certificate
      --inbox-prefix P   reply subject prefix, for a user scoped to it (see docs/security.md)
      --timeout-ms N     deadline of each NATS request [default: 5000]
  -h, --help             this help`;

const EXIT_CODES = `Exit codes:
  0  success
  1  failure (server unreachable, request failed, timed out, no owner for 'owner')
  2  usage error (unknown command or flag, missing argument); also after --help
  3  the group does not exist on this server`;

const COMMANDS: Readonly<Record<string, Command>> = {
  status: {
    summary: "show the group's workers as a table",
    usage: "parti status --group G [--json] [--observe-ms N]",
    description:
      "Prints one row per worker: ID, leader, state, partitions, load, published version,\n" +
      "applied version, heartbeat age and whether it is drained. Heartbeat ages are measured\n" +
      "by this process's own clock from heartbeats it sees arrive, so status watches for up to\n" +
      "--observe-ms; a worker not seen heartbeating by then shows '>N.Ns' (silent at least\n" +
      "that long).",
    flags: {
      json: "--json            print the topology as one JSON object",
      "observe-ms":
        "--observe-ms N    watch heartbeats for up to N ms to measure ages [default: 2500; 0 = print at once]",
    },
    positionals: 0,
    run: status,
  },
  watch: {
    summary: "show the table and redraw it on every change (Ctrl-C to exit)",
    usage: "parti watch --group G [--json]",
    description:
      "Redraws the status table whenever a heartbeat, the lease or an assignment changes.\n" +
      "On a terminal the screen is cleared first; otherwise tables are separated by a blank\n" +
      "line. With --json, one JSON object per line. Exits with 0 on SIGINT.",
    flags: { json: "--json            one JSON topology per line instead of tables" },
    positionals: 0,
    run: watch,
  },
  drain: {
    summary: "give a worker no partitions (it stays alive)",
    usage: "parti drain <worker-id> --group G [--wait] [--wait-ms N]",
    description:
      "Adds the worker to the group's drain list; the leader moves its partitions away at its\n" +
      "next rebalance. The list is persisted: the worker stays drained across restarts until\n" +
      "'parti undrain'. With --wait, returns once the worker owns nothing (or is gone).",
    flags: {
      wait: "--wait            wait until the worker owns no partitions",
      "wait-ms": "--wait-ms N       give up waiting after N ms (exit 1) [default: 60000]",
    },
    positionals: 1,
    run: (admin, call) => setDrained(admin, call, true),
  },
  undrain: {
    summary: "give a drained worker partitions again",
    usage: "parti undrain <worker-id> --group G",
    description: "Removes the worker from the drain list; it gets work at the next rebalance.",
    flags: {},
    positionals: 1,
    run: (admin, call) => setDrained(admin, call, false),
  },
  rebalance: {
    summary: "ask the leader to rebalance now",
    usage: "parti rebalance --group G",
    description:
      "Writes a rebalance request; the leader runs a round at once, ignoring its batching\n" +
      "windows and minimum interval. Returns once the request is stored.",
    flags: {},
    positionals: 0,
    run: async (admin) => {
      await admin.requestRebalance();
      console.log(`Rebalance requested in group '${admin.group}'`);
      return EXIT.ok;
    },
  },
  refresh: {
    summary: "ask the leader to re-read its partition source",
    usage: "parti refresh --group G",
    description:
      "Writes a refresh request; the leader re-reads its partition list and rebalances if it\n" +
      "changed. Returns once the request is stored.",
    flags: {},
    positionals: 0,
    run: async (admin) => {
      await admin.requestRefresh();
      console.log(`Partition refresh requested in group '${admin.group}'`);
      return EXIT.ok;
    },
  },
  assignments: {
    summary: "list every worker's published partitions",
    usage: "parti assignments --group G [--json]",
    description:
      "Prints each worker's published assignment (epoch, version, partition IDs); with --json\n" +
      "an object: worker ID → { epoch, version, partitions }.",
    flags: { json: "--json            print one JSON object" },
    positionals: 0,
    run: async (admin, call) => {
      const assignments = await admin.assignments();
      console.log(
        call.values.json
          ? JSON.stringify(assignmentsJson(assignments))
          : formatAssignments(assignments),
      );
      return EXIT.ok;
    },
  },
  owner: {
    summary: "print the worker that owns a partition",
    usage: "parti owner <partition-id> --group G",
    description:
      "Prints the worker ID whose published assignment holds the partition (its keys joined\n" +
      "with '/', e.g. orders/7). Exits with 1 when none does: an unknown partition, or one\n" +
      "between the two steps of a hand-off.",
    flags: {},
    positionals: 1,
    run: async (admin, call) => {
      const partition = call.positionals[0]!;
      const owner = await admin.ownerOf(partition);
      if (owner === undefined) {
        fail(
          "owner",
          `Partition '${partition}' has no published owner in group '${admin.group}' (unknown, or moving); retry shortly`,
        );
        return EXIT.failure;
      }
      console.log(owner);
      return EXIT.ok;
    },
  },
};

const ALL_FLAGS = {
  server: { type: "string", short: "s" },
  group: { type: "string", short: "g" },
  user: { type: "string" },
  password: { type: "string" },
  token: { type: "string" },
  creds: { type: "string" },
  "tls-ca": { type: "string" },
  "inbox-prefix": { type: "string" },
  "timeout-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  "observe-ms": { type: "string" },
  wait: { type: "boolean" },
  "wait-ms": { type: "string" },
} as const;
const COMMON_FLAGS = new Set([
  "server",
  "group",
  "user",
  "password",
  "token",
  "creds",
  "tls-ca",
  "inbox-prefix",
  "timeout-ms",
  "help",
]);

function knownFlag(arg: string): boolean {
  if (arg === "--" || arg === "-") return true;
  if (arg.startsWith("--")) return arg.slice(2).split("=")[0]! in ALL_FLAGS;
  const shorts: (string | undefined)[] = Object.values(ALL_FLAGS).map((f) =>
    "short" in f ? f.short : undefined
  );
  return [...arg.slice(1)].every((c) => shorts.includes(c));
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) =>
    `  ${name.padEnd(width)}  ${c.summary}`
  );
  return [
    "parti: inspect and steer a Parti group over NATS (without joining it)",
    "",
    "Usage: deno task parti <command> --server URL --group G [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Run 'deno task parti <command> --help' for a command's own options.",
    "",
    COMMON_OPTIONS,
    "",
    EXIT_CODES,
  ].join("\n");
}

function commandHelp(name: string, c: Command): string {
  const flags = Object.values(c.flags).map((f) => `      ${f}`);
  return [
    `parti ${name}: ${c.summary}`,
    "",
    `Usage: deno task ${c.usage} [--server URL] [auth]`,
    "",
    c.description,
    ...(flags.length > 0 ? ["", "Options:", ...flags] : []),
    "",
    COMMON_OPTIONS,
    "",
    EXIT_CODES,
  ].join("\n");
}

function fail(command: string | undefined, message: string): void {
  const where = command ? `parti ${command}` : "parti";
  console.error(`${where}: ${message.replace(/\s*\n\s*/g, " ")}`);
}

function milliseconds(
  flag: string,
  value: string | boolean | undefined,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `--${flag} needs a whole number of milliseconds of at least ${min}, got '${value}'`,
    );
  }
  return n;
}

async function connectionOptions(values: Invocation["values"]): Promise<ConnectionOptions> {
  const str = (name: string) => values[name] as string | undefined;
  const user = str("user");
  const password = str("password");
  const token = str("token");
  const creds = str("creds");
  if ((user === undefined) !== (password === undefined)) {
    throw new UsageError("--user and --password go together");
  }
  if ([user, token, creds].filter((v) => v !== undefined).length > 1) {
    throw new UsageError("give one of --user/--password, --token or --creds");
  }
  const timeout = milliseconds("timeout-ms", values["timeout-ms"], 5_000, 1);
  const options: ConnectionOptions = {
    ...recommendedConnectionOptions,
    servers: str("server") ?? Deno.env.get("NATS_URL") ?? "nats://127.0.0.1:4222",
    name: "parti-cli",
    timeout: Math.min(timeout, recommendedConnectionOptions.timeout),
  };
  if (user !== undefined) Object.assign(options, { user, pass: password });
  if (token !== undefined) options.token = token;
  if (creds !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(creds);
    } catch (error) {
      throw new Error(`Cannot read --creds file '${creds}': ${(error as Error).message}`);
    }
    options.authenticator = credsAuthenticator(bytes);
  }
  const ca = str("tls-ca");
  if (ca !== undefined) options.tls = { caFile: ca };
  const inboxPrefix = str("inbox-prefix");
  if (inboxPrefix !== undefined) {
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(inboxPrefix)) {
      throw new UsageError(
        `--inbox-prefix needs a subject prefix such as '_INBOX_parti_orders', got '${inboxPrefix}'`,
      );
    }
    options.inboxPrefix = inboxPrefix;
  }
  return options;
}

async function status(admin: GroupAdmin, call: Invocation): Promise<number> {
  const observeMs = milliseconds("observe-ms", call.values["observe-ms"], 2_500);
  let topology = await admin.topology();
  if (observeMs > 0 && !agesKnown(topology)) {
    for await (const t of admin.watch({ signal: AbortSignal.timeout(observeMs) })) {
      topology = t;
      if (agesKnown(t)) break;
    }
  }
  console.log(
    call.values.json
      ? JSON.stringify(topologyJson(topology))
      : formatTopology(admin.group, topology),
  );
  return EXIT.ok;
}

function agesKnown(t: AdminTopology): boolean {
  return t.workers.every((w) => w.state === undefined || w.heartbeatAgeMs !== undefined);
}

async function watch(admin: GroupAdmin, call: Invocation): Promise<number> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  const terminal = Deno.stdout.isTerminal();
  const out = new TextEncoder();
  try {
    for await (const t of admin.watch({ signal: abort.signal })) {
      if (call.values.json) {
        console.log(JSON.stringify(topologyJson(t)));
      } else if (terminal) {
        await Deno.stdout.write(out.encode(`\x1b[H\x1b[2J${formatTopology(admin.group, t)}\n`));
      } else {
        console.log(`${formatTopology(admin.group, t)}\n`);
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
  return EXIT.ok;
}

async function setDrained(admin: GroupAdmin, call: Invocation, drained: boolean): Promise<number> {
  const id = call.positionals[0]!;
  const waitMs = milliseconds("wait-ms", call.values["wait-ms"], 60_000);
  const changed = drained ? await admin.drain(id) : await admin.undrain(id);
  const verb = drained ? "drained" : "undrained";
  console.log(
    changed
      ? `${drained ? "Drained" : "Undrained"} '${id}' in group '${admin.group}'`
      : `'${id}' was already ${drained ? verb : "not drained"} in group '${admin.group}'`,
  );
  if (!drained || !call.values.wait) return EXIT.ok;
  const empty = (t: AdminTopology) => {
    const w = t.workers.find((w) => w.workerId === id);
    return w === undefined || (w.partitions === 0 && w.appliedVersion >= w.publishedVersion);
  };
  for await (const t of admin.watch({ signal: AbortSignal.timeout(waitMs) })) {
    if (empty(t)) {
      console.log(`'${id}' owns no partitions`);
      return EXIT.ok;
    }
  }
  fail("drain", `'${id}' still owns partitions after ${waitMs} ms; is a leader running?`);
  return EXIT.failure;
}

/**
 * Runs the CLI.
 *
 * @param args The command line, without the program name.
 * @returns The exit code.
 */
export async function main(args: readonly string[]): Promise<number> {
  const first = args.find((a) => !a.startsWith("-"));
  const commandName = first !== undefined && first in COMMANDS ? first : undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: ALL_FLAGS, allowPositionals: true });
  } catch (error) {
    // node:util's messages are long and name the fix for a different problem; say it plainly.
    const unknown = args.find((a) => a.startsWith("-") && !knownFlag(a));
    const message = unknown !== undefined
      ? `unknown option '${unknown}'`
      : (error as Error).message.replace(/\.$/, "");
    fail(commandName, `${message}; run with --help for usage`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (name === undefined || name === "help") {
    const topic = rest[0];
    if (topic !== undefined && COMMANDS[topic]) console.log(commandHelp(topic, COMMANDS[topic]));
    else console.log(mainHelp());
    // Help is not the command a script meant to run.
    if (values.help || name === "help") return EXIT.usage;
    fail(undefined, "missing command; run with --help for usage");
    return EXIT.usage;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    fail(undefined, `unknown command '${name}'; run with --help for the list`);
    return EXIT.usage;
  }
  if (values.help) {
    console.log(commandHelp(name, command));
    return EXIT.usage;
  }
  const stray = Object.keys(values).find((f) => !COMMON_FLAGS.has(f) && !(f in command.flags));
  if (stray !== undefined) {
    fail(name, `--${stray} is not an option of '${name}'; run 'parti ${name} --help'`);
    return EXIT.usage;
  }
  if (rest.length !== command.positionals) {
    const what = command.positionals === 0
      ? `takes no arguments, got '${rest.join(" ")}'`
      : `needs ${command.positionals} argument${command.positionals > 1 ? "s" : ""}`;
    fail(name, `'${name}' ${what}; usage: ${command.usage}`);
    return EXIT.usage;
  }
  const group = values.group;
  if (typeof group !== "string" || group === "") {
    fail(name, `--group is required; usage: ${command.usage}`);
    return EXIT.usage;
  }

  let nc: NatsConnection | undefined;
  let admin: GroupAdmin | undefined;
  try {
    const options = await connectionOptions(values);
    try {
      nc = await connect(options);
    } catch (error) {
      throw new Error(`Cannot connect to '${options.servers}': ${(error as Error).message}`);
    }
    admin = await GroupAdmin.open({
      connection: nc,
      group,
      operationTimeoutMs: milliseconds("timeout-ms", values["timeout-ms"], 5_000, 1),
    });
    return await command.run(admin, { values, positionals: rest });
  } catch (error) {
    fail(name, error instanceof Error ? error.message : String(error));
    if (error instanceof UsageError) return EXIT.usage;
    if (error instanceof GroupNotFoundError) return EXIT.groupNotFound;
    return EXIT.failure;
  } finally {
    await admin?.close().catch(() => {});
    await nc?.close().catch(() => {});
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
