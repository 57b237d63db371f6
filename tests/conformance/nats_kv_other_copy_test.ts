/**
 * The NATS store with a connection from another copy (and version) of nats.js than the one Parti
 * is built against — as a user gets with `@nats-io/transport-deno`, or another 3.x release: errors
 * must be classified the same (by JetStream code and error name, never by `instanceof` of one
 * package copy), and a pool must recover from a deleted bucket as fast.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect as connectOther } from "npm:@nats-io/transport-node@3.3.1";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { Manager, presets, recommendedConnectionOptions } from "../../mod.ts";
import { natsKvStore } from "../../src/store/nats_kv/mod.ts";
import {
  BucketNotFoundError,
  CoordinationUnavailableError,
  OperationTimeoutError,
  RevisionConflictError,
} from "../../src/errors.ts";
import { FaultProxy, NatsServer, waitFor } from "../../testing/mod.ts";
import { fullyCovered, makePartitions } from "../helpers/pool.ts";
import { bytes, uniqueBucket } from "./store_conformance.ts";

const STORE_OPTIONS = { operationTimeoutMs: 1000, watchdogIntervalMs: 250 };

/** A connection made by nats.js 3.3.1's own copy of nats-core (its error classes are others). */
async function otherCopy(url: string): Promise<NatsConnection> {
  return await connectOther({
    servers: url,
    ...recommendedConnectionOptions,
  }) as unknown as NatsConnection;
}

Deno.test("another nats.js copy: conflicts, deleted buckets, timeouts and a closed connection map to the same errors", async () => {
  await using server = await NatsServer.start();
  await using proxy = await FaultProxy.start({
    target: { hostname: "127.0.0.1", port: server.port },
  });
  const nc = await otherCopy(proxy.url);
  try {
    const store = natsKvStore(nc, STORE_OPTIONS);
    const name = uniqueBucket();
    const bucket = await store.bucket(name, { ttlMs: 0 });
    const revision = await bucket.put("k", bytes("v"));
    await bucket.put("k", bytes("w"));
    const conflict = await bucket.update("k", bytes("x"), revision).catch((e) => e);
    assert.ok(conflict instanceof RevisionConflictError, String(conflict));

    await store.deleteBucket(name);
    const missing = await bucket.get("k").catch((e) => e);
    assert.ok(missing instanceof BucketNotFoundError, String(missing));
    const missingPut = await bucket.put("k", bytes("v")).catch((e) => e);
    assert.ok(missingPut instanceof BucketNotFoundError, String(missingPut));

    const live = await store.bucket(uniqueBucket(), { ttlMs: 0 });
    await live.put("k", bytes("v"));
    proxy.setMode("blackhole");
    const timeout = await live.put("k", bytes("w")).catch((e) => e);
    assert.ok(timeout instanceof OperationTimeoutError, String(timeout));
    proxy.setMode("pass");
    await waitFor(() => live.get("k").catch(() => null), { timeoutMs: 10_000 });

    await nc.close();
    const closed = await live.put("k", bytes("v")).catch((e) => e);
    assert.ok(closed instanceof CoordinationUnavailableError, String(closed));
    assert.equal(closed.code, "COORDINATION_UNAVAILABLE");
  } finally {
    await nc.close().catch(() => {});
  }
});

/** Time from deleting the assignment bucket until the pool covers every partition again. */
async function recoveryMs(
  server: NatsServer,
  group: string,
  open: (url: string) => Promise<NatsConnection>,
): Promise<{ ms: number; misclassified: number }> {
  const partitions = makePartitions(20);
  const connections = await Promise.all([0, 1, 2].map(() => open(server.url)));
  const errors: Error[] = [];
  const managers = connections.map((nc) =>
    new Manager({
      ...presets.fastTest,
      connection: nc,
      group,
      source: partitions,
      hooks: { onError: (e) => void errors.push(e) },
    })
  );
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitFor(() => fullyCovered(managers, partitions), { timeoutMs: 15_000 });
    const jsm = await jetstreamManager(connections[0]!);
    errors.length = 0;
    const started = performance.now();
    await jsm.streams.delete(`KV_parti_${group}_assign`);
    await waitFor(
      async () =>
        fullyCovered(managers, partitions) &&
        await jsm.streams.info(`KV_parti_${group}_assign`).then(() => true, () => false) &&
        (await managers[0]!.getAssignments()).size > 0,
      { timeoutMs: 20_000, message: `${group} recovered` },
    );
    const ms = performance.now() - started;
    // A deleted bucket is BUCKET_NOT_FOUND; reporting it as "unavailable" would be a misreading.
    const misclassified = errors.filter((e) =>
      (e as { code?: string }).code === "COORDINATION_UNAVAILABLE"
    ).length;
    return { ms, misclassified };
  } finally {
    await Promise.all(managers.map((m) => m.stop()));
    await Promise.all(connections.map((nc) => nc.close()));
  }
}

// The one timing bound here is what the issue asks of the different-copy case: recovery within
// twice the same-copy time, measured in the same test, plus one watchdog interval (2 s by default)
// and slack for a loaded machine. A deleted bucket is seen at a watch's next status check, and
// each run meets that check at a phase of its own: runs of one copy measured 0.7, 1.7 and 2.7 s.
const WATCHDOG_MS = 2_000;
Deno.test("a pool on another nats.js copy recovers from a deleted bucket about as fast, with no misclassified errors", async () => {
  await using server = await NatsServer.start();
  const same = await recoveryMs(
    server,
    "samecopy",
    (url) => connect({ servers: url, ...recommendedConnectionOptions }),
  );
  const other = await recoveryMs(server, "othercopy", otherCopy);
  console.log(
    `recovery after a deleted bucket: same copy ${same.ms.toFixed(0)} ms ` +
      `(${same.misclassified} misclassified), other copy ${other.ms.toFixed(0)} ms ` +
      `(${other.misclassified} misclassified)`,
  );
  assert.equal(other.misclassified, 0);
  assert.ok(other.ms <= 2 * same.ms + WATCHDOG_MS + 1_000, `${other.ms} ms vs ${same.ms} ms`);
});
