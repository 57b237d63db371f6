/**
 * Exclusive ownership across a coordination outage, judged offline by the ownership auditor
 * (NATS_FACTS (c) F6/F7 and row 18): worker processes with slow `onAssignmentChanged` hooks (the
 * fixture waits 0-300 ms before logging a release) lose NATS as a whole, either because the
 * server is SIGKILLed and restarted on the same port and store directory, or because a proxy in
 * front of every worker resets (RST) their connections, eight times in a row. In the long first
 * outage every worker must fence itself; in the shorter ones some do and some do not. Throughout,
 * nobody may acquire a partition another process still holds, and full coverage must come back
 * after every outage.
 *
 * Set `PARTI_HOOK_SEED` to replay a run's outages and hook delays (the seed is printed), and
 * `PARTI_HOOK_DELAY_MS` to change the longest hook delay (default 300 ms, the fixture's). On a
 * violation (or with `PARTI_AUDIT_KEEP=1`) the ownership log and every worker's reports are kept
 * in the temp directory; their paths are printed.
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { presets, recommendedConnectionOptions } from "../../mod.ts";
import {
  checkOwnershipLog,
  FaultProxy,
  NatsServer,
  type OwnershipEvent,
  OwnershipLog,
  readOwnershipLog,
  waitFor,
} from "../../testing/mod.ts";
import { sleep } from "../../testing/wait.ts";
import { covered, WorkerProcess } from "../helpers/worker_process.ts";

const COUNT = 60;
const WORKERS = 4;
const ids = Array.from({ length: COUNT }, (_, i) => `p/${i}`);
const fast = presets.fastTest;
const hookDelayMs = Deno.env.get("PARTI_HOOK_DELAY_MS");
/** Silence after which a worker fences: heartbeatTtl − heartbeatInterval, plus the slowest hook. */
const fenceBoundMs = fast.heartbeatTtlMs! - fast.heartbeatIntervalMs! + Number(hookDelayMs ?? 300);
/**
 * Outages per test: the first outlasts fencing and the lease; the others last a random
 * 200..1600 ms, on both sides of the fence deadline (800 ms of silence), so that some workers
 * fence while others keep their partitions and the leader may or may not keep its term.
 */
const ROUNDS = 8;
const RANDOM_OUTAGE_MS = { min: 200, max: 1_600 } as const;

/** Deterministic PRNG (mulberry32): a run's outages and hook delays replay from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Fisher-Yates shuffled copy. */
function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A running pool of audited worker processes and what the harness needs to drive it. */
interface Audited {
  readonly random: () => number;
  readonly path: string;
  readonly log: OwnershipLog;
  readonly workers: WorkerProcess[];
  /** The harness's own connection, straight to the server (never through a proxy). */
  readonly probe: NatsConnection;
  /** The group's heartbeat bucket, read through `probe` (opened on first use). */
  heartbeats(): Promise<KV>;
  /** Set when the audit failed: the log is left on disk for inspection. */
  keepLog: boolean;
  mark(label: string): void;
}

/**
 * Starts `WORKERS` fixture processes, one per URL, sharing one ownership log, and waits until they
 * have settled. `serverUrl` is where the harness reads heartbeats from.
 */
async function auditedPool(
  serverUrl: string,
  urls: readonly string[],
  group: string,
): Promise<Audited> {
  const seed = Number(Deno.env.get("PARTI_HOOK_SEED") ?? Math.floor(Math.random() * 1e6));
  console.log(`${group}: seed ${seed} (outages; worker i's hook delays use ${seed}+i)`);
  const path = await Deno.makeTempFile({ prefix: `parti-${group}-`, suffix: ".jsonl" });
  const log = await OwnershipLog.open(path);
  const workers = urls.map((url, i) =>
    WorkerProcess.spawn(url, group, COUNT, [
      "--log",
      path,
      "--instance",
      `${group}-${i}`,
      "--seed",
      String(seed + i),
      ...(hookDelayMs === undefined ? [] : ["--hook-delay-ms", hookDelayMs]),
    ])
  );
  const probe = await connect({ servers: serverUrl, ...recommendedConnectionOptions });
  let heartbeats: Promise<KV> | undefined;
  const pool: Audited = {
    probe,
    heartbeats: () =>
      heartbeats ??= new Kvm(jetstream(probe, { timeout: 1_000 })).open(`parti_${group}_hb`),
    random: mulberry32(seed),
    path,
    log,
    workers,
    keepLog: false,
    mark: (label) => log.append({ type: "MARK", label }),
  };
  try {
    await waitFor(() => workers.every((w) => w.started), {
      timeoutMs: 30_000,
      message: "workers started",
    });
    await waitFor(() => settled(workers), { timeoutMs: 20_000, message: "pool settled" });
    await pool.heartbeats();
  } catch (error) {
    await dispose(pool);
    throw error;
  }
  return pool;
}

async function dispose(pool: Audited): Promise<void> {
  await Promise.all(pool.workers.map((w) => w.kill("SIGKILL")));
  await pool.probe.close().catch(() => {});
  pool.log.close();
  if (!pool.keepLog) await Deno.remove(pool.path).catch(() => {});
}

/**
 * Every partition owned once, exactly one leader, every worker holding something and reporting
 * `stable`: a round starts from a healthy pool, so its outage length means what it says.
 */
function settled(workers: readonly WorkerProcess[]): boolean {
  return covered(workers, COUNT) && workers.filter((w) => w.isLeader).length === 1 &&
    workers.every((w) => w.partitions.length > 0 && w.state === "stable");
}

/**
 * Waits until every worker has written a heartbeat after the fault ended: its coordination is
 * back, not just its last report unchanged (a short outage changes no report at all).
 */
async function heartbeatsResumed(pool: Audited, message: string): Promise<void> {
  const kv = await pool.heartbeats();
  const revisions = () =>
    Promise.all(pool.workers.map(async (w) => (await kv.get(w.workerId!))?.revision ?? 0));
  // Nothing can be written during the outage, so a revision above the first one read after it
  // was written after the heal.
  const base = await waitFor(revisions, { timeoutMs: 10_000, intervalMs: 50, message });
  await waitFor(async () => (await revisions()).every((r, i) => r > base[i]!), {
    timeoutMs: 10_000,
    intervalMs: 50,
    message,
  });
}

/** Events after the MARK with this label. */
function after(events: readonly OwnershipEvent[], label: string): OwnershipEvent[] {
  const at = events.findIndex((e) => e.type === "MARK" && e.label === label);
  assert.ok(at >= 0, `mark '${label}' is in the log`);
  return events.slice(at + 1);
}

/**
 * Audits the whole log and prints a summary. On a violation it prints, for the first ones, the
 * partition's recent history, and keeps the log and every worker's reports on disk.
 */
async function audit(pool: Audited, label: string): Promise<OwnershipEvent[]> {
  const events = await readOwnershipLog(pool.path);
  const result = checkOwnershipLog(events, { expectCoverage: ids });
  const delays = pool.workers.flatMap((w) => w.hookDelays);
  console.log(
    `${label}: ${JSON.stringify(result.counts)}; hook delays: ${delays.length}, max ` +
      `${Math.max(0, ...delays)} ms; violations: ${result.violations.length}`,
  );
  for (const v of result.violations.slice(0, 5)) {
    console.log(`  ${v}`);
    const match = /^event (\d+): .* acquired (\S+) while (\d+) still held it/.exec(v);
    if (!match) continue;
    const [, at, partition, holder] = match;
    const history = events.slice(0, Number(at)).flatMap((e, i) =>
      e.type === "MARK" || ("partition" in e && e.partition === partition)
        ? [`    #${i + 1} ${JSON.stringify(e)}`]
        : []
    );
    console.log(`    previous holder: ${holder}; history of ${partition} up to the violation:`);
    console.log(history.slice(-8).join("\n"));
  }
  if (result.violations.length > 0 || Deno.env.get("PARTI_AUDIT_KEEP")) {
    pool.keepLog = true;
    const reports = `${pool.path}.workers.jsonl`;
    await Deno.writeTextFile(
      reports,
      pool.workers.flatMap((w) => w.events.map((e) => JSON.stringify(e) + "\n")).join(""),
    );
    console.log(`  ownership log kept at ${pool.path}, worker reports at ${reports}`);
  }
  assert.deepEqual(result.violations, []);
  return events;
}

/** IDs of live workers are unique (I4). */
function assertUniqueIds(workers: readonly WorkerProcess[]): void {
  const live = workers.filter((w) => !w.exited).map((w) => w.workerId);
  assert.equal(new Set(live).size, live.length, `worker IDs ${live.join(", ")}`);
}

/** How one outage is injected and ended. */
interface Fault {
  readonly name: string;
  start(): Promise<void>;
  /** Ends the outage; `random` may order or space out the heal. */
  end(random: () => number): Promise<void>;
}

/**
 * Runs {@link ROUNDS} outages against a settled pool, waiting for full coverage after each, then
 * audits the whole log. Round 1 lasts until every worker has fenced and past the leader lease
 * (all ownership must end and a new term begin); later rounds last a random time around the
 * fence deadline (see {@link RANDOM_OUTAGE_MS}).
 */
async function outageRounds(pool: Audited, fault: Fault): Promise<void> {
  const { workers } = pool;
  const epochs = [Math.max(...workers.map((w) => w.epoch))];
  const idsBefore = workers.map((w) => w.workerId).join(",");
  for (let round = 1; round <= ROUNDS; round++) {
    const planned = round === 1 ? undefined : Math.round(
      RANDOM_OUTAGE_MS.min + pool.random() * (RANDOM_OUTAGE_MS.max - RANDOM_OUTAGE_MS.min),
    );
    pool.mark(`FAULT_START ${round} ${fault.name}`);
    const startedAt = performance.now();
    const startedWall = Date.now();
    await fault.start();
    let fencedMs: number | undefined;
    if (planned === undefined) {
      // Nobody can renew: every worker must fence (release all) by itself.
      await waitFor(() => workers.every((w) => w.partitions.length === 0), {
        timeoutMs: fenceBoundMs + 2_000,
        intervalMs: 10,
        message: `every worker fenced during ${fault.name}`,
      });
      fencedMs = performance.now() - startedAt;
      // Fault window: stay out past the leader lease so recovery needs a new term.
      await sleep(Math.max(0, fast.electionLeaseMs! + 500 - fencedMs));
    } else {
      await sleep(planned); // fault window of a random length
    }
    const fencedWorkers = workers.filter((w) => w.partitions.length === 0).length;
    await fault.end(pool.random);
    const endedAt = performance.now();
    pool.mark(`FAULT_END ${round} ${fault.name}`);
    await heartbeatsResumed(pool, `heartbeats after ${fault.name} round ${round}`);
    await waitFor(() => settled(workers), {
      timeoutMs: 20_000,
      message: `full coverage after ${fault.name} round ${round}`,
    });
    epochs.push(Math.max(...workers.map((w) => w.epoch)));
    console.log(
      `${fault.name} round ${round} (at ${startedWall}): out ${
        (endedAt - startedAt).toFixed(0)
      } ms` +
        (fencedMs === undefined ? "" : `, all fenced after ${fencedMs.toFixed(0)} ms`) +
        ` (${fencedWorkers}/${workers.length} fenced when it ended), full coverage ` +
        `${(performance.now() - endedAt).toFixed(0)} ms after it ended; epoch ` +
        `${epochs.at(-2)} -> ${epochs.at(-1)}`,
    );
    assertUniqueIds(workers);
  }
  console.log(`${fault.name}: IDs ${idsBefore} -> ${workers.map((w) => w.workerId).join(",")}`);
  for (let i = 1; i < epochs.length; i++) {
    assert.ok(epochs[i]! >= epochs[i - 1]!, `epochs never go backwards: ${epochs.join(" ")}`);
  }
  assert.ok(epochs[1]! > epochs[0]!, "the outage of round 1 outlasted the lease: a new term");
  const events = await audit(pool, `${fault.name} audit`);
  const first = after(events, `FAULT_START 1 ${fault.name}`);
  const firstEnd = first.findIndex((e) => e.type === "MARK");
  const released = new Set(
    first.slice(0, firstEnd).flatMap((e) => e.type === "RELEASE" ? [e.partition] : []),
  );
  assert.equal(released.size, COUNT, "round 1 released every partition before it ended");
  assert.ok(
    after(events, `FAULT_END 1 ${fault.name}`).some((e) => e.type === "ACQUIRE"),
    "partitions were acquired again after round 1",
  );
}

Deno.test("the auditor finds no double ownership across nats-server SIGKILLs and restarts on the same port and store", async () => {
  await using server = await NatsServer.start();
  const port = server.port;
  const storeDir = server.storeDir;
  const pool = await auditedPool(server.url, Array(WORKERS).fill(server.url), "outage");
  try {
    await outageRounds(pool, {
      name: "server SIGKILL",
      start: () => server.kill(),
      async end() {
        await server.restart();
        assert.equal(server.port, port, "restarted on the same port");
        assert.equal(server.storeDir, storeDir, "restarted on the same store dir");
      },
    });
  } finally {
    await dispose(pool);
  }
});

Deno.test("the auditor finds no double ownership across RST cuts of every worker's connection and their heal", async () => {
  await using server = await NatsServer.start();
  const proxies: FaultProxy[] = [];
  try {
    for (let i = 0; i < WORKERS; i++) {
      proxies.push(await FaultProxy.start({ target: `127.0.0.1:${server.port}` }));
    }
    const pool = await auditedPool(server.url, proxies.map((p) => p.url), "reset");
    try {
      await outageRounds(pool, {
        name: "RST cut",
        start() {
          for (const proxy of proxies) proxy.setMode("reject");
          assert.ok(proxies.every((p) => p.connections === 0), "every connection was reset");
          return Promise.resolve();
        },
        async end(random) {
          // Staggered heal: workers come back one by one, in a random order, 0-300 ms apart, so
          // the first ones back may lead and reassign while others are still cut off.
          const order = shuffle(proxies, random);
          for (const [i, proxy] of order.entries()) {
            if (i > 0) await sleep(Math.round(random() * 300)); // stagger, not synchronisation
            proxy.setMode("pass");
          }
        },
      });
    } finally {
      await dispose(pool);
    }
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
  }
});
