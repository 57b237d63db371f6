/**
 * Exclusive ownership under faults, checked offline by the ownership auditor: every worker process
 * appends ACQUIRE/RELEASE (with fencing tokens) and LEADER_START/STOP to one O_APPEND log, the
 * harness appends KILLED/PAUSED/RESUMED, and `checkOwnershipLog` replays it (NATS_FACTS (c)).
 */
import assert from "node:assert/strict";
import { presets } from "../../mod.ts";
import {
  checkOwnershipLog,
  FaultProxy,
  NatsServer,
  OwnershipLog,
  readOwnershipLog,
  waitFor,
} from "../../testing/mod.ts";
import { covered, WorkerProcess } from "../helpers/worker_process.ts";

const ids = (count: number) => Array.from({ length: count }, (_, i) => `p/${i}`);

async function tempLog(): Promise<{ path: string; log: OwnershipLog }> {
  const path = await Deno.makeTempFile({ prefix: "parti-audit-", suffix: ".jsonl" });
  return { path, log: await OwnershipLog.open(path) };
}

/**
 * Keeps a failed run's evidence: the ownership log stays where it is and every worker's reports
 * go next to it, so the interleaving can be read after the test.
 */
async function keepEvidence(path: string, workers: readonly WorkerProcess[]): Promise<void> {
  const lines = workers.flatMap((w) => w.events.map((e) => JSON.stringify(e)));
  await Deno.writeTextFile(`${path}.workers.jsonl`, lines.join("\n") + "\n");
  console.log(`evidence kept: ${path} and ${path}.workers.jsonl`);
}

/**
 * Whether the ownership log, replayed, ends with every partition owned. The workers' reports can
 * show full coverage while a hand-off is still in flight (a new owner got the partitions of one
 * quick old owner while a slow one is still in its hook, about to log its RELEASE): reading the
 * log then would see partitions between two owners. Settled means both agree.
 */
async function logCovers(path: string, count: number): Promise<boolean> {
  const events = await readOwnershipLog(path);
  const { violations } = checkOwnershipLog(events, { expectCoverage: ids(count) });
  return !violations.some((v) => v.startsWith("end:"));
}

function report(label: string, r: ReturnType<typeof checkOwnershipLog>): void {
  console.log(`${label}: ${JSON.stringify(r.counts)}; violations: ${r.violations.length}`);
  for (const v of r.violations.slice(0, 10)) console.log(`  ${v}`);
}

/** Deterministic PRNG so a failing churn run can be replayed with its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("the auditor finds no double ownership during random churn of 8 worker processes", async () => {
  const COUNT = 500;
  const durationMs = Number(Deno.env.get("PARTI_CHURN_MS") ?? 60_000);
  const seed = Number(Deno.env.get("PARTI_CHURN_SEED") ?? Date.now() % 1_000_000);
  const random = mulberry32(seed);
  console.log(`churn seed ${seed}, ${durationMs} ms`);
  await using server = await NatsServer.start();
  const { path, log } = await tempLog();
  const spawn = () => WorkerProcess.spawn(server.url, "churn", COUNT, ["--log", path]);
  const all: WorkerProcess[] = Array.from({ length: 8 }, spawn);
  const alive = () => all.filter((w) => !w.exited && !w.stopping);
  const actions = { join: 0, leave: 0, kill: 0, leaderKill: 0 };
  try {
    await waitFor(() => all.every((w) => w.started), { timeoutMs: 30_000 });
    const end = performance.now() + durationMs;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 500 + random() * 1_500));
      const pool = alive();
      const roll = random();
      if (pool.length < 4 || (roll < 0.3 && pool.length < 10)) {
        all.push(spawn());
        actions.join++;
      } else if (roll < 0.55) {
        const w = pool[Math.floor(random() * pool.length)]!;
        w.stopping = true;
        void w.kill("SIGTERM");
        actions.leave++;
      } else if (roll < 0.85) {
        const w = pool[Math.floor(random() * pool.length)]!;
        w.stopping = true;
        await w.kill("SIGKILL");
        log.append({ type: "KILLED", owner: String(w.pid) });
        actions.kill++;
      } else {
        const leader = pool.find((w) => w.isLeader);
        if (!leader) continue;
        leader.stopping = true;
        await leader.kill("SIGKILL");
        log.append({ type: "KILLED", owner: String(leader.pid) });
        actions.leaderKill++;
      }
    }
    log.append({ type: "MARK", label: "churn over" });
    await Promise.all(all.filter((w) => w.stopping).map((w) => w.done));
    await waitFor(
      async () =>
        covered(alive(), COUNT) && alive().filter((w) => w.isLeader).length === 1 &&
        await logCovers(path, COUNT),
      { timeoutMs: 30_000, message: "pool settled after churn" },
    );
    const result = checkOwnershipLog(await readOwnershipLog(path), { expectCoverage: ids(COUNT) });
    console.log(`churn actions: ${JSON.stringify(actions)}`);
    report("churn audit", result);
    assert.deepEqual(result.violations, []);
    assert.ok(result.counts.handovers > 0, "partitions did move");
  } finally {
    await Promise.all(all.map((w) => w.kill("SIGKILL")));
    log.close();
    await Deno.remove(path).catch(() => {});
  }
});

Deno.test("a worker cut off by a silent partition fences itself before its partitions move", async () => {
  const COUNT = 60;
  await using server = await NatsServer.start();
  await using proxy = await FaultProxy.start({ target: `127.0.0.1:${server.port}` });
  const { path, log } = await tempLog();
  let passed = false;
  const workers = [
    WorkerProcess.spawn(server.url, "cut", COUNT, ["--log", path]),
    WorkerProcess.spawn(server.url, "cut", COUNT, ["--log", path]),
  ];
  try {
    await waitFor(() => workers.every((w) => w.started), { timeoutMs: 30_000 });
    const cut = WorkerProcess.spawn(proxy.url, "cut", COUNT, ["--log", path]);
    workers.push(cut);
    await waitFor(() => covered(workers, COUNT) && cut.partitions.length > 0, {
      timeoutMs: 20_000,
    });
    const held = cut.partitions.length;
    const cutAt = performance.now();
    log.append({ type: "MARK", label: "blackhole" });
    proxy.setMode("blackhole");
    const others = workers.filter((w) => w !== cut);
    await waitFor(() => cut.partitions.length === 0, { timeoutMs: 5_000, intervalMs: 5 });
    const fencedMs = performance.now() - cutAt;
    await waitFor(() => covered(others, COUNT), { timeoutMs: 10_000, intervalMs: 5 });
    const movedMs = performance.now() - cutAt;
    console.log(
      `silent partition: ${held} partitions released after ${fencedMs.toFixed(0)} ms, ` +
        `owned by others after ${movedMs.toFixed(0)} ms`,
    );
    assert.ok(fencedMs < movedMs);
    log.append({ type: "MARK", label: "heal" });
    proxy.setMode("pass");
    await waitFor(
      async () =>
        covered(workers, COUNT) && cut.partitions.length > 0 && await logCovers(path, COUNT),
      { timeoutMs: 20_000, message: "cut worker rejoined and got partitions back" },
    );
    const result = checkOwnershipLog(await readOwnershipLog(path), { expectCoverage: ids(COUNT) });
    report("silent partition audit", result);
    assert.deepEqual(result.violations, []);
    passed = true;
  } finally {
    await Promise.all(workers.map((w) => w.kill("SIGKILL")));
    log.close();
    if (passed) await Deno.remove(path).catch(() => {});
    else await keepEvidence(path, workers);
  }
});

Deno.test("a SIGSTOPped leader resumed after its lease releases first and publishes nothing", async () => {
  const COUNT = 60;
  const lease = presets.fastTest.electionLeaseMs!;
  await using server = await NatsServer.start();
  const { path, log } = await tempLog();
  const workers = Array.from(
    { length: 3 },
    () => WorkerProcess.spawn(server.url, "pause", COUNT, ["--log", path]),
  );
  try {
    await waitFor(() => covered(workers, COUNT) && workers.some((w) => w.isLeader), {
      timeoutMs: 30_000,
    });
    const leader = workers.find((w) => w.isLeader)!;
    const rest = workers.filter((w) => w !== leader);
    const epoch = leader.epoch;
    log.append({ type: "PAUSED", owner: String(leader.pid) });
    leader.signal("SIGSTOP");
    await waitFor(() => rest.some((w) => w.isLeader) && covered(rest, COUNT), {
      timeoutMs: 15_000,
      message: "a new leader reassigned everything",
    });
    const newEpoch = Math.max(...rest.map((w) => w.epoch));
    assert.ok(newEpoch > epoch);
    const versionBefore = Math.max(...rest.map((w) => w.version));
    log.append({ type: "RESUMED", owner: String(leader.pid) });
    leader.signal("SIGCONT");
    await waitFor(() => !leader.isLeader && leader.events.some((e) => e.event === "leadership"), {
      timeoutMs: 5_000,
    });
    // It fenced itself on resuming, rejoins, and gets partitions back through the hand-off. Its
    // last report before the pause still lists its old partitions: only a report from the new
    // epoch counts (else the log may be read mid hand-off, with partitions between two owners).
    await waitFor(
      async () =>
        covered(workers, COUNT) && leader.epoch >= newEpoch && leader.partitions.length > 0 &&
        await logCovers(path, COUNT),
      {
        timeoutMs: 15_000,
        message: "settled again with the resumed worker back in",
      },
    );
    const events = await readOwnershipLog(path);
    const resumedAt = events.findIndex((e) => e.type === "RESUMED");
    const stalePublications = events.slice(resumedAt).filter((e) =>
      e.type === "ACQUIRE" && e.epoch < newEpoch
    );
    assert.deepEqual(stalePublications, [], "nothing from the old epoch is acquired after resume");
    const result = checkOwnershipLog(events, { expectCoverage: ids(COUNT) });
    report("paused leader audit", result);
    assert.deepEqual(result.violations, []);
    // Everything applied since comes from the new epoch or later, and nothing went backwards.
    for (const w of workers) assert.ok(w.epoch >= newEpoch, `${w.workerId} on epoch ${w.epoch}`);
    assert.ok(Math.max(...workers.map((w) => w.version)) >= versionBefore);
    console.log(`paused leader: lease ${lease} ms, new epoch ${newEpoch}`);
  } finally {
    await Promise.all(workers.map((w) => w.kill("SIGKILL")));
    log.close();
    await Deno.remove(path).catch(() => {});
  }
});
