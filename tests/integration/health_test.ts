/**
 * healthHandler(): the probes of real managers (memory store) through their states, the routes'
 * HTTP behaviour, and a scrape over a real socket.
 */
import assert from "node:assert/strict";
import {
  healthHandler,
  type HealthSource,
  healthStatus,
  Manager,
  memoryStore,
  presets,
  State,
} from "../../mod.ts";
import { PrometheusRegistry } from "../../src/observability/metrics_mod.ts";
import { makePartitions, waitForSettled } from "../helpers/pool.ts";

const get = (handler: (r: Request) => Response, path: string, method = "GET") =>
  handler(new Request(`http://worker${path}`, { method }));

Deno.test("the probes follow a manager: not ready before start, ready and live once assigned, not ready after stop", async () => {
  const store = memoryStore();
  const partitions = makePartitions(6);
  const pool = Array.from(
    { length: 2 },
    () => new Manager({ ...presets.fastTest, store, group: "health", source: partitions }),
  );
  const probes = pool.map((m) => healthHandler(m));
  try {
    const before = get(probes[0]!, "/readyz");
    assert.equal(before.status, 503);
    assert.match(await before.text(), /^not ready: waiting for the first assignment \(init\)/);
    assert.equal(get(probes[0]!, "/livez").status, 200);
    await Promise.all(pool.map((m) => m.start()));
    await waitForSettled(pool, partitions);
    for (const [i, m] of pool.entries()) {
      const ready = get(probes[i]!, "/readyz");
      assert.equal(ready.status, 200, `worker ${i} ready in ${m.state}`);
      assert.equal(await ready.text(), "ready\n");
      const status = await get(probes[i]!, "/status").json();
      assert.equal(status.workerId, m.workerId);
      assert.equal(status.isLeader, m.isLeader);
      assert.equal(status.version, m.assignment.version);
      assert.deepEqual(status.partitions, m.assignment.partitions.map((p) => p.keys.join("/")));
      assert.equal(status.ready, true);
      assert.equal(status.live, true);
    }
    await pool[1]!.stop();
    assert.equal(get(probes[1]!, "/readyz").status, 503);
    assert.equal(get(probes[1]!, "/livez").status, 200, "a stop that was asked for stays live");
    const strict = healthHandler(pool[1]!, { liveAfterStop: false });
    assert.equal(get(strict, "/livez").status, 503);
    const selfStopped = healthHandler(pool[1]!, { stopRequested: () => false });
    assert.match(await get(selfStopped, "/livez").text(), /^not live: stopped by itself/);
  } finally {
    await Promise.all(pool.map((m) => m.stop()));
  }
});

Deno.test("routes: basePath, HEAD without a body, 405 with Allow, 404, no-store, and /metrics only when given", async () => {
  const source: HealthSource = {
    workerId: "worker-0",
    state: State.Stable,
    isLeader: true,
    assignment: { epoch: 1, version: 2, partitions: [{ keys: ["a"] }] },
  };
  const registry = new PrometheusRegistry();
  registry.counter("probe_test", "A counter").add(3);
  const handler = healthHandler(source, { basePath: "/health/", metrics: registry });
  const head = get(handler, "/health/readyz", "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  assert.equal(head.headers.get("cache-control"), "no-store");
  const post = get(handler, "/health/livez", "POST");
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  assert.equal(get(handler, "/readyz").status, 404, "outside the base path");
  assert.equal(get(handler, "/health/nope").status, 404);
  const metrics = get(handler, "/health/metrics");
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  assert.match(await metrics.text(), /^parti_probe_test_total 3$/m);
  assert.equal(get(healthHandler(source), "/metrics").status, 404, "no metrics, no route");
});

Deno.test("degraded is not ready unless readyWhenDegraded; a source that throws gives a 500, never a crash", () => {
  const degraded: HealthSource = {
    workerId: "worker-1",
    state: State.Degraded,
    isLeader: false,
    assignment: { epoch: 1, version: 3, partitions: [] },
  };
  assert.equal(get(healthHandler(degraded), "/readyz").status, 503);
  assert.equal(get(healthHandler(degraded, { readyWhenDegraded: true }), "/readyz").status, 200);
  assert.equal(healthStatus(degraded).reason, "degraded");
  const broken = {
    workerId: "worker-2",
    isLeader: false,
    assignment: { epoch: 0, version: 0, partitions: [] },
    get state(): State {
      throw new Error("boom");
    },
  } as HealthSource;
  const response = get(healthHandler(broken), "/readyz");
  assert.equal(response.status, 500);
});

Deno.test("the probes answer over a real socket with Deno.serve", async () => {
  const manager = new Manager({
    ...presets.fastTest,
    store: memoryStore(),
    group: "served",
    source: makePartitions(3),
  });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    healthHandler(manager),
  );
  try {
    await manager.start();
    const url = `http://127.0.0.1:${server.addr.port}`;
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();
    const status = await (await fetch(`${url}/status`)).json();
    assert.equal(status.workerId, manager.workerId);
    assert.equal(status.partitions.length, 3);
  } finally {
    await manager.stop();
    await server.shutdown();
  }
});
