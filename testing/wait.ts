/**
 * A poll-until-true helper for tests: waiting on a condition with a deadline instead of sleeping
 * for a guessed amount of time.
 *
 * @module
 */

/** Options for {@linkcode waitFor}. */
export interface WaitForOptions {
  /**
   * How long to keep polling before giving up, in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Pause between two polls, in milliseconds.
   *
   * @default {20}
   */
  intervalMs?: number;
  /**
   * What is being waited for; quoted in the timeout error.
   *
   * @default {"condition"}
   */
  message?: string;
  /** Stops waiting early: the returned promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Polls `predicate` until it returns a truthy value, then resolves with that value.
 *
 * The predicate may be async. A predicate that throws counts as "not yet": polling goes on, and if
 * the deadline passes the last thrown error becomes the `cause` of the timeout error. Polls never
 * overlap: the next one starts `intervalMs` after the previous one settled.
 *
 * @typeParam T The predicate's result type.
 * @param predicate Called until it returns a truthy value.
 * @param options Deadline, poll interval, description and abort signal.
 * @returns The first truthy value the predicate returned.
 * @throws {Error} When `timeoutMs` passes first; the message names `options.message`.
 * @throws {RangeError} When `timeoutMs` or `intervalMs` is negative or not finite.
 *
 * @example Wait until a server has been restarted
 * ```ts ignore
 * import { NatsServer, waitFor } from "@parti/core/testing";
 *
 * await using server = await NatsServer.start();
 * await server.kill();
 * const restarting = server.restart();
 * await waitFor(() => server.running, { timeoutMs: 2000, message: "server process running" });
 * await restarting;
 * ```
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, intervalMs = 20, message = "condition", signal } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(`Cannot wait: timeoutMs must be a finite number >= 0, got '${timeoutMs}'`);
  }
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new RangeError(
      `Cannot wait: intervalMs must be a finite number >= 0, got '${intervalMs}'`,
    );
  }
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown = undefined;
  let threw = false;
  while (true) {
    signal?.throwIfAborted();
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
      threw = true;
    }
    const left = deadline - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(intervalMs, left), signal);
  }
  const detail = threw ? `; last error: ${String(lastError)}` : "";
  throw new Error(`Timed out after ${timeoutMs} ms waiting for '${message}'${detail}`, {
    ...(threw ? { cause: lastError } : {}),
  });
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
