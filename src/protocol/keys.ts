/**
 * Names in the coordination protocol: the four buckets of a group and the keys inside them
 * (per-worker assignment keys and their chunks, the publication summary, the lease, control keys).
 *
 * @module
 */

/** Names of the four buckets of a group. */
export interface BucketNames {
  /** Stable worker ID claims. */
  readonly ids: string;
  /** Heartbeats. */
  readonly heartbeats: string;
  /** The leader lease. */
  readonly leader: string;
  /** Published assignments. */
  readonly assignments: string;
}

/**
 * Returns the bucket names of a group.
 *
 * @param group The group name.
 * @returns The four bucket names.
 */
export function bucketNames(group: string): BucketNames {
  return {
    ids: `parti_${group}_ids`,
    heartbeats: `parti_${group}_hb`,
    leader: `parti_${group}_leader`,
    assignments: `parti_${group}_assign`,
  };
}

/** Key of the leader lease in the leader bucket. */
export const LEADER_KEY = "leader";
/** Key of the publication summary in the assignment bucket. */
export const META_KEY = "_meta";
/** Prefix of per-worker assignment keys (`w.<workerId>`). */
export const ASSIGNMENT_PREFIX = "w.";
/** Values larger than this are split into chunks (`w.<workerId>.e<epoch>v<version>.c<i>`). */
export const CHUNK_BYTES = 64 * 1024;

/** Key of a worker's assignment. */
export function assignmentKey(workerId: string): string {
  return `${ASSIGNMENT_PREFIX}${workerId}`;
}

/**
 * Key of chunk `index` of a worker's assignment published as (epoch, version). The names are unique
 * per publication, so a deposed leader's late write can never replace a current chunk.
 */
export function chunkKey(
  workerId: string,
  publication: { readonly epoch: number; readonly version: number },
  index: number,
): string {
  return `${ASSIGNMENT_PREFIX}${workerId}.e${publication.epoch}v${publication.version}.c${index}`;
}

/** Key of the persisted list of drained workers (assignment bucket). */
export const DRAIN_KEY = "ctl.drain";
/** Key a follower writes to ask the leader to re-read the partition source. */
export const REFRESH_KEY = "ctl.refresh";
/** Key a follower writes to ask the leader to rebalance now. */
export const REBALANCE_KEY = "ctl.rebalance";
/** Filter matching every control key. */
export const CONTROL_FILTER = "ctl.>";
