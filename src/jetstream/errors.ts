/**
 * The errors a partitioned consumer reports through its manager's `onError` hooks: one class with
 * a stable `code`, the partition it concerns and, for a message, its stream sequence and delivery
 * count.
 *
 * @module
 */
import { PartiError } from "../errors.ts";

/**
 * Stable codes of {@link PartitionedConsumerError}.
 *
 * @example Alert only on what needs a human
 * ```ts
 * import type { PartitionedConsumerErrorCode } from "@parti/core/jetstream";
 *
 * const needsOperator = (code: PartitionedConsumerErrorCode) =>
 *   code === "CONSUMER_MISMATCH" || code === "DRAIN_TIMEOUT";
 * console.assert(needsOperator("CONSUMER_MISMATCH") && !needsOperator("REDELIVERED"));
 * ```
 */
export type PartitionedConsumerErrorCode =
  /** The handler threw or rejected; the message was nak'd for redelivery. */
  | "HANDLER_FAILED"
  /** The handler did not settle within `handlerTimeoutMs`; the message was nak'd. */
  | "HANDLER_TIMEOUT"
  /** A message arrived that was delivered before (`msg.info.redelivered`). */
  | "REDELIVERED"
  /** The partition's durable consumer could not be looked up, created or updated (retried). */
  | "CONSUMER_SETUP_FAILED"
  /** The durable exists with a configuration this consumer cannot use (not retried). */
  | "CONSUMER_MISMATCH"
  /** A pull from the partition's durable failed (retried). */
  | "PULL_FAILED"
  /** A revoke did not finish in time; a message may stay unacknowledged until its ack wait. */
  | "DRAIN_TIMEOUT";

/**
 * An error of a partitioned consumer, reported to the manager's `onError` hooks (next to the
 * manager's own errors); the consumer recovers by itself (or, for `CONSUMER_MISMATCH`, leaves that
 * partition unconsumed until it moves again).
 *
 * @example Count handler failures by partition
 * ```ts
 * import { PartitionedConsumerError } from "@parti/core/jetstream";
 *
 * const failures = new Map<string, number>();
 * const onError = (error: Error) => {
 *   if (error instanceof PartitionedConsumerError && error.code === "HANDLER_FAILED") {
 *     failures.set(error.partition, (failures.get(error.partition) ?? 0) + 1);
 *   }
 * };
 * onError(new PartitionedConsumerError("HANDLER_FAILED", "orders/1", "boom"));
 * console.assert(failures.get("orders/1") === 1);
 * ```
 */
export class PartitionedConsumerError extends PartiError {
  /** A stable, machine-readable identifier of the failure. */
  declare readonly code: PartitionedConsumerErrorCode;
  /** The ID of the partition concerned (its keys joined with `/`). */
  readonly partition: string;
  /** The message's stream sequence, when the error is about one message. */
  readonly streamSequence: number | undefined;
  /** How often the message has been delivered, when the error is about one message. */
  readonly deliveryCount: number | undefined;

  /**
   * Creates the error.
   *
   * @param code The stable code.
   * @param partition The partition ID.
   * @param message What happened and what the consumer did about it.
   * @param options `cause`, and the message's `streamSequence` and `deliveryCount`.
   */
  constructor(
    code: PartitionedConsumerErrorCode,
    partition: string,
    message: string,
    options: ErrorOptions & { streamSequence?: number; deliveryCount?: number } = {},
  ) {
    super(code, message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "PartitionedConsumerError";
    this.partition = partition;
    this.streamSequence = options.streamSequence;
    this.deliveryCount = options.deliveryCount;
  }
}
