/**
 * Coordination at scale (issue 14): N workers × P partitions on ONE real nats-server, the workers
 * spread over 10 worker processes (`bench/scale_worker.ts`, up to ~100 Managers each), plus one
 * process with a single Manager that is started first and so becomes the leader (its CPU is then
 * the leader's own, and `--cpu-prof` profiles it). For each size it measures:
 *
 * - time to stable: from the start of the pool (the leader is already elected) until every live worker reports `stable`, the
 *   reports sum to P and the bucket confirms exactly-once coverage (every partition in exactly one
 *   live worker's key, nothing pending, each worker's applied version and owned-ID digest equal to
 *   its key) — timed at the last report, not at the check;
 * - the leader's publications until then, and for the largest one the time from the decision
 *   (`parti.rebalance` span start) to the publish call, to the first and to the last write to the
 *   assignment bucket (a tap on the store);
 * - publication bytes per worker key (chunks included), their total and the chunk-key count;
 * - steady state over `--steady-s` seconds: KV writes/s (sum of the KV streams' sequence deltas,
 *   /jsz), JetStream API requests/s, server messages in/out per second (/varz);
 * - RSS and heap per Manager: each worker process's RSS (heap) over the Managers in it, and what
 *   the Managers add: the same less the process's own before its first connection and Manager
 *   (Deno, the modules and the partition list: paid once per process);
 * - recovery: one worker process (~10 % of the workers) is SIGKILLed; time until coverage is
 *   exactly-once again over the survivors.
 *
 * Timing: `presets.fastTest` (heartbeat 200 ms, TTL 1 s, grace 300 ms). The pool starts at
 * `--start-rate` Managers per second (default 200; 0 = all at once, which on a 2-core machine
 * fences most of a 100-worker pool: every start opens four buckets and two watches, a burst of
 * JetStream API requests that delays heartbeats past their 1 s TTL) with a cold-start window that
 * fits (`--cold-start-ms`, default the ramp + 1 s). Worker
 * IDs come from disjoint one-ID ranges (`--ids shared` measures the library's own claim of the
 * lowest free ID at a concurrent start).
 *
 * Run: deno run -A bench/scale.ts [--workers 10,100] [--partitions 10k,100k] [--full]
 *        [--conn own|shared] [--ids disjoint|shared] [--processes 10] [--steady-s 5]
 *        [--cold-start-ms 1000] [--heartbeat-ms 200] [--lease-ms 1000] [--cpu-prof dir [--cpu-prof-worker]]
 *        [--no-recovery]
 *        [--start-rate 200] [--timeout-s 90]
 */
import {
  cleanup,
  counters,
  flags,
  fmtBytes,
  rates,
  startServer,
  stats,
  waitCovered,
  WorkerProc,
} from "./scale_pool.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { bucketNames } from "../src/protocol/keys.ts";
import type { ManagerOptions } from "../mod.ts";

const f = flags(Deno.args);
const full = f.has("full");
const sizes: [number, number][] = [];
const workerList = f.list("workers", full ? [10, 100, 200, 1000] : [10, 100, 200]);
const partitionList = f.list("partitions", full ? [10_000, 100_000] : [10_000, 100_000]);
for (const n of workerList) {
  for (const p of partitionList) {
    // The quick default leaves out 200 × 100k (the same shape as 100 × 100k, twice the keys).
    if (!full && !f.get("workers") && n === 200 && p === 100_000) continue;
    sizes.push([n, p]);
  }
}
const conn = (f.get("conn") ?? "own") as "own" | "shared";
const ids = (f.get("ids") ?? "disjoint") as "disjoint" | "shared";
const processes = f.num("processes", 10);
const steadyS = f.num("steady-s", 5);
const heartbeatMs = f.get("heartbeat-ms");
const leaseMs = f.get("lease-ms");
const cpuProf = f.get("cpu-prof");
// Profiles the first worker process too (its Managers' CPU, not the leader's).
const cpuProfWorker = f.has("cpu-prof-worker");
const recovery = !f.has("no-recovery");
/** Managers started per second over the whole pool (0 = all at once). */
const startRate = f.num("start-rate", 200);

const bench = await startServer();
const { nc, monitor } = bench;
console.error(
  `nats-server ${bench.server.url}, monitoring ${monitor}; sizes ${JSON.stringify(sizes)}`,
);

interface Row {
  n: number;
  p: number;
  stableMs: number;
  windowMs: number;
  decisionAtMs: number;
  pubs: number;
  preMs: number;
  firstMs: number;
  lastMs: number;
  keyMean: number;
  keyMax: number;
  total: number;
  chunks: number;
  kvw: number;
  api: number;
  inMsgs: number;
  outMsgs: number;
  rss: number;
  heap: number;
  rssAdded: number;
  heapAdded: number;
  leaderRss: number;
  recoveryMs: number | undefined;
  killed: number;
  errors: string;
}
const rows: Row[] = [];
const failures: string[] = [];
/** The processes of the size being measured (killed when it fails). */
let current: WorkerProc[] = [];
const stableTimeoutMs = f.num("timeout-s", 90) * 1000;

try {
  for (const [n, p] of sizes) {
    try {
      rows.push(await runCase(n, p));
    } catch (error) {
      // Not stable in time: recorded, and the next size still runs.
      console.error(`[${n} × ${p}] FAILED: ${(error as Error).message}`);
      failures.push(`${n} × ${p / 1000}k: ${(error as Error).message}`);
      await Promise.all(current.map((x) => x.kill()));
    }
  }
} finally {
  await nc.close().catch(() => {});
  await cleanup();
}

console.log(
  `\nnats-server 2.9.10, presets.fastTest, conn=${conn}, ids=${ids}, ${processes} worker processes ` +
    `+ 1 leader process; times in ms\n`,
);
console.log(
  "| workers × partitions | cold-start window | time to stable | leader decision at | publications | decision → publish / first write / last write | key bytes mean / max | total bytes (chunk keys) |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(
    `| ${r.n} × ${r.p / 1000}k | ${r.windowMs} | ${r.stableMs.toFixed(0)} | ${
      r.decisionAtMs.toFixed(0)
    } | ${r.pubs} | ${r.preMs.toFixed(0)} / ${r.firstMs.toFixed(0)} / ${r.lastMs.toFixed(0)} | ${
      fmtBytes(r.keyMean)
    } / ${fmtBytes(r.keyMax)} | ${fmtBytes(r.total)} (${r.chunks}) |`,
  );
}
for (const x of failures) console.log(`\nNOT STABLE: ${x}`);
console.log(
  "\n| workers × partitions | KV writes/s (per worker) | JS API req/s (per worker) | server msgs in/s / out/s | RSS per Manager (added) | heap per Manager (added) | leader process RSS | recovery after killing (workers) | errors |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
for (const r of rows) {
  console.log(
    `| ${r.n} × ${r.p / 1000}k | ${r.kvw.toFixed(0)} (${(r.kvw / r.n).toFixed(1)}) | ${
      r.api.toFixed(0)
    } (${(r.api / r.n).toFixed(1)}) | ${r.inMsgs.toFixed(0)} / ${r.outMsgs.toFixed(0)} | ${
      fmtBytes(r.rss)
    } (${fmtBytes(r.rssAdded)}) | ${fmtBytes(r.heap)} (${fmtBytes(r.heapAdded)}) | ${
      fmtBytes(r.leaderRss)
    } | ${r.recoveryMs === undefined ? "–" : r.recoveryMs.toFixed(0)} (${r.killed}) | ${
      r.errors || "none"
    } |`,
  );
}

async function runCase(n: number, p: number): Promise<Row> {
  const group = `scale_${n}_${p}_${crypto.randomUUID().slice(0, 6)}`;
  const rampMs = startRate > 0 ? (n - 1) / startRate * 1000 : 0;
  const coldStartWindowMs = f.num("cold-start-ms", Math.round(rampMs + 1_000));
  const timing: Partial<ManagerOptions> = {
    coldStartWindowMs,
    startupTimeoutMs: 120_000,
    ...(ids === "shared" ? { workerIdMax: n + 10 } : {}),
    ...(leaseMs !== undefined ? { electionLeaseMs: Number(leaseMs) } : {}),
    ...(heartbeatMs !== undefined
      ? {
        heartbeatIntervalMs: Number(heartbeatMs),
        heartbeatTtlMs: 5 * Number(heartbeatMs),
        workerIdTtlMs: 15 * Number(heartbeatMs),
      }
      : {}),
  };
  const startSpacingMs = startRate > 0 ? Math.min(processes, n - 1) * 1000 / startRate : 0;
  const base = {
    url: bench.server.url,
    group,
    partitions: p,
    conn,
    ids,
    timing,
    startSpacingMs,
  };
  const log = (text: string) => console.error(`[${n} × ${p}] ${text}`);
  const rest = n - 1;
  const procCount = Math.min(processes, rest);
  const procs: WorkerProc[] = [];
  current = procs;
  const leaderProc = new WorkerProc(
    { ...base, managers: 1, index: 0, conn: "own" },
    cpuProf ? { cpuProfDir: cpuProf } : {},
  );
  procs.push(leaderProc);
  for (let i = 0; i < procCount; i++) {
    const managers = Math.floor(rest / procCount) + (i < rest % procCount ? 1 : 0);
    const profile = cpuProf && cpuProfWorker && i === 0 ? { cpuProfDir: cpuProf } : {};
    procs.push(new WorkerProc({ ...base, managers, index: i + 1 }, profile));
  }
  await Promise.all(procs.map((x) => x.ready));
  if (procs.some((x) => x.exited)) throw new Error("a worker process exited before it was ready");
  log(
    `${procs.length} processes ready (${rest} managers in ${procCount}); starting ` +
      `${startRate || "all at once"}/s, cold-start window ${coldStartWindowMs} ms`,
  );
  // The single-Manager process starts first and is leader before the pool starts: its CPU is the
  // leader's alone, and the cold-start window opens with it.
  await leaderProc.send("go");
  const until = performance.now() + 30_000;
  while (![...leaderProc.workers.values()].some((w) => w.leader)) {
    if (performance.now() > until) throw new Error("the first process did not become leader");
    await new Promise((r) => setTimeout(r, 10));
  }
  const t0 = Date.now();
  await Promise.all(procs.slice(1).map((x) => x.send("go")));
  const { at, view } = await waitCovered(nc, group, procs, n, p, stableTimeoutMs, log);
  const stableMs = at - t0;
  const leader = procs.find((x) => [...x.workers.values()].some((w) => w.leader));
  const pubs = procs.flatMap((x) => x.pubs).filter((x) => x.t <= at + 50);
  const big = pubs.reduce((a, b) => ((b.moved ?? 0) > (a?.moved ?? -1) ? b : a), pubs[0]);
  for (const x of pubs) {
    log(
      `publication at ${(x.t - x.endMs - t0).toFixed(0)} ms: ${x.phase} moved ${x.moved} pending ` +
        `${x.pending} workers ${x.workers}; publish call ${
          x.preDecideMs.toFixed(0)
        }, first write ` +
        `${x.firstWriteMs?.toFixed(0)}, last ${x.lastWriteMs?.toFixed(0)}, ${x.writes} writes`,
    );
  }
  const terms = procs.flatMap((x) => x.leadership).filter((x) => x.t >= t0 && x.t <= at);
  if (terms.length > 0) {
    log(
      `leadership changes: ${
        terms.map((x) => `${x.t - t0} ms ${x.w} ${x.leader ? "+" : "-"}e${x.epoch}`).join(", ")
      }`,
    );
  }
  log(`errors so far: ${JSON.stringify(procs.map((x) => Object.fromEntries(x.errors)))}`);
  log(
    `stable after ${stableMs} ms (leader in process ${leader ? procs.indexOf(leader) : "?"}, ` +
      `${pubs.length} publications)`,
  );
  const sizes = [...view.bytes.values()];
  const total = sizes.reduce((a, b) => a + b, 0) + view.metaBytes;

  await new Promise((r) => setTimeout(r, 1_000));
  const c1 = await counters(monitor);
  await new Promise((r) => setTimeout(r, steadyS * 1_000));
  const c2 = await counters(monitor);
  const rate = rates(c1, c2);
  log(`steady: ${rate.kvWrites.toFixed(0)} KV writes/s, ${rate.inMsgs.toFixed(0)} msgs in/s`);
  const workerProcs = procs.slice(1).filter((x) => x.mem);
  const rss = stats(workerProcs.map((x) => x.mem!.rss / x.mem!.managers)).p50;
  const heap = stats(workerProcs.map((x) => x.mem!.heap / x.mem!.managers)).p50;
  const added = (x: WorkerProc, now: number, before: number | undefined) =>
    before === undefined ? NaN : (now - before) / x.mem!.managers;
  const rssAdded = stats(workerProcs.map((x) => added(x, x.mem!.rss, x.base?.rss))).p50;
  const heapAdded = stats(workerProcs.map((x) => added(x, x.mem!.heap, x.base?.heap))).p50;
  const leaderRss = leaderProc.mem?.rss ?? 0;

  let recoveryMs: number | undefined;
  let killed = 0;
  if (recovery) {
    const victim = procs.slice(1).filter((x) => !x.workers.has(leaderId(procs)))
      .sort((a, b) => b.workers.size - a.workers.size)[0]!;
    killed = victim.workers.size;
    const t = Date.now();
    await victim.kill();
    log(`killed a process with ${killed} workers`);
    const r = await waitCovered(nc, group, procs, n - killed, p, 60_000, log);
    recoveryMs = r.at - t;
    log(`covered again after ${recoveryMs} ms`);
  }
  const errors = new Map<string, number>();
  for (const x of procs) for (const [k, v] of x.errors) errors.set(k, (errors.get(k) ?? 0) + v);
  if (cpuProf) await leaderProc.stop();
  if (cpuProf && cpuProfWorker && procs[1]?.alive) await procs[1].stop();
  await Promise.all(procs.map((x) => x.kill()));
  await deleteGroup(group);
  return {
    n,
    p,
    stableMs,
    windowMs: coldStartWindowMs,
    decisionAtMs: big ? big.t - big.endMs - t0 : NaN,
    pubs: pubs.length,
    preMs: big?.preDecideMs ?? NaN,
    firstMs: big?.firstWriteMs ?? NaN,
    lastMs: big?.lastWriteMs ?? NaN,
    keyMean: sizes.length ? total / sizes.length : 0,
    keyMax: Math.max(0, ...sizes),
    total,
    chunks: view.chunkKeys,
    kvw: rate.kvWrites,
    api: rate.api,
    inMsgs: rate.inMsgs,
    outMsgs: rate.outMsgs,
    rss,
    heap,
    rssAdded,
    heapAdded,
    leaderRss,
    recoveryMs,
    killed,
    errors: [...errors].map(([k, v]) => `${k}×${v}`).join(", "),
  };
}

function leaderId(procs: readonly WorkerProc[]): string {
  for (const x of procs) for (const [id, w] of x.workers) if (w.leader) return id;
  return "";
}

async function deleteGroup(group: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const name of Object.values(bucketNames(group))) {
    await jsm.streams.delete(`KV_${name}`).catch(() => {});
  }
}
