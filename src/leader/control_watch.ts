/**
 * The leader's watch of the control keys any worker can write (see `protocol/requests.ts`): the
 * persisted drain list and one-shot "refresh the partitions" / "rebalance now" requests, acted on
 * when a new revision of their key is seen.
 *
 * @module
 */
import { toError } from "../errors.ts";
import { CONTROL_FILTER, DRAIN_KEY, REBALANCE_KEY, REFRESH_KEY } from "../protocol/keys.ts";
import { decodeDrain } from "../protocol/records.ts";
import type { Bucket, KvWatch } from "../store/store.ts";

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
  /** The assignment bucket was deleted and created again. */
  readonly onRecreated: () => void;
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
      this.#options.onError(toError(error));
    }
    if (this.#abort.signal.aborted) return;
    this.#watch = this.#bucket.watch({
      key: CONTROL_FILTER,
      signal: this.#abort.signal,
      onError: this.#options.onError,
      onRecreated: this.#options.onRecreated,
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
              this.#options.onError(toError(error));
            }
          }
          this.#options.onDrained(workers);
          continue;
        }
        if (entry.operation !== "put" || entry.revision <= floor) continue;
        if (entry.key === REFRESH_KEY) this.#options.onRefresh();
        else if (entry.key === REBALANCE_KEY) this.#options.onRebalance();
      }
    })().catch((error) => this.#options.onError(toError(error)));
  }

  /** Stops watching. */
  stop(): void {
    this.#abort.abort();
    this.#watch?.stop();
  }
}
