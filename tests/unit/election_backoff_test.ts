/**
 * A candidate whose requests fail backs off (`retryDelayMs` in `src/runtime/cadence.ts`): during
 * an outage a leader retries its renewal with an exponential back-off until its renew deadline,
 * and a follower that cannot reach the store does not campaign at its check interval either, but
 * after a jittered back-off (half to all of the same capped delay, at most half a lease), even
 * when its watch wakes it; its failures are reported once per cause. Found by the error-flood
 * fault test (a NATS outage): every worker campaigned every `followerCheckIntervalMs` (250 ms)
 * for the whole outage; and by the cluster fault test, where all followers took the lease over in
 * step once quorum returned, and nats-server 2.9.10 accepted three compare-and-sets with the same
 * expected revision (nats-server#4320, fixed in 2.9.21): three leaders of one epoch.
 */
import assert from "node:assert/strict";
import { followerCheckIntervalMs, RETRY_BACKOFF } from "../../src/runtime/cadence.ts";
import { Timers } from "../../src/runtime/timers.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket } from "../../src/store/store.ts";
import { LeaderElection } from "../../src/worker/election.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { faultyStore } from "../../testing/faulty_store.ts";

const LEASE_MS = 3_000;

/** Counts every operation on `bucket` (attempts, whether they fail or not). */
function counting(bucket: Bucket, count: { n: number }): Bucket {
  const c = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => (...a: A) => {
    count.n++;
    return f(...a);
  };
  return {
    name: bucket.name,
    create: c((k, v) => bucket.create(k, v)),
    update: c((k, v, r) => bucket.update(k, v, r)),
    put: c((k, v) => bucket.put(k, v)),
    get: c((k) => bucket.get(k)),
    delete: c((k, o) => bucket.delete(k, o)),
    keys: c(() => bucket.keys()),
    status: c(() => bucket.status()),
    watch: (o) => bucket.watch(o),
  };
}

Deno.test("during a 10 s outage a leader and a follower back off: a handful of attempts each, one report per cause", async () => {
  const clock = new FakeClock();
  const shared = memoryStore({ clock });
  const timers = new Timers(clock);
  const make = async (name: string) => {
    const store = faultyStore(shared);
    const count = { n: 0 };
    const errors: Error[] = [];
    const changes: string[] = [];
    const election = new LeaderElection(
      counting(await store.bucket("leader", { ttlMs: 0 }), count),
      {
        workerId: name,
        instance: `host-${name}`,
        nonce: `nonce-${name}`,
        leaseMs: LEASE_MS,
        timers,
        minEpoch: () => Promise.resolve(0),
        onChange: (isLeader, epoch) => changes.push(`${isLeader ? "leader" : "follower"} ${epoch}`),
        onError: (error) => errors.push(error),
        random: () => 0.5, // the back-off's jitter: 3/4 of each delay
      },
    );
    return { name, store, count, errors, changes, election };
  };
  const a = await make("a");
  const b = await make("b");
  a.election.start();
  await clock.flush();
  b.election.start();
  await clock.tickAsync(100);
  assert.ok(a.election.isLeader);
  // b has observed the lease for a whole lease: it would take it over as soon as it lapses.
  await clock.tickAsync(LEASE_MS);
  a.store.cut();
  b.store.cut();
  a.count.n = 0;
  b.count.n = 0;
  const outageMs = 10_000;
  for (let t = 0; t < outageMs; t += 10) await clock.tickAsync(10);
  console.log(
    `attempts in ${outageMs} ms: leader ${a.count.n}, follower ${b.count.n}; reports ` +
      `${a.errors.length} / ${b.errors.length}; changes ${a.changes.join(",")} / ` +
      `${b.changes.join(",")}`,
  );
  // Without back-off: one attempt per follower check, 10000 / 250 = 40. With it: the delays
  // double from 50 ms up to 1 s, each jittered to 3/4 here.
  const steady = Math.ceil(outageMs / (0.75 * RETRY_BACKOFF.maxMs));
  const rampUp = Math.ceil(Math.log2(RETRY_BACKOFF.maxMs / RETRY_BACKOFF.initialMs)) + 1;
  for (const c of [a, b]) {
    assert.ok(c.count.n <= steady + rampUp + 2, `${c.name}: ${c.count.n} attempts`);
    assert.ok(c.errors.length <= 2, `${c.name}: ${c.errors.map((e) => e.message)}`);
  }
  assert.ok(followerCheckIntervalMs({ electionLeaseMs: LEASE_MS }) < RETRY_BACKOFF.maxMs);
  a.store.heal();
  b.store.heal();
  for (let t = 0; t < 2 * LEASE_MS; t += 10) await clock.tickAsync(10);
  assert.equal([a, b].filter((c) => c.election.isLeader).length, 1, "one leader again");
  await a.election.stop();
  await b.election.stop();
});
