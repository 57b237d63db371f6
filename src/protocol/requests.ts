/**
 * Control requests any worker (or an operator tool) can make of the leader, carried in the
 * assignment bucket so that they survive leader changes: the drain list (persisted,
 * compare-and-set updated) and one-shot "refresh the partitions" / "rebalance now" requests, which
 * the leader acts on when it sees a new revision of their key.
 *
 * @module
 */
import { RevisionConflictError } from "../errors.ts";
import { randomHex } from "../runtime/signal.ts";
import type { Bucket } from "../store/store.ts";
import { readDrained } from "./group_view.ts";
import { DRAIN_KEY, REBALANCE_KEY, REFRESH_KEY } from "./keys.ts";
import { encode } from "./records.ts";

/**
 * Adds or removes a worker in the drain list by compare-and-set, retrying on conflicts.
 *
 * @returns Whether the list changed.
 */
export async function setDrained(
  bucket: Bucket,
  workerId: string,
  drained: boolean,
  onError: (error: Error) => void,
): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const { workers, revision } = await readDrained(bucket, onError);
    if (workers.has(workerId) === drained) return false;
    if (drained) workers.add(workerId);
    else workers.delete(workerId);
    const value = encode({ workers: [...workers].sort() });
    try {
      if (revision === 0) await bucket.create(DRAIN_KEY, value);
      else await bucket.update(DRAIN_KEY, value, revision);
      return true;
    } catch (error) {
      if (!(error instanceof RevisionConflictError)) throw error;
    }
  }
  throw new RevisionConflictError(bucket.name, DRAIN_KEY);
}

/** Writes a one-shot request for the leader. */
export async function sendRequest(
  bucket: Bucket,
  kind: "refresh" | "rebalance",
  from: string,
): Promise<void> {
  await bucket.put(
    kind === "refresh" ? REFRESH_KEY : REBALANCE_KEY,
    encode({ from, id: randomHex() }),
  );
}
