/**
 * Small async helpers shared by the manager's components.
 *
 * @module
 */

/** Resolves after `ms` milliseconds, or early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

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

/** Waits for `signal.wait()` or `ms`, whichever comes first, or until `abort` fires. */
export async function waitOrTimeout(
  signal: Signal,
  ms: number,
  abort?: AbortSignal,
): Promise<void> {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  abort?.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.race([signal.wait(), sleep(ms, controller.signal)]);
  } finally {
    controller.abort();
    abort?.removeEventListener("abort", onAbort);
  }
}

/** Returns a random hex string of `bytes` bytes. */
export function randomHex(bytes = 8): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (b) => b.toString(16).padStart(2, "0")).join("");
}
