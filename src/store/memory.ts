/**
 * The in-memory coordination store: one process, zero setup. Many managers in the same process
 * share one instance, which makes it the store of the demo and of fast, deterministic tests of
 * controller logic.
 *
 * It mimics NATS JetStream KV on nats-server 2.9 on purpose (see `store.ts`): one increasing
 * revision counter per bucket (like a stream sequence), time-to-live counted from an entry's last
 * write on an injectable monotonic clock, expiry that sends no watch event, delete markers that
 * watchers see, and revisions that restart when a bucket is deleted and created again.
 *
 * @module
 */

import { type Clock, systemClock } from "../runtime/clock.ts";
import {
  BucketConfigMismatchError,
  BucketNotFoundError,
  RevisionConflictError,
} from "../errors.ts";
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
  type ResolvedBucketOptions,
} from "./validation.ts";
import { WatchQueue } from "./watch_queue.ts";

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Monotonic clock that entry time-to-live is measured on; inject a manual clock to expire
   * entries without waiting.
   * @default {systemClock}
   */
  readonly clock?: Clock;
}

/** One stored revision (a value or a delete marker) and when it was written. */
interface StoredEntry extends KvEntry {
  readonly writtenAt: number;
}

/** One incarnation of a bucket: created by `bucket()`, gone for good after `deleteBucket()`. */
interface BucketState {
  readonly options: ResolvedBucketOptions;
  readonly incarnation: string;
  /** Last revision handed out; revisions are per bucket, like a stream sequence. */
  lastRevision: number;
  /** Retained revisions of each key, oldest first (at most `history`). */
  readonly keys: Map<string, StoredEntry[]>;
}

/** A running watch of one bucket name; it outlives deletions of the bucket. */
interface Watcher {
  readonly matches: (key: string) => boolean;
  readonly queue: WatchQueue;
  readonly onError: ((error: Error) => void) | undefined;
  readonly onRecreated: (() => void) | undefined;
  /** The incarnation whose entries this watcher has delivered, if any. */
  incarnation: string | undefined;
}

const EMPTY = new Uint8Array(0);

/** The shared state and logic behind a {@link MemoryStore} and its bucket handles. */
class MemoryCore {
  readonly #clock: Clock;
  readonly #buckets = new Map<string, BucketState>();
  readonly #watchers = new Map<string, Set<Watcher>>();
  #incarnations = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  open(name: string, options: BucketOptions): void {
    checkBucketName(name);
    const wanted = resolveBucketOptions(options);
    const existing = this.#buckets.get(name);
    if (existing) {
      const mismatch = describeMismatch(name, wanted, existing.options);
      if (mismatch !== null) throw new BucketConfigMismatchError(name, mismatch);
      return;
    }
    this.#incarnations += 1;
    this.#buckets.set(name, {
      options: wanted,
      incarnation: `memory-${this.#incarnations}`,
      lastRevision: 0,
      keys: new Map(),
    });
    for (const watcher of this.#watchers.get(name) ?? []) {
      const recreated = watcher.incarnation !== undefined;
      this.#sendSnapshot(name, watcher);
      const onRecreated = watcher.onRecreated;
      // Asynchronously, like entries: never inside the call that created the bucket.
      if (recreated && onRecreated) {
        queueMicrotask(() => {
          if (!watcher.queue.stopped) onRecreated();
        });
      }
    }
  }

  delete(name: string): void {
    checkBucketName(name);
    if (!this.#buckets.delete(name)) return;
    for (const watcher of this.#watchers.get(name) ?? []) {
      this.#reportError(watcher, new BucketNotFoundError(name));
    }
  }

  /** The live state of `name`, with expired revisions dropped. */
  state(name: string): BucketState {
    const state = this.#buckets.get(name);
    if (!state) throw new BucketNotFoundError(name);
    this.#expire(state);
    return state;
  }

  /** Appends a revision to `key` and hands it to the matching watchers. */
  append(
    name: string,
    key: string,
    value: Uint8Array,
    operation: KvEntry["operation"],
  ): number {
    const state = this.state(name);
    state.lastRevision += 1;
    const entry: StoredEntry = {
      key,
      // Copy so that a caller reusing its buffer cannot change stored history.
      value: operation === "put" ? value.slice() : EMPTY,
      revision: state.lastRevision,
      operation,
      writtenAt: this.#clock.now(),
    };
    const revisions = state.keys.get(key) ?? [];
    revisions.push(entry);
    const excess = revisions.length - state.options.history;
    if (excess > 0) revisions.splice(0, excess);
    state.keys.set(key, revisions);
    for (const watcher of this.#watchers.get(name) ?? []) {
      if (watcher.incarnation === state.incarnation && watcher.matches(key)) {
        watcher.queue.push(publicEntry(entry));
      }
    }
    return entry.revision;
  }

  watch(name: string, options: WatchOptions): KvWatch {
    const matches = keyMatcher(options.key);
    const queue = new WatchQueue(options.signal);
    if (queue.stopped) return queue;
    const watcher: Watcher = {
      matches,
      queue,
      onError: options.onError,
      onRecreated: options.onRecreated,
      incarnation: undefined,
    };
    let set = this.#watchers.get(name);
    if (!set) {
      set = new Set();
      this.#watchers.set(name, set);
    }
    const watchers = set;
    watchers.add(watcher);
    queue.onStop(() => {
      watchers.delete(watcher);
      if (watchers.size === 0 && this.#watchers.get(name) === watchers) {
        this.#watchers.delete(name);
      }
    });
    if (this.#buckets.has(name)) {
      this.#sendSnapshot(name, watcher);
    } else {
      this.#reportError(watcher, new BucketNotFoundError(name));
    }
    return queue;
  }

  /**
   * Queues the latest revision of every matching key in revision order and binds the watcher to
   * the current incarnation, so it then receives every later write.
   */
  #sendSnapshot(name: string, watcher: Watcher): void {
    const state = this.state(name);
    watcher.incarnation = state.incarnation;
    const latest: StoredEntry[] = [];
    for (const [key, revisions] of state.keys) {
      const last = revisions.at(-1);
      if (last && watcher.matches(key)) latest.push(last);
    }
    latest.sort((a, b) => a.revision - b.revision);
    for (const entry of latest) watcher.queue.push(publicEntry(entry));
    watcher.queue.markInitialized();
  }

  #reportError(watcher: Watcher, error: Error): void {
    const onError = watcher.onError;
    if (!onError) return;
    // Asynchronously, like entries: the callback must not run inside deleteBucket()'s call.
    queueMicrotask(() => {
      if (!watcher.queue.stopped) onError(error);
    });
  }

  /** Drops every revision older than the time-to-live; no watch event, as on NATS 2.9. */
  #expire(state: BucketState): void {
    const ttlMs = state.options.ttlMs;
    if (ttlMs === 0) return;
    const now = this.#clock.now();
    for (const [key, revisions] of state.keys) {
      const firstLive = revisions.findIndex((entry) => now - entry.writtenAt < ttlMs);
      if (firstLive === -1) {
        state.keys.delete(key);
      } else if (firstLive > 0) {
        revisions.splice(0, firstLive);
      }
    }
  }
}

/**
 * A coordination store held in this process's memory, with the semantics of NATS JetStream KV on
 * nats-server 2.9; created by {@link memoryStore}.
 */
class MemoryStore implements CoordinationStore {
  /** Always `"memory"`. */
  readonly kind: string = "memory";
  readonly #core: MemoryCore;

  /**
   * Creates an empty store.
   *
   * @param options The clock entry time-to-live is measured on.
   */
  constructor(options: MemoryStoreOptions = {}) {
    this.#core = new MemoryCore(options.clock ?? systemClock);
  }

  /**
   * Opens a bucket, creating it when absent.
   *
   * @param name Bucket name: letters, digits, `_` and `-`.
   * @param options Time-to-live, history, replicas and storage; an existing bucket must match.
   * @returns A handle bound to the name: after the bucket is deleted and created again it
   * operates on the new bucket.
   * @throws {BucketConfigMismatchError} If the bucket exists with different options.
   */
  bucket(name: string, options: BucketOptions): Promise<Bucket> {
    return attempt(() => {
      this.#core.open(name, options);
      return new MemoryBucket(this.#core, name);
    });
  }

  /**
   * Deletes a bucket and everything in it; a missing bucket is a no-op. Operations on it then
   * fail with {@link BucketNotFoundError} and its watchers report that error through `onError`
   * until the bucket is created again.
   *
   * @param name Bucket name.
   * @returns A promise that resolves once the bucket is gone.
   */
  deleteBucket(name: string): Promise<void> {
    return attempt(() => this.#core.delete(name));
  }
}

/** A name-bound handle on a bucket of a {@link MemoryStore}. */
class MemoryBucket implements Bucket {
  readonly name: string;
  readonly #core: MemoryCore;

  constructor(core: MemoryCore, name: string) {
    this.#core = core;
    this.name = name;
  }

  create(key: string, value: Uint8Array): Promise<number> {
    return attempt(() => {
      checkKey(key);
      checkValue(value);
      const state = this.#core.state(this.name);
      const last = state.keys.get(key)?.at(-1);
      if (last && last.operation === "put") throw new RevisionConflictError(this.name, key);
      return this.#core.append(this.name, key, value, "put");
    });
  }

  update(key: string, value: Uint8Array, revision: number): Promise<number> {
    return attempt(() => {
      checkKey(key);
      checkValue(value);
      checkRevision(revision);
      const state = this.#core.state(this.name);
      // Compared with the latest revision even when it is a delete marker, as JetStream does.
      const last = state.keys.get(key)?.at(-1);
      if (!last || last.revision !== revision) throw new RevisionConflictError(this.name, key);
      return this.#core.append(this.name, key, value, "put");
    });
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return attempt(() => {
      checkKey(key);
      checkValue(value);
      return this.#core.append(this.name, key, value, "put");
    });
  }

  get(key: string): Promise<KvEntry | null> {
    return attempt(() => {
      checkKey(key);
      const last = this.#core.state(this.name).keys.get(key)?.at(-1);
      return last && last.operation === "put" ? publicEntry(last) : null;
    });
  }

  delete(key: string, options?: { readonly revision?: number }): Promise<void> {
    return attempt(() => {
      checkKey(key);
      const revision = options?.revision;
      if (revision !== undefined) checkRevision(revision);
      if (revision !== undefined) {
        const last = this.#core.state(this.name).keys.get(key)?.at(-1);
        if (!last || last.revision !== revision) throw new RevisionConflictError(this.name, key);
      }
      // Like NATS, a delete always writes a marker, even for an absent key.
      this.#core.append(this.name, key, new Uint8Array(0), "delete");
    });
  }

  keys(): Promise<string[]> {
    return attempt(() => {
      const keys: string[] = [];
      for (const [key, revisions] of this.#core.state(this.name).keys) {
        if (revisions.at(-1)?.operation === "put") keys.push(key);
      }
      return keys;
    });
  }

  watch(options: WatchOptions = {}): KvWatch {
    return this.#core.watch(this.name, options);
  }

  status(): Promise<BucketStatus> {
    return attempt(() => {
      const state = this.#core.state(this.name);
      let values = 0;
      for (const revisions of state.keys.values()) values += revisions.length;
      return {
        name: this.name,
        ttlMs: state.options.ttlMs,
        history: state.options.history,
        replicas: state.options.replicas,
        values,
        lastRevision: state.lastRevision,
        incarnation: state.incarnation,
      };
    });
  }
}

/** Runs a synchronous operation and settles a promise with its outcome (never throws). */
function attempt<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(error);
  }
}

function publicEntry(entry: StoredEntry): KvEntry {
  return {
    key: entry.key,
    value: entry.value.slice(),
    revision: entry.revision,
    operation: entry.operation,
  };
}

/**
 * Creates an in-memory coordination store. Every manager that should coordinate must be given the
 * same instance.
 *
 * @param options The clock entry time-to-live is measured on.
 * @returns A store with NATS JetStream KV semantics, held in this process.
 *
 * @example Expire an entry with a manual clock
 * ```ts
 * import { memoryStore } from "@parti/core";
 *
 * let now = 0;
 * const store = memoryStore({ clock: { now: () => now } });
 * const bucket = await store.bucket("members", { ttlMs: 1000 });
 * await bucket.create("member.0", new Uint8Array([1]));
 * now += 1000;
 * console.assert((await bucket.get("member.0")) === null);
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): CoordinationStore {
  return new MemoryStore(options);
}
