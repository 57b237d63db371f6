/**
 * Throughput of `partitionedConsumer()` against a plain JetStream pull consumer, in one run on one
 * real nats-server: N messages are pre-published over 32 subjects `orders.<i>` of one stream; one
 * worker owning all 32 partitions drains them with a no-op handler (every message acked), once
 * with the default one-in-flight-per-partition order and once with 8 per partition, and a plain
 * `consume()` on one durable over `orders.>` (explicit acks, nats.js defaults) drains the same
 * messages. Each reader has its own durables, so each reads all N from the start. Not a
 * `deno bench` file: an end-to-end drain time, printed as a table.
 *
 * Run: deno task bench:jetstream [--messages 50000]
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Manager, presets, recommendedConnectionOptions } from "../mod.ts";
import { partitionedConsumer } from "../src/jetstream/mod.ts";
import { NatsServer, waitFor } from "../testing/mod.ts";

const argValue = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const MESSAGES = argValue("--messages", 50_000);
const PARTITIONS = 32;
const STREAM = "ORDERS";
const partitions = Array.from({ length: PARTITIONS }, (_, i) => ({ keys: ["orders", String(i)] }));

async function prepublish(nc: NatsConnection): Promise<void> {
  const js = jetstream(nc);
  const window = 2_000;
  for (let start = 0; start < MESSAGES; start += window) {
    const end = Math.min(MESSAGES, start + window);
    const acks = [];
    for (let n = start; n < end; n++) {
      acks.push(js.publish(`orders.${n % PARTITIONS}`, JSON.stringify({ n })));
    }
    await Promise.all(acks);
  }
}

/** Drains every message through one worker's partitionedConsumer; returns the seconds taken. */
async function viaPartitionedConsumer(
  url: string,
  group: string,
  maxInFlightPerPartition: number,
): Promise<number> {
  const nc = await connect({ servers: url, ...recommendedConnectionOptions });
  let handled = 0;
  const manager = new Manager({ ...presets.fastTest, connection: nc, group, source: partitions });
  const consumer = partitionedConsumer(manager, {
    connection: nc,
    stream: STREAM,
    subject: "orders.{1}",
    durable: `${group}-{1}`,
    handle: () => void handled++,
    maxInFlight: 64 * maxInFlightPerPartition,
    maxInFlightPerPartition,
  });
  try {
    await manager.start();
    const t0 = performance.now();
    await waitFor(() => handled >= MESSAGES, { timeoutMs: 600_000, intervalMs: 5 });
    const seconds = (performance.now() - t0) / 1000;
    if (consumer.stats().totals.handled < MESSAGES) throw new Error("not every message was acked");
    return seconds;
  } finally {
    await manager.stop();
    await consumer.closed;
    await nc.close();
  }
}

/** Drains every message through one plain pull consumer over `orders.>`; returns the seconds. */
async function viaPlainConsume(url: string): Promise<number> {
  const nc = await connect({ servers: url, ...recommendedConnectionOptions });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(STREAM, {
      durable_name: "plain",
      ack_policy: AckPolicy.Explicit,
      filter_subject: "orders.>",
    });
    const consumer = await jetstream(nc).consumers.get(STREAM, "plain");
    const t0 = performance.now();
    const messages = await consumer.consume();
    let handled = 0;
    for await (const msg of messages) {
      msg.ack();
      if (++handled >= MESSAGES) break;
    }
    await nc.flush();
    return (performance.now() - t0) / 1000;
  } finally {
    await nc.close();
  }
}

await using server = await NatsServer.start();
const admin = await connect({ servers: server.url });
const jsm = await jetstreamManager(admin);
await jsm.streams.add({ name: STREAM, subjects: ["orders.>"] });
const tp = performance.now();
await prepublish(admin);
console.log(
  `nats-server ${admin.info?.version}, ${MESSAGES} messages over ${PARTITIONS} subjects ` +
    `pre-published in ${((performance.now() - tp) / 1000).toFixed(1)} s; no-op handler, every ` +
    `message acked\n`,
);

const rows: Array<[string, number]> = [
  ["plain consume() on one durable over orders.>", await viaPlainConsume(server.url)],
  [
    "partitionedConsumer, 32 durables, 1 in flight per partition (ordered)",
    await viaPartitionedConsumer(server.url, "ordered", 1),
  ],
  [
    "partitionedConsumer, 32 durables, 8 in flight per partition",
    await viaPartitionedConsumer(server.url, "wide", 8),
  ],
];
await admin.close();

const baseline = MESSAGES / rows[0]![1];
const table = [
  ["reader", "seconds", "messages/s", "vs plain"],
  ...rows.map(([name, s]) => [
    name,
    s.toFixed(2),
    Math.round(MESSAGES / s).toLocaleString("en-US"),
    `${((MESSAGES / s / baseline) * 100).toFixed(0)}%`,
  ]),
];
const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
const line = (r: string[]) =>
  `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join(" | ")} |`;
console.log(line(table[0]!));
console.log(
  `| ${widths.map((w, c) => (c === 0 ? "-".repeat(w) : "-".repeat(w - 1) + ":")).join(" | ")} |`,
);
for (const r of table.slice(1)) console.log(line(r));
