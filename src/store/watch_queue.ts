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
  /** Entries pushed so far, and taken by the consumer so far. */
  #pushed = 0;
  #taken = 0;
  /**
   * Entries the consumer had taken when it last asked for the next one: those it has handled
   * (-1 before it first asked). An entry handed straight to a waiting consumer is taken, but its
   * loop body has not run yet, so taking alone must not count.
   */
  #handled = -1;
  /** How many entries belong to the initial values, once the producer knows. */
  #initialCount: number | undefined;
  #resolveInitialized!: () => void;
  /** See {@link KvWatch.initialized}. */
  readonly initialized: Promise<void> = new Promise((resolve) => {
    this.#resolveInitialized = resolve;
  });

  /**
   * @param signal Stops the watch when aborted.
   */
  constructor(signal?: AbortSignal) {
    if (signal?.aborted) {
      this.#stopped = true;
      this.#resolveInitialized();
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

  /**
   * The producer has pushed every initial value: `initialized` resolves once the consumer has
   * taken them all and asked for more. Only the first call counts.
   */
  markInitialized(): void {
    if (this.#initialCount !== undefined) return;
    this.#initialCount = this.#pushed;
    this.#checkInitialized();
  }

  #checkInitialized(): void {
    if (this.#initialCount !== undefined && this.#handled >= this.#initialCount) {
      this.#resolveInitialized();
    }
  }

  /** Queues an entry for the consumer; ignored after stop. */
  push(entry: KvEntry): void {
    if (this.#stopped) return;
    this.#pushed++;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#taken++;
      waiter({ value: entry, done: false });
    } else {
      this.#entries.push(entry);
    }
  }

  /** Stops the watch: pending and later iterations end. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#resolveInitialized();
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
        // Asking again means every entry taken so far was handled.
        this.#handled = this.#taken;
        this.#checkInitialized();
        const entry = this.#entries.shift();
        if (entry !== undefined) {
          this.#taken++;
          return Promise.resolve({ value: entry, done: false });
        }
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
