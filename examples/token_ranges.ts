/**
 * Cassandra-style token ranges as partitions. A 32-bit token ring is cut at `--ranges` seeded
 * random tokens into ranges `(start, end]` of uneven size, as vnode tokens cut it; each range is
 * a partition with keys `["ring", "<start>-<end>"]`, weighted by its size in tokens, so the default
 * weighted strategy balances the share of the ring each worker holds rather than the number of
 * ranges. It prints the balance (ring share and load over mean per worker), then lets one more
 * worker join and prints the movement: how many ranges changed owner and what share of the ring
 * that was, against the ideal `1 / workers` a newcomer must take. The workers run in this
 * process; without `--nats` they coordinate through `memoryStore()` (a server adds nothing to
 * what is shown), with `--nats <url>` through that server.
 *
 * Run: `deno run -A examples/token_ranges.ts [--nats nats://127.0.0.1:4222] [--ranges 64]
 * [--workers 4] [--seed 7]`.
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type CoordinationStore,
  Manager,
  memoryStore,
  type Partition,
  partitionId,
  presets,
  recommendedConnectionOptions,
} from "../mod.ts";
import { waitFor } from "../testing/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string" },
    ranges: { type: "string", default: "64" },
    workers: { type: "string", default: "4" },
    seed: { type: "string", default: "7" },
  },
});
const rangeCount = positiveInt("ranges", values.ranges, 2);
const workerCount = positiveInt("workers", values.workers);
const seed = positiveInt("seed", values.seed, 0);

const RING = 2 ** 32;

/** Deterministic PRNG (mulberry32), so a seed always cuts the same ring. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const next = random(seed);
const tokens = [...new Set(Array.from({ length: rangeCount }, () => Math.floor(next() * RING)))]
  .sort((a, b) => a - b);
// Range i is (tokens[i-1], tokens[i]]; the first one wraps around from the last token.
const partitions: Partition[] = tokens.map((end, i) => {
  const start = tokens[(i + tokens.length - 1) % tokens.length]!;
  const size = i === 0 ? RING - start + end : end - start;
  return { keys: ["ring", `${start}-${end}`], weight: size };
});
const ringShare = (tokensHeld: number) => (100 * tokensHeld) / RING;

interface Worker {
  readonly manager: Manager;
  readonly nc: NatsConnection | undefined;
}

const shared: CoordinationStore | undefined = values.nats ? undefined : memoryStore();
const workers: Worker[] = [];

async function addWorker(): Promise<Worker> {
  const nc = values.nats
    ? await connect({ servers: values.nats, ...recommendedConnectionOptions })
    : undefined;
  const manager = new Manager({
    ...presets.fastTest,
    ...(nc ? { connection: nc } : { store: shared! }),
    group: "token-ranges",
    source: partitions,
  });
  const worker = { manager, nc };
  workers.push(worker);
  return worker;
}

/** Owner of each range, when every range has exactly one owner and the pool is settled. */
function settledOwners(): Map<string, string> | undefined {
  const owners = new Map<string, string>();
  for (const { manager } of workers) {
    if (manager.state !== "stable") return undefined;
    for (const p of manager.assignment.partitions) {
      const id = partitionId(p);
      if (owners.has(id)) return undefined;
      owners.set(id, manager.workerId!);
    }
  }
  const leaders = workers.filter((w) => w.manager.isLeader).length;
  return owners.size === partitions.length && leaders === 1 ? owners : undefined;
}

function balance(owners: Map<string, string>) {
  const loads = new Map<string, number>(workers.map((w) => [w.manager.workerId!, 0]));
  for (const p of partitions) {
    const owner = owners.get(partitionId(p))!;
    loads.set(owner, loads.get(owner)! + p.weight!);
  }
  const mean = RING / loads.size;
  const max = Math.max(...loads.values());
  const sorted = [...loads].sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }));
  for (const [id, load] of sorted) {
    const count = [...owners.values()].filter((o) => o === id).length;
    console.log(
      `  ${id.padEnd(9)} ${String(count).padStart(3)} ranges  ` +
        `${ringShare(load).toFixed(2).padStart(6)} % of the ring  load/mean ${
          (load / mean).toFixed(3)
        }`,
    );
  }
  console.log(`  max/mean ${(max / mean).toFixed(3)}`);
  return {
    workers: loads.size,
    ownedRanges: owners.size,
    maxOverMean: max / mean,
    sharePercent: Object.fromEntries(sorted.map(([id, l]) => [id, ringShare(l)])),
  };
}

try {
  const heaviest = Math.max(...partitions.map((p) => p.weight!));
  console.log(
    `token ring: ${partitions.length} ranges, the largest ${ringShare(heaviest).toFixed(2)} % ` +
      `of the ring; ${workerCount} workers, then one joins; store: ` +
      (values.nats ? `NATS at ${values.nats}` : "in-memory"),
  );
  for (let i = 0; i < workerCount; i++) await addWorker();
  await Promise.all(workers.map((w) => w.manager.start()));
  const before = await waitFor(settledOwners, { timeoutMs: 20_000, message: "ring assigned" });
  console.log(`\n${workerCount} workers:`);
  const balanceBefore = balance(before);

  const newcomer = await addWorker();
  await newcomer.manager.start();
  const after = await waitFor(
    () => {
      const owners = settledOwners();
      const joined = owners && [...owners.values()].includes(newcomer.manager.workerId!);
      return joined ? owners : undefined;
    },
    { timeoutMs: 20_000, message: "ring reassigned after the join" },
  );
  console.log(`\n${workers.length} workers (${newcomer.manager.workerId} joined):`);
  const balanceAfter = balance(after);

  const moved = partitions.filter((p) => before.get(partitionId(p)) !== after.get(partitionId(p)));
  const toNewcomer = moved.filter((p) => after.get(partitionId(p)) === newcomer.manager.workerId);
  const movedTokens = moved.reduce((sum, p) => sum + p.weight!, 0);
  console.log(
    `\nmoved ${moved.length} of ${partitions.length} ranges (${toNewcomer.length} to the ` +
      `newcomer), ${ringShare(movedTokens).toFixed(2)} % of the ring; ideal ` +
      `${(100 / workers.length).toFixed(2)} %`,
  );
  const result = {
    ranges: partitions.length,
    largestRangePercent: ringShare(heaviest),
    before: balanceBefore,
    after: balanceAfter,
    movedRanges: moved.length,
    movedToNewcomer: toNewcomer.length,
    movedPercent: ringShare(movedTokens),
    idealMovedPercent: 100 / workers.length,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  await Promise.all(workers.map((w) => w.manager.stop().catch(() => {})));
  await Promise.all(workers.map((w) => w.nc?.close()));
}

function positiveInt(name: string, text: string | undefined, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} needs an integer of at least ${min}, got '${text}'`);
    Deno.exit(2);
  }
  return n;
}
