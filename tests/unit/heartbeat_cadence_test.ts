/**
 * The heartbeat period leaves room for the round itself (`heartbeatPeriodMs` in
 * `src/runtime/cadence.ts`). Found by the clock-skew fault test: with `heartbeatTtlMs` at its
 * allowed minimum of 2 × `heartbeatIntervalMs`, the fence deadline (TTL − interval) equals the
 * interval, and a loop that waits the whole interval after each round finds the last success
 * `interval + round time` old before every round: the worker fenced itself about once a second on
 * loopback, with nothing wrong. On a fake clock, a store that takes 2 ms per operation shows it.
 */
import assert from "node:assert/strict";
import { createAssignmentEngine } from "../../src/engine/mod.ts";
import { fenceDeadlineMs, heartbeatPeriodMs } from "../../src/runtime/cadence.ts";
import type { Bucket, CoordinationStore } from "../../src/store/store.ts";
import { type AssignmentChange, Manager, memoryStore, presets } from "../../mod.ts";
import { FakeClock } from "../../testing/mod.ts";

Deno.test("the heartbeat waits heartbeatIntervalMs, or half the fence deadline when that is shorter", () => {
  const at = (heartbeatIntervalMs: number, heartbeatTtlMs: number) =>
    heartbeatPeriodMs({
      heartbeatIntervalMs,
      heartbeatTtlMs,
      electionLeaseMs: 1,
      workerIdTtlMs: 1,
    });
  assert.equal(at(1_000, 2_000), 500, "TTL = 2 × interval: the deadline is one interval");
  assert.equal(at(1_000, 2_500), 750);
  assert.equal(at(1_000, 3_000), 1_000, "TTL = 3 × interval: the interval itself");
  for (const preset of [presets.development, presets.production, presets.fastTest]) {
    const c = preset as Required<Pick<typeof preset, "heartbeatIntervalMs" | "heartbeatTtlMs">>;
    const cadence = { ...c, electionLeaseMs: 1, workerIdTtlMs: 1 };
    assert.equal(heartbeatPeriodMs(cadence), c.heartbeatIntervalMs, "the presets are unchanged");
    assert.ok(2 * heartbeatPeriodMs(cadence) <= fenceDeadlineMs(cadence));
  }
});

/** Every bucket operation of `inner` takes `ms` of fake time (watches are untouched). */
function slowStore(inner: CoordinationStore, clock: FakeClock, ms: number): CoordinationStore {
  const later = <T>(op: () => Promise<T>) =>
    new Promise<void>((resolve) => clock.setTimeout(resolve, ms)).then(op);
  const wrap = (b: Bucket): Bucket => ({
    name: b.name,
    create: (k, v) => later(() => b.create(k, v)),
    update: (k, v, r) => later(() => b.update(k, v, r)),
    put: (k, v) => later(() => b.put(k, v)),
    get: (k) => later(() => b.get(k)),
    delete: (k, o) => later(() => b.delete(k, o)),
    keys: () => later(() => b.keys()),
    status: () => later(() => b.status()),
    watch: (options) => b.watch(options),
  });
  return {
    kind: `slow(${inner.kind})`,
    bucket: async (name, options) => wrap(await inner.bucket(name, options)),
    deleteBucket: (name) => later(() => inner.deleteBucket(name)),
  };
}

Deno.test("with heartbeatTtlMs = 2 × heartbeatIntervalMs and 2 ms per store operation, a healthy worker never fences itself", async () => {
  await createAssignmentEngine(); // compiled once per process, in real time
  const clock = new FakeClock();
  const store = slowStore(memoryStore({ clock }), clock, 2);
  const reasons: string[] = [];
  const manager = new Manager({
    ...presets.fastTest,
    heartbeatIntervalMs: 100,
    heartbeatTtlMs: 200,
    emergencyGraceMs: 150,
    workerIdTtlMs: 1_000,
    electionLeaseMs: 600,
    clock,
    store,
    group: "cadence",
    source: [{ keys: ["p", "0"] }, { keys: ["p", "1"] }],
    hooks: {
      onAssignmentChanged: (change: AssignmentChange) => void reasons.push(change.reason),
    },
  });
  let started = false;
  const starting = manager.start().then(() => (started = true));
  while (!started && clock.now() < 5_000) await clock.tickAsync(10);
  await starting;
  assert.equal(manager.assignment.partitions.length, 2);
  // 50 heartbeat periods of the interval's length, 100 of the shortened one.
  await clock.tickAsync(5_000);
  assert.deepEqual(reasons, ["assigned"], "one assignment, no self-fence");
  assert.equal(manager.assignment.partitions.length, 2);
  let stopped = false;
  const stopping = manager.stop().then(() => (stopped = true));
  while (!stopped && clock.now() < 20_000) await clock.tickAsync(10);
  await stopping;
});
