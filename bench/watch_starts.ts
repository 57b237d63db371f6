/**
 * How fast one nats-server starts KV watches (ordered push consumers) as they accumulate on one
 * bucket: a file bucket with the consumers as nats.js makes them, the same with their state in
 * memory (`keepConsumerStateInMemory`, what the NATS store does), and a memory bucket. Batches of
 * 100, 200 and 400 watches of one key from one connection; each batch is stopped before the next,
 * and a stopped watch's consumer stays on the server until its inactivity threshold (5 min), as
 * when a pool's watches restart.
 *
 * Run: deno run -A bench/watch_starts.ts
 */
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { NatsServer } from "../testing/mod.ts";
import { keepConsumerStateInMemory } from "../src/store/nats_kv/memory_consumers.ts";

const cases = [
  { name: "file bucket, consumers as nats.js makes them", storage: "file", memory: false },
  { name: "file bucket, consumer state in memory", storage: "file", memory: true },
  { name: "memory bucket", storage: "memory", memory: false },
] as const;

console.log("| bucket | 100 watches | 200 more | 400 more |\n| --- | ---: | ---: | ---: |");
for (const c of cases) {
  const server = await NatsServer.start();
  const nc = await connect({ servers: server.url });
  try {
    const kv = await new Kvm(nc).create("starts", { storage: c.storage } as never);
    if (c.memory) keepConsumerStateInMemory(kv);
    await kv.put("leader", new TextEncoder().encode("x"));
    const cells: string[] = [];
    for (const batch of [100, 200, 400]) {
      const t = performance.now();
      const watches = await Promise.all(
        Array.from({ length: batch }, () => kv.watch({ key: "leader" })),
      );
      const ms = performance.now() - t;
      cells.push(`${ms.toFixed(0)} ms (${Math.round((batch / ms) * 1000)}/s)`);
      for (const w of watches) w.stop();
    }
    console.log(`| ${c.name} | ${cells.join(" | ")} |`);
  } finally {
    await nc.close();
    await server.stop();
  }
}
