/**
 * `partitionedConsumer()` against a real nats-server 2.9 (free port, temporary store): managers
 * with `presets.fastTest` timings own 8 partitions of an `ORDERS` stream (`orders.<i>`), and the
 * consumer reads each owned partition from its own durable. Covered: exactly-once handling across
 * a pool, hand-over at the ack floor with no two workers handling a partition at overlapping
 * times, per-partition order, naks on a throw and on a timeout (counted and reported), `stop()`
 * draining, no consumer for an empty assignment, option validation, and version detection.
 */
import { PrometheusRegistry } from "../../src/observability/metrics_mod.ts";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import {
  Manager,
  memoryStore,
  type Partition,
  presets,
  recommendedConnectionOptions,
  type StrategyFunction,
} from "../../mod.ts";
import {
  type ConsumerManager,
  type MessageHandler,
  type PartitionedConsumer,
  partitionedConsumer,
  PartitionedConsumerError,
  type PartitionedConsumerOptions,
} from "../../src/jetstream/mod.ts";
import { supportsMultipleFilters } from "../../src/jetstream/server_version.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";

const STREAM = "ORDERS";
const PARTITION_COUNT = 8;
const partitions: Partition[] = Array.from(
  { length: PARTITION_COUNT },
  (_, i) => ({ keys: ["orders", String(i)] }),
);

/** The body of every test message: its partition and its index within the partition. */
interface Body {
  readonly p: number;
  readonly i: number;
}

/** One handler run, as a worker saw it. */
interface Run {
  readonly worker: string;
  readonly partition: string;
  readonly i: number;
  readonly seq: number;
  readonly deliveryCount: number;
  readonly enter: number;
  exit: number;
}

function connectTo(url: string): Promise<NatsConnection> {
  return connect({ servers: url, ...recommendedConnectionOptions });
}

async function createStream(nc: NatsConnection): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: ["orders.>"] });
  return jsm;
}

/** Publishes `perPartition` messages to each of the first `count` partitions, interleaved. */
async function publish(
  nc: NatsConnection,
  perPartition: number,
  options: { from?: number; count?: number } = {},
): Promise<void> {
  const { from = 0, count = PARTITION_COUNT } = options;
  const js = jetstream(nc);
  for (let i = from; i < from + perPartition; i++) {
    await Promise.all(
      Array.from({ length: count }, (_, p) => js.publish(`orders.${p}`, JSON.stringify({ p, i }))),
    );
  }
}

const body = (data: { json<T>(): T }): Body => data.json<Body>();

/** The options every test shares; `handle` and limits are the test's. */
function consumerOptions(
  nc: NatsConnection,
  handle: MessageHandler,
  extra: Partial<PartitionedConsumerOptions> = {},
): PartitionedConsumerOptions {
  return {
    connection: nc,
    stream: STREAM,
    subject: "orders.{1}",
    durable: "orders-{1}",
    handle,
    ...extra,
  };
}

/** A worker: its own connection, a manager over the server's KV and a consumer on it. */
interface Worker extends AsyncDisposable {
  readonly name: string;
  readonly nc: NatsConnection;
  readonly manager: Manager;
  readonly consumer: PartitionedConsumer;
  readonly errors: Error[];
}

async function startWorker(
  url: string,
  name: string,
  group: string,
  makeOptions: (nc: NatsConnection, name: string) => PartitionedConsumerOptions,
  source: readonly Partition[] = partitions,
  strategy?: StrategyFunction,
): Promise<Worker> {
  const nc = await connectTo(url);
  const errors: Error[] = [];
  const manager = new Manager({
    ...presets.fastTest,
    connection: nc,
    group,
    source: [...source],
    hooks: { onError: (error) => void errors.push(error) },
    ...(strategy ? { strategy } : {}),
  });
  const consumer = partitionedConsumer(manager, makeOptions(nc, name));
  await manager.start();
  return {
    name,
    nc,
    manager,
    consumer,
    errors,
    async [Symbol.asyncDispose]() {
      await manager.stop();
      await consumer.closed;
      await nc.close();
    },
  };
}

/** A handler that records each run of each worker (enter and exit times). */
function recorder(runs: Run[], work: (run: Run) => Promise<void> | void = () => {}) {
  return (worker: string): MessageHandler => async (msg, { partition }) => {
    const { i } = body(msg);
    const run: Run = {
      worker,
      partition: partition.keys.join("/"),
      i,
      seq: msg.seq,
      deliveryCount: msg.info.deliveryCount,
      enter: performance.now(),
      exit: Number.NaN,
    };
    runs.push(run);
    try {
      await work(run);
    } finally {
      run.exit = performance.now();
    }
  };
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Every durable's state on the server. */
async function durables(jsm: JetStreamManager) {
  const list = [];
  for await (const ci of jsm.consumers.list(STREAM)) list.push(ci);
  return list.sort((a, b) => a.name.localeCompare(b.name));
}

/** Asserts that every (partition, i) below `perPartition` was handled exactly once. */
function assertExactlyOnce(runs: readonly Run[], perPartition: number): void {
  const seen = new Map<string, number>();
  for (const r of runs) {
    seen.set(`${r.partition}#${r.i}`, (seen.get(`${r.partition}#${r.i}`) ?? 0) + 1);
  }
  const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  assert.deepEqual(twice, [], "no message is handled twice");
  assert.equal(seen.size, PARTITION_COUNT * perPartition, "every message is handled");
}

/** Asserts that within each partition, runs (by enter time) have increasing `i` and never overlap. */
function assertOrderedWithoutOverlap(runs: readonly Run[]): void {
  const byPartition = Map.groupBy(runs, (r) => r.partition);
  for (const [partition, list] of byPartition) {
    const sorted = [...list].sort((a, b) => a.enter - b.enter);
    for (let k = 1; k < sorted.length; k++) {
      const prev = sorted[k - 1]!;
      const next = sorted[k]!;
      assert.ok(
        next.enter >= prev.exit,
        `${partition}: run of #${next.i} on ${next.worker} began at ${next.enter.toFixed(1)} ` +
          `before #${prev.i} on ${prev.worker} ended at ${prev.exit.toFixed(1)}`,
      );
      assert.ok(next.i > prev.i, `${partition}: #${next.i} was handled after #${prev.i}`);
    }
  }
}

// -----------------------------------------------------------------------------------------------

Deno.test("every message published to 8 partitions is handled exactly once by a pool of three managers, and acked", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  try {
    const jsm = await createStream(admin);
    const runs: Run[] = [];
    const handler = recorder(runs);
    const make = (nc: NatsConnection, name: string) => consumerOptions(nc, handler(name));
    await publish(admin, 50);
    const workers: Worker[] = [];
    try {
      // One worker starts alone and consumes; two more join while messages keep coming.
      workers.push(await startWorker(server.url, "a", "pool", make));
      await waitFor(() => runs.length >= 50, {
        timeoutMs: 10_000,
        message: "first worker consuming",
      });
      const joining = Promise.all([
        startWorker(server.url, "b", "pool", make),
        startWorker(server.url, "c", "pool", make),
      ]);
      await publish(admin, 50, { from: 50 });
      workers.push(...await joining);
      await publish(admin, 50, { from: 100 });
      await waitFor(() => runs.length >= PARTITION_COUNT * 150, {
        timeoutMs: 20_000,
        message: "every message handled",
      });
      assertExactlyOnce(runs, 150);
      assert.ok(new Set(runs.map((r) => r.worker)).size >= 2, "the pool shared the work");
      // Acked: nothing pending or unacknowledged on any durable.
      await waitFor(async () => {
        const list = await durables(jsm);
        return list.length === PARTITION_COUNT &&
          list.every((ci) => ci.num_pending === 0 && ci.num_ack_pending === 0);
      }, { timeoutMs: 5_000, message: "every durable fully acked" });
      const handled = workers.reduce((n, w) => n + w.consumer.stats().totals.handled, 0);
      assert.equal(handled, PARTITION_COUNT * 150, "stats count every ack");
      const unexpected = workers.flatMap((w) => w.errors)
        .filter((e) => !(e instanceof PartitionedConsumerError && e.code === "REDELIVERED"));
      assert.deepEqual(unexpected.map((e) => e.message), []);
    } finally {
      for (const w of workers) await w[Symbol.asyncDispose]();
    }
    // The manager's stop ended each consumer.
    await Promise.all(workers.map((w) => w.consumer.closed));
  } finally {
    await admin.close();
  }
});

Deno.test("a partition moved to a new worker resumes from the ack floor, with no loss and no two workers handling it at overlapping times", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  try {
    const jsm = await createStream(admin);
    const runs: Run[] = [];
    // Slow enough that every partition is mid-stream when it moves.
    const handler = recorder(runs, () => delay(5));
    const make = (nc: NatsConnection, name: string) => consumerOptions(nc, handler(name));
    await publish(admin, 120);
    await using a = await startWorker(server.url, "a", "move", make);
    await waitFor(() => runs.length >= 100, { timeoutMs: 10_000, message: "worker a consuming" });
    await using b = await startWorker(server.url, "b", "move", make);
    await waitFor(() => b.manager.assignment.partitions.length > 0, {
      timeoutMs: 10_000,
      message: "worker b owns partitions",
    });
    await waitFor(() => runs.filter((r) => r.exit >= 0).length >= PARTITION_COUNT * 120, {
      timeoutMs: 20_000,
      message: "every message handled",
    });
    assertExactlyOnce(runs, 120);
    assertOrderedWithoutOverlap(runs);
    const moved = [...Map.groupBy(runs, (r) => r.partition)]
      .filter(([, list]) => new Set(list.map((r) => r.worker)).size === 2);
    assert.ok(moved.length > 0, "at least one partition moved from a to b mid-stream");
    for (const [partition, list] of moved) {
      const sorted = [...list].sort((x, y) => x.enter - y.enter);
      const firstOnB = sorted.findIndex((r) => r.worker === "b");
      // b resumed exactly after a's last handled message: nothing replayed, nothing skipped.
      assert.ok(firstOnB > 0, `${partition} was handled by a first`);
      assert.equal(
        sorted[firstOnB]!.i,
        sorted[firstOnB - 1]!.i + 1,
        `${partition} resumed at the floor`,
      );
      assert.ok(sorted.slice(firstOnB).every((r) => r.worker === "b"), `${partition} stayed on b`);
    }
    // Each ack goes out after its handler returned: wait for the server to have them all.
    await waitFor(
      async () =>
        (await durables(jsm)).every((ci) => ci.num_ack_pending === 0 && ci.num_pending === 0),
      { message: "every message acked on the server" },
    );
    assert.deepEqual(
      [...a.errors, ...b.errors].filter((e) =>
        !(e instanceof PartitionedConsumerError && e.code === "REDELIVERED")
      ),
      [],
    );
  } finally {
    await admin.close();
  }
});

Deno.test("per-partition order holds with the default concurrency, one handler per partition at a time", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  try {
    await createStream(admin);
    await publish(admin, 100);
    const runs: Run[] = [];
    const running = new Map<string, number>();
    let maxPerPartition = 0;
    let maxTotal = 0;
    const handler = recorder(runs, async (run) => {
      running.set(run.partition, (running.get(run.partition) ?? 0) + 1);
      maxPerPartition = Math.max(maxPerPartition, running.get(run.partition)!);
      maxTotal = Math.max(maxTotal, [...running.values()].reduce((a, b) => a + b, 0));
      await delay(Math.random() * 3);
      running.set(run.partition, running.get(run.partition)! - 1);
    });
    await using _w = await startWorker(
      server.url,
      "a",
      "order",
      (nc, name) => consumerOptions(nc, handler(name), { maxInFlight: 4 }),
    );
    await waitFor(() => runs.length >= PARTITION_COUNT * 100 && runs.every((r) => r.exit >= 0), {
      timeoutMs: 20_000,
      message: "every message handled",
    });
    assertExactlyOnce(runs, 100);
    assertOrderedWithoutOverlap(runs);
    assert.equal(maxPerPartition, 1, "one handler per partition at a time");
    assert.ok(maxTotal <= 4, `maxInFlight bounds the total (saw ${maxTotal})`);
  } finally {
    await admin.close();
  }
});

Deno.test("maxInFlightPerPartition opts into concurrent handlers within a partition, still bounded by maxInFlight", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  try {
    const jsm = await createStream(admin);
    await publish(admin, 20, { count: 2 });
    let running = 0;
    let maxRunning = 0;
    let handled = 0;
    const source = partitions.slice(0, 2);
    await using _w = await startWorker(
      server.url,
      "a",
      "wide",
      (nc) =>
        consumerOptions(nc, async () => {
          maxRunning = Math.max(maxRunning, ++running);
          await delay(20);
          running--;
          handled++;
        }, { maxInFlight: 6, maxInFlightPerPartition: 4 }),
      source,
    );
    await waitFor(() => handled === 40, { timeoutMs: 10_000, message: "every message handled" });
    assert.ok(
      maxRunning > 2,
      `more than one handler per partition ran at once (saw ${maxRunning})`,
    );
    assert.ok(maxRunning <= 6, `maxInFlight bounds the total (saw ${maxRunning})`);
    const list = await durables(jsm);
    assert.deepEqual(list.map((ci) => ci.config.max_ack_pending), [4, 4]);
  } finally {
    await admin.close();
  }
});

Deno.test("a handler that throws gets its message nak'd and redelivered, counted in stats and metrics and reported to onError", async () => {
  await using server = await NatsServer.start();
  const registry = new PrometheusRegistry();
  const admin = await connectTo(server.url);
  try {
    await createStream(admin);
    await publish(admin, 10);
    const runs: Run[] = [];
    const boom = new Error("payment service said no");
    const handler = recorder(runs, (run) => {
      if (run.partition === "orders/2" && run.i === 3 && run.deliveryCount === 1) throw boom;
    });
    await using w = await startWorker(
      server.url,
      "a",
      "throws",
      (nc, name) => consumerOptions(nc, handler(name), { retryDelayMs: 50, metrics: registry }),
    );
    await waitFor(() => w.consumer.stats().totals.handled === PARTITION_COUNT * 10, {
      timeoutMs: 10_000,
      message: "every message handled",
    });
    // The same counts as series, per partition, with the stream and the worker as labels.
    const exposition = registry.render();
    const value = (metric: string, partition: string) => {
      const line = exposition.split("\n").find((l) =>
        l.startsWith(`${metric}{`) && l.includes(`partition="${partition}"`)
      );
      assert.ok(
        line?.includes(`stream="ORDERS"`) && line.includes(`worker="${w.manager.workerId}"`),
      );
      return Number(line!.split(" ").at(-1));
    };
    assert.equal(value("parti_consumer_messages_handled_total", "orders/2"), 10);
    assert.equal(value("parti_consumer_messages_nacked_total", "orders/2"), 1);
    assert.equal(value("parti_consumer_messages_redelivered_total", "orders/2"), 1);
    assert.equal(value("parti_consumer_in_flight", "orders/2"), 0);
    assert.equal(value("parti_consumer_messages_handled_total", "orders/0"), 10);
    const attempts = runs.filter((r) => r.partition === "orders/2" && r.i === 3);
    assert.deepEqual(
      attempts.map((r) => r.deliveryCount),
      [1, 2],
      "redelivered once after the throw",
    );
    // Still in order: #4 only after the redelivered #3 succeeded.
    assertOrderedWithoutOverlap(
      runs.filter((r) => !(r.partition === "orders/2" && r.i === 3 && r.deliveryCount === 1)),
    );
    const stats = w.consumer.stats();
    assert.deepEqual(stats.partitions["orders/2"], {
      handled: 10,
      redelivered: 1,
      nacked: 1,
      inFlight: 0,
    });
    assert.deepEqual(stats.totals, { handled: 80, redelivered: 1, nacked: 1, inFlight: 0 });
    await waitFor(() => w.errors.length >= 2, { message: "errors reported" });
    const failed = w.errors.find((e) =>
      e instanceof PartitionedConsumerError && e.code === "HANDLER_FAILED"
    );
    assert.ok(failed instanceof PartitionedConsumerError);
    assert.equal(failed.partition, "orders/2");
    assert.equal(failed.cause, boom);
    assert.equal(failed.streamSequence, attempts[0]!.seq);
    assert.equal(failed.deliveryCount, 1);
    const redelivered = w.errors.find((e) =>
      e instanceof PartitionedConsumerError && e.code === "REDELIVERED"
    );
    assert.ok(redelivered instanceof PartitionedConsumerError);
    assert.equal(redelivered.deliveryCount, 2);
    assert.equal(w.errors.length, 2, w.errors.map((e) => e.message).join("; "));
  } finally {
    await admin.close();
  }
});

Deno.test("a handler slower than handlerTimeoutMs is nak'd and reported, and the redelivery waits until it returns", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  try {
    await createStream(admin);
    await publish(admin, 3, { count: 1 });
    const runs: Run[] = [];
    let abortedReason: unknown;
    const handler = recorder(runs);
    await using w = await startWorker(
      server.url,
      "a",
      "slow",
      (nc, name) =>
        consumerOptions(nc, async (msg, ctx) => {
          const { i } = body(msg);
          if (i === 1 && msg.info.deliveryCount === 1) {
            // Ignores the timeout for a while, then notices the signal.
            await delay(600);
            abortedReason = ctx.signal.reason;
          }
          await handler(name)(msg, ctx);
        }, { handlerTimeoutMs: 200, retryDelayMs: 0 }),
      partitions.slice(0, 1),
    );
    await waitFor(() => w.consumer.stats().totals.handled === 3, {
      timeoutMs: 10_000,
      message: "every message handled",
    });
    const stats = w.consumer.stats().partitions["orders/0"];
    assert.deepEqual(stats, { handled: 3, redelivered: 1, nacked: 1, inFlight: 0 });
    assert.ok(abortedReason instanceof PartitionedConsumerError);
    assert.equal(abortedReason.code, "HANDLER_TIMEOUT");
    await waitFor(() =>
      w.errors.some((e) => e instanceof PartitionedConsumerError && e.code === "HANDLER_TIMEOUT")
    );
    // Both runs of #1 recorded their work; the redelivered one began after the slow one returned.
    const ones = runs.filter((r) => r.i === 1);
    assert.deepEqual(ones.map((r) => r.deliveryCount), [1, 2]);
    assert.ok(ones[1]!.enter >= ones[0]!.exit, "the redelivery did not overlap the timed-out run");
    assert.deepEqual(runs.map((r) => r.i), [0, 1, 1, 2]);
  } finally {
    await admin.close();
  }
});

Deno.test("stop() lets in-flight handlers finish and acks them before resolving", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  try {
    const jsm = await createStream(admin);
    await publish(admin, 5, { count: 1 });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered = 0;
    let exitedAt = Number.NaN;
    await using w = await startWorker(
      server.url,
      "a",
      "stop",
      (nc) =>
        consumerOptions(nc, async () => {
          entered++;
          await gate;
          exitedAt = performance.now();
        }),
      partitions.slice(0, 1),
    );
    await waitFor(() => entered === 1, { message: "a handler in flight" });
    assert.equal(w.consumer.stats().totals.inFlight, 1);
    const stopped = w.consumer.stop().then(() => performance.now());
    setTimeout(release, 200);
    const stoppedAt = await stopped;
    assert.ok(stoppedAt >= exitedAt, "stop() resolved after the handler returned");
    assert.equal(entered, 1, "no handler started after stop()");
    await w.consumer.closed;
    assert.deepEqual(w.consumer.stats().totals, {
      handled: 1,
      redelivered: 0,
      nacked: 0,
      inFlight: 0,
    });
    const [ci] = await durables(jsm);
    assert.equal(ci!.ack_floor.stream_seq, 1, "the finished message was acked");
    assert.equal(ci!.num_ack_pending, 0, "nothing is left unacknowledged");
    assert.equal(ci!.num_pending, 4);
    assert.equal(w.manager.state, "stable", "the manager keeps running");
  } finally {
    await admin.close();
  }
});

Deno.test("an empty assignment creates no consumer on the stream", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  try {
    const jsm = await createStream(admin);
    const make = (nc: NatsConnection) => consumerOptions(nc, () => {});
    // A group with no partitions at all.
    await using none = await startWorker(server.url, "a", "empty", make, []);
    assert.equal(none.manager.assignment.partitions.length, 0);
    assert.deepEqual(none.consumer.stats(), {
      partitions: {},
      totals: { handled: 0, redelivered: 0, nacked: 0, inFlight: 0 },
    });
    assert.deepEqual(await durables(jsm), []);
    // A group of two with one partition that a strategy keeps on worker-0: only it has a durable.
    const onFirst: StrategyFunction = ({ workers, partitions }) =>
      partitions.map(() => workers.includes("worker-0") ? "worker-0" : workers[0]!);
    const one = partitions.slice(0, 1);
    await using owner = await startWorker(server.url, "b", "one", make, one, onFirst);
    assert.equal(owner.manager.workerId, "worker-0");
    await using idle = await startWorker(server.url, "c", "one", make, one, onFirst);
    assert.equal(idle.manager.workerId, "worker-1");
    await waitFor(async () => (await durables(jsm)).length === 1, {
      message: "the owner's durable",
    });
    const list = await durables(jsm);
    assert.deepEqual(list.map((ci) => [ci.name, ci.config.filter_subject]), [[
      "orders-0",
      "orders.0",
    ]]);
    assert.equal(idle.manager.assignment.partitions.length, 0);
    assert.deepEqual(idle.consumer.stats().partitions, {});
  } finally {
    await admin.close();
  }
});

Deno.test("a placeholder a partition has no key for is reported at first use, naming the partition", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  try {
    const jsm = await createStream(admin);
    await using w = await startWorker(
      server.url,
      "a",
      "template",
      (nc) => consumerOptions(nc, () => {}, { subject: "orders.{2}" }),
      partitions.slice(0, 1),
    );
    const error = await waitFor(() => w.errors.find((e) => e instanceof RangeError));
    assert.match(error.message, /'orders\/0'/);
    assert.match(error.message, /'subject' \('orders\.\{2\}'\)/);
    assert.match(error.message, /needs 3 keys, the partition has 2/);
    assert.deepEqual(await durables(jsm), []);
  } finally {
    await admin.close();
  }
});

Deno.test("options are validated before anything reaches the server, naming the option", async () => {
  const manager = new Manager({
    ...presets.fastTest,
    store: memoryStore(),
    group: "v",
    source: [],
  });
  const connection = { subscribe: () => {} } as unknown as NatsConnection;
  const valid = consumerOptions(connection, () => {});
  const cases: Array<
    [Partial<Record<keyof PartitionedConsumerOptions, unknown>>, ErrorConstructor, RegExp]
  > = [
    [{ connection: undefined }, TypeError, /'connection'/],
    [{ stream: "" }, TypeError, /'stream'/],
    [{ stream: "ORD.ERS" }, RangeError, /'stream': 'ORD\.ERS'/],
    [{ metrics: {} }, TypeError, /'metrics'/],
    [{ subject: 42 }, TypeError, /'subject'/],
    [{ subject: "orders.all" }, RangeError, /'subject': 'orders\.all' has no placeholder/],
    [{ subject: "orders.{id}" }, TypeError, /'subject': 'orders\.\{id\}' has a placeholder/],
    [{ durable: undefined }, TypeError, /'durable'/],
    [{ handle: "nope" }, TypeError, /'handle'/],
    [{ maxInFlight: 0 }, RangeError, /'maxInFlight': must be an integer >= 1, got '0'/],
    [{ maxInFlight: 1.5 }, RangeError, /'maxInFlight'/],
    [{ maxInFlight: "64" }, TypeError, /'maxInFlight': must be a number/],
    [
      { maxInFlight: 2, maxInFlightPerPartition: 3 },
      RangeError,
      /'maxInFlightPerPartition': 3 is more than maxInFlight \(2\)/,
    ],
    [{ handlerTimeoutMs: -1 }, RangeError, /'handlerTimeoutMs'/],
    [{ retryDelayMs: Number.NaN }, RangeError, /'retryDelayMs'/],
    [{ ackWaitMs: 10 }, RangeError, /'ackWaitMs': must be an integer >= 1000/],
    [{ pullExpiresMs: 500 }, RangeError, /'pullExpiresMs': must be an integer >= 1000/],
    [{ signal: "stop" }, TypeError, /'signal'/],
  ];
  for (const [override, type, message] of cases) {
    const options = { ...valid, ...override } as PartitionedConsumerOptions;
    assert.throws(() => partitionedConsumer(manager, options), (e: unknown) => {
      assert.ok(e instanceof type, `${JSON.stringify(override)} throws a ${type.name}, got ${e}`);
      assert.match((e as Error).message, message);
      return true;
    });
  }
  assert.throws(() => partitionedConsumer({} as Manager, valid), TypeError);
  assert.throws(
    () => partitionedConsumer(manager, undefined as unknown as PartitionedConsumerOptions),
    TypeError,
  );
  await manager.stop();
});

Deno.test("multi-filter support is detected from the server version, and 2.9 runs one durable per partition", async () => {
  assert.equal(supportsMultipleFilters("2.9.10"), false);
  assert.equal(supportsMultipleFilters("2.10.0"), true);
  assert.equal(supportsMultipleFilters("2.11.3-beta.2"), true);
  assert.equal(supportsMultipleFilters("v3.0.0"), true);
  assert.equal(supportsMultipleFilters("1.99.0"), false);
  assert.equal(supportsMultipleFilters(undefined), false);
  assert.equal(supportsMultipleFilters("dev"), false);

  await using server = await NatsServer.start();
  const nc = await connectTo(server.url);
  try {
    const manager = new Manager({
      ...presets.fastTest,
      store: memoryStore(),
      group: "m",
      source: [],
    });
    await using consumer = partitionedConsumer(manager, consumerOptions(nc, () => {}));
    assert.equal(consumer.multiFilterSupported, supportsMultipleFilters(nc.info?.version));
    if (nc.info?.version.startsWith("2.9.")) assert.equal(consumer.multiFilterSupported, false);
    assert.equal(consumer.mode, "durablePerPartition");
    await manager.stop();
    await consumer.closed;
  } finally {
    await nc.close();
  }
});

Deno.test("each running partition's handled messages per second go to the manager as its load every reportLoadEveryMs", async () => {
  await using server = await NatsServer.start();
  const admin = await connectTo(server.url);
  const nc = await connectTo(server.url);
  const manager = new Manager({
    ...presets.fastTest,
    connection: nc,
    group: "load",
    source: partitions.slice(0, 2),
  });
  const reports: [string, number][] = [];
  // The manager as the consumer sees it, recording what reaches reportLoad.
  const observed: ConsumerManager = {
    subscribe: (hooks) => manager.subscribe(hooks),
    get state() {
      return manager.state;
    },
    get workerId() {
      return manager.workerId;
    },
    fencingToken: (id) => manager.fencingToken(id),
    reportLoad: (id, value) => {
      reports.push([id, value]);
      manager.reportLoad(id, value);
    },
  };
  const handled: number[] = [];
  const consumer = partitionedConsumer(
    observed,
    consumerOptions(nc, (msg) => void handled.push(body(msg).i), { reportLoadEveryMs: 100 }),
  );
  try {
    await createStream(admin);
    await manager.start();
    // Both partitions run and have had a first (zero) report; then traffic on orders.0 only.
    await waitFor(() => ["orders/0", "orders/1"].every((p) => reports.some(([id]) => id === p)), {
      message: "a report for each running partition",
    });
    await publish(admin, 30, { count: 1 });
    await waitFor(() => handled.length === 30, { message: "30 messages handled" });
    await waitFor(() => reports.some(([id, v]) => id === "orders/0" && v > 0), {
      message: "a positive rate for the busy partition",
    });
    assert.ok(reports.filter(([id]) => id === "orders/1").every(([, v]) => v === 0), "idle: 0/s");
    assert.ok(reports.every(([, v]) => Number.isFinite(v) && v >= 0));
  } finally {
    await manager.stop();
    await consumer.closed;
    await nc.close();
    await admin.close();
  }
});
