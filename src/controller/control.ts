/**
 * Control requests any worker can make of the leader, carried in the assignment bucket so that
 * they survive leader changes: the drain list (persisted, compare-and-set updated) and one-shot
 * "refresh the partitions" / "rebalance now" requests, which the leader acts on when it sees a new
 * revision of their key.
 *
 * @module
 */
import { RevisionConflictError } from "../errors.ts";
import {
  CONTROL_FILTER,
  decodeDrain,
  DRAIN_KEY,
  encode,
  REBALANCE_KEY,
  REFRESH_KEY,
} from "../protocol.ts";
import type { Bucket, KvWatch } from "../store/store.ts";
import { randomHex } from "../util.ts";

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
    onError(error as Error);
    return { workers: new Set(), revision: entry.revision };
  }
}

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

/** Callbacks of {@link ControlWatch}. */
export interface ControlWatchOptions {
  /** The drain list changed. */
  readonly onDrained: (workers: ReadonlySet<string>) => void;
  /** Someone asked for a partition refresh. */
  readonly onRefresh: () => void;
  /** Someone asked for a rebalance. */
  readonly onRebalance: () => void;
  /** Malformed values and watch problems. */
  readonly onError: (error: Error) => void;
}

/** The leader's watch of control keys. */
export class ControlWatch {
  readonly #bucket: Bucket;
  readonly #options: ControlWatchOptions;
  readonly #abort = new AbortController();
  #watch: KvWatch | undefined;

  /**
   * @param bucket The assignment bucket.
   * @param options Callbacks.
   */
  constructor(bucket: Bucket, options: ControlWatchOptions) {
    this.#bucket = bucket;
    this.#options = options;
  }

  /** Starts watching; requests already in the bucket when it starts are not replayed. */
  async start(): Promise<void> {
    // Requests older than this leadership were meant for an earlier leader; this controller
    // starts with a refresh and a full convergence anyway.
    let floor = 0;
    try {
      floor = (await this.#bucket.status()).lastRevision;
    } catch (error) {
      this.#options.onError(error as Error);
    }
    if (this.#abort.signal.aborted) return;
    this.#watch = this.#bucket.watch({
      key: CONTROL_FILTER,
      signal: this.#abort.signal,
      onError: this.#options.onError,
    });
    const watch = this.#watch;
    (async () => {
      for await (const entry of watch) {
        if (entry.key === DRAIN_KEY) {
          let workers = new Set<string>();
          if (entry.operation === "put") {
            try {
              workers = new Set(decodeDrain(this.#bucket.name, entry.key, entry.value).workers);
            } catch (error) {
              this.#options.onError(error as Error);
            }
          }
          this.#options.onDrained(workers);
          continue;
        }
        if (entry.operation !== "put" || entry.revision <= floor) continue;
        if (entry.key === REFRESH_KEY) this.#options.onRefresh();
        else if (entry.key === REBALANCE_KEY) this.#options.onRebalance();
      }
    })().catch((error) => this.#options.onError(error as Error));
  }

  /** Stops watching. */
  stop(): void {
    this.#abort.abort();
    this.#watch?.stop();
  }
}
