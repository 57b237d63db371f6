/**
 * Measures the lifecycle on a real nats-server: time until 1, 5 and 10 workers are stable with a
 * full assignment, a scale-out burst (publications and hand-off latency from the old owner's
 * release to the new owner's start), graceful leader failover, and crash failover (a worker cut
 * off from the server as a crashed process would be), and start() with a slow (1 s) hook. Times in ms. Not a `deno bench` file: these are end-to-end timings driven by
 * the configured windows and TTLs, printed as a table.
 *
 * Run: deno run -A bench/lifecycle_timing.ts [--runs 3]
 */
import { connect } from "@nats-io/transport-node";
import { Manager, partitionId, presets, recommendedConnectionOptions } from "../mod.ts";
import { natsKvStore } from "../src/store/nats_kv/mod.ts";
import { faultyStore, NatsServer, waitFor } from "../testing/mod.ts";

const runs = Number(Deno.args[Deno.args.indexOf("--runs") + 1] || 3);
const partitions = Array.from(
  { length: 200 },
  (_, i) => ({ keys: ["p", String(i)], weight: 1 + (i % 5) }),
);
const timing = presets.fastTest;

function settled(managers: Manager[]): boolean {
  const seen = new Set<string>();
  for (const m of managers) {
    if (m.state !== "stable") return false;
    for (const p of m.assignment.partitions) {
      const id = partitionId(p);
      if (seen.has(id)) return false;
      seen.add(id);
    }
  }
  return seen.size === partitions.length && managers.filter((m) => m.isLeader).length === 1;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, number[]>();
const record = (name: string, ms: number) => results.set(name, [...(results.get(name) ?? []), ms]);

await using server = await NatsServer.start();
let group = 0;
for (let run = 0; run < runs; run++) {
  for (const n of [1, 5, 10]) {
    const g = `timing${group++}`;
    const ncs = await Promise.all(
      Array.from(
        { length: n },
        () => connect({ servers: server.url, ...recommendedConnectionOptions }),
      ),
    );
    const stores = ncs.map((nc) => faultyStore(natsKvStore(nc, { operationTimeoutMs: 2_000 })));
    // Hand-off latency: when a partition's old owner finished releasing it (hook resolved) and
    // when its new owner was told to start.
    const released = new Map<string, number>();
    const handoffs: number[] = [];
    const managers = stores.map((store) =>
      new Manager({
        ...timing,
        store,
        group: g,
        source: partitions,
        hooks: {
          onPartitionRemoved: (p) => void released.set(partitionId(p), performance.now()),
          onPartitionAdded: (p) => {
            const at = released.get(partitionId(p));
            if (at !== undefined) handoffs.push(performance.now() - at);
          },
        },
      })
    );
    const t0 = performance.now();
    await Promise.all(managers.map((m) => m.start()));
    await waitFor(() => settled(managers), { timeoutMs: 30_000, intervalMs: 2 });
    record(`time to stable, ${n} worker${n > 1 ? "s" : ""}`, performance.now() - t0);
    if (n === 5) {
      // Scale-out burst: two workers join at once; count publications and hand-off latency.
      const versionBefore = Math.max(...managers.map((m) => m.assignment.version));
      handoffs.length = 0;
      const extraNcs = await Promise.all(
        [0, 1].map(() => connect({ servers: server.url, ...recommendedConnectionOptions })),
      );
      const extra = extraNcs.map((nc) =>
        new Manager({
          ...timing,
          store: natsKvStore(nc),
          group: g,
          source: partitions,
          hooks: {
            onPartitionAdded: (p) => {
              const at = released.get(partitionId(p));
              if (at !== undefined) handoffs.push(performance.now() - at);
            },
          },
        })
      );
      let t = performance.now();
      await Promise.all(extra.map((m) => m.start()));
      await waitFor(() => settled([...managers, ...extra]), { timeoutMs: 10_000, intervalMs: 2 });
      record("scale-out 5 → 7 → full coverage", performance.now() - t);
      const versionAfter = Math.max(...[...managers, ...extra].map((m) => m.assignment.version));
      record("publications per scale-out burst", versionAfter - versionBefore);
      record("hand-off, release → new owner told (median)", median(handoffs));
      record("hand-off, release → new owner told (max)", Math.max(...handoffs));
      await Promise.all(extra.map((m) => m.stop()));
      await Promise.all(extraNcs.map((nc) => nc.close()));
      await waitFor(() => settled(managers), { timeoutMs: 10_000, intervalMs: 2 });

      const leader = managers.find((m) => m.isLeader)!;
      let rest = managers.filter((m) => m !== leader);
      t = performance.now();
      await leader.stop();
      await waitFor(() => rest.some((m) => m.isLeader), { timeoutMs: 10_000, intervalMs: 1 });
      record("graceful leader stop → new leader", performance.now() - t);
      await waitFor(() => settled(rest), { timeoutMs: 10_000, intervalMs: 2 });
      record("graceful leader stop → full coverage", performance.now() - t);
      const victim = rest.find((m) => !m.isLeader)!;
      t = performance.now();
      stores[managers.indexOf(victim)]!.cut();
      rest = rest.filter((m) => m !== victim);
      await waitFor(() => settled(rest), { timeoutMs: 10_000, intervalMs: 2 });
      record("worker crash → full coverage", performance.now() - t);
    }
    await Promise.all(managers.map((m) => m.stop()));
    await Promise.all(ncs.map((nc) => nc.close()));
  }
  // A slow hook: one worker whose onStateChanged takes 1 s per call. start() waits for the hooks
  // queued before its first onAssignmentChanged (they run in order), never for leadership work.
  const nc = await connect({ servers: server.url, ...recommendedConnectionOptions });
  let inHooks = 0;
  const slow = new Manager({
    ...timing,
    connection: nc,
    group: `timing${group++}`,
    source: partitions,
    hooks: {
      async onStateChanged() {
        const at = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        inHooks += performance.now() - at;
      },
    },
  });
  const t0 = performance.now();
  await slow.start();
  record("start(), 1 worker, 1 s onStateChanged hook", performance.now() - t0);
  record("… of which inside that hook before start() resolved", inHooks);
  await slow.stop();
  await nc.close();
}

console.log(
  `nats-server ${server.url}, ${partitions.length} weighted partitions, presets.fastTest ` +
    `(heartbeat ${timing.heartbeatIntervalMs} ms, TTL ${timing.heartbeatTtlMs} ms, lease ` +
    `${timing.electionLeaseMs} ms, cold start window ${timing.coldStartWindowMs} ms, grace ` +
    `${timing.emergencyGraceMs} ms); ${runs} runs`,
);
console.log("| measurement | median | min | max |\n| --- | ---: | ---: | ---: |");
for (const [name, xs] of results) {
  console.log(
    `| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${
      Math.max(...xs).toFixed(0)
    } |`,
  );
}
