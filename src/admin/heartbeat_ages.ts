/**
 * Heartbeat ages as an admin can know them honestly: by its own monotonic clock, from the moment
 * it observed a heartbeat revision arrive on its watch (protocol §4: no decision, and no displayed
 * age, compares timestamps written by two machines). A revision that was already current when the
 * watch started (or when the bucket was recreated) was written at a time this clock never saw, so
 * its age is unknown, not guessed; the observer says how long it has been watching instead, which
 * bounds such an age from below.
 *
 * @module
 */
import { toError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Bucket, KvWatch } from "../store/store.ts";

interface Observation {
  readonly revision: number;
  /** When this admin saw the revision arrive; `undefined` when it was there before the watch. */
  readonly observedAt: number | undefined;
}

/** Watches a heartbeat bucket and records when each worker's latest revision was observed. */
export class HeartbeatObserver {
  readonly #bucket: Bucket;
  readonly #clock: Clock;
  readonly #onError: (error: Error) => void;
  readonly #seen = new Map<string, Observation>();
  readonly #listeners = new Set<() => void>();
  readonly #abort = new AbortController();
  #watch: KvWatch | undefined;
  #pump: Promise<void> | undefined;
  #watchingSince: number;
  /** Until the initial values are handled, every entry is one of them. */
  #initialized = false;
  /** After a recreation, the first revision of each key is a snapshot value again. */
  #recreated = false;

  /**
   * @param bucket The group's heartbeat bucket.
   * @param clock The admin's monotonic clock.
   * @param onError Receives watch problems the store recovers from by itself.
   */
  constructor(bucket: Bucket, clock: Clock, onError: (error: Error) => void) {
    this.#bucket = bucket;
    this.#clock = clock;
    this.#onError = onError;
    this.#watchingSince = clock.now();
  }

  /** Starts watching; resolves once the current heartbeats have been taken in. */
  async start(): Promise<void> {
    this.#watchingSince = this.#clock.now();
    const watch = this.#bucket.watch({
      signal: this.#abort.signal,
      onError: this.#onError,
      onRecreated: () => {
        this.#seen.clear();
        this.#recreated = true;
        this.#watchingSince = this.#clock.now();
        this.#notify();
      },
    });
    this.#watch = watch;
    // Attached before the pump runs: the flag flips before the first live entry reaches the
    // loop body (the queue resolves `initialized` inside the `next()` that precedes it).
    const initialized = watch.initialized.then(() => {
      this.#initialized = true;
    });
    this.#pump = (async () => {
      for await (const entry of watch) {
        if (entry.operation === "delete") {
          this.#seen.delete(entry.key);
        } else {
          const previous = this.#seen.get(entry.key);
          const snapshot = !this.#initialized || (this.#recreated && previous === undefined);
          this.#seen.set(entry.key, {
            revision: entry.revision,
            observedAt: snapshot ? undefined : this.#clock.now(),
          });
        }
        this.#notify();
      }
    })().catch((error) => this.#onError(toError(error)));
    await initialized;
  }

  /**
   * Milliseconds since the worker's current heartbeat revision was observed arriving, or
   * `undefined` when no revision of it has arrived while watching.
   */
  ageMs(workerId: string): number | undefined {
    const at = this.#seen.get(workerId)?.observedAt;
    return at === undefined ? undefined : Math.max(0, this.#clock.now() - at);
  }

  /** How long the current watch has been running (since its start or the last recreation). */
  watchingForMs(): number {
    return Math.max(0, this.#clock.now() - this.#watchingSince);
  }

  /** Calls `listener` after every heartbeat change; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#watch?.stop();
    await this.#pump;
    this.#listeners.clear();
  }

  #notify(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#onError(toError(error));
      }
    }
  }
}
