/**
 * The leader's writer of assignments: one key per worker plus the `_meta` summary, every write a
 * compare-and-set on the revision this leader last saw, so a stale leader's write fails instead of
 * overwriting a newer one (the key format, chunks included, is `protocol/assignment_io.ts`). A new
 * leader first adopts what is in the bucket and continues the version sequence from there.
 *
 * @module
 */
import { LeadershipLostError, RevisionConflictError, toError } from "../errors.ts";
import { type Partition, partitionId } from "../partition.ts";
import { readAllAssignments, writeMeta, writeWorkerAssignment } from "../protocol/assignment_io.ts";
import { assignmentKey, META_KEY } from "../protocol/keys.ts";
import { decodeMeta, type MetaRecord } from "../protocol/records.ts";
import type { Bucket } from "../store/store.ts";

/** The published assignment of one worker, as the leader knows it. */
export interface PublishedWorker {
  /** Epoch of the publication that last wrote this worker's key. */
  readonly epoch: number;
  /** Version of the publication that last wrote this worker's key. */
  readonly version: number;
  /** Partition IDs in the key. */
  readonly ids: ReadonlySet<string>;
  /** The partitions in the key. */
  readonly partitions: readonly Partition[];
  /** Number of chunk keys the partitions are stored in (0 when inline). */
  readonly chunks: number;
  /** The worker incarnation the key is addressed to. */
  readonly incarnation: string;
}

/** Publishes assignments for the current leader. */
export class Publisher {
  readonly #bucket: Bucket;
  readonly #onError: (error: Error) => void;
  readonly #published = new Map<string, PublishedWorker & { revision: number }>();
  #metaRevision = 0;
  #version = 0;

  /**
   * @param bucket The assignment bucket.
   * @param onError Receives malformed values found while adopting.
   */
  constructor(bucket: Bucket, onError: (error: Error) => void) {
    this.#bucket = bucket;
    this.#onError = onError;
  }

  /** Highest version published or adopted. */
  get version(): number {
    return this.#version;
  }

  /** What is currently published, per worker. */
  get published(): ReadonlyMap<string, PublishedWorker> {
    return this.#published;
  }

  /**
   * Reads the bucket and makes it the starting point: the assignment is adopted, not reshuffled.
   *
   * @param minVersion Lowest version to continue from (e.g. the highest applied version seen in
   *   heartbeats), so a wiped bucket cannot send versions backwards.
   */
  async adopt(minVersion: number): Promise<void> {
    this.#published.clear();
    this.#version = minVersion;
    this.#metaRevision = 0;
    const meta = await this.#bucket.get(META_KEY);
    if (meta) {
      this.#metaRevision = meta.revision;
      try {
        const record = decodeMeta(this.#bucket.name, META_KEY, meta.value);
        this.#version = Math.max(this.#version, record.version);
      } catch (error) {
        this.#onError(toError(error));
      }
    }
    for (const [workerId, published] of await readAllAssignments(this.#bucket, this.#onError)) {
      this.#version = Math.max(this.#version, published.version);
      this.#published.set(workerId, {
        ...published,
        ids: new Set(published.partitions.map(partitionId)),
      });
    }
  }

  /**
   * Publishes a new version: writes every worker whose partitions differ, shrinking keys first so
   * a partition is removed from its old owner's key before it appears in a new owner's key.
   *
   * @param epoch The leader's epoch.
   * @param next The partitions per worker.
   * @param phase `"revoke"` when some partitions are held back until their old owners confirm.
   * @param pending Number of partitions held back.
   * @param isLeader Checked before every write; publishing stops when it turns false.
   * @param force Workers whose key is rewritten even if unchanged (they lost what they held).
   * @param incarnations The incarnation each live worker's heartbeat reports: a key addressed to
   *   another one is rewritten even if unchanged (the worker would ignore it). A worker not in it
   *   keeps its key's incarnation.
   * @returns The new version, or `undefined` when nothing changed.
   * @throws {LeadershipLostError} When leadership is lost or another writer changed a key.
   */
  async publish(
    epoch: number,
    next: ReadonlyMap<string, readonly Partition[]>,
    phase: "revoke" | "assign",
    pending: number,
    isLeader: () => boolean,
    force: ReadonlySet<string> = new Set(),
    incarnations: ReadonlyMap<string, string> = new Map(),
  ): Promise<number | undefined> {
    const changes: {
      workerId: string;
      partitions: readonly Partition[];
      shrinks: boolean;
      incarnation: string;
    }[] = [];
    for (const [workerId, partitions] of next) {
      const current = this.#published.get(workerId);
      const incarnation = incarnations.get(workerId) ?? current?.incarnation ?? "";
      const ids = partitions.map(partitionId);
      const same = current !== undefined && current.ids.size === ids.length &&
        current.incarnation === incarnation && sameWeights(current.partitions, partitions);
      if (same && !force.has(workerId)) continue;
      const shrinks = current !== undefined && ids.every((id) => current.ids.has(id));
      changes.push({ workerId, partitions, shrinks, incarnation });
    }
    if (changes.length === 0) return undefined;
    changes.sort((a, b) => Number(b.shrinks) - Number(a.shrinks));
    const version = this.#version + 1;
    for (const change of changes) {
      if (!isLeader()) throw new LeadershipLostError("Leadership lost while publishing");
      await this.#writeWorker(epoch, version, phase, change);
    }
    this.#version = version;
    let partitionCount = 0;
    for (const p of this.#published.values()) partitionCount += p.ids.size;
    const meta: MetaRecord = {
      epoch,
      version,
      workers: [...next.keys()].sort(),
      partitionCount,
      pending,
      at: new Date().toISOString(),
    };
    if (!isLeader()) throw new LeadershipLostError("Leadership lost while publishing");
    this.#metaRevision = await this.#conflictMeansLostLeadership(
      META_KEY,
      () => writeMeta(this.#bucket, meta, this.#metaRevision),
    );
    return version;
  }

  async #writeWorker(
    epoch: number,
    version: number,
    phase: "revoke" | "assign",
    change: {
      readonly workerId: string;
      readonly partitions: readonly Partition[];
      readonly incarnation: string;
    },
  ): Promise<void> {
    const { workerId, partitions, incarnation } = change;
    const previous = this.#published.get(workerId);
    const { revision, chunks } = await this.#conflictMeansLostLeadership(
      assignmentKey(workerId),
      () =>
        writeWorkerAssignment(this.#bucket, {
          workerId,
          epoch,
          version,
          phase,
          partitions,
          incarnation,
          revision: previous?.revision ?? 0,
          ...(previous ? { previous } : {}),
          onError: this.#onError,
        }),
    );
    this.#published.set(workerId, {
      epoch,
      version,
      partitions,
      ids: new Set(partitions.map(partitionId)),
      chunks,
      incarnation,
      revision,
    });
  }

  async #conflictMeansLostLeadership<T>(key: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof RevisionConflictError) {
        throw new LeadershipLostError(
          `Another writer changed '${key}' in '${this.#bucket.name}'; re-reading the assignment`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}
/** Whether two lists hold the same partitions with the same weights (in any order). */
function sameWeights(a: readonly Partition[], b: readonly Partition[]): boolean {
  if (a.length !== b.length) return false;
  const weights = new Map(a.map((p) => [partitionId(p), p.weight ?? 1]));
  return b.every((p) => weights.get(partitionId(p)) === (p.weight ?? 1));
}
