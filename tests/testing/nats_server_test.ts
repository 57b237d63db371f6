import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { wsconnect } from "@nats-io/nats-core";
import { Kvm } from "@nats-io/kv";
import { NatsServer } from "../../testing/mod.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function portAccepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("NatsServer.start() serves JetStream KV: a value put is read back", async () => {
  await using server = await NatsServer.start();
  assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(server.url, `nats://127.0.0.1:${server.port}`);
  assert.equal(server.running, true);
  assert.equal(typeof server.pid, "number");
  assert.equal(server.wsUrl, undefined);
  const nc = await connect({ servers: server.url });
  try {
    const kv = await new Kvm(nc).create("harness");
    await kv.put("greeting", "hello");
    assert.equal((await kv.get("greeting"))?.string(), "hello");
  } finally {
    await nc.close();
  }
});

Deno.test("NatsServer.start() called in parallel gives each server its own port and store", async () => {
  const servers = await Promise.all([NatsServer.start(), NatsServer.start(), NatsServer.start()]);
  try {
    assert.equal(new Set(servers.map((s) => s.port)).size, 3);
    assert.equal(new Set(servers.map((s) => s.storeDir)).size, 3);
    // Each URL reaches the server it names, not a neighbour.
    for (const server of servers) {
      const nc = await connect({ servers: server.url });
      try {
        assert.equal(nc.info?.server_name, server.name);
      } finally {
        await nc.close();
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
});

Deno.test("NatsServer.kill() then restart() keeps the port and the KV data", async () => {
  await using server = await NatsServer.start();
  const port = server.port;
  const firstPid = server.pid;
  let nc = await connect({ servers: server.url });
  try {
    const kv = await new Kvm(nc).create("durable");
    await kv.put("k", "before-crash");
  } finally {
    await nc.close();
  }

  await server.kill();
  assert.equal(server.running, false);
  assert.equal(server.pid, undefined);
  assert.equal(await portAccepts(port), false);
  assert.equal(await exists(server.storeDir), true);

  await server.restart();
  assert.equal(server.running, true);
  assert.equal(server.port, port);
  assert.notEqual(server.pid, firstPid);
  nc = await connect({ servers: server.url });
  try {
    const kv = await new Kvm(nc).open("durable");
    assert.equal((await kv.get("k"))?.string(), "before-crash");
  } finally {
    await nc.close();
  }
});

Deno.test("NatsServer.restart() on a running server replaces the process and keeps data", async () => {
  await using server = await NatsServer.start();
  const firstPid = server.pid;
  let nc = await connect({ servers: server.url });
  try {
    await (await new Kvm(nc).create("graceful")).put("k", "v1");
  } finally {
    await nc.close();
  }
  await server.restart();
  assert.notEqual(server.pid, firstPid);
  nc = await connect({ servers: server.url });
  try {
    assert.equal((await (await new Kvm(nc).open("graceful")).get("k"))?.string(), "v1");
  } finally {
    await nc.close();
  }
});

Deno.test("NatsServer.stop() ends the process, removes the store dir and is idempotent", async () => {
  const server = await NatsServer.start();
  const { port, storeDir } = server;
  assert.equal(await exists(storeDir), true);
  await Promise.all([server.stop(), server.stop()]);
  await server.stop();
  assert.equal(server.running, false);
  assert.equal(await exists(storeDir), false);
  assert.equal(await portAccepts(port), false);
  await assert.rejects(() => server.restart(), /was stopped/);
});

Deno.test("NatsServer.start({ websocket: true }) accepts wsconnect clients", async () => {
  await using server = await NatsServer.start({ websocket: true });
  assert.match(server.wsUrl ?? "", /^ws:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(server.wsUrl !== undefined);
  const nc = await wsconnect({ servers: server.wsUrl });
  try {
    const kv = await new Kvm(nc).create("over_ws");
    await kv.put("k", "ws");
    assert.equal((await kv.get("k"))?.string(), "ws");
  } finally {
    await nc.close();
  }
});

Deno.test("NatsServer.start({ config }) appends the extra config to the server's config", async () => {
  await using server = await NatsServer.start({ config: "max_payload: 4096" });
  const nc = await connect({ servers: server.url });
  try {
    assert.equal(nc.info?.max_payload, 4096);
  } finally {
    await nc.close();
  }
});

Deno.test("NatsServer.start({ jetstream: false }) starts a server without JetStream", async () => {
  await using server = await NatsServer.start({ jetstream: false });
  const nc = await connect({ servers: server.url });
  try {
    assert.equal(nc.info?.jetstream ?? false, false);
  } finally {
    await nc.close();
  }
});

Deno.test("NatsServer.start() with bad extra config rejects with the server's output", async () => {
  const error = await NatsServer.start({ config: "this is { not valid" }).then(
    () => assert.fail("start should have failed"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof Error);
  assert.match(error.message, /exited with code 1 while starting/);
  assert.match(error.message, /server output:\n.*[Pp]arse error/);
});

Deno.test("NatsServer.start() with a missing binary rejects and names the path", async () => {
  await assert.rejects(
    () => NatsServer.start({ binary: "/nonexistent/nats-server" }),
    /Cannot start nats-server '\/nonexistent\/nats-server'/,
  );
});

Deno.test("NatsServer.restart() rejects with the server's output when its port was taken", async () => {
  await using server = await NatsServer.start();
  await server.kill();
  const squatter = Deno.listen({ hostname: "127.0.0.1", port: server.port });
  try {
    await assert.rejects(() => server.restart(), /address already in use/);
    assert.equal(server.running, false);
  } finally {
    squatter.close();
  }
  await server.restart();
  assert.equal(server.running, true);
});
