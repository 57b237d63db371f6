/**
 * The Parti demo: six workers share sixty weighted partitions, then the pool lives through a
 * crash, a leader stop and a scale-out while a table shows who owns what. It ends with a summary
 * of versions, partitions moved versus the theoretical minimum, and failover times.
 *
 * By default everything runs in this process on the in-memory store (zero setup). `--nats <url>`
 * coordinates through a real NATS server instead; `--spawn-nats` starts a local `nats-server` for
 * the run (it must be installed). A "crash" cuts a worker off from coordination without any
 * cleanup, as a killed process would be: its heartbeat stops, it fences itself, and the leader
 * reassigns its partitions once its heartbeat has been silent for the TTL.
 *
 * Run: `deno task demo` (or `deno task demo --spawn-nats`).
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type CoordinationStore,
  Manager,
  memoryStore,
  type Partition,
  partitionId,
  recommendedConnectionOptions,
  type TuningOptions,
} from "../mod.ts";
import { natsKvStore } from "../src/store/nats_kv/mod.ts";
import { createAssignmentEngine } from "../src/engine/mod.ts";
import { type FaultyStore, faultyStore, NatsServer, waitFor } from "../testing/mod.ts";

const args = Deno.args;
const natsUrlArg = args.includes("--nats") ? args[args.indexOf("--nats") + 1] : undefined;
const spawnNats = args.includes("--spawn-nats");
const quiet = args.includes("--quiet");

const timings: TuningOptions = {
  heartbeatIntervalMs: 250,
  heartbeatTtlMs: 1_000,
  workerIdTtlMs: 5_000,
  electionLeaseMs: 1_500,
  coldStartWindowMs: 600,
  plannedScaleWindowMs: 300,
  emergencyGraceMs: 300,
  minRebalanceIntervalMs: 300,
  operationTimeoutMs: 2_000,
  shutdownTimeoutMs: 3_000,
};

const partitions: Partition[] = Array.from({ length: 60 }, (_, i) => ({
  keys: ["orders", String(i)],
  weight: [1, 1, 2, 3, 5][i % 5]!,
}));

interface Worker {
  manager: Manager;
  store: FaultyStore;
  nc: NatsConnection | undefined;
  crashed: boolean;
}

let server: NatsServer | undefined;
let url = natsUrlArg;
if (spawnNats) {
  server = await NatsServer.start();
  url = server.url;
}
const shared: CoordinationStore | undefined = url ? undefined : memoryStore();
const workers: Worker[] = [];
const engine = await createAssignmentEngine();

async function addWorker(): Promise<Worker> {
  const nc = url ? await connect({ servers: url, ...recommendedConnectionOptions }) : undefined;
  const store = faultyStore(nc ? natsKvStore(nc, { operationTimeoutMs: 2_000 }) : shared!);
  const manager = new Manager({
    ...timings,
    store,
    group: "demo",
    source: partitions,
    hooks: { onAssignmentChanged: () => scheduleRender() },
  });
  const worker = { manager, store, nc, crashed: false };
  workers.push(worker);
  return worker;
}

const live = () => workers.filter((w) => !w.crashed && w.manager.state !== "shutdown");

function snapshot(): Map<string, string> {
  const owners = new Map<string, string>();
  for (const w of live()) {
    for (const p of w.manager.assignment.partitions) {
      owners.set(partitionId(p), w.manager.workerId!);
    }
  }
  return owners;
}

function covered(): boolean {
  const pool = live();
  let count = 0;
  const seen = new Set<string>();
  for (const w of pool) {
    for (const p of w.manager.assignment.partitions) {
      const id = partitionId(p);
      if (seen.has(id)) return false;
      seen.add(id);
      count++;
    }
  }
  return count === partitions.length && pool.every((w) => w.manager.state === "stable") &&
    pool.filter((w) => w.manager.isLeader).length === 1;
}

let renderTimer: ReturnType<typeof setTimeout> | undefined;
function scheduleRender(): void {
  if (quiet || renderTimer) return;
  renderTimer = setTimeout(() => {
    renderTimer = undefined;
    render();
  }, 150);
}

function render(title?: string): void {
  if (quiet) return;
  const rows = workers.map((w) => {
    const m = w.manager;
    const load = m.assignment.partitions.reduce((s, p) => s + (p.weight ?? 1), 0);
    return [
      m.workerId ?? "-",
      m.isLeader ? "★" : "",
      w.crashed ? "crashed" : m.state,
      String(m.assignment.partitions.length),
      String(load),
      String(m.assignment.version),
    ];
  });
  const header = ["worker", "leader", "state", "partitions", "load", "version"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  const out = [title ? `\n== ${title}` : "", line(header), line(widths.map((w) => "-".repeat(w)))];
  for (const row of rows) out.push(line(row));
  console.log(out.filter(Boolean).join("\n"));
}

interface Event {
  name: string;
  moved: number;
  minimal: number;
  ms: number;
}
const events: Event[] = [];

async function measure(name: string, action: () => void | Promise<void>): Promise<void> {
  const before = snapshot();
  const start = performance.now();
  await action();
  await waitFor(covered, {
    timeoutMs: 30_000,
    intervalMs: 10,
    message: `pool settled after ${name}`,
  });
  const ms = performance.now() - start;
  const after = snapshot();
  let moved = 0;
  for (const [id, owner] of after) if (before.get(id) !== owner) moved++;
  const workerIds = live().map((w) => w.manager.workerId!);
  const { stats } = engine.assign({ workers: workerIds, partitions, previous: before });
  events.push({ name, moved, minimal: stats.minimalMoves, ms });
  render(`${name}: settled in ${ms.toFixed(0)} ms, moved ${moved} (minimum ${stats.minimalMoves})`);
}

try {
  console.log(
    `Parti demo: 6 workers, ${partitions.length} weighted partitions, store: ${
      url ? `NATS at ${url}` : "in-memory"
    }`,
  );
  const startedAt = performance.now();
  for (let i = 0; i < 6; i++) await addWorker();
  await Promise.all(workers.map((w) => w.manager.start()));
  await waitFor(covered, { timeoutMs: 30_000, intervalMs: 10, message: "initial assignment" });
  events.push({
    name: "cold start",
    moved: partitions.length,
    minimal: partitions.length,
    ms: performance.now() - startedAt,
  });
  render(`cold start: all stable in ${(performance.now() - startedAt).toFixed(0)} ms`);

  await measure("crash a worker", () => {
    const victim = live().find((w) => !w.manager.isLeader)!;
    victim.crashed = true;
    victim.store.cut();
  });

  let leaderFailoverMs = 0;
  await measure("stop the leader", async () => {
    const leader = live().find((w) => w.manager.isLeader)!;
    const t = performance.now();
    await leader.manager.stop();
    await waitFor(() => live().some((w) => w.manager.isLeader), {
      timeoutMs: 10_000,
      intervalMs: 2,
    });
    leaderFailoverMs = performance.now() - t;
  });

  await measure("add two workers", async () => {
    const added = [await addWorker(), await addWorker()];
    await Promise.all(added.map((w) => w.manager.start()));
  });

  const version = Math.max(...live().map((w) => w.manager.assignment.version));
  console.log("\n== Summary");
  console.log(`final assignment version: ${version}`);
  console.log(`graceful leader failover: ${leaderFailoverMs.toFixed(0)} ms to a new leader`);
  for (const e of events) {
    console.log(
      `${e.name.padEnd(16)} settled in ${e.ms.toFixed(0).padStart(5)} ms, moved ${
        String(e.moved).padStart(2)
      } partitions (minimum ${e.minimal})`,
    );
  }
} finally {
  clearTimeout(renderTimer);
  await Promise.all(workers.map((w) => w.manager.stop().catch(() => {})));
  await Promise.all(workers.map((w) => w.nc?.close()));
  await server?.stop();
}
