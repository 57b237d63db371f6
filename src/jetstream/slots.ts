/**
 * A counting semaphore for handler slots: `maxInFlight` bounds the handlers running across every
 * partition of one consumer. Waiters are served first come, first served, so a busy partition
 * cannot starve the others.
 *
 * @module
 */

/** A fixed number of slots, handed out in the order they were asked for. */
export class Slots {
  #free: number;
  readonly #waiters: Array<(granted: boolean) => void> = [];

  /** @param size How many slots there are (>= 1). */
  constructor(size: number) {
    this.#free = size;
  }

  /**
   * Takes a slot, waiting for one if none is free.
   *
   * @param signal Gives up waiting when aborted.
   * @returns `true` with a slot (give it back with {@link Slots.release}), `false` if aborted.
   */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.#free > 0 && this.#waiters.length === 0) {
      this.#free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const waiter = (granted: boolean) => {
        signal.removeEventListener("abort", onAbort);
        resolve(granted);
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(false);
      };
      this.#waiters.push(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Gives a slot back: to the longest waiter if there is one. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next(true);
    else this.#free++;
  }
}
