/**
 * A new leader leaves an absent owner's key alone until that owner counts as dead (see
 * `AbsentOwners` in `src/leader/absent_owners.ts`). Found by the clock-skew fault test: the
 * server's clock steps forward during a leader takeover, so every heartbeat key expires at once
 * (no watch event), while two live owners are silent for a moment. The new leader rightly gave
 * their partitions to nobody else, but its first round revoked them from their own keys; on their
 * return both applied the revoke and gave up everything, and a round later got a different share
 * back: a reshuffle of live workers caused by server-side expiry alone.
 *
 * Here the store's TTL clock is the "server clock": a clock of its own, stepped forward by ten
 * TTLs, while every manager's timers run on the fake clock.
 */
import assert from "node:assert/strict";
import { createAssignmentEngine } from "../../src/engine/mod.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import { type AssignmentChange, Manager, memoryStore } from "../../mod.ts";
import { FakeClock, faultyStore } from "../../testing/mod.ts";

const TIMINGS = {
  heartbeatIntervalMs: 100,
  heartbeatTtlMs: 1_000, // fence deadline 900 ms: the silence below stays well under it
  workerIdTtlMs: 3_000,
  electionLeaseMs: 300,
  emergencyGraceMs: 150,
  coldStartWindowMs: 300,
  plannedScaleWindowMs: 100,
  minRebalanceIntervalMs: 100,
  startupTimeoutMs: 10_000,
  shutdownTimeoutMs: 2_000,
  operationTimeoutMs: 1_000,
};

Deno.test("the server's clock steps forward during a takeover and two owners are silent: the new leader revokes nothing from them", async () => {
  await createAssignmentEngine(); // compiled once per process, in real time
  const clock = new FakeClock();
  let serverAhead = 0;
  const serverClock: Clock = {
    now: () => clock.now() + serverAhead,
    setTimeout: (callback, ms) => clock.setTimeout(callback, ms),
  };
  const shared = memoryStore({ clock: serverClock });
  const partitions = Array.from({ length: 24 }, (_, i) => ({ keys: ["p", String(i)] }));
  const workers = [0, 1, 2, 3].map((i) => {
    const store = faultyStore(shared);
    const changes: AssignmentChange[] = [];
    const manager = new Manager({
      ...TIMINGS,
      clock,
      store,
      group: "absent",
      source: partitions,
      instance: `w${i}`,
      hooks: { onAssignmentChanged: (change) => void changes.push(change) },
    });
    return { i, store, manager, changes };
  });
  const step = async (ms: number, done?: () => boolean) => {
    for (let t = 0; t < ms && !(done?.() ?? false); t += 10) {
      await clock.tickAsync(10);
      const owners = new Map<string, number>();
      for (const w of workers) {
        if (w.store.isCut && w.i === 0) continue; // the dead leader
        for (const p of w.manager.assignment.partitions) {
          const id = p.keys.join("/");
          owners.set(id, (owners.get(id) ?? 0) + 1);
        }
      }
      for (const [id, n] of owners) assert.equal(n, 1, `${id} owned ${n} times at ${clock.now()}`);
    }
  };
  // w0 first, so it leads.
  void workers[0]!.manager.start();
  await step(200, () => workers[0]!.manager.isLeader);
  for (const w of workers.slice(1)) void w.manager.start();
  const settled = () =>
    workers.every((w) =>
      w.manager.assignment.partitions.length > 0 && w.manager.state === "stable"
    );
  await step(5_000, settled);
  assert.ok(settled() && workers[0]!.manager.isLeader);
  const [leader, survivor, ...silent] = workers as [
    (typeof workers)[0],
    (typeof workers)[0],
    ...(typeof workers)[0][],
  ];
  const held = new Map(workers.map((w) => [w, w.manager.assignment.partitions.length]));
  const changesBefore = new Map(workers.map((w) => [w, w.changes.length]));

  // At once: the leader is gone for good, two owners go silent, every TTL key expires.
  leader.store.cut();
  for (const w of silent) w.store.cut();
  serverAhead += 10 * TIMINGS.heartbeatTtlMs;
  await step(2_000, () => survivor.manager.isLeader);
  assert.ok(survivor.manager.isLeader, "the survivor took over");
  await step(300); // the new term's first rounds, with the silent owners still unseen
  for (const w of silent) w.store.heal();
  // The dead leader counts as dead a TTL after the takeover; then its partitions move.
  await step(
    5_000,
    () =>
      [survivor, ...silent].reduce((n, w) => n + w.manager.assignment.partitions.length, 0) ===
        partitions.length,
  );
  for (const w of [survivor, ...silent]) {
    const after = w.changes.slice(changesBefore.get(w)!);
    assert.deepEqual(
      after.filter((c) => c.removed.length > 0).map((c) => `${c.reason} -${c.removed.length}`),
      [],
      `w${w.i} gave nothing up`,
    );
    assert.ok(w.manager.assignment.partitions.length >= held.get(w)!, `w${w.i} kept its share`);
  }
  for (const w of workers) {
    if (w !== leader) await Promise.all([w.manager.stop(), step(3_000)]);
  }
  leader.store.heal();
  await Promise.all([leader.manager.stop(), step(3_000)]);
});
