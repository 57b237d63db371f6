/**
 * healthHandler(): the probes of real managers (memory store) through their states, the routes'
 * HTTP behaviour, and a scrape over a real socket; readiness bounded by the time spent degraded and
 * the heartbeat age in `/status`; the topology page's routes (`/`, `/topology.json`, `/events`)
 * over real HTTP, its escaping, and the handler given a `GroupAdmin` (a dashboard). The page in a
 * real browser is `tests/browser/topology_page_test.ts`.
 */
import assert from "node:assert/strict";
import {
  GroupAdmin,
  healthHandler,
  type HealthSource,
  healthStatus,
  Manager,
  memoryStore,
  partitionId,
  presets,
  State,
  type Topology,
  type TopologyReader,
  type TopologySnapshot,
} from "../../mod.ts";
import { PrometheusRegistry } from "../../src/observability/metrics_mod.ts";
import { renderPage } from "../../src/observability/topology_html.ts";
import { faultyStore, waitFor } from "../../testing/mod.ts";
import { makePartitions, owners, waitForSettled } from "../helpers/pool.ts";

type Handler = (request: Request) => Response | Promise<Response>;

/** A probe's answer; the probes do no I/O, so they answer synchronously. */
function get(handler: Handler, path: string, method = "GET"): Response {
  const response = handler(new Request(`http://worker${path}`, { method }));
  assert.ok(response instanceof Response, `${method} ${path} answers synchronously`);
  return response;
}

/** Any route's answer, awaited. */
const ask = async (handler: Handler, path: string, method = "GET") =>
  await handler(new Request(`http://worker${path}`, { method }));

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

/** A worker whose state the test sets. */
function settableWorker(initial: State = State.Stable) {
  let state = initial;
  const worker = {
    workerId: "worker-1",
    isLeader: false,
    assignment: { epoch: 1, version: 3, partitions: [{ keys: ["a"] }] },
    get state(): State {
      return state;
    },
  };
  return { worker, set: (to: State) => (state = to) };
}

Deno.test("readyWhenDegradedForMs: ready while degraded for less than that, then 503 saying how long; /status reports degradedForMs", async () => {
  let now = 1_000;
  const clock = { now: () => now };
  const { worker, set } = settableWorker();
  const probes = healthHandler(worker, { readyWhenDegradedForMs: 30_000, clock });
  assert.equal(get(probes, "/readyz").status, 200);
  assert.equal((await get(probes, "/status").json()).degradedForMs, null, "not degraded");
  set(State.Degraded);
  assert.equal(get(probes, "/readyz").status, 200, "degraded just now");
  now += 29_999;
  assert.equal(get(probes, "/readyz").status, 200, "degraded for 29 999 ms");
  const during = await get(probes, "/status").json();
  assert.equal(during.degradedForMs, 29_999);
  assert.equal(during.ready, true);
  now += 1;
  const late = get(probes, "/readyz");
  assert.equal(late.status, 503);
  assert.equal(
    await late.text(),
    "not ready: degraded for 30000 ms, longer than readyWhenDegradedForMs (30000)\n",
  );
  const after = await get(probes, "/status").json();
  assert.deepEqual([after.ready, after.live, after.degradedForMs], [false, true, 30_000]);
  assert.match(after.reason, /^degraded for 30000 ms/);
  assert.equal(
    get(probes, "/livez").status,
    200,
    "degraded is still live: a restart would not help",
  );

  // Recovering resets the clock: the next degraded spell is measured from its own start.
  set(State.Stable);
  assert.equal(get(probes, "/readyz").status, 200);
  set(State.Degraded);
  now += 60_000;
  assert.equal(get(probes, "/readyz").status, 200, "first seen degraded now");

  // readyWhenDegraded: true is Infinity; readyWhenDegradedForMs takes precedence over it.
  assert.equal(get(healthHandler(worker, { readyWhenDegraded: true }), "/readyz").status, 200);
  const zero = healthHandler(worker, { readyWhenDegraded: true, readyWhenDegradedForMs: 0 });
  assert.equal(get(zero, "/readyz").status, 503);
  // Before any assignment, degraded is never ready.
  const fresh = {
    ...worker,
    state: State.Degraded,
    assignment: { epoch: 0, version: 0, partitions: [] },
  };
  const verdict = healthStatus(fresh, { readyWhenDegradedForMs: 30_000, degradedForMs: 1 });
  assert.deepEqual([verdict.ready, verdict.reason], [false, "degraded"]);
});

Deno.test("a manager cut off from its store, over HTTP: ready while degraded for less than readyWhenDegradedForMs, then 503, ready again once healed", async () => {
  const store = faultyStore(memoryStore());
  const manager = new Manager({
    ...presets.fastTest,
    store,
    group: "cut",
    source: makePartitions(3),
  });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    healthHandler(manager, { readyWhenDegradedForMs: 1_000 }),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const probe = async (path: string) => {
    const response = await fetch(`${url}${path}`);
    return { status: response.status, text: await response.text() };
  };
  try {
    await manager.start();
    assert.equal((await probe("/readyz")).status, 200);
    store.cut();
    // Every request is an observation: the first one that sees `degraded` starts the clock.
    const first = await waitFor(async () => {
      const status = JSON.parse((await probe("/status")).text);
      return status.state === State.Degraded && status;
    }, { timeoutMs: 10_000, intervalMs: 20, message: "the manager degraded" });
    assert.equal(first.ready, true, JSON.stringify(first));
    assert.ok(first.degradedForMs < 1_000);
    const late = await waitFor(async () => {
      const readyz = await probe("/readyz");
      return readyz.status === 503 ? readyz.text : undefined;
    }, { timeoutMs: 10_000, message: "not ready after readyWhenDegradedForMs" });
    assert.match(
      late,
      /^not ready: degraded for \d+ ms, longer than readyWhenDegradedForMs \(1000\)/,
    );
    assert.equal((await probe("/livez")).status, 200);
    store.heal();
    await waitFor(async () => (await probe("/readyz")).status === 200, {
      timeoutMs: 10_000,
      message: "ready again once healed",
    });
    assert.equal(JSON.parse((await probe("/status")).text).degradedForMs, null);
  } finally {
    store.heal();
    await manager.stop();
    await server.shutdown();
  }
});

Deno.test("/status reports the heartbeat age: the source's own, else what a GroupAdmin given as topology observed, else null", async () => {
  const { worker } = settableWorker();
  const measured = healthHandler({ ...worker, state: State.Stable, heartbeatAgeMs: 1234.4 });
  assert.equal((await get(measured, "/status").json()).heartbeatAgeMs, 1234);
  const store = memoryStore();
  const manager = new Manager({
    ...presets.fastTest,
    store,
    group: "aged",
    source: makePartitions(4),
  });
  try {
    await manager.start();
    const alone = await get(healthHandler(manager), "/status").json();
    assert.ok(
      typeof alone.heartbeatAgeMs === "number" && alone.heartbeatAgeMs >= 0 &&
        alone.heartbeatAgeMs < presets.fastTest.heartbeatTtlMs!,
      `a Manager reports the age of its own last confirmed heartbeat: ${alone.heartbeatAgeMs}`,
    );
    // With a store the admin opens the buckets with the workers' settings.
    await using admin = await GroupAdmin.open({ ...presets.fastTest, store, group: "aged" });
    const probes = healthHandler(manager, { topology: admin });
    // The admin measures an age once it has seen a heartbeat arrive (the next beat, 200 ms).
    const status = await waitFor(async () => {
      const s = await (await ask(probes, "/status")).json();
      return s.heartbeatAgeMs !== null && s;
    }, { timeoutMs: 5_000, message: "an observed heartbeat age" });
    assert.equal(status.workerId, manager.workerId);
    assert.ok(
      status.heartbeatAgeMs >= 0 && status.heartbeatAgeMs < presets.fastTest.heartbeatTtlMs!,
      `age ${status.heartbeatAgeMs}`,
    );
    assert.equal(status.ready, true);
  } finally {
    await manager.stop();
  }
});

/** The events of a `/events` stream, parsed, with a deadline on each wait. */
class EventStream {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next `topology` snapshot that satisfies `predicate`. */
  async next(
    predicate: (s: TopologySnapshot) => boolean,
    timeoutMs = 5_000,
  ): Promise<TopologySnapshot> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      let end: number;
      while ((end = this.#buffer.indexOf("\n\n")) >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const lines = block.split("\n");
        if (!lines.includes("event: topology")) continue;
        const data = lines.find((l) => l.startsWith("data: "))!.slice(6);
        const snapshot = JSON.parse(data) as TopologySnapshot;
        if (predicate(snapshot)) return snapshot;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`No matching snapshot within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const read = await Promise.race([
        this.#reader.read(),
        new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), left))),
      ]).finally(() => clearTimeout(timer));
      if (read === "timeout") continue;
      if (read.done) throw new Error("the event stream ended");
      this.#buffer += read.value;
    }
  }

  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

const cellsOf = (s: TopologySnapshot) =>
  Object.fromEntries(s.cells.map((c) => [c.partition, c.owner]));
const ownerMap = (managers: readonly Manager[]) =>
  Object.fromEntries([...owners(managers)].map(([id, [owner]]) => [id, owner]));

Deno.test("the topology page over real HTTP: a self-contained page, /topology.json as the pool holds it, /events redraws on a drain", async () => {
  const store = memoryStore();
  const partitions = makePartitions(8);
  const pool = Array.from(
    { length: 2 },
    () => new Manager({ ...presets.fastTest, store, group: "paged", source: partitions }),
  );
  const streams = new AbortController();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    healthHandler(pool[0]!, { topologyPollMs: 50, signal: streams.signal }),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  try {
    await Promise.all(pool.map((m) => m.start()));
    await waitForSettled(pool, partitions);
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy")!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
    const html = await page.text();
    assert.ok(html.includes(`<script nonce="${nonce}">`), "the inline script carries the nonce");
    assert.doesNotMatch(html, /https?:\/\//, "nothing from another origin");
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)="(?!data:)/, "no external file");
    const again = await fetch(`${url}/`);
    await again.body?.cancel();
    assert.ok(
      !again.headers.get("content-security-policy")!.includes(nonce),
      "a nonce per response",
    );

    const snapshot = await (await fetch(`${url}/topology.json`)).json() as TopologySnapshot;
    assert.equal(snapshot.view, "member");
    assert.equal(snapshot.observer, pool[0]!.workerId);
    assert.deepEqual(cellsOf(snapshot), ownerMap(pool));
    assert.deepEqual(snapshot.cells.map((c) => c.partition), partitions.map(partitionId));
    const topology = await pool[0]!.getTopology();
    assert.equal(snapshot.version, topology.version);
    assert.equal(snapshot.leader, topology.leader?.workerId);
    assert.deepEqual(
      snapshot.workers.map((w) => w.workerId),
      topology.workers.map((w) => w.workerId),
    );

    const response = await fetch(`${url}/events`);
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const events = new EventStream(response.body!);
    try {
      const first = await events.next(() => true);
      assert.deepEqual(cellsOf(first), ownerMap(pool));
      const victim = pool[1]!.workerId!;
      await pool[0]!.drainWorker(victim);
      const drained = await events.next((s) => {
        const w = s.workers.find((w) => w.workerId === victim);
        return w?.drained === true && w.partitions === 0 && s.pending === 0;
      });
      assert.ok(drained.cells.every((c) => c.owner !== victim));
      assert.equal(drained.cells.length, partitions.length);
    } finally {
      await events.cancel();
    }
  } finally {
    streams.abort();
    await Promise.all(pool.map((m) => m.stop()));
    await server.shutdown();
  }
});

const emptyTopology: Topology = {
  leader: undefined,
  epoch: 0,
  version: 0,
  partitionCount: 0,
  pending: 0,
  workers: [],
};

Deno.test("the page escapes what the server writes into it; the page routes follow the source and the options", async () => {
  const group = `</title><script>alert("group")</script>`;
  const reader: TopologyReader = {
    group,
    topology: () => Promise.resolve(emptyTopology),
    assignments: () => Promise.resolve(new Map()),
  };
  const dashboard = healthHandler(reader);
  const html = await (await ask(dashboard, "/")).text();
  assert.ok(!html.includes("<script>alert"), "the group name is not markup");
  assert.ok(html.includes("&#60;/title&#62;&#60;script&#62;alert(&#34;group&#34;)"));
  const rendered = renderPage({
    title: null,
    nonce: `"><script>`,
    eventsUrl: "/a</script><script>alert(1)</script>",
    jsonUrl: "/b<!--",
    movedHighlightMs: 1,
  });
  assert.ok(!rendered.includes("</script><script>alert"), "no way out of the config script");
  assert.ok(!rendered.includes("<!--") && !rendered.includes(`nonce=""><script>`));
  const head = await ask(dashboard, "/", "HEAD");
  assert.deepEqual([head.status, head.body], [200, null]);
  assert.equal((await ask(dashboard, "/events", "POST")).status, 405);

  // A dashboard's probes: live while it answers, ready while the group can be read.
  assert.equal((await ask(dashboard, "/livez")).status, 200);
  assert.equal((await ask(dashboard, "/readyz")).status, 200);
  const status = await (await ask(dashboard, "/status")).json();
  assert.deepEqual([status.live, status.ready, status.group, status.view], [
    true,
    true,
    group,
    "admin",
  ]);
  const broken = healthHandler({ ...reader, topology: () => Promise.reject(new Error("boom")) });
  const notReady = await ask(broken, "/readyz");
  assert.equal(notReady.status, 503);
  assert.equal(await notReady.text(), "not ready: cannot read the group: boom\n");
  const json = await ask(broken, "/topology.json");
  assert.equal(json.status, 503);
  assert.deepEqual(await json.json(), { error: "boom" });

  // No page: turned off, or a source that cannot read the group.
  const off = healthHandler(reader, { topology: false });
  assert.equal((await ask(off, "/")).status, 404);
  assert.equal((await ask(off, "/readyz")).status, 200);
  const { worker } = settableWorker();
  assert.equal(get(healthHandler(worker), "/").status, 404, "a plain source has no page");
  const paged = healthHandler(worker, { topology: reader, basePath: "/health" });
  assert.equal((await ask(paged, "/health")).status, 200, "the page at the base path itself");
  assert.equal((await ask(paged, "/health/topology.json")).status, 200);

  assert.throws(() => healthHandler(worker, { readyWhenDegradedForMs: -1 }), RangeError);
  assert.throws(() => healthHandler(worker, { topologyPollMs: 0 }), RangeError);
  assert.throws(() => healthHandler(worker, { movedHighlightMs: Number.NaN }), RangeError);
  assert.throws(
    () => healthHandler(worker, { topology: {} as TopologyReader }),
    /option 'topology' must be a GroupAdmin/,
  );
  assert.throws(() => healthHandler({} as HealthSource), TypeError);
});
