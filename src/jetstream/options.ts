/**
 * The options of `partitionedConsumer()`, their defaults, and their validation: every bad value
 * throws a `TypeError` or `RangeError` naming the option before anything touches the server.
 *
 * @module
 */
import type { MetricsRecorder } from "../observability/metrics.ts";
import type { JsMsg } from "@nats-io/jetstream";
import type { Partition } from "../partition.ts";
import type { FencingToken, NatsConnection } from "../types.ts";
import {
  describe,
  durableProblem,
  type Mapper,
  mapper,
  type PartitionMapping,
  subjectProblem,
} from "./mapping.ts";

/**
 * A message of the stream, as nats.js delivers it (`JsMsg` of `@nats-io/jetstream`). The
 * consumer acknowledges it: resolve the handler to ack, throw to nak.
 *
 * @example Read a message's delivery info
 * ```ts
 * import type { JetStreamMessage } from "@parti/core/jetstream";
 *
 * const describe = (msg: JetStreamMessage) =>
 *   `${msg.subject} #${msg.seq} (delivery ${msg.info.deliveryCount})`;
 * ```
 *
 * @internal The alias exists only because `deno doc --lint` reports any type from another package
 * as private (denoland/deno#27364); the type itself is nats.js's public `JsMsg`.
 */
export type JetStreamMessage = JsMsg;

/**
 * What a handler is told besides the message.
 *
 * @example Pass the token and the signal downstream
 * ```ts
 * import type { MessageContext } from "@parti/core/jetstream";
 *
 * async function write(body: unknown, { partition, token, signal }: MessageContext) {
 *   await fetch("https://ledger.example/write", {
 *     method: "POST",
 *     body: JSON.stringify({ body, partition: partition.keys, epoch: token.epoch, version: token.version }),
 *     signal,
 *   });
 * }
 * ```
 */
export interface MessageContext {
  /** The partition the message belongs to. */
  readonly partition: Partition;
  /**
   * The fencing token under which this worker owns the partition: pass it with downstream writes
   * so a store that remembers the highest token per partition can reject a deposed owner.
   */
  readonly token: FencingToken;
  /**
   * Aborted when the handler ran out of `handlerTimeoutMs` (the message was nak'd) or the
   * partition's revoke gave up waiting for it: stop work and return.
   */
  readonly signal: AbortSignal;
}

/**
 * Handles one message; resolve to ack it, throw (or reject) to nak it for redelivery. Do not ack
 * or nak the message yourself.
 *
 * @example Reject malformed messages by throwing
 * ```ts
 * import type { MessageHandler } from "@parti/core/jetstream";
 *
 * const totals = new Map<string, number>();
 * const handle: MessageHandler = (msg, { partition }) => {
 *   const { amount } = msg.json<{ amount: number }>();
 *   if (!Number.isFinite(amount)) throw new TypeError(`No amount in message ${msg.seq}`);
 *   const id = partition.keys.join("/");
 *   totals.set(id, (totals.get(id) ?? 0) + amount);
 * };
 * ```
 */
export type MessageHandler = (
  msg: JetStreamMessage,
  context: MessageContext,
) => void | Promise<void>;

/**
 * Options of `partitionedConsumer()`.
 *
 * @example Three partitions per tenant, ordered within each
 * ```ts ignore
 * const options: PartitionedConsumerOptions = {
 *   connection: nc,
 *   stream: "EVENTS",
 *   subject: "events.{1}.{2}", // keys ["events", tenant, shard]
 *   durable: (p) => `events-${p.keys[1]}-${p.keys[2]}`,
 *   handle: (msg, { token }) => sink.write(msg.data, token),
 *   maxInFlight: 32,
 *   handlerTimeoutMs: 10_000,
 * };
 * ```
 */
export interface PartitionedConsumerOptions {
  /** The NATS connection the stream is read through (a JetStream client is made from it). */
  readonly connection: NatsConnection;
  /** The stream to read, e.g. `"ORDERS"`. It must exist; the consumer waits for it otherwise. */
  readonly stream: string;
  /**
   * The filter subject of a partition: a template such as `"orders.{1}"` (`{i}` is
   * `partition.keys[i]`) or a function. Wildcards are allowed; two partitions should not overlap.
   */
  readonly subject: PartitionMapping;
  /**
   * The durable consumer name of a partition, template or function (e.g. `"orders-{1}"`). The
   * durable keeps the ack floor, so a partition's next owner resumes where the last one acked.
   * A durable that exists is reused; it must filter the partition's subject with explicit acks.
   */
  readonly durable: PartitionMapping;
  /** Handles a message: resolve to ack, throw to nak (see {@link MessageHandler}). */
  readonly handle: MessageHandler;
  /**
   * The most handlers running at once across all partitions (back-pressure).
   * @default {64}
   */
  readonly maxInFlight?: number;
  /**
   * The most handlers running at once per partition. 1 keeps a partition's messages in order;
   * more trades order for throughput. Also set as the durable's `max_ack_pending`.
   * @default {1}
   */
  readonly maxInFlightPerPartition?: number;
  /**
   * How long a handler may take. Then its message is nak'd, the error is reported and the
   * context's signal aborts. The handler's slot stays taken until it returns, so a partition
   * never runs more than `maxInFlightPerPartition` handlers at once (with 1, its redelivery waits
   * for it). A revoke waits at most this long for a handler.
   * @default {30000}
   */
  readonly handlerTimeoutMs?: number;
  /**
   * Delay before a nak'd message (handler threw or timed out) is redelivered. With one in
   * flight per partition the partition waits for that redelivery, so order is kept. Messages
   * handed back unhandled on a revoke are nak'd without delay. A message that always fails is
   * retried forever (set `max_deliver` on the durable to give up on it).
   * @default {1000}
   */
  readonly retryDelayMs?: number;
  /**
   * `ack_wait` of durables this consumer creates: how long a message delivered to a worker that
   * died stays invisible. Messages a live worker holds are kept alive with progress acks.
   * @default {30000}
   */
  readonly ackWaitMs?: number;
  /**
   * How long one pull request waits on the server (nats.js requires at least 1000). A revoke
   * waits for the partition's open pull request to end on the server — at most this long — so no
   * message can be in flight to, or redelivered into, a worker that no longer owns it. Lower
   * means faster hand-overs and more pull requests from idle partitions.
   * @default {1000}
   */
  readonly pullExpiresMs?: number;
  /** Stops the consumer when aborted, as {@link PartitionedConsumer.stop} does. */
  readonly signal?: AbortSignal;
  /**
   * Records messages handled, redelivered and nak'd (counters) and handlers in flight (a gauge)
   * per partition, labelled `stream`, `worker` and `partition`; e.g. the `PrometheusRegistry`
   * the manager records to. {@link PartitionedConsumer.stats} counts the same either way.
   */
  readonly metrics?: MetricsRecorder;
  /**
   * Every this many milliseconds, each partition's handled messages per second since the last
   * report go to the manager as that partition's load (`Manager.reportLoad`), which a manager
   * with `loadAware` rebalances by (others ignore it). 0 turns it off.
   * @default {5000}
   */
  readonly reportLoadEveryMs?: number;
}

/** The options, checked, with defaults applied. */
export interface ResolvedOptions {
  readonly connection: NatsConnection;
  readonly stream: string;
  readonly subject: Mapper;
  readonly durable: Mapper;
  readonly handle: MessageHandler;
  readonly maxInFlight: number;
  readonly maxInFlightPerPartition: number;
  readonly handlerTimeoutMs: number;
  readonly retryDelayMs: number;
  readonly ackWaitMs: number;
  readonly pullExpiresMs: number;
  readonly signal: AbortSignal | undefined;
  readonly metrics: MetricsRecorder | undefined;
  readonly reportLoadEveryMs: number;
}

/**
 * Checks the options and applies the defaults.
 *
 * @throws {TypeError} For a missing option or one of the wrong type, naming it.
 * @throws {RangeError} For a number out of range or a mapping without placeholder, naming it.
 */
export function resolveOptions(options: PartitionedConsumerOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      "partitionedConsumer() needs options such as { connection, stream, subject, durable, handle }",
    );
  }
  const o = options as unknown as Record<string, unknown>;
  const connection = o.connection as NatsConnection | undefined;
  if (
    typeof connection !== "object" || connection === null ||
    typeof (connection as { subscribe?: unknown }).subscribe !== "function"
  ) {
    throw new TypeError(
      `Invalid option 'connection': must be a NatsConnection (from connect() of a nats.js ` +
        `transport), got ${describe(connection)}`,
    );
  }
  const stream = o.stream;
  if (typeof stream !== "string" || stream.length === 0) {
    throw new TypeError(`Invalid option 'stream': must be a stream name, got ${describe(stream)}`);
  }
  if (/[\s.*>/\\]/.test(stream)) {
    throw new RangeError(
      `Invalid option 'stream': '${stream}' is not a stream name (no whitespace, '.', '*', '>', ` +
        `'/' or '\\')`,
    );
  }
  if (typeof o.handle !== "function") {
    throw new TypeError(
      `Invalid option 'handle': must be a function (msg, { partition, token, signal }), got ` +
        describe(o.handle),
    );
  }
  const signal = o.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`Invalid option 'signal': must be an AbortSignal, got ${describe(signal)}`);
  }
  const metrics = o.metrics as MetricsRecorder | undefined;
  if (
    metrics !== undefined &&
    (typeof metrics?.counter !== "function" || typeof metrics?.gauge !== "function")
  ) {
    throw new TypeError(
      `Invalid option 'metrics': must be a MetricsRecorder (counter(), gauge(), histogram()), ` +
        `got ${describe(metrics)}`,
    );
  }
  const maxInFlight = integer(o, "maxInFlight", 64, 1);
  const maxInFlightPerPartition = integer(o, "maxInFlightPerPartition", 1, 1);
  if (maxInFlightPerPartition > maxInFlight) {
    throw new RangeError(
      `Invalid option 'maxInFlightPerPartition': ${maxInFlightPerPartition} is more than ` +
        `maxInFlight (${maxInFlight}); raise maxInFlight or lower maxInFlightPerPartition`,
    );
  }
  return {
    connection,
    stream,
    subject: mapper("subject", o.subject, subjectProblem),
    durable: mapper("durable", o.durable, durableProblem),
    handle: o.handle as MessageHandler,
    maxInFlight,
    maxInFlightPerPartition,
    handlerTimeoutMs: integer(o, "handlerTimeoutMs", 30_000, 1),
    retryDelayMs: integer(o, "retryDelayMs", 1_000, 0),
    ackWaitMs: integer(o, "ackWaitMs", 30_000, 1_000),
    pullExpiresMs: integer(o, "pullExpiresMs", 1_000, 1_000),
    signal,
    metrics,
    reportLoadEveryMs: integer(o, "reportLoadEveryMs", 5_000, 0),
  };
}

function integer(o: Record<string, unknown>, name: string, fallback: number, min: number): number {
  const value = o[name];
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`Invalid option '${name}': must be a number, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`Invalid option '${name}': must be an integer >= ${min}, got '${value}'`);
  }
  return value;
}
