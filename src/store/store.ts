/**
 * The coordination store interface: the small key-value contract the whole protocol is written
 * against. Two implementations exist: NATS JetStream KV (`nats_kv/`, the real one) and an
 * in-memory store (`memory.ts`, one process, zero setup). Both pass one conformance suite.
 *
 * Semantics follow NATS JetStream KV on nats-server 2.9 deliberately, so that code tested on the
 * memory store behaves the same on NATS: revisions are store-wide increasing numbers (compare them,
 * never expect them to be contiguous), time-to-live is per bucket and expiry sends **no** watch
 * event, and a watcher first delivers the latest entry of every key and then every change.
 *
 * @module
 */

/** Options of a bucket. A bucket that already exists must match them. */
export interface BucketOptions {
  /**
   * Maximum age of an entry in milliseconds, counted from its last write; 0 keeps entries forever.
   * Expiry is garbage collection only: it emits no watch event.
   */
  readonly ttlMs: number;
  /**
   * Number of revisions kept per key.
   * @default {1}
   */
  readonly history?: number;
  /**
   * Number of replicas (NATS only; use 3 on a clustered JetStream).
   * @default {1}
   */
  readonly replicas?: number;
  /**
   * Storage of the bucket (NATS only).
   * @default {"file"}
   */
  readonly storage?: "file" | "memory";
}

/** One revision of one key, as returned by `get` or delivered by a watcher. */
export interface KvEntry {
  /** The key. */
  readonly key: string;
  /** The value; empty for a delete marker. */
  readonly value: Uint8Array;
  /** Store-wide increasing revision of this write. */
  readonly revision: number;
  /** `"put"` for a value, `"delete"` for a deletion (or purge) marker. */
  readonly operation: "put" | "delete";
}

/** What a bucket reports about itself. */
export interface BucketStatus {
  /** Bucket name as given to {@link CoordinationStore.bucket}. */
  readonly name: string;
  /** Entry time-to-live in milliseconds (0 = none). */
  readonly ttlMs: number;
  /** Revisions kept per key. */
  readonly history: number;
  /** Replica count. */
  readonly replicas: number;
  /** Number of stored messages, including delete markers. */
  readonly values: number;
  /** Highest revision written so far (0 when empty). */
  readonly lastRevision: number;
  /**
   * Identifies this incarnation of the bucket: it changes when the bucket is deleted and created
   * again (revisions restart then), so fencing must not rely on raw revisions alone.
   */
  readonly incarnation: string;
}

/** Options of {@link Bucket.watch}. */
export interface WatchOptions {
  /**
   * Watch only this key (exact match), or keys with this prefix when it ends with `>` (for example
   * `"assign.>"`). Watches every key when omitted.
   */
  readonly key?: string;
  /** Stops the watch when aborted; the iterator then ends. */
  readonly signal?: AbortSignal;
  /**
   * Called with problems the watcher recovers from by itself (for example the bucket was deleted or
   * the server went away). The watcher keeps trying until it is stopped.
   */
  readonly onError?: (error: Error) => void;
  /**
   * Called when the bucket was deleted and created again while watched (a new incarnation): the
   * watch starts over and delivers the new bucket's current values. Whatever the consumer derived
   * from the old bucket (e.g. revisions it wrote) is void.
   */
  readonly onRecreated?: () => void;
}

/**
 * A running watch: an async iterable of entries that first yields the latest entry of every
 * matching key (including delete markers) and then every change, in revision order, never the
 * same revision twice. It ends only when stopped.
 */
export interface KvWatch extends AsyncIterable<KvEntry> {
  /**
   * Resolves once the consumer has taken every entry that was current when the watch started and
   * asked for the next one (a `for await` loop has run its body for each of them); at once after
   * the first iteration when there were none. Also resolves when the watch stops. Later
   * recreations of the watch (after a bucket is recreated) do not reset it.
   */
  readonly initialized: Promise<void>;
  /** Stops the watch; a pending iteration ends. Idempotent. */
  stop(): void;
}

/** One bucket of a {@link CoordinationStore}. All operations may reject with a `PartiError`. */
export interface Bucket {
  /** The bucket name. */
  readonly name: string;
  /**
   * Writes `value` only if `key` has no current value (never written, deleted or expired).
   *
   * @returns The new revision.
   * @throws {RevisionConflictError} If the key exists.
   */
  create(key: string, value: Uint8Array): Promise<number>;
  /**
   * Writes `value` only if the latest revision of `key` is `revision` (compare-and-set).
   *
   * @returns The new revision.
   * @throws {RevisionConflictError} If the key changed since, or does not exist.
   */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Writes `value` unconditionally and returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Returns the current value of `key`, or `null` when it is absent, deleted or expired. */
  get(key: string): Promise<KvEntry | null>;
  /**
   * Deletes `key`. With `revision`, deletes only if that is still the latest revision.
   *
   * @throws {RevisionConflictError} If `revision` is given and the key changed since.
   */
  delete(key: string, options?: { readonly revision?: number }): Promise<void>;
  /** Lists the keys that currently hold a value (deleted and expired keys are left out). */
  keys(): Promise<string[]>;
  /** Starts a watch; see {@link KvWatch}. */
  watch(options?: WatchOptions): KvWatch;
  /** Reports the bucket's configuration and state. */
  status(): Promise<BucketStatus>;
}

/** A source of buckets: NATS JetStream KV or the in-memory store. */
export interface CoordinationStore {
  /** `"nats"` or `"memory"` (informational). */
  readonly kind: string;
  /**
   * Opens a bucket, creating it when absent.
   *
   * @throws {BucketConfigMismatchError} If it exists with a different TTL, history or storage.
   */
  bucket(name: string, options: BucketOptions): Promise<Bucket>;
  /** Deletes a bucket and everything in it (tests, tooling). Deleting a missing bucket is a no-op. */
  deleteBucket(name: string): Promise<void>;
}
