/**
 * The leader's writer of assignments: one key per worker plus the `_meta` summary, every write a
 * compare-and-set on the revision this leader last saw, so a stale leader's write fails instead of
 * overwriting a newer one (the key format, chunks included, is `protocol/assignment_io.ts`). A new
 * leader first adopts what is in the bucket and continues the version sequence from there.
 *
 * Hostile data cannot stop the count (the rule is `MAX_COUNTER` in `protocol/records.ts`). A
 * version above 2^52 is malformed: the decoders reject it, so no worker takes it and adoption
 * reports its key and counts without it. A worker key the leader cannot read is written over by
 * compare-and-set on the revision it read (a fresh record addressed to the worker's current
 * incarnation) rather than created, which would conflict with it forever; an unreadable `_meta`
 * likewise. A version of exactly 2^52 (in a key, `_meta` or a heartbeat) is well-formed but has no
 * successor a record could carry: it is reported once and the count continues from the highest
 * version below it. Every version below the ceiling is counted, so the count never drops below one
 * a worker applied (hand-off acknowledgements compare versions), unless that worker took a key
 * forged at or just below the ceiling, which, like any well-formed forgery, can mislead it.
 *
 * @module
 */
import {
  LeadershipLostError,
  MalformedDataError,
  RevisionConflictError,
  toError,
} from "../errors.ts";
import { type Partition, partitionId, sameKeys } from "../partition.ts";
import {
  readWorkerAssignment,
  writeMeta,
  writeWorkerAssignment,
} from "../protocol/assignment_io.ts";
import { ASSIGNMENT_PREFIX, assignmentKey, META_KEY } from "../protocol/keys.ts";
import { decodeMeta, MAX_COUNTER, type MetaRecord } from "../protocol/records.ts";
import type { Bucket } from "../store/store.ts";

/** How many worker keys one publication writes at the same time. */
const WRITE_CONCURRENCY = 16;

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
  /** Worker keys found unreadable on adoption: their revision, to write over them by CAS. */
  readonly #unreadable = new Map<string, number>();
  /** Sources of a version at MAX_COUNTER already reported (once each). */
  readonly #ceilingReported = new Set<string>();
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
    this.#unreadable.clear();
    // minVersion folds this publisher's own count in with the heartbeats' applied versions: at the
    // ceiling (a heartbeat reports it) it is reported and skipped, the own count is kept.
    const own = this.#version < MAX_COUNTER ? this.#version : 0;
    this.#version = Math.max(
      own,
      this.#countable(minVersion, "(heartbeats)", "a heartbeat's applied version"),
    );
    this.#metaRevision = 0;
    const meta = await this.#bucket.get(META_KEY);
    if (meta) {
      // Kept even when the value is unreadable: the next publication writes over it by CAS.
      this.#metaRevision = meta.revision;
      try {
        const record = decodeMeta(this.#bucket.name, META_KEY, meta.value);
        this.#version = Math.max(
          this.#version,
          this.#countable(record.version, META_KEY, "version"),
        );
      } catch (error) {
        this.#onError(toError(error));
      }
    }
    for (const key of await this.#bucket.keys()) {
      if (!key.startsWith(ASSIGNMENT_PREFIX)) continue;
      const workerId = key.slice(ASSIGNMENT_PREFIX.length);
      if (workerId.includes(".")) continue; // a chunk key
      const entry = await this.#bucket.get(key);
      if (!entry) continue;
      let published;
      try {
        published = await readWorkerAssignment(this.#bucket, workerId, entry);
      } catch (error) {
        this.#onError(toError(error));
        this.#unreadable.set(workerId, entry.revision);
        continue;
      }
      // Undefined: replaced while it was read (another writer); the next write conflicts.
      if (!published) continue;
      this.#version = Math.max(this.#version, this.#countable(published.version, key, "version"));
      this.#published.set(workerId, {
        ...published,
        ids: new Set(published.partitions.map(partitionId)),
      });
    }
  }

  /**
   * A version the count may continue from: itself, or 0 for one at MAX_COUNTER (no successor a
   * record could carry), reported once per key.
   */
  #countable(version: number, key: string, what: string): number {
    if (version < MAX_COUNTER) return version;
    if (!this.#ceilingReported.has(key)) {
      this.#ceilingReported.add(key);
      this.#onError(
        new MalformedDataError(
          this.#bucket.name,
          key,
          `${what} ${version} is 2^52, the largest a record may carry, and has no successor; ` +
            "the count continues from the highest version below it",
        ),
      );
    }
    return 0;
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
    const changes = keyChanges(this.#published, next, force, incarnations);
    if (changes.length === 0) return undefined;
    const version = this.#version + 1;
    if (version > MAX_COUNTER) {
      // Only reachable from a forged version just below the ceiling: re-adopting skips it.
      throw new LeadershipLostError(
        `The version count reached 2^52 in '${this.#bucket.name}'; re-reading the assignment`,
      );
    }
    // Shrinking keys first, all of them, then the rest: a partition leaves its old owner's key
    // before it appears in a new owner's. Within each group the keys are written concurrently
    // (at most WRITE_CONCURRENCY at a time), so a publication costs two round trips plus _meta,
    // not one per worker: on a slow link (a gray failure) a leader with many workers would
    // otherwise take seconds per publication.
    for (const shrinks of [true, false]) {
      await this.#writeAll(
        epoch,
        version,
        phase,
        changes.filter((c) => c.shrinks === shrinks),
        isLeader,
      );
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

  /**
   * Writes the keys of `changes` concurrently, at most WRITE_CONCURRENCY at a time, checking
   * the lease before each. Waits for every write it started, then throws the first failure.
   */
  async #writeAll(
    epoch: number,
    version: number,
    phase: "revoke" | "assign",
    changes: readonly {
      readonly workerId: string;
      readonly partitions: readonly Partition[];
      readonly incarnation: string;
    }[],
    isLeader: () => boolean,
  ): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | undefined;
    const lane = async () => {
      while (failure === undefined && next < changes.length) {
        const change = changes[next++]!;
        try {
          if (!isLeader()) throw new LeadershipLostError("Leadership lost while publishing");
          await this.#writeWorker(epoch, version, phase, change);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(WRITE_CONCURRENCY, changes.length) }, lane),
    );
    if (failure !== undefined) throw failure.error;
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
          // A key found unreadable is written over by CAS (a create would conflict with it).
          revision: previous?.revision ?? this.#unreadable.get(workerId) ?? 0,
          ...(previous ? { previous } : {}),
          onError: this.#onError,
        }),
    );
    this.#unreadable.delete(workerId);
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
/** A key a publication writes, from {@link keyChanges}. */
export interface KeyChange {
  /** The worker whose key it is. */
  readonly workerId: string;
  /** Its partitions in the new version. */
  readonly partitions: readonly Partition[];
  /** It only loses partitions (written in the first group). */
  readonly shrinks: boolean;
  /** The incarnation it is addressed to. */
  readonly incarnation: string;
}

/**
 * The keys a publication of `next` must write, the shrinking ones first: every worker whose
 * partitions, weights or incarnation differ from what is published, and every worker in `force`.
 *
 * @param published What is published per worker.
 * @param next The partitions per worker.
 * @param force Workers whose key is rewritten even if unchanged.
 * @param incarnations The incarnation each live worker reports now.
 * @returns The changes, shrinking keys first.
 */
export function keyChanges(
  published: ReadonlyMap<string, PublishedWorker>,
  next: ReadonlyMap<string, readonly Partition[]>,
  force: ReadonlySet<string>,
  incarnations: ReadonlyMap<string, string>,
): KeyChange[] {
  const changes: KeyChange[] = [];
  for (const [workerId, partitions] of next) {
    const current = published.get(workerId);
    const incarnation = incarnations.get(workerId) ?? current?.incarnation ?? "";
    const same = current !== undefined && current.ids.size === partitions.length &&
      current.incarnation === incarnation && sameWeights(current.partitions, partitions);
    if (same && !force.has(workerId)) continue;
    const shrinks = current !== undefined &&
      partitions.every((p) => current.ids.has(partitionId(p)));
    changes.push({ workerId, partitions, shrinks, incarnation });
  }
  return changes.sort((a, b) => Number(b.shrinks) - Number(a.shrinks));
}

/** Whether two lists hold the same partitions with the same weights (in any order). */
function sameWeights(a: readonly Partition[], b: readonly Partition[]): boolean {
  if (a.length !== b.length) return false;
  // Usually in the same order: compared pairwise without IDs, by ID only from the first change.
  let from = 0;
  while (from < a.length && sameKeys(a[from]!, b[from]!) && a[from]!.weight === b[from]!.weight) {
    from++;
  }
  if (from === a.length) return true;
  const weights = new Map<string, number>();
  for (let i = from; i < a.length; i++) weights.set(partitionId(a[i]!), a[i]!.weight ?? 1);
  for (let i = from; i < b.length; i++) {
    if (weights.get(partitionId(b[i]!)) !== (b[i]!.weight ?? 1)) return false;
  }
  return true;
}
