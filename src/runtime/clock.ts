/**
 * The monotonic clock every timer and deadline in Parti reads. Leases, heartbeats and time-to-live
 * are judged by the observer's own monotonic time (never by wall-clock timestamps written by another
 * machine). A clock may also schedule callbacks in its own time: a fake clock that does (see
 * `FakeClock` in `@parti/core/testing`) drives every timer of a manager, so time-driven decisions
 * can be tested exactly without waiting.
 *
 * @module
 */

/** Cancels a scheduled callback; calling it again, or after the callback ran, does nothing. */
export type Cancel = () => void;

/**
 * A monotonic clock in milliseconds. Only differences between two readings are meaningful; the
 * origin is arbitrary and the value must never go backwards.
 *
 * A clock with only `now()` (for example one with a fixed offset, to simulate skew) runs its
 * timers on the platform's `setTimeout`: time then passes at the real rate. A clock that also
 * implements `setTimeout` schedules every timer itself.
 *
 * @example A clock with a skew of ten minutes
 * ```ts
 * import type { Clock } from "@parti/core";
 *
 * const skewed: Clock = { now: () => performance.now() + 600_000 };
 * console.assert(skewed.now() > 600_000);
 * ```
 */
export interface Clock {
  /**
   * Reads the clock.
   *
   * @returns Milliseconds since an arbitrary origin; never decreases.
   */
  now(): number;
  /**
   * Runs `callback` once `ms` milliseconds of this clock's time have passed.
   *
   * @param callback Called once, never synchronously.
   * @param ms Delay in milliseconds (negative counts as 0).
   * @returns A function that cancels the callback.
   */
  setTimeout?(callback: () => void, ms: number): Cancel;
}

/**
 * The process's monotonic clock (`performance.now()`), unaffected by wall-clock jumps such as NTP
 * corrections or `faketime` offsets; its timers are the platform's.
 *
 * @example Measure an elapsed time
 * ```ts
 * import { systemClock } from "@parti/core";
 *
 * const start = systemClock.now();
 * const elapsedMs = systemClock.now() - start;
 * console.assert(elapsedMs >= 0);
 * ```
 */
export const systemClock: Clock = {
  now: (): number => performance.now(),
  setTimeout(callback: () => void, ms: number): Cancel {
    const id = setTimeout(callback, Math.max(0, ms));
    return () => clearTimeout(id);
  },
};
