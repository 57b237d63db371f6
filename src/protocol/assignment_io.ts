/**
 * How one worker's assignment key is written and read back, chunks included. A value larger than
 * {@link CHUNK_BYTES} is split into chunk keys named after its publication (epoch, version); the
 * chunks are written before the main key, so a reader that sees the main key finds its chunks, and
 * the previous publication's chunks are collected after it. Shared by the leader's publisher (the
 * writer), the worker that applies its own key, the leader that adopts what is published, and the
 * read-only group view.
 *
 * @module
 */
import { MalformedDataError, toError } from "../errors.ts";
import type { Partition } from "../partition.ts";
import type { Bucket, KvEntry } from "../store/store.ts";
import { ASSIGNMENT_PREFIX, assignmentKey, CHUNK_BYTES, chunkKey, META_KEY } from "./keys.ts";
import { decodeChunk, decodeWorkerAssignment, encode, type MetaRecord } from "./records.ts";

/** One worker's published assignment as read from the bucket. */
export interface PublishedAssignment {
  /** Leader epoch of the publication. */
  readonly epoch: number;
  /** Version of the publication. */
  readonly version: number;
  /** The partitions (reassembled when chunked). */
  readonly partitions: readonly Partition[];
  /** Number of chunk keys holding the partitions (0 when inline). */
  readonly chunks: number;
  /** The worker incarnation the publication is addressed to. */
  readonly incarnation: string;
  /** Revision of the worker's main key. */
  readonly revision: number;
}

/**
 * Decodes a worker's main key and, when chunked, reads its chunks.
 *
 * @returns The assignment, or `undefined` when a newer publication replaced this one while it was
 *   being read (its chunks are already gone or belong to another publication).
 * @throws {MalformedDataError} On foreign data, or a chunk missing while the key is unchanged.
 */
export async function readWorkerAssignment(
  bucket: Bucket,
  workerId: string,
  entry: KvEntry,
): Promise<PublishedAssignment | undefined> {
  const record = decodeWorkerAssignment(bucket.name, entry.key, entry.value);
  const chunks = record.chunks ?? 0;
  let partitions = record.partitions;
  if (partitions === undefined) {
    const collected: Partition[] = [];
    for (let i = 0; i < chunks; i++) {
      const key = chunkKey(workerId, record, i);
      const chunkEntry = await bucket.get(key);
      if (!chunkEntry) {
        const current = await bucket.get(assignmentKey(workerId));
        if (current && current.revision !== entry.revision) return undefined;
        throw new MalformedDataError(bucket.name, key, "chunk missing");
      }
      const chunk = decodeChunk(bucket.name, key, chunkEntry.value);
      if (chunk.epoch !== record.epoch || chunk.version !== record.version) return undefined;
      collected.push(...chunk.partitions);
    }
    partitions = collected;
  }
  return {
    epoch: record.epoch,
    version: record.version,
    partitions,
    chunks,
    incarnation: record.incarnation,
    revision: entry.revision,
  };
}

/** Reads every worker's published assignment; malformed keys go to `onError` and are skipped. */
export async function readAllAssignments(
  bucket: Bucket,
  onError: (error: Error) => void,
): Promise<Map<string, PublishedAssignment>> {
  const out = new Map<string, PublishedAssignment>();
  for (const key of await bucket.keys()) {
    if (!key.startsWith(ASSIGNMENT_PREFIX)) continue;
    const workerId = key.slice(ASSIGNMENT_PREFIX.length);
    if (workerId.includes(".")) continue; // a chunk key
    const entry = await bucket.get(key);
    if (!entry) continue;
    try {
      const published = await readWorkerAssignment(bucket, workerId, entry);
      if (published) out.set(workerId, published);
    } catch (error) {
      onError(toError(error));
    }
  }
  return out;
}

/** One worker's key to write: what and under which publication. */
export interface WorkerAssignmentWrite {
  /** The worker whose key is written. */
  readonly workerId: string;
  /** Leader epoch of the publication. */
  readonly epoch: number;
  /** Version of the publication. */
  readonly version: number;
  /** `"revoke"` while some partitions are held back until their old owners confirm. */
  readonly phase: "revoke" | "assign";
  /** The worker's partitions. */
  readonly partitions: readonly Partition[];
  /** The worker incarnation the publication is addressed to. */
  readonly incarnation: string;
  /** Revision of the key this write replaces (compare-and-set), 0 to create it. */
  readonly revision: number;
  /** The publication the key held before, whose chunks become garbage after this write. */
  readonly previous?: { readonly epoch: number; readonly version: number; readonly chunks: number };
  /** Receives failures to collect old chunks (harmless: they are never read again). */
  readonly onError: (error: Error) => void;
}

/**
 * Writes one worker's assignment key by compare-and-set, in chunks when it is large.
 *
 * @returns The key's new revision and the number of chunks written (0 when inline).
 * @throws {RevisionConflictError} When the key changed since `revision`: another writer.
 */
export async function writeWorkerAssignment(
  bucket: Bucket,
  write: WorkerAssignmentWrite,
): Promise<{ revision: number; chunks: number }> {
  const { workerId, epoch, version, phase, partitions, incarnation } = write;
  let value = encode({ epoch, version, phase, incarnation, partitions });
  let chunks = 0;
  if (value.byteLength > CHUNK_BYTES) {
    const perChunk = Math.max(
      1,
      Math.floor(partitions.length * CHUNK_BYTES / value.byteLength / 2),
    );
    for (let i = 0; i < partitions.length; i += perChunk, chunks++) {
      await bucket.put(
        chunkKey(workerId, { epoch, version }, chunks),
        encode({ epoch, version, partitions: partitions.slice(i, i + perChunk) }),
      );
    }
    value = encode({ epoch, version, phase, incarnation, chunks });
  }
  const key = assignmentKey(workerId);
  const revision = write.revision === 0
    ? await bucket.create(key, value)
    : await bucket.update(key, value, write.revision);
  // The previous publication's chunks are garbage now: a reader that still follows it sees the
  // main key moved on and reads the new one.
  const previous = write.previous;
  for (let i = 0; i < (previous?.chunks ?? 0); i++) {
    await bucket.delete(chunkKey(workerId, previous!, i)).catch(write.onError);
  }
  return { revision, chunks };
}

/**
 * Writes the publication summary by compare-and-set.
 *
 * @returns The new revision.
 * @throws {RevisionConflictError} When another writer changed it.
 */
export function writeMeta(bucket: Bucket, record: MetaRecord, revision: number): Promise<number> {
  const value = encode(record);
  return revision === 0 ? bucket.create(META_KEY, value) : bucket.update(META_KEY, value, revision);
}
