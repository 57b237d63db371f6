/**
 * `GroupAdmin` against real nats-server processes and real pools of managers: what it reads
 * matches the workers' own view, its watch follows joins and drains, its control calls reach the
 * leader, it never writes a heartbeat or a worker ID, and a missing group is a typed error.
 */
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type AdminTopology,
  GroupAdmin,
  GroupNotFoundError,
  MalformedDataError,
  Manager,
  memoryStore,
  partitionId,
  presets,
  StaticSource,
  type StrategyFunction,
  type Topology,
} from "../../mod.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import {
  connectTo,
  fullyCovered,
  makePartitions,
  natsPool,
  openGroupBuckets,
  waitForSettled,
} from "../helpers/pool.ts";

/** The topology without what only an admin has, for comparison with `getTopology()`. */
function plain(t: AdminTopology): Topology {
  const { observedForMs: _, workers, ...rest } = t;
  return { ...rest, workers: workers.map(({ heartbeatAgeMs: _age, ...w }) => w) };
}

/** The next snapshot of `iterator` that satisfies `predicate`, within `timeoutMs`. */
async function nextMatching(
  iterator: AsyncIterator<AdminTopology>,
  predicate: (t: AdminTopology) => boolean,
  timeoutMs = 10_000,
): Promise<AdminTopology> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const left = deadline - performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      iterator.next(),
      new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left))),
    ]).finally(() => clearTimeout(timer));
    if (next === "timeout") break;
    if (next.done) throw new Error("watch() ended early");
    if (predicate(next.value)) return next.value;
  }
  throw new Error(`No matching snapshot within ${timeoutMs} ms`);
}

async function lastSequences(nc: NatsConnection, group: string, buckets: readonly string[]) {
  const jsm = await jetstreamManager(nc);
  const out: Record<string, number> = {};
  for (const b of buckets) {
    out[b] = (await jsm.streams.info(`KV_parti_${group}_${b}`)).state.last_seq;
  }
  return out;
}

async function keysOf(kv: { keys(): Promise<AsyncIterable<string>> }): Promise<string[]> {
  const out: string[] = [];
  for await (const k of await kv.keys()) out.push(k);
  return out.sort();
}

Deno.test("GroupAdmin.topology(), assignments() and ownerOf() agree with a running pool's own view", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(30);
  await using pool = await natsPool(server.url, 3, { group: "view", source: partitions });
  const { managers } = pool;
  await Promise.all(managers.map((m) => m.start()));
  await waitForSettled(managers, partitions);
  const nc = await connectTo(server.url);
  try {
    await using admin = await GroupAdmin.open({ connection: nc, group: "view" });
    // Heartbeats keep arriving; compare until both reads fall between the same two of them.
    await waitFor(async () => {
      const [mine, theirs] = await Promise.all([admin.topology(), managers[0]!.getTopology()]);
      return JSON.stringify(plain(mine)) === JSON.stringify(theirs);
    }, { timeoutMs: 5_000, message: "admin topology equals getTopology()" });
    const topology = await admin.topology();
    assert.equal(topology.workers.length, 3);
    assert.equal(topology.leader?.workerId, managers.find((m) => m.isLeader)?.workerId);
    assert.equal(topology.partitionCount, 30);

    const mine = await admin.assignments();
    const theirs = await managers[1]!.getAssignments();
    assert.deepEqual(mine, theirs);
    for (const m of managers) {
      assert.deepEqual(
        mine.get(m.workerId!)?.partitions.map(partitionId).sort(),
        m.assignment.partitions.map(partitionId).sort(),
      );
      for (const p of m.assignment.partitions) {
        assert.equal(await admin.ownerOf(p), m.workerId);
        assert.equal(await admin.ownerOf(partitionId(p)), m.workerId);
      }
    }
    assert.equal(await admin.ownerOf("p/does-not-exist"), undefined);
    await assert.rejects(admin.ownerOf(""), TypeError);

    // Ages are measured from heartbeats this admin saw arrive: known after one interval, and
    // never more than a few intervals old for a live worker.
    const aged = await waitFor(async () => {
      const t = await admin.topology();
      return t.workers.every((w) => w.heartbeatAgeMs !== undefined) ? t : undefined;
    }, { timeoutMs: 3_000, message: "every heartbeat age known" });
    for (const w of aged.workers) {
      assert.ok(w.heartbeatAgeMs! < presets.fastTest.heartbeatTtlMs!, `${w.workerId} is fresh`);
    }
    assert.ok(aged.observedForMs > 0);
  } finally {
    await nc.close();
  }
});

Deno.test("GroupAdmin.watch() yields a new snapshot when a worker joins and when one is drained", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(24);
  await using pool = await natsPool(server.url, 3, { group: "watched", source: partitions });
  const [first, second, third] = pool.managers as [Manager, Manager, Manager];
  await Promise.all([first.start(), second.start()]);
  await waitForSettled([first, second], partitions);
  const nc = await connectTo(server.url);
  const abort = new AbortController();
  try {
    await using admin = await GroupAdmin.open({ connection: nc, group: "watched" });
    const iterator = admin.watch({ signal: abort.signal })[Symbol.asyncIterator]();
    const initial = await nextMatching(iterator, () => true);
    assert.equal(initial.workers.length, 2, "the first snapshot holds the current workers");

    await third.start();
    const joined = await nextMatching(iterator, (t) => t.workers.length === 3);
    assert.ok(joined.workers.some((w) => w.workerId === third.workerId));

    await admin.drain(third.workerId!);
    const drained = await nextMatching(
      iterator,
      (t) => t.workers.find((w) => w.workerId === third.workerId)?.drained === true,
    );
    assert.equal(drained.workers.length, 3);

    abort.abort();
    const end = await iterator.next();
    assert.equal(end.done, true, "an aborted signal ends the iteration");
  } finally {
    abort.abort();
    await nc.close();
  }
});

Deno.test("GroupAdmin.drain() leaves a worker owning nothing within one rebalance, and undrain() gives it work again", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(30);
  await using pool = await natsPool(server.url, 3, { group: "drained", source: partitions });
  const { managers } = pool;
  await Promise.all(managers.map((m) => m.start()));
  await waitForSettled(managers, partitions);
  const nc = await connectTo(server.url);
  try {
    await using admin = await GroupAdmin.open({ connection: nc, group: "drained" });
    const target = managers.find((m) => !m.isLeader)!;
    const id = target.workerId!;
    assert.equal(await admin.drain(id), true);
    assert.equal(await admin.drain(id), false, "a second drain changes nothing");
    // A planned rebalance with fastTest timings: a 200 ms window and a two-step hand-off.
    await waitFor(
      () => target.assignment.partitions.length === 0 && fullyCovered(managers, partitions),
      { timeoutMs: 3_000, message: "the drained worker owns nothing" },
    );
    await waitFor(async () => {
      const w = (await admin.topology()).workers.find((w) => w.workerId === id);
      return w?.drained === true && w.partitions === 0 && w.state !== undefined;
    }, { timeoutMs: 3_000, message: "topology shows the worker drained and empty" });
    for (const p of partitions) assert.notEqual(await admin.ownerOf(p), id);

    assert.equal(await admin.undrain(id), true);
    assert.equal(await admin.undrain(id), false);
    await waitFor(
      () => target.assignment.partitions.length > 0 && fullyCovered(managers, partitions),
      { timeoutMs: 3_000, message: "the undrained worker has work again" },
    );
    await assert.rejects(admin.drain(""), TypeError);
  } finally {
    await nc.close();
  }
});

Deno.test("GroupAdmin.requestRebalance() and requestRefresh() reach the leader", async () => {
  await using server = await NatsServer.start();
  const source = new StaticSource(makePartitions(20));
  // Only the leader calls the strategy, once per rebalance round that is not skipped: a count of
  // calls shows a round ran even when it moves nothing (and so publishes nothing).
  let rounds = 0;
  const strategy: StrategyFunction = ({ workers, partitions }) => {
    rounds++;
    const sorted = [...workers].sort();
    return partitions.map((_, i) => sorted[i % sorted.length]!);
  };
  await using pool = await natsPool(server.url, 2, { group: "requests", source, strategy });
  const { managers } = pool;
  await Promise.all(managers.map((m) => m.start()));
  await waitForSettled(managers, source.partitions);
  const nc = await connectTo(server.url);
  try {
    await using admin = await GroupAdmin.open({ connection: nc, group: "requests" });

    const before = rounds;
    await admin.requestRebalance();
    await waitFor(() => rounds > before, {
      timeoutMs: 5_000,
      message: "the leader ran a rebalance round",
    });

    // Refresh: the leader only re-reads its source when asked (partitionRefreshIntervalMs 0).
    const next = makePartitions(26);
    source.update(next);
    await admin.requestRefresh();
    await waitFor(() => fullyCovered(managers, next), {
      timeoutMs: 5_000,
      message: "the leader re-read the source and assigned the new partitions",
    });
    assert.notEqual(await admin.ownerOf(next[25]!), undefined);
  } finally {
    await nc.close();
  }
});

Deno.test("GroupAdmin never writes a heartbeat, a worker ID or the lease, only control keys", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(10);
  const nc = await connectTo(server.url);
  try {
    // While a pool runs: the admin adds no ID and no heartbeat key.
    {
      await using pool = await natsPool(server.url, 2, { group: "quiet", source: partitions });
      await Promise.all(pool.managers.map((m) => m.start()));
      await waitForSettled(pool.managers, partitions);
      await using admin = await GroupAdmin.open({ connection: nc, group: "quiet" });
      await admin.topology();
      await admin.drain("worker-9");
      await admin.requestRebalance();
      const buckets = await openGroupBuckets(nc, "quiet");
      const workers = pool.managers.map((m) => m.workerId!).sort();
      assert.deepEqual(await keysOf(buckets.ids), workers);
      assert.deepEqual(await keysOf(buckets.heartbeats), workers);
    }
    // After the pool stopped: not one revision in the ID, heartbeat or leader bucket.
    const before = await lastSequences(nc, "quiet", ["ids", "hb", "leader"]);
    const assignKeys = await keysOf((await openGroupBuckets(nc, "quiet")).assignments);
    {
      await using admin = await GroupAdmin.open({ connection: nc, group: "quiet" });
      await admin.topology();
      await admin.assignments();
      await admin.ownerOf("p/1");
      for await (const _ of admin.watch()) break;
      await admin.undrain("worker-9");
      await admin.drain("worker-1");
      await admin.requestRebalance();
      await admin.requestRefresh();
    }
    assert.deepEqual(await lastSequences(nc, "quiet", ["ids", "hb", "leader"]), before);
    const added = (await keysOf((await openGroupBuckets(nc, "quiet")).assignments))
      .filter((k) => !assignKeys.includes(k));
    assert.ok(added.every((k) => k.startsWith("ctl.")), `only control keys: ${added}`);
  } finally {
    await nc.close();
  }
});

Deno.test("GroupAdmin.open() on a group that does not exist rejects with GroupNotFoundError and creates nothing", async () => {
  await using server = await NatsServer.start();
  const nc = await connectTo(server.url);
  try {
    const error = await GroupAdmin.open({ connection: nc, group: "nowhere" }).then(
      () => assert.fail("opened a missing group"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof GroupNotFoundError, String(error));
    assert.equal(error.code, "BUCKET_NOT_FOUND");
    assert.equal(error.group, "nowhere");
    assert.equal(error.missing.length, 4);
    assert.match(error.message, /Group 'nowhere' does not exist/);
    const jsm = await jetstreamManager(nc);
    const streams: string[] = [];
    for await (const name of jsm.streams.names()) streams.push(name);
    assert.deepEqual(streams.filter((s) => s.includes("nowhere")), [], "no bucket was created");
  } finally {
    await nc.close();
  }
  // A store can only open a bucket by creating it: a group never written to is still an error.
  await assert.rejects(
    GroupAdmin.open({ store: memoryStore(), group: "nowhere" }),
    (e: unknown) => e instanceof GroupNotFoundError && /no worker has ever written/.test(e.message),
  );
});

Deno.test("GroupAdmin reports a malformed heartbeat through onError and skips it", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(6);
  await using pool = await natsPool(server.url, 1, { group: "foreign", source: partitions });
  await pool.managers[0]!.start();
  await waitForSettled(pool.managers, partitions);
  const nc = await connectTo(server.url);
  try {
    const buckets = await openGroupBuckets(nc, "foreign");
    await buckets.heartbeats.put("worker-77", "not json");
    const errors: Error[] = [];
    await using admin = await GroupAdmin.open({
      connection: nc,
      group: "foreign",
      onError: (e) => void errors.push(e),
    });
    const topology = await admin.topology();
    assert.deepEqual(topology.workers.map((w) => w.workerId), [pool.managers[0]!.workerId]);
    assert.ok(errors.some((e) => e instanceof MalformedDataError), String(errors));
  } finally {
    await nc.close();
  }
});

Deno.test("GroupAdmin on a shared memory store reads the pool of this process", async () => {
  const store = memoryStore();
  const partitions = makePartitions(12);
  const managers = [0, 1].map(() =>
    new Manager({ ...presets.fastTest, store, group: "local", source: partitions })
  );
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitForSettled(managers, partitions);
    await using admin = await GroupAdmin.open({ ...presets.fastTest, store, group: "local" });
    assert.deepEqual(await admin.assignments(), await managers[0]!.getAssignments());
    await admin.close();
    await assert.rejects(admin.topology(), /closed/);
  } finally {
    await Promise.all(managers.map((m) => m.stop()));
  }
});
