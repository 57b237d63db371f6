/**
 * FaultProxy's gray-failure mode `{ delayMs, jitterMs }`: every chunk is held `delayMs` plus a
 * random `0..jitterMs`, and chunks of one direction are still delivered in the order they were
 * read (a later chunk with a shorter draw waits for the one ahead of it).
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { FaultProxy, NatsServer, waitFor } from "../../testing/mod.ts";

Deno.test("FaultProxy jitter delays each chunk by delayMs..delayMs+jitterMs and keeps the order of each direction", async () => {
  await using server = await NatsServer.start({ jetstream: false });
  // A draw sequence that alternates long and short delays: without the ordering rule every
  // second message would overtake the one before it.
  let draws = 0;
  await using proxy = await FaultProxy.start({
    target: `127.0.0.1:${server.port}`,
    random: () => (draws++ % 2 === 0 ? 0.99 : 0),
  });
  const sink = await connect({ servers: server.url });
  const source = await connect({ servers: proxy.url });
  try {
    const received: { n: number; at: number }[] = [];
    sink.subscribe("jitter", {
      callback: (_err, msg) => {
        received.push({ n: Number(msg.string()), at: performance.now() });
      },
    });
    await sink.flush();
    await source.flush();
    const mode = { delayMs: 100, jitterMs: 200 };
    proxy.setMode(mode);
    assert.deepEqual(proxy.mode, mode);
    const sent: number[] = [];
    for (let n = 0; n < 10; n++) {
      sent.push(performance.now());
      source.publish("jitter", String(n));
      await source.flush().catch(() => {}); // one chunk per message; flush waits for the PONG
    }
    await waitFor(() => received.length === 10, { timeoutMs: 10_000, message: "all 10 messages" });
    assert.deepEqual(received.map((r) => r.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "order kept");
    for (const { n, at } of received) {
      const took = at - sent[n]!;
      // Never early (1 ms for timer rounding); the upper end allows for a loaded host.
      assert.ok(took >= mode.delayMs - 1, `message ${n} took ${took.toFixed(0)} ms`);
      assert.ok(took < mode.delayMs + mode.jitterMs + 1_000, `message ${n} took ${took} ms`);
    }
    assert.ok(draws > 0, "the injected random source was used");
    proxy.setMode("pass");
    assert.equal(proxy.mode, "pass");
  } finally {
    await source.close();
    await sink.close();
  }
});

Deno.test("FaultProxy rejects a negative or non-finite jitter with a TypeError", async () => {
  await using proxy = await FaultProxy.start({ target: "127.0.0.1:4222" });
  assert.throws(() => proxy.setMode({ delayMs: 10, jitterMs: -1 }), TypeError);
  assert.throws(() => proxy.setMode({ delayMs: 10, jitterMs: Number.NaN }), TypeError);
  // A zero jitter is the plain delay mode.
  proxy.setMode({ delayMs: 10, jitterMs: 0 });
  assert.deepEqual(proxy.mode, { delayMs: 10 });
});
