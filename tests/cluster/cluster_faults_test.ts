/**
 * Node failures of a 3-node JetStream cluster under a pool of worker processes (NATS_FACTS (c)
 * F14), audited offline like the single-server fault tests: three fixture processes (release
 * hooks of 0-300 ms), each connected first to a different node (`noRandomize`), buckets with
 * `replicas: 3`, one shared O_APPEND ownership log. Three faults in a row, each healed before the
 * next:
 *
 * 1. SIGKILL the node that leads the most of the group's four KV streams (their raft leaders):
 *    writes to those streams stall until the other two elect new leaders (4-10 s on nats-server
 *    2.9.10), then the node is restarted and catches up.
 * 2. SIGKILL the node the LEADER worker is connected to (from its last `server` report): its
 *    connection fails over to another node while that node is gone.
 * 3. SIGKILL two of the three nodes (no quorum: writes time out, reads may still answer) for
 *    {@link NO_QUORUM_MS}, longer than every TTL of profile CF (heartbeat 8 s, lease and ID 10 s),
 *    then restart both.
 *
 * Profile CF is deliberately shorter than the cluster profile C of `manager_cluster_test.ts`, so
 * that the no-quorum outage outlasts every TTL within the file's time budget; a stream-leader
 * change may therefore fence workers or end a term (churn is allowed and reported, not asserted:
 * profile C's "nothing moves" is `manager_cluster_test.ts`'s promise). Asserted: the auditor finds
 * no double ownership and one leader per epoch over the whole run (I1-I3); with one node down the
 * heartbeats are written again and the pool settles without it; after each restart the pool is
 * settled (full coverage, one leader, all stable) within {@link RECOVERY_BOUND_MS} (measured on a
 * loaded 2-core host: 1-34 s from a one-node kill to writes resumed and settled, 0.3-10 s from
 * its restart to settled; 6-19 s from the no-quorum restart to settled).
 *
 * Found by this test and fixed in the library, each with a unit test on the fake clock: once
 * quorum returned, the takeover requests that had waited for a stream leader were processed
 * together, and nats-server 2.9.10 accepted several compare-and-sets that expected the same
 * revision (nats-server#4320, fixed in 2.9.21): two or three leaders of one epoch. A lease won
 * on replicated buckets is now confirmed by an immediate renewal before it is acted on
 * (`confirmWins`, `tests/unit/election_confirm_test.ts`), and followers back off with jitter
 * while their requests fail (`tests/unit/election_backoff_test.ts`). And a worker whose ID
 * renewal conflicted, whose read then said "absent" and whose create conflicted with its own
 * landed write declared its ID taken over and stopped for good; it now needs another holder's
 * value as evidence; the same race on a fresh ID claim (a pool starting at once) is closed the
 * same way, by confirming a claim just won (`tests/unit/stable_id_renew_test.ts`).
 *
 * It starts three nats-servers and kills nodes, so it runs in `deno task test:cluster`
 * (PARTI_CLUSTER=1); inside the parallel `deno task test` it is skipped.
 */
import assert from "node:assert/strict";
import { jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { NatsCluster, waitFor } from "../../testing/mod.ts";
import type { NatsServer } from "../../testing/nats_server.ts";
import { sleep } from "../../testing/wait.ts";
import { AuditedPool, perWorker, total } from "../helpers/audited_pool.ts";
import type { WorkerProcess } from "../helpers/worker_process.ts";

const GROUP = "cfaults";
const COUNT = 30;
const STREAMS = ["ids", "hb", "leader", "assign"].map((b) => `KV_parti_${GROUP}_${b}`);
/** Longer than every TTL of profile CF. */
const NO_QUORUM_MS = 12_000;
/** From a node's restart to a settled pool. */
const RECOVERY_BOUND_MS = 40_000;

/** Profile CF (see the module doc). */
const profileCF = {
  heartbeatIntervalMs: 1_000,
  heartbeatTtlMs: 8_000,
  workerIdTtlMs: 10_000,
  electionLeaseMs: 10_000,
  emergencyGraceMs: 1_000,
  coldStartWindowMs: 1_000,
  plannedScaleWindowMs: 500,
  minRebalanceIntervalMs: 500,
  operationTimeoutMs: 3_000,
  startupTimeoutMs: 60_000,
  kv: { replicas: 3 },
};

/** Every parti stream has a leader and both replicas are current: the cluster caught up. */
async function streamsCaughtUp(jsm: JetStreamManager): Promise<boolean> {
  for (const name of STREAMS) {
    const cluster = (await jsm.streams.info(name)).cluster;
    if (!cluster?.leader) return false;
    if ((cluster.replicas ?? []).length !== 2) return false;
    if (!(cluster.replicas ?? []).every((r) => r.current && !r.offline)) return false;
  }
  return true;
}

/** The server a worker reported being connected to last (`host:port`). */
function serverOf(worker: WorkerProcess): string | undefined {
  return worker.events.findLast((e) => e.event === "server")?.server as string | undefined;
}

Deno.test({
  name:
    "cluster faults (stream leaders' node, the leader worker's node, 2 of 3 nodes past every TTL) own nothing twice and recover",
  ignore: !Deno.env.get("PARTI_CLUSTER"),
  async fn() {
    const t0 = performance.now();
    const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    await using cluster = await NatsCluster.start(3);
    const pool = await AuditedPool.open({
      group: GROUP,
      count: COUNT,
      probeServers: cluster.urls,
    });
    const args = ["--timing", JSON.stringify(profileCF), "--connect", '{"noRandomize":true}'];
    const nodeAt = (hostPort: string | undefined): NatsServer | undefined =>
      cluster.servers.find((s) =>
        hostPort !== undefined && s.url.endsWith(`:${hostPort.split(":").at(-1)}`)
      );
    const figures: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const urls = [0, 1, 2].map((k) => cluster.urls[(i + k) % 3]!);
        pool.spawn({ url: urls, args });
      }
      await waitFor(() => pool.workers.every((w) => w.started), {
        timeoutMs: 60_000,
        message: "workers started",
      });
      await waitFor(() => pool.settled(), { timeoutMs: 30_000, message: "pool settled" });
      console.log(`cluster faults: pool settled after ${elapsed()}`);
      const jsm = await jetstreamManager(pool.probe);
      const hb = await new Kvm(jetstream(pool.probe, { timeout: 2_000 })).open(`parti_${GROUP}_hb`);
      const revisions = () =>
        Promise.all(pool.workers.map(async (w) => (await hb.get(w.workerId!))?.revision ?? 0));
      const caughtUp = async (what: string) =>
        await waitFor(() => streamsCaughtUp(jsm), {
          timeoutMs: 30_000,
          intervalMs: 100,
          message: `streams caught up after ${what}`,
        });
      const phase = async (
        name: string,
        victims: readonly NatsServer[],
        outageMs?: number,
      ): Promise<void> => {
        const from = await pool.snapshot(`FAULT_START ${name}`);
        const before = await revisions();
        const killedAt = performance.now();
        await Promise.all(victims.map((v) => v.kill()));
        let settledDownMs: number | undefined;
        if (outageMs === undefined) {
          // One node down: the other two carry on. Writes resume (every worker's heartbeat
          // advances: new stream leaders, connections moved), and the pool settles without it.
          const base = before;
          await waitFor(async () => (await revisions()).every((r, i) => r > base[i]!), {
            timeoutMs: RECOVERY_BOUND_MS,
            intervalMs: 100,
            message: `heartbeats written with ${victims.map((v) => v.name)} down`,
          });
          await waitFor(() => pool.settled(), {
            timeoutMs: RECOVERY_BOUND_MS,
            intervalMs: 20,
            message: `settled with ${victims.map((v) => v.name)} down`,
          });
          settledDownMs = performance.now() - killedAt;
        } else {
          await sleep(outageMs); // the outage itself
        }
        await Promise.all(victims.map((v) => v.restart()));
        const restartedAt = performance.now();
        pool.mark(`FAULT_END ${name}`);
        await caughtUp(name);
        await waitFor(() => pool.settled(), {
          timeoutMs: RECOVERY_BOUND_MS,
          intervalMs: 20,
          message: `settled after restarting ${victims.map((v) => v.name)}`,
        });
        const recoveredMs = performance.now() - restartedAt;
        const c = await pool.counts(from);
        const line = `${name}: killed ${victims.map((v) => v.name).join("+")}` +
          (settledDownMs !== undefined
            ? `, writes resumed and settled without it after ${settledDownMs.toFixed(0)} ms`
            : `, down ${outageMs} ms`) +
          `; settled ${recoveredMs.toFixed(0)} ms after the restart; publications ` +
          `${c.publications}, new terms ${c.leaderStarts}, fences ${perWorker(c.fences)}, ` +
          `releases ${total(c.releases)}, errors ${perWorker(c.errors)} (at ${elapsed()})`;
        console.log(line);
        figures.push(line);
        assert.ok(recoveredMs <= RECOVERY_BOUND_MS);
      };

      // 1. The node leading the most parti streams.
      const leaders = await Promise.all(
        STREAMS.map(async (s) => (await jsm.streams.info(s)).cluster?.leader),
      );
      const led = cluster.servers.map((s) => leaders.filter((l) => l === s.name).length);
      const raftHost = cluster.servers[led.indexOf(Math.max(...led))]!;
      console.log(`stream leaders: ${STREAMS.map((s, i) => `${s}@${leaders[i]}`).join(" ")}`);
      await phase(`stream leaders' node (${Math.max(...led)} of 4)`, [raftHost]);

      // 2. The node the leader worker is connected to.
      const leader = pool.leader!;
      const leaderNode = nodeAt(serverOf(leader));
      assert.ok(leaderNode, `the leader's server ${serverOf(leader)} is a node of the cluster`);
      await phase(`leader worker's node (${leader.workerId} on ${leaderNode.name})`, [leaderNode]);

      // 3. Two of three nodes, past every TTL.
      const survivorNode = cluster.servers.find((s) => s !== leaderNode)!;
      await phase(
        "no quorum",
        cluster.servers.filter((s) => s !== survivorNode),
        NO_QUORUM_MS,
      );

      await pool.audit("cluster faults audit");
      console.log(`cluster faults done after ${elapsed()}`);
      pool.passed = true;
    } finally {
      await pool.close();
    }
  },
});
