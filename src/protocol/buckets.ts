/**
 * Opening the four buckets of a group with the settings the protocol needs: history 1, the
 * configured replicas and storage, and TTLs that are garbage collection only (correctness never
 * waits for the server to expire a key).
 *
 * @module
 */
import { leaderBucketTtlMs } from "../runtime/cadence.ts";
import type { Bucket, CoordinationStore } from "../store/store.ts";
import { bucketNames } from "./keys.ts";

/** The four buckets of a group. */
export interface GroupBuckets {
  /** Stable ID claims. */
  readonly ids: Bucket;
  /** Heartbeats. */
  readonly heartbeats: Bucket;
  /** The leader lease. */
  readonly leader: Bucket;
  /** Assignments and control keys. */
  readonly assignments: Bucket;
}

/** The settings the buckets are opened with. */
export interface GroupBucketSettings {
  /** The group name. */
  readonly group: string;
  /** Replicas and storage of every bucket. */
  readonly kv: { readonly replicas: number; readonly storage: "file" | "memory" };
  /** TTL of ID claims. */
  readonly workerIdTtlMs: number;
  /** TTL of heartbeats. */
  readonly heartbeatTtlMs: number;
  /** Heartbeat interval (part of the leader bucket's TTL). */
  readonly heartbeatIntervalMs: number;
  /** Lease duration (part of the leader bucket's TTL). */
  readonly electionLeaseMs: number;
}

/**
 * Opens (creating when absent) the group's four buckets.
 *
 * @throws {BucketConfigMismatchError} When one exists with other settings.
 */
export async function openGroupBuckets(
  store: CoordinationStore,
  s: GroupBucketSettings,
): Promise<GroupBuckets> {
  const names = bucketNames(s.group);
  const common = { replicas: s.kv.replicas, storage: s.kv.storage, history: 1 } as const;
  const [ids, heartbeats, leader, assignments] = await Promise.all([
    store.bucket(names.ids, { ...common, ttlMs: s.workerIdTtlMs }),
    store.bucket(names.heartbeats, { ...common, ttlMs: s.heartbeatTtlMs }),
    store.bucket(names.leader, { ...common, ttlMs: leaderBucketTtlMs(s) }),
    store.bucket(names.assignments, { ...common, ttlMs: 0 }),
  ]);
  return { ids, heartbeats, leader, assignments };
}
