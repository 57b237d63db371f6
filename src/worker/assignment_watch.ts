/**
 * A worker's view of its own published assignment: watches its key in the assignment bucket,
 * reassembles chunked values and passes on only assignments newer (by epoch, then version) than
 * the one it holds, so a stale leader or a replayed value can never move it backwards.
 *
 * @module
 */
import { toError } from "../errors.ts";
import type { Partition } from "../partition.ts";
import { readWorkerAssignment } from "../protocol/assignment_io.ts";
import { assignmentKey } from "../protocol/keys.ts";
import { compareVersions } from "../protocol/records.ts";
import type { Bucket, KvEntry, KvWatch } from "../store/store.ts";

/** A complete assignment read from the bucket. */
export interface ReceivedAssignment {
  /** Leader epoch. */
  readonly epoch: number;
  /** Publication version. */
  readonly version: number;
  /** The partitions. */
  readonly partitions: readonly Partition[];
  /** The worker incarnation the leader addressed it to. */
  readonly incarnation: string;
}

/** Options of {@link AssignmentWatch}. */
export interface AssignmentWatchOptions {
  /** The newest assignment this worker already holds. */
  readonly current: () => { epoch: number; version: number };
  /** Called with each newer assignment, one at a time. */
  readonly onAssignment: (assignment: ReceivedAssignment) => void;
  /** Receives malformed values and watch problems. */
  readonly onError: (error: Error) => void;
}

/** Watches one worker's assignment key. */
export class AssignmentWatch {
  readonly #bucket: Bucket;
  readonly #key: string;
  readonly #workerId: string;
  readonly #options: AssignmentWatchOptions;
  readonly #abort = new AbortController();
  #watch: KvWatch | undefined;
  #lastRevision = 0;

  /**
   * @param bucket The assignment bucket.
   * @param workerId This worker's ID.
   * @param options Callbacks.
   */
  constructor(bucket: Bucket, workerId: string, options: AssignmentWatchOptions) {
    this.#bucket = bucket;
    this.#workerId = workerId;
    this.#key = assignmentKey(workerId);
    this.#options = options;
  }

  /** Starts watching. */
  start(): void {
    this.#watch = this.#bucket.watch({
      key: this.#key,
      signal: this.#abort.signal,
      onError: this.#options.onError,
    });
    const watch = this.#watch;
    (async () => {
      for await (const entry of watch) await this.#handle(entry);
    })().catch((error) => this.#options.onError(toError(error)));
  }

  /** Reads the key directly: a safety net against a watcher that went silent. */
  async poll(): Promise<void> {
    const entry = await this.#bucket.get(this.#key);
    if (entry && entry.revision !== this.#lastRevision) await this.#handle(entry);
  }

  async #handle(entry: KvEntry): Promise<void> {
    if (entry.operation === "delete") return;
    this.#lastRevision = entry.revision;
    try {
      const published = await readWorkerAssignment(this.#bucket, this.#workerId, entry);
      // Undefined: a newer publication replaced this one while reading; its key follows.
      if (!published || compareVersions(published, this.#options.current()) <= 0) return;
      const { epoch, version, partitions, incarnation } = published;
      this.#options.onAssignment({ epoch, version, partitions, incarnation });
    } catch (error) {
      this.#options.onError(toError(error));
    }
  }

  /** Stops watching. */
  stop(): void {
    this.#abort.abort();
    this.#watch?.stop();
  }
}
