/**
 * Runs the store conformance suite against NATS JetStream KV on a real nats-server, over TCP and
 * over WebSocket, plus the failures only a real server has: a restart with the same store, a
 * watcher's consumer deleted behind its back, a server that is down and a closed connection.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { type NatsConnection, wsconnect } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NatsServer } from "../../testing/nats_server.ts";
import { FaultProxy } from "../../testing/tcp_proxy.ts";
import { NatsCluster } from "../../testing/cluster.ts";
import { waitFor } from "../../testing/wait.ts";
import { CoordinationUnavailableError, OperationTimeoutError } from "../../src/errors.ts";
import {
  natsKvStore,
  type NatsKvStoreOptions,
  recommendedConnectionOptions,
} from "../../src/store/nats_kv/mod.ts";
import type { CoordinationStore } from "../../src/store/store.ts";
import {
  bytes,
  collect,
  collectReadiness,
  seen,
  shape,
  storeConformance,
  type StoreFixture,
  text,
  uniqueBucket,
  whenReady,
} from "./store_conformance.ts";

// Short enough that timeouts and watchdog recoveries keep the suite fast, long enough for a
// loaded CI machine running test files in parallel.
const STORE_OPTIONS: NatsKvStoreOptions = { operationTimeoutMs: 1000, watchdogIntervalMs: 250 };

interface NatsFixture extends StoreFixture {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  readonly store: CoordinationStore;
}

async function natsFixture(transport: "tcp" | "ws"): Promise<NatsFixture> {
  const server = await NatsServer.start({ websocket: transport === "ws" });
  try {
    const nc = transport === "tcp"
      ? await connect({ servers: server.url, ...recommendedConnectionOptions })
      : await wsconnect({ servers: server.wsUrl!, ...recommendedConnectionOptions });
    return {
      server,
      nc,
      store: natsKvStore(nc, STORE_OPTIONS),
      async [Symbol.asyncDispose]() {
        try {
          await nc.close();
        } finally {
          await server.stop();
        }
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

storeConformance("NATS KV store over TCP", () => natsFixture("tcp"));
storeConformance("NATS KV store over WebSocket", () => natsFixture("ws"));

for (const transport of ["tcp", "ws"] as const) {
  Deno.test({
    name:
      `NATS KV store over ${transport}: a server restart with the same store keeps the data and a running watcher working`,
    fn: async () => {
      await using fixture = await natsFixture(transport);
      const { store, server } = fixture;
      const bucket = await store.bucket(uniqueBucket(), { ttlMs: 0 });
      await bucket.put("before", bytes("1"));
      const errors: Error[] = [];
      const watch = bucket.watch({ onError: (e) => errors.push(e) });
      const got = collect(watch, errors);
      try {
        await seen(got, (e) => e.key === "before", "initial value");
        await server.kill();
        await server.restart();
        if (transport === "ws") {
          // nats.js keeps ONE process-wide transport factory, set by the latest connect() or
          // wsconnect(). The harness probes the restarted server with a TCP connect(), after
          // which our WebSocket client would reconnect with the TCP transport to the WebSocket
          // port and hang forever. A throwaway wsconnect() puts the WebSocket factory back; a
          // process that uses only one transport never needs this.
          await (await wsconnect({ servers: server.wsUrl! })).close();
        }
        // The first write after a restart may still time out (NATS_FACTS row 13): retry until one
        // is acknowledged, then the watcher must deliver it.
        const revision = await waitFor(
          () => bucket.put("after", bytes("2")).catch(() => 0),
          { timeoutMs: 10_000, intervalMs: 100, message: "a put after the restart" },
        );
        const entry = await seen(got, (e) => e.key === "after", "the put after the restart");
        assert.equal(entry.revision, revision);
        assert.equal(text(await bucket.get("before")), "1");
        const revisions = got.entries.map((e) => e.revision);
        assert.equal(new Set(revisions).size, revisions.length, "no revision delivered twice");
      } finally {
        watch.stop();
        await got.done;
      }
    },
  });
}

Deno.test("NATS KV store: a watch of 500 keys is initialized only after the loop handled all of them", async () => {
  await using fixture = await natsFixture("tcp");
  const bucket = await fixture.store.bucket(uniqueBucket(), { ttlMs: 0, history: 5 });
  const count = 500;
  // Every key written twice (the watch must skip the older revision), in parallel batches, then
  // keys outside the prefix so the bucket's last revision is not one the prefix watch delivers.
  for (const round of ["1", "2"]) {
    for (let start = 0; start < count; start += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => bucket.put(`many.${start + i}`, bytes(round))),
      );
    }
  }
  await bucket.delete("many.0");
  await bucket.put("other.1", bytes("x"));
  await bucket.put("other.2", bytes("x"));
  const expected = new Map<string, string>();
  for (let i = 1; i < count; i++) expected.set(`many.${i}`, "put:2");
  expected.set("many.0", "delete:");
  for (const key of ["many.>", undefined]) {
    const label = key ?? "every key";
    const want = new Map(expected);
    if (key === undefined) { for (const k of ["other.1", "other.2"]) want.set(k, "put:x"); }
    const watch = bucket.watch(key === undefined ? {} : { key });
    const probe = collectReadiness(watch);
    try {
      const handled = await whenReady(probe, label, 15_000);
      assert.equal(handled.length, want.size, `${label}: entries handled when initialized`);
      assert.deepEqual(
        new Map(handled.map((e) => [e.key, `${e.operation}:${text(e)}`])),
        want,
        label,
      );
      const revisions = handled.map((e) => e.revision);
      assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y), label);
      await bucket.put("many.barrier", bytes("b"));
      const barrier = await seen(
        probe,
        (e) => e.key === "many.barrier" && e.operation === "put",
        `${label}: barrier`,
      );
      assert.deepEqual(shape(barrier), ["many.barrier", "put", "b"]);
      assert.equal(probe.entries.length, want.size + 1, `${label}: nothing else delivered`);
    } finally {
      watch.stop();
      await probe.done;
    }
    await bucket.delete("many.barrier");
    expected.set("many.barrier", "delete:");
  }
});

Deno.test("NATS KV store: a watch recovers within a few seconds after its consumer is deleted on the server", async () => {
  await using fixture = await natsFixture("tcp");
  const { store, nc } = fixture;
  const name = uniqueBucket();
  const bucket = await store.bucket(name, { ttlMs: 0 });
  await bucket.put("k", bytes("0"));
  const watch = bucket.watch({ key: "k" });
  const got = collect(watch);
  try {
    await seen(got, (e) => text(e) === "0", "initial value");
    const jsm = await jetstreamManager(nc);
    const consumers = await jsm.consumers.list(`KV_${name}`).next();
    assert.ok(consumers.length > 0, "the watch has a consumer");
    for (const consumer of consumers) await jsm.consumers.delete(`KV_${name}`, consumer.name);
    const deletedAt = performance.now();
    await bucket.put("k", bytes("1"));
    // Without the watchdog kv.watch stays silent for 60–90 s (NATS_FACTS row 21).
    await seen(got, (e) => text(e) === "1", "the put after the consumer was deleted", 5000);
    const recoveredMs = performance.now() - deletedAt;
    assert.ok(recoveredMs < 5000, `recovered after ${Math.round(recoveredMs)} ms`);
    await bucket.put("k", bytes("2"));
    await seen(got, (e) => text(e) === "2", "a later put");
    assert.deepEqual(got.entries.map(text), ["0", "1", "2"]);
  } finally {
    watch.stop();
    await got.done;
  }
});

Deno.test("NATS KV store: a watchdog whose bucket moved only by other keys stops looking up the next match, and still recovers a deleted consumer", async () => {
  await using fixture = await natsFixture("tcp");
  const { store, nc, server } = fixture;
  const name = uniqueBucket();
  // The JetStream API requests about this bucket, seen from a second connection.
  const spy = await connect({ servers: server.url });
  const requests = { info: 0, get: 0 };
  spy.subscribe(`$JS.API.STREAM.INFO.KV_${name}`, { callback: () => void requests.info++ });
  spy.subscribe(`$JS.API.STREAM.MSG.GET.KV_${name}`, { callback: () => void requests.get++ });
  const bucket = await store.bucket(name, { ttlMs: 0 });
  await bucket.put("k", bytes("0"));
  const watch = bucket.watch({ key: "k" });
  const got = collect(watch);
  try {
    await seen(got, (e) => text(e) === "0", "initial value");
    // Other keys move the bucket past what the watch delivered: one look-up finds nothing.
    for (let i = 0; i < 5; i++) await bucket.put(`other.${i}`, bytes("x"));
    const checks = () => requests.info;
    const afterWrites = checks();
    await waitFor(() => checks() >= afterWrites + 2, { message: "two watchdog checks" });
    // From here on nothing changes: the checks read the status only.
    const gets = requests.get;
    const from = checks();
    await waitFor(() => checks() >= from + 4, { message: "four more watchdog checks" });
    assert.equal(requests.get, gets, "no message look-up while the bucket did not move");
    // The consumer deleted behind the watch's back: the next put of its key is still delivered.
    const jsm = await jetstreamManager(nc);
    for (const consumer of await jsm.consumers.list(`KV_${name}`).next()) {
      await jsm.consumers.delete(`KV_${name}`, consumer.name);
    }
    await bucket.put("k", bytes("1"));
    await seen(got, (e) => text(e) === "1", "the put after the consumer was deleted", 5000);
    assert.deepEqual(got.entries.map(text), ["0", "1"]);
  } finally {
    watch.stop();
    await got.done;
    await spy.close();
  }
});

Deno.test("NATS KV store: a watch's consumer keeps its state in memory, also on a file bucket", async () => {
  await using fixture = await natsFixture("tcp");
  const { store, nc } = fixture;
  const name = uniqueBucket();
  const bucket = await store.bucket(name, { ttlMs: 0, storage: "file" });
  await bucket.put("k", bytes("0"));
  const watch = bucket.watch({ key: "k" });
  const got = collect(watch);
  try {
    await seen(got, (e) => text(e) === "0", "initial value");
    const jsm = await jetstreamManager(nc);
    assert.equal((await jsm.streams.info(`KV_${name}`)).config.storage, "file");
    const consumers = await jsm.consumers.list(`KV_${name}`).next();
    assert.ok(consumers.length > 0, "the watch has a consumer");
    for (const consumer of consumers) {
      assert.equal(consumer.config.mem_storage, true, `consumer ${consumer.name}`);
    }
  } finally {
    watch.stop();
    await got.done;
  }
});

Deno.test("NATS KV store: operations while the server is down fail fast as unavailable, not as a missing bucket", async () => {
  await using fixture = await natsFixture("tcp");
  const { store, server } = fixture;
  const bucket = await store.bucket(uniqueBucket(), { ttlMs: 0 });
  const revision = await bucket.put("k", bytes("v"));
  await server.kill();
  const operations: Array<[string, () => Promise<unknown>]> = [
    ["put", () => bucket.put("k", bytes("w"))],
    ["update", () => bucket.update("k", bytes("w"), revision)],
    ["get", () => bucket.get("k")],
    ["create", () => bucket.create("new", bytes("w"))],
  ];
  for (const [op, run] of operations) {
    // Until the client has noticed the disconnect an operation may still time out instead.
    const error = await waitFor(
      () =>
        run().then(
          () => undefined,
          (e) => (e instanceof OperationTimeoutError ? undefined : e),
        ),
      { timeoutMs: 5000, message: `${op} failing fast` },
    );
    assert.ok(error instanceof CoordinationUnavailableError, `${op}: ${error}`);
    assert.equal(error.code, "COORDINATION_UNAVAILABLE", `${op}: ${error}`);
    const started = performance.now();
    await run().catch(() => {});
    assert.ok(performance.now() - started < 100, `${op} did not fail fast`);
  }
});

Deno.test("NATS KV store: an operation cut off by a silent partition fails with OperationTimeoutError", async () => {
  await using server = await NatsServer.start();
  await using proxy = await FaultProxy.start({
    target: { hostname: "127.0.0.1", port: server.port },
  });
  const nc = await connect({ servers: proxy.url, ...recommendedConnectionOptions });
  try {
    const bucket = await natsKvStore(nc, STORE_OPTIONS).bucket(uniqueBucket(), { ttlMs: 0 });
    await bucket.put("k", bytes("v"));
    proxy.setMode("blackhole");
    const started = performance.now();
    const error = await bucket.put("k", bytes("w")).catch((e) => e);
    const elapsed = performance.now() - started;
    assert.ok(error instanceof OperationTimeoutError, String(error));
    assert.equal(error.code, "TIMEOUT");
    assert.ok(elapsed >= 900 && elapsed < 3500, `failed after ${Math.round(elapsed)} ms`);
    proxy.setMode("pass");
    // The outcome was unknown; once healed, reads work again.
    await waitFor(() => bucket.get("k").catch(() => null), {
      timeoutMs: 10_000,
      message: "a read after healing",
    });
  } finally {
    await nc.close();
  }
});

Deno.test("NATS KV store: a closed connection is reported as CoordinationUnavailableError", async () => {
  await using fixture = await natsFixture("tcp");
  const bucket = await fixture.store.bucket(uniqueBucket(), { ttlMs: 0 });
  await fixture.nc.close();
  const error = await bucket.put("k", bytes("v")).catch((e) => e);
  assert.ok(error instanceof CoordinationUnavailableError, String(error));
  assert.equal(error.code, "COORDINATION_UNAVAILABLE");
  assert.match(error.message, /closed/);
});

Deno.test("NATS KV store: an existing bucket with other replicas or storage is reported", async () => {
  await using fixture = await natsFixture("tcp");
  const name = uniqueBucket();
  await fixture.store.bucket(name, { ttlMs: 0, storage: "memory" });
  const error = await fixture.store.bucket(name, { ttlMs: 0 }).catch((e) => e);
  assert.match(String(error), /storage/);
});

Deno.test("NATS KV store: a purge written by another client reads as a delete", async () => {
  await using fixture = await natsFixture("tcp");
  const name = uniqueBucket();
  const bucket = await fixture.store.bucket(name, { ttlMs: 0 });
  await bucket.put("k", bytes("v"));
  const watch = bucket.watch();
  const got = collect(watch);
  try {
    await seen(got, (e) => e.key === "k", "initial value");
    const raw = await new Kvm(fixture.nc).open(name);
    await raw.purge("k");
    const marker = await seen(got, (e) => e.operation === "delete", "the purge marker");
    assert.equal(marker.key, "k");
    assert.equal(marker.value.length, 0);
    assert.equal(await bucket.get("k"), null);
    assert.deepEqual(await bucket.keys(), []);
    await bucket.create("k", bytes("again"));
  } finally {
    watch.stop();
    await got.done;
  }
});

Deno.test("NATS KV store: after a silent partition heals, a watch delivers what was written meanwhile, once", async () => {
  await using server = await NatsServer.start();
  await using proxy = await FaultProxy.start({
    target: { hostname: "127.0.0.1", port: server.port },
  });
  const watcherNc = await connect({ servers: proxy.url, ...recommendedConnectionOptions });
  const writerNc = await connect({ servers: server.url, ...recommendedConnectionOptions });
  const statuses: string[] = [];
  const statusLoop = (async () => {
    for await (const s of watcherNc.status()) statuses.push(s.type);
  })();
  try {
    const name = uniqueBucket();
    const writer = await natsKvStore(writerNc, STORE_OPTIONS).bucket(name, { ttlMs: 0 });
    const reader = await natsKvStore(watcherNc, STORE_OPTIONS).bucket(name, { ttlMs: 0 });
    await writer.put("k", bytes("before"));
    const watch = reader.watch({ key: "k" });
    const got = collect(watch);
    try {
      await seen(got, (e) => text(e) === "before", "initial value");
      proxy.setMode("blackhole");
      // Pings go unanswered: the client declares the connection stale after about 3 s.
      await waitFor(() => statuses.includes("disconnect"), {
        timeoutMs: 8000,
        message: "the watcher's client noticing the partition",
      });
      await writer.put("k", bytes("during-1"));
      await writer.put("k", bytes("during-2"));
      proxy.setMode("pass");
      await seen(got, (e) => text(e) === "during-2", "the last write made during the partition");
      const revisions = got.entries.map((e) => e.revision);
      assert.equal(new Set(revisions).size, revisions.length, "no revision delivered twice");
      assert.deepEqual(revisions, [...revisions].sort((a, b) => a - b));
    } finally {
      watch.stop();
      await got.done;
    }
  } finally {
    await writerNc.close();
    await watcherNc.close();
    await statusLoop;
  }
});

Deno.test("NATS KV store on a 3-node cluster: a replicated bucket has one create winner and checks replicas", async () => {
  await using cluster = await NatsCluster.start(3);
  const nc = await connect({ servers: cluster.urls, ...recommendedConnectionOptions });
  try {
    const store = natsKvStore(nc, { ...STORE_OPTIONS, operationTimeoutMs: 5000 });
    const name = uniqueBucket();
    const bucket = await store.bucket(name, { ttlMs: 0, replicas: 3 });
    assert.equal((await bucket.status()).replicas, 3);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => bucket.create("leader", bytes(`c${i}`))),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    const mismatch = await store.bucket(name, { ttlMs: 0 }).catch((e) => e);
    assert.match(String(mismatch), /replicas/);
  } finally {
    await nc.close();
  }
});
