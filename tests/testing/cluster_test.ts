import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NatsCluster, waitFor } from "../../testing/mod.ts";

Deno.test("NatsCluster.start(3) serves a replicas:3 KV bucket across nodes and survives a follower restart", async () => {
  await using cluster = await NatsCluster.start(3);
  assert.equal(cluster.servers.length, 3);
  assert.deepEqual(cluster.servers.map((s) => s.name), ["n1", "n2", "n3"]);
  assert.equal(new Set(cluster.urls).size, 3);

  const [n1, n2, n3] = cluster.servers;
  assert.ok(n1 && n2 && n3);
  // One client on n1 and one on n3, each connected to that node only.
  const options = { maxReconnectAttempts: -1, reconnectTimeWait: 100 };
  const [nc1, nc3] = await Promise.all([
    connect({ servers: n1.url, ...options }),
    connect({ servers: n3.url, ...options }),
  ]);
  try {
    assert.equal(nc1.info?.server_name, "n1");
    assert.equal(nc3.info?.server_name, "n3");
    const kv1 = await new Kvm(nc1).create("replicated", { replicas: 3 });
    const status = await kv1.status();
    assert.equal(status.replicas, 3);
    await kv1.put("k", "from-n1");

    // Reads may be served by any replica (direct get), so wait for n3's view to catch up.
    const kv3 = await new Kvm(jetstream(nc3, { timeout: 1000 })).open("replicated");
    await waitFor(async () => (await kv3.get("k"))?.string() === "from-n1", {
      timeoutMs: 5000,
      message: "the value written on n1 to be readable through n3",
    });

    // Kill a node that does not lead the stream (n2 or n3; n1 takes the writes): writes go on.
    const jsm = await jetstreamManager(nc1);
    const leader = (await jsm.streams.info("KV_replicated")).cluster?.leader;
    const victim = leader === "n2" ? n3 : n2;
    await victim.kill();
    assert.equal(victim.running, false);
    await kv1.put("k", "while-node-down");
    await victim.restart();
    assert.equal(victim.running, true);
    // All three nodes must be back in the JetStream cluster for a replicas:3 probe to succeed.
    await cluster.waitReady({ timeoutMs: 20_000 });
    await waitFor(async () => (await kv3.get("k"))?.string() === "while-node-down", {
      timeoutMs: 10_000,
      message: "the value written during the outage to be readable through n3",
    });
  } finally {
    await Promise.all([nc1.close(), nc3.close()]);
  }
});

Deno.test("NatsCluster.stop() ends every node and removes their store dirs", async () => {
  const cluster = await NatsCluster.start(2);
  const dirs = cluster.servers.map((s) => s.storeDir);
  await cluster.stop();
  await cluster.stop();
  assert.deepEqual(cluster.servers.map((s) => s.running), [false, false]);
  for (const dir of dirs) {
    await assert.rejects(() => Deno.stat(dir), Deno.errors.NotFound);
  }
});

Deno.test("NatsCluster.start() rejects a size below 2 with a RangeError", async () => {
  await assert.rejects(() => NatsCluster.start(1), RangeError);
  await assert.rejects(() => NatsCluster.start(2.5), RangeError);
});
