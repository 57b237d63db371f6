import assert from "node:assert/strict";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { wsconnect } from "@nats-io/nats-core";
import {
  type Clock,
  InvalidConfigError,
  MalformedDataError,
  Manager,
  memoryStore,
  presets,
  recommendedConnectionOptions,
  WorkerIdExhaustedError,
} from "../../mod.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import {
  connectTo,
  duplicates,
  fastOptions,
  fullyCovered,
  makePartitions,
  natsPool,
  waitForSettled,
} from "../helpers/pool.ts";

Deno.test("the Manager validates options before any I/O and names the field", () => {
  assert.throws(
    () => new Manager({ store: memoryStore(), group: "x", source: [], heartbeatTtlMs: 10 }),
    (e: unknown) => e instanceof InvalidConfigError && e.field === "heartbeatTtlMs",
  );
  assert.throws(
    () => new Manager({ store: memoryStore(), group: "x", source: [{ keys: [] }] }),
    (e: unknown) => e instanceof InvalidConfigError && e.field === "source[0]",
  );
});

Deno.test("the in-memory store runs a pool in one process with no server", async () => {
  const store = memoryStore();
  const partitions = makePartitions(30);
  const managers = Array.from(
    { length: 4 },
    () => new Manager(fastOptions({ store, group: "mem", source: partitions })),
  );
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitForSettled(managers, partitions);
    assert.deepEqual(duplicates(managers), []);
  } finally {
    await Promise.all(managers.map((m) => m.stop()));
  }
});

Deno.test("workers coordinate over WebSocket connections as over TCP", async () => {
  await using server = await NatsServer.start({ websocket: true });
  const partitions = makePartitions(24);
  const connections = await Promise.all(
    Array.from(
      { length: 3 },
      () => wsconnect({ servers: server.wsUrl!, ...recommendedConnectionOptions }),
    ),
  );
  const managers = connections.map((nc) =>
    new Manager(fastOptions({ connection: nc, group: "ws", source: partitions }))
  );
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitForSettled(managers, partitions);
    const leader = managers.find((m) => m.isLeader)!;
    await leader.stop();
    const rest = managers.filter((m) => m !== leader);
    await waitForSettled(rest, partitions);
  } finally {
    await Promise.all(managers.map((m) => m.stop()));
    await Promise.all(connections.map((nc) => nc.close()));
  }
});

Deno.test("an exhausted ID pool fails start() with WorkerIdExhaustedError", async () => {
  const store = memoryStore();
  const options = fastOptions({ store, group: "pool", source: makePartitions(4), workerIdMax: 1 });
  const a = new Manager(options);
  const b = new Manager(options);
  const c = new Manager(options);
  try {
    await a.start();
    await b.start();
    await assert.rejects(c.start(), (e: unknown) => {
      assert.ok(e instanceof WorkerIdExhaustedError);
      assert.match(e.message, /'worker-0'\.\.'worker-1'/);
      assert.match(e.message, /workerIdMax/);
      return true;
    });
    assert.equal(c.state, "shutdown");
  } finally {
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  }
});

Deno.test("foreign JSON in every bucket is reported through onError and changes nothing", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(20);
  const errors: Error[] = [];
  await using pool = await natsPool(server.url, 3, {
    group: "foreign",
    source: partitions,
    hooks: { onError: (e) => void errors.push(e) },
  });
  const { managers, connections } = pool;
  await Promise.all(managers.map((m) => m.start()));
  await waitForSettled(managers, partitions);
  const versionBefore = Math.max(...managers.map((m) => m.assignment.version));
  const kvm = new Kvm(connections[0]!);
  const junk = new TextEncoder().encode('{"hello":"world"}');
  const notJson = new TextEncoder().encode("\u0000garbage");
  await (await kvm.open("parti_foreign_hb")).put("worker-77", junk);
  await (await kvm.open("parti_foreign_assign")).put("w.worker-0", junk);
  await (await kvm.open("parti_foreign_assign")).put("w.worker-1", notJson);
  await (await kvm.open("parti_foreign_ids")).put("worker-50", junk);
  await waitFor(() => errors.filter((e) => e instanceof MalformedDataError).length >= 3, {
    timeoutMs: 5_000,
  });
  // A foreign value in a worker's assignment key means the leader's next write conflicts; it
  // re-reads, reports, and republishes: the pool must end covered, with nobody crashed.
  await waitFor(
    () => managers.every((m) => m.state !== "shutdown") && fullyCovered(managers, partitions),
    {
      timeoutMs: 10_000,
    },
  );
  assert.deepEqual(duplicates(managers), []);
  assert.ok(Math.max(...managers.map((m) => m.assignment.version)) >= versionBefore);
  const malformed = errors.filter((e) => e instanceof MalformedDataError) as MalformedDataError[];
  assert.ok(malformed.some((e) => e.bucket === "parti_foreign_hb"));
  assert.ok(malformed.some((e) => e.bucket === "parti_foreign_assign"));
});

Deno.test("a foreign value in the leader key is replaced after a lease, and a leader emerges", async () => {
  await using server = await NatsServer.start();
  const nc = await connectTo(server.url);
  const kvm = new Kvm(nc);
  const errors: Error[] = [];
  // Someone else's data already sits in the leader key before the pool starts.
  // Created with the settings Parti asks for (10 × the 1 s lease), so only the value is foreign.
  const leaderBucket = await kvm.create("parti_squat_leader", { ttl: 10_000, history: 1 });
  await leaderBucket.put("leader", new TextEncoder().encode("not a lease"));
  const manager = new Manager(fastOptions({
    connection: nc,
    group: "squat",
    source: makePartitions(5),
    hooks: { onError: (e) => void errors.push(e) },
  }));
  try {
    await manager.start();
    assert.ok(manager.isLeader);
    assert.ok(errors.some((e) => e instanceof MalformedDataError));
  } finally {
    await manager.stop();
    await nc.close();
  }
});

Deno.test("a bucket deleted under a running pool is reported, recreated, and the pool recovers", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(20);
  const errors: Error[] = [];
  await using pool = await natsPool(server.url, 3, {
    group: "gone",
    source: partitions,
    hooks: { onError: (e) => void errors.push(e) },
  });
  const { managers, connections } = pool;
  await Promise.all(managers.map((m) => m.start()));
  await waitForSettled(managers, partitions);
  const jsm = await jetstreamManager(connections[0]!);
  const streamExists = async (name: string) => {
    try {
      await jsm.streams.info(name);
      return true;
    } catch {
      return false;
    }
  };
  for (const bucket of ["hb", "assign", "leader", "ids"]) {
    const stream = `KV_parti_gone_${bucket}`;
    await jsm.streams.delete(stream);
    // Recreated by the pool (a concurrent recreation after an earlier deletion may beat the
    // report of this one), and the pool back to full coverage before the next deletion.
    await waitFor(() => streamExists(stream), {
      timeoutMs: 10_000,
      message: `${bucket} recreated`,
    });
    // Recovered means republished too: workers keep showing what they held, so coverage alone
    // would not notice a leader that never writes its assignment into the new bucket.
    await waitFor(
      async () =>
        fullyCovered(managers, partitions) &&
        managers.filter((m) => m.isLeader).length === 1 &&
        (await managers[0]!.getAssignments().catch(() => new Map())).size > 0,
      { timeoutMs: 15_000, message: `pool recovered after deleting ${bucket}` },
    );
  }
  const reported = errors.filter((e) => (e as { code?: string }).code === "BUCKET_NOT_FOUND");
  assert.ok(reported.length > 0, "deleted buckets are reported as BUCKET_NOT_FOUND");
  // After the dust settles: one leader, full coverage, no duplicates, no crashed worker.
  const partitionsAfter = partitions;
  await waitFor(
    () =>
      managers.every((m) => m.state !== "shutdown") &&
      fullyCovered(managers, partitionsAfter) &&
      managers.filter((m) => m.isLeader).length === 1,
    { timeoutMs: 20_000, message: "pool recovered" },
  );
  assert.deepEqual(duplicates(managers), []);
});

Deno.test("a nats-server restart under a running pool keeps coverage without duplicate owners", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(30);
  await using pool = await natsPool(server.url, 3, { group: "restart", source: partitions });
  const { managers } = pool;
  let doubles = 0;
  const probe = setInterval(() => (doubles += duplicates(managers).length), 5);
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitForSettled(managers, partitions);
    await server.kill();
    await server.restart();
    await waitFor(
      () =>
        managers.every((m) => m.state !== "shutdown") && fullyCovered(managers, partitions) &&
        managers.filter((m) => m.isLeader).length === 1,
      { timeoutMs: 20_000, message: "pool covered after restart" },
    );
    assert.equal(doubles, 0, "no partition had two owners at any sampled instant");
  } finally {
    clearInterval(probe);
  }
});

Deno.test("skewed clocks have no effect: timing uses only local monotonic differences", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(30);
  const offsets = [0, 3_600_000, -86_400_000];
  await using pool = await natsPool(server.url, offsets.length, (i) => {
    const clock: Clock = { now: () => performance.now() + offsets[i]! };
    return { group: "skew", source: partitions, clock };
  });
  const { managers } = pool;
  await Promise.all(managers.map((m) => m.start()));
  await waitForSettled(managers, partitions);
  // Observation window (not synchronisation): over three leases nothing may change, no
  // spurious takeover, death or rebalance, whatever the offsets between the clocks.
  const version = Math.max(...managers.map((m) => m.assignment.version));
  const leader = managers.find((m) => m.isLeader);
  const lease = presets.fastTest.electionLeaseMs!;
  await new Promise((resolve) => setTimeout(resolve, 3 * lease));
  assert.equal(managers.find((m) => m.isLeader), leader);
  assert.equal(Math.max(...managers.map((m) => m.assignment.version)), version);
  // And a crash is still detected on time by a skewed leader.
  const victim = managers.find((m) => !m.isLeader)!;
  await victim.stop();
  await waitForSettled(managers.filter((m) => m !== victim), partitions);
});

Deno.test("an outage longer than the TTLs: workers fence themselves, then the pool recovers", async () => {
  await using server = await NatsServer.start();
  const partitions = makePartitions(30);
  await using pool = await natsPool(server.url, 3, { group: "outage", source: partitions });
  const { managers } = pool;
  let doubles = 0;
  const probe = setInterval(() => (doubles += duplicates(managers).length), 5);
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitForSettled(managers, partitions);
    const ids = managers.map((m) => m.workerId);
    await server.kill();
    // Every worker fences itself on its own clock. The deadline (heartbeatTtlMs −
    // heartbeatIntervalMs after the last successful heartbeat, found by a fence check every
    // heartbeatIntervalMs / 4) is decided exactly on a fake clock in
    // tests/unit/manager_clock_test.ts: "a worker cut off from the store fences itself at the
    // fence deadline, before the leader declares it dead, and only its partitions move after
    // heartbeatTtlMs + emergencyGraceMs". Here only that it happens against a real server; the
    // timeout is a deadline for the wait, not a bound under test.
    await waitFor(() => managers.every((m) => m.assignment.partitions.length === 0), {
      timeoutMs: 10_000,
      message: "all workers fenced",
    });
    assert.ok(managers.every((m) => m.state === "degraded"));
    await server.restart();
    await waitForSettled(managers, partitions, 20_000);
    assert.deepEqual(
      managers.map((m) => m.workerId),
      ids,
      "IDs survive an outage shorter than their TTL",
    );
    assert.equal(doubles, 0);
  } finally {
    clearInterval(probe);
  }
});
