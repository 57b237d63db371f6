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
 * No `Deno.*` here: this module must run wherever nats.js runs.
 *
 * @module
 */

import {
  ClosedConnectionError,
  DrainingConnectionError,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/nats-core";
import {
  jetstream,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, Kvm, type KvWatchEntry, type KvWatchOptions } from "@nats-io/kv";
import {
  BucketConfigMismatchError,
  BucketNotFoundError,
  CoordinationUnavailableError,
  OperationTimeoutError,
  PartiError,
  RevisionConflictError,
} from "../errors.ts";
import type { Logger, NatsConnection as AnyNatsConnection } from "../types.ts";
import type {
  Bucket,
  BucketOptions,
  BucketStatus,
  CoordinationStore,
  KvEntry,
  KvWatch,
  WatchOptions,
} from "./store.ts";
import {
  checkBucketName,
  checkKey,
  checkRevision,
  checkValue,
  describeMismatch,
  keyMatcher,
  resolveBucketOptions,
} from "./validation.ts";
import { WatchQueue } from "./watch_queue.ts";

/**
 * Connection options Parti recommends for `connect()`/`wsconnect()`; spread them into your own.
 *
 * - `maxReconnectAttempts: -1`: never give up. The client's default (10 attempts, 2 s apart)
 *   closes the connection for good after a short server outage, and every watcher and operation
 *   then fails for the life of the process.
 * - `reconnectTimeWait: 250`, `reconnectJitter: 100`: come back within about 0.3 s of the server
 *   returning, without every client reconnecting in lockstep.
 * - `pingInterval: 1000`, `maxPingOut: 2`: detect a silent network partition (no TCP reset) in
 *   about 3 s. With the default 120 s ping the client notices nothing for minutes.
 * - `timeout: 2000`: fail the initial connect quickly instead of hanging.
 *
 * @example Connect over TCP
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { natsKvStore, recommendedConnectionOptions } from "@parti/core";
 *
 * const nc = await connect({ servers: "nats://127.0.0.1:4222", ...recommendedConnectionOptions });
 * const store = natsKvStore(nc);
 * ```
 */
export const recommendedConnectionOptions: {
  readonly maxReconnectAttempts: number;
  readonly reconnectTimeWait: number;
  readonly reconnectJitter: number;
  readonly pingInterval: number;
  readonly maxPingOut: number;
  readonly timeout: number;
} = Object.freeze({
  maxReconnectAttempts: -1,
  reconnectTimeWait: 250,
  reconnectJitter: 100,
  pingInterval: 1000,
  maxPingOut: 2,
  timeout: 2000,
});

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

const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;
const DEFAULT_WATCHDOG_INTERVAL_MS = 2_000;
// JetStream API error codes, checked by number and never by message text.
const WRONG_LAST_SEQUENCE = 10071;
const WRONG_LAST_SEQUENCE_UNKNOWN = 10164;
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

function streamName(bucket: string): string {
  return `KV_${bucket}`;
}

function nanosToMs(nanos: number | undefined): number {
  return Math.round((nanos ?? 0) / 1_000_000);
}

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

/** Rejects with a TimeoutError when `promise` has not settled after `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number, onLate?: (value: T) => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new TimeoutError());
    }, ms);
  });
  promise.then((value) => {
    if (late) onLate?.(value);
  }, () => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Shared state of one store: the connection, clients and the watches to notify on reconnect. */
class NatsContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly kvm: Kvm;
  readonly operationTimeoutMs: number;
  readonly watchdogIntervalMs: number;
  readonly logger: Logger | undefined;
  readonly #watches = new Set<NatsWatch>();
  #jsm: Promise<JetStreamManager> | undefined;
  #connected = true;

  constructor(nc: NatsConnection, options: NatsKvStoreOptions) {
    this.nc = nc;
    this.operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    this.watchdogIntervalMs = options.watchdogIntervalMs ?? DEFAULT_WATCHDOG_INTERVAL_MS;
    this.logger = options.logger;
    // The JetStream timeout is inherited by the manager and the KV buckets, so it bounds every
    // request those clients make (the client's own default is 5 s).
    this.js = jetstream(nc, { timeout: this.operationTimeoutMs });
    this.kvm = new Kvm(this.js);
    this.#listen();
  }

  /** False between a `disconnect` and the next `reconnect` status of the connection. */
  get connected(): boolean {
    return this.#connected && !this.nc.isClosed();
  }

  /**
   * Fails fast instead of sending while the connection is down. Requests buffered during an
   * outage are never answered, even when the client reconnects before their deadline
   * (NATS_FACTS row 14), so sending them only turns a definite "not written" into a timeout
   * with an unknown outcome, after the full operation timeout.
   */
  ensureConnected(bucket: string, what: string): void {
    if (this.nc.isClosed()) {
      throw new CoordinationUnavailableError(
        `Cannot ${what} '${bucket}': the NATS connection is closed; create a new connection`,
      );
    }
    if (!this.#connected) {
      throw new CoordinationUnavailableError(
        `Cannot ${what} '${bucket}': the NATS connection is down and reconnecting; retry once it is back`,
      );
    }
  }

  #listen(): void {
    if (this.nc.isClosed()) return;
    (async () => {
      for await (const status of this.nc.status()) {
        switch (status.type) {
          case "disconnect":
            this.#connected = false;
            break;
          case "reconnect":
            // Act on state, not on event counts: a WebSocket reconnect may report "reconnect"
            // several times (NATS_FACTS row 22); each watch marks itself for one recreation.
            this.#connected = true;
            for (const watch of this.#watches) watch.requestRestart("reconnected");
            break;
        }
      }
    })().catch(() => {});
  }

  jsm(): Promise<JetStreamManager> {
    // No account-info round trip: the first real request reports a missing JetStream anyway.
    this.#jsm ??= this.js.jetstreamManager(false);
    return this.#jsm;
  }

  /** Whether the bucket's stream is known to be missing (false when that cannot be told). */
  async bucketMissing(bucket: string): Promise<boolean> {
    // Never probe while disconnected: the request could not be answered (and see ensureConnected).
    if (!this.connected) return false;
    try {
      await (await this.jsm()).streams.info(streamName(bucket));
      return false;
    } catch (error) {
      return error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND;
    }
  }

  /** Turns whatever nats.js threw into the store's error contract. */
  async mapError(error: unknown, bucket: string, what: string, key?: string): Promise<Error> {
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
      this.nc.isClosed() || causedBy(error, ClosedConnectionError, DrainingConnectionError)
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
      if (await this.bucketMissing(bucket)) return new BucketNotFoundError(bucket, cause);
      if (timedOut) {
        return new OperationTimeoutError(
          `Cannot ${what} '${bucket}': no answer within ${this.operationTimeoutMs} ms; the outcome is unknown, read before retrying`,
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

  /** Registers a watch to be recreated after every reconnect. */
  addWatch(watch: NatsWatch): void {
    this.#watches.add(watch);
  }

  removeWatch(watch: NatsWatch): void {
    this.#watches.delete(watch);
  }
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
      return new NatsBucket(ctx, name, kv);
    } catch (error) {
      throw await ctx.mapError(error, name, "open bucket");
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
      if (error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND) return;
      throw await this.#ctx.mapError(error, name, "delete bucket");
    }
  }
}

/** A name-bound handle on one KV bucket. */
class NatsBucket implements Bucket {
  readonly name: string;
  readonly #ctx: NatsContext;
  readonly #kv: KV;

  constructor(ctx: NatsContext, name: string, kv: KV) {
    this.#ctx = ctx;
    this.name = name;
    this.#kv = kv;
  }

  async #run<T>(what: string, key: string | undefined, operation: () => Promise<T>): Promise<T> {
    this.#ctx.ensureConnected(this.name, what);
    try {
      return await operation();
    } catch (error) {
      throw await this.#ctx.mapError(error, this.name, what, key);
    }
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    checkValue(value);
    // kv.create also succeeds over a delete marker (a CAS on the marker's revision).
    return await this.#run(`create '${key}' in`, key, () => this.#kv.create(key, value));
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKey(key);
    checkValue(value);
    checkRevision(revision);
    return await this.#run(`update '${key}' in`, key, () => this.#kv.update(key, value, revision));
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    checkValue(value);
    return await this.#run(`put '${key}' in`, key, () => this.#kv.put(key, value));
  }

  async get(key: string): Promise<KvEntry | null> {
    checkKey(key);
    return await this.#run(`get '${key}' from`, key, async () => {
      const entry = await this.#kv.get(key);
      if (entry === null || entry.operation !== "PUT") return null;
      return { key, value: entry.value, revision: entry.revision, operation: "put" as const };
    });
  }

  async delete(key: string, options?: { readonly revision?: number }): Promise<void> {
    checkKey(key);
    const revision = options?.revision;
    if (revision !== undefined) checkRevision(revision);
    await this.#run(
      `delete '${key}' from`,
      key,
      () => this.#kv.delete(key, revision === undefined ? {} : { previousSeq: revision }),
    );
  }

  keys(): Promise<string[]> {
    return this.#run("list the keys of", undefined, async () => {
      // The listing streams from a consumer; a deadline keeps a stalled one from hanging us.
      const timeoutMs = this.#ctx.operationTimeoutMs;
      const iterator = await this.#kv.keys();
      const collect = async () => {
        const keys: string[] = [];
        for await (const key of iterator) keys.push(key);
        return keys;
      };
      try {
        return await withDeadline(collect(), timeoutMs);
      } finally {
        iterator.stop();
      }
    });
  }

  watch(options: WatchOptions = {}): KvWatch {
    const watch = new NatsWatch(this.#ctx, this, this.#kv, options);
    watch.start();
    return watch.queue;
  }

  status(): Promise<BucketStatus> {
    return this.#run("read the status of", undefined, async () => {
      const info = await (await this.#ctx.jsm()).streams.info(streamName(this.name));
      return {
        name: this.name,
        ttlMs: nanosToMs(info.config.max_age),
        history: info.config.max_msgs_per_subject,
        replicas: info.config.num_replicas,
        values: info.state.messages,
        lastRevision: info.state.last_seq,
        incarnation: info.created,
      };
    });
  }

  /**
   * The first revision at or after `revision` whose key matches `filter`, or 0 when there is
   * none: how the watchdog tells a quiet watch from a stalled one.
   */
  nextMatchingRevision(filter: string, revision: number): Promise<number> {
    return this.#run("probe", undefined, async () => {
      const jsm = await this.#ctx.jsm();
      // nats-server 2.9 answers `next_by_subj` (wildcards included) on the plain message-get API;
      // the client's MsgRequest type only lacks it, so it is widened here.
      const query = { seq: revision, next_by_subj: `$KV.${this.name}.${filter}` };
      const message = await jsm.streams.getMessage(
        streamName(this.name),
        query as unknown as MsgRequest,
      );
      return message?.seq ?? 0;
    });
  }

  /**
   * The latest revision whose key matches `filter`, or 0 when there is none. Read after a watch's
   * consumer was created, it bounds the revisions of that watch's initial values.
   */
  lastMatchingRevision(filter: string): Promise<number> {
    return this.#run("probe", undefined, async () => {
      const jsm = await this.#ctx.jsm();
      // nats-server 2.9 resolves wildcards in `last_by_subj` (checked on file and memory storage).
      const message = await jsm.streams.getMessage(streamName(this.name), {
        last_by_subj: `$KV.${this.name}.${filter}`,
      });
      return message?.seq ?? 0;
    });
  }
}

/**
 * One watch: a `kv.watch` underneath, de-duplicated by revision, supervised by a watchdog that
 * recreates it when the bucket was recreated, when it went silent although matching entries exist,
 * when it ended by itself, and after a reconnect.
 *
 * Readiness (`initialized`): nats.js 3.4.0 has no end-of-snapshot signal it can be trusted with.
 * Its `isUpdate` flag counts deliveries against the consumer's pending count at creation, so it
 * turns true one entry early on the last initial value, on every entry when nothing was pending
 * (the first one then being a future write), and too early when its ordered consumer resets
 * mid-snapshot and redelivers older revisions. Instead, once the consumer exists, the watch reads
 * the latest revision matching its filter. Every initial value is a latest-per-key entry that
 * existed before that read, so none is above it; and the entry at that revision (or a later
 * write of its key that replaced it) is itself delivered, because it is the latest of its key
 * or newer than the consumer. So the initial values are all handed over once the watch has seen
 * a revision at or above the bound, counting entries it drops as duplicates or non-matching,
 * and this never waits for a write made after the read. A bound of 0 means there were none.
 */
class NatsWatch {
  readonly queue: WatchQueue;
  readonly #ctx: NatsContext;
  readonly #bucket: NatsBucket;
  readonly #kv: KV;
  readonly #filter: string;
  readonly #matches: (key: string) => boolean;
  readonly #onError: ((error: Error) => void) | undefined;
  /** Incarnation the delivered revisions belong to; unknown until the first check. */
  #incarnation: string | undefined;
  /** Highest revision delivered in this incarnation. */
  #lastRevision = 0;
  /** Bumped on each recreation so entries of a replaced watcher are ignored. */
  #generation = 0;
  #inner: { stop(): void } | undefined;
  #restartReason: string | undefined = "start";
  #deliveredSinceCheck = false;
  /** A matching revision the watch has not delivered yet, and when the watchdog first saw it. */
  #missing: { revision: number; since: number } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #checking = false;
  #checkAgain = false;
  /** Whether `queue.markInitialized()` was called; it is never undone. */
  #initialized = false;
  /**
   * The revision the watch must see before its initial values count as delivered (see the
   * class comment); unknown until read after the first consumer of this incarnation exists.
   */
  #initialBound: number | undefined;
  /** Highest revision handed over by this incarnation's watchers, including dropped ones. */
  #seenRevision = 0;

  constructor(ctx: NatsContext, bucket: NatsBucket, kv: KV, options: WatchOptions) {
    this.#matches = keyMatcher(options.key);
    this.#filter = options.key ?? ">";
    this.#ctx = ctx;
    this.#bucket = bucket;
    this.#kv = kv;
    this.#onError = options.onError;
    this.queue = new WatchQueue(options.signal);
  }

  start(): void {
    if (this.queue.stopped) return;
    this.#ctx.addWatch(this);
    this.queue.onStop(() => {
      this.#ctx.removeWatch(this);
      clearTimeout(this.#timer);
      this.#generation += 1;
      this.#inner?.stop();
      this.#inner = undefined;
    });
    this.#schedule(0);
  }

  /**
   * Marks the watch for recreation (idempotent while one is pending) and checks at once, or at
   * the next interval when `now` is false.
   */
  requestRestart(reason: string, now = true): void {
    if (this.queue.stopped) return;
    this.#restartReason ??= reason;
    if (now) this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    if (this.queue.stopped) return;
    if (this.#checking) {
      if (delayMs === 0) this.#checkAgain = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#check(), delayMs);
  }

  async #check(): Promise<void> {
    this.#checking = true;
    try {
      await this.#checkOnce();
    } catch (error) {
      this.#report(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#checking = false;
      const again = this.#checkAgain;
      this.#checkAgain = false;
      this.#schedule(again ? 0 : this.#ctx.watchdogIntervalMs);
    }
  }

  async #checkOnce(): Promise<void> {
    // A failing status (bucket gone, server away) is reported and checked again next interval.
    const status = await this.#bucket.status();
    if (this.queue.stopped) return;
    if (status.incarnation !== this.#incarnation) {
      if (this.#incarnation !== undefined) {
        // Recreated bucket: revisions restart at 1, so the cursor must too, and the old
        // consumer may be parked at a sequence the new stream will not reach for a long time.
        this.#ctx.logger?.info("Bucket was recreated; restarting its watch", {
          bucket: this.#bucket.name,
        });
        this.#lastRevision = 0;
        this.#seenRevision = 0;
        // Not initialized yet: the values still owed are the new bucket's, not the old one's.
        this.#initialBound = undefined;
        this.#restartReason = "bucket recreated";
      }
      this.#incarnation = status.incarnation;
      this.#restartReason ??= "start";
    }
    if (this.#restartReason !== undefined) {
      await this.#restart(this.#restartReason);
      return;
    }
    if (!this.#initialized) await this.#settleInitialized();
    const delivered = this.#deliveredSinceCheck;
    this.#deliveredSinceCheck = false;
    if (status.lastRevision <= this.#lastRevision) {
      this.#missing = undefined;
      return;
    }
    const next = await this.#bucket.nextMatchingRevision(this.#filter, this.#lastRevision + 1);
    if (next === 0 || next <= this.#lastRevision) {
      this.#missing = undefined;
      return;
    }
    const now = performance.now();
    if (this.#missing === undefined || delivered || this.#missing.revision <= this.#lastRevision) {
      this.#missing = { revision: next, since: now };
      return;
    }
    if (now - this.#missing.since >= this.#ctx.watchdogIntervalMs * 0.9) {
      // An entry stayed undelivered for a whole interval while the watch delivered nothing:
      // the consumer is gone or stuck (NATS_FACTS rows 21 and 24).
      await this.#restart(`silent while revision ${next} is pending`);
    }
  }

  async #restart(reason: string): Promise<void> {
    const generation = ++this.#generation;
    this.#inner?.stop();
    this.#inner = undefined;
    this.#missing = undefined;
    const options: KvWatchOptions = { key: this.#filter };
    if (this.#lastRevision > 0) options.resumeFromRevision = this.#lastRevision + 1;
    this.#ctx.logger?.debug("Starting bucket watch", {
      bucket: this.#bucket.name,
      reason,
      resumeFromRevision: options.resumeFromRevision ?? 0,
    });
    let iterator;
    try {
      iterator = await withDeadline(
        this.#kv.watch(options),
        this.#ctx.operationTimeoutMs,
        (late) => late.stop(),
      );
    } catch (error) {
      throw await this.#ctx.mapError(error, this.#bucket.name, "watch");
    }
    if (generation !== this.#generation || this.queue.stopped) {
      iterator.stop();
      return;
    }
    this.#restartReason = undefined;
    this.#inner = iterator;
    void this.#pump(generation, iterator);
    // The bound must be read only now that the consumer exists (see the class comment). A
    // recreation before readiness keeps the bound: it resumes after the last delivered revision,
    // so it still delivers everything at or below it that the first watcher did not.
    if (!this.#initialized && this.#initialBound === undefined) await this.#readInitialBound();
  }

  async #readInitialBound(): Promise<void> {
    const bound = await this.#bucket.lastMatchingRevision(this.#filter);
    if (this.queue.stopped || this.#initialized || this.#initialBound !== undefined) return;
    this.#initialBound = bound;
    this.#checkInitialized();
  }

  /**
   * The watchdog's part in readiness: reads a bound that could not be read when the watch
   * started, and gives up on initial values that left the stream without being delivered (a
   * TTL expiry or an administrative purge right at the start), which no delivery would ever
   * replace. Entries in flight are still in the stream, so the probe finds them.
   */
  async #settleInitialized(): Promise<void> {
    if (this.#inner === undefined) return;
    if (this.#initialBound === undefined) {
      await this.#readInitialBound();
      return;
    }
    const bound = this.#initialBound;
    const from = this.#seenRevision;
    if (from >= bound) return;
    const next = await this.#bucket.nextMatchingRevision(this.#filter, from + 1);
    if (this.queue.stopped || this.#initialized || this.#initialBound !== bound) return;
    if (next === 0 || next > bound) this.#markInitialized();
  }

  #checkInitialized(): void {
    if (this.#initialBound !== undefined && this.#seenRevision >= this.#initialBound) {
      this.#markInitialized();
    }
  }

  #markInitialized(): void {
    if (this.#initialized) return;
    this.#initialized = true;
    this.queue.markInitialized();
  }

  async #pump(generation: number, iterator: AsyncIterable<KvWatchEntry>): Promise<void> {
    try {
      for await (const entry of iterator) {
        if (generation !== this.#generation) return;
        this.#deliver(entry);
        // Dropped entries count too: the bound may be a duplicate or a key the filter excludes.
        if (entry.revision > this.#seenRevision) this.#seenRevision = entry.revision;
        this.#checkInitialized();
      }
    } catch (error) {
      if (generation === this.#generation) {
        this.#report(await this.#ctx.mapError(error, this.#bucket.name, "watch"));
      }
    }
    // The underlying watcher ended without being replaced: recreate it at the next check, not
    // at once, so a watcher that keeps ending cannot spin.
    if (generation === this.#generation) this.requestRestart("watcher ended", false);
  }

  #deliver(entry: KvWatchEntry): void {
    // Revisions only grow within an incarnation, so anything not above the cursor was delivered
    // already (a recreated watcher overlaps the old one).
    if (entry.revision <= this.#lastRevision || !this.#matches(entry.key)) return;
    this.#lastRevision = entry.revision;
    this.#deliveredSinceCheck = true;
    this.queue.push({
      key: entry.key,
      value: entry.operation === "PUT" ? entry.value : new Uint8Array(0),
      revision: entry.revision,
      operation: entry.operation === "PUT" ? "put" : "delete",
    });
  }

  #report(error: Error): void {
    if (this.queue.stopped) return;
    this.#ctx.logger?.warn("Bucket watch problem; retrying", {
      bucket: this.#bucket.name,
      error: error.message,
    });
    try {
      this.#onError?.(error);
    } catch {
      // A throwing callback must not stop the watchdog.
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
 * import { natsKvStore, recommendedConnectionOptions } from "@parti/core";
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
