import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection, Status } from "@nats-io/nats-core";
import { FaultProxy, NatsServer, waitFor } from "../../testing/mod.ts";

/**
 * Answers every request on "echo" with its own payload, over a direct connection; `seen` lists
 * the payloads that reached the server.
 */
async function startEcho(url: string, seen: string[] = []): Promise<NatsConnection> {
  const nc = await connect({ servers: url });
  nc.subscribe("echo", {
    callback: (_err, msg) => {
      seen.push(msg.string());
      msg.respond(msg.data);
    },
  });
  await nc.flush();
  return nc;
}

/** Collects every status event of a connection until it closes. */
function recordStatus(nc: NatsConnection): { events: Status[]; done: Promise<void> } {
  const events: Status[] = [];
  const done = (async () => {
    for await (const s of nc.status()) events.push(s);
  })();
  return { events, done };
}

async function roundTrip(nc: NatsConnection, timeout = 2000): Promise<number> {
  const start = performance.now();
  const reply = await nc.request("echo", "ping", { timeout });
  assert.equal(reply.string(), "ping");
  return performance.now() - start;
}

Deno.test("FaultProxy in pass mode forwards requests and replies", async () => {
  await using server = await NatsServer.start({ jetstream: false });
  await using proxy = await FaultProxy.start({ target: `127.0.0.1:${server.port}` });
  assert.equal(proxy.url, `nats://127.0.0.1:${proxy.port}`);
  assert.equal(proxy.mode, "pass");
  const echo = await startEcho(server.url);
  const nc = await connect({ servers: proxy.url });
  try {
    assert.equal(nc.info?.server_name, server.name);
    for (let i = 0; i < 5; i++) await roundTrip(nc);
    assert.equal(proxy.connections, 1);
  } finally {
    await nc.close();
    await echo.close();
  }
});

Deno.test("FaultProxy blackhole makes requests time out without closing the socket, and pass resumes it", async () => {
  await using server = await NatsServer.start({ jetstream: false });
  await using proxy = await FaultProxy.start({
    target: { hostname: "127.0.0.1", port: server.port },
  });
  const seen: string[] = [];
  const echo = await startEcho(server.url, seen);
  // Default pings (every 2 min) so that only the proxy could end the connection during the test.
  const nc = await connect({ servers: proxy.url });
  const status = recordStatus(nc);
  try {
    await roundTrip(nc);
    proxy.setMode("blackhole");
    assert.equal(proxy.mode, "blackhole");
    await assert.rejects(() => nc.request("echo", "lost", { timeout: 300 }), /timeout/i);
    assert.equal(nc.isClosed(), false);
    assert.equal(proxy.connections, 1);
    assert.deepEqual(status.events.filter((e) => e.type === "disconnect"), []);

    assert.equal(seen.includes("lost"), false);

    proxy.setMode("pass");
    // The request held during the cut is delivered late, then traffic flows as before.
    await waitFor(() => seen.includes("lost"), { message: "the held request reaching the server" });
    await roundTrip(nc);
    assert.deepEqual(status.events.filter((e) => e.type === "disconnect"), []);
  } finally {
    await nc.close();
    await status.done;
    await echo.close();
  }
});

Deno.test("FaultProxy blackhole holds new connections open until pass lets them through", async () => {
  await using server = await NatsServer.start({ jetstream: false });
  await using proxy = await FaultProxy.start({
    target: `127.0.0.1:${server.port}`,
    mode: "blackhole",
  });
  let settled = false;
  const connecting = connect({ servers: proxy.url, timeout: 10_000, reconnect: false }).finally(
    () => (settled = true),
  );
  await waitFor(() => proxy.connections === 1, { message: "the held connection" });
  assert.equal(settled, false);
  proxy.setMode("pass");
  const nc = await connecting;
  try {
    assert.equal(nc.info?.server_name, server.name);
  } finally {
    await nc.close();
  }
});

Deno.test("FaultProxy reject closes the client's connection and refuses new ones until pass", async () => {
  await using server = await NatsServer.start({ jetstream: false });
  await using proxy = await FaultProxy.start({ target: `127.0.0.1:${server.port}` });
  const echo = await startEcho(server.url);
  const nc = await connect({
    servers: proxy.url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 50,
  });
  const status = recordStatus(nc);
  try {
    await roundTrip(nc);
    proxy.setMode("reject");
    await waitFor(() => status.events.some((e) => e.type === "disconnect"), {
      timeoutMs: 2000,
      message: "a disconnect status event",
    });
    assert.equal(proxy.connections, 0);
    await assert.rejects(() => connect({ servers: proxy.url, reconnect: false, timeout: 1000 }));

    proxy.setMode("pass");
    await waitFor(() => status.events.some((e) => e.type === "reconnect"), {
      timeoutMs: 5000,
      message: "a reconnect status event",
    });
    await roundTrip(nc);
  } finally {
    await nc.close();
    await status.done;
    await echo.close();
  }
});

Deno.test("FaultProxy delay adds the delay to each direction of a round trip", async () => {
  await using server = await NatsServer.start({ jetstream: false });
  await using proxy = await FaultProxy.start({ target: `127.0.0.1:${server.port}` });
  const echo = await startEcho(server.url);
  const nc = await connect({ servers: proxy.url });
  try {
    const fast = await roundTrip(nc);
    const delayMs = 150;
    proxy.setMode({ delayMs });
    assert.deepEqual(proxy.mode, { delayMs });
    const slow = await roundTrip(nc);
    // Request and reply are each held delayMs (timers never fire early; 1 ms for clock rounding).
    assert.ok(slow >= 2 * delayMs - 1, `round trip took ${slow} ms, expected >= ${2 * delayMs}`);
    proxy.setMode("pass");
    const again = await roundTrip(nc);
    assert.ok(again < delayMs, `round trip after pass took ${again} ms (before delay: ${fast} ms)`);
  } finally {
    await nc.close();
    await echo.close();
  }
});

Deno.test("FaultProxy.close() ends every connection and is idempotent", async () => {
  await using server = await NatsServer.start({ jetstream: false });
  const proxy = await FaultProxy.start({ target: `127.0.0.1:${server.port}` });
  const nc = await connect({ servers: proxy.url, reconnect: false });
  const closed = nc.closed();
  await Promise.all([proxy.close(), proxy.close()]);
  await proxy[Symbol.asyncDispose]();
  assert.equal(proxy.connections, 0);
  await closed;
  assert.equal(nc.isClosed(), true);
});

Deno.test("FaultProxy rejects a malformed target or mode with a TypeError", async () => {
  await assert.rejects(async () => await FaultProxy.start({ target: "no-port" }), TypeError);
  await assert.rejects(async () => await FaultProxy.start({ target: "host:99999" }), TypeError);
  await using proxy = await FaultProxy.start({ target: "127.0.0.1:4222" });
  assert.throws(() => proxy.setMode({ delayMs: -1 }), TypeError);
  assert.throws(() => proxy.setMode("drop" as "pass"), TypeError);
  assert.equal(proxy.mode, "pass");
});
