/**
 * Cooperative time slices for long synchronous work on the event loop. At 100k partitions the
 * leader's rebalance decision is a few steps of tens to hundreds of milliseconds each on a busy
 * machine, while its lease renewal (a timer, then a request answered on the same loop) must run
 * every third of a lease. {@link TimeSlice.pause} between the steps gives the loop back once a
 * slice is used up, so due timers and arrived I/O run in between. Small inputs finish within one
 * slice and never pause: what is decided is unchanged, only when other work gets to run.
 *
 * Time is real elapsed time (`performance.now()`), not the manager's clock, which a test may fake.
 *
 * @module
 */

/** How long work may run before it gives the loop back, in milliseconds. */
export const SLICE_MS = 20;

/**
 * Work over fewer items than this never pauses: it takes well under a slice on any machine, and
 * staying synchronous keeps it deterministic for a test that steps a manager on a fake clock.
 */
export const PAUSE_FROM_ITEMS = 10_000;

/** Tracks one piece of work's slice and gives the loop back when it is used up. */
export class TimeSlice {
  readonly #sliceMs: number;
  #since = performance.now();

  /**
   * @param items How many items the work goes through (below {@link PAUSE_FROM_ITEMS}, never pauses).
   * @param sliceMs How long the work may run between pauses.
   */
  constructor(items: number, sliceMs: number = SLICE_MS) {
    this.#sliceMs = items < PAUSE_FROM_ITEMS ? Number.POSITIVE_INFINITY : sliceMs;
  }

  /**
   * Returns at once while the slice lasts; otherwise waits one turn of the task queue (timers and
   * I/O that are due run first) and starts a new slice.
   *
   * @returns Whether it paused.
   */
  async pause(): Promise<boolean> {
    if (performance.now() - this.#since < this.#sliceMs) return false;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.#since = performance.now();
    return true;
  }
}
