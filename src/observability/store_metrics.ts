/**
 * Timing every operation a manager makes on its coordination store: a {@link CoordinationStore}
 * wrapper that reports each bucket call (create, update, put, get, delete, keys, status; and
 * opening the bucket) with its duration and, when it failed, the error. Watches are long-lived
 * and not timed; their problems reach `onError` as before.
 *
 * @module
 */
import { PartiError } from "../errors.ts";
import type {
  Bucket,
  BucketOptions,
  CoordinationStore,
  KvWatch,
  WatchOptions,
} from "../store/store.ts";

/** A timed store operation. */
export type StoreOperation =
  | "open"
  | "create"
  | "update"
  | "put"
  | "get"
  | "delete"
  | "keys"
  | "status";

/** Receives one finished operation. */
export type StoreOperationObserver = (
  operation: StoreOperation,
  bucket: string,
  seconds: number,
  error: unknown,
) => void;

/** The error label of a failed operation: a `PartiError`'s code, else the error's name. */
export function errorLabel(error: unknown): string {
  if (error instanceof PartiError) return error.code;
  return error instanceof Error ? error.name : "unknown";
}

/**
 * The role of a group's bucket in its name (`parti_<group>_hb` → `heartbeats`), so series stay
 * few whatever the group is called; other names are kept as they are.
 */
export function bucketRole(name: string): string {
  const suffix = name.slice(name.lastIndexOf("_") + 1);
  const roles: Record<string, string> = {
    ids: "ids",
    hb: "heartbeats",
    leader: "leader",
    assign: "assignments",
  };
  return name.startsWith("parti_") ? roles[suffix] ?? name : name;
}

/**
 * Wraps a store so every bucket operation is reported to `observe`.
 *
 * @param store The store to wrap.
 * @param observe Called after each operation, with its duration in seconds.
 * @param now Milliseconds of the manager's clock.
 */
export function instrumentStore(
  store: CoordinationStore,
  observe: StoreOperationObserver,
  now: () => number,
): CoordinationStore {
  const timed = async <T>(op: StoreOperation, bucket: string, work: () => Promise<T>) => {
    const started = now();
    try {
      const result = await work();
      observe(op, bucket, (now() - started) / 1000, undefined);
      return result;
    } catch (error) {
      observe(op, bucket, (now() - started) / 1000, error);
      throw error;
    }
  };
  return {
    kind: store.kind,
    async bucket(name: string, options: BucketOptions): Promise<Bucket> {
      const role = bucketRole(name);
      const inner = await timed("open", role, () => store.bucket(name, options));
      return instrumentBucket(inner, role, timed);
    },
    deleteBucket: (name) => store.deleteBucket(name),
  };
}

type Timed = <T>(op: StoreOperation, bucket: string, work: () => Promise<T>) => Promise<T>;

function instrumentBucket(inner: Bucket, role: string, timed: Timed): Bucket {
  return {
    name: inner.name,
    create: (key, value) => timed("create", role, () => inner.create(key, value)),
    update: (key, value, revision) =>
      timed("update", role, () => inner.update(key, value, revision)),
    put: (key, value) => timed("put", role, () => inner.put(key, value)),
    get: (key) => timed("get", role, () => inner.get(key)),
    delete: (key, options) => timed("delete", role, () => inner.delete(key, options)),
    keys: () => timed("keys", role, () => inner.keys()),
    watch: (options?: WatchOptions): KvWatch => inner.watch(options),
    status: () => timed("status", role, () => inner.status()),
  };
}
