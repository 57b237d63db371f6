/**
 * Retrying a step while coordination is unavailable, with the capped exponential back-off of
 * `cadence.ts`. A failing streak is reported once per cause (error code and message), not once
 * per attempt.
 *
 * @module
 */
import { CoordinationUnavailableError, PartiError, toError } from "../errors.ts";
import { retryDelayMs } from "./cadence.ts";
import type { Timers } from "./timers.ts";

/** Tells which failures of a streak to report: the first, and each one with a new cause. */
export class FailureStreak {
  #last: string | undefined;

  /** Whether `error` starts the streak or changes its cause (report it), else just count it. */
  isNew(error: Error): boolean {
    const cause = `${error instanceof PartiError ? error.code : error.name}: ${error.message}`;
    const fresh = cause !== this.#last;
    this.#last = cause;
    return fresh;
  }

  /** A success ends the streak. */
  end(): void {
    this.#last = undefined;
  }
}

/** Options of {@link retrying}. */
export interface RetryOptions {
  /** Timers for the back-off. */
  readonly timers: Timers;
  /** Ends the retries: the next attempt throws `onAbort()` instead. */
  readonly signal: AbortSignal;
  /** The error to throw when aborted. */
  readonly onAbort: () => Error;
  /** Which errors are worth retrying. Default: {@link CoordinationUnavailableError}. */
  readonly retryable?: (error: Error) => boolean;
  /** Called once per distinct cause in a streak, before the back-off. */
  readonly onRetry?: (error: Error, attempt: number) => void;
}

/**
 * Runs `step` until it succeeds, a non-retryable error is thrown (rethrown at once), or `signal`
 * aborts.
 */
export async function retrying<T>(step: () => Promise<T>, options: RetryOptions): Promise<T> {
  const retryable = options.retryable ??
    ((error: Error) => error instanceof CoordinationUnavailableError);
  const streak = new FailureStreak();
  for (let attempt = 0;; attempt++) {
    if (options.signal.aborted) throw options.onAbort();
    try {
      return await step();
    } catch (thrown) {
      const error = toError(thrown);
      if (!retryable(error)) throw error;
      if (streak.isNew(error)) options.onRetry?.(error, attempt);
      await options.timers.sleep(retryDelayMs(attempt), options.signal);
    }
  }
}
