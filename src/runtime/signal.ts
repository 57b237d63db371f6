/**
 * A wake-up signal for loops that sleep until "something changed or a period passed".
 *
 * @module
 */

/** A promise that can be resolved from outside, e.g. to wake a waiting loop. */
export class Signal {
  #resolve: (() => void) | undefined;
  #promise: Promise<void> | undefined;

  /** Returns a promise resolved by the next {@link Signal.notify}. */
  wait(): Promise<void> {
    this.#promise ??= new Promise((resolve) => (this.#resolve = resolve));
    return this.#promise;
  }

  /** Wakes every waiter. */
  notify(): void {
    const resolve = this.#resolve;
    this.#promise = undefined;
    this.#resolve = undefined;
    resolve?.();
  }
}

/** Returns a random hex string of `bytes` bytes (instance names, nonces, request IDs). */
export function randomHex(bytes = 8): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Resolves as `work` does, or rejects with `onAbort()` as soon as `signal` aborts (`work` itself is
 * not cancelled).
 */
export function abortable<T>(
  work: Promise<T>,
  signal: AbortSignal,
  onAbort: () => Error,
): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
