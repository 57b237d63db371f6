/**
 * A round that could only improve balance, and would not, publishes nothing (`gainsNothing` in
 * `src/leader/handoff.ts`). Found by the gray-failure fault test: a worker with a stable instance
 * name stops (its partitions move after `emergencyGraceMs`), and when its heartbeat is declared
 * dead a TTL later, that death — of a worker that holds nothing — started a revoke and an assign
 * of a partition between two live workers, because placing the engine's own output again is not
 * idempotent (`weightedConsistentHash` moves `p/24` from worker-1 to worker-4 with 60 partitions
 * of weights 1..5 over worker-0..4, with the same maximum load before and after).
 */
import assert from "node:assert/strict";
import { type GainInput, gainsNothing, previousOwners } from "../../src/leader/handoff.ts";
import { ASSIGNMENT_PREFIX } from "../../src/protocol/keys.ts";
import { fenceCheckIntervalMs, livenessCheckIntervalMs } from "../../src/runtime/cadence.ts";
import { State } from "../../src/types.ts";
import { clockPool, type PoolWorker, TIMINGS } from "../helpers/clock_pool.ts";

const p = (i: number, weight = 1) => ({ keys: ["p", String(i)], weight });
const key = (...ids: number[]) => ({ version: 1, ids: new Set(ids.map((i) => `p/${i}`)) });

function swap(extra: Partial<GainInput> = {}): GainInput {
  const published = new Map([["a", key(0)], ["b", key(1)]]);
  return {
    live: ["a", "b"],
    partitions: [p(0), p(1)],
    published,
    previous: previousOwners(published, new Set(["a", "b"])),
    threshold: 0.15,
    manual: false,
    forced: false,
    handingOff: false,
    listChanged: false,
    // The target swaps the two partitions: a move with no gain.
    desired: new Map([["a", [p(1)]], ["b", [p(0)]]]),
    ...extra,
  };
}

Deno.test("a balance-only round whose target is no better balanced is skipped; one that improves the balance is not", () => {
  assert.deepEqual(gainsNothing(swap()), { skip: true, imbalance: 0 });
  // a holds 3 of 4 (by weight): moving one of them to b is a gain.
  const published = new Map([["a", key(0, 1, 2)], ["b", key(3)]]);
  const uneven = swap({
    partitions: [p(0), p(1), p(2), p(3)],
    published,
    previous: previousOwners(published, new Set(["a", "b"])),
  });
  assert.deepEqual(
    gainsNothing({ ...uneven, desired: new Map([["a", [p(0), p(1)]], ["b", [p(2), p(3)]]]) }),
    { skip: false },
  );
  // Moving p/0 and p/3 the other way round leaves a at 3 of 4: no gain.
  assert.deepEqual(
    gainsNothing({ ...uneven, desired: new Map([["a", [p(3), p(1), p(2)]], ["b", [p(0)]]]) }),
    { skip: true, imbalance: 1 },
  );
});

Deno.test("manual, forced, hand-off rounds, rounds after a list change and rounds with an orphan are never skipped for want of gain", () => {
  for (const flag of ["manual", "forced", "handingOff", "listChanged"] as const) {
    assert.deepEqual(gainsNothing(swap({ [flag]: true })), { skip: false }, flag);
  }
  assert.deepEqual(gainsNothing(swap({ partitions: [p(0), p(1), p(2)] })), { skip: false });
  assert.deepEqual(gainsNothing(swap({ live: ["a"] })), { skip: false }, "b not live");
});

Deno.test("a stable-ID worker that stops: its partitions move after the grace, and its death a TTL later moves nothing more", async () => {
  // The partitions and worker IDs of the gray-failure run that found it (see the module doc).
  const partitions = Array.from({ length: 60 }, (_, i) => p(i, 1 + (i % 5)));
  await using pool = await clockPool({ count: 5, partitions });
  await pool.start();
  await pool.advanceUntil(() => pool.covered(), "the first five cover everything", 5_000);
  const joiner = pool.add();
  await pool.start([joiner]);
  await pool.advanceUntil(
    () => pool.covered() && pool.workers.every((w) => w.manager.state === State.Stable),
    "settled with the sixth worker",
    5_000,
  );
  assert.equal(joiner.manager.workerId, "worker-5");
  const stopping = joiner.manager.stop();
  await pool.advanceUntil(
    () => joiner.manager.state === State.Shutdown,
    "the joiner stopped",
    2_000,
  );
  await stopping;
  const rest = pool.workers.filter((w) => w !== joiner) as PoolWorker[];
  const coveredAt = await pool.advanceUntil(
    () => pool.covered(rest),
    "the others cover the joiner's partitions",
    TIMINGS.emergencyGraceMs + 2_000,
  );
  const assignWrites = () =>
    pool.writes.filter((w) => w.bucket === "assign" && w.key.startsWith(ASSIGNMENT_PREFIX));
  // Let the hand-off finish, then let the stopped worker's heartbeat go unrenewed past the TTL:
  // the leader declares it dead (at the next liveness check) and opens an emergency window.
  await pool.advance(TIMINGS.minRebalanceIntervalMs + 100);
  const before = assignWrites().length;
  const lastRound = pool.writes.findLast((w) => w.bucket === "assign")?.at ?? coveredAt;
  const leftAt = await pool.advanceUntil(
    () => pool.events.some((e) => e.type === "left" && e.subject === "worker-5"),
    "the stopped worker declared dead",
    TIMINGS.heartbeatTtlMs + 2 * livenessCheckIntervalMs(TIMINGS) + 2_000,
  );
  await pool.advance(TIMINGS.emergencyGraceMs + TIMINGS.minRebalanceIntervalMs + 500);
  const after = assignWrites().slice(before);
  assert.deepEqual(
    after.map((w) => `${w.key} v${w.version} ${w.phase}: ${w.ids?.length}`),
    [],
    `no publication after the death of a worker holding nothing (declared dead at ${leftAt}, ` +
      `last round at ${lastRound}, fence check every ${fenceCheckIntervalMs(TIMINGS)} ms)`,
  );
});
