/**
 * Measures what each tuning recipe of `docs/configuration.md` gives when a worker fails, on a
 * real nats-server: a pool of managers, each on its own connection and its own `faultyStore`
 * around `natsKvStore`, and one worker cut off from the server (as a crashed or partitioned
 * process would be; nothing is cleaned up). Scenarios:
 *
 * - `crash`: a follower is cut off for good. Measured: when it released its partitions (its
 *   `onAssignmentChanged` with reason `"fenced"`), and when every partition it held shows in a
 *   survivor's `manager.assignment`.
 * - `leader crash`: the same for the leader, plus when a survivor became leader.
 * - `blip`: a follower is cut off for `--blip-ms` and healed; measured: whether it fenced, and how
 *   many of its partitions were given to others while it was away.
 * - `stuck revoke`: a follower's hook never returns from a revoke (it is drained by the leader);
 *   measured: when `RevokeTimeoutError` was logged and when its partitions are owned by others.
 * - `stop`: a follower calls `stop()` (a graceful leave); measured: how long `stop()` took and when
 *   its partitions are owned by others.
 * - `drain + stop`: the leader drains a follower (`drainWorker()`), and the follower stops once
 *   its partitions are owned by others; measured from the drain.
 *
 * Every recipe's cold-start and planned-scale windows and minimum rebalance interval are
 * shortened (`SETUP` below) so a pool settles in about a second; none of them enters the failure
 * scenarios (an emergency is held back neither by a planned window nor by the interval). The
 * "rolling deploy" recipe keeps its planned window and interval, which `stop` measures, and waits
 * out the interval before acting. Times in ms from the cut, the drain or the `stop()` call, one
 * run each unless `--runs` says otherwise (the median is printed). Run time about 95 s.
 *
 * Run: deno run -A bench/failover_recipes.ts [--runs 1] [--recipe "low-latency"] [--blip-ms 3000]
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type LogFields,
  type Logger,
  Manager,
  type Partition,
  partitionId,
  presets,
  recommendedConnectionOptions,
  type TuningOptions,
} from "../mod.ts";
import { natsKvStore } from "../src/store/nats_kv/mod.ts";
import { type FaultyStore, faultyStore, NatsServer, waitFor } from "../testing/mod.ts";

type Scenario =
  | "crash"
  | "leader crash"
  | "blip"
  | "leader blip"
  | "stuck revoke"
  | "stop"
  | "drain + stop";

/** One recipe: the options it sets, the pool it is measured on, and the scenarios run. */
export interface Recipe {
  /** As in docs/configuration.md. */
  readonly name: string;
  /** The options the recipe sets (the rest stay at their defaults). */
  readonly tuning: TuningOptions;
  /** Pool size. */
  readonly workers: number;
  /** Number of partitions (weights 1–4). */
  readonly partitions: number;
  /** How long every worker's `onAssignmentChanged` takes when it loses partitions. */
  readonly hookMs: number;
  /** What is measured. */
  readonly scenarios: readonly Scenario[];
  /** What only the pool's start goes through, shortened (default {@link SETUP}). */
  readonly setup?: TuningOptions;
}

/** The recipes of docs/configuration.md, with the values quoted there. */
export const RECIPES: readonly Recipe[] = [
  {
    name: "defaults",
    tuning: presets.production,
    workers: 4,
    partitions: 48,
    hookMs: 0,
    scenarios: ["crash", "leader crash"],
  },
  {
    name: "low-latency",
    tuning: {
      heartbeatIntervalMs: 250,
      heartbeatTtlMs: 750,
      emergencyGraceMs: 250,
      electionLeaseMs: 1_000,
      workerIdTtlMs: 10_000,
      operationTimeoutMs: 1_000,
    },
    workers: 4,
    partitions: 48,
    hookMs: 0,
    scenarios: ["crash", "leader crash", "blip"],
  },
  {
    name: "large pool",
    tuning: {
      workerIdMax: 999,
      coldStartWindowMs: 60_000,
      plannedScaleWindowMs: 20_000,
      minRebalanceIntervalMs: 30_000,
      startupTimeoutMs: 240_000,
    },
    workers: 12,
    partitions: 600,
    hookMs: 0,
    scenarios: ["crash"],
  },
  {
    name: "slow handlers",
    tuning: {
      heartbeatIntervalMs: 1_000,
      heartbeatTtlMs: 3_000,
      emergencyGraceMs: 2_000,
      revokeTimeoutMs: 2_000,
      onRevokeTimeout: "leave",
      shutdownTimeoutMs: 30_000,
    },
    workers: 4,
    partitions: 48,
    hookMs: 800,
    scenarios: ["crash", "stuck revoke"],
  },
  {
    name: "flaky network",
    tuning: {
      heartbeatIntervalMs: 500,
      heartbeatTtlMs: 5_000,
      emergencyGraceMs: 2_000,
      electionLeaseMs: 9_000,
      operationTimeoutMs: 1_500,
    },
    workers: 4,
    partitions: 48,
    hookMs: 0,
    scenarios: ["crash", "blip", "leader blip"],
  },
  {
    name: "rolling deploy",
    tuning: { plannedScaleWindowMs: 2_000, minRebalanceIntervalMs: 2_000 },
    workers: 4,
    partitions: 48,
    hookMs: 0,
    scenarios: ["stop", "drain + stop"],
    // The planned window is what these scenarios measure: only the cold start is shortened.
    setup: { coldStartWindowMs: 2_000 },
  },
];

/** Shortens what only the pool's start goes through (see the module doc). */
export const SETUP: TuningOptions = {
  coldStartWindowMs: 300,
  plannedScaleWindowMs: 200,
  minRebalanceIntervalMs: 200,
};

const args = Deno.args;
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(flag("runs") ?? 1);
const only = flag("recipe");
const blipMs = Number(flag("blip-ms") ?? 3_000);
if (!Number.isInteger(runs) || runs < 1) throw new RangeError("--runs needs an integer ≥ 1");
if (only !== undefined && !RECIPES.some((r) => r.name === only)) {
  throw new RangeError(`--recipe must be one of ${RECIPES.map((r) => `'${r.name}'`).join(", ")}`);
}

/** Resolved timings of a recipe (the defaults `config.ts` derives, applied by hand). */
function timings(t: TuningOptions) {
  const interval = t.heartbeatIntervalMs ?? 2_000;
  const ttl = t.heartbeatTtlMs ?? (t.heartbeatIntervalMs !== undefined ? 3 * interval : 6_000);
  return {
    interval,
    ttl,
    grace: t.emergencyGraceMs ?? Math.min(1.5 * interval, ttl),
    lease: t.electionLeaseMs ?? 5_000,
    revoke: t.revokeTimeoutMs ?? 300_000,
    operation: t.operationTimeoutMs ?? 10_000,
    planned: t.plannedScaleWindowMs ?? 10_000,
    minInterval: t.minRebalanceIntervalMs ?? 10_000,
  };
}

/** What one scenario measured (times in ms after the cut or the drain). */
interface Measured {
  /** The victim's release hook (reason "fenced") started / resolved. */
  fenced?: { start: number; end: number };
  /** A survivor became leader. */
  leader?: number;
  /** Every partition the victim held shows in a survivor's assignment. */
  owned?: number;
  /** `RevokeTimeoutError` was logged. */
  revokeTimeout?: number;
  /** How long the victim's `stop()` took. */
  stopped?: number;
  /** Partitions given to another worker than the one holding them before. */
  moved: number;
  /** Partitions the victim held. */
  held: number;
}

interface Pool {
  readonly managers: Manager[];
  readonly stores: FaultyStore[];
  readonly connections: NatsConnection[];
  readonly partitions: Partition[];
  /** Per manager: its release hook with reason "fenced" (first one). */
  readonly fenced: ({ start: number; end?: number } | undefined)[];
  /** Per manager: partitions it was told to add, with the time. */
  readonly addedAt: Map<string, number>[];
  /** Per manager: a revoke waits on this gate while it is set (the stuck revoke). */
  readonly gates: (PromiseWithResolvers<void> | undefined)[];
  /** Per manager: when the revoke timeout was logged. */
  readonly revokeTimeoutAt: (number | undefined)[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function ownerMap(managers: readonly Manager[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  managers.forEach((m, i) => {
    for (const p of m.assignment.partitions) {
      const id = partitionId(p);
      out.set(id, [...(out.get(id) ?? []), i]);
    }
  });
  return out;
}

function settled(pool: Pool): boolean {
  const { managers, partitions } = pool;
  if (!managers.every((m) => m.state === "stable")) return false;
  if (managers.filter((m) => m.isLeader).length !== 1) return false;
  const owners = ownerMap(managers);
  return owners.size === partitions.length && [...owners.values()].every((o) => o.length === 1);
}

async function startPool(url: string, recipe: Recipe, group: string): Promise<Pool> {
  const partitions = Array.from(
    { length: recipe.partitions },
    (_, i) => ({ keys: ["job", String(i)], weight: 1 + (i % 4) }),
  );
  const { operation } = timings(recipe.tuning);
  const connections = await Promise.all(
    Array.from(
      { length: recipe.workers },
      () => connect({ servers: url, ...recommendedConnectionOptions }),
    ),
  );
  const stores = connections.map((nc) =>
    faultyStore(natsKvStore(nc, { operationTimeoutMs: operation }))
  );
  const pool: Pool = {
    managers: [],
    stores,
    connections,
    partitions,
    fenced: [],
    addedAt: connections.map(() => new Map()),
    gates: [],
    revokeTimeoutAt: [],
  };
  stores.forEach((store, i) => {
    // Only the revoke timeout is of interest: it is logged at once, while onError waits in the
    // hook lane behind the stuck hook.
    const logger: Logger = {
      debug() {},
      info() {},
      warn() {},
      error(_message: string, fields?: LogFields) {
        if (fields?.code === "REVOKE_TIMEOUT") pool.revokeTimeoutAt[i] ??= performance.now();
      },
    };
    pool.managers.push(
      new Manager({
        ...recipe.tuning,
        ...(recipe.setup ?? SETUP),
        store,
        group,
        source: partitions,
        logger,
        hooks: {
          async onAssignmentChanged({ added, removed, reason }) {
            const now = performance.now();
            for (const p of added) pool.addedAt[i]!.set(partitionId(p), now);
            if (removed.length === 0) return;
            let fence: { start: number; end?: number } | undefined;
            if (reason === "fenced" && pool.fenced[i] === undefined) {
              fence = pool.fenced[i] = { start: now };
            }
            const gate = pool.gates[i];
            if (gate && reason === "moved") await gate.promise;
            if (recipe.hookMs > 0) await sleep(recipe.hookMs);
            if (fence) fence.end = performance.now();
          },
        },
      }),
    );
  });
  await Promise.all(pool.managers.map((m) => m.start()));
  await waitFor(() => settled(pool), { timeoutMs: 60_000, intervalMs: 5, message: "settled" });
  return pool;
}

async function stopPool(pool: Pool): Promise<void> {
  for (const gate of pool.gates) gate?.resolve();
  for (const store of pool.stores) store.heal();
  await Promise.all(pool.managers.map((m) => m.stop()));
  await Promise.all(pool.connections.map((nc) => nc.close()));
}

async function measure(
  url: string,
  recipe: Recipe,
  scenario: Scenario,
  group: string,
): Promise<Measured> {
  const pool = await startPool(url, recipe, group);
  const abort = new AbortController();
  try {
    const { managers, stores } = pool;
    const t = timings(recipe.tuning);
    const leaderIndex = managers.findIndex((m) => m.isLeader);
    const victim = scenario === "leader crash" || scenario === "leader blip"
      ? leaderIndex
      : managers.findLastIndex((m) => !m.isLeader);
    const held = new Set(managers[victim]!.assignment.partitions.map(partitionId));
    const before = ownerMap(managers);
    const survivors = managers.filter((_, i) => i !== victim);
    const result: Measured = { moved: 0, held: held.size };
    let t0: number;
    if (scenario === "stop" || scenario === "drain + stop") {
      // In the steady state: past the spacing after the start's rebalance.
      await sleep(t.minInterval);
    }
    if (scenario === "stop") {
      t0 = performance.now();
      await managers[victim]!.stop();
      result.stopped = performance.now() - t0;
    } else if (scenario === "drain + stop") {
      t0 = performance.now();
      await managers[leaderIndex]!.drainWorker(managers[victim]!.workerId!);
    } else if (scenario === "stuck revoke") {
      pool.gates[victim] = Promise.withResolvers<void>();
      t0 = performance.now();
      await managers[leaderIndex]!.drainWorker(managers[victim]!.workerId!);
    } else {
      t0 = performance.now();
      stores[victim]!.cut();
    }
    // Polled in the background: the first moment another worker leads.
    void waitFor(() => survivors.some((m) => m.isLeader), {
      timeoutMs: 120_000,
      intervalMs: 2,
      signal: abort.signal,
    }).then(() => (result.leader = performance.now() - t0), () => {});
    if (scenario === "blip" || scenario === "leader blip") {
      await sleep(blipMs);
      stores[victim]!.heal();
      // Observation, not synchronisation: by then a death would have moved something.
      await sleep(Math.max(0, t.ttl + t.grace + 1_000 - (performance.now() - t0)));
    } else {
      const ownedBySurvivors = () => {
        const owners = ownerMap(survivors);
        return [...held].every((id) => owners.get(id)?.length === 1);
      };
      await waitFor(ownedBySurvivors, { timeoutMs: 60_000, intervalMs: 2, message: "taken over" });
      result.owned = performance.now() - t0;
      if (scenario === "drain + stop") {
        const at = performance.now();
        await managers[victim]!.stop();
        result.stopped = performance.now() - at;
      }
    }
    const fence = pool.fenced[victim];
    if (fence) {
      result.fenced = { start: fence.start - t0, end: (fence.end ?? Number.NaN) - t0 };
    }
    const revokeAt = pool.revokeTimeoutAt[victim];
    if (revokeAt !== undefined) result.revokeTimeout = revokeAt - t0;
    const movedIds = new Set<string>();
    pool.addedAt.forEach((added, i) => {
      if (i === victim) return;
      for (const [id, at] of added) {
        if (at >= t0 && before.get(id)?.[0] !== i) movedIds.add(id);
      }
    });
    result.moved = movedIds.size;
    return result;
  } finally {
    abort.abort();
    await stopPool(pool);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (xs: (number | undefined)[]) => {
  const known = xs.filter((x): x is number => x !== undefined && !Number.isNaN(x));
  return known.length === 0 ? "—" : median(known).toFixed(0);
};

await using server = await NatsServer.start();
const started = performance.now();
const rows: string[] = [];
let group = 0;
for (const recipe of RECIPES) {
  if (only !== undefined && recipe.name !== only) continue;
  const t = timings(recipe.tuning);
  // Windows derived from the code (runtime/cadence.ts), not measured: the fence fires
  // heartbeatTtlMs − heartbeatIntervalMs after the last successful heartbeat started (up to one
  // interval before the cut), found by a check every interval/4 (at most 250 ms); the leader
  // declares a worker dead heartbeatTtlMs after it last observed it, found by a check every
  // interval/2 (at most 500 ms), and moves its partitions emergencyGraceMs later; a new leader
  // starts observing the old one when it takes over, lease × 2/3 to lease after the cut.
  const fenceCheck = Math.max(10, Math.min(t.interval / 4, 250));
  const deadCheck = Math.max(50, Math.min(t.interval / 2, 500));
  const range = (a: number, b: number) => `${Math.round(a)}–${Math.round(b)}`;
  for (const scenario of recipe.scenarios) {
    const results: Measured[] = [];
    for (let run = 0; run < runs; run++) {
      results.push(await measure(server.url, recipe, scenario, `recipe${group++}`));
    }
    const fenceWindow = scenario === "stuck revoke" || scenario === "stop" ||
        scenario === "drain + stop"
      ? "—"
      : range(t.ttl - 2 * t.interval, t.ttl - t.interval + fenceCheck);
    const takeover = {
      "crash": range(t.ttl - t.interval + t.grace, t.ttl + t.grace + deadCheck),
      "leader crash": range(
        (2 * t.lease) / 3 + t.ttl + t.grace,
        t.lease + t.ttl + t.grace + deadCheck,
      ),
      "stuck revoke": range(
        t.revoke + t.ttl - t.interval + t.grace,
        t.revoke + t.ttl + t.grace + deadCheck,
      ),
      "blip": `moves only if > ${range(t.ttl - t.interval, t.ttl)}`,
      "leader blip": `moves only if > ${range(t.ttl - t.interval, t.ttl)}`,
      "stop": `≈ ${t.planned} (planned window)`,
      "drain + stop": "one hand-off",
    }[scenario];
    const fenced = scenario === "stop" || scenario === "drain + stop"
      ? `no (stop() took ${ms(results.map((r) => r.stopped))})`
      : results.some((r) => r.fenced)
      ? recipe.hookMs > 0
        ? `${ms(results.map((r) => r.fenced?.start))} → ${ms(results.map((r) => r.fenced?.end))}`
        : ms(results.map((r) => r.fenced?.start))
      : scenario === "stuck revoke"
      ? `left at ${ms(results.map((r) => r.revokeTimeout))} (RevokeTimeoutError)`
      : "no";
    const leader = scenario === "leader crash" || scenario === "leader blip"
      ? (results.some((r) => r.leader !== undefined) ? ms(results.map((r) => r.leader)) : "none")
      : "—";
    const owned = scenario.includes("blip") ? "—" : ms(results.map((r) => r.owned));
    const name = scenario.includes("blip") ? `${scenario} ${blipMs} ms` : scenario;
    rows.push(
      `| ${recipe.name} | ${name} | ${t.interval} / ${t.ttl} / ${t.grace} / ${t.lease} | ` +
        `${recipe.workers} × ${recipe.partitions} | ${fenced} | ${leader} | ${owned} | ` +
        `${median(results.map((r) => r.moved))} of ${median(results.map((r) => r.held))} | ` +
        `${fenceWindow} | ${takeover} |`,
    );
  }
}

console.log(
  `nats-server at ${server.url}; one worker cut off with faultyStore; ${runs} run(s) per row ` +
    `(median); ms after the cut (after drainWorker() or stop() where the scenario says so); ` +
    `the two windows are ` +
    `derived from the options, not measured; total ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s`,
);
console.log(
  "| recipe | scenario | heartbeat / TTL / grace / lease | workers × partitions | " +
    "victim fenced | new leader | owned by others | moved | fence window | takeover window |",
);
console.log("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
