/**
 * Turning whatever was thrown into an `Error` (re-exported by `errors.ts`).
 *
 * @module
 */

/**
 * Normalises a thrown value to an `Error`: an `Error` is returned as is; anything
 * else (a string, `undefined`, a plain object) is wrapped in an `Error` whose `cause` is the value,
 * so `catch (error)` blocks can report it through `onError(error: Error)` without a cast.
 * Internal to Parti (not exported from `mod.ts`).
 *
 * @param value Whatever was thrown or rejected with.
 * @returns `value` itself when it is an `Error`, otherwise a new `Error` with `cause: value`.
 *
 * @example
 * ```ts
 * import { toError } from "./to_error.ts";
 * const original = new RangeError("out of range");
 * console.assert(toError(original) === original);
 * console.assert(toError("boom").message === "Non-error value thrown: 'boom'");
 * console.assert(toError(42).cause === 42);
 * ```
 */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(`Non-error value thrown: ${describe(value)}`, { cause: value });
}

function describe(value: unknown): string {
  if (typeof value === "string") {
    return `'${value.length > 200 ? value.slice(0, 200) + "…" : value}'`;
  }
  if (value === null || typeof value !== "object" && typeof value !== "function") {
    return String(value);
  }
  return typeof value === "function" ? "a function" : "an object";
}
