/**
 * Whole managers, decided exactly on a fake clock: a pool in one process on one `FakeClock` and
 * one in-memory store (`tests/helpers/clock_pool.ts`), stepped with `tickAsync`. Every expected
 * instant is computed from the pool's timings and `src/runtime/cadence.ts`; where a periodic check
 * decides the instant, the test asserts "not yet at the deadline, done by the deadline plus one
 * period of that check" and names the check.
 *
 * The pool asserts after every step that no partition is in two managers' `assignment`.
 */
import assert from "node:assert/strict";
import { OperationTimeoutError } from "../../src/errors.ts";
import { partitionId } from "../../src/partition.ts";
import {
  fenceCheckIntervalMs,
  fenceDeadlineMs,
  followerCheckIntervalMs,
  leaseRenewDeadlineMs,
  livenessCheckIntervalMs,
} from "../../src/runtime/cadence.ts";
import { State } from "../../src/types.ts";
import {
  type ClockPool,
  type PoolEvent,
  type PoolWorker,
  type StoreWrite,
  TIMINGS,
} from "../helpers/clock_pool.ts";
import { clockPool } from "../helpers/clock_pool.ts";
import { type AssignmentChange, Manager, memoryStore } from "../../mod.ts";
import { FakeClock } from "../../testing/mod.ts";

const {
  heartbeatTtlMs: HEARTBEAT_TTL_MS,
  electionLeaseMs: LEASE_MS,
  emergencyGraceMs: GRACE_MS,
  coldStartWindowMs: COLD_START_MS,
  plannedScaleWindowMs: PLANNED_MS,
} = TIMINGS;
const FENCE_DEADLINE_MS = fenceDeadlineMs(TIMINGS);
const FENCE_CHECK_MS = fenceCheckIntervalMs(TIMINGS);
const LIVENESS_CHECK_MS = livenessCheckIntervalMs(TIMINGS);
const RENEW_DEADLINE_MS = leaseRenewDeadlineMs(TIMINGS);
const FOLLOWER_CHECK_MS = followerCheckIntervalMs(TIMINGS);

/** The fake time of the last write matching `match`, which must exist. */
function lastWrite(pool: ClockPool, match: (w: StoreWrite) => boolean, what: string): number {
  const write = pool.writes.findLast(match);
  assert.ok(write, `no ${what} was written`);
  return write.at;
}

/** Assignment writes after `since` (per-worker keys only, not `_meta`). */
function assignWrites(pool: ClockPool, since: number): StoreWrite[] {
  return pool.writes.filter((w) => w.bucket === "assign" && w.at > since && w.ids !== undefined);
}

/** The index in `pool.events` of the first event matching `match`, which must exist. */
function eventIndex(pool: ClockPool, match: (e: PoolEvent) => boolean, what: string): number {
  const index = pool.events.findIndex(match);
  assert.ok(index !== -1, `no event: ${what}`);
  return index;
}

function partitionIds(worker: PoolWorker): string[] {
  return worker.manager.assignment.partitions.map(partitionId).sort();
}

/** Worker 0's `onAssignmentChanged` takes `ms` of fake time when it removes partitions. */
function slowFirstOnRevoke(ms: number) {
  return (i: number, sleep: (ms: number) => Promise<void>) =>
    i === 0
      ? {
        hooks: {
          async onAssignmentChanged({ removed }: AssignmentChange) {
            if (removed.length > 0) await sleep(ms); // stops work on them, slowly
          },
        },
      }
      : {};
}

/** Launches every worker without moving time and waits until each waits for an assignment. */
async function join(pool: ClockPool, workers: readonly PoolWorker[]): Promise<void> {
  for (const w of workers) void pool.launch(w);
  await pool.settle(
    () => workers.every((w) => w.manager.state === State.WaitingAssignment),
    "every worker waits for its first assignment",
  );
}

Deno.test("the pool's timings give these cadences: fence at 200 checked every 25, liveness every 50, renew deadline 200, follower check 75", () => {
  assert.deepEqual(
    [FENCE_DEADLINE_MS, FENCE_CHECK_MS, LIVENESS_CHECK_MS, RENEW_DEADLINE_MS, FOLLOWER_CHECK_MS],
    [200, 25, 50, 200, 75],
  );
});

// Exact: the controller sleeps on the clock until the window's end; no periodic check decides it.
Deno.test("a cold start publishes the first assignment exactly when the cold-start window closes, not before", async () => {
  await using pool = await clockPool({ count: 3 });
  await join(pool, pool.workers);
  // Claims, first heartbeats and the election need no fake time: the leader adopted an empty
  // bucket and opened the window at 0.
  assert.equal(pool.clock.now(), 0);
  assert.deepEqual(pool.leaders().map((w) => w.name), ["w0"]);
  const closesAt = 0 + COLD_START_MS;

  await pool.advanceTo(closesAt - 1);
  assert.deepEqual(assignWrites(pool, -1), [], "nothing published inside the window");
  assert.ok(pool.workers.every((w) => w.manager.assignment.partitions.length === 0));
  assert.ok(pool.workers.every((w) => w.outcome === undefined), "start() waits for it");

  await pool.advance(1, 1);
  const published = assignWrites(pool, -1);
  assert.equal(published.length, 3, "one key per worker");
  assert.ok(published.every((w) => w.at === closesAt && w.version === 1 && w.phase === "assign"));
  assert.ok(pool.covered(), "every partition owned exactly once");
  assert.ok(pool.workers.every((w) => w.outcome?.at === closesAt && !w.outcome.error));
});

// Bounded by two cadences: the fence check (every 25 ms on the worker) and the liveness check
// (every 50 ms on the leader). The emergency window itself is exact: the controller sleeps
// emergencyGraceMs on the clock from the moment the death was declared.
Deno.test("a worker cut off from the store fences itself at the fence deadline, before the leader declares it dead, and only its partitions move after heartbeatTtlMs + emergencyGraceMs", async () => {
  await using pool = await clockPool({ count: 3 });
  await pool.start();
  await pool.advance(250);
  const victim = pool.workers.find((w) => !w.manager.isLeader)!;
  const leader = pool.leaders()[0]!;
  const rest = pool.workers.filter((w) => w !== victim);
  const held = partitionIds(victim);
  const before = pool.owners(rest);
  assert.ok(held.length > 0);
  victim.store.cut();
  const id = victim.manager.workerId!;
  // The last heartbeat that reached the store: the victim's fence and the leader's liveness are
  // both judged from it (the memory store delivers the write to the leader in the same instant).
  const lastBeat = lastWrite(pool, (w) => w.bucket === "hb" && w.key === id, "heartbeat");

  await pool.advanceTo(lastBeat + FENCE_DEADLINE_MS, 1);
  assert.deepEqual(partitionIds(victim), held, "the deadline itself is inclusive: still held");
  assert.notEqual(victim.manager.state, State.Degraded);
  const fencedAt = await pool.advanceUntil(
    () => victim.manager.assignment.partitions.length === 0,
    "the victim fenced itself",
    FENCE_CHECK_MS,
  );
  assert.ok(
    fencedAt > lastBeat + FENCE_DEADLINE_MS &&
      fencedAt <= lastBeat + FENCE_DEADLINE_MS + FENCE_CHECK_MS,
  );
  assert.equal(victim.manager.state, State.Degraded);
  assert.ok(
    pool.events.some((e) =>
      e.worker === victim.name && e.at === fencedAt &&
      e.type === "changed" && e.removed?.length === held.length
    ),
    "its hooks were told at once",
  );

  const declaredDead = (e: PoolEvent) =>
    e.worker === leader.name && e.type === "left" && e.subject === id;
  await pool.advanceTo(lastBeat + HEARTBEAT_TTL_MS, 1);
  assert.ok(!pool.events.some(declaredDead), "alive until heartbeatTtlMs has passed");
  const deadAt = await pool.advanceUntil(
    () => pool.events.some(declaredDead),
    "the leader declared the victim dead",
    LIVENESS_CHECK_MS,
  );
  assert.ok(deadAt > lastBeat + HEARTBEAT_TTL_MS);
  assert.ok(deadAt <= lastBeat + HEARTBEAT_TTL_MS + LIVENESS_CHECK_MS);
  assert.ok(fencedAt < deadAt, "fenced strictly before it could be declared dead");

  await pool.advanceTo(deadAt + GRACE_MS - 1, 1);
  assert.ok(held.every((p) => !pool.owners().has(p)), "orphans wait out emergencyGraceMs");
  await pool.advance(1, 1);
  const movedAt = pool.clock.now();
  assert.ok(pool.covered(rest), `moved at ${deadAt + GRACE_MS}`);
  assert.ok(movedAt > lastBeat + HEARTBEAT_TTL_MS + GRACE_MS);
  assert.ok(movedAt <= lastBeat + HEARTBEAT_TTL_MS + GRACE_MS + LIVENESS_CHECK_MS);
  for (const [partition, owners] of pool.owners(rest)) {
    if (held.includes(partition)) continue;
    assert.deepEqual(owners, before.get(partition), `${partition} moved needlessly`);
  }
});

// The renew deadline is exact (the leader judges its lease on its own clock, and its loop sleeps
// until that deadline); the takeover is bounded by the follower check (every 75 ms).
Deno.test("a leader cut off stops acting as leader at its renew deadline, and a follower takes over only after electionLeaseMs of no observed renewal", async () => {
  await using pool = await clockPool({ count: 3 });
  await pool.start();
  await pool.advance(250);
  const old = pool.leaders()[0]!;
  old.store.cut();
  // The last renewal that reached the store: the old leader renewed at that instant by its own
  // clock, and the followers observed it in the same instant.
  const renewedAt = lastWrite(pool, (w) => w.bucket === "leader", "lease");

  await pool.advanceTo(renewedAt + RENEW_DEADLINE_MS - 1, 1);
  assert.equal(old.manager.isLeader, true, "its renewals fail, but the lease is still its own");
  await pool.advance(1, 1);
  assert.equal(old.manager.isLeader, false, "not leader at the renew deadline");
  assert.ok(
    pool.events.some((e) =>
      e.worker === old.name && e.type === "follower" && e.at === renewedAt + RENEW_DEADLINE_MS
    ),
  );

  await pool.advanceTo(renewedAt + LEASE_MS - 1, 1);
  assert.deepEqual(pool.leaders(), [], "nobody leads between the step-down and the takeover");
  const takeoverAt = await pool.advanceUntil(
    () => pool.leaders().length === 1,
    "a follower took over",
    1 + FOLLOWER_CHECK_MS,
  );
  assert.ok(takeoverAt >= renewedAt + LEASE_MS);
  assert.ok(takeoverAt <= renewedAt + LEASE_MS + FOLLOWER_CHECK_MS);
  const [next] = pool.leaders();
  assert.notEqual(next, old);
  const lease = pool.writes.findLast((w) => w.bucket === "leader")!;
  assert.deepEqual([lease.at, lease.version, lease.detail], [
    takeoverAt,
    2,
    next!.manager.workerId,
  ]);
  assert.ok(renewedAt + RENEW_DEADLINE_MS < takeoverAt, "the old leader stopped first");
});

// Exact: the planned window is a sleep on the clock, and the hand-off needs no fake time (the old
// owners' hooks resolve at once, acknowledge through a heartbeat woken at once).
Deno.test("a worker joining opens a planned window; when it closes the old owners are revoked first and the newcomer is assigned after their acknowledgement", async () => {
  await using pool = await clockPool({ count: 2 });
  const startedAt = await pool.start();
  // Past minRebalanceIntervalMs after the cold-start round, so only the window holds it back.
  await pool.advanceTo(startedAt + 300);
  const newcomer = pool.add();
  await join(pool, [newcomer]);
  const joinedAt = pool.clock.now();
  const id = newcomer.manager.workerId!;
  assert.ok(pool.events.some((e) => e.type === "joined" && e.subject === id && e.at === joinedAt));
  const closesAt = joinedAt + PLANNED_MS;

  await pool.advanceTo(closesAt - 1, 1);
  assert.deepEqual(assignWrites(pool, joinedAt), [], "nothing published inside the window");
  assert.deepEqual(partitionIds(newcomer), []);
  await pool.advance(1, 1);
  assert.ok(partitionIds(newcomer).length > 0, "the newcomer works by the window's end");
  assert.equal(newcomer.outcome?.at, closesAt);
  assert.ok(pool.covered());

  const writes = assignWrites(pool, joinedAt);
  assert.ok(writes.every((w) => w.at === closesAt));
  const revoke = writes[0]!;
  assert.equal(revoke.phase, "revoke", "the first publication only takes partitions away");
  const revoked = writes.filter((w) => w.version === revoke.version);
  assert.deepEqual(revoked.find((w) => w.key === `w.${id}`)?.ids ?? [], []);
  for (const partition of partitionIds(newcomer)) {
    const given = writes.find((w) => w.key === `w.${id}` && w.ids!.includes(partition))!;
    assert.ok(given.version! > revoke.version!, `${partition} given after the revocation`);
    // The old owner's hook resolved (the removal is acknowledged) before the newcomer's was told.
    const released = eventIndex(
      pool,
      (e) => e.at === closesAt && e.type === "changed" && e.removed!.includes(partition),
      `${partition} released`,
    );
    const added = eventIndex(
      pool,
      (e) => e.worker === newcomer.name && e.type === "change" && e.added!.includes(partition),
      `${partition} added`,
    );
    assert.ok(released < added, `${partition}: released before added`);
  }
});

// Within a follower check interval: a resigning leader marks the lease released, the watch wakes
// the followers at once (the follower check is only the fallback). Its partitions are reserved for
// emergencyGraceMs, exactly, because it has a stable instance name (static membership).
Deno.test("a graceful stop of the leader hands leadership over within a follower check interval, without waiting for the lease", async () => {
  await using pool = await clockPool({ count: 3 });
  await pool.start();
  await pool.advance(250);
  const old = pool.leaders()[0]!;
  const held = partitionIds(old);
  const stoppedAt = pool.clock.now();
  let stopped = false;
  void old.manager.stop().then(() => (stopped = true));
  await pool.settle(() => stopped, "the old leader stopped");
  const takeoverAt = await pool.advanceUntil(
    () => pool.leaders().length === 1,
    "a follower took over",
    FOLLOWER_CHECK_MS,
  );
  assert.ok(takeoverAt <= stoppedAt + FOLLOWER_CHECK_MS, `took over at ${takeoverAt}`);
  const next = pool.leaders()[0]!;
  assert.notEqual(next, old);
  const leases = pool.writes.filter((w) => w.bucket === "leader" && w.at >= stoppedAt);
  assert.deepEqual(
    leases.slice(-2).map((w) => w.detail),
    [`${old.manager.workerId} released`, next.manager.workerId],
  );
  assert.equal(leases.at(-1)!.version, 2);

  const rest = pool.workers.filter((w) => w !== old);
  await pool.advanceTo(stoppedAt + GRACE_MS - 1, 1);
  assert.ok(held.every((p) => !pool.owners().has(p)), "reserved for a restart");
  await pool.advance(1, 1);
  assert.ok(pool.covered(rest), "the new leader published them when the reservation ended");
});

// Exact: start() is bounded by one deadline on the clock.
Deno.test("start() of a manager that can never get an assignment rejects with OperationTimeoutError at exactly startupTimeoutMs", async () => {
  const timeoutMs = 2_000;
  await using pool = await clockPool({
    count: 1,
    perWorker: () => ({ startupTimeoutMs: timeoutMs }),
  });
  const worker = pool.workers[0]!;
  // Read through a function: an assertion on the field would narrow its type for good.
  const outcome = () => worker.outcome;
  worker.store.cut();
  void pool.launch(worker);
  await pool.advanceTo(timeoutMs - 1);
  assert.equal(outcome(), undefined);
  assert.equal(worker.manager.state, State.ClaimingId, "still retrying to open its buckets");
  await pool.advance(1, 1);
  assert.equal(outcome()?.at, timeoutMs);
  const error = outcome()?.error;
  assert.ok(error instanceof OperationTimeoutError, String(error));
  assert.match(error.message, /startupTimeoutMs \(2000 ms\)/);
  assert.equal(worker.manager.state, State.Shutdown);
});

// Exact: the hand-off waits for the old owner's acknowledgement, which follows its hook at once.
Deno.test("a slow onAssignmentChanged on the old owner delays the hand-off to the new owner by exactly as long, and no partition is owned twice", async () => {
  const slowMs = 400;
  await using pool = await clockPool({ count: 2, perWorker: slowFirstOnRevoke(slowMs) });
  const startedAt = await pool.start();
  await pool.advanceTo(startedAt + 300);
  const [slow, fast] = pool.workers as [PoolWorker, PoolWorker];
  const fromSlow = partitionIds(slow);
  const fromFast = partitionIds(fast);
  const newcomer = pool.add();
  await join(pool, [newcomer]);
  const closesAt = pool.clock.now() + PLANNED_MS;

  await pool.advanceTo(closesAt, 1);
  const moved = (list: string[]) => partitionIds(newcomer).filter((p) => list.includes(p));
  assert.ok(moved(fromFast).length > 0, "the fast owner's partitions move when the window closes");
  assert.deepEqual(moved(fromSlow), [], "the slow owner's wait for its hook");
  const revokedFromSlow = fromSlow.filter((p) => !partitionIds(slow).includes(p));
  assert.ok(revokedFromSlow.length > 0, "revoked from the slow owner at once");

  await pool.advanceTo(closesAt + slowMs - 1, 1);
  assert.deepEqual(moved(fromSlow), [], "not a millisecond early");
  await pool.advance(1, 1);
  assert.deepEqual(moved(fromSlow), revokedFromSlow, "handed over as its hook resolved");
  assert.ok(pool.covered());
  for (const partition of revokedFromSlow) {
    const released = eventIndex(
      pool,
      (e) => e.worker === slow.name && e.type === "changed" && e.removed!.includes(partition),
      `${partition} released`,
    );
    const added = eventIndex(
      pool,
      (e) => e.worker === newcomer.name && e.type === "change" && e.added!.includes(partition),
      `${partition} added`,
    );
    assert.equal(pool.events[released]!.at, closesAt + slowMs);
    assert.ok(released < added, `${partition}: the slow owner finished before the newcomer began`);
  }
});

// Exact, as in the cold-start test: the leader's decisions never wait in its hook lane.
Deno.test("a slow onStateChanged on the leader does not delay its publications: the first one still happens when the cold-start window closes", async () => {
  await using pool = await clockPool({
    count: 3,
    perWorker: (i, sleep) => (i === 0 ? { hooks: { onStateChanged: () => sleep(1_000) } } : {}),
  });
  const [leader, ...others] = pool.workers as [PoolWorker, ...PoolWorker[]];
  void pool.launch(leader);
  await pool.settle(() => leader.manager.isLeader, "w0 leads");
  await join(pool, others);
  assert.equal(pool.clock.now(), 0);

  await pool.advanceTo(COLD_START_MS - 1);
  assert.equal((await others[0]!.manager.getTopology()).version, 0);
  await pool.advance(1, 1);
  assert.equal((await others[0]!.manager.getTopology()).version, 1);
  assert.ok(others.every((w) => w.outcome?.at === COLD_START_MS), "the others started on time");
  assert.ok(pool.covered(), "the leader's own share is published (and visible) too");
  assert.equal(leader.outcome, undefined, "while its own hooks are still far behind");
});

// The leader and a worker are cut off together. By the time a follower takes the lease, their
// heartbeat keys may have expired on the server, so the new leader never sees them: it must still
// treat them as alive, holding their published partitions, for a whole heartbeat TTL by its own
// clock (then the emergency grace), which gives the cut-off worker's slow fence hook the time the
// protocol promises it.
Deno.test("a new leader treats an owner it never saw as alive for a TTL: a slow fence hook ends before its partitions move", async () => {
  const slowMs = 400;
  await using pool = await clockPool({
    count: 3,
    perWorker: (i, sleep) =>
      i === 1
        ? {
          hooks: {
            async onAssignmentChanged({ removed }) {
              if (removed.length > 0) await sleep(slowMs); // stops work on them, slowly
            },
          },
        }
        : {},
  });
  const startedAt = await pool.start();
  await pool.advanceTo(startedAt + 300);
  const [leader, slow, survivor] = pool.workers as [PoolWorker, PoolWorker, PoolWorker];
  assert.ok(leader.manager.isLeader);
  const fromSlow = partitionIds(slow);
  assert.ok(fromSlow.length > 0);
  leader.store.cut();
  slow.store.cut();
  await pool.advanceUntil(() => survivor.manager.isLeader, "the survivor leads", 2_000);
  await pool.advanceUntil(() => pool.covered([survivor]), "the survivor covers everything", 5_000);
  for (const partition of fromSlow) {
    const released = eventIndex(
      pool,
      (e) => e.worker === slow.name && e.type === "changed" && e.removed!.includes(partition),
      `${partition} released by the cut-off worker`,
    );
    const added = eventIndex(
      pool,
      (e) => e.worker === survivor.name && e.type === "change" && e.added!.includes(partition),
      `${partition} added to the survivor`,
    );
    assert.ok(released < added, `${partition}: released before the survivor began`);
  }
});

/** A logger that keeps the error lines, with the fake time they were written at. */
function errorLog(pool: () => ClockPool) {
  const lines: { at: number; message: string; code: unknown }[] = [];
  const logger = {
    debug() {},
    info() {},
    warn() {},
    error: (message: string, fields?: Record<string, unknown>) =>
      void lines.push({ at: pool().clock.now(), message, code: fields?.code }),
  };
  return { lines, logger };
}

for (const mode of ["leave", "wait"] as const) {
  Deno.test(`a revoke stuck past revokeTimeoutMs is reported at that instant; onRevokeTimeout '${mode}' ${mode === "leave" ? "leaves the group, so its partitions move after TTL + grace" : "keeps them unowned until the hook returns"}`, async () => {
    const revokeTimeoutMs = 500;
    const stuckMs = 3_000;
    const ref: { pool?: ClockPool } = {};
    const log = errorLog(() => ref.pool!);
    await using pool = await clockPool({
      count: 2,
      tuning: { revokeTimeoutMs, onRevokeTimeout: mode },
      perWorker: (i, sleep) =>
        i === 1
          ? {
            logger: log.logger,
            hooks: {
              async onAssignmentChanged({ removed }) {
                if (removed.length > 0) await sleep(stuckMs); // a stuck handler
              },
            },
          }
          : {},
    });
    ref.pool = pool;
    const startedAt = await pool.start();
    await pool.advanceTo(startedAt + 300);
    const [, stuck] = pool.workers as [PoolWorker, PoolWorker];
    const held = partitionIds(stuck);
    assert.ok(held.length > 0);
    const newcomer = pool.add();
    await join(pool, [newcomer]);
    const revokedAt = await pool.advanceUntil(
      () => held.some((p) => !partitionIds(stuck).includes(p)),
      "the stuck worker is revoked",
      1_000,
      1,
    );
    await pool.advanceTo(revokedAt + revokeTimeoutMs - 1, 1);
    assert.equal(log.lines.length, 0, "reported early");
    await pool.advance(1, 1);
    assert.equal(log.lines.length, 1);
    assert.equal(log.lines[0]!.code, "REVOKE_TIMEOUT");
    assert.equal(log.lines[0]!.at, revokedAt + revokeTimeoutMs);
    const revoked = held.filter((p) => !partitionIds(stuck).includes(p));
    if (mode === "leave") {
      // No heartbeat after the stuck revoke's timeout: dead after TTL (+ a liveness check), then
      // the emergency grace; nothing of it moves before the TTL has passed.
      await pool.advanceTo(revokedAt + revokeTimeoutMs + HEARTBEAT_TTL_MS - 1, 1);
      assert.ok(revoked.every((p) => !partitionIds(newcomer).includes(p)), "not before the TTL");
      await pool.advanceUntil(() => pool.covered([pool.workers[0]!, newcomer]), "covered", 2_000);
      assert.equal(stuck.manager.state, "degraded");
      assert.deepEqual(partitionIds(stuck), []);
    } else {
      // Still waiting: the revoked partitions stay unowned while the hook runs.
      await pool.advanceTo(revokedAt + stuckMs - 1, 10);
      assert.ok(revoked.every((p) => !partitionIds(newcomer).includes(p)), "held back while stuck");
      await pool.advanceUntil(() => pool.covered(), "handed over once the hook returned", 1_000);
    }
  });
}

// A stall (GC pause, SIGSTOP, a frozen VM) moves the clock without running any timer: the fence
// timer has not ticked yet when the application reads. The read paths apply the fence themselves.
Deno.test("after a stall past the fence deadline, assignment, fencingToken() and state read as fenced before any timer runs", async () => {
  const fake = new FakeClock();
  let stall = 0;
  const clock = {
    now: () => fake.now() + stall,
    setTimeout: (callback: () => void, ms: number) => fake.setTimeout(callback, ms),
  };
  const manager = new Manager({
    ...TIMINGS,
    store: memoryStore({ clock }),
    clock,
    group: "stall",
    source: [{ keys: ["a"] }, { keys: ["b"] }],
  });
  const started = manager.start();
  let done = false;
  void started.then(() => (done = true));
  while (!done) await fake.tickAsync(10);
  assert.equal(manager.assignment.partitions.length, 2);
  assert.ok(manager.fencingToken("a"));
  stall = FENCE_DEADLINE_MS + 1; // no timer has run in the meantime
  assert.equal(manager.fencingToken("a"), undefined);
  assert.deepEqual(manager.assignment.partitions, []);
  assert.equal(manager.state, State.Degraded);
  stall = 0;
  const stopping = manager.stop();
  let stopped = false;
  void stopping.then(() => (stopped = true));
  while (!stopped) await fake.tickAsync(10);
});

Deno.test("a worker drained before it joins still gets its first, empty assignment and start() resolves", async () => {
  await using pool = await clockPool({ count: 2 });
  const startedAt = await pool.start();
  await pool.advanceTo(startedAt + 300);
  const [leader] = pool.workers as [PoolWorker, PoolWorker];
  assert.equal(await leader.manager.drainWorker("worker-2"), true);
  const late = pool.add();
  void pool.launch(late);
  await pool.advanceUntil(() => late.outcome !== undefined, "start() of the drained worker", 3_000);
  assert.equal(late.outcome!.error, undefined);
  assert.equal(late.manager.workerId, "worker-2");
  assert.deepEqual(late.manager.assignment.partitions, []);
  assert.ok(pool.covered(pool.workers.slice(0, 2)));
});

// The silent-partition audit's double ownership, made exact: the leader writes a worker's key
// while the worker is cut off (a hand-off completing), declares it dead and hands the same
// partitions on; when the connection heals, the watch delivers the old key. It is addressed to
// the incarnation before the fence, so it is never applied.
Deno.test("a key written for a worker while it was cut off is not applied when it comes back: the leader handed its partitions on meanwhile", async () => {
  const slowMs = 100;
  await using pool = await clockPool({ count: 2, perWorker: slowFirstOnRevoke(slowMs) });
  const startedAt = await pool.start();
  await pool.advanceTo(startedAt + 300);
  const [slow] = pool.workers as [PoolWorker, PoolWorker];
  const fromSlow = partitionIds(slow);
  const newcomer = pool.add();
  await join(pool, [newcomer]);
  const id = newcomer.manager.workerId!;
  const closesAt = pool.clock.now() + PLANNED_MS;
  await pool.advanceTo(closesAt, 1);
  assert.ok(partitionIds(newcomer).length > 0, "the fast owner's partitions arrived");
  const appliedBeforeCut = newcomer.manager.assignment.version;
  newcomer.store.cut();
  await pool.advanceTo(closesAt + slowMs, 1);
  // The slow owner acknowledged: the leader gives its partitions to the newcomer, which is cut.
  const stale = pool.writes.findLast((w) => w.key === `w.${id}` && w.bucket === "assign")!;
  assert.ok(stale.ids!.some((p) => fromSlow.includes(p)), "written while the newcomer is cut off");
  assert.equal(newcomer.manager.assignment.version, appliedBeforeCut, "and not seen by it");

  await pool.advanceUntil(
    () => pool.events.some((e) => e.type === "left" && e.subject === id),
    "the leader declared the newcomer dead",
    HEARTBEAT_TTL_MS + LIVENESS_CHECK_MS,
  );
  await pool.advanceUntil(
    () => pool.covered(pool.workers.filter((w) => w !== newcomer)),
    "its partitions were handed on",
    GRACE_MS + LIVENESS_CHECK_MS + slowMs,
  );
  const healedAt = pool.clock.now();
  newcomer.store.heal();
  // Exclusivity is asserted after every step; the newcomer must never take the stale key.
  await pool.advanceUntil(
    () => pool.covered() && partitionIds(newcomer).length > 0,
    "the newcomer rejoined and got partitions through a fresh hand-off",
    5_000,
  );
  const taken = pool.events.filter((e) =>
    e.worker === newcomer.name && e.type === "change" && e.at >= healedAt && e.added!.length > 0
  );
  assert.ok(taken.length > 0);
  assert.ok(
    taken.every((e) => e.version! > stale.version!),
    "only publications after the stale key",
  );
});
