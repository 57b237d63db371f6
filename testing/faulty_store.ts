/**
 * A coordination store wrapper that can be cut off from the store it wraps: the in-process
 * equivalent of a network partition or a crashed process, for tests and demos that run on the
 * in-memory store.
 *
 * @module
 */
import { CoordinationUnavailableError } from "../src/errors.ts";
import type {
  Bucket,
  BucketOptions,
  BucketStatus,
  CoordinationStore,
  KvEntry,
  KvWatch,
  WatchOptions,
} from "../src/store/store.ts";

/** A {@link CoordinationStore} that can be cut off and healed. */
export interface FaultyStore extends CoordinationStore {
  /** Whether operations currently fail. */
  readonly isCut: boolean;
  /** From now on every operation rejects and watches hold back what they would deliver. */
  cut(): void;
  /** Operations work again; watches deliver what they held back, then every change. */
  heal(): void;
}

/**
 * Wraps a store so a test can cut one worker off from coordination.
 *
 * @param inner The store to wrap (usually the shared `memoryStore()`).
 * @returns The wrapper; give it to one manager as its `store`.
 *
 * @example Simulate a crashed worker in one process
 * ```ts
 * import { memoryStore } from "@parti/core";
 * import { faultyStore } from "@parti/core/testing";
 *
 * const shared = memoryStore();
 * const store = faultyStore(shared);
 * store.cut(); // the worker using `store` can no longer heartbeat
 * ```
 */
export function faultyStore(inner: CoordinationStore): FaultyStore {
  let cut = false;
  let healed = Promise.withResolvers<void>();
  const fail = (what: string) =>
    Promise.reject(new CoordinationUnavailableError(`Store is cut off (${what})`));
  const wrap = (bucket: Bucket): Bucket => ({
    name: bucket.name,
    create: (k, v) => (cut ? fail("create") : bucket.create(k, v)),
    update: (k, v, r) => (cut ? fail("update") : bucket.update(k, v, r)),
    put: (k, v) => (cut ? fail("put") : bucket.put(k, v)),
    get: (k): Promise<KvEntry | null> => (cut ? fail("get") : bucket.get(k)),
    delete: (k, o) => (cut ? fail("delete") : bucket.delete(k, o)),
    keys: () => (cut ? fail("keys") : bucket.keys()),
    status: (): Promise<BucketStatus> => (cut ? fail("status") : bucket.status()),
    watch(options?: WatchOptions): KvWatch {
      const watch = bucket.watch(options);
      return {
        // Entries are held, not dropped, while cut (as a partitioned NATS consumer delivers what
        // it missed once the network heals), so the inner watch's readiness stays exact.
        initialized: watch.initialized,
        stop: () => watch.stop(),
        async *[Symbol.asyncIterator]() {
          for await (const entry of watch) {
            while (cut) await healed.promise;
            yield entry;
          }
        },
      };
    },
  });
  return {
    kind: `faulty(${inner.kind})`,
    get isCut() {
      return cut;
    },
    cut() {
      if (!cut) healed = Promise.withResolvers<void>();
      cut = true;
    },
    heal() {
      cut = false;
      healed.resolve();
    },
    async bucket(name: string, options: BucketOptions): Promise<Bucket> {
      if (cut) await fail("bucket");
      return wrap(await inner.bucket(name, options));
    },
    deleteBucket: (name) => (cut ? fail("deleteBucket") : inner.deleteBucket(name)),
  };
}
