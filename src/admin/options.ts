/**
 * The options of `GroupAdmin.open()`, their defaults, and the checks of the options the admin uses
 * itself (`onError`, `clock`); the options that shape the buckets are checked where they are
 * opened (`open.ts`).
 *
 * @module
 */
import type { TuningOptions } from "../options.ts";
import { type Clock, systemClock } from "../runtime/clock.ts";
import type { CoordinationStore } from "../store/store.ts";
import type { NatsConnection } from "../types.ts";

/**
 * Options of {@link GroupAdmin.open}. Exactly one of `connection` and `store` is required.
 *
 * The timing and `kv` options matter only with `store` (see {@link GroupAdminOptions.store}):
 * spread the same preset or options the workers use. With `connection` they are ignored, except
 * `operationTimeoutMs`.
 */
export interface GroupAdminOptions extends
  Pick<
    TuningOptions,
    "workerIdTtlMs" | "heartbeatIntervalMs" | "heartbeatTtlMs" | "electionLeaseMs" | "kv"
  > {
  /**
   * An open NATS connection from any nats.js v3 transport (TCP or WebSocket); the caller keeps
   * ownership and closes it after {@link GroupAdmin.close}. The group's buckets are bound
   * without being created: a group that does not exist is a {@link GroupNotFoundError}.
   */
  readonly connection?: NatsConnection;
  /**
   * A coordination store instead of a connection, e.g. the `memoryStore()` the workers of this
   * process share. The store contract can only open a bucket by creating it when absent, with the
   * workers' bucket settings (`workerIdTtlMs`, `heartbeatIntervalMs`, `heartbeatTtlMs`,
   * `electionLeaseMs`, `kv`; an existing bucket with other settings is a
   * `BucketConfigMismatchError`). A group none of whose buckets was ever written to is reported
   * as {@link GroupNotFoundError}; the empty buckets that had to be created stay.
   */
  readonly store?: CoordinationStore;
  /** The group to administer. */
  readonly group: string;
  /**
   * Deadline of each KV request on a `connection` (with a `store`, the store's own apply), and
   * of the heartbeat watch's first delivery in {@link GroupAdmin.open}.
   * @default {10000}
   */
  readonly operationTimeoutMs?: number;
  /**
   * Receives malformed values found in the buckets (`MalformedDataError`; the value is skipped)
   * and problems the watches recover from by themselves (a deleted bucket, a lost connection).
   * Ignored by default.
   */
  readonly onError?: (error: Error) => void;
  /**
   * The admin's monotonic clock; heartbeat ages are measured on it.
   * @default {systemClock}
   */
  readonly clock?: Clock;
}

/** Default of {@link GroupAdminOptions.operationTimeoutMs} (the Manager's default too). */
export const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;

/** The options the admin itself uses, checked and with their defaults. */
export interface AdminOwnOptions {
  /** `onError`, wrapped so that a throwing callback cannot break the admin. */
  readonly report: (error: Error) => void;
  /** `clock`, or {@link systemClock}. */
  readonly clock: Clock;
}

/**
 * Checks that `options` is an object and that `onError` and `clock` are usable.
 *
 * @throws {TypeError} Naming the first unusable option.
 */
export function checkAdminOptions(options: GroupAdminOptions): AdminOwnOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("GroupAdmin.open() needs options: { connection | store, group }");
  }
  const onError = options.onError ?? (() => {});
  if (typeof onError !== "function") throw new TypeError("Option 'onError' must be a function");
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== "function") {
    throw new TypeError("Option 'clock' must have a now() method");
  }
  const report = (error: Error) => {
    try {
      onError(error);
    } catch {
      // The admin must outlive a throwing error callback.
    }
  };
  return { report, clock };
}
