/**
 * Memory per worker over a churn run (issue 14), a leak check: a leader process (one Manager)
 * and a churn process that starts `--managers` Managers and then, every `--every-s` seconds,
 * stops the `--churn` oldest (graceful `stop()`, connection closed) and starts as many new ones
 * (new worker IDs, new connections), so the group rebalances all the time and every Manager's
 * whole life cycle runs inside one process. The churn process samples RSS and heap every second
 * after a full GC (`--expose-gc`). After the warm-up (the first quarter of the run) the slope of
 * a least-squares line through the samples is printed; the check fails (exit code 1) when the
 * heap grows by more than `--max-slope-mb` MB per minute (default 1) or the pool is not covered
 * exactly once at the end.
 *
 * Run: deno run -A bench/memory_churn.ts [--minutes 2] [--managers 20] [--churn 2] [--every-s 3]
 *        [--partitions 1000] [--max-slope-mb 1]
 */
import { cleanup, flags, fmtBytes, startServer, waitCovered, WorkerProc } from "./scale_pool.ts";

const f = flags(Deno.args);
const minutes = f.num("minutes", 2);
const managers = f.num("managers", 20);
const churn = f.num("churn", 2);
const everyS = f.num("every-s", 3);
const partitions = f.num("partitions", 1_000);
const maxSlopeMb = f.num("max-slope-mb", 1);

const bench = await startServer();
const group = `churn_${crypto.randomUUID().slice(0, 6)}`;
const base = {
  url: bench.server.url,
  group,
  partitions,
  conn: "own" as const,
  ids: "disjoint" as const,
  timing: { coldStartWindowMs: 1_000 },
};
const leader = new WorkerProc({ ...base, managers: 1, index: 0 });
const churner = new WorkerProc({ ...base, managers, index: 1, startSpacingMs: 20 }, {
  v8Flags: ["--expose-gc"],
});
let ok = true;
let cycles = 0;
const t0 = performance.now();
try {
  await Promise.all([leader.ready, churner.ready]);
  await leader.send("go");
  await new Promise((r) => setTimeout(r, 500));
  await churner.send("go");
  await waitCovered(bench.nc, group, [leader, churner], managers + 1, partitions, 60_000);
  churner.memSamples.length = 0;
  const endAt = performance.now() + minutes * 60_000;
  let lastPrint = 0;
  while (performance.now() < endAt) {
    await new Promise((r) => setTimeout(r, everyS * 1_000));
    await churner.send(`remove ${churn}`);
    await churner.send(`add ${churn}`);
    cycles++;
    if (performance.now() - lastPrint > 15_000 && churner.mem) {
      lastPrint = performance.now();
      console.error(
        `${((performance.now() - t0) / 1000).toFixed(0)} s: ${cycles} churn cycles, RSS ${
          fmtBytes(churner.mem.rss)
        }, heap ${fmtBytes(churner.mem.heap)}, ${churner.mem.managers} managers`,
      );
    }
  }
  await waitCovered(bench.nc, group, [leader, churner], managers + 1, partitions, 30_000)
    .catch((error) => {
      ok = false;
      console.error(`not covered at the end: ${error.message}`);
    });
} finally {
  await bench.nc.close().catch(() => {});
  await cleanup();
}

/** Least-squares slope in bytes per minute. */
function slope(points: { t: number; y: number }[]): number {
  const n = points.length;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60_000;
}
const samples = churner.memSamples;
const warm = samples.slice(Math.floor(samples.length / 4));
const heapSlope = slope(warm.map((s) => ({ t: s.t, y: s.heap })));
const rssSlope = slope(warm.map((s) => ({ t: s.t, y: s.rss })));
const first = warm[0]!;
const last = warm.at(-1)!;
const mb = (b: number) => (b / (1 << 20)).toFixed(2);
console.log(
  `\n${minutes} min churn: ${managers} Managers in one process, ${churn} replaced every ${everyS} s ` +
    `(${cycles} cycles, ${
      cycles * churn
    } Managers started and stopped), ${partitions} partitions, ` +
    `presets.fastTest; samples after a full GC, warm-up = first quarter\n`,
);
console.log("| | after warm-up | at the end | per Manager (end) | slope after warm-up |");
console.log("| --- | ---: | ---: | ---: | ---: |");
console.log(
  `| heap used | ${fmtBytes(first.heap)} | ${fmtBytes(last.heap)} | ${
    fmtBytes(last.heap / managers)
  } | ${mb(heapSlope)} MB/min |`,
);
console.log(
  `| RSS | ${fmtBytes(first.rss)} | ${fmtBytes(last.rss)} | ${fmtBytes(last.rss / managers)} | ${
    mb(rssSlope)
  } MB/min |`,
);
const leak = heapSlope > maxSlopeMb * (1 << 20);
console.log(
  `\nheap growth ${mb(heapSlope)} MB/min ${leak ? ">" : "≤"} ${maxSlopeMb} MB/min: ${
    leak ? "LEAK SUSPECTED" : "no growth trend"
  }${ok ? "" : "; coverage check FAILED"}`,
);
if (leak || !ok) Deno.exit(1);
