/**
 * A Kafka-style ordered consumer with `partitionedConsumer()`: a producer publishes orders to a
 * JetStream stream `ORDERS` (subject `orders.<n>`, one partition per subject), and a pool of
 * workers — each its own Manager and connection, all in this process — consumes them, each
 * partition by one worker at a time, in order. Every handler applies its order to a downstream
 * "database", the KV bucket `orders_db`, with compare-and-set on the partition's row, guarded by
 * the fencing token: the row keeps the highest token (epoch, version) it has seen, and a write
 * that carries a lower token is rejected, because it comes from an owner that has since been
 * replaced. Halfway through, one more worker joins, so partitions move while orders keep coming
 * (a planned move: the old owner drains before the new one starts). Afterwards every worker that
 * lost a partition in that move deliberately tries a late write with its old token, as a process
 * that stalled through its revoke would; the database must reject each one. It prints what each
 * worker handled and a `RESULT` line: orders produced and handled, whether each partition's
 * orders were applied in order, duplicates, and the late writes rejected (and accepted: none).
 *
 * Run: `deno run -A examples/jetstream_orders.ts [--nats nats://127.0.0.1:4222]
 * [--partitions 8] [--orders 60] [--workers 3] [--rate 400]` (`--orders` per partition, `--rate`
 * orders per second). Without `--nats` it starts a local `nats-server` (it must be installed).
 * It deletes and recreates the stream `ORDERS` and the bucket `orders_db`.
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import {
  type FencingToken,
  Manager,
  type Partition,
  presets,
  recommendedConnectionOptions,
} from "../mod.ts";
import {
  type PartitionedConsumer,
  partitionedConsumer,
  PartitionedConsumerError,
} from "../src/jetstream/mod.ts";
import { NatsServer, waitFor } from "../testing/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string" },
    partitions: { type: "string", default: "8" },
    orders: { type: "string", default: "60" },
    workers: { type: "string", default: "3" },
    rate: { type: "string", default: "400" },
  },
});
const partitionCount = positiveInt("partitions", values.partitions);
const perPartition = positiveInt("orders", values.orders);
const workerCount = positiveInt("workers", values.workers, 2);
const rate = positiveInt("rate", values.rate);

const STREAM = "ORDERS";
const BUCKET = "orders_db";
const GROUP = "jetstream-orders";
const partitions: Partition[] = Array.from(
  { length: partitionCount },
  (_, i) => ({ keys: ["orders", String(i)] }),
);

/** An order as published: its partition and its number within the partition (1, 2, …). */
interface Order {
  readonly p: number;
  readonly n: number;
}

/** A partition's row in the database: the highest token seen and the last order applied. */
interface Row {
  readonly epoch: number;
  readonly version: number;
  readonly lastOrder: number;
  readonly applied: number;
  readonly writer: string;
}

/** How a database write ended. */
type WriteOutcome = "applied" | "duplicate" | "stale";

/** Orders by token: negative when `a` is older than `b`. */
function compareTokens(a: FencingToken, b: FencingToken): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.version - b.version;
}

/**
 * The downstream database: one row per partition in a KV bucket, each write a compare-and-set on
 * the row's revision, and the fencing token checked against the row before anything is applied.
 */
class OrdersDb {
  readonly #kv: KV;
  /** Every accepted write, to audit afterwards that no row ever went back to an older token. */
  readonly accepted: { key: string; revision: number; token: FencingToken }[] = [];
  outOfOrder = 0;
  casRetries = 0;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  static key(p: number): string {
    return `partition.${p}`;
  }

  /**
   * Applies order `n` of partition `p` under `token` as `writer`, or rejects it: `"stale"` when
   * the row has seen a newer token, `"duplicate"` when the row already holds order `n`.
   */
  async write(order: Order, token: FencingToken, writer: string): Promise<WriteOutcome> {
    const key = OrdersDb.key(order.p);
    while (true) {
      const entry = await this.#kv.get(key);
      const row = entry?.operation === "PUT" ? entry.json<Row>() : undefined;
      if (row && compareTokens(token, row) < 0) return "stale";
      const last = row?.lastOrder ?? 0;
      if (order.n <= last) return "duplicate";
      if (order.n !== last + 1) this.outOfOrder++;
      const next: Row = {
        epoch: token.epoch,
        version: token.version,
        lastOrder: order.n,
        applied: (row?.applied ?? 0) + 1,
        writer,
      };
      try {
        const revision = entry
          ? await this.#kv.update(key, JSON.stringify(next), entry.revision)
          : await this.#kv.create(key, JSON.stringify(next));
        this.accepted.push({ key, revision, token });
        return "applied";
      } catch (error) {
        // Someone wrote the row between our read and our write: read it again and re-decide.
        if (error instanceof JetStreamApiError && error.code === 10071) {
          this.casRetries++;
          continue;
        }
        throw error;
      }
    }
  }

  /** The row of partition `p`, if written. */
  async row(p: number): Promise<Row | undefined> {
    const entry = await this.#kv.get(OrdersDb.key(p));
    return entry?.operation === "PUT" ? entry.json<Row>() : undefined;
  }

  /** Accepted writes whose token is older than an earlier accepted write of the same row. */
  staleAccepted(): number {
    const highest = new Map<string, FencingToken>();
    let stale = 0;
    for (const w of [...this.accepted].sort((a, b) => a.revision - b.revision)) {
      const seen = highest.get(w.key);
      if (seen && compareTokens(w.token, seen) < 0) stale++;
      else highest.set(w.key, w.token);
    }
    return stale;
  }
}

/** A partition a worker lost in a planned move, with the token it held and its last order. */
interface Revoked {
  readonly worker: string;
  readonly p: number;
  readonly token: FencingToken;
  readonly lastOrder: number;
}

interface Worker {
  readonly name: string;
  readonly nc: NatsConnection;
  readonly manager: Manager;
  readonly consumer: PartitionedConsumer;
}

const handledBy: Record<string, number> = {};
const revoked: Revoked[] = [];
let duplicates = 0;
let staleInHandlers = 0;
let finishing = false;

async function startWorker(url: string, db: OrdersDb, index: number): Promise<Worker> {
  const name = `w${index}`;
  const nc = await connect({ servers: url, ...recommendedConnectionOptions });
  /** The last order this worker applied, per partition: what a late write of it would carry. */
  const lastApplied = new Map<number, number>();
  const manager = new Manager({
    ...presets.fastTest,
    connection: nc,
    group: GROUP,
    source: partitions,
    hooks: {
      onAssignmentChanged({ removed, removedTokens, reason }) {
        if (reason !== "moved" || finishing) return;
        removed.forEach((partition, i) => {
          const p = Number(partition.keys[1]);
          const lastOrder = lastApplied.get(p);
          // Only a partition this worker had written to can be written to late.
          if (lastOrder !== undefined) {
            revoked.push({ worker: name, p, token: removedTokens[i]!, lastOrder });
          }
        });
      },
      onError(error) {
        const expected = error instanceof PartitionedConsumerError &&
          (error.code === "REDELIVERED" || error.code === "HANDLER_FAILED");
        if (!expected) console.error(`${name}: ${error.message}`);
      },
    },
  });
  const consumer = partitionedConsumer(manager, {
    connection: nc,
    stream: STREAM,
    subject: "orders.{1}",
    durable: "orders-{1}",
    async handle(msg, { token }) {
      const order = msg.json<Order>();
      const outcome = await db.write(order, token, name);
      if (outcome === "stale") {
        // Never ack what the database refused: the partition's current owner gets it instead.
        staleInHandlers++;
        throw new Error(`order ${order.p}/${order.n} carries a stale token; not applied`);
      }
      if (outcome === "duplicate") duplicates++;
      else {
        lastApplied.set(order.p, order.n);
        handledBy[name] = (handledBy[name] ?? 0) + 1;
      }
    },
  });
  await manager.start();
  console.log(`${name} joined as ${manager.workerId}${manager.isLeader ? " (leader)" : ""}`);
  return { name, nc, manager, consumer };
}

async function recreate(jsm: JetStreamManager, stream: string): Promise<void> {
  await jsm.streams.delete(stream).catch((error) => {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) {
      throw error;
    }
  });
}

/**
 * Publishes every order at `rate` per second, round-robin over the partitions. Halfway it starts
 * the last worker; before the last quarter it waits until that worker owns partitions, so every
 * partition that moved gets orders after its move.
 */
async function produce(nc: NatsConnection, join: () => Promise<Worker>): Promise<number> {
  const js = jetstream(nc);
  const total = partitionCount * perPartition;
  let joining: Promise<Worker> | undefined;
  let startedAt = performance.now();
  let published = 0;
  for (let n = 1; n <= perPartition; n++) {
    for (let p = 0; p < partitionCount; p++) {
      if (published === Math.floor(total / 2)) joining = join();
      if (published === Math.floor((3 * total) / 4) && joining) {
        const joined = await joining;
        await waitFor(() => joined.manager.assignment.partitions.length > 0, {
          timeoutMs: 15_000,
          message: `${joined.name} owns partitions`,
        });
        startedAt = performance.now() - (published * 1_000) / rate;
      }
      await js.publish(`orders.${p}`, JSON.stringify({ p, n } satisfies Order), {
        msgID: `${p}-${n}`,
      });
      published++;
      const ahead = startedAt + (published * 1_000) / rate - performance.now();
      if (ahead > 0) await new Promise((r) => setTimeout(r, ahead)); // the producer's pace
    }
  }
  await joining;
  return published;
}

const server = values.nats ? undefined : await NatsServer.start();
const url = values.nats ?? server!.url;
const workers: Worker[] = [];
let producer: NatsConnection | undefined;
try {
  console.log(
    `jetstream orders: ${partitionCount} partitions × ${perPartition} orders, ${workerCount} ` +
      `workers (the last joins halfway), NATS at ${url}`,
  );
  producer = await connect({ servers: url, ...recommendedConnectionOptions });
  const jsm = await jetstreamManager(producer);
  await recreate(jsm, STREAM);
  await recreate(jsm, `KV_${BUCKET}`);
  await jsm.streams.add({ name: STREAM, subjects: ["orders.>"] });
  const db = new OrdersDb(await new Kvm(producer).create(BUCKET, { history: 1 }));

  for (let i = 0; i < workerCount - 1; i++) workers.push(await startWorker(url, db, i));
  // Orders start once the first workers share every partition, so the join moves some mid-stream.
  await waitFor(
    () =>
      workers.every((w) => w.manager.assignment.partitions.length > 0) &&
      workers.reduce((n, w) => n + w.manager.assignment.partitions.length, 0) === partitionCount,
    { timeoutMs: 15_000, message: "the first workers own every partition" },
  );
  const produced = await produce(producer, async () => {
    const worker = await startWorker(url, db, workerCount - 1);
    workers.push(worker);
    return worker;
  });
  await waitFor(async () => {
    const rows = await Promise.all(partitions.map((_, p) => db.row(p)));
    return rows.every((r) => r?.lastOrder === perPartition);
  }, { timeoutMs: 30_000, message: "every order applied" });

  // The late writes: each worker that lost a partition in a planned move writes the order that
  // followed the last one it applied (it had it in hand, say, when it stalled), with the token it
  // held — once the partition's new owner has written with its own, newer token.
  let staleRejected = 0;
  let staleAcceptedLate = 0;
  for (const r of revoked) {
    await waitFor(async () => {
      const row = await db.row(r.p);
      return row !== undefined && compareTokens(row, r.token) > 0;
    }, { timeoutMs: 10_000, message: `partition ${r.p} written by its new owner` });
    const outcome = await db.write({ p: r.p, n: r.lastOrder + 1 }, r.token, r.worker);
    if (outcome === "stale") staleRejected++;
    else staleAcceptedLate++;
    const row = await db.row(r.p);
    console.log(
      `late write by ${r.worker} to partition ${r.p} with its old token ` +
        `(${r.token.epoch}, ${r.token.version}): ` +
        (outcome === "stale"
          ? `rejected, the row holds (${row?.epoch}, ${row?.version}) from ${row?.writer}`
          : `${outcome}, NOT rejected`),
    );
  }

  finishing = true;
  const handled = workers.reduce((n, w) => n + w.consumer.stats().totals.handled, 0);
  const rows = await Promise.all(partitions.map((_, p) => db.row(p)));
  await Promise.all(workers.map((w) => w.manager.stop()));
  for (const [name, n] of Object.entries(handledBy).sort()) console.log(`${name} handled ${n}`);
  const perPartitionOrderOk = db.outOfOrder === 0 &&
    rows.every((r) => r?.lastOrder === perPartition && r.applied === perPartition);
  const result = {
    ordersProduced: produced,
    ordersHandled: handled,
    ordersApplied: rows.reduce((n, r) => n + (r?.applied ?? 0), 0),
    partitions: partitionCount,
    workers: workers.length,
    perWorker: handledBy,
    perPartitionOrderOk,
    outOfOrder: db.outOfOrder,
    duplicates,
    moved: revoked.length,
    lateWrites: staleRejected + staleAcceptedLate,
    staleWritesRejected: staleRejected + staleInHandlers,
    staleWritesAccepted: staleAcceptedLate + db.staleAccepted(),
    casRetries: db.casRetries,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  await Promise.all(workers.map((w) => w.manager.stop().catch(() => {})));
  await Promise.all([...workers.map((w) => w.nc.close()), producer?.close()]);
  await server?.stop();
}

function positiveInt(name: string, text: string | undefined, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} needs an integer of at least ${min}, got '${text}'`);
    Deno.exit(2);
  }
  return n;
}
