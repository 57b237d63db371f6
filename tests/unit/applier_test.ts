/**
 * The applier on a fake clock: changes are visible at once, acknowledged only after their hooks,
 * and releasing everything never waits behind an earlier hook.
 */
import assert from "node:assert/strict";
import { assignmentHooks, HookQueue } from "../../src/hooks.ts";
import { Timers } from "../../src/runtime/timers.ts";
import { Applier } from "../../src/worker/applier.ts";
import type { ReceivedAssignment } from "../../src/worker/assignment_watch.ts";
import type { AssignmentChange, Hooks, Partition } from "../../mod.ts";
import { FakeClock } from "../../testing/mod.ts";

const p = (id: string): Partition => ({ keys: [id] });

function setup(hooks: Hooks = {}, acceptAfter = Number.NEGATIVE_INFINITY) {
  const clock = new FakeClock();
  const abort = new AbortController();
  let acks = 0;
  const applier = new Applier({
    tell: assignmentHooks(new HookQueue(hooks)),
    timers: new Timers(clock),
    signal: abort.signal,
    acceptAfter,
    onAcknowledged: () => acks++,
    revokeTimeoutMs: 0,
    onRevokeTimeout: () => {},
  });
  /** Applies as the leader addresses it: to the applier's current incarnation. */
  const apply = (a: Omit<ReceivedAssignment, "incarnation">) =>
    applier.apply({ ...a, incarnation: applier.incarnation });
  return { clock, abort, applier, apply, acks: () => acks };
}

Deno.test("an assignment is visible at once and acknowledged only after its hooks resolved", async () => {
  const gate = Promise.withResolvers<void>();
  const t = setup({ onAssignmentChanged: () => gate.promise });
  t.apply({ epoch: 1, version: 1, partitions: [p("a"), p("b")] });
  await t.clock.flush();
  assert.deepEqual(t.applier.assignment.partitions.map((x) => x.keys[0]), ["a", "b"]);
  assert.deepEqual(t.applier.fencingToken("a"), { epoch: 1, version: 1 });
  assert.deepEqual(t.applier.acknowledged, { epoch: 0, version: 0, ids: [] });
  assert.equal(t.applier.hasFirstAssignment, false);
  gate.resolve();
  await t.applier.firstApplied;
  await t.clock.flush();
  assert.deepEqual(t.applier.acknowledged, { epoch: 1, version: 1, ids: ["a", "b"] });
  assert.equal(t.applier.hasFirstAssignment, true);
  assert.equal(t.acks(), 1);
});

Deno.test("the first assignment fires onAssignmentChanged even when it is empty", async () => {
  const changes: AssignmentChange[] = [];
  const t = setup({ onAssignmentChanged: (c) => void changes.push(c) });
  t.apply({ epoch: 1, version: 4, partitions: [] });
  await t.applier.firstApplied;
  assert.equal(changes.length, 1);
  assert.deepEqual(changes[0]!.token, { epoch: 1, version: 4 });
});

Deno.test("a removed partition is reported with the token it was held by; added ones get the new token", async () => {
  const removed: unknown[] = [];
  const added: unknown[] = [];
  const t = setup({
    onPartitionRemoved: (x, token) => void removed.push([x.keys[0], token]),
    onPartitionAdded: (x, token) => void added.push([x.keys[0], token]),
  });
  t.apply({ epoch: 1, version: 1, partitions: [p("a"), p("b")] });
  t.apply({ epoch: 1, version: 2, partitions: [p("b"), p("c")] });
  await t.clock.flush();
  await t.clock.flush();
  assert.deepEqual(removed, [["a", { epoch: 1, version: 1 }]]);
  assert.deepEqual(added, [
    ["a", { epoch: 1, version: 1 }],
    ["b", { epoch: 1, version: 1 }],
    ["c", { epoch: 1, version: 2 }],
  ]);
  assert.deepEqual(t.applier.fencingToken("b"), { epoch: 1, version: 1 });
  assert.equal(t.applier.fencingToken("a"), undefined);
});

Deno.test("an older or equal (epoch, version) is ignored", async () => {
  const t = setup();
  t.apply({ epoch: 2, version: 5, partitions: [p("a")] });
  t.apply({ epoch: 2, version: 5, partitions: [p("b")] });
  t.apply({ epoch: 1, version: 9, partitions: [p("c")] });
  await t.clock.flush();
  assert.deepEqual(t.applier.assignment.partitions, [p("a")]);
  assert.deepEqual(t.applier.accepted, { epoch: 2, version: 5 });
});

Deno.test("releasing everything is visible at once even while an earlier hook still runs", async () => {
  const gate = Promise.withResolvers<void>();
  const calls: string[] = [];
  const t = setup({
    async onAssignmentChanged({ added, removed }) {
      calls.push(`+${added.length} -${removed.length}`);
      if (calls.length === 1) await gate.promise;
    },
  });
  t.apply({ epoch: 1, version: 1, partitions: [p("a"), p("b")] });
  await t.clock.flush();
  const released = t.applier.releaseAll("fenced");
  // Nothing is owned from this instant, although the hook for version 1 has not returned.
  assert.deepEqual(t.applier.assignment.partitions, []);
  assert.equal(t.applier.fencingToken("a"), undefined);
  assert.equal(t.applier.fenced, true);
  assert.deepEqual(calls, ["+2 -0"]);
  gate.resolve();
  await released;
  assert.deepEqual(calls, ["+2 -0", "+0 -2"]);
  // Acknowledged only now: the leader never hears "released" before the hooks said so.
  assert.deepEqual(t.applier.acknowledged, { epoch: 1, version: 1, ids: [] });
});

Deno.test("a fenced worker takes only a newer version, which ends the fence", async () => {
  const t = setup();
  t.apply({ epoch: 1, version: 1, partitions: [p("a")] });
  await t.clock.flush();
  await t.applier.releaseAll("fenced");
  t.apply({ epoch: 1, version: 1, partitions: [p("a")] });
  await t.clock.flush();
  assert.deepEqual(t.applier.assignment.partitions, []);
  t.apply({ epoch: 1, version: 2, partitions: [p("a")] });
  await t.clock.flush();
  assert.equal(t.applier.fenced, false);
  assert.deepEqual(t.applier.assignment.partitions, [p("a")]);
});

Deno.test("a second release waits for the first one's hooks instead of returning early", async () => {
  const gate = Promise.withResolvers<void>();
  const t = setup({
    onAssignmentChanged: ({ removed }) => removed.length > 0 ? gate.promise : undefined,
  });
  t.apply({ epoch: 1, version: 1, partitions: [p("a")] });
  await t.clock.flush();
  let firstDone = false;
  let secondDone = false;
  void t.applier.releaseAll("fenced").then(() => (firstDone = true));
  void t.applier.releaseAll("shutdown").then(() => (secondDone = true));
  await t.clock.flush();
  assert.equal(secondDone, false);
  gate.resolve();
  await t.clock.flush();
  assert.equal(firstDone && secondDone, true);
});

Deno.test("with a reclaim embargo no assignment is taken before acceptAfter, then in order", async () => {
  const t = setup({}, 500);
  t.apply({ epoch: 1, version: 1, partitions: [p("a")] });
  t.apply({ epoch: 1, version: 2, partitions: [p("b")] });
  await t.clock.tickAsync(499);
  assert.deepEqual(t.applier.assignment.partitions, []);
  await t.clock.tickAsync(1);
  assert.deepEqual(t.applier.assignment.partitions, [p("b")]);
  assert.deepEqual(t.applier.accepted, { epoch: 1, version: 2 });
});

Deno.test("nothing is applied after the stop signal", async () => {
  const t = setup();
  t.abort.abort();
  t.apply({ epoch: 1, version: 1, partitions: [p("a")] });
  await t.clock.flush();
  assert.deepEqual(t.applier.assignment.partitions, []);
});

Deno.test("a change says why partitions went and hands over the tokens they were held by", async () => {
  const changes: AssignmentChange[] = [];
  const t = setup({ onAssignmentChanged: (c) => void changes.push(c) });
  t.apply({ epoch: 1, version: 1, partitions: [p("a"), p("b")] });
  t.apply({ epoch: 1, version: 2, partitions: [p("b")] });
  await t.clock.flush();
  await t.applier.releaseAll("fenced");
  t.apply({ epoch: 1, version: 3, partitions: [p("c")] });
  await t.clock.flush();
  await t.applier.releaseAll("shutdown");
  assert.deepEqual(
    changes.map((c) => [c.reason, c.removed.map((x) => x.keys[0]), c.removedTokens]),
    [
      ["assigned", [], []],
      ["moved", ["a"], [{ epoch: 1, version: 1 }]],
      ["fenced", ["b"], [{ epoch: 1, version: 1 }]],
      ["assigned", [], []],
      ["shutdown", ["c"], [{ epoch: 1, version: 3 }]],
    ],
  );
});

Deno.test("an assignment addressed to the incarnation before a fence is never taken after it", async () => {
  const t = setup();
  t.apply({ epoch: 1, version: 1, partitions: [p("a")] });
  await t.clock.flush();
  const before = t.applier.incarnation;
  await t.applier.releaseAll("fenced");
  assert.notEqual(t.applier.incarnation, before);
  // Written while the worker was cut off, delivered when it comes back: the leader may have
  // handed "b" on since, so it must not be taken although its version is newer.
  t.applier.apply({ epoch: 1, version: 2, partitions: [p("b")], incarnation: before });
  await t.clock.flush();
  assert.deepEqual(t.applier.assignment.partitions, []);
  assert.deepEqual(t.applier.accepted, { epoch: 1, version: 1 });
  // The leader's next publication, addressed to the incarnation the heartbeat now reports.
  t.apply({ epoch: 1, version: 3, partitions: [p("b")] });
  await t.clock.flush();
  assert.deepEqual(t.applier.assignment.partitions, [p("b")]);
});

Deno.test("a shutdown keeps the incarnation; every applier starts with its own", async () => {
  const t = setup();
  const other = setup();
  assert.notEqual(t.applier.incarnation, other.applier.incarnation);
  const before = t.applier.incarnation;
  t.apply({ epoch: 1, version: 1, partitions: [p("a")] });
  await t.clock.flush();
  await t.applier.releaseAll("shutdown");
  assert.equal(t.applier.incarnation, before);
});
