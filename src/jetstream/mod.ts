/**
 * `@parti/core/jetstream`: consume a JetStream stream by partition. Each partition a manager
 * assigns to this worker is read from its own durable pull consumer (one filter subject, explicit
 * acks), in order, with bounded concurrency; a revoked partition is drained — pulling stops,
 * handlers in flight finish and are acked or nak'd — before the revoke resolves, so the
 * partition's next owner resumes from the ack floor and never sees a message this worker still
 * holds. Handlers receive the partition's fencing token for downstream writes.
 *
 * Works on nats-server 2.9 (one durable per partition). The server's support for multi-filter
 * consumers (2.10+) is detected and reported as `multiFilterSupported`; a mode that uses them is
 * not implemented yet.
 *
 * @example Consume ORDERS by partition
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { Manager, recommendedConnectionOptions } from "@parti/core";
 * import { partitionedConsumer } from "@parti/core/jetstream";
 *
 * const nc = await connect({ servers: "127.0.0.1:4222", ...recommendedConnectionOptions });
 * await using manager = new Manager({
 *   connection: nc,
 *   group: "orders",
 *   source: Array.from({ length: 8 }, (_, i) => ({ keys: ["orders", String(i)] })),
 *   // The consumer's errors (PartitionedConsumerError) arrive here too.
 *   hooks: { onError: (error) => console.warn(error.message) },
 * });
 * const consumer = partitionedConsumer(manager, {
 *   connection: nc,
 *   stream: "ORDERS",
 *   subject: (p) => `orders.${p.keys[1]}`,
 *   durable: "orders-{1}",
 *   async handle(msg, { token }) {
 *     await store.write(msg.json(), token); // the store rejects tokens older than it has seen
 *   },
 * });
 * await manager.start();
 * console.log(consumer.stats().totals);
 * ```
 *
 * @module
 */

export {
  type ConsumerHooks,
  type ConsumerManager,
  type ConsumerStats,
  type ConsumerSubscription,
  type PartitionedConsumer,
  partitionedConsumer,
  type PartitionStats,
} from "./consumer.ts";
export {
  type JetStreamMessage,
  type MessageContext,
  type MessageHandler,
  type PartitionedConsumerOptions,
} from "./options.ts";
export type { PartitionMapping } from "./mapping.ts";
// The core types a handler and a mapping see, so this entry point documents itself.
export type { Partition } from "../partition.ts";
export type { FencingToken } from "../types.ts";
export type {
  Counter,
  Gauge,
  Histogram,
  HistogramOptions,
  MetricLabels,
  MetricsRecorder,
} from "../observability/metrics.ts";
export { PartitionedConsumerError, type PartitionedConsumerErrorCode } from "./errors.ts";
export { PartiError, type PartiErrorCode } from "../errors.ts";
