/**
 * Opening a group's buckets on a NATS connection without creating them. The store contract's
 * `CoordinationStore.bucket()` creates a missing bucket (and needs the group's exact TTLs to open
 * an existing one), which is right for a worker and wrong for an operator tool: a typo in a group
 * name must not leave four empty buckets behind. So this module asks JetStream whether each
 * bucket's stream exists and binds the store's own bucket handle to it, with every guarantee of
 * the NATS store (deadlines, error mapping, supervised watches) and no write at all.
 *
 * Loaded on demand by `open.ts`, so a `GroupAdmin` on a memory store never pulls in nats.js.
 *
 * @module
 */
import { PartiError } from "../errors.ts";
import { bucketNames } from "../protocol/keys.ts";
import { NatsBucket } from "../store/nats_kv/bucket.ts";
import { NatsContext, streamName, withDeadline } from "../store/nats_kv/connection.ts";
import { apiErrorCode, mapError, STREAM_NOT_FOUND } from "../store/nats_kv/errors.ts";
import { keepConsumerStateInMemory } from "../store/nats_kv/memory_consumers.ts";
import type { Bucket } from "../store/store.ts";
import type { NatsConnection } from "../types.ts";
import { GroupNotFoundError } from "./errors.ts";

/** The three buckets an admin reads, and the assignment bucket it writes control keys to. */
export interface AdminBuckets {
  /** Heartbeats. */
  readonly heartbeats: Bucket;
  /** The leader lease. */
  readonly leader: Bucket;
  /** Assignments and control keys. */
  readonly assignments: Bucket;
}

/**
 * Binds to the existing buckets of `group`.
 *
 * @throws {GroupNotFoundError} When any of the group's four buckets is missing; nothing is
 * created.
 */
export async function openExistingNatsGroup(
  connection: NatsConnection,
  group: string,
  operationTimeoutMs: number,
): Promise<AdminBuckets> {
  const ctx = new NatsContext(connection, { operationTimeoutMs });
  const names = bucketNames(group);
  const all = [names.ids, names.heartbeats, names.leader, names.assignments];
  const infos = await Promise.all(all.map(async (name) => {
    ctx.ensureConnected(name, "open bucket");
    try {
      const jsm = await withDeadline(ctx.jsm(), operationTimeoutMs);
      return await withDeadline(jsm.streams.info(streamName(name)), operationTimeoutMs);
    } catch (error) {
      if (apiErrorCode(error) === STREAM_NOT_FOUND) return undefined;
      const mapped = await mapError(ctx, error, name, "open bucket");
      // A timeout on a missing stream is mapped to BucketNotFoundError too; either way: absent.
      if (mapped instanceof PartiError && mapped.code === "BUCKET_NOT_FOUND") return undefined;
      throw mapped;
    }
  }));
  const missing = all.filter((_, i) => infos[i] === undefined);
  if (missing.length > 0) throw new GroupNotFoundError(group, missing);
  const bind = async (name: string, index: number): Promise<Bucket> => {
    try {
      // Direct gets where the stream allows them, as the workers' own handles use: nats-server
      // 2.9.10 mishandles plain message gets that race a stream's creation.
      const kv = await ctx.kvm.open(name, {
        allow_direct: infos[index]!.config.allow_direct ?? false,
      });
      keepConsumerStateInMemory(kv);
      return new NatsBucket(ctx, name, kv);
    } catch (error) {
      throw await mapError(ctx, error, name, "open bucket");
    }
  };
  const [heartbeats, leader, assignments] = await Promise.all([
    bind(names.heartbeats, 1),
    bind(names.leader, 2),
    bind(names.assignments, 3),
  ]);
  return { heartbeats, leader, assignments };
}
