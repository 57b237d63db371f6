/**
 * The consumer side of a watch, shared by both stores: an unbounded queue of entries exposed as an
 * async iterable with `stop()`. Producers push; the consumer is always resumed from a promise
 * callback, so a watcher never runs inside the call stack of the write that produced its entry
 * and cannot re-enter the writer. Internal to the store layer.
 *
 * @module
 */

import type { KvEntry, KvWatch } from "./store.ts";

/** A {@link KvWatch} fed by `push()`; `onStop` callbacks release the producer's resources. */
export class WatchQueue implements KvWatch {
  #entries: KvEntry[] = [];
  #waiters: Array<(result: IteratorResult<KvEntry>) => void> = [];
  #stopped = false;
  #onStop: Array<() => void> = [];

  /**
   * @param signal Stops the watch when aborted.
   */
  constructor(signal?: AbortSignal) {
    if (signal?.aborted) {
      this.#stopped = true;
    } else {
      signal?.addEventListener("abort", () => this.stop(), { once: true });
    }
  }

  /** Whether `stop()` was called (or the signal aborted). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Registers a cleanup that runs once when the watch stops (at once if already stopped). */
  onStop(cleanup: () => void): void {
    if (this.#stopped) {
      cleanup();
      return;
    }
    this.#onStop.push(cleanup);
  }

  /** Queues an entry for the consumer; ignored after stop. */
  push(entry: KvEntry): void {
    if (this.#stopped) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter({ value: entry, done: false });
    } else {
      this.#entries.push(entry);
    }
  }

  /** Stops the watch: pending and later iterations end. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#entries.length = 0;
    for (const waiter of this.#waiters.splice(0)) {
      waiter({ value: undefined, done: true });
    }
    for (const cleanup of this.#onStop.splice(0)) {
      try {
        cleanup();
      } catch {
        // A failing cleanup must not keep the others from running.
      }
    }
  }

  /** Iterates the entries until the watch stops; leaving the loop early stops the watch. */
  [Symbol.asyncIterator](): AsyncIterator<KvEntry> {
    return {
      next: (): Promise<IteratorResult<KvEntry>> => {
        const entry = this.#entries.shift();
        if (entry !== undefined) return Promise.resolve({ value: entry, done: false });
        if (this.#stopped) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: (): Promise<IteratorResult<KvEntry>> => {
        this.stop();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
