/**
 * Timers on an injected {@link Clock}: `sleep`, `setTimeout`, `every`, `waitFor` and one
 * `deadline()`. Every time-driven part of a manager schedules through one `Timers`, so a fake clock
 * moves all of them at once and a test can step through a lease, a fence deadline or a rebalance
 * window to the millisecond. A clock without its own `setTimeout` falls back to the platform's.
 *
 * @module
 */
import { OperationTimeoutError, toError } from "../errors.ts";
import type { Cancel, Clock } from "./clock.ts";
import type { Signal } from "./signal.ts";

/** Options of {@link Timers.deadline}. */
export interface DeadlineOptions {
  /** Rejects early with the signal's reason (or an `AbortError`) when aborted. */
  readonly signal?: AbortSignal;
  /** The error to reject with when the time is up. Defaults to an `OperationTimeoutError`. */
  readonly onTimeout?: () => Error;
}

/** Options of {@link Timers.deadline} when the work yields a resource. */
export interface DeadlineOptionsOf<T> extends DeadlineOptions {
  /** Receives a value that arrived after the deadline (or the abort), e.g. to close it. */
  readonly onLate?: (value: T) => void;
}

/** Options of {@link Timers.every}. */
export interface EveryOptions {
  /** Stops the ticks when aborted. */
  readonly signal?: AbortSignal;
  /** Receives what a tick throws. */
  readonly onError: (error: Error) => void;
}

/** Timers bound to one clock. */
export class Timers {
  readonly #clock: Clock;

  /** @param clock The clock to read and to schedule on. */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The clock's current reading. */
  now(): number {
    return this.#clock.now();
  }

  /**
   * Runs `callback` after `ms` of the clock's time.
   *
   * @returns A function that cancels it.
   */
  setTimeout(callback: () => void, ms: number): Cancel {
    if (this.#clock.setTimeout) return this.#clock.setTimeout(callback, Math.max(0, ms));
    const id = setTimeout(callback, Math.max(0, ms));
    return () => clearTimeout(id);
  }

  /**
   * Resolves after `ms`, or early (without error) when `signal` aborts; leaves no timer behind.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        cancel();
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const cancel = this.setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /**
   * Resolves on the next `wake.notify()`, after `ms`, or when `signal` aborts, whichever is first.
   */
  waitFor(wake: Signal, ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    return Promise.race([wake.wait(), this.sleep(ms, stop.signal)]).finally(() => {
      stop.abort();
      signal?.removeEventListener("abort", onAbort);
    });
  }

  /**
   * Calls `tick` every `ms` until `signal` aborts. A tick that throws is reported to `onError` and
   * does not stop the others (nor escape into the timer, where it would end the process).
   *
   * @returns A function that stops the ticks (as aborting `signal` does).
   */
  every(ms: number, tick: () => void, options: EveryOptions): Cancel {
    const { signal, onError } = options;
    let cancel: Cancel = () => {};
    let stopped = signal?.aborted ?? false;
    const stop = () => {
      stopped = true;
      cancel();
      signal?.removeEventListener("abort", stop);
    };
    const schedule = () => {
      if (stopped) return;
      cancel = this.setTimeout(() => {
        if (stopped) return;
        try {
          tick();
        } catch (error) {
          try {
            onError(toError(error));
          } catch {
            // A throwing error handler has nowhere left to report to.
          }
        }
        schedule();
      }, ms);
    };
    signal?.addEventListener("abort", stop, { once: true });
    schedule();
    return stop;
  }

  /**
   * Bounds `work` by `ms`: resolves or rejects as `work` does, rejects with `onTimeout()` (an
   * `OperationTimeoutError` by default) when the time is up, or with the signal's reason when it
   * aborts. `work` itself is not cancelled; pass the same signal to it for that.
   */
  deadline<T>(work: Promise<T>, ms: number, options: DeadlineOptionsOf<T> = {}): Promise<T> {
    const { signal } = options;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (action: () => void) => {
        if (settled) return;
        settled = true;
        cancel();
        signal?.removeEventListener("abort", onAbort);
        action();
      };
      const onAbort = () =>
        finish(() => reject(signal?.reason ?? new DOMException("Aborted", "AbortError")));
      const cancel = this.setTimeout(
        () =>
          finish(() =>
            reject(
              options.onTimeout?.() ??
                new OperationTimeoutError(`The operation did not finish within ${ms} ms`),
            )
          ),
        ms,
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      work.then(
        (value) => {
          if (settled) options.onLate?.(value);
          else finish(() => resolve(value));
        },
        (error) => finish(() => reject(error)),
      );
    });
  }
}

/** Timers on the system clock. */
export const systemTimers: Timers = new Timers({ now: () => performance.now() });
