/**
 * A pool of whole managers in one process, on one {@link FakeClock} and one in-memory store, for
 * tests that decide protocol timings exactly. Every manager's timers (heartbeats, fence checks,
 * lease renewal, liveness checks, rebalance windows, back-off, startup and shutdown deadlines) and
 * the store's TTLs run on the clock, and memory-store watch deliveries are promise continuations,
 * so `clock.tickAsync()` steps the whole group deterministically.
 *
 * Each manager reaches the shared store through its own `faultyStore()` wrapper: cutting it is a
 * dead or partitioned worker. The pool also watches the shared buckets from outside and records
 * every heartbeat, lease and assignment write with the fake time it happened at, and records the
 * hooks of every manager, so a test can compute an expected instant from what was observed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ManagerOptions, resolveConfig, type TuningOptions } from "../../src/config.ts";
import { createAssignmentEngine } from "../../src/engine/mod.ts";
import { Manager } from "../../src/manager.ts";
import { type Partition, partitionId } from "../../src/partition.ts";
import { openGroupBuckets } from "../../src/protocol/buckets.ts";
import { ASSIGNMENT_PREFIX, LEADER_KEY, META_KEY } from "../../src/protocol/keys.ts";
import {
  decodeHeartbeat,
  decodeLeader,
  decodeWorkerAssignment,
} from "../../src/protocol/records.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket, CoordinationStore } from "../../src/store/store.ts";
import type { Hooks } from "../../src/types.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { type FaultyStore, faultyStore } from "../../testing/faulty_store.ts";

/**
 * Small explicit timings: every period a test reasons about is derived from these through
 * `src/runtime/cadence.ts` (fence deadline 200, fence check 25, liveness check 50, lease renewal
 * 100, renew deadline 200, follower check 75, controller idle 100).
 */
export const TIMINGS = Object.freeze(
  {
    heartbeatIntervalMs: 100,
    heartbeatTtlMs: 300,
    electionLeaseMs: 300,
    emergencyGraceMs: 150,
    coldStartWindowMs: 500,
    plannedScaleWindowMs: 200,
    minRebalanceIntervalMs: 200,
    workerIdTtlMs: 1_000,
    startupTimeoutMs: 10_000,
    shutdownTimeoutMs: 2_000,
    operationTimeoutMs: 1_000,
    degraded: Object.freeze({ enterAfterMs: 1_000, exitAfterMs: 500, recoveryGraceMs: 1_000 }),
  } satisfies TuningOptions,
);

/** `count` partitions `["p", "<i>"]` of equal weight. */
export function clockPartitions(count: number): Partition[] {
  return Array.from({ length: count }, (_, i) => ({ keys: ["p", String(i)] }));
}

/** One entry of {@link ClockPool.events}: something a manager's hooks saw, at a fake time. */
export interface PoolEvent {
  /** Fake time. */
  readonly at: number;
  /** The worker's instance name (`w0`, `w1`, ...). */
  readonly worker: string;
  /**
   * `change` (onAssignmentChanged called), `changed` (it resolved, incl. the test's own hook),
   * `leader` / `follower` (onLeadershipChanged), `joined` / `left` (leader only), `state`.
   */
  readonly type: "change" | "changed" | "leader" | "follower" | "joined" | "left" | "state";
  /** Partition IDs added (`change`/`changed`). */
  readonly added?: readonly string[];
  /** Partition IDs removed (`change`/`changed`). */
  readonly removed?: readonly string[];
  /** Version of the change, the epoch of a leadership change. */
  readonly version?: number;
  /** The other worker (`joined`/`left`) or the new state (`state`). */
  readonly subject?: string;
}

/** One write to the shared store, observed from outside through a watch. */
export interface StoreWrite {
  /** Fake time the write was observed (memory-store watches deliver in the same instant). */
  readonly at: number;
  /** Which bucket. */
  readonly bucket: "hb" | "leader" | "assign";
  /** The key (worker ID for heartbeats, `w.<id>` for assignments). */
  readonly key: string;
  /** A delete marker. */
  readonly deleted: boolean;
  /** Heartbeat: applied version. Assignment: its version. Lease: its epoch. */
  readonly version?: number;
  /** Assignment only. */
  readonly phase?: "revoke" | "assign";
  /** Assignment: its partition IDs. */
  readonly ids?: readonly string[];
  /** Lease: the leader's worker ID; heartbeat: the worker's state. */
  readonly detail?: string;
}

/** One manager of the pool. */
export interface PoolWorker {
  /** Instance name and log name: `w<index>`. */
  readonly name: string;
  /** The manager. */
  readonly manager: Manager;
  /** This manager's own path to the shared store: `cut()` it to kill or partition the worker. */
  readonly store: FaultyStore;
  /** The promise of `start()` once launched (never rejects: see {@link PoolWorker.outcome}). */
  started: Promise<void> | undefined;
  /** How `start()` ended: `undefined` while pending. */
  outcome: { readonly at: number; readonly error?: unknown } | undefined;
}

/** Options of {@link clockPool}. */
export interface ClockPoolOptions {
  /** How many managers to create. */
  readonly count: number;
  /** The partitions. @default {clockPartitions(12)} */
  readonly partitions?: readonly Partition[];
  /** Tuning for every manager on top of {@link TIMINGS} (the buckets must agree). */
  readonly tuning?: TuningOptions;
  /**
   * Per-manager extras (hooks, startupTimeoutMs, ...) by index; `sleep` is the pool's
   * {@link ClockPool.sleep}, for slow hooks.
   */
  readonly perWorker?: (
    index: number,
    sleep: (ms: number) => Promise<void>,
  ) => Partial<ManagerOptions>;
}

/** See {@link clockPool}. */
export interface ClockPool extends AsyncDisposable {
  /** The clock every manager and the store run on. */
  readonly clock: FakeClock;
  /** The store shared by all (managers reach it through their own wrappers). */
  readonly shared: CoordinationStore;
  /** The managers, in creation order. */
  readonly workers: PoolWorker[];
  /** The partitions. */
  readonly partitions: readonly Partition[];
  /** Hook events of every manager, in the order they happened. */
  readonly events: PoolEvent[];
  /** Writes to the shared buckets, in the order they were observed. */
  readonly writes: StoreWrite[];
  /** Creates one more manager (not started). */
  add(extra?: Partial<ManagerOptions>): PoolWorker;
  /** Calls `start()` without moving time; the outcome is recorded on the worker. */
  launch(worker: PoolWorker): Promise<void>;
  /**
   * Launches the given workers (default: every one not started yet) and steps time until each of
   * them has started; rethrows a start failure.
   *
   * @returns The fake time at which the last one started.
   */
  start(workers?: readonly PoolWorker[]): Promise<number>;
  /**
   * Lets continuations run without moving time until `done()` holds (for steps that need no fake
   * time, like claiming an ID or a graceful hand-over). Fails after 2 s of real time.
   */
  settle(done: () => boolean, what: string): Promise<void>;
  /** Steps time by `ms` in `step` increments, asserting exclusivity after every step. */
  advance(ms: number, step?: number): Promise<void>;
  /** Steps time to the absolute fake time `time` (see {@link ClockPool.advance}). */
  advanceTo(time: number, step?: number): Promise<void>;
  /**
   * Steps time until `done()` holds (checked before the first step and after every step).
   *
   * @returns The fake time at which it first held.
   */
  advanceUntil(done: () => boolean, what: string, maxMs: number, step?: number): Promise<number>;
  /** Asserts no partition is in two managers' `assignment` now. */
  assertExclusive(): void;
  /** Partition ID → the names of the workers whose `assignment` holds it. */
  owners(workers?: readonly PoolWorker[]): Map<string, string[]>;
  /** Whether the given workers together hold every partition exactly once. */
  covered(workers?: readonly PoolWorker[]): boolean;
  /** The workers whose manager says it is the leader now. */
  leaders(): PoolWorker[];
  /** Looks a worker up by its claimed worker ID. */
  byWorkerId(workerId: string): PoolWorker | undefined;
  /**
   * Resolves after `ms` of fake time: for slow test hooks. Disposal tells these apart from timers
   * a manager left behind.
   */
  sleep(ms: number): Promise<void>;
}

const GROUP = "clock";

/**
 * Creates a clock, a memory store on it and `count` managers, each through its own faulty-store
 * wrapper, with {@link TIMINGS} and instance names `w0`, `w1`, ... Nothing is started.
 *
 * Disposal stops every manager while stepping the clock (shutdown waits on timers: hooks in
 * flight are bounded by `shutdownTimeoutMs`), then asserts that no timer is left on the clock.
 *
 * @param options Pool size, partitions and extras.
 * @returns The pool.
 */
export async function clockPool(options: ClockPoolOptions): Promise<ClockPool> {
  const clock = new FakeClock();
  const shared = memoryStore({ clock });
  const partitions = options.partitions ?? clockPartitions(12);
  const tuning = { ...TIMINGS, ...options.tuning };
  const workers: PoolWorker[] = [];
  const events: PoolEvent[] = [];
  const writes: StoreWrite[] = [];
  const watching = new AbortController();
  let sleeping = 0;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      sleeping++;
      clock.setTimeout(() => {
        sleeping--;
        resolve();
      }, ms);
    });

  // Compiled once per process: later managers only instantiate it.
  await createAssignmentEngine();
  // The buckets are opened with exactly the settings the managers will ask for.
  const config = resolveConfig({ ...tuning, store: shared, group: GROUP, source: partitions });
  const buckets = await openGroupBuckets(shared, config);
  observe(buckets.heartbeats, "hb", clock, writes, watching.signal);
  observe(buckets.leader, "leader", clock, writes, watching.signal);
  observe(buckets.assignments, "assign", clock, writes, watching.signal);

  const ids = (list: readonly Partition[]) => list.map(partitionId).sort();

  const add = (extra: Partial<ManagerOptions> = {}): PoolWorker => {
    const name = `w${workers.length}`;
    const store = faultyStore(shared);
    const own: Hooks = extra.hooks ?? {};
    const log = (event: Omit<PoolEvent, "at" | "worker">) =>
      events.push({ at: clock.now(), worker: name, ...event });
    // The pool's hooks record first and then call the test's own (awaited: it can be slow).
    const hooks: Hooks = {
      ...own,
      async onAssignmentChanged(change) {
        const detail = {
          added: ids(change.added),
          removed: ids(change.removed),
          version: change.token.version,
        };
        log({ type: "change", ...detail });
        await own.onAssignmentChanged?.(change);
        log({ type: "changed", ...detail });
      },
      async onLeadershipChanged(isLeader, epoch) {
        log({ type: isLeader ? "leader" : "follower", version: epoch });
        await own.onLeadershipChanged?.(isLeader, epoch);
      },
      async onWorkerJoined(workerId) {
        log({ type: "joined", subject: workerId });
        await own.onWorkerJoined?.(workerId);
      },
      async onWorkerLeft(workerId) {
        log({ type: "left", subject: workerId });
        await own.onWorkerLeft?.(workerId);
      },
      async onStateChanged(from, to) {
        log({ type: "state", subject: to });
        await own.onStateChanged?.(from, to);
      },
    };
    const manager = new Manager({
      ...tuning,
      instance: name,
      ...extra,
      hooks,
      store,
      clock,
      group: GROUP,
      source: partitions,
    } as ManagerOptions);
    const worker: PoolWorker = { name, manager, store, started: undefined, outcome: undefined };
    workers.push(worker);
    return worker;
  };

  for (let i = 0; i < options.count; i++) add(options.perWorker?.(i, sleep));

  const owners = (list: readonly PoolWorker[] = workers) => {
    const out = new Map<string, string[]>();
    for (const w of list) {
      for (const p of w.manager.assignment.partitions) {
        const id = partitionId(p);
        out.set(id, [...(out.get(id) ?? []), w.name]);
      }
    }
    return out;
  };

  const assertExclusive = () => {
    const doubles = [...owners()].filter(([, o]) => o.length > 1);
    assert.deepEqual(doubles, [], `partitions owned twice at ${clock.now()}`);
  };

  const advance = async (ms: number, step = 10) => {
    for (let left = ms; left > 0; left -= step) {
      await clock.tickAsync(Math.min(step, left));
      assertExclusive();
    }
  };

  const launch = (worker: PoolWorker): Promise<void> => {
    worker.started ??= worker.manager.start().then(
      () => void (worker.outcome = { at: clock.now() }),
      (error) => void (worker.outcome = { at: clock.now(), error }),
    );
    return worker.started;
  };

  const settle = async (done: () => boolean, what: string) => {
    // Real time only bounds the wait: instantiating a manager's engine resolves in a later task.
    const until = performance.now() + 2_000;
    while (!done()) {
      if (performance.now() > until) throw new Error(`${what}: not reached without moving time`);
      await clock.flush();
    }
  };

  const advanceUntil = async (done: () => boolean, what: string, maxMs: number, step = 1) => {
    const until = clock.now() + maxMs;
    while (!done()) {
      if (clock.now() >= until) throw new Error(`${what}: not reached by ${until}`);
      await advance(Math.min(step, until - clock.now()), step);
    }
    return clock.now();
  };

  return {
    clock,
    shared,
    workers,
    partitions,
    events,
    writes,
    add,
    launch,
    settle,
    advance,
    advanceTo: (time, step) => advance(time - clock.now(), step),
    advanceUntil,
    assertExclusive,
    owners,
    covered(list = workers) {
      const map = owners(list);
      return map.size === partitions.length && [...map.values()].every((o) => o.length === 1);
    },
    leaders: () => workers.filter((w) => w.manager.isLeader),
    byWorkerId: (workerId) => workers.find((w) => w.manager.workerId === workerId),
    sleep,
    async start(list = workers.filter((w) => !w.outcome)) {
      for (const w of list) void launch(w);
      // Every reachable worker claims its ID and joins at the current instant, so later instants
      // do not depend on how long the engine took to load.
      await settle(
        () => list.every((w) => w.store.isCut || w.outcome || w.manager.workerId !== undefined),
        "every manager claimed its ID",
      );
      await advanceUntil(
        () => list.every((w) => w.outcome),
        "every manager started",
        tuning.startupTimeoutMs,
        10,
      );
      for (const w of list) if (w.outcome?.error) throw w.outcome.error;
      return Math.max(...list.map((w) => w.outcome!.at));
    },
    async [Symbol.asyncDispose]() {
      let stopped = false;
      const stopping = Promise.all(workers.map((w) => w.manager.stop())).finally(() => {
        stopped = true;
      });
      // Shutdown waits on timers (hooks in flight are bounded by shutdownTimeoutMs on the clock).
      const limit = tuning.shutdownTimeoutMs + 1_000;
      for (let waited = 0; !stopped && waited < limit; waited += 10) await clock.tickAsync(10);
      if (!stopped) {
        throw new Error(`stop() did not finish within ${limit} ms of fake time (shutdown bound)`);
      }
      await stopping;
      await Promise.all(workers.map((w) => w.started));
      watching.abort();
      await clock.flush();
      // A stopped manager cancels every timer it scheduled. What may remain are the test's own
      // slow hooks: stop() waits for hooks only up to shutdownTimeoutMs, and hooks queued before
      // or during the stop still run after it, each sleeping on the clock.
      assert.equal(
        clock.pending,
        sleeping,
        `${clock.pending - sleeping} timers of stopped managers left on the clock`,
      );
      for (let waited = 0; sleeping > 0 && waited < 60_000; waited += 100) {
        await clock.tickAsync(100);
      }
      assert.equal(clock.pending, 0, `${clock.pending} timers left once the slow hooks finished`);
    },
  };
}

/** Records every write to `bucket` with the fake time it was delivered at. */
function observe(
  bucket: Bucket,
  name: StoreWrite["bucket"],
  clock: FakeClock,
  writes: StoreWrite[],
  signal: AbortSignal,
): void {
  const watch = bucket.watch({ signal });
  void (async () => {
    for await (const entry of watch) {
      const base = { at: clock.now(), bucket: name, key: entry.key };
      if (entry.operation === "delete") {
        writes.push({ ...base, deleted: true });
        continue;
      }
      try {
        if (name === "hb") {
          const hb = decodeHeartbeat(bucket.name, entry.key, entry.value);
          writes.push({ ...base, deleted: false, version: hb.appliedVersion, detail: hb.state });
        } else if (name === "leader" && entry.key === LEADER_KEY) {
          const lease = decodeLeader(bucket.name, entry.key, entry.value);
          const detail = lease.released ? `${lease.workerId} released` : lease.workerId;
          writes.push({ ...base, deleted: false, version: lease.epoch, detail });
        } else if (name === "assign" && entry.key.startsWith(ASSIGNMENT_PREFIX)) {
          const a = decodeWorkerAssignment(bucket.name, entry.key, entry.value);
          writes.push({
            ...base,
            deleted: false,
            version: a.version,
            phase: a.phase,
            ids: (a.partitions ?? []).map(partitionId).sort(),
          });
        } else if (name === "assign" && entry.key === META_KEY) {
          writes.push({ ...base, deleted: false, detail: "meta" });
        }
      } catch {
        // Only the pool's own managers write here; nothing foreign to report.
      }
    }
  })();
}
