/** The user-hook lane: one at a time, in order, awaited; errors to onError; never rejects. */
import assert from "node:assert/strict";
import { HookQueue } from "../../src/hooks.ts";
import type { Hooks, State } from "../../mod.ts";

Deno.test("hooks run one at a time in the order they were queued, each awaited", async () => {
  const events: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  const hooks: Hooks = {
    async onStateChanged(from: State, to: State) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      events.push(`enter ${from}->${to}`);
      await gates[events.length === 1 ? 0 : 1]!.promise;
      events.push(`exit ${from}->${to}`);
      inFlight--;
    },
  };
  const queue = new HookQueue(hooks);
  const first = queue.call("onStateChanged", "init", "claimingId");
  const second = queue.call("onStateChanged", "claimingId", "election");
  await Promise.resolve();
  assert.deepEqual(events, ["enter init->claimingId"]);
  gates[1]!.resolve(); // the second hook's gate opens first: it still waits its turn
  await Promise.resolve();
  assert.deepEqual(events, ["enter init->claimingId"]);
  gates[0]!.resolve();
  await first;
  await second;
  assert.deepEqual(events, [
    "enter init->claimingId",
    "exit init->claimingId",
    "enter claimingId->election",
    "exit claimingId->election",
  ]);
  assert.equal(maxInFlight, 1);
});

Deno.test("a hook that throws or rejects is reported to onError and the lane carries on", async () => {
  const reported: unknown[] = [];
  const boom = new Error("boom");
  const hooks: Hooks = {
    onWorkerJoined() {
      throw boom;
    },
    onWorkerLeft() {
      return Promise.reject("not an error");
    },
    onLeadershipChanged() {
      reported.push("leadership");
    },
    onError(error) {
      reported.push(error);
    },
  };
  const queue = new HookQueue(hooks);
  await queue.call("onWorkerJoined", "worker-1");
  await queue.call("onWorkerLeft", "worker-1");
  await queue.call("onLeadershipChanged", true, 1);
  assert.equal(reported[0], boom);
  assert.ok(reported[1] instanceof Error);
  assert.equal((reported[1] as Error).cause, "not an error");
  assert.equal(reported[2], "leadership");
});

Deno.test("an onError that throws does not break the lane", async () => {
  const seen: string[] = [];
  const queue = new HookQueue({
    onWorkerJoined: (id) => void seen.push(id),
    onError() {
      throw new Error("error hook failed");
    },
  });
  await queue.error(new Error("first"));
  await queue.call("onWorkerJoined", "worker-2");
  assert.deepEqual(seen, ["worker-2"]);
});

Deno.test("missing hooks are skipped and idle() waits for everything queued", async () => {
  const order: string[] = [];
  const queue = new HookQueue({
    async onWorkerJoined(id) {
      await Promise.resolve();
      order.push(id);
    },
  });
  void queue.call("onStateChanged", "init", "claimingId");
  void queue.call("onWorkerJoined", "worker-0");
  void queue.call("onWorkerJoined", "worker-1");
  await queue.idle();
  assert.deepEqual(order, ["worker-0", "worker-1"]);
});

Deno.test("hooks are called with the hooks object as this", async () => {
  const hooks = {
    calls: 0,
    onWorkerJoined(this: { calls: number }) {
      this.calls++;
    },
  };
  await new HookQueue(hooks).call("onWorkerJoined", "worker-0");
  assert.equal(hooks.calls, 1);
});

Deno.test("an added hook set runs after the options' hooks, in the same lane, until removed", async () => {
  const order: string[] = [];
  const queue = new HookQueue({ onWorkerJoined: (id) => void order.push(`main ${id}`) });
  const subscription = queue.subscribe({
    onWorkerJoined: (id) => void order.push(`added ${id}`),
  });
  await queue.call("onWorkerJoined", "worker-1");
  await subscription.unsubscribe();
  await queue.call("onWorkerJoined", "worker-2");
  assert.deepEqual(order, ["main worker-1", "added worker-1", "main worker-2"]);
});

Deno.test("a hook set added later is first told the current assignment with each partition's token", async () => {
  const a = { keys: ["a"] };
  const b = { keys: ["b"] };
  const queue = new HookQueue({});
  const t1 = { epoch: 1, version: 1 };
  const t2 = { epoch: 1, version: 2 };
  void queue.call("onAssignmentChanged", {
    added: [a],
    removed: [],
    removedTokens: [],
    reason: "assigned",
    assignment: { ...t1, partitions: [a] },
    token: t1,
  });
  void queue.call("onAssignmentChanged", {
    added: [b],
    removed: [],
    removedTokens: [],
    reason: "assigned",
    assignment: { ...t2, partitions: [a, b] },
    token: t2,
  });
  const seen: unknown[] = [];
  queue.subscribe({
    onAssignmentChanged: ({ added, removed }) => void seen.push(["changed", added, removed]),
    onPartitionAdded: (p, token) => void seen.push(["added", p.keys[0], token]),
  });
  await queue.idle();
  assert.deepEqual(seen, [
    ["changed", [a, b], []],
    ["added", "a", t1],
    ["added", "b", t2],
  ]);
});

Deno.test("an error is reported to the onError of every hook set", async () => {
  const seen: string[] = [];
  const queue = new HookQueue({ onError: (e) => void seen.push(`main ${e.message}`) });
  queue.subscribe({ onError: (e) => void seen.push(`added ${e.message}`) });
  await queue.error(new Error("x"));
  assert.deepEqual(seen, ["main x", "added x"]);
});
