/**
 * A strategy of your own: a weighted round robin written as a plain `StrategyFunction` and given
 * to the Manager as `strategy`. Workers have capacities (`--capacities 3,2,1`: `worker-0` counts
 * three times, `worker-1` twice, any ID not listed once), and partitions are dealt in source
 * order by smooth weighted round robin, the sequence nginx uses, so a worker of capacity 3 gets
 * three partitions for every one of a worker of capacity 1, interleaved. The function is pure
 * and deterministic, as a strategy must be: only the leader calls it, and any worker computing
 * it again gets the same answer. The example starts one worker per capacity, checks that the
 * published assignment is exactly what the function computes, then stops the last worker and
 * checks again. The workers run in this process; without `--nats` they coordinate through
 * `memoryStore()` (a server adds nothing to what is shown), with `--nats <url>` through that
 * server.
 *
 * Run: `deno run -A examples/custom_strategy.ts [--nats nats://127.0.0.1:4222]
 * [--capacities 3,2,1] [--partitions 24]`.
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
  type StrategyFunction,
  type StrategyInput,
} from "../mod.ts";
import { waitFor } from "../testing/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string" },
    capacities: { type: "string", default: "3,2,1" },
    partitions: { type: "string", default: "24" },
  },
});
const capacityList = (values.capacities ?? "").split(",").map(Number);
if (capacityList.length === 0 || !capacityList.every((c) => Number.isInteger(c) && c > 0)) {
  console.error(`--capacities needs positive integers such as 3,2,1, got '${values.capacities}'`);
  Deno.exit(2);
}
const partitionCount = Number(values.partitions);
if (!Number.isInteger(partitionCount) || partitionCount < 1) {
  console.error(`--partitions needs a positive integer, got '${values.partitions}'`);
  Deno.exit(2);
}

/**
 * Smooth weighted round robin over the workers, sorted by ID. For each partition, in input order,
 * every worker's credit grows by its capacity; the worker with the most credit (the first on a
 * tie) takes the partition and pays the total capacity back.
 */
function weightedRoundRobin(capacity: (workerId: string) => number): StrategyFunction {
  return ({ workers, partitions }: StrategyInput): string[] => {
    const ids = [...workers].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    const weights = ids.map(capacity);
    const total = weights.reduce((a, b) => a + b, 0);
    const credit = ids.map(() => 0);
    return partitions.map(() => {
      let best = 0;
      for (let w = 0; w < ids.length; w++) {
        credit[w]! += weights[w]!;
        if (credit[w]! > credit[best]!) best = w;
      }
      credit[best]! -= total;
      return ids[best]!;
    });
  };
}

const capacities = new Map(capacityList.map((c, i) => [`worker-${i}`, c]));
const strategy = weightedRoundRobin((id) => capacities.get(id) ?? 1);
const partitions: Partition[] = Array.from(
  { length: partitionCount },
  (_, i) => ({ keys: ["jobs", String(i)] }),
);

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
    group: "custom-strategy",
    source: partitions,
    strategy,
  });
  const worker = { manager, nc };
  workers.push(worker);
  return worker;
}

/** Owner of each partition once every partition has exactly one owner among `pool`, all stable. */
function settledOwners(pool: readonly Worker[]): Map<string, string> | undefined {
  const owners = new Map<string, string>();
  for (const { manager } of pool) {
    if (manager.state !== "stable") return undefined;
    for (const p of manager.assignment.partitions) {
      if (owners.has(partitionId(p))) return undefined;
      owners.set(partitionId(p), manager.workerId!);
    }
  }
  return owners.size === partitions.length ? owners : undefined;
}

const countBy = (owners: Iterable<string>) => {
  const counts: Record<string, number> = {};
  for (const o of [...owners].sort()) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
};

/** Compares the published assignment of `pool` with what the function computes for it. */
async function check(pool: readonly Worker[]) {
  const ids = pool.map((w) => w.manager.workerId!);
  const expected = strategy({ workers: ids, partitions, previous: undefined });
  // Wait for the assignment the function gives; a timeout below reports what was published.
  let owners: Map<string, string> | undefined;
  await waitFor(() => {
    owners = settledOwners(pool);
    return owners && partitions.every((p, i) => owners!.get(partitionId(p)) === expected[i]);
  }, { timeoutMs: 20_000, message: `the assignment of ${ids.join(", ")}` }).catch(() => {});
  const actual = partitions.map((p) => owners?.get(partitionId(p)) ?? "(none)");
  const mismatches = actual.filter((o, i) => o !== expected[i]).length;
  const counts = countBy(actual);
  console.log(
    `${ids.length} workers: ${
      Object.entries(counts).map(([id, n]) => `${id} (capacity ${capacities.get(id) ?? 1}) ${n}`)
        .join(", ")
    }; ${mismatches === 0 ? "matches the function" : `${mismatches} partitions differ`}`,
  );
  return { workers: ids.sort(), counts, expectedCounts: countBy(expected), mismatches };
}

try {
  console.log(
    `custom strategy: weighted round robin, capacities ${capacityList.join(",")}, ` +
      `${partitionCount} partitions; store: ${
        values.nats ? `NATS at ${values.nats}` : "in-memory"
      }`,
  );
  for (let i = 0; i < capacityList.length; i++) await addWorker();
  await Promise.all(workers.map((w) => w.manager.start()));
  const rounds = [await check(workers)];
  if (workers.length > 1) {
    const last = workers.reduce((a, b) =>
      a.manager.workerId!.localeCompare(b.manager.workerId!, "en", { numeric: true }) > 0 ? a : b
    );
    await last.manager.stop();
    rounds.push(await check(workers.filter((w) => w !== last)));
  }
  console.log(`RESULT ${JSON.stringify({ partitions: partitionCount, rounds })}`);
} finally {
  await Promise.all(workers.map((w) => w.manager.stop().catch(() => {})));
  await Promise.all(workers.map((w) => w.nc?.close()));
}
