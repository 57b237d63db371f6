/**
 * A bucket that forwards every call to another one, except the calls given: the base of the test
 * doubles that count, delay or distort one operation of a real (memory-store) bucket.
 */
import type { Bucket } from "../../src/store/store.ts";

/** `inner` with the calls in `overrides` replaced. */
export function forwarding(inner: Bucket, overrides: Partial<Bucket>): Bucket {
  return {
    name: inner.name,
    create: (k, v) => inner.create(k, v),
    update: (k, v, r) => inner.update(k, v, r),
    put: (k, v) => inner.put(k, v),
    get: (k) => inner.get(k),
    delete: (k, o) => inner.delete(k, o),
    keys: () => inner.keys(),
    status: () => inner.status(),
    watch: (o) => inner.watch(o),
    ...overrides,
  };
}
