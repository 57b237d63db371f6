/**
 * Error classes used across Parti. Every domain error extends {@link PartiError} and carries a
 * stable, machine-readable `code` that stays the same across releases, so callers can branch on
 * `error.code` instead of on message text.
 *
 * @module
 */

/** Stable error codes carried by {@link PartiError} subclasses. */
export type PartiErrorCode =
  | "INVALID_CONFIG"
  | "INVALID_PARTITION"
  | "WORKER_ID_EXHAUSTED"
  | "NOT_STARTED"
  | "ALREADY_STARTED"
  | "LEADERSHIP_LOST"
  | "REVISION_CONFLICT"
  | "COORDINATION_UNAVAILABLE"
  | "BUCKET_NOT_FOUND"
  | "BUCKET_CONFIG_MISMATCH"
  | "PERMISSION_DENIED"
  | "MALFORMED_DATA"
  | "STRATEGY_FAILED"
  | "UNPLACED"
  | "SOURCE_FAILED"
  | "TIMEOUT"
  | "REVOKE_TIMEOUT"
  | "ENGINE_UNAVAILABLE"
  // Raised by the partitioned consumer of `@parti/core/jetstream` (`PartitionedConsumerError`).
  | "HANDLER_FAILED"
  | "HANDLER_TIMEOUT"
  | "REDELIVERED"
  | "CONSUMER_SETUP_FAILED"
  | "CONSUMER_MISMATCH"
  | "PULL_FAILED"
  | "DRAIN_TIMEOUT";

/**
 * Base class of every error Parti raises on purpose.
 *
 * Raise the subclass that matches a code (`NotStartedError` for `"NOT_STARTED"`,
 * `OperationTimeoutError` for `"TIMEOUT"`, …) so that `instanceof` and `code` always agree.
 *
 * @example Branch on the stable code
 * ```ts
 * import { NotStartedError, PartiError } from "@parti/core";
 * try {
 *   throw new NotStartedError();
 * } catch (error) {
 *   if (error instanceof PartiError && error.code === "NOT_STARTED") {
 *     // handle
 *   }
 * }
 * ```
 */
export class PartiError extends Error {
  /** A stable, machine-readable identifier of the failure. */
  readonly code: PartiErrorCode;

  /**
   * Creates an error with a stable code.
   *
   * @param code The stable error code.
   * @param message A human-readable message that says what to do.
   * @param options Standard error options; `cause` keeps the underlying error.
   */
  constructor(code: PartiErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = "PartiError";
  }
}

/** An option has an invalid value; `field` names it (dotted for nested options). */
export class InvalidConfigError extends PartiError {
  /** The offending option, e.g. `"heartbeatTtlMs"` or `"degraded.exitAfterMs"`. */
  readonly field: string;

  /**
   * Creates the error.
   *
   * @param field The option that is invalid.
   * @param message What is wrong and how to fix it.
   */
  constructor(field: string, message: string) {
    super("INVALID_CONFIG", `Invalid option '${field}': ${message}`);
    this.field = field;
    this.name = "InvalidConfigError";
  }
}

/** A partition is malformed (no keys, an empty key, a bad weight) or a duplicate. */
export class InvalidPartitionError extends PartiError {
  /** Position of the offending partition in the list it came from. */
  readonly index: number;

  /**
   * Creates the error.
   *
   * @param index Position of the partition in its list.
   * @param message What is wrong with it.
   */
  constructor(index: number, message: string) {
    super("INVALID_PARTITION", message);
    this.index = index;
    this.name = "InvalidPartitionError";
  }
}

/** Every worker ID in the configured range is taken by a live worker. */
export class WorkerIdExhaustedError extends PartiError {
  /**
   * Creates the error.
   *
   * @param message Which range is exhausted and which option to raise.
   */
  constructor(message: string) {
    super("WORKER_ID_EXHAUSTED", message);
    this.name = "WorkerIdExhaustedError";
  }
}

/**
 * An operation needs a started manager, or `start()` did not get to finish (aborted before it
 * began, or the manager was stopped while starting).
 */
export class NotStartedError extends PartiError {
  /**
   * Creates the error.
   *
   * @param message What was attempted or why starting did not finish.
   * @param options Standard error options; `cause` keeps e.g. the abort reason.
   */
  constructor(message = "Manager is not started; call start() first", options?: ErrorOptions) {
    super("NOT_STARTED", message, options);
    this.name = "NotStartedError";
  }
}

/** `start()` was called on a manager that is starting, started or stopped. */
export class AlreadyStartedError extends PartiError {
  /**
   * Creates the error.
   *
   * @param message What was attempted.
   */
  constructor(message = "Manager was already started; create a new Manager to start again") {
    super("ALREADY_STARTED", message);
    this.name = "AlreadyStartedError";
  }
}

/** This worker lost leadership while acting as leader. */
export class LeadershipLostError extends PartiError {
  /**
   * Creates the error.
   *
   * @param message What was interrupted.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("LEADERSHIP_LOST", message, options);
    this.name = "LeadershipLostError";
  }
}

/** A compare-and-set or create-if-absent lost: the key changed since it was read. */
export class RevisionConflictError extends PartiError {
  /** The bucket the write went to. */
  readonly bucket: string;
  /** The key the write went to. */
  readonly key: string;

  /**
   * Creates the error.
   *
   * @param bucket Bucket name.
   * @param key Key name.
   * @param options Standard error options.
   */
  constructor(bucket: string, key: string, options?: ErrorOptions) {
    super(
      "REVISION_CONFLICT",
      `Write to '${bucket}/${key}' lost a race: the key changed since it was read`,
      options,
    );
    this.bucket = bucket;
    this.key = key;
    this.name = "RevisionConflictError";
  }
}

/** The coordination store could not be reached or did not answer in time. */
export class CoordinationUnavailableError extends PartiError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options Standard error options.
   * @param code A more specific code for subclasses.
   */
  constructor(
    message: string,
    options?: ErrorOptions,
    code: PartiErrorCode = "COORDINATION_UNAVAILABLE",
  ) {
    super(code, message, options);
    this.name = "CoordinationUnavailableError";
  }
}

/** A store operation did not complete within its timeout; its outcome is unknown. */
export class OperationTimeoutError extends CoordinationUnavailableError {
  /**
   * Creates the error.
   *
   * @param message What timed out.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options, "TIMEOUT");
    this.name = "OperationTimeoutError";
  }
}

/** A bucket does not exist (never created, or deleted while in use). */
export class BucketNotFoundError extends CoordinationUnavailableError {
  /** The missing bucket. */
  readonly bucket: string;

  /**
   * Creates the error.
   *
   * @param bucket Bucket name.
   * @param options Standard error options.
   */
  constructor(bucket: string, options?: ErrorOptions) {
    super(`Bucket '${bucket}' does not exist (was it deleted?)`, options, "BUCKET_NOT_FOUND");
    this.bucket = bucket;
    this.name = "BucketNotFoundError";
  }
}

/**
 * The NATS server refused an operation for lack of permission: the connection's user may not
 * publish (or subscribe) to the subject named. Not retried: it is a deployment problem, and
 * `start()` fails with it at once instead of waiting for `startupTimeoutMs`. See the permission
 * sets in docs/security.md.
 */
export class PermissionDeniedError extends PartiError {
  /** `"publish"` or `"subscription"`, as the server said. */
  readonly operation: string;
  /** The subject the server refused. */
  readonly subject: string;

  /**
   * Creates the error.
   *
   * @param operation `"publish"` or `"subscription"`.
   * @param subject The refused subject.
   * @param what What Parti was doing (e.g. `"open bucket 'parti_orders_hb'"`).
   * @param options Standard error options; `cause` keeps the client's error.
   */
  constructor(operation: string, subject: string, what: string, options?: ErrorOptions) {
    super(
      "PERMISSION_DENIED",
      `Cannot ${what}: the NATS server denies this user ${operation} on '${subject}'; ` +
        `grant it (see the permission sets in docs/security.md)`,
      options,
    );
    this.name = "PermissionDeniedError";
    this.operation = operation;
    this.subject = subject;
  }
}

/** A bucket exists with a configuration that differs from the one asked for. */
export class BucketConfigMismatchError extends PartiError {
  /** The bucket whose configuration differs. */
  readonly bucket: string;

  /**
   * Creates the error.
   *
   * @param bucket Bucket name.
   * @param message Which setting differs and how to fix it.
   */
  constructor(bucket: string, message: string) {
    super("BUCKET_CONFIG_MISMATCH", message);
    this.bucket = bucket;
    this.name = "BucketConfigMismatchError";
  }
}

/** A value read from a bucket is not what Parti wrote (foreign or corrupted data). */
export class MalformedDataError extends PartiError {
  /** The bucket the value came from. */
  readonly bucket: string;
  /** The key the value came from. */
  readonly key: string;

  /**
   * Creates the error.
   *
   * @param bucket Bucket name.
   * @param key Key name.
   * @param message What is wrong with the value.
   */
  constructor(bucket: string, key: string, message: string) {
    super("MALFORMED_DATA", `Ignoring malformed value at '${bucket}/${key}': ${message}`);
    this.bucket = bucket;
    this.key = key;
    this.name = "MalformedDataError";
  }
}

/** The assignment strategy threw or returned an invalid result. */
export class StrategyError extends PartiError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("STRATEGY_FAILED", message, options);
    this.name = "StrategyError";
  }
}

/**
 * Some partitions have no owner because no live, undrained worker matches their `selector`. They
 * stay unassigned (never forced onto a non-matching worker) until such a worker appears. Reported
 * once per set of unplaced partitions.
 */
export class UnplacedPartitionsError extends PartiError {
  /** IDs of the unplaced partitions (at most the first 100). */
  readonly partitions: readonly string[];
  /** How many partitions are unplaced. */
  readonly count: number;

  /**
   * Creates the error.
   *
   * @param partitions IDs of the unplaced partitions.
   */
  constructor(partitions: readonly string[]) {
    const shown = partitions.slice(0, 100);
    super(
      "UNPLACED",
      `${partitions.length} partition(s) have no live worker matching their selector and stay ` +
        `unassigned: ${shown.join(", ")}${partitions.length > shown.length ? ", …" : ""}`,
    );
    this.name = "UnplacedPartitionsError";
    this.partitions = shown;
    this.count = partitions.length;
  }
}

/** The partition source threw or returned something other than a list; the last good list stays. */
export class PartitionSourceError extends PartiError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Standard error options; `cause` is the source's error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("SOURCE_FAILED", message, options);
    this.name = "PartitionSourceError";
  }
}

/**
 * The application's hooks did not finish a revoke within `revokeTimeoutMs`: a handler is stuck.
 * With `onRevokeTimeout: "leave"` the worker leaves the group; the fencing token keeps downstream
 * writes of the stuck handler safe.
 */
export class RevokeTimeoutError extends PartiError {
  /** The partition IDs whose revoke is stuck. */
  readonly partitions: readonly string[];

  /**
   * Creates the error.
   *
   * @param message What is stuck and what happens next.
   * @param partitions The partition IDs whose revoke is stuck.
   */
  constructor(message: string, partitions: readonly string[]) {
    super("REVOKE_TIMEOUT", message);
    this.name = "RevokeTimeoutError";
    this.partitions = partitions;
  }

  /**
   * The error for a stuck revoke, with a message that names the partitions and what happens next.
   *
   * @param partitions The partition IDs whose revoke is stuck.
   * @param timeoutMs The `revokeTimeoutMs` that passed.
   * @param leave Whether the worker leaves the group (`onRevokeTimeout: "leave"`).
   * @returns The error.
   */
  static stuck(
    partitions: readonly string[],
    timeoutMs: number,
    leave: boolean,
  ): RevokeTimeoutError {
    const shown = partitions.slice(0, 5).map((id) => `'${id}'`).join(", ") +
      (partitions.length > 5 ? ` and ${partitions.length - 5} more` : "");
    return new RevokeTimeoutError(
      `The hooks did not finish revoking ${shown} within revokeTimeoutMs (${timeoutMs} ms); ` +
        (leave
          ? "leaving the group: the partitions move after heartbeatTtlMs + emergencyGraceMs"
          : "still waiting (onRevokeTimeout: 'wait')"),
      partitions,
    );
  }
}

/**
 * The WebAssembly assignment kernel cannot be used here: the runtime forbids compiling WebAssembly
 * from bytes (Cloudflare's workerd does), or a precompiled module is stale or not Parti's kernel.
 * The message says what to pass instead.
 */
export class EngineUnavailableError extends PartiError {
  /**
   * Creates the error.
   *
   * @param message What failed and what to do.
   * @param options `cause`: the runtime's error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("ENGINE_UNAVAILABLE", message, options);
    this.name = "EngineUnavailableError";
  }
}

export { toError } from "./runtime/to_error.ts";
