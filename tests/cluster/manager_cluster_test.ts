/**
 * The Manager on a 3-node JetStream cluster with replicated buckets (NATS_FACTS F14, profile C:
 * deadlines above the measured 4.4–7.1 s write outage of a stream-leader change). Slow (about a
 * minute), so it runs only with `deno task test:cluster` (PARTI_CLUSTER=1).
 */
import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Manager, recommendedConnectionOptions } from "../../mod.ts";
import { NatsCluster, waitFor } from "../../testing/mod.ts";
import { duplicates, makePartitions, waitForSettled } from "../helpers/pool.ts";

const profileC = {
  heartbeatIntervalMs: 1_000,
  heartbeatTtlMs: 12_000,
  workerIdTtlMs: 30_000,
  electionLeaseMs: 15_000,
  coldStartWindowMs: 1_000,
  plannedScaleWindowMs: 500,
  emergencyGraceMs: 1_000,
  minRebalanceIntervalMs: 500,
  operationTimeoutMs: 3_000,
  startupTimeoutMs: 60_000,
  kv: { replicas: 3 },
};

Deno.test({
  name: "killing a follower node or a bucket's stream leader changes no epoch and moves nothing",
  ignore: !Deno.env.get("PARTI_CLUSTER"),
  async fn() {
    await using cluster = await NatsCluster.start(3);
    const partitions = makePartitions(60);
    const connections = await Promise.all(
      [0, 1, 2].map(() => connect({ servers: cluster.urls, ...recommendedConnectionOptions })),
    );
    const managers = connections.map((nc) =>
      new Manager({ ...profileC, connection: nc, group: "cluster", source: partitions })
    );
    let doubles = 0;
    const probe = setInterval(() => (doubles += duplicates(managers).length), 10);
    try {
      await Promise.all(managers.map((m) => m.start()));
      await waitForSettled(managers, partitions, 30_000);
      // The pool is settled once the hand-off to the later joiners has finished too.
      await waitFor(() => managers.every((m) => m.assignment.partitions.length > 0), {
        timeoutMs: 30_000,
      });
      await waitForSettled(managers, partitions, 30_000);
      const epoch = Math.max(...managers.map((m) => m.assignment.epoch));
      const owners = new Map(managers.map((m) => [m.workerId, m.assignment.partitions.length]));
      const jsm = await jetstreamManager(connections[0]!);

      // 1. A follower of the heartbeat stream: no impact at all.
      const hbStream = "KV_parti_cluster_hb";
      const leaderName = async () => (await jsm.streams.info(hbStream)).cluster?.leader;
      const first = await leaderName();
      const followerNode = cluster.servers.find((s) => s.name !== first)!;
      await followerNode.kill();
      await new Promise((r) => setTimeout(r, 5_000)); // observation window
      await followerNode.restart();
      await cluster.waitReady();
      // 2. The stream leader of the heartbeat bucket: writes stall for seconds, below deadlines.
      const hbLeader = await leaderName();
      const node = cluster.servers.find((s) => s.name === hbLeader)!;
      await node.kill();
      await new Promise((r) => setTimeout(r, 10_000)); // observation window over the outage
      await node.restart();
      await cluster.waitReady();
      await waitForSettled(managers, partitions, 30_000);
      assert.equal(Math.max(...managers.map((m) => m.assignment.epoch)), epoch, "no new leader");
      for (const m of managers) {
        assert.equal(m.assignment.partitions.length, owners.get(m.workerId), "nothing moved");
      }
      assert.equal(doubles, 0);
    } finally {
      clearInterval(probe);
      await Promise.all(managers.map((m) => m.stop()));
      await Promise.all(connections.map((nc) => nc.close()));
    }
  },
});
