/**
 * Leader election latency on a real nats-server (issue 14): a pool of single-Manager worker
 * processes (`bench/scale_worker.ts`, `presets.fastTest`: lease 1 s); the leader is stopped
 * gracefully (`stop()`: it marks the lease released) or its process is SIGKILLed (the lease must
 * expire), and the time until another process reports `onLeadershipChanged(true)` is measured, as
 * well as the time until the partitions are covered exactly once again. A fresh process replaces
 * the old leader before the next run. Prints p50 / p90 / max over `--runs` runs of each.
 *
 * Run: deno run -A bench/election_latency.ts [--runs 20] [--workers 5] [--partitions 1000]
 */
import { cleanup, flags, startServer, stats, waitCovered, WorkerProc } from "./scale_pool.ts";
import type { WorkerConfig } from "./scale_worker.ts";

const f = flags(Deno.args);
const runs = f.num("runs", 20);
const workers = f.num("workers", 5);
const partitions = f.num("partitions", 1_000);

const bench = await startServer();
const group = `election_${crypto.randomUUID().slice(0, 6)}`;
let index = 0;
const config = (): WorkerConfig => ({
  url: bench.server.url,
  group,
  partitions,
  managers: 1,
  index: index++,
  conn: "own",
  ids: "disjoint",
  timing: { coldStartWindowMs: 1_000 },
});
const procs: WorkerProc[] = [];
const spawn = async () => {
  const p = new WorkerProc(config());
  procs.push(p);
  await p.ready;
  await p.send("go");
  return p;
};
const leaderOf = () => procs.find((p) => p.alive && [...p.workers.values()].some((w) => w.leader));
const results: Record<"graceful" | "crash", { leader: number[]; covered: number[] }> = {
  graceful: { leader: [], covered: [] },
  crash: { leader: [], covered: [] },
};

try {
  await Promise.all(Array.from({ length: workers }, spawn));
  const alive = () => procs.filter((p) => p.alive);
  await waitCovered(bench.nc, group, alive(), workers, partitions, 60_000);
  for (let run = 0; run < 2 * runs; run++) {
    const kind = run % 2 === 0 ? "graceful" : "crash";
    const old = leaderOf();
    if (!old) throw new Error("no leader");
    const t = Date.now();
    const stopping = kind === "graceful" ? old.stop() : old.kill();
    let next: WorkerProc | undefined;
    const until = performance.now() + 30_000;
    while (!(next = leaderOf()) || next === old) {
      if (performance.now() > until) throw new Error("no new leader within 30 s");
      await new Promise((r) => setTimeout(r, 2));
    }
    const leaderAt = next.leadership.filter((x) => x.leader).at(-1)!.t;
    const { at } = await waitCovered(bench.nc, group, alive(), workers - 1, partitions, 30_000);
    await stopping;
    results[kind].leader.push(leaderAt - t);
    results[kind].covered.push(at - t);
    console.error(
      `run ${run + 1}/${2 * runs} ${kind}: new leader after ${leaderAt - t} ms, covered after ${
        at - t
      } ms`,
    );
    await spawn();
    await waitCovered(bench.nc, group, alive(), workers, partitions, 30_000);
    // Let the pool settle (the newcomer's planned rebalance) before the next failover.
    await new Promise((r) => setTimeout(r, 500));
  }
} finally {
  await bench.nc.close().catch(() => {});
  await cleanup();
}

console.log(
  `\n${workers} single-Manager processes, ${partitions} partitions, presets.fastTest ` +
    `(lease 1 s, heartbeat 200 ms, TTL 1 s, grace 300 ms); ${runs} runs each, ms\n`,
);
console.log("| leader … | new leader p50 | p90 | max | full coverage p50 | p90 | max |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const kind of ["graceful", "crash"] as const) {
  const l = stats(results[kind].leader);
  const c = stats(results[kind].covered);
  const name = kind === "graceful" ? "stops (`stop()`)" : "process SIGKILLed";
  console.log(`| ${name} | ${l.p50} | ${l.p90} | ${l.max} | ${c.p50} | ${c.p90} | ${c.max} |`);
}
