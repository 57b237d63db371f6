/**
 * The hook contract, against a real nats-server with `presets.fastTest` timings: throwing hooks
 * are reported to `onError` and never stop the manager; hooks of one manager run one at a time,
 * in order; per-partition hooks carry fencing tokens that increase across hand-overs; the leader
 * hears about workers joining and leaving; disposal revokes everything before the worker's keys
 * are released; a polled source and a custom strategy function drive the assignment.
 *
 * Timing bounds live in `hooks_timing_test.ts`; nothing here depends on how fast anything is.
 */
import assert from "node:assert/strict";
import {
  type AssignmentChange,
  type FencingToken,
  type Hooks,
  Manager,
  type Partition,
  partitionId,
  PollingSource,
  type State,
  StaticSource,
  type StrategyInput,
} from "../../mod.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import {
  compareTokens,
  connectTo,
  fastOptions,
  holdsValue,
  idsOf,
  makePartitions,
  natsPool,
  openGroupBuckets,
  waitForSettled,
} from "../helpers/pool.ts";

// -----------------------------------------------------------------------------------------------
// Throwing hooks.

/** How a failing hook fails: a synchronous `throw`, or a promise that rejects after a tick. */
const failures = {
  synchronously: (error: Error): void => {
    throw error;
  },
  asynchronously: async (error: Error): Promise<void> => {
    await Promise.resolve();
    throw error;
  },
} as const;

for (const [mode, fail] of Object.entries(failures)) {
  Deno.test(`a hook that throws ${mode} is reported to onError as the same error object and the manager carries on`, async () => {
    await using server = await NatsServer.start();
    const nc = await connectTo(server.url);
    const source = new StaticSource(makePartitions(4));
    const thrown: Error[] = [];
    const reported: Error[] = [];
    const changes: AssignmentChange[] = [];
    const added: string[] = [];
    const boom = (what: string) => {
      const error = new Error(`${what} failed on purpose`);
      thrown.push(error);
      return fail(error);
    };
    const manager = new Manager(fastOptions({
      connection: nc,
      group: `throws_${mode}`,
      source,
      hooks: {
        onStateChanged: (from, to) => boom(`onStateChanged(${from}, ${to})`),
        onAssignmentChanged: (change) => {
          changes.push(change);
          return boom(`onAssignmentChanged(v${change.assignment.version})`);
        },
        onPartitionAdded: (p) => void added.push(partitionId(p)),
        onError: (error) => void reported.push(error),
      },
    }));
    try {
      await manager.start();
      await waitFor(() => manager.isLeader && manager.state === "stable", { timeoutMs: 5_000 });
      assert.equal(manager.assignment.partitions.length, 4);
      assert.equal(changes.length, 1);
      // The per-partition hooks of the change still ran after onAssignmentChanged threw.
      assert.deepEqual(added.sort(), idsOf(source.partitions));

      // A later change: the manager still applies it and still calls (and reports) its hooks.
      source.update(makePartitions(5));
      await manager.refreshPartitions();
      await waitFor(() => manager.assignment.partitions.length === 5, { timeoutMs: 5_000 });
      await waitFor(() => manager.state === "stable", { timeoutMs: 5_000 });
      assert.equal(changes.length, 2);
      assert.deepEqual(changes[1]!.added.map(partitionId), ["p/4"]);
      assert.deepEqual(changes[1]!.removed, []);
      assert.ok(manager.fencingToken("p/4"), "the new partition is owned despite the throw");
      assert.ok(
        thrown.some((e) => e.message.startsWith("onStateChanged(stable,")),
        `state hooks still run after the start: ${thrown.map((e) => e.message).join("; ")}`,
      );

      // The manager reports each hook error once, as the very object the hook threw.
      await waitFor(() => thrown.every((e) => reported.includes(e)), { timeoutMs: 5_000 });
      for (const error of thrown) {
        assert.equal(reported.filter((r) => r === error).length, 1, error.message);
      }
    } finally {
      await manager.stop();
      await nc.close();
    }
    assert.equal(manager.state, "shutdown");
    assert.equal(changes.at(-1)?.removed.length, 5, "stop() still revokes through the hook");
  });

  Deno.test(`an onError hook that throws ${mode} does not stop the manager`, async () => {
    await using server = await NatsServer.start();
    const nc = await connectTo(server.url);
    const source = new StaticSource(makePartitions(4));
    const errors: Error[] = [];
    let changes = 0;
    const manager = new Manager(fastOptions({
      connection: nc,
      group: `onerror_throws_${mode}`,
      source,
      hooks: {
        onStateChanged: (from, to) => fail(new Error(`onStateChanged(${from}, ${to})`)),
        onAssignmentChanged: () => {
          changes++;
          return fail(new Error("onAssignmentChanged"));
        },
        onError: (error) => {
          errors.push(error);
          return fail(new Error(`onError failed too while reporting '${error.message}'`));
        },
      },
    }));
    try {
      await manager.start();
      await waitFor(() => manager.isLeader && manager.state === "stable", { timeoutMs: 5_000 });
      assert.equal(manager.assignment.partitions.length, 4);
      assert.ok(errors.some((e) => e.message === "onAssignmentChanged"));
      const reportedBefore = errors.length;

      source.update(makePartitions(6));
      await manager.refreshPartitions();
      await waitFor(() => manager.assignment.partitions.length === 6, { timeoutMs: 5_000 });
      await waitFor(() => manager.state === "stable", { timeoutMs: 5_000 });
      assert.equal(changes, 2);
      await waitFor(() => errors.length > reportedBefore, { timeoutMs: 5_000 });
      // Nothing the failing onError threw was fed back into onError.
      assert.ok(!errors.some((e) => e.message.startsWith("onError failed too")));
    } finally {
      await manager.stop();
    }
    await nc.close();
    assert.equal(manager.state, "shutdown");
    assert.equal(manager.assignment.partitions.length, 0);
    assert.equal(changes, 3, "stop() revoked through onAssignmentChanged");
  });
}

Deno.test("a hook that throws a value that is not an Error is reported to onError as an Error naming it", async () => {
  await using server = await NatsServer.start();
  const nc = await connectTo(server.url);
  const reported: Error[] = [];
  const manager = new Manager(fastOptions({
    connection: nc,
    group: "throws_string",
    source: makePartitions(2),
    hooks: {
      onAssignmentChanged: () => {
        throw "not-an-error-value";
      },
      onError: (error) => void reported.push(error),
    },
  }));
  try {
    await manager.start();
    const error = await waitFor(
      () => reported.find((e) => e.message.includes("not-an-error-value")),
      { timeoutMs: 5_000 },
    );
    assert.ok(error instanceof Error);
    assert.equal(manager.assignment.partitions.length, 2);
  } finally {
    await manager.stop();
    await nc.close();
  }
});

// -----------------------------------------------------------------------------------------------
// One at a time, in order.

/** What one hook call received. */
type HookCall =
  | { readonly hook: "onAssignmentChanged"; readonly change: AssignmentChange }
  | {
    readonly hook: "onPartitionAdded" | "onPartitionRemoved";
    readonly id: string;
    readonly token: FencingToken;
  }
  | { readonly hook: "onStateChanged"; readonly from: State; readonly to: State }
  | { readonly hook: "onLeadershipChanged"; readonly isLeader: boolean; readonly epoch: number }
  | { readonly hook: "onWorkerJoined" | "onWorkerLeft"; readonly workerId: string }
  | { readonly hook: "onError"; readonly error: Error };

/** One entry of a recorder's log: a hook call entered or exited. */
type HookEvent = { readonly phase: "enter" | "exit"; readonly call: HookCall };

/**
 * Instruments every hook: each call logs its entry and exit, counts itself in flight, and does a
 * little asynchronous "work" in between so that overlapping calls would be caught overlapping.
 */
class HookRecorder {
  readonly events: HookEvent[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly hooks: Hooks;

  constructor(workMs = 2) {
    const run = async (call: HookCall) => {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      this.events.push({ phase: "enter", call });
      try {
        await new Promise((resolve) => setTimeout(resolve, workMs));
      } finally {
        this.events.push({ phase: "exit", call });
        this.inFlight--;
      }
    };
    this.hooks = {
      onAssignmentChanged: (change) => run({ hook: "onAssignmentChanged", change }),
      onPartitionAdded: (p, token) => run({ hook: "onPartitionAdded", id: partitionId(p), token }),
      onPartitionRemoved: (p, token) =>
        run({ hook: "onPartitionRemoved", id: partitionId(p), token }),
      onStateChanged: (from, to) => run({ hook: "onStateChanged", from, to }),
      onLeadershipChanged: (isLeader, epoch) =>
        run({ hook: "onLeadershipChanged", isLeader, epoch }),
      onWorkerJoined: (workerId) => run({ hook: "onWorkerJoined", workerId }),
      onWorkerLeft: (workerId) => run({ hook: "onWorkerLeft", workerId }),
      onError: (error) => run({ hook: "onError", error }),
    };
  }

  /** The calls, in the order they were entered. */
  get calls(): HookCall[] {
    return this.events.filter((e) => e.phase === "enter").map((e) => e.call);
  }
}

/**
 * Asserts the per-partition hooks agree with `onAssignmentChanged`: every change is followed by
 * exactly one `onPartitionRemoved` per removed and one `onPartitionAdded` per added partition,
 * before the next change, with the change's token for additions and the token a partition was
 * gained under for removals; a partition is only added when not held and removed when held.
 * Returns the partitions held at the end with their tokens.
 */
function checkPartitionHooks(who: string, calls: readonly HookCall[]): Map<string, FencingToken> {
  const held = new Map<string, FencingToken>();
  let open: { token: FencingToken; added: Set<string>; removed: Set<string> } | undefined;
  const closeOpen = () => {
    if (!open) return;
    assert.deepEqual(
      [...open.added, ...open.removed],
      [],
      `${who}: per-partition hooks missing after the change of ${JSON.stringify(open.token)}`,
    );
  };
  for (const call of calls) {
    if (call.hook === "onAssignmentChanged") {
      closeOpen();
      const { change } = call;
      open = {
        token: change.token,
        added: new Set(change.added.map(partitionId)),
        removed: new Set(change.removed.map(partitionId)),
      };
      assert.deepEqual(
        { epoch: change.assignment.epoch, version: change.assignment.version },
        { epoch: change.token.epoch, version: change.token.version },
        `${who}: a change's token is the (epoch, version) of its assignment`,
      );
    } else if (call.hook === "onPartitionAdded") {
      assert.ok(open?.added.delete(call.id), `${who}: onPartitionAdded(${call.id}) unannounced`);
      assert.deepEqual(call.token, open!.token, `${who}: token of added ${call.id}`);
      assert.ok(!held.has(call.id), `${who}: ${call.id} added while already held`);
      held.set(call.id, call.token);
    } else if (call.hook === "onPartitionRemoved") {
      assert.ok(
        open?.removed.delete(call.id),
        `${who}: onPartitionRemoved(${call.id}) unannounced`,
      );
      assert.deepEqual(call.token, held.get(call.id), `${who}: token of removed ${call.id}`);
      held.delete(call.id);
    }
  }
  closeOpen();
  return held;
}

Deno.test("hooks of one manager run one at a time, in order, through joins, changes and stops", async () => {
  await using server = await NatsServer.start();
  const source = new StaticSource(makePartitions(12));
  const recorders = [new HookRecorder(), new HookRecorder()];
  await using pool = await natsPool(server.url, 2, (i) => ({
    group: "ordering",
    source,
    hooks: recorders[i]!.hooks,
  }));
  const [a, b] = pool.managers as [Manager, Manager];
  await a.start();
  await waitForSettled([a], source.partitions);
  await b.start();
  await waitForSettled([a, b], source.partitions);
  source.update(makePartitions(15).slice(2));
  await b.refreshPartitions(); // a follower's request, forwarded to the leader
  await waitForSettled([a, b], source.partitions);
  const aId = a.workerId!;
  const bId = b.workerId!;
  await b.stop();
  await waitForSettled([a], source.partitions);
  await a.stop();

  for (const [i, recorder] of recorders.entries()) {
    const who = i === 0 ? `leader ${aId}` : `follower ${bId}`;
    assert.equal(recorder.maxInFlight, 1, `${who}: at most one hook in flight`);
    // Strictly enter, exit, enter, exit…, each exit closing the call just entered.
    for (let j = 0; j < recorder.events.length; j += 2) {
      const enter = recorder.events[j]!;
      const exit = recorder.events[j + 1];
      assert.equal(enter.phase, "enter", `${who}: event ${j}`);
      assert.equal(exit?.phase, "exit", `${who}: event ${j + 1}`);
      assert.equal(exit.call, enter.call, `${who}: event ${j + 1} exits the call entered`);
    }
    const { calls } = recorder;

    // State changes form a chain from `init` to `shutdown`, in the order they were entered.
    const states = calls.filter((c) => c.hook === "onStateChanged");
    assert.equal(states[0]?.from, "init", `${who}: first state change`);
    for (let j = 1; j < states.length; j++) {
      assert.equal(states[j]!.from, states[j - 1]!.to, `${who}: state change ${j} continues`);
      assert.notEqual(states[j]!.from, states[j]!.to, `${who}: state change ${j} changes`);
    }
    assert.equal(states.at(-1)?.to, "shutdown", `${who}: last state change`);
    assert.ok(states.some((s) => s.to === "stable"), `${who}: reached stable`);

    // Per-partition hooks follow their onAssignmentChanged; nothing is held after stop().
    assert.deepEqual([...checkPartitionHooks(who, calls).keys()], [], `${who}: all released`);
    const lastChange = calls.findLastIndex((c) => c.hook === "onAssignmentChanged");
    const shutdown = calls.findIndex((c) => c.hook === "onStateChanged" && c.to === "shutdown");
    assert.ok(lastChange < shutdown, `${who}: the final revocation comes before 'shutdown'`);

    // Membership hooks only while this manager is told it leads.
    let leading = false;
    for (const call of calls) {
      if (call.hook === "onLeadershipChanged") leading = call.isLeader;
      if (call.hook === "onWorkerJoined" || call.hook === "onWorkerLeft") {
        assert.ok(leading, `${who}: ${call.hook}(${call.workerId}) while not leading`);
      }
    }
  }
  const leaderCalls = recorders[0]!.calls;
  assert.deepEqual(
    leaderCalls.filter((c) => c.hook === "onLeadershipChanged").map((c) => c.isLeader).slice(0, 1),
    [true],
  );
  assert.ok(leaderCalls.some((c) => c.hook === "onWorkerJoined" && c.workerId === bId));
  assert.ok(leaderCalls.some((c) => c.hook === "onWorkerLeft" && c.workerId === bId));
  assert.ok(
    leaderCalls.some((c) => c.hook === "onPartitionRemoved"),
    "the leader handed partitions over to the second worker",
  );
});

// -----------------------------------------------------------------------------------------------
// Fencing tokens.

Deno.test("onPartitionAdded and onPartitionRemoved fire once per partition with its fencing token, and tokens increase across hand-overs", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(12);
  const recorders = [new HookRecorder(0), new HookRecorder(0)];
  await using pool = await natsPool(server.url, 2, (i) => ({
    group: "tokens",
    source: partitions,
    hooks: recorders[i]!.hooks,
  }));
  const [a, b] = pool.managers as [Manager, Manager];
  const tokens = (r: HookRecorder, hook: "onPartitionAdded" | "onPartitionRemoved", id: string) =>
    r.calls.flatMap((c) => (c.hook === hook && c.id === id ? [c.token] : []));
  const [recA, recB] = recorders as [HookRecorder, HookRecorder];

  await a.start();
  await waitForSettled([a], partitions);
  const first = a.assignment;
  const firstToken = { epoch: first.epoch, version: first.version };
  for (const p of partitions) {
    const id = partitionId(p);
    assert.deepEqual(tokens(recA, "onPartitionAdded", id), [firstToken], id);
    assert.deepEqual(a.fencingToken(p), firstToken, `fencingToken(${id})`);
    assert.deepEqual(a.fencingToken(id), firstToken, `fencingToken('${id}')`);
  }
  assert.equal(a.fencingToken("p/unknown"), undefined);

  await b.start();
  await waitForSettled([a, b], partitions);
  // An assignment is visible before its hooks have run (removals must be): wait for them too.
  await waitFor(() =>
    b.assignment.partitions.every((p) => tokens(recB, "onPartitionAdded", partitionId(p)).length)
  );
  const moved = b.assignment.partitions.map(partitionId);
  const kept = a.assignment.partitions.map(partitionId);
  assert.ok(moved.length > 0 && kept.length > 0, `moved ${moved.length}, kept ${kept.length}`);
  assert.ok(compareTokens(a.assignment, firstToken) > 0, "A saw a newer publication");
  const tokenB = new Map<string, FencingToken>();
  for (const id of moved) {
    assert.deepEqual(tokens(recA, "onPartitionRemoved", id), [firstToken], `A removed ${id}`);
    assert.equal(a.fencingToken(id), undefined, `A no longer holds ${id}`);
    const added = tokens(recB, "onPartitionAdded", id);
    assert.equal(added.length, 1, `B added ${id} once`);
    assert.deepEqual(b.fencingToken(id), added[0], `B's fencingToken(${id})`);
    assert.ok(compareTokens(added[0]!, firstToken) > 0, `${id}: B's token is newer than A's`);
    tokenB.set(id, added[0]!);
  }
  for (const id of kept) {
    // A later publication that leaves a partition in place does not change its token.
    assert.deepEqual(a.fencingToken(id), firstToken, `A keeps ${id} under its first token`);
    assert.deepEqual(tokens(recA, "onPartitionAdded", id), [firstToken]);
    assert.deepEqual(tokens(recA, "onPartitionRemoved", id), []);
  }

  await b.stop();
  await waitForSettled([a], partitions);
  await waitFor(() => moved.every((id) => tokens(recA, "onPartitionAdded", id).length >= 2));
  for (const id of moved) {
    assert.deepEqual(tokens(recB, "onPartitionRemoved", id), [tokenB.get(id)], `B removed ${id}`);
    assert.equal(b.fencingToken(id), undefined, `B's fencingToken(${id}) after stop()`);
    const addedA = tokens(recA, "onPartitionAdded", id);
    assert.equal(addedA.length, 2, `A gained ${id} twice`);
    assert.ok(compareTokens(addedA[1]!, tokenB.get(id)!) > 0, `${id}: back to A, newer again`);
    assert.deepEqual(a.fencingToken(id), addedA[1], `A's fencingToken(${id}) after the return`);
  }
  const heldA = checkPartitionHooks("A", recA.calls);
  assert.deepEqual([...heldA.keys()].sort(), idsOf(partitions));
  for (const [id, token] of heldA) assert.deepEqual(a.fencingToken(id), token, id);
  assert.deepEqual([...checkPartitionHooks("B", recB.calls).keys()], []);
});

// -----------------------------------------------------------------------------------------------
// Membership hooks.

Deno.test("the leader's onWorkerJoined and onWorkerLeft fire for a second worker joining and stopping", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(6);
  const joined: string[][] = [[], []];
  const left: string[][] = [[], []];
  await using pool = await natsPool(server.url, 2, (i) => ({
    group: "membership",
    source: partitions,
    hooks: {
      onWorkerJoined: (id) => void joined[i]!.push(id),
      onWorkerLeft: (id) => void left[i]!.push(id),
    },
  }));
  const [a, b] = pool.managers as [Manager, Manager];
  await a.start();
  await waitForSettled([a], partitions);
  assert.ok(a.isLeader);
  await b.start();
  const bId = b.workerId!;
  await waitFor(() => joined[0]!.includes(bId), { timeoutMs: 5_000, message: "onWorkerJoined" });
  await waitForSettled([a, b], partitions);
  assert.deepEqual(left[0], [], "nobody left yet");
  await b.stop();
  await waitFor(() => left[0]!.includes(bId), { timeoutMs: 5_000, message: "onWorkerLeft" });
  assert.equal(joined[0]!.filter((id) => id === bId).length, 1);
  assert.equal(left[0]!.filter((id) => id === bId).length, 1);
  assert.deepEqual([joined[1], left[1]], [[], []], "a follower's membership hooks stay silent");
});

// -----------------------------------------------------------------------------------------------
// Disposal.

Deno.test("await using disposal revokes every partition through the hooks before the worker's keys are released", async () => {
  await using server = await NatsServer.start();
  const nc = await connectTo(server.url);
  const observer = await connectTo(server.url);
  const partitions = makePartitions(8);
  const group = "dispose";
  const order: string[] = [];
  let duringRevoke: { state: State; idKey: boolean; heartbeat: boolean } | undefined;
  let workerId = "";
  let stopped: Manager | undefined;
  try {
    {
      await using manager = new Manager(fastOptions({
        connection: nc,
        group,
        source: partitions,
        hooks: {
          onStateChanged: (_from, to) => void order.push(`state:${to}`),
          async onAssignmentChanged({ added, removed, assignment }) {
            order.push(`change:+${added.length}-${removed.length}`);
            if (removed.length > 0 && assignment.partitions.length === 0) {
              const buckets = await openGroupBuckets(observer, group);
              duringRevoke = {
                state: manager.state,
                idKey: holdsValue(await buckets.ids.get(workerId)),
                heartbeat: holdsValue(await buckets.heartbeats.get(workerId)),
              };
            }
          },
        },
      }));
      stopped = manager;
      await manager.start();
      workerId = manager.workerId!;
      await waitForSettled([manager], partitions);
    }
    assert.equal(stopped.state, "shutdown");
    assert.equal(stopped.assignment.partitions.length, 0);
    assert.equal(stopped.isLeader, false);
    assert.deepEqual(duringRevoke, { state: "stable", idKey: true, heartbeat: true });
    assert.ok(
      order.indexOf("change:+0-8") < order.indexOf("state:shutdown"),
      `revocation before 'shutdown': ${order.join(", ")}`,
    );
    const buckets = await openGroupBuckets(observer, group);
    assert.equal(holdsValue(await buckets.ids.get(workerId)), false, "ID released");
    assert.equal(holdsValue(await buckets.heartbeats.get(workerId)), false, "heartbeat deleted");
  } finally {
    await stopped?.stop();
    await nc.close();
    await observer.close();
  }
});

// -----------------------------------------------------------------------------------------------
// Sources and strategies through a Manager.

Deno.test("a change of the list behind a PollingSource reaches the assignment without refreshPartitions()", async () => {
  await using server = await NatsServer.start();
  const nc = await connectTo(server.url);
  let list: Partition[] = makePartitions(4);
  let reads = 0;
  const source = new PollingSource({
    listPartitions: () => {
      reads++;
      return Promise.resolve(list);
    },
  }, { maxAgeMs: 50 });
  const changes: AssignmentChange[] = [];
  const manager = new Manager(fastOptions({
    connection: nc,
    group: "polling",
    source,
    partitionRefreshIntervalMs: 100,
    hooks: { onAssignmentChanged: (change) => void changes.push(change) },
  }));
  try {
    await manager.start();
    await waitForSettled([manager], list);
    const readsBefore = reads;
    const changesBefore = changes.length;
    list = makePartitions(6).slice(1); // p/0 goes, p/4 and p/5 arrive
    await waitFor(
      () => idsOf(manager.assignment.partitions).join() === idsOf(list).join(),
      { timeoutMs: 5_000, message: "the polled list in the assignment" },
    );
    assert.ok(reads > readsBefore, "the leader polled the source");
    const later = changes.slice(changesBefore);
    assert.deepEqual(later.flatMap((c) => c.added.map(partitionId)).sort(), ["p/4", "p/5"]);
    assert.deepEqual(later.flatMap((c) => c.removed.map(partitionId)), ["p/0"]);
  } finally {
    await manager.stop();
    await nc.close();
  }
});

Deno.test("a custom strategy function decides the assignment: everything goes to the lexicographically first worker", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(10);
  const seen: string[][] = [];
  const firstWorker = ({ workers, partitions }: StrategyInput): string[] => {
    seen.push([...workers]);
    const owner = [...workers].sort()[0]!;
    return partitions.map(() => owner);
  };
  // IDs from 9: the first worker is 'worker-9', the second 'worker-10', which sorts first.
  await using pool = await natsPool(server.url, 2, {
    group: "custom_strategy",
    source: partitions,
    strategy: firstWorker,
    workerIdMin: 9,
  });
  const [a, b] = pool.managers as [Manager, Manager];
  await a.start();
  await waitForSettled([a], partitions);
  assert.equal(a.workerId, "worker-9");
  assert.equal(a.assignment.partitions.length, 10);
  await b.start();
  assert.equal(b.workerId, "worker-10");
  await waitFor(
    () => b.assignment.partitions.length === 10 && a.assignment.partitions.length === 0,
    { timeoutMs: 10_000, message: "everything on worker-10" },
  );
  await waitForSettled([a, b], partitions);
  assert.ok(a.isLeader, "the leader keeps leading with nothing assigned");
  assert.ok(seen.some((w) => w.length === 2 && w.includes("worker-9") && w.includes("worker-10")));
});
