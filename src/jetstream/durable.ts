/**
 * The durable pull consumer of one partition: looks it up, checks that an existing one fits (a
 * pull consumer with explicit acks and the partition's one filter subject), and creates it or
 * brings its `max_ack_pending` up to date.
 *
 * @module
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { PartitionedConsumerError } from "./errors.ts";
import type { ResolvedOptions } from "./options.ts";

/** The durable exists but does not fit; retrying will not help. */
export class MismatchError extends PartitionedConsumerError {}

/** A partition's ID, filter subject and durable name, already mapped and checked. */
export interface DurableNames {
  readonly id: string;
  readonly subject: string;
  readonly durable: string;
}

/**
 * Returns the partition's durable, creating it if missing.
 *
 * @param jsm The consumer's JetStream manager.
 * @param options The consumer's options (stream, per-partition slots, ack wait).
 * @param names The partition's names.
 * @param lastAcked The highest stream sequence this worker acked for the partition (0 if none).
 * @throws {MismatchError} When the durable exists but does not fit.
 */
export async function ensureDurable(
  jsm: Promise<JetStreamManager>,
  options: Pick<ResolvedOptions, "stream" | "maxInFlightPerPartition" | "ackWaitMs">,
  names: DurableNames,
  lastAcked: () => number,
): Promise<ConsumerInfo> {
  const { stream, maxInFlightPerPartition, ackWaitMs } = options;
  const manager = await jsm;
  let info: ConsumerInfo | undefined;
  try {
    info = await manager.consumers.info(stream, names.durable);
  } catch (error) {
    if (!hasCode(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
  }
  if (info) {
    const problem = mismatch(info, names.subject);
    if (problem) {
      throw new MismatchError(
        "CONSUMER_MISMATCH",
        names.id,
        `Durable '${names.durable}' on stream '${stream}' ${problem}; partition '${names.id}' ` +
          `needs a pull consumer with explicit acks filtering '${names.subject}'. Delete the ` +
          `durable or map the partition to another name; the partition is not consumed`,
      );
    }
    if (info.config.max_ack_pending !== maxInFlightPerPartition) {
      info = await manager.consumers.update(stream, names.durable, {
        max_ack_pending: maxInFlightPerPartition,
      });
    }
    return info;
  }
  // A durable that vanished while we consumed resumes after what this worker acked last.
  const start: Partial<ConsumerConfig> = lastAcked() > 0
    ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastAcked() + 1 }
    : { deliver_policy: DeliverPolicy.All };
  return await manager.consumers.add(stream, {
    durable_name: names.durable,
    ack_policy: AckPolicy.Explicit,
    filter_subject: names.subject,
    max_ack_pending: maxInFlightPerPartition,
    ack_wait: nanos(ackWaitMs),
    ...start,
  });
}

function mismatch(info: ConsumerInfo, subject: string): string | undefined {
  const c = info.config;
  if (c.deliver_subject) return `is a push consumer (deliver_subject '${c.deliver_subject}')`;
  if (c.ack_policy !== AckPolicy.Explicit) return `has ack_policy '${c.ack_policy}'`;
  const filters = c.filter_subjects?.length ? c.filter_subjects : [c.filter_subject ?? ""];
  if (filters.length !== 1 || filters[0] !== subject) {
    return `filters '${filters.join("', '")}'`;
  }
  return undefined;
}

function hasCode(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}
