/**
 * Turns whatever nats.js threw into the store's error contract: JetStream API errors are
 * classified by their numeric code (never by message text), a closed connection by the client's
 * error classes, and a timeout or "no responders" by checking whether the bucket's stream still
 * exists, because a deleted bucket looks like either.
 *
 * @module
 */

import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/nats-core";
import { JetStreamApiError } from "@nats-io/jetstream";
import {
  BucketConfigMismatchError,
  BucketNotFoundError,
  CoordinationUnavailableError,
  OperationTimeoutError,
  PartiError,
  RevisionConflictError,
} from "../../errors.ts";
import type { NatsContext } from "./connection.ts";

// JetStream API error codes, checked by number and never by message text.
const WRONG_LAST_SEQUENCE = 10071;
const WRONG_LAST_SEQUENCE_UNKNOWN = 10164;
export const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

/** Whether `error` or anything in its `cause` chain is an instance of one of `classes`. */
function causedBy(error: unknown, ...classes: Array<abstract new (...args: never) => Error>) {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if (classes.some((c) => e instanceof c)) return true;
    e = e.cause;
  }
  return false;
}

/**
 * Whether nobody answered the request. The client wraps that as `JetStreamNotEnabled` whose cause
 * is a RequestError caused by NoRespondersError, so the chain is what counts.
 */
function isNoResponders(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof NoRespondersError) return true;
    if (e instanceof RequestError && e.isNoResponders()) return true;
    e = e.cause;
  }
  return false;
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
  if (error instanceof JetStreamApiError) {
    if (error.code === WRONG_LAST_SEQUENCE || error.code === WRONG_LAST_SEQUENCE_UNKNOWN) {
      return new RevisionConflictError(bucket, key ?? "", cause);
    }
    if (error.code === STREAM_NOT_FOUND) return new BucketNotFoundError(bucket, cause);
    if (error.code === STREAM_NAME_IN_USE) {
      return new BucketConfigMismatchError(
        bucket,
        `Bucket '${bucket}' exists with a different configuration; use the existing settings or delete the bucket so it is created again`,
      );
    }
    return new CoordinationUnavailableError(
      `Cannot ${what} '${bucket}': JetStream error ${error.code}`,
      cause,
    );
  }
  if (
    ctx.nc.isClosed() || causedBy(error, ClosedConnectionError, DrainingConnectionError)
  ) {
    return new CoordinationUnavailableError(
      `Cannot ${what} '${bucket}': the NATS connection is closed; create a new connection`,
      cause,
    );
  }
  const timedOut = causedBy(error, TimeoutError);
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
