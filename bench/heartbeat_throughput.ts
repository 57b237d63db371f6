/**
 * Heartbeats per second one nats-server sustains (issue 14): worker processes
 * (`bench/scale_worker.ts`, `--per-process` Managers each, own connections) join one group in
 * steps of `--step` workers; at each step the pool runs for `--hold-s` seconds and the server's KV
 * writes/s (/jsz stream sequences: each heartbeat round is an ID-claim renewal plus a heartbeat
 * put, so heartbeats/s = writes/s ÷ 2 at steady state) and messages/s (/varz) are read, with the
 * heartbeat failures (operation timeouts) and self-fences the workers reported. The ramp stops at
 * the first step with a fence (renewals missed their deadline) or at `--max` workers.
 * `--interval-ms` shortens the heartbeat interval instead of adding workers (TTL = 5 × interval).
 *
 * Run: deno run -A bench/heartbeat_throughput.ts [--step 100] [--max 1000] [--per-process 50]
 *        [--interval-ms 200] [--hold-s 8] [--partitions 1000]
 */
import {
  cleanup,
  counters,
  flags,
  rates,
  startServer,
  waitCovered,
  WorkerProc,
} from "./scale_pool.ts";

const f = flags(Deno.args);
const step = f.num("step", 100);
const max = f.num("max", 1000);
const perProcess = f.num("per-process", 50);
const intervalMs = f.num("interval-ms", 200);
const holdS = f.num("hold-s", 8);
const partitions = f.num("partitions", 1_000);

const bench = await startServer();
const group = `hb_${crypto.randomUUID().slice(0, 6)}`;
const timing = {
  heartbeatIntervalMs: intervalMs,
  heartbeatTtlMs: 5 * intervalMs,
  workerIdTtlMs: 15 * intervalMs,
  coldStartWindowMs: 1_000,
  startupTimeoutMs: 120_000,
};
const procs: WorkerProc[] = [];
let index = 0;
const rows: string[] = [];
const errorTotals = () => {
  const m = new Map<string, number>();
  for (const p of procs) for (const [k, v] of p.errors) m.set(k, (m.get(k) ?? 0) + v);
  return m;
};

try {
  let n = 0;
  while (n < max) {
    const add = Math.min(step, max - n);
    for (let left = add; left > 0; left -= perProcess) {
      const p = new WorkerProc({
        url: bench.server.url,
        group,
        partitions,
        managers: Math.min(perProcess, left),
        index: index++,
        conn: "own",
        ids: "disjoint",
        timing,
        startSpacingMs: 10,
        digests: false,
      });
      procs.push(p);
      await p.ready;
      await p.send("go");
    }
    n += add;
    await waitCovered(bench.nc, group, procs, n, partitions, 120_000, (t) => console.error(t));
    const before = errorTotals();
    await new Promise((r) => setTimeout(r, 1_000));
    const a = await counters(bench.monitor);
    await new Promise((r) => setTimeout(r, holdS * 1_000));
    const b = await counters(bench.monitor);
    const r = rates(a, b);
    const after = errorTotals();
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    const fences = delta("fence");
    const timeouts = delta("TIMEOUT");
    const hbs = r.kvWrites / 2;
    const row = `| ${n} | ${intervalMs} | ${(n * 1000 / intervalMs).toFixed(0)} | ${
      hbs.toFixed(0)
    } | ${r.kvWrites.toFixed(0)} | ${r.inMsgs.toFixed(0)} / ${r.outMsgs.toFixed(0)} | ${
      r.api.toFixed(0)
    } | ${b.cpu.toFixed(0)} % | ${timeouts} | ${fences} |`;
    rows.push(row);
    console.error(row);
    if (fences > 0) break;
  }
} finally {
  await bench.nc.close().catch(() => {});
  await cleanup();
}

console.log(
  `\nOne nats-server 2.9.10, ${perProcess} Managers per process, ${partitions} partitions; ` +
    `${holdS} s per step after the pool is covered\n`,
);
console.log(
  "| workers | heartbeat interval (ms) | heartbeats/s expected | heartbeats/s measured | KV writes/s | server msgs in/s / out/s | JS API req/s | nats-server CPU | heartbeat timeouts | self-fences |",
);
console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(r);
