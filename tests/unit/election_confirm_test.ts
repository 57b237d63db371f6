/**
 * A lease won on a store whose compare-and-set is not serializable is confirmed before it is acted
 * on (`confirmWins`, on for replicated buckets). Found by the cluster fault test: after two of
 * three nodes were down, the followers' takeover requests that had waited for a stream leader
 * were processed together, and nats-server 2.9.10 accepted two compare-and-sets that expected the
 * same revision (nats-server#4320: the check was a pre-check, not part of consensus; fixed in
 * 2.9.21): two leaders of epoch 2, 9 ms apart. Here a bucket wrapper reproduces that server:
 * while its gate is closed, updates queue up; on opening, each is checked against the revision
 * the key had when the gate closed, and all that pass are written.
 */
import assert from "node:assert/strict";
import { RevisionConflictError } from "../../src/errors.ts";
import { Timers } from "../../src/runtime/timers.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket } from "../../src/store/store.ts";
import { LeaderElection } from "../../src/worker/election.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { faultyStore } from "../../testing/faulty_store.ts";

const LEASE_MS = 3_000;

/** The pre-check race of nats-server#4320, on demand (see the module doc). */
function racyBucket(inner: Bucket) {
  let gate: { revision: number; queue: (() => void)[] } | undefined;
  const bucket: Bucket = {
    ...inner,
    name: inner.name,
    watch: (o) => inner.watch(o),
    async update(key, value, revision) {
      if (gate === undefined) return await inner.update(key, value, revision);
      const g = gate;
      await new Promise<void>((resolve) => g.queue.push(resolve));
      if (revision !== g.revision) throw new RevisionConflictError(inner.name, key);
      return await inner.put(key, value); // applied without a second check
    },
  };
  return {
    bucket,
    async close(key: string) {
      gate = { revision: (await inner.get(key))?.revision ?? 0, queue: [] };
    },
    open() {
      const queue = gate?.queue ?? [];
      gate = undefined;
      for (const release of queue) release();
    },
    get queued() {
      return gate?.queue.length ?? 0;
    },
  };
}

async function race(confirmWins: boolean): Promise<string[]> {
  const clock = new FakeClock();
  const shared = memoryStore({ clock });
  const timers = new Timers(clock);
  const inner = await shared.bucket("leader", { ttlMs: 0 });
  const racy = racyBucket(inner);
  const changes: string[] = [];
  const make = (name: string, bucket: Bucket) =>
    new LeaderElection(bucket, {
      workerId: name,
      instance: `host-${name}`,
      nonce: `nonce-${name}`,
      leaseMs: LEASE_MS,
      timers,
      minEpoch: () => Promise.resolve(0),
      onChange: (isLeader, epoch) =>
        changes.push(`${name} ${isLeader ? "leads" : "stops"} ${epoch}`),
      onError: () => {},
      confirmWins,
    });
  // c leads on a path of its own, then is cut off: a and b, which observed its renewals at the
  // same instants, find the lease lapsed together and take it over by CAS together.
  const cStore = faultyStore(shared);
  const c = make("c", await cStore.bucket("leader", { ttlMs: 0 }));
  c.start();
  await clock.tickAsync(10);
  const a = make("a", racy.bucket);
  const b = make("b", racy.bucket);
  a.start();
  b.start();
  await clock.tickAsync(LEASE_MS);
  cStore.cut();
  await racy.close("leader");
  for (let t = 0; t < 2 * LEASE_MS && racy.queued < 2; t += 10) await clock.tickAsync(10);
  assert.equal(racy.queued, 2, "both takeovers are in flight together");
  racy.open();
  for (let t = 0; t < 2 * LEASE_MS; t += 10) await clock.tickAsync(10);
  await a.stop();
  await b.stop();
  cStore.heal();
  await c.stop();
  return changes.filter((x) => !x.startsWith("c "));
}

Deno.test("without confirmWins, two takeovers expecting the same revision both win on a racy store", async () => {
  const changes = await race(false);
  assert.equal(changes.filter((x) => x.endsWith("leads 2")).length, 2, changes.join("; "));
});

Deno.test("with confirmWins, only the takeover written last leads, and nobody else ever leads epoch 2", async () => {
  const changes = await race(true);
  const leads = changes.filter((x) => x.includes(" leads "));
  assert.equal(leads.length, 1, changes.join("; "));
  assert.match(leads[0]!, / leads 2$/);
});
