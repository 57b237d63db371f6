/**
 * A manual {@link Clock} for tests: time stands still until the test moves it, and every timer
 * scheduled on it fires in due-time order at exactly its due time. Hand it to `memoryStore()` and to
 * a `Timers` (or a manager's `clock` option) and leases, heartbeats, fence deadlines and
 * time-to-live all move together, to the millisecond, without waiting.
 *
 * Plain TypeScript with no runtime-specific API, so it runs wherever the core does.
 *
 * @module
 */
import type { Cancel, Clock } from "../src/runtime/clock.ts";

/** Options of {@link FakeClock}. */
export interface FakeClockOptions {
  /**
   * The first reading of the clock, in milliseconds.
   * @default {0}
   */
  readonly start?: number;
}

/** Options of {@link FakeClock.runUntilIdle}. */
export interface RunUntilIdleOptions {
  /**
   * How many timers may fire before giving up: a repeating timer never lets the clock go idle.
   * @default {10000}
   */
  readonly maxTimers?: number;
}

interface FakeTimer {
  readonly at: number;
  /** Scheduling order: breaks ties between equal due times (first scheduled fires first). */
  readonly seq: number;
  readonly callback: () => void;
}

/**
 * A clock whose time moves only when told to, with its own timers.
 *
 * `tick()` moves time synchronously and fires every timer that falls due, each at its own due time
 * (so `now()` inside a callback reads exactly that time), including timers that callbacks schedule
 * within the same span. Code that awaits between timers (a loop that sleeps, awaits a store call,
 * then sleeps again) needs `tickAsync()`, which lets promise continuations run before and after
 * every timer it fires.
 *
 * A callback that throws does not stop the others: every due timer still fires, then the error
 * is rethrown by the call that moved time (an `AggregateError` when several threw).
 *
 * @example Step a timer to the millisecond
 * ```ts
 * import { FakeClock } from "@parti/core/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new FakeClock();
 * let firedAt: number | undefined;
 * clock.setTimeout(() => (firedAt = clock.now()), 250);
 *
 * clock.tick(249);
 * assert.equal(firedAt, undefined);
 * assert.equal(clock.pending, 1);
 * clock.tick(1);
 * assert.equal(firedAt, 250);
 * assert.equal(clock.pending, 0);
 * ```
 *
 * @example Drive a sleep loop without waiting
 * ```ts
 * import { FakeClock } from "@parti/core/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new FakeClock({ start: 1_000 });
 * const fired: number[] = [];
 * const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
 * const loop = (async () => {
 *   for (let i = 0; i < 3; i++) {
 *     await sleep(100);
 *     fired.push(clock.now());
 *   }
 * })();
 *
 * clock.tick(100); // synchronous: the first sleep ends, but its continuation has not run yet
 * assert.deepEqual(fired, []);
 *
 * await clock.tickAsync(200); // continuations run between timers, so the loop keeps going
 * await loop;
 * assert.deepEqual(fired, [1_100, 1_200, 1_300]);
 * assert.equal(clock.now(), 1_300);
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  /** Scheduled timers sorted by due time, then by scheduling order. */
  readonly #timers: FakeTimer[] = [];
  #advancing = false;

  /**
   * Creates a clock that stands still at `start`.
   *
   * @param options Where time starts.
   * @throws {RangeError} If `start` is not a finite number.
   */
  constructor(options: FakeClockOptions = {}) {
    const start = options.start ?? 0;
    if (!Number.isFinite(start)) {
      throw new RangeError(`Cannot start a FakeClock at '${start}': pass a finite number`);
    }
    this.#now = start;
  }

  /**
   * Reads the clock.
   *
   * @returns The current fake time in milliseconds.
   */
  now(): number {
    return this.#now;
  }

  /** How many timers are scheduled and not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.length;
  }

  /**
   * Schedules `callback` to run once `ms` of fake time has passed; it never runs synchronously,
   * only when time is moved.
   *
   * @param callback Called once, at the due time.
   * @param ms Delay in milliseconds; negative or `NaN` counts as 0, `Infinity` never falls due.
   * @returns A function that cancels the timer; calling it again, or after it fired, does nothing.
   */
  setTimeout(callback: () => void, ms: number): Cancel {
    const delay = Number.isNaN(ms) ? 0 : Math.max(0, ms);
    const timer: FakeTimer = { at: this.#now + delay, seq: this.#seq++, callback };
    const timers = this.#timers;
    // Insert after every timer due at or before it: equal due times keep scheduling order.
    let low = 0;
    let high = timers.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (timers[mid]!.at <= timer.at) low = mid + 1;
      else high = mid;
    }
    timers.splice(low, 0, timer);
    return () => {
      const index = timers.indexOf(timer);
      if (index !== -1) timers.splice(index, 1);
    };
  }

  /**
   * Moves time forward by `ms`, synchronously, firing every timer that falls due on the way in
   * due-time order, each with `now()` reading its due time. Timers that callbacks schedule within
   * the span fire too. Promise continuations do not run until the caller yields; use
   * {@link FakeClock.tickAsync} for code that awaits between timers.
   *
   * @param ms How far to move, in milliseconds.
   * @throws {RangeError} If `ms` is negative or not finite.
   * @throws The error of a callback that threw (an `AggregateError` when several did), after
   * time has moved the whole way.
   */
  tick(ms: number): void {
    const target = this.#target(ms);
    this.#advance(() => {
      const errors: unknown[] = [];
      while (this.#fireDue(target, errors));
      this.#now = target;
      rethrow(errors);
    });
  }

  /**
   * Moves time forward by `ms` like {@link FakeClock.tick}, but lets pending promise
   * continuations run before the first timer, between timers and after the last one, so async
   * code that awaits a timer and then schedules the next one keeps up with the clock.
   *
   * It is not a sleep: no real time is waited for beyond one turn of the platform's task queue
   * per step, which runs every queued microtask (every promise continuation that does not wait
   * for real I/O). Await it before moving time again.
   *
   * @param ms How far to move, in milliseconds.
   * @returns A promise that resolves once time has moved and continuations settled.
   * @throws {RangeError} If `ms` is negative or not finite.
   * @throws The error of a callback that threw (an `AggregateError` when several did).
   */
  async tickAsync(ms: number): Promise<void> {
    const target = this.#target(ms);
    await this.#advanceAsync(async () => {
      const errors: unknown[] = [];
      await flushTasks();
      while (this.#fireDue(target, errors)) await flushTasks();
      this.#now = target;
      rethrow(errors);
    });
  }

  /**
   * Moves time to the earliest scheduled timer and fires it (only that one), synchronously.
   *
   * @returns Whether a timer fired (`false` when none was scheduled).
   * @throws The error of the callback, if it threw.
   */
  next(): boolean {
    let fired = false;
    this.#advance(() => {
      const errors: unknown[] = [];
      fired = this.#fireDue(Number.POSITIVE_INFINITY, errors);
      rethrow(errors);
    });
    return fired;
  }

  /**
   * Lets pending promise continuations run without moving time: one turn of the platform's task
   * queue (see {@link FakeClock.tickAsync}).
   *
   * @returns A promise that resolves once the queued continuations have run.
   */
  async flush(): Promise<void> {
    await flushTasks();
  }

  /**
   * Fires timers in order, letting continuations run after each, until none is scheduled; time
   * ends at the due time of the last one.
   *
   * @param options How many timers may fire at most.
   * @returns A promise that resolves once no timer is left.
   * @throws {RangeError} If more than `maxTimers` timers fired (a repeating timer never stops).
   * @throws The error of a callback that threw (an `AggregateError` when several did).
   */
  async runUntilIdle(options: RunUntilIdleOptions = {}): Promise<void> {
    const maxTimers = options.maxTimers ?? 10_000;
    await this.#advanceAsync(async () => {
      const errors: unknown[] = [];
      await flushTasks();
      let fired = 0;
      while (this.#timers.length > 0) {
        if (fired === maxTimers) {
          throw new RangeError(
            `FakeClock did not go idle after ${maxTimers} timers (${this.#timers.length} still ` +
              `scheduled, e.g. a repeating timer); stop it or raise maxTimers`,
          );
        }
        this.#fireDue(Number.POSITIVE_INFINITY, errors);
        fired++;
        await flushTasks();
      }
      rethrow(errors);
    });
  }

  #target(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`Cannot move a FakeClock by '${ms}' ms: pass a finite number >= 0`);
    }
    return this.#now + ms;
  }

  /** Fires the earliest timer due at or before `limit`; returns whether there was one. */
  #fireDue(limit: number, errors: unknown[]): boolean {
    const timer = this.#timers[0];
    if (timer === undefined || timer.at > limit) return false;
    this.#timers.shift();
    this.#now = Math.max(this.#now, timer.at);
    try {
      timer.callback();
    } catch (error) {
      errors.push(error);
    }
    return true;
  }

  #advance(step: () => void): void {
    this.#enter();
    try {
      step();
    } finally {
      this.#advancing = false;
    }
  }

  async #advanceAsync(step: () => Promise<void>): Promise<void> {
    this.#enter();
    try {
      await step();
    } finally {
      this.#advancing = false;
    }
  }

  #enter(): void {
    if (this.#advancing) {
      // Two overlapping advances would interleave their timers out of order.
      throw new Error(
        "Cannot move a FakeClock that is already moving; await the running tickAsync() first",
      );
    }
    this.#advancing = true;
  }
}

function rethrow(errors: unknown[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new AggregateError(errors, `${errors.length} FakeClock timers threw`);
  }
}

/**
 * Waits one turn of the platform's task queue, which runs every queued microtask first.
 * `setImmediate` (Deno, Node, Bun) is used when available: nested `setTimeout(0)` calls are clamped
 * to milliseconds each, which a test stepping through thousands of timers would feel, and a
 * `MessageChannel` message was seen arriving in Deno before a long chain of continuations had
 * finished. Elsewhere (browsers, workerd) a `MessageChannel` message, else `setTimeout(0)`.
 */
function flushTasks(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown })
    .setImmediate;
  if (typeof immediate === "function") {
    return new Promise((resolve) => void immediate(resolve));
  }
  if (typeof MessageChannel !== "function") {
    return new Promise((resolve) => globalThis.setTimeout(resolve, 0));
  }
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      port2.close();
      resolve();
    };
    port2.postMessage(undefined);
  });
}
