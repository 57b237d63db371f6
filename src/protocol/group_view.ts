/**
 * The read side of a group, for any worker or an operator tool that does not join it: every
 * worker's published assignment, the drain list, and the topology (workers, leader, versions,
 * load). Nothing here writes.
 *
 * @module
 */
import { toError } from "../errors.ts";
import type { Bucket } from "../store/store.ts";
import type { Assignment } from "../types.ts";
import { readAllAssignments } from "./assignment_io.ts";
import { DRAIN_KEY, LEADER_KEY, META_KEY } from "./keys.ts";
import {
  decodeDrain,
  decodeHeartbeat,
  decodeLeader,
  decodeMeta,
  type HeartbeatRecord,
} from "./records.ts";

/** Reads the drain list (empty when absent or malformed). */
export async function readDrained(
  bucket: Bucket,
  onError: (error: Error) => void,
): Promise<{ workers: Set<string>; revision: number }> {
  const entry = await bucket.get(DRAIN_KEY);
  if (!entry) return { workers: new Set(), revision: 0 };
  try {
    return {
      workers: new Set(decodeDrain(bucket.name, DRAIN_KEY, entry.value).workers),
      revision: entry.revision,
    };
  } catch (error) {
    onError(toError(error));
    return { workers: new Set(), revision: entry.revision };
  }
}

/** One worker as seen in the topology. */
export interface TopologyWorker {
  /** Worker ID. */
  readonly workerId: string;
  /** State it last reported (`undefined` if its heartbeat is gone but it still has a key). */
  readonly state: string | undefined;
  /** Whether it is the leader. */
  readonly isLeader: boolean;
  /** Whether it is drained (alive, given no partitions). */
  readonly drained: boolean;
  /** Version of its published assignment. */
  readonly publishedVersion: number;
  /** Version it reported as applied. */
  readonly appliedVersion: number;
  /** Number of partitions published for it. */
  readonly partitions: number;
  /** Total weight of those partitions. */
  readonly load: number;
  /** Capacity it reports, when not 1. */
  readonly capacity?: number;
  /** Labels it reports, when it has any. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A snapshot of a group. */
export interface Topology {
  /** The current leader, if any. */
  readonly leader: { readonly workerId: string; readonly epoch: number } | undefined;
  /** Epoch of the latest publication. */
  readonly epoch: number;
  /** Version of the latest publication. */
  readonly version: number;
  /** Partitions published in total. */
  readonly partitionCount: number;
  /** Partitions held back in a hand-off. */
  readonly pending: number;
  /** Workers, sorted by ID. */
  readonly workers: readonly TopologyWorker[];
}

/** Buckets a topology is read from. */
export interface TopologyBuckets {
  /** Heartbeats. */
  readonly heartbeats: Bucket;
  /** Leader lease. */
  readonly leader: Bucket;
  /** Assignments. */
  readonly assignments: Bucket;
}

/** Reads every worker's published assignment. */
export async function readAssignments(
  bucket: Bucket,
  onError: (error: Error) => void,
): Promise<Map<string, Assignment>> {
  const out = new Map<string, Assignment>();
  for (
    const [workerId, { epoch, version, partitions }] of await readAllAssignments(bucket, onError)
  ) {
    out.set(workerId, { epoch, version, partitions });
  }
  return out;
}

/** Reads the topology of a group. */
export async function readTopology(
  buckets: TopologyBuckets,
  onError: (error: Error) => void,
): Promise<Topology> {
  const [assignments, drained, leaderEntry, metaEntry, hbKeys] = await Promise.all([
    readAssignments(buckets.assignments, onError),
    readDrained(buckets.assignments, onError),
    buckets.leader.get(LEADER_KEY),
    buckets.assignments.get(META_KEY),
    buckets.heartbeats.keys(),
  ]);
  let leader: Topology["leader"];
  if (leaderEntry) {
    try {
      const record = decodeLeader(buckets.leader.name, LEADER_KEY, leaderEntry.value);
      if (!record.released) leader = { workerId: record.workerId, epoch: record.epoch };
    } catch (error) {
      onError(toError(error));
    }
  }
  let meta = { epoch: 0, version: 0, partitionCount: 0, pending: 0 };
  if (metaEntry) {
    try {
      meta = decodeMeta(buckets.assignments.name, META_KEY, metaEntry.value);
    } catch (error) {
      onError(toError(error));
    }
  }
  const heartbeats = new Map<string, HeartbeatRecord>();
  await Promise.all(hbKeys.map(async (key) => {
    const entry = await buckets.heartbeats.get(key);
    if (!entry) return;
    try {
      heartbeats.set(key, decodeHeartbeat(buckets.heartbeats.name, key, entry.value));
    } catch (error) {
      onError(toError(error));
    }
  }));
  const ids = new Set([...heartbeats.keys(), ...assignments.keys()]);
  const workers: TopologyWorker[] = [...ids].sort().map((workerId) => {
    const published = assignments.get(workerId);
    const hb = heartbeats.get(workerId);
    return {
      workerId,
      state: hb?.state,
      isLeader: leader?.workerId === workerId,
      drained: drained.workers.has(workerId),
      publishedVersion: published?.version ?? 0,
      appliedVersion: hb?.appliedVersion ?? 0,
      partitions: published?.partitions.length ?? 0,
      load: published?.partitions.reduce((sum, p) => sum + (p.weight ?? 1), 0) ?? 0,
      ...(hb?.capacity !== undefined ? { capacity: hb.capacity } : {}),
      ...(hb?.labels !== undefined ? { labels: hb.labels } : {}),
    };
  }).filter((w) => w.state !== undefined || w.partitions > 0);
  return {
    leader,
    epoch: meta.epoch,
    version: meta.version,
    partitionCount: meta.partitionCount,
    pending: meta.pending,
    workers,
  };
}

/**
 * The epoch of the latest publication (0 when none, or when the summary is unreadable, which is
 * reported): a new leader numbers its term above it even when the lease key itself expired.
 */
export async function readPublishedEpoch(
  buckets: { readonly assignments: Bucket },
  onError: (error: Error) => void,
): Promise<number> {
  const bucket = buckets.assignments;
  try {
    const meta = await bucket.get(META_KEY);
    return meta ? decodeMeta(bucket.name, META_KEY, meta.value).epoch : 0;
  } catch (error) {
    onError(toError(error));
    return 0;
  }
}
