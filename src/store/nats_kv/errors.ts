/**
 * Turns whatever nats.js threw into the store's error contract: JetStream API errors are
 * classified by their numeric code (never by message text), a closed connection by the client's
 * error names (never `instanceof`: the connection may come from another copy of nats.js), and a
 * timeout or "no responders" by checking whether the bucket's stream still exists, because a
 * deleted bucket looks like either.
 *
 * @module
 */

import {
  BucketConfigMismatchError,
  BucketNotFoundError,
  CoordinationUnavailableError,
  OperationTimeoutError,
  PartiError,
  PermissionDeniedError,
  RevisionConflictError,
} from "../../errors.ts";
import type { NatsContext } from "./connection.ts";

// JetStream API error codes, checked by number and never by message text.
const WRONG_LAST_SEQUENCE = 10071;
const WRONG_LAST_SEQUENCE_UNKNOWN = 10164;
export const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

/**
 * Errors are recognised by their `name` and shape, never by `instanceof`: a connection may come
 * from another copy (or another 3.x version) of nats.js than the one this module was loaded with,
 * and its error classes are then different objects with the same names.
 */
function chain(error: unknown): Error[] {
  const out: Error[] = [];
  for (let e: unknown = error; isError(e) && out.length < 8; e = e.cause) out.push(e);
  return out;
}

function isError(value: unknown): value is Error {
  return value instanceof Error || Object.prototype.toString.call(value) === "[object Error]";
}

/**
 * The code of a JetStream API error (`JetStreamApiError` or a subclass: a numeric `code` and
 * `apiError()`), or `undefined` for anything else.
 */
export function apiErrorCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; apiError?: unknown } | null;
  if (!isError(e) || typeof e.apiError !== "function" || typeof e.code !== "number") return;
  return e.code;
}

/** Whether `error` or anything in its `cause` chain has one of these names. */
function causedBy(error: unknown, ...names: string[]): boolean {
  return chain(error).some((e) => names.includes(e.name));
}

/**
 * Whether nobody answered the request. The client wraps that as `JetStreamNotEnabled` whose cause
 * is a RequestError caused by NoRespondersError (named "NoResponders"), so the chain is what counts.
 */
function isNoResponders(error: unknown): boolean {
  return chain(error).some((e) =>
    e.name === "NoResponders" || e.name === "NoRespondersError" ||
    (e.name === "RequestError" &&
      typeof (e as { isNoResponders?: unknown }).isNoResponders === "function" &&
      (e as unknown as { isNoResponders(): boolean }).isNoResponders())
  );
}

/** Turns whatever nats.js threw into the store's error contract. */
export async function mapError(
  ctx: NatsContext,
  error: unknown,
  bucket: string,
  what: string,
  key?: string,
): Promise<Error> {
  if (error instanceof PartiError || error instanceof TypeError || error instanceof RangeError) {
    return error;
  }
  const cause = { cause: error };
  const denied = chain(error).find((e) => e.name === "PermissionViolationError") as
    | (Error & { operation?: unknown; subject?: unknown })
    | undefined;
  if (denied !== undefined) {
    const operation = typeof denied.operation === "string" ? denied.operation : "publish";
    const subject = typeof denied.subject === "string" ? denied.subject : "(unknown subject)";
    return new PermissionDeniedError(operation, subject, `${what} '${bucket}'`, cause);
  }
  const code = apiErrorCode(error);
  if (code !== undefined) {
    if (code === WRONG_LAST_SEQUENCE || code === WRONG_LAST_SEQUENCE_UNKNOWN) {
      return new RevisionConflictError(bucket, key ?? "", cause);
    }
    if (code === STREAM_NOT_FOUND) return new BucketNotFoundError(bucket, cause);
    if (code === STREAM_NAME_IN_USE) {
      return new BucketConfigMismatchError(
        bucket,
        `Bucket '${bucket}' exists with a different configuration; use the existing settings or delete the bucket so it is created again`,
      );
    }
    return new CoordinationUnavailableError(
      `Cannot ${what} '${bucket}': JetStream error ${code}`,
      cause,
    );
  }
  if (
    ctx.nc.isClosed() || causedBy(error, "ClosedConnectionError", "DrainingConnectionError")
  ) {
    return new CoordinationUnavailableError(
      `Cannot ${what} '${bucket}': the NATS connection is closed; create a new connection`,
      cause,
    );
  }
  const timedOut = causedBy(error, "TimeoutError");
  const noResponders = !timedOut && isNoResponders(error);
  if (timedOut || noResponders) {
    // A deleted bucket looks like "no responders" to writes and like a timeout to reads
    // (NATS_FACTS row 19); only the stream itself can tell, and it must win over the timeout.
    if (await ctx.bucketMissing(bucket)) return new BucketNotFoundError(bucket, cause);
    if (timedOut) {
      return new OperationTimeoutError(
        `Cannot ${what} '${bucket}': no answer within ${ctx.operationTimeoutMs} ms; the outcome is unknown, read before retrying`,
        cause,
      );
    }
    return new CoordinationUnavailableError(
      `Cannot ${what} '${bucket}': JetStream did not answer (no responders); retry later`,
      cause,
    );
  }
  return new CoordinationUnavailableError(
    `Cannot ${what} '${bucket}': ${error instanceof Error ? error.message : String(error)}`,
    cause,
  );
}
