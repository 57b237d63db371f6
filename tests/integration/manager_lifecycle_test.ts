import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { AlreadyStartedError, Manager, type State } from "../../mod.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import {
  connectTo,
  duplicates,
  fastOptions,
  makePartitions,
  natsPool,
  waitForSettled,
} from "../helpers/pool.ts";

Deno.test("a single worker becomes stable with every partition, and its hooks see them all", async () => {
  await using server = await NatsServer.start();
  const nc = await connectTo(server.url);
  const partitions = makePartitions(20);
  const states: string[] = [];
  const changes: { added: number; removed: number; version: number }[] = [];
  const leadership: boolean[] = [];
  const manager = new Manager(fastOptions({
    connection: nc,
    group: "single",
    source: partitions,
    hooks: {
      onStateChanged: (_from: State, to: State) => void states.push(to),
      onAssignmentChanged: ({ added, removed, assignment }) =>
        void changes.push({
          added: added.length,
          removed: removed.length,
          version: assignment.version,
        }),
      onLeadershipChanged: (isLeader) => void leadership.push(isLeader),
    },
  }));
  try {
    await manager.start();
    assert.equal(manager.workerId, "worker-0");
    assert.equal(manager.assignment.partitions.length, 20);
    assert.ok(manager.assignment.version >= 1);
    assert.equal(changes[0]?.added, 20);
    assert.equal(changes[0]?.removed, 0);
    await waitFor(() => manager.isLeader && manager.state === "stable", { timeoutMs: 5_000 });
    assert.deepEqual(states.slice(0, 3), ["claimingId", "election", "waitingAssignment"]);
    assert.ok(states.includes("stable"));
    assert.deepEqual(leadership, [true]);
  } finally {
    await manager.stop();
    await nc.close();
  }
  assert.equal(manager.state, "shutdown");
  assert.equal(changes.at(-1)?.removed, 20, "stop() revokes every partition through the hooks");
  assert.equal(manager.isLeader, false);
});

Deno.test("five workers started concurrently get unique IDs, one leader and every partition once", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(50);
  await using pool = await natsPool(server.url, 5, { group: "five", source: partitions });
  const { managers } = pool;
  await Promise.all(managers.map((m) => m.start()));
  const ids = managers.map((m) => m.workerId);
  assert.equal(new Set(ids).size, 5);
  await waitForSettled(managers, partitions);
  assert.deepEqual(duplicates(managers), []);
});

Deno.test("ten workers share 1,000 partitions with one owner each and one leader", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(1_000);
  await using pool = await natsPool(server.url, 10, { group: "ten", source: partitions });
  const { managers } = pool;
  await Promise.all(managers.map((m) => m.start()));
  assert.equal(new Set(managers.map((m) => m.workerId)).size, 10);
  await waitForSettled(managers, partitions, 20_000);
  const loads = managers.map((m) =>
    m.assignment.partitions.reduce((sum, p) => sum + (p.weight ?? 1), 0)
  );
  const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
  assert.ok(Math.max(...loads) / mean < 1.1, `balanced: ${loads.join(",")}`);
});

Deno.test("a graceful leader stop hands leadership over within 1 s without orphaning partitions", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(30);
  const connections = await Promise.all(Array.from({ length: 3 }, () => connectTo(server.url)));
  const versions = new Map<string, number[]>();
  const managers = connections.map((nc) => {
    const manager: Manager = new Manager(fastOptions({
      connection: nc,
      group: "handover",
      source: partitions,
      hooks: {
        onAssignmentChanged: ({ assignment }) => {
          const list = versions.get(manager.workerId!) ?? [];
          list.push(assignment.version);
          versions.set(manager.workerId!, list);
        },
      },
    }));
    return manager;
  });
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitForSettled(managers, partitions);
    const leader = managers.find((m) => m.isLeader)!;
    const rest = managers.filter((m) => m !== leader);
    const before = Math.max(...rest.map((m) => m.assignment.version));
    const stoppedAt = performance.now();
    await leader.stop();
    await waitFor(() => rest.some((m) => m.isLeader), { timeoutMs: 1_000, intervalMs: 5 });
    const failoverMs = performance.now() - stoppedAt;
    console.log(`graceful failover: ${failoverMs.toFixed(0)} ms`);
    await waitForSettled(rest, partitions);
    assert.ok(Math.min(...rest.map((m) => m.assignment.version)) > before);
    for (const [id, list] of versions) {
      for (let i = 1; i < list.length; i++) {
        assert.ok(list[i]! >= list[i - 1]!, `versions of ${id} never go back: ${list.join(",")}`);
      }
    }
  } finally {
    await Promise.all(managers.map((m) => m.stop()));
    await Promise.all(connections.map((nc) => nc.close()));
  }
});

Deno.test("start() twice, or concurrently, fails with AlreadyStartedError for all but one", async () => {
  await using server = await NatsServer.start();
  const nc = await connectTo(server.url);
  const manager = new Manager(fastOptions({ connection: nc, group: "twice", source: [] }));
  try {
    const results = await Promise.allSettled([manager.start(), manager.start(), manager.start()]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results.filter((r) => r.status === "rejected")) {
      assert.ok((r as PromiseRejectedResult).reason instanceof AlreadyStartedError);
    }
    await manager.stop();
    await assert.rejects(manager.start(), AlreadyStartedError);
  } finally {
    await manager.stop();
    await nc.close();
  }
});

Deno.test("a worker joining later gets partitions through a hand-off with no double owner", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(40);
  const connections = await Promise.all(Array.from({ length: 3 }, () => connectTo(server.url)));
  const managers = connections.slice(0, 2).map((nc) =>
    new Manager(fastOptions({ connection: nc, group: "join", source: partitions }))
  );
  let doubles = 0;
  const all: Manager[] = [...managers];
  const probe = setInterval(() => (doubles += duplicates(all).length), 2);
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitForSettled(managers, partitions);
    const late = new Manager(
      fastOptions({ connection: connections[2]!, group: "join", source: partitions }),
    );
    all.push(late);
    await late.start();
    await waitForSettled(all, partitions);
    assert.ok(late.assignment.partitions.length > 0);
    assert.equal(doubles, 0);
  } finally {
    clearInterval(probe);
    await Promise.all(all.map((m) => m.stop()));
    await Promise.all(connections.map((nc) => nc.close()));
  }
});

Deno.test("an assignment larger than one KV value is written in chunks and read back whole", async () => {
  await using server = await NatsServer.start();
  const partitions = Array.from({ length: 8_000 }, (_, i) => ({
    keys: ["tenant-with-a-rather-long-name", `shard-${String(i).padStart(6, "0")}`],
  }));
  await using pool = await natsPool(server.url, 3, { group: "chunks", source: partitions });
  const { managers, connections } = pool;
  await Promise.all(managers.slice(0, 2).map((m) => m.start()));
  await waitForSettled(managers.slice(0, 2), partitions, 30_000);
  // A third worker: the two keys are rewritten (revoke, then assign), chunks and all.
  await managers[2]!.start();
  await waitFor(() => managers.every((m) => m.assignment.partitions.length > 2_000), {
    timeoutMs: 30_000,
  });
  await waitForSettled(managers, partitions, 30_000);
  const kv = await new Kvm(connections[0]!).open("parti_chunks_assign");
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  const chunkKeys = keys.filter((k) => /^w\.worker-\d+\.e\d+v\d+\.c\d+$/.test(k));
  assert.ok(chunkKeys.length > 0, `chunk keys: ${keys.join(",")}`);
  // Only the current publication's chunks remain: earlier ones were collected.
  const assignments = await managers[0]!.getAssignments();
  for (const key of chunkKeys) {
    const [, workerId, publication] = key.match(/^w\.(worker-\d+)\.(e\d+v\d+)\.c\d+$/)!;
    const current = assignments.get(workerId!)!;
    assert.equal(publication, `e${current.epoch}v${current.version}`, `stale chunk ${key}`);
  }
  const total = [...assignments.values()].reduce((n, a) => n + a.partitions.length, 0);
  assert.equal(total, partitions.length);
});
