import assert from "node:assert/strict";
import { GroupAdmin, presets } from "../../mod.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import { connectTo } from "../helpers/pool.ts";
import { covered, ownersOf, WorkerProcess } from "../helpers/worker_process.ts";

const COUNT = 60;
const hbTtl = presets.fastTest.heartbeatTtlMs!;
const grace = presets.fastTest.emergencyGraceMs!;
const lease = presets.fastTest.electionLeaseMs!;

async function pool(
  url: string,
  group: string,
  n: number,
  extra: (i: number) => string[] = () => [],
) {
  const workers = Array.from(
    { length: n },
    (_, i) => WorkerProcess.spawn(url, group, COUNT, extra(i)),
  );
  await waitFor(() => workers.every((w) => w.started), {
    timeoutMs: 30_000,
    message: "workers started",
  });
  // Settled means every worker has its share: under load the last one may arrive after the
  // cold-start publication, and a planned rebalance then still moves partitions to it.
  await waitFor(
    () =>
      covered(workers, COUNT) && workers.filter((w) => w.isLeader).length === 1 &&
      workers.every((w) => w.partitions.length > 0),
    { timeoutMs: 20_000, message: "pool settled" },
  );
  // ...and no hand-off is still under way: the published assignment holds nothing back and every
  // worker has applied its published key (a kill mid-hand-off would make "what it held" a moving
  // target).
  const nc = await connectTo(url);
  try {
    await using admin = await GroupAdmin.open({ connection: nc, group });
    await waitFor(async () => {
      if ((await admin.topology()).pending !== 0) return false;
      const published = await admin.assignments();
      return workers.every((w) => {
        const key = published.get(w.workerId ?? "");
        return key !== undefined && w.version === key.version;
      });
    }, { timeoutMs: 20_000, message: "no hand-off pending and every key applied" });
  } finally {
    await nc.close();
  }
  return workers;
}

Deno.test("a SIGKILLed worker's partitions, and only those, move to the survivors", async () => {
  await using server = await NatsServer.start();
  const workers = await pool(server.url, "crash", 5);
  try {
    const victim = workers.find((w) => !w.isLeader)!;
    const survivors = workers.filter((w) => w !== victim);
    const before = new Map(survivors.map((w) => [w.workerId!, new Set(w.partitions)]));
    const orphaned = new Set(victim.partitions);
    const killedAt = performance.now();
    await victim.kill("SIGKILL");
    await waitFor(() => covered(survivors, COUNT), { timeoutMs: 15_000, intervalMs: 10 });
    const elapsed = performance.now() - killedAt;
    console.log(
      `crash failover (SIGKILL worker): ${elapsed.toFixed(0)} ms (TTL ${hbTtl} + grace ${grace})`,
    );
    for (const w of survivors) {
      const kept = before.get(w.workerId!)!;
      for (const p of kept) assert.ok(w.partitions.includes(p), `${w.workerId} kept ${p}`);
      for (const p of w.partitions) {
        assert.ok(kept.has(p) || orphaned.has(p), `${p} moved needlessly`);
      }
    }
    assert.ok(elapsed < hbTtl + grace + 3_000, `reassigned in ${elapsed} ms`);
  } finally {
    await Promise.all(workers.map((w) => w.kill("SIGKILL")));
  }
});

Deno.test("a SIGKILLed leader is replaced after the lease and coverage returns", async () => {
  await using server = await NatsServer.start();
  const workers = await pool(server.url, "leaderkill", 3);
  try {
    const leader = workers.find((w) => w.isLeader)!;
    const rest = workers.filter((w) => w !== leader);
    const epoch = Math.max(...rest.map((w) => w.epoch));
    const killedAt = performance.now();
    await leader.kill("SIGKILL");
    await waitFor(() => rest.some((w) => w.isLeader), { timeoutMs: 15_000, intervalMs: 10 });
    const elected = performance.now() - killedAt;
    await waitFor(() => covered(rest, COUNT), { timeoutMs: 15_000, intervalMs: 10 });
    const recovered = performance.now() - killedAt;
    console.log(
      `leader SIGKILL: new leader after ${elected.toFixed(0)} ms (lease ${lease}), ` +
        `full coverage after ${recovered.toFixed(0)} ms`,
    );
    // The last renewal was at most lease/3 before the kill; takeover waits a full lease after it.
    assert.ok(elected >= (lease * 2) / 3 - 50, "no takeover before the lease ran out");
    assert.ok(Math.max(...rest.map((w) => w.epoch)) > epoch, "the new leader's epoch is higher");
  } finally {
    await Promise.all(workers.map((w) => w.kill("SIGKILL")));
  }
});

Deno.test("a restarted process with the same instance name reclaims its ID and its partitions", async () => {
  await using server = await NatsServer.start();
  const workers = await pool(server.url, "reclaim", 3, (i) => ["--instance", `pod-${i}`]);
  const replacements: WorkerProcess[] = [];
  try {
    const victimIndex = workers.findIndex((w) => !w.isLeader);
    const victim = workers[victimIndex]!;
    const id = victim.workerId;
    const partitions = [...victim.partitions].sort();
    await victim.kill("SIGKILL");
    const again = WorkerProcess.spawn(server.url, "reclaim", COUNT, [
      "--instance",
      `pod-${victimIndex}`,
    ]);
    replacements.push(again);
    await waitFor(() => again.started, { timeoutMs: 20_000 });
    assert.equal(again.workerId, id);
    const live = [...workers.filter((w) => w !== victim), again];
    await waitFor(() => covered(live, COUNT), { timeoutMs: 15_000 });
    assert.deepEqual(
      [...again.partitions].sort(),
      partitions,
      "restart within the TTL moves nothing",
    );
    assert.equal([...ownersOf(live).values()].filter((o) => o.length > 1).length, 0);
  } finally {
    await Promise.all([...workers, ...replacements].map((w) => w.kill("SIGKILL")));
  }
});
