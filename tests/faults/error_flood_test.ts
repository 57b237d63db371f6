/**
 * Error floods (NATS_FACTS (b) "Degraded mode", SPEC §4): a pool of three worker processes
 * (fastTest timings, release hooks of 0-300 ms) loses its nats-server twice: SIGKILL, restart on
 * the same port and store after 2 s, then again after a 10 s outage (longer than every TTL: the
 * heartbeat, ID and lease keys have all expired when it comes back, NATS_FACTS row 16). For each
 * outage the test counts each worker's `onError` reports, by cause (the failing operation, which
 * the message names), from the kill until the pool is settled again plus a short tail.
 *
 * What is promised: a failing streak is reported once per cause — one failing operation: the ID
 * renewal, the lease, the publication summary a campaign reads, each watch's watchdog
 * (`FailureStreak` in `src/runtime/retry.ts`) — not once per attempt, so the number of reports
 * does not grow with the outage's length. Bound asserted: at most
 * {@link MAX_REPORTS_PER_OUTAGE} reports per worker per outage and at most
 * {@link MAX_REPORTS_PER_CAUSE} per cause (measured: 4-5 per worker, 1 per cause, the same for
 * 2 s and 10 s; before the fixes this test found, 7-9 per worker in the 2 s outage, growing with
 * its length: every campaign reported its failed read of the summary, every watchdog check its
 * failed status read; `tests/unit/error_reports_test.ts` pins it on the fake clock). The retry
 * loops back off while they fail (`tests/unit/election_backoff_test.ts`: 18 attempts by a leader
 * and 13 by a follower in a 10 s outage, not one per 250 ms check); attempts that fail fast
 * locally while the client is disconnected cannot be observed from outside the process.
 *
 * Then, as everywhere: the auditor finds no double ownership, and full coverage comes back
 * within {@link RECOVERY_BOUND_MS} of the restart.
 */
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import { sleep } from "../../testing/wait.ts";
import { AuditedPool, perWorker, total } from "../helpers/audited_pool.ts";

const COUNT = 30;
const OUTAGES_MS = [2_000, 10_000] as const;
/** Reports per worker per outage, all causes together (measured 4-5). */
const MAX_REPORTS_PER_OUTAGE = 8;
/** Reports per worker per outage of one cause: one failing operation (measured 1). */
const MAX_REPORTS_PER_CAUSE = 2;
/** From the restart to a settled pool: IDs re-claimed, a leader, the hand-off, all stable. */
const RECOVERY_BOUND_MS = 20_000;
/** Reports that arrive after the pool settled (a watch noticing late) still count. */
const TAIL_MS = 2_000;

Deno.test("a nats-server outage of 2 s and of 10 s is reported a bounded number of times per worker and cause, whatever its length", async () => {
  await using server = await NatsServer.start();
  const pool = await AuditedPool.open({ group: "flood", count: COUNT, probeServers: server.url });
  try {
    for (let i = 0; i < 3; i++) pool.spawn({ url: server.url });
    await waitFor(() => pool.workers.every((w) => w.started), {
      timeoutMs: 60_000,
      message: "workers started",
    });
    await waitFor(() => pool.settled(), { timeoutMs: 30_000, message: "pool settled" });
    for (const outageMs of OUTAGES_MS) {
      const from = await pool.snapshot(`FAULT_START outage ${outageMs}`);
      await server.kill();
      await sleep(outageMs); // the outage itself
      await server.restart();
      const restartedAt = performance.now();
      pool.mark(`FAULT_END outage ${outageMs}`);
      await heartbeatsResumed(pool);
      await waitFor(() => pool.settled(), {
        timeoutMs: RECOVERY_BOUND_MS,
        intervalMs: 10,
        message: `settled after the ${outageMs} ms outage`,
      });
      const recoveredMs = performance.now() - restartedAt;
      await sleep(TAIL_MS); // late reports still count
      const counts = await pool.counts(from);
      console.log(
        `outage ${outageMs} ms: settled ${recoveredMs.toFixed(0)} ms after the restart; ` +
          `reports per worker ${perWorker(counts.errors)}; fences ${total(counts.fences)}, ` +
          `publications ${counts.publications}, new terms ${counts.leaderStarts}`,
      );
      for (const w of pool.workers) {
        const reports = w.events.slice(from.events.get(w) ?? 0).filter((e) => e.event === "error");
        assert.ok(
          reports.length <= MAX_REPORTS_PER_OUTAGE,
          `${w.workerId}: ${reports.length} reports: ${reports.map((e) => e.message).join("; ")}`,
        );
        // One cause: one failing operation (the message names it), whatever its error code.
        const byCause = new Map<string, number>();
        for (const e of reports) {
          const cause = `${e.code}: ${e.message}`;
          byCause.set(cause, (byCause.get(cause) ?? 0) + 1);
        }
        for (const [cause, n] of byCause) {
          assert.ok(n <= MAX_REPORTS_PER_CAUSE, `${w.workerId}: ${n} × ${cause}`);
        }
        if (w === pool.workers[0]) {
          for (const [cause, n] of byCause) console.log(`  ${w.workerId} ${n} × ${cause}`);
        }
      }
    }
    await pool.audit("error flood audit");
    pool.passed = true;
  } finally {
    await pool.close();
  }
});

/** Waits until every live worker has written a heartbeat since the restart. */
async function heartbeatsResumed(pool: AuditedPool): Promise<void> {
  const kv = await waitFor(
    () => new Kvm(jetstream(pool.probe, { timeout: 1_000 })).open(`parti_${pool.group}_hb`),
    { timeoutMs: 10_000, message: "the heartbeat bucket is readable again" },
  );
  // Revisions never repeat, and nothing could be written while the server was down.
  const base = await waitFor(
    () => Promise.all(pool.live.map(async (w) => (await kv.get(w.workerId!))?.revision ?? 0)),
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  await waitFor(
    async () =>
      (await Promise.all(pool.live.map(async (w) => (await kv.get(w.workerId!))?.revision ?? 0)))
        .every((r, i) => r > base[i]!),
    { timeoutMs: RECOVERY_BOUND_MS, intervalMs: 50, message: "heartbeats after the restart" },
  );
}
