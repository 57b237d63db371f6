/**
 * The NATS JetStream KV coordination store: the real one. It works on any nats.js transport (TCP
 * through `@nats-io/transport-node`, WebSocket through `wsconnect` of `@nats-io/nats-core`) and on
 * clustered JetStream, and it hardens the plain KV client against what nats-server 2.9 actually
 * does (see NATS_FACTS rows 1–24):
 *
 * - Every operation has a deadline (`operationTimeoutMs`); a timed-out write has an **unknown**
 *   outcome and is reported as {@link OperationTimeoutError}.
 * - JetStream error 10071 (wrong last sequence) becomes {@link RevisionConflictError}.
 * - A deleted bucket answers puts with "no responders" and gets with a timeout; both are checked
 *   against the stream and reported as {@link BucketNotFoundError}, never as a timeout.
 * - `Kvm.create` silently keeps an existing bucket's configuration, so `bucket()` compares it and
 *   throws {@link BucketConfigMismatchError}.
 * - `kv.watch` alone can go silent for 60–90 s (bucket deleted, consumer lost, consumer's node
 *   down), so every watch runs a watchdog that recreates it.
 * - While the connection is down, operations fail at once with
 *   {@link CoordinationUnavailableError} (nothing was sent, so nothing was written) instead of
 *   being buffered into a timeout whose outcome is unknown.
 *
 * Use one nats.js transport per process: `connect()` and `wsconnect()` each install a
 * process-wide transport factory, and a client reconnects with whichever was installed last, so a
 * WebSocket client reconnects over raw TCP to the WebSocket port (and hangs) after a TCP
 * `connect()` elsewhere in the process, and the other way round.
 *
 * The parts: `connection.ts` (shared per-store state, reconnect handling), `errors.ts` (nats.js
 * errors to Parti errors), `bucket.ts` (the bucket handle) and `watch.ts` (the supervised watch).
 *
 * No `Deno.*` here: this module must run wherever nats.js runs.
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/nats-core";
import { StorageType } from "@nats-io/jetstream";
import { BucketConfigMismatchError } from "../../errors.ts";
import type { Logger, NatsConnection as AnyNatsConnection } from "../../types.ts";
import type { Bucket, BucketOptions, CoordinationStore } from "../store.ts";
import { checkBucketName, describeMismatch, resolveBucketOptions } from "../validation.ts";
import { NatsBucket } from "./bucket.ts";
import { keepConsumerStateInMemory } from "./memory_consumers.ts";
import { nanosToMs, NatsContext, streamName } from "./connection.ts";
import { apiErrorCode, mapError, STREAM_NOT_FOUND } from "./errors.ts";

export { recommendedConnectionOptions } from "./connection_options.ts";
export type {
  Bucket,
  BucketOptions,
  BucketStatus,
  CoordinationStore,
  KvEntry,
  KvWatch,
  WatchOptions,
} from "../store.ts";
export type { NatsConnection } from "../../types.ts";
export type { LogFields, Logger } from "../../observability/logger.ts";

/** Options of {@link natsKvStore}. */
export interface NatsKvStoreOptions {
  /**
   * Deadline of every KV and JetStream request in milliseconds (gets, writes, bucket management,
   * status checks). An operation that misses it fails with {@link OperationTimeoutError}; for a
   * write the outcome is then unknown. `create` may use up to three requests (write, read of a
   * delete marker, write) and each has this deadline.
   * @default {10000}
   */
  readonly operationTimeoutMs?: number;
  /**
   * How often each watch checks the bucket (status request) to detect a deleted, recreated or
   * silently stalled watch. A stalled watch is recreated after one to two intervals.
   * @default {2000}
   */
  readonly watchdogIntervalMs?: number;
  /** Receives diagnostics about watch recovery. Silent by default. */
  readonly logger?: Logger;
}

/** A coordination store over NATS JetStream KV; created by {@link natsKvStore}. */
class NatsKvStore implements CoordinationStore {
  /** Always `"nats"`. */
  readonly kind: string = "nats";
  readonly #ctx: NatsContext;

  /**
   * Creates a store on an open connection; the caller keeps ownership of the connection.
   *
   * @param connection A connection from any nats.js transport, ideally created with
   * {@link recommendedConnectionOptions}.
   * @param options Operation timeout, watchdog interval and logger.
   */
  constructor(connection: NatsConnection, options: NatsKvStoreOptions = {}) {
    const { operationTimeoutMs, watchdogIntervalMs } = options;
    for (
      const [name, value] of [["operationTimeoutMs", operationTimeoutMs], [
        "watchdogIntervalMs",
        watchdogIntervalMs,
      ]] as const
    ) {
      if (value !== undefined && (!Number.isFinite(value) || value <= 0)) {
        throw new RangeError(`Invalid option '${name}' '${value}': expected a number > 0`);
      }
    }
    this.#ctx = new NatsContext(connection, options);
  }

  /**
   * Opens a bucket, creating it when absent, and checks that an existing bucket has the asked
   * configuration (JetStream would silently keep the old one).
   *
   * @param name Bucket name: letters, digits, `_` and `-`.
   * @param options Time-to-live, history, replicas and storage.
   * @returns A handle bound to the name; it keeps working after the bucket is recreated.
   * @throws {BucketConfigMismatchError} If the bucket exists with a different ttl, history,
   * replicas or storage; the message names the setting.
   */
  async bucket(name: string, options: BucketOptions): Promise<Bucket> {
    checkBucketName(name);
    const wanted = resolveBucketOptions(options);
    const ctx = this.#ctx;
    ctx.ensureConnected(name, "open bucket");
    try {
      const kv = await ctx.kvm.create(name, {
        history: wanted.history,
        ttl: wanted.ttlMs,
        replicas: wanted.replicas,
        storage: wanted.storage === "memory" ? StorageType.Memory : StorageType.File,
      });
      const info = await (await ctx.jsm()).streams.info(streamName(name));
      const mismatch = describeMismatch(name, wanted, {
        ttlMs: nanosToMs(info.config.max_age),
        history: info.config.max_msgs_per_subject,
        replicas: info.config.num_replicas,
        storage: info.config.storage,
      });
      if (mismatch !== null) throw new BucketConfigMismatchError(name, mismatch);
      keepConsumerStateInMemory(kv);
      return new NatsBucket(ctx, name, kv);
    } catch (error) {
      throw await mapError(ctx, error, name, "open bucket");
    }
  }

  /**
   * Deletes a bucket and everything in it; a missing bucket is a no-op. Watches of it report
   * {@link BucketNotFoundError} through `onError` and resume when it is created again.
   *
   * @param name Bucket name.
   * @returns A promise that resolves once the bucket is gone.
   */
  async deleteBucket(name: string): Promise<void> {
    checkBucketName(name);
    this.#ctx.ensureConnected(name, "delete bucket");
    try {
      await (await this.#ctx.jsm()).streams.delete(streamName(name));
    } catch (error) {
      if (apiErrorCode(error) === STREAM_NOT_FOUND) return;
      throw await mapError(this.#ctx, error, name, "delete bucket");
    }
  }
}

/**
 * Creates a coordination store over NATS JetStream KV.
 *
 * Errors: JetStream's wrong-last-sequence (10071) becomes {@link RevisionConflictError}; a missing
 * stream (10059, or a timeout / "no responders" confirmed by a stream lookup) becomes
 * {@link BucketNotFoundError}; any other timeout becomes {@link OperationTimeoutError} (outcome
 * unknown); a closed or disconnected connection becomes {@link CoordinationUnavailableError}.
 * Each keeps the client's error as `cause`.
 *
 * Watches: every `watchdogIntervalMs` a watch reads the bucket status. If the bucket is gone it
 * reports {@link BucketNotFoundError} through `onError` and keeps checking; if it was recreated
 * (new incarnation) the watch starts over and delivers the current values again; if a matching
 * revision stays undelivered for a whole interval while nothing arrives, the underlying watcher
 * is replaced and resumes after the last delivered revision. A reconnect also replaces it.
 * Entries are de-duplicated by revision.
 *
 * @param connection A connection from any nats.js transport (TCP or WebSocket), ideally created
 * with {@link recommendedConnectionOptions}; the caller keeps ownership and closes it.
 * @param options Operation timeout, watchdog interval and logger.
 * @returns The store.
 *
 * @example Over WebSocket
 * ```ts ignore
 * import { wsconnect } from "@nats-io/nats-core";
 * import { natsKvStore, recommendedConnectionOptions } from "@parti/core/nats";
 *
 * const nc = await wsconnect({ servers: "ws://127.0.0.1:8080", ...recommendedConnectionOptions });
 * const store = natsKvStore(nc, { operationTimeoutMs: 2000 });
 * const bucket = await store.bucket("parti_orders_assign", { ttlMs: 0, history: 5 });
 * for await (const entry of bucket.watch({ key: "assign.>" })) {
 *   console.log(entry.key, entry.revision, entry.operation);
 * }
 * ```
 */
export function natsKvStore(
  connection: AnyNatsConnection,
  options: NatsKvStoreOptions = {},
): CoordinationStore {
  return new NatsKvStore(connection, options);
}
