/**
 * The monotonic clock every timer and deadline in Parti reads. Leases, heartbeats and time-to-live
 * are judged by the observer's own monotonic time (never by wall-clock timestamps written by another
 * machine), and tests inject a manual clock to exercise skew and expiry deterministically.
 *
 * @module
 */

/**
 * A monotonic clock in milliseconds. Only differences between two readings are meaningful; the
 * origin is arbitrary and the value must never go backwards.
 *
 * @example A manual clock for tests
 * ```ts
 * import type { Clock } from "@parti/core";
 *
 * let now = 0;
 * const clock: Clock = { now: () => now };
 * now += 1500; // time passes only when the test says so
 * console.assert(clock.now() === 1500);
 * ```
 */
export interface Clock {
  /**
   * Reads the clock.
   *
   * @returns Milliseconds since an arbitrary origin; never decreases.
   */
  now(): number;
}

/**
 * The process's monotonic clock (`performance.now()`), unaffected by wall-clock jumps such as NTP
 * corrections or `faketime` offsets.
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
};
