/**
 * The one conformance suite every coordination store must pass: the memory store and NATS
 * JetStream KV (over TCP and WebSocket) run exactly these tests, so protocol code tested on one
 * behaves the same on the other.
 *
 * Waiting is always poll-until-true with a deadline; absence of an event is proven with a later
 * "barrier" write that the watcher must see first.
 *
 * @module
 */

import assert from "node:assert/strict";
import { waitFor } from "../../testing/wait.ts";
import {
  BucketConfigMismatchError,
  BucketNotFoundError,
  OperationTimeoutError,
  RevisionConflictError,
} from "../../src/errors.ts";
import type {
  Bucket,
  BucketOptions,
  CoordinationStore,
  KvEntry,
  KvWatch,
} from "../../src/store/store.ts";

/** A store under test and how to release what it holds (connections, servers). */
export interface StoreFixture extends AsyncDisposable {
  readonly store: CoordinationStore;
}

/** Creates a fresh fixture for one test. */
export type StoreFactory = () => Promise<StoreFixture>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a string value. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes an entry's value. */
export function text(entry: KvEntry | null | undefined): string | undefined {
  return entry ? decoder.decode(entry.value) : undefined;
}

/** What a background consumer of a watch has seen so far. */
export interface Collected {
  readonly entries: KvEntry[];
  readonly errors: Error[];
  /** Resolves when the iteration ended. */
  readonly done: Promise<void>;
}

/** Consumes `watch` in the background, recording entries and the errors given to `onError`. */
export function collect(watch: KvWatch, errors: Error[] = []): Collected {
  const entries: KvEntry[] = [];
  const done = (async () => {
    for await (const entry of watch) entries.push(entry);
  })();
  return { entries, errors, done };
}

/** Waits until the collected entries contain one matching `predicate` and returns it. */
export function seen(
  collected: Collected,
  predicate: (entry: KvEntry) => boolean,
  message: string,
  timeoutMs = 8000,
): Promise<KvEntry> {
  return waitFor(() => collected.entries.find(predicate), { timeoutMs, message });
}

/** [key, operation, value] of an entry: what readiness tests compare. */
export type Shape = [key: string, operation: KvEntry["operation"], value: string];

/** The comparable shape of an entry. */
export function shape(entry: KvEntry): Shape {
  return [entry.key, entry.operation, text(entry) ?? ""];
}

/** A background consumer of a watch that records what it had handled when it became ready. */
export interface ReadinessProbe extends Collected {
  /** Whether `initialized` has resolved. */
  readonly ready: () => boolean;
  /**
   * The entries whose loop body had finished when `initialized` resolved, taken in the first
   * callback after it resolved.
   */
  readonly handledAtReady: Promise<KvEntry[]>;
}

/**
 * Consumes `watch` in the background; `handle` runs as the loop body for each entry before it
 * counts as handled (an async body is how a slow consumer looks).
 */
export function collectReadiness(
  watch: KvWatch,
  handle: (entry: KvEntry) => Promise<void> | void = () => {},
  errors: Error[] = [],
): ReadinessProbe {
  const entries: KvEntry[] = [];
  let ready = false;
  const handledAtReady = watch.initialized.then(() => {
    ready = true;
    return [...entries];
  });
  const done = (async () => {
    for await (const entry of watch) {
      await handle(entry);
      entries.push(entry);
    }
  })();
  return { entries, errors, done, ready: () => ready, handledAtReady };
}

/** Waits (polling, with a deadline) until `initialized` resolved, then returns what was handled. */
export async function whenReady(
  probe: ReadinessProbe,
  message: string,
  timeoutMs = 8000,
): Promise<KvEntry[]> {
  await waitFor(probe.ready, { timeoutMs, message: `initialized: ${message}` });
  return await probe.handledAtReady;
}

let bucketCounter = 0;

/** A bucket name no other test uses. */
export function uniqueBucket(prefix = "conf"): string {
  bucketCounter += 1;
  return `${prefix}_${bucketCounter}_${crypto.randomUUID().slice(0, 8)}`;
}

const NO_TTL: BucketOptions = { ttlMs: 0 };

/**
 * Registers the conformance tests for one store.
 *
 * @param label Prefixed to every test name, e.g. `"memory store"`.
 * @param factory Creates a fresh fixture per test.
 */
export function storeConformance(label: string, factory: StoreFactory): void {
  const test = (name: string, fn: (store: CoordinationStore) => Promise<void>) =>
    Deno.test(`${label}: ${name}`, async () => {
      await using fixture = await factory();
      await fn(fixture.store);
    });

  test("create writes only when the key is absent and get reads it back", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    assert.equal(await bucket.get("k"), null);
    const revision = await bucket.create("k", bytes("one"));
    assert.ok(revision > 0);
    const entry = await bucket.get("k");
    assert.deepEqual(
      { key: entry?.key, value: text(entry), revision: entry?.revision, op: entry?.operation },
      { key: "k", value: "one", revision, op: "put" },
    );
    await assert.rejects(bucket.create("k", bytes("two")), RevisionConflictError);
    assert.equal(text(await bucket.get("k")), "one");
  });

  test("put overwrites and revisions increase across all keys of a bucket", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    const r1 = await bucket.put("a", bytes("1"));
    const r2 = await bucket.put("b", bytes("2"));
    const r3 = await bucket.put("a", bytes("3"));
    assert.ok(r1 < r2 && r2 < r3, `revisions ${r1}, ${r2}, ${r3} must increase`);
    assert.equal(text(await bucket.get("a")), "3");
    assert.equal((await bucket.get("a"))?.revision, r3);
  });

  test("update succeeds on the current revision only", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    const r1 = await bucket.create("k", bytes("v1"));
    const r2 = await bucket.update("k", bytes("v2"), r1);
    assert.ok(r2 > r1);
    await assert.rejects(bucket.update("k", bytes("stale"), r1), RevisionConflictError);
    await assert.rejects(bucket.update("missing", bytes("x"), r2), RevisionConflictError);
    assert.equal(text(await bucket.get("k")), "v2");
  });

  test("a conflict names the bucket and key and has a stable code", async (store) => {
    const name = uniqueBucket();
    const bucket = await store.bucket(name, NO_TTL);
    await bucket.create("k", bytes("v"));
    const error = await bucket.create("k", bytes("v")).catch((e) => e);
    assert.ok(error instanceof RevisionConflictError);
    assert.equal(error.code, "REVISION_CONFLICT");
    assert.equal(error.bucket, name);
    assert.equal(error.key, "k");
  });

  test("delete hides a key from get and keys, and create succeeds on it again", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    await bucket.put("gone", bytes("x"));
    await bucket.put("kept", bytes("y"));
    await bucket.delete("gone");
    assert.equal(await bucket.get("gone"), null);
    assert.deepEqual((await bucket.keys()).sort(), ["kept"]);
    const revision = await bucket.create("gone", bytes("again"));
    assert.equal((await bucket.get("gone"))?.revision, revision);
    assert.deepEqual((await bucket.keys()).sort(), ["gone", "kept"]);
  });

  test("a conditional delete removes the key only at the given revision", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    const r1 = await bucket.put("k", bytes("1"));
    const r2 = await bucket.put("k", bytes("2"));
    await assert.rejects(bucket.delete("k", { revision: r1 }), RevisionConflictError);
    assert.equal(text(await bucket.get("k")), "2");
    await bucket.delete("k", { revision: r2 });
    assert.equal(await bucket.get("k"), null);
  });

  test("keys of an empty bucket is an empty list", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    assert.deepEqual(await bucket.keys(), []);
  });

  test("exactly one of 10 concurrent creates wins; the others conflict", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => bucket.create("leader", bytes(`c${i}`))),
    );
    const winners = results.filter((r) => r.status === "fulfilled");
    const losers = results.filter((r) => r.status === "rejected");
    assert.equal(winners.length, 1);
    for (const loser of losers) assert.ok(loser.reason instanceof RevisionConflictError);
    const winner = results.findIndex((r) => r.status === "fulfilled");
    assert.equal(text(await bucket.get("leader")), `c${winner}`);
  });

  test("exactly one of 10 concurrent updates of one revision wins", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    const base = await bucket.create("lease", bytes("base"));
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => bucket.update("lease", bytes(`u${i}`), base)),
    );
    const winners = results.filter((r) => r.status === "fulfilled");
    assert.equal(winners.length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.ok(r.reason instanceof RevisionConflictError);
    }
    const winner = results.findIndex((r) => r.status === "fulfilled");
    const entry = await bucket.get("lease");
    assert.equal(text(entry), `u${winner}`);
    assert.equal(entry?.revision, (winners[0] as PromiseFulfilledResult<number>).value);
  });

  test("invalid bucket names, keys, revisions and options are rejected", async (store) => {
    await assert.rejects(store.bucket("has.dot", NO_TTL), TypeError);
    await assert.rejects(store.bucket("", NO_TTL), TypeError);
    await assert.rejects(store.bucket(uniqueBucket(), { ttlMs: -1 }), RangeError);
    await assert.rejects(store.bucket(uniqueBucket(), { ttlMs: 0, history: 0 }), RangeError);
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    await assert.rejects(bucket.put("has space", bytes("x")), TypeError);
    await assert.rejects(bucket.put(".leading", bytes("x")), TypeError);
    await assert.rejects(bucket.get("a..b"), TypeError);
    await assert.rejects(bucket.update("k", bytes("x"), 0), RangeError);
    assert.throws(() => bucket.watch({ key: "a>" }), TypeError);
  });

  test("opening an existing bucket with other settings reports the setting", async (store) => {
    const name = uniqueBucket();
    await store.bucket(name, { ttlMs: 5000, history: 1 });
    await store.bucket(name, { ttlMs: 5000, history: 1 }); // same settings: fine
    const ttl = await store.bucket(name, { ttlMs: 60_000 }).catch((e) => e);
    assert.ok(ttl instanceof BucketConfigMismatchError, String(ttl));
    assert.equal(ttl.code, "BUCKET_CONFIG_MISMATCH");
    assert.match(ttl.message, /ttlMs/);
    const history = await store.bucket(name, { ttlMs: 5000, history: 5 }).catch((e) => e);
    assert.ok(history instanceof BucketConfigMismatchError);
    assert.match(history.message, /history/);
  });

  test("status reports settings, values, last revision and incarnation", async (store) => {
    const name = uniqueBucket();
    const bucket = await store.bucket(name, { ttlMs: 60_000, history: 3 });
    const empty = await bucket.status();
    assert.deepEqual(
      { ...empty, incarnation: typeof empty.incarnation },
      {
        name,
        ttlMs: 60_000,
        history: 3,
        replicas: 1,
        values: 0,
        lastRevision: 0,
        incarnation: "string",
      },
    );
    await bucket.put("a", bytes("1"));
    const last = await bucket.put("a", bytes("2"));
    await bucket.delete("a");
    const status = await bucket.status();
    assert.equal(status.values, 3); // two values and a delete marker, within history 3
    assert.equal(status.lastRevision, last + 1);
    assert.equal(status.incarnation, empty.incarnation);

    await store.deleteBucket(name);
    await store.deleteBucket(name); // deleting a missing bucket is a no-op
    const again = await store.bucket(name, { ttlMs: 60_000, history: 3 });
    const recreated = await again.status();
    assert.equal(recreated.lastRevision, 0);
    assert.notEqual(recreated.incarnation, empty.incarnation);
  });

  test("a watcher sees the initial values, then puts and deletes in revision order", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    await bucket.put("a", bytes("a1"));
    await bucket.put("b", bytes("b1"));
    await bucket.put("a", bytes("a2"));
    await bucket.put("c", bytes("c1"));
    await bucket.delete("c");
    const watch = bucket.watch();
    const got = collect(watch);
    try {
      // Latest entry per key, delete markers included, ordered by revision.
      await waitFor(() => got.entries.length >= 3, { message: "initial values" });
      assert.deepEqual(
        got.entries.map((e) => [e.key, e.operation, text(e)]),
        [["b", "put", "b1"], ["a", "put", "a2"], ["c", "delete", ""]],
      );
      const r = await bucket.put("d", bytes("d1"));
      await bucket.delete("a");
      await seen(got, (e) => e.key === "a" && e.operation === "delete", "delete of a");
      const updates = got.entries.slice(3);
      assert.deepEqual(updates.map((e) => [e.key, e.operation]), [["d", "put"], ["a", "delete"]]);
      assert.equal(updates[0]?.revision, r);
      const revisions = got.entries.map((e) => e.revision);
      assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y));
      assert.equal(new Set(revisions).size, revisions.length);
    } finally {
      watch.stop();
      await got.done;
    }
  });

  test("a watcher filters by exact key or by a prefix ending in '>'", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    await bucket.put("member.1", bytes("m1"));
    await bucket.put("leader", bytes("l"));
    const members = bucket.watch({ key: "member.>" });
    const leader = bucket.watch({ key: "leader" });
    const gotMembers = collect(members);
    const gotLeader = collect(leader);
    try {
      // A watch takes its snapshot when it starts, which may be after watch() returned.
      await seen(gotMembers, (e) => e.key === "member.1", "initial member.1");
      await seen(gotLeader, (e) => text(e) === "l", "initial leader");
      await bucket.put("member.2", bytes("m2"));
      await bucket.put("members", bytes("not a member key"));
      await bucket.put("leader", bytes("l2"));
      await seen(gotMembers, (e) => e.key === "member.2", "member.2");
      await seen(gotLeader, (e) => text(e) === "l2", "leader l2");
      // A barrier write that both watchers match proves nothing else is still in flight.
      await bucket.put("member.barrier", bytes("b"));
      await seen(gotMembers, (e) => e.key === "member.barrier", "barrier");
      assert.deepEqual(gotMembers.entries.map((e) => e.key), [
        "member.1",
        "member.2",
        "member.barrier",
      ]);
      assert.deepEqual(gotLeader.entries.map(text), ["l", "l2"]);
    } finally {
      members.stop();
      leader.stop();
      await Promise.all([gotMembers.done, gotLeader.done]);
    }
  });

  test("a watcher is never called inside the writer's call stack", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    const watch = bucket.watch();
    let writing = false;
    const duringWrite: boolean[] = [];
    const done = (async () => {
      for await (const _ of watch) duringWrite.push(writing);
    })();
    try {
      writing = true;
      const put = bucket.put("k", bytes("v"));
      writing = false;
      await put;
      await waitFor(() => duringWrite.length === 1, { message: "the put" });
      assert.deepEqual(duringWrite, [false]);
    } finally {
      watch.stop();
      await done;
    }
  });

  test("stop() and an aborted signal end the iteration", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    const watch = bucket.watch();
    const pending = watch[Symbol.asyncIterator]().next();
    watch.stop();
    watch.stop(); // idempotent
    assert.equal((await pending).done, true);

    const controller = new AbortController();
    const aborted = bucket.watch({ signal: controller.signal });
    const got = collect(aborted);
    controller.abort();
    await got.done;

    const already = bucket.watch({ signal: AbortSignal.abort() });
    assert.equal((await already[Symbol.asyncIterator]().next()).done, true);
  });

  test("an entry expires after the bucket TTL without a watch event", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), { ttlMs: 1000 });
    const watch = bucket.watch();
    const got = collect(watch);
    try {
      const written = performance.now();
      await bucket.put("ephemeral", bytes("x"));
      await seen(got, (e) => e.key === "ephemeral", "the put");
      await waitFor(async () => (await bucket.get("ephemeral")) === null, {
        timeoutMs: 5000,
        intervalMs: 50,
        message: "expiry",
      });
      const elapsed = performance.now() - written;
      assert.ok(elapsed >= 900, `expired after ${Math.round(elapsed)} ms, before the 1000 ms TTL`);
      assert.deepEqual(await bucket.keys(), []);
      // Expired keys can be claimed again, with no cleanup step.
      await bucket.create("ephemeral", bytes("again"));
      await seen(got, (e) => text(e) === "again", "the re-create");
      assert.deepEqual(got.entries.map((e) => [e.key, e.operation]), [
        ["ephemeral", "put"],
        ["ephemeral", "put"],
      ]);
    } finally {
      watch.stop();
      await got.done;
    }
  });

  test("a deleted bucket is reported as BucketNotFoundError, not as a timeout", async (store) => {
    const name = uniqueBucket();
    const bucket = await store.bucket(name, NO_TTL);
    const r = await bucket.put("k", bytes("v"));
    await store.deleteBucket(name);
    const operations: Record<string, () => Promise<unknown>> = {
      get: () => bucket.get("k"),
      put: () => bucket.put("k", bytes("v")),
      update: () => bucket.update("k", bytes("v"), r),
      create: () => bucket.create("new", bytes("v")),
      delete: () => bucket.delete("k"),
      keys: () => bucket.keys(),
      status: () => bucket.status(),
    };
    const results = await Promise.all(
      Object.entries(operations).map(async ([op, run]) => {
        const error = await run().then(() => undefined, (e) => e);
        return [op, error] as const;
      }),
    );
    for (const [op, error] of results) {
      assert.ok(!(error instanceof OperationTimeoutError), `${op} reported a timeout`);
      assert.ok(error instanceof BucketNotFoundError, `${op}: ${error}`);
      assert.equal(error.code, "BUCKET_NOT_FOUND");
      assert.equal(error.bucket, name);
    }
  });

  test("a watcher reports a deleted bucket and resumes after it is recreated", async (store) => {
    const name = uniqueBucket();
    const bucket = await store.bucket(name, NO_TTL);
    await bucket.put("before", bytes("1"));
    const errors: Error[] = [];
    const watch = bucket.watch({ onError: (error) => errors.push(error) });
    const got = collect(watch, errors);
    try {
      await seen(got, (e) => e.key === "before", "initial value");
      await store.deleteBucket(name);
      await waitFor(() => errors.some((e) => e instanceof BucketNotFoundError), {
        timeoutMs: 8000,
        message: "BucketNotFoundError through onError",
      });
      const again = await store.bucket(name, NO_TTL);
      const r = await again.put("after", bytes("2"));
      // Revisions restart in the new bucket, and the watcher must deliver them anyway.
      const entry = await seen(got, (e) => e.key === "after", "a put after recreation");
      assert.equal(entry.revision, r);
      await again.put("after", bytes("3"));
      await seen(got, (e) => text(e) === "3", "a second put after recreation");
    } finally {
      watch.stop();
      await got.done;
    }
  });

  test("a watcher follows a bucket deleted and recreated at once", async (store) => {
    const name = uniqueBucket();
    const bucket = await store.bucket(name, NO_TTL);
    await bucket.put("old", bytes("1"));
    const watch = bucket.watch();
    const got = collect(watch);
    try {
      await seen(got, (e) => e.key === "old", "initial value");
      await store.deleteBucket(name);
      const again = await store.bucket(name, NO_TTL);
      await again.put("new", bytes("2"));
      const entry = await seen(got, (e) => e.key === "new", "a put in the recreated bucket");
      assert.equal(entry.revision, 1);
    } finally {
      watch.stop();
      await got.done;
    }
  });

  test("a watcher is told when its bucket was deleted and created again, not when it was only created", async (store) => {
    const name = uniqueBucket();
    const bucket = await store.bucket(name, NO_TTL);
    await bucket.put("old", bytes("1"));
    let recreated = 0;
    const watch = bucket.watch({ onRecreated: () => recreated++ });
    const got = collect(watch);
    try {
      await seen(got, (e) => e.key === "old", "initial value");
      assert.equal(recreated, 0);
      await store.deleteBucket(name);
      const again = await store.bucket(name, NO_TTL);
      await again.put("new", bytes("2"));
      await seen(got, (e) => e.key === "new", "a put in the recreated bucket");
      await waitFor(() => recreated === 1, { timeoutMs: 8000, message: "onRecreated" });
    } finally {
      watch.stop();
      await got.done;
    }
    // A watch that started on a missing bucket sees it created, not recreated.
    const late = uniqueBucket();
    const first = await store.bucket(late, NO_TTL);
    await store.deleteBucket(late);
    let lateRecreated = 0;
    const lateWatch = first.watch({ onRecreated: () => lateRecreated++, onError: () => {} });
    const lateGot = collect(lateWatch);
    try {
      const created = await store.bucket(late, NO_TTL);
      await created.put("k", bytes("v"));
      await seen(lateGot, (e) => e.key === "k", "a put in the created bucket");
      assert.equal(lateRecreated, 0);
    } finally {
      lateWatch.stop();
      await lateGot.done;
    }
  });

  test("a watcher started on a missing bucket reports it and starts when created", async (store) => {
    const name = uniqueBucket();
    const first = await store.bucket(name, NO_TTL);
    await store.deleteBucket(name);
    const errors: Error[] = [];
    const watch = first.watch({ onError: (error) => errors.push(error) });
    const got = collect(watch, errors);
    try {
      await waitFor(() => errors.some((e) => e instanceof BucketNotFoundError), {
        timeoutMs: 8000,
        message: "BucketNotFoundError through onError",
      });
      const bucket: Bucket = await store.bucket(name, NO_TTL);
      await bucket.put("k", bytes("v"));
      await seen(got, (e) => e.key === "k", "the put");
    } finally {
      watch.stop();
      await got.done;
    }
  });

  // Readiness: `initialized` says when the initial values have been handled. Each case writes
  // them, starts a watch and compares what the loop body had finished at that moment with the
  // initial values. Non-matching keys are written last, so the bucket's last revision is not one
  // the watch delivers; history 5 keeps older revisions the watch must skip.
  interface ReadinessCase {
    readonly name: string;
    readonly key?: string;
    readonly barrier: string;
    readonly write: (bucket: Bucket) => Promise<unknown>;
    readonly initial: Shape[];
  }
  const readinessCases: Record<string, ReadinessCase[]> = {
    "every key": [
      { name: "no values", barrier: "barrier", write: async () => {}, initial: [] },
      {
        name: "one value",
        barrier: "barrier",
        write: (b) => b.put("a", bytes("1")),
        initial: [["a", "put", "1"]],
      },
      {
        name: "three values with a delete marker",
        barrier: "barrier",
        write: async (b) => {
          await b.put("a", bytes("1"));
          await b.put("b", bytes("2"));
          await b.put("c", bytes("3"));
          await b.put("a", bytes("4"));
          await b.delete("b");
        },
        initial: [["c", "put", "3"], ["a", "put", "4"], ["b", "delete", ""]],
      },
    ],
    "an exact key": [
      {
        name: "no values",
        key: "k",
        barrier: "k",
        write: async (b) => {
          await b.put("kk", bytes("x"));
          await b.put("k.sub", bytes("x"));
          await b.put("other", bytes("x"));
        },
        initial: [],
      },
      {
        name: "one value",
        key: "k",
        barrier: "k",
        write: async (b) => {
          await b.put("k", bytes("1"));
          await b.put("k", bytes("2"));
          await b.put("other", bytes("x"));
        },
        initial: [["k", "put", "2"]],
      },
      {
        name: "a delete marker",
        key: "k",
        barrier: "k",
        write: async (b) => {
          await b.put("k", bytes("1"));
          await b.delete("k");
          await b.put("other", bytes("x"));
        },
        initial: [["k", "delete", ""]],
      },
    ],
    "a prefix": [
      {
        name: "no values",
        key: "p.>",
        barrier: "p.barrier",
        write: async (b) => {
          await b.put("p", bytes("x"));
          await b.put("px.1", bytes("x"));
          await b.put("q.1", bytes("x"));
        },
        initial: [],
      },
      {
        name: "one value",
        key: "p.>",
        barrier: "p.barrier",
        write: async (b) => {
          await b.put("p.1", bytes("1"));
          await b.put("q.1", bytes("x"));
        },
        initial: [["p.1", "put", "1"]],
      },
      {
        name: "three values with a delete marker",
        key: "p.>",
        barrier: "p.barrier",
        write: async (b) => {
          await b.put("p.1", bytes("1"));
          await b.put("p.2", bytes("2"));
          await b.put("q.1", bytes("x"));
          await b.put("p.1", bytes("3"));
          await b.put("p.3", bytes("4"));
          await b.delete("p.3");
          await b.put("p", bytes("x"));
          await b.put("q.2", bytes("x"));
        },
        initial: [["p.2", "put", "2"], ["p.1", "put", "3"], ["p.3", "delete", ""]],
      },
    ],
  };

  for (const [filter, cases] of Object.entries(readinessCases)) {
    test(`initialized resolves once the loop has handled every initial value of ${filter}, not before`, async (store) => {
      for (const c of cases) {
        for (const body of ["a quick", "a slow"] as const) {
          const label = `${filter}, ${c.name}, ${body} loop body`;
          const bucket = await store.bucket(uniqueBucket(), { ttlMs: 0, history: 5 });
          await c.write(bucket);
          const watch = bucket.watch(c.key === undefined ? {} : { key: c.key });
          // A slow body does store work per entry, so the consumer lags behind the deliveries.
          const slow = async (entry: KvEntry) => {
            await bucket.get(entry.key);
          };
          const probe = collectReadiness(watch, body === "a slow" ? slow : undefined);
          try {
            const handled = await whenReady(probe, label);
            assert.deepEqual(handled.map(shape), c.initial, label);
            await bucket.put(c.barrier, bytes("barrier"));
            await seen(probe, (e) => text(e) === "barrier", `${label}: barrier`);
            assert.deepEqual(
              probe.entries.map(shape),
              [...c.initial, [c.barrier, "put", "barrier"]],
              `${label}: entries`,
            );
          } finally {
            watch.stop();
            await probe.done;
          }
        }
      }
    });
  }

  test("initialized does not wait for writes made after the watch started", async (store) => {
    for (const initial of [0, 2]) {
      const label = `${initial} initial values`;
      const bucket = await store.bucket(uniqueBucket(), NO_TTL);
      for (let i = 0; i < initial; i++) await bucket.put(`init.${i}`, bytes(`${i}`));
      const watch = bucket.watch();
      const probe = collectReadiness(watch);
      try {
        // Writes keep landing while the watch starts and delivers; readiness must not need a
        // quiet bucket (nor, for zero initial values, a first write).
        let writes = 0;
        const writer = (async () => {
          while (!probe.ready() && writes < 2000) await bucket.put(`live.${writes++}`, bytes("x"));
        })();
        const handled = await whenReady(probe, label);
        await writer;
        assert.ok(writes < 2000, `${label}: ready only after the writer gave up`);
        assert.deepEqual(
          handled.slice(0, initial).map(shape),
          Array.from({ length: initial }, (_, i) => [`init.${i}`, "put", `${i}`]),
          label,
        );
        for (const entry of handled.slice(initial)) assert.match(entry.key, /^live\./, label);
        const revisions = probe.entries.map((e) => e.revision);
        assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y), label);
      } finally {
        watch.stop();
        await probe.done;
      }
    }
  });

  test("initialized resolves when the watch stops, whether or not it was iterated", async (store) => {
    const bucket = await store.bucket(uniqueBucket(), NO_TTL);
    await bucket.put("k", bytes("v"));
    let resolved = 0;
    const never = bucket.watch();
    void never.initialized.then(() => resolved++);
    never.stop();
    // Iterated once, then the consumer stalls inside its loop body for the first entry.
    const stalled = bucket.watch();
    void stalled.initialized.then(() => resolved++);
    const first = await stalled[Symbol.asyncIterator]().next();
    assert.equal(first.value?.key, "k");
    stalled.stop();
    const controller = new AbortController();
    const aborted = bucket.watch({ signal: controller.signal });
    void aborted.initialized.then(() => resolved++);
    controller.abort();
    const already = bucket.watch({ signal: AbortSignal.abort() });
    void already.initialized.then(() => resolved++);
    await waitFor(() => resolved === 4, { message: "initialized of four stopped watches" });
  });

  test("a watch started on a missing bucket is initialized only once the bucket exists", async (store) => {
    const name = uniqueBucket();
    const first = await store.bucket(name, NO_TTL);
    await store.deleteBucket(name);
    const errors: Error[] = [];
    const watch = first.watch({ onError: (error) => errors.push(error) });
    const probe = collectReadiness(watch, undefined, errors);
    try {
      await waitFor(() => errors.some((e) => e instanceof BucketNotFoundError), {
        timeoutMs: 8000,
        message: "BucketNotFoundError through onError",
      });
      assert.equal(probe.ready(), false, "initialized before the bucket exists");
      const bucket = await store.bucket(name, NO_TTL);
      await bucket.put("k", bytes("v"));
      // The put may land before or after the watch takes its initial values: either way
      // readiness must not wait for another write.
      const handled = await whenReady(probe, "the created bucket");
      assert.ok(handled.length <= 1, `handled ${handled.length} entries`);
      if (handled.length === 1) assert.deepEqual(shape(handled[0]!), ["k", "put", "v"]);
      await seen(probe, (e) => e.key === "k", "the put");
    } finally {
      watch.stop();
      await probe.done;
    }
  });
}
