/**
 * The leader's window rules (`src/leader/windows.ts`), exact to the millisecond on explicit `now`
 * values: cold start, planned windows and their extension cap, restart detection, the minimum
 * interval, emergencies and the grace of a returning worker, manual triggers and the reason a
 * publication reports.
 */
import assert from "node:assert/strict";
import { RebalanceWindows, type WindowSettings } from "../../src/leader/windows.ts";

const SETTINGS: WindowSettings = {
  coldStartWindowMs: 3_000,
  plannedScaleWindowMs: 1_000,
  emergencyGraceMs: 500,
  restartDetectionRatio: 0.5,
  minRebalanceIntervalMs: 2_000,
};

/** Windows after a first adoption that found an assignment, its first round done at 0. */
function settled(settings: Partial<WindowSettings> = {}): RebalanceWindows {
  const windows = new RebalanceWindows({ ...SETTINGS, ...settings });
  windows.adopt(0, { published: 2 });
  windows.partitionsListed(0, { changed: true });
  assert.deepEqual(windows.decide(0), { action: "rebalance", kind: undefined });
  windows.rebalanceStarted(0);
  windows.published("assign", true);
  assert.deepEqual(windows.decide(0), { action: "idle" });
  return windows;
}

const stay = { away: false } as const;

Deno.test("the first adoption with nothing published opens a cold-start window of coldStartWindowMs", () => {
  const windows = new RebalanceWindows(SETTINGS);
  windows.adopt(100, { published: 0 });
  windows.partitionsListed(100, { changed: true });
  assert.deepEqual(windows.window, { kind: "coldStart", start: 100, until: 3_100 });
  assert.equal(windows.reason, "coldStart");
  assert.deepEqual(windows.decide(3_099), { action: "wait", untilMs: 3_100, state: "scaling" });
  assert.deepEqual(windows.decide(3_100), { action: "rebalance", kind: "coldStart" });
});

Deno.test("a later adoption with nothing published (after a failed round) opens no window", () => {
  const windows = new RebalanceWindows(SETTINGS);
  windows.adopt(0, { published: 0 });
  windows.partitionsListed(0, { changed: true });
  windows.rebalanceStarted(3_000);
  windows.adopt(4_000, { published: 0 });
  assert.equal(windows.window, undefined);
  assert.deepEqual(windows.decide(4_000), { action: "rebalance", kind: undefined });
});

Deno.test("an adoption that finds an assignment opens no window: the first round follows the first partition list and reports 'adopt'", () => {
  const windows = new RebalanceWindows(SETTINGS);
  windows.adopt(0, { published: 3 });
  assert.equal(windows.window, undefined);
  assert.deepEqual(windows.decide(0), { action: "idle" }, "no round before the partition list");
  windows.partitionsListed(5, { changed: true });
  assert.equal(windows.window, undefined, "the first list opens no window");
  assert.deepEqual(windows.decide(5), { action: "rebalance", kind: undefined });
  assert.equal(windows.rebalanceStarted(5), undefined);
  assert.equal(windows.published("assign", true), "adopt");
});

Deno.test("workers seen before adoption are not arrivals", () => {
  const windows = new RebalanceWindows(SETTINGS);
  assert.equal(windows.joined("w0", 0, { members: 1, away: false }), false);
  assert.equal(windows.joined("w1", 0, { members: 2, away: false }), false);
  assert.equal(windows.joined("w2", 0, { members: 3, away: false }), false);
  assert.equal(windows.left("w2", 0, { reason: "dead" }), false);
  assert.equal(windows.window, undefined);
  windows.adopt(10, { published: 2 });
  assert.equal(windows.window, undefined);
  // Had the three counted, 3 of 4 would be a restart; one arrival of four is a planned scale.
  assert.equal(windows.joined("w3", 20, { members: 4, away: false }), true);
  assert.deepEqual(windows.window, { kind: "planned", start: 20, until: 1_020 });
});

Deno.test("a join opens a planned window of exactly plannedScaleWindowMs", () => {
  const windows = settled();
  assert.equal(windows.joined("w2", 10_000, { members: 10, ...stay }), true);
  assert.deepEqual(windows.window, { kind: "planned", start: 10_000, until: 11_000 });
  assert.equal(windows.reason, "planned");
  assert.deepEqual(windows.decide(10_999), { action: "wait", untilMs: 11_000, state: "scaling" });
  assert.deepEqual(windows.decide(11_000), { action: "rebalance", kind: "planned" });
});

Deno.test("a graceful leave and a partition-list change open a planned window; an unchanged list does not", () => {
  const leave = settled();
  assert.equal(leave.left("w1", 10_000, { reason: "graceful" }), true);
  assert.deepEqual(leave.window, { kind: "planned", start: 10_000, until: 11_000 });
  const list = settled();
  list.partitionsListed(10_000, { changed: false });
  assert.equal(list.window, undefined);
  assert.deepEqual(list.decide(10_000), { action: "idle" });
  list.partitionsListed(10_000, { changed: true });
  assert.deepEqual(list.window, { kind: "planned", start: 10_000, until: 11_000 });
});

Deno.test("further joins inside a planned window extend it to plannedScaleWindowMs after the latest", () => {
  const windows = settled();
  windows.joined("w2", 10_000, { members: 10, ...stay });
  windows.joined("w3", 10_600, { members: 11, ...stay });
  assert.deepEqual(windows.window, { kind: "planned", start: 10_000, until: 11_600 });
  assert.deepEqual(windows.decide(11_599), { action: "wait", untilMs: 11_600, state: "scaling" });
  assert.deepEqual(windows.decide(11_600), { action: "rebalance", kind: "planned" });
});

Deno.test("the extension of a planned window is capped at 3 × plannedScaleWindowMs from its start", () => {
  const windows = settled();
  let members = 100;
  for (const t of [10_000, 10_900, 11_800, 12_700, 12_999]) {
    windows.joined(`w${members}`, t, { members: ++members, ...stay });
  }
  assert.deepEqual(windows.window, { kind: "planned", start: 10_000, until: 13_000 });
  assert.deepEqual(windows.decide(12_999), { action: "wait", untilMs: 13_000, state: "scaling" });
  assert.deepEqual(windows.decide(13_000), { action: "rebalance", kind: "planned" });
});

Deno.test("a cold-start window extends the same way, capped at 3 × coldStartWindowMs", () => {
  const windows = new RebalanceWindows(SETTINGS);
  windows.adopt(0, { published: 0 });
  windows.partitionsListed(0, { changed: true });
  windows.joined("w1", 1_000, { members: 2, ...stay });
  assert.equal(windows.window?.until, 3_000, "a join early in the window does not shorten it");
  windows.joined("w2", 2_500, { members: 3, ...stay });
  assert.deepEqual(windows.window, { kind: "coldStart", start: 0, until: 3_500 });
  let members = 3;
  for (const t of [3_400, 4_300, 5_200, 6_100, 7_000, 7_900, 8_800]) {
    windows.joined(`w${members}`, t, { members: ++members, ...stay });
  }
  assert.deepEqual(windows.window, { kind: "coldStart", start: 0, until: 9_000 });
  assert.deepEqual(windows.decide(8_999), { action: "wait", untilMs: 9_000, state: "scaling" });
  assert.deepEqual(windows.decide(9_000), { action: "rebalance", kind: "coldStart" });
});

Deno.test("with 4 members, 2 new at once switch to a fresh cold-start window", () => {
  const windows = settled();
  windows.joined("w2", 1_000, { members: 3, ...stay });
  assert.deepEqual(windows.window, { kind: "planned", start: 1_000, until: 2_000 });
  windows.joined("w3", 1_200, { members: 4, ...stay });
  assert.deepEqual(windows.window, { kind: "coldStart", start: 1_200, until: 4_200 });
  assert.equal(windows.reason, "coldStart");
  assert.deepEqual(windows.decide(4_199), { action: "wait", untilMs: 4_200, state: "scaling" });
  assert.deepEqual(windows.decide(4_200), { action: "rebalance", kind: "coldStart" });
});

Deno.test("with 4 members, 1 new is a planned scale, not a restart", () => {
  const windows = settled();
  windows.joined("w3", 1_000, { members: 4, ...stay });
  assert.deepEqual(windows.window, { kind: "planned", start: 1_000, until: 2_000 });
});

Deno.test("a pool of one member never counts as a restart", () => {
  const windows = settled();
  windows.joined("w0", 1_000, { members: 1, ...stay });
  assert.deepEqual(windows.window, { kind: "planned", start: 1_000, until: 2_000 });
});

Deno.test("arrivals are counted from the last publication, not across rounds", () => {
  const windows = settled();
  windows.joined("w2", 1_000, { members: 4, ...stay });
  windows.rebalanceStarted(3_000);
  windows.published("assign", true);
  windows.joined("w3", 3_100, { members: 4, ...stay });
  assert.deepEqual(windows.window, { kind: "planned", start: 3_100, until: 4_100 });
});

Deno.test("minRebalanceIntervalMs spaces two planned rebalances exactly", () => {
  const windows = settled();
  windows.joined("w2", 10_000, { members: 10, ...stay });
  assert.deepEqual(windows.decide(11_000), { action: "rebalance", kind: "planned" });
  assert.equal(windows.rebalanceStarted(11_000), "planned");
  windows.published("assign", true);
  windows.joined("w3", 11_100, { members: 11, ...stay });
  assert.deepEqual(windows.decide(12_099), { action: "wait", untilMs: 12_100, state: "scaling" });
  assert.deepEqual(windows.decide(12_100), { action: "wait", untilMs: 13_000, state: "scaling" });
  assert.deepEqual(windows.decide(12_999), { action: "wait", untilMs: 13_000, state: "scaling" });
  assert.deepEqual(windows.decide(13_000), { action: "rebalance", kind: "planned" });
});

Deno.test("a cold-start round is not held back by minRebalanceIntervalMs but starts it for the next planned one", () => {
  const windows = settled({ minRebalanceIntervalMs: 5_000 });
  windows.joined("w2", 10_000, { members: 10, ...stay });
  windows.rebalanceStarted(11_000);
  windows.published("assign", true);
  windows.joined("w3", 11_100, { members: 3, ...stay });
  windows.joined("w4", 11_100, { members: 4, ...stay });
  assert.deepEqual(windows.window, { kind: "coldStart", start: 11_100, until: 14_100 });
  assert.deepEqual(windows.decide(14_100), { action: "rebalance", kind: "coldStart" });
  windows.rebalanceStarted(14_100);
  windows.published("assign", true);
  windows.joined("w5", 14_200, { members: 10, ...stay });
  assert.deepEqual(windows.decide(15_200), { action: "wait", untilMs: 19_100, state: "scaling" });
  assert.deepEqual(windows.decide(19_100), { action: "rebalance", kind: "planned" });
});

Deno.test("an emergency is held back neither by minRebalanceIntervalMs nor by an open planned window, and fires after exactly emergencyGraceMs", () => {
  const windows = settled();
  windows.joined("w2", 10_000, { members: 10, ...stay });
  windows.rebalanceStarted(11_000);
  windows.published("assign", true);
  windows.joined("w3", 11_100, { members: 11, ...stay });
  assert.equal(windows.left("w1", 11_200, { reason: "dead" }), true);
  assert.deepEqual(windows.window, { kind: "emergency", start: 11_200, until: 11_700 });
  assert.equal(windows.reason, "emergency");
  assert.deepEqual(windows.decide(11_699), { action: "wait", untilMs: 11_700, state: "emergency" });
  assert.deepEqual(windows.decide(11_700), { action: "rebalance", kind: "emergency" });
  assert.equal(windows.rebalanceStarted(11_700), "emergency");
  assert.equal(windows.published("assign", true), "emergency");
});

Deno.test("planned changes do not extend an emergency window and the earlier emergency deadline wins", () => {
  const windows = settled();
  windows.left("w1", 1_000, { reason: "dead" });
  windows.joined("w5", 1_200, { members: 10, ...stay });
  windows.partitionsListed(1_300, { changed: true });
  windows.left("w2", 1_400, { reason: "dead" });
  windows.left("w3", 1_450, { reason: "graceful" });
  assert.deepEqual(windows.window, { kind: "emergency", start: 1_000, until: 1_500 });
  assert.deepEqual(windows.decide(1_500), { action: "rebalance", kind: "emergency" });
});

Deno.test("an emergency during a cold-start window replaces it", () => {
  const windows = new RebalanceWindows(SETTINGS);
  windows.adopt(0, { published: 0 });
  windows.partitionsListed(0, { changed: true });
  windows.left("w1", 100, { reason: "dead" });
  assert.deepEqual(windows.window, { kind: "emergency", start: 100, until: 600 });
});

Deno.test("a dead worker that returns before the emergency deadline is live in the emergency round, which is not brought forward", () => {
  // Today's behaviour: the return changes no window (a join during an emergency neither opens a
  // planned window nor counts as a restart); the round at the deadline sees the worker live, and
  // the engine, given the published assignment as `previous`, leaves its partitions with it.
  const windows = settled();
  assert.equal(windows.left("w1", 1_000, { reason: "dead" }), true);
  // One arrival of two members would be a restart with no window open.
  assert.equal(windows.joined("w1", 1_200, { members: 2, ...stay }), true);
  assert.deepEqual(windows.window, { kind: "emergency", start: 1_000, until: 1_500 });
  assert.deepEqual(windows.decide(1_499), { action: "wait", untilMs: 1_500, state: "emergency" });
  assert.deepEqual(windows.decide(1_500), { action: "rebalance", kind: "emergency" });
  assert.equal(windows.isAway("w1", 1_500), false);
});

Deno.test("a worker away for a restart keeps its partitions for exactly emergencyGraceMs", () => {
  const windows = settled();
  assert.equal(windows.observed("w1", 1_000, { away: true }), true);
  assert.deepEqual(windows.window, { kind: "emergency", start: 1_000, until: 1_500 });
  assert.equal(windows.observed("w1", 1_100, { away: true }), false, "seen away again: no news");
  assert.deepEqual(windows.window, { kind: "emergency", start: 1_000, until: 1_500 });
  assert.equal(windows.isAway("w1", 1_499), false);
  assert.equal(windows.isAway("w1", 1_500), true);
  assert.equal(windows.isAway("w0", 1_500), false);
});

Deno.test("a worker back from a restart is no longer left out, and its return needs a round", () => {
  const early = settled();
  early.observed("w1", 1_000, { away: true });
  assert.equal(early.observed("w1", 1_400, { away: false }), true);
  assert.equal(early.isAway("w1", 1_500), false, "back within the grace: never left out");
  assert.equal(early.observed("w1", 1_600, { away: false }), false, "seen back again: no news");

  const late = settled();
  late.observed("w1", 1_000, { away: true });
  assert.deepEqual(late.decide(1_500), { action: "rebalance", kind: "emergency" });
  assert.equal(late.isAway("w1", 1_500), true, "the emergency round hands its partitions on");
  late.rebalanceStarted(1_500);
  late.published("assign", true);
  assert.equal(late.dirty, false);
  assert.equal(late.observed("w1", 2_000, { away: false }), true);
  assert.equal(late.dirty, true);
  assert.equal(late.isAway("w1", 2_000), false);
});

Deno.test("a worker that leaves while away is no longer reserved", () => {
  const windows = settled();
  windows.observed("w1", 1_000, { away: true });
  windows.left("w1", 1_100, { reason: "dead" });
  assert.equal(windows.isAway("w1", 2_000), false);
});

Deno.test("a manual trigger overrides an open window and minRebalanceIntervalMs", () => {
  const windows = settled();
  windows.joined("w2", 10_000, { members: 10, ...stay });
  windows.rebalanceStarted(11_000);
  windows.published("assign", true);
  windows.joined("w3", 11_100, { members: 11, ...stay });
  windows.trigger();
  assert.equal(windows.window, undefined);
  assert.equal(windows.reason, "manual");
  assert.deepEqual(windows.decide(11_100), { action: "rebalance", kind: undefined });
  windows.rebalanceStarted(11_100);
  assert.equal(windows.published("assign", true), "manual");
  assert.equal(windows.reason, "planned", "later rounds are judged on their own merits");
  windows.joined("w4", 11_200, { members: 12, ...stay });
  assert.deepEqual(windows.decide(12_200), { action: "rebalance", kind: "planned" });
});

Deno.test("a drain change is served at once when no window is open and waits for an open one", () => {
  const idle = settled();
  idle.drainChanged();
  assert.equal(idle.reason, "manual");
  assert.deepEqual(idle.decide(100), { action: "rebalance", kind: undefined });
  const busy = settled();
  busy.joined("w2", 1_000, { members: 10, ...stay });
  busy.drainChanged();
  assert.deepEqual(busy.decide(1_500), { action: "wait", untilMs: 2_000, state: "scaling" });
});

Deno.test("the round after a revoke reports 'handoff' and a manual request lasts through its hand-off", () => {
  const windows = settled();
  windows.trigger();
  windows.rebalanceStarted(100);
  assert.equal(windows.published("revoke", true), "manual");
  assert.equal(windows.reason, "manual", "still serving the request");
  windows.markDirty();
  assert.deepEqual(windows.decide(200), { action: "rebalance", kind: undefined });
  windows.rebalanceStarted(200);
  assert.equal(windows.published("assign", true), "handoff");
  assert.equal(windows.reason, "planned");
  windows.markDirty();
  windows.rebalanceStarted(300);
  assert.equal(windows.published("assign", true), "planned");
});

Deno.test("a round that writes nothing does not make the next one a hand-off", () => {
  const windows = settled();
  windows.rebalanceStarted(100);
  assert.equal(windows.published("revoke", false), "planned");
  windows.rebalanceStarted(200);
  assert.equal(windows.published("assign", true), "planned");
});
