/**
 * Gray failures with real processes (NATS_FACTS (c) F16, I6): a pool of five worker processes,
 * each behind its own FaultProxy, with release hooks that take a random 0-300 ms (the fixture's
 * default). For a fault window of `PARTI_GRAY_MS` (default 30 s, at least
 * {@link STEADY_MS} of it steady):
 *
 * - the LEADER's connection delays every chunk by a random 300-800 ms (`{ delayMs: 300,
 *   jitterMs: 500 }`, order kept per direction): every request it makes takes 0.6-1.6 s;
 * - one other worker's connection is delayed the same way;
 * - one other worker's connection is reset (RST) every 2-4 s, and it reconnects each time
 *   (about 0.3 s later, `reconnectTimeWait` 250 ms + jitter);
 * - first the membership changes twice through the slowed leader: a sixth worker joins
 *   (revoke-then-assign from slowed owners), then leaves gracefully with its instance name (its
 *   partitions move after the grace, its heartbeat is declared dead a TTL later); then the pool
 *   stays under the same faults with nothing to do.
 *
 * Timing profile G (below) is sized for the delay, the way an operator sizes deadlines for the
 * network they have: a heartbeat round is two requests in a row (renew the ID by CAS, put the
 * heartbeat), 1.2-3.2 s slowed, and the fence deadline must cover one round, the interval and the
 * next round (2 × 3.2 + 1 = 7.4 s < 9 s = heartbeatTtlMs − heartbeatIntervalMs); a lease renewal
 * is one request (≤ 1.6 s), and the leader renews every lease/3 = 3 s and gives up after
 * 2/3 lease = 6 s (3 + 1.6 < 6). With fastTest timings (fence after 800 ms, lease 1 s) a
 * 300-800 ms delay per direction is an outage, not a gray failure.
 *
 * Asserted (bounds from measurements, with margin):
 * - the offline auditor finds no double ownership (I1-I3) over the whole run;
 * - no flapping in the window: no self-fence, no new leadership term, no degraded entry; at
 *   most {@link MAX_PUBLICATIONS} publications for the two membership changes (measured 3-5:
 *   revoke, assign and a follow-up for the join, one or two for the leave; 4 per change allowed),
 *   and at most one late move (a revoke and its assign) in the steady part: measured 0 over
 *   13-17 s in 9 runs, 2 in 1 of 10 runs on a loaded machine, where the last round of the
 *   leave fell into the steady part or the engine re-placed its own output differently (a known
 *   non-idempotence in a few worker sets; see issue 11's note); flapping would be many;
 * - no partition of a worker other than the joiner moves more than its share;
 * - after the heal, every worker heartbeats again and the pool is settled within
 *   {@link RECOVERY_BOUND_MS}, with no publication (measured 0.7-2.1 s: the slowed workers'
 *   heartbeat rounds in flight; nothing was lost).
 *
 * Found by this test and fixed in the library, each with a unit test on the fake clock: a
 * publication wrote its worker keys one after another, so a slowed leader took about a second
 * per worker for each publication (now concurrently, all shrinking keys before the others:
 * `tests/unit/publisher_concurrency_test.ts`); and the death of the departed joiner's heartbeat,
 * a TTL after its partitions had moved, started a revoke and an assign of a partition between
 * two live workers for no gain (`gainsNothing` in `src/leader/handoff.ts`,
 * `tests/unit/pointless_rebalance_test.ts`).
 *
 * Set `PARTI_GRAY_SEED` to replay the proxies' delays, the reset times and the hook delays (the
 * seed is printed); with `PARTI_AUDIT_KEEP=1` the ownership log is kept after a pass too.
 */
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { FaultProxy, NatsServer, waitFor } from "../../testing/mod.ts";
import { sleep } from "../../testing/wait.ts";
import { AuditedPool, perWorker, total } from "../helpers/audited_pool.ts";
import { mulberry32 } from "../helpers/random.ts";
import type { WorkerProcess } from "../helpers/worker_process.ts";

const COUNT = 60;
const WORKERS = 5;
const WINDOW_MS = Number(Deno.env.get("PARTI_GRAY_MS") ?? 30_000);
const GRAY = { delayMs: 300, jitterMs: 500 } as const;
/** Two membership changes, each a revoke and an assign plus at most two follow-ups. */
const MAX_PUBLICATIONS = 8;
/** From the heal until every worker heartbeats again and the pool is settled. */
const RECOVERY_BOUND_MS = 15_000;
/** Steady state under the faults after the membership changes, at least. */
const STEADY_MS = 10_000;

/** Timing profile G: deadlines that leave room for two slowed round trips (see the module doc). */
const profileG = {
  heartbeatIntervalMs: 1_000,
  heartbeatTtlMs: 10_000,
  workerIdTtlMs: 30_000,
  electionLeaseMs: 9_000,
  coldStartWindowMs: 1_000,
  plannedScaleWindowMs: 500,
  emergencyGraceMs: 1_000,
  minRebalanceIntervalMs: 500,
  operationTimeoutMs: 5_000,
  startupTimeoutMs: 60_000,
  shutdownTimeoutMs: 20_000,
  degraded: { enterAfterMs: 5_000, exitAfterMs: 2_000, recoveryGraceMs: 10_000 },
};
const ARGS = ["--timing", JSON.stringify(profileG)];

Deno.test("gray failures (a slowed leader, a slowed worker, a worker reset every few seconds) flap nothing and own nothing twice", async () => {
  const seed = Number(Deno.env.get("PARTI_GRAY_SEED") ?? Math.floor(Math.random() * 1e6));
  const random = mulberry32(seed ^ 0x5eed);
  await using server = await NatsServer.start();
  const proxies: FaultProxy[] = [];
  const pool = await AuditedPool.open({
    group: "gray",
    count: COUNT,
    probeServers: server.url,
    seed,
  });
  try {
    for (let i = 0; i < WORKERS; i++) {
      proxies.push(
        await FaultProxy.start({
          target: `127.0.0.1:${server.port}`,
          random: mulberry32(seed + i),
        }),
      );
    }
    const proxyOf = new Map<WorkerProcess, FaultProxy>();
    for (const proxy of proxies) proxyOf.set(pool.spawn({ url: proxy.url, args: ARGS }), proxy);
    await waitFor(() => pool.workers.every((w) => w.started), {
      timeoutMs: 60_000,
      message: "workers started",
    });
    await waitFor(() => pool.settled(), { timeoutMs: 30_000, message: "pool settled" });

    const leader = pool.leader!;
    const others = pool.workers.filter((w) => w !== leader);
    const slowed = others[0]!;
    const reset = others[1]!;
    console.log(
      `gray: leader ${leader.workerId} and ${slowed.workerId} slowed by ${GRAY.delayMs}-` +
        `${GRAY.delayMs + GRAY.jitterMs} ms per chunk, ${reset.workerId} reset every 2-4 s; ` +
        `window ${WINDOW_MS} ms`,
    );
    const before = await pool.snapshot("FAULT_START gray");
    const epochBefore = before.published.epoch;
    proxyOf.get(leader)!.setMode(GRAY);
    proxyOf.get(slowed)!.setMode(GRAY);
    let end = performance.now() + WINDOW_MS;
    let resets = 0;
    const resetLoop = (async () => {
      while (performance.now() < end) {
        await sleep(2_000 + random() * 2_000); // fault schedule, not synchronisation
        if (performance.now() >= end) break;
        const proxy = proxyOf.get(reset)!;
        proxy.setMode("reject");
        proxy.setMode("pass");
        resets++;
      }
    })();
    // Membership changes through the slowed leader: a join (revoke-then-assign from slowed
    // owners), then the joiner's graceful leave; then steady state under the same faults.
    const joinStart = performance.now();
    const joiner = pool.spawn({ url: server.url, args: ARGS });
    await waitFor(() => joiner.started && joiner.partitions.length > 0 && pool.settled(), {
      timeoutMs: 40_000,
      message: "the joiner got its share through the slowed leader",
    });
    const joinMs = performance.now() - joinStart;
    joiner.stopping = true;
    const leaveStart = performance.now();
    await joiner.kill("SIGTERM");
    await waitFor(() => pool.settled(), {
      timeoutMs: 40_000,
      message: "the joiner's partitions handed back through the slowed leader",
    });
    const leaveMs = performance.now() - leaveStart;
    const steady = await pool.snapshot("steady gray");
    await sleep(Math.max(STEADY_MS, end - performance.now())); // the fault window itself
    end = performance.now();
    await resetLoop;
    const steadyCounts = await pool.counts(steady);
    const window = await pool.counts(before);
    for (const proxy of proxies) proxy.setMode("pass");
    const healedAt = performance.now();
    const healed = await pool.snapshot("FAULT_END gray");

    await heartbeatsAfter(pool);
    await waitFor(() => pool.settled(), {
      timeoutMs: RECOVERY_BOUND_MS,
      intervalMs: 10,
      message: "pool settled after the heal",
    });
    const recoveryMs = performance.now() - healedAt;
    const after = await pool.counts(healed);
    const perMinute = (n: number) => (n * 60_000 / window.ms).toFixed(1);
    console.log(
      `gray window ${(window.ms / 1000).toFixed(1)} s: publications ${window.publications} ` +
        `(${perMinute(window.publications)}/min), leader terms ${window.leaderStarts}, ` +
        `fences ${perWorker(window.fences)}, degraded ${perWorker(window.degraded)}, ` +
        `errors ${perWorker(window.errors)} ${JSON.stringify(window.errorsByCause)}, ` +
        `${resets} resets of ${reset.workerId}; settled ${recoveryMs.toFixed(0)} ms after the ` +
        `heal (${after.publications} publications since); join took ${joinMs.toFixed(0)} ms, ` +
        `leave ${leaveMs.toFixed(0)} ms; steady ${(steadyCounts.ms / 1000).toFixed(1)} s: ` +
        `publications ${steadyCounts.publications}, leader terms ${steadyCounts.leaderStarts}`,
    );
    const audit = await pool.audit("gray audit");
    assert.equal(window.leaderStarts, 0, "no new leadership term");
    assert.equal((await pool.published()).epoch, epochBefore, "the same epoch throughout");
    assert.equal(total(window.fences), 0, `no self-fence: ${perWorker(window.fences)}`);
    assert.equal(total(window.degraded), 0, `nobody degraded: ${perWorker(window.degraded)}`);
    assert.ok(window.publications >= 2, "the join and the leave were published");
    assert.ok(
      window.publications <= MAX_PUBLICATIONS,
      `${window.publications} publications for two membership changes`,
    );
    assert.ok(resets >= Math.floor(WINDOW_MS / 4_000), `${resets} resets`);
    assert.ok(
      steadyCounts.publications <= 2,
      `at most one late move in the steady gray state, got ${steadyCounts.publications} publications`,
    );
    assert.equal(after.publications, 0, "nothing to publish after the heal");
    // Only the joiner's arrival and departure moved partitions: the leaving joiner released
    // its own, the others released what went to it; nobody lost everything.
    const released = (w: WorkerProcess) =>
      audit.filter((e) => e.type === "RELEASE" && e.owner === String(w.pid)).length;
    for (const w of pool.workers.filter((w) => w !== joiner)) {
      assert.ok(released(w) < COUNT / WORKERS, `${w.workerId} released ${released(w)}`);
    }
    pool.passed = true;
  } finally {
    await pool.close();
    await Promise.all(proxies.map((p) => p.close()));
  }
});

/** Waits until every live worker has written a heartbeat after now (read directly). */
async function heartbeatsAfter(pool: AuditedPool): Promise<void> {
  const kv = await new Kvm(jetstream(pool.probe, { timeout: 2_000 })).open(
    `parti_${pool.group}_hb`,
  );
  const revisions = () =>
    Promise.all(pool.live.map(async (w) => (await kv.get(w.workerId!))?.revision ?? 0));
  const base = await revisions();
  await waitFor(async () => (await revisions()).every((r, i) => r > base[i]!), {
    timeoutMs: RECOVERY_BOUND_MS,
    intervalMs: 50,
    message: "every worker heartbeat after the heal",
  });
}
