/**
 * Reading published assignments back from the assignment bucket: one worker's key (inline or
 * chunked) or every worker's. Shared by the worker that applies its own key, the leader that
 * adopts what is published, and the read-only topology view.
 *
 * @module
 */
import { MalformedDataError } from "./errors.ts";
import type { Partition } from "./partition.ts";
import {
  ASSIGNMENT_PREFIX,
  assignmentKey,
  chunkKey,
  decodeChunk,
  decodeWorkerAssignment,
} from "./protocol.ts";
import type { Bucket, KvEntry } from "./store/store.ts";

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
      onError(error as Error);
    }
  }
  return out;
}
