/**
 * A leader whose lease looked expired for a moment (an event-loop stall past the renew deadline)
 * and was then renewed by a late answer keeps its term: its decision loop must still publish.
 * Found at scale (`bench/scale.ts`, 100 workers × 10k partitions on a loaded machine): the loop
 * returned for good at the first `isLeader() === false`, the term kept a dead controller, and the
 * group got no publication for 30 s while that worker held the lease. On a fake clock.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../../src/config.ts";
import { createAssignmentEngine, weightedConsistentHash } from "../../src/engine/mod.ts";
import { LeaderTerm } from "../../src/leader/term.ts";
import type { PublicationInfo } from "../../src/leader/controller.ts";
import { presets } from "../../src/options.ts";
import { encode } from "../../src/protocol/records.ts";
import { Timers } from "../../src/runtime/timers.ts";
import { memoryStore } from "../../src/store/memory.ts";
import { FakeClock } from "../../testing/fake_clock.ts";

const partitions = Array.from({ length: 12 }, (_, i) => ({ keys: ["p", String(i)] }));

function heartbeat(): Uint8Array {
  return encode({
    instance: "host",
    nonce: "n",
    state: "running",
    appliedVersion: 0,
    owned: 0,
    ownedDigest: "",
    incarnation: "i",
  });
}

for (const when of ["at the start of the term", "after its first publication"] as const) {
  Deno.test(`a lease that looks expired ${when} and is renewed again does not stop the term's publications`, async () => {
    const clock = new FakeClock();
    const store = memoryStore({ clock });
    const config = resolveConfig({
      ...presets.fastTest,
      store,
      group: "lease",
      source: partitions,
      coldStartWindowMs: 0,
      plannedScaleWindowMs: 0,
      minRebalanceIntervalMs: 0,
    });
    const heartbeats = await store.bucket("hb", { ttlMs: config.heartbeatTtlMs });
    const assignments = await store.bucket("assign", { ttlMs: 0 });
    for (const id of ["worker-0", "worker-1"]) await heartbeats.put(id, heartbeat());
    let leaseValid = when === "after its first publication";
    const published: PublicationInfo[] = [];
    const errors: Error[] = [];
    const term = new LeaderTerm({
      config,
      heartbeats,
      assignments,
      engine: await createAssignmentEngine({ backend: "ts" }),
      strategy: weightedConsistentHash(),
      epoch: 1,
      timers: new Timers(clock),
      isLeader: () => leaseValid,
      onState: () => {},
      onWorkerJoined: () => {},
      onWorkerLeft: () => {},
      onPublished: (info) => void published.push(info),
      onError: (error) => void errors.push(error),
    });
    try {
      await clock.tickAsync(2_000);
      if (when === "after its first publication") {
        assert.ok(published.length > 0, "published while the lease was valid");
        leaseValid = false; // the stall: the renew deadline passed
        await clock.tickAsync(2_000);
        await heartbeats.put("worker-2", heartbeat()); // a change the leader must act on
        await clock.tickAsync(2_000);
      } else {
        assert.equal(published.length, 0, "nothing is published without a valid lease");
      }
      const before = published.length;
      leaseValid = true; // the late renewal answer: the lease is valid again, same term
      await heartbeats.put("worker-3", heartbeat());
      await clock.tickAsync(5_000);
      assert.ok(published.length > before, `published again (${published.length} in all)`);
      const last = await assignments.keys();
      assert.ok(last.includes("w.worker-3"), `worker-3 got its key: ${last.join(", ")}`);
      assert.deepEqual(errors, []);
    } finally {
      await term.stop();
    }
  });
}
