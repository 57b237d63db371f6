import assert from "node:assert/strict";
import { livenessCheckIntervalMs } from "../../src/runtime/cadence.ts";
import { Timers } from "../../src/runtime/timers.ts";
import { Membership } from "../../src/leader/membership.ts";
import { encode } from "../../src/protocol/records.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket } from "../../src/store/store.ts";
import { FakeClock } from "../../testing/fake_clock.ts";

const HEARTBEAT_TTL_MS = 3_000;
const CHECK_MS = livenessCheckIntervalMs({
  heartbeatIntervalMs: 1_000,
  heartbeatTtlMs: HEARTBEAT_TTL_MS,
  electionLeaseMs: 3_000,
  workerIdTtlMs: 60_000,
}); // 500

/** A heartbeat value as a worker writes it (not typed: the record is decoded, as on the wire). */
function heartbeat(owned = 0): Uint8Array {
  return encode({
    instance: "host-1",
    nonce: "n",
    state: "running",
    appliedEpoch: 1,
    appliedVersion: 1,
    owned,
    ownedDigest: "",
    incarnation: "i",
  });
}

async function setup() {
  const clock = new FakeClock();
  const store = memoryStore({ clock });
  const bucket: Bucket = await store.bucket("heartbeats", { ttlMs: HEARTBEAT_TTL_MS });
  const events: string[] = [];
  const errors: Error[] = [];
  const membership = new Membership(bucket, {
    heartbeatTtlMs: HEARTBEAT_TTL_MS,
    checkIntervalMs: CHECK_MS,
    timers: new Timers(clock),
    onJoin: (id) => events.push(`join ${id}@${clock.now()}`),
    onLeave: (id, reason) => events.push(`leave ${id} ${reason}@${clock.now()}`),
    onUpdate: (id) => events.push(`update ${id}@${clock.now()}`),
    onError: (error) => errors.push(error),
  });
  const ids = () => membership.members().map((m) => m.workerId).sort();
  return {
    clock,
    bucket,
    membership,
    events,
    errors,
    ids,
    [Symbol.dispose]() {
      membership.stop();
    },
  };
}

Deno.test("ready resolves once the initial heartbeats were seen, and members() lists them all", async () => {
  using t = await setup();
  for (const id of ["worker-0", "worker-1", "worker-2"]) await t.bucket.put(id, heartbeat());
  let ready = false;
  t.membership.start();
  void t.membership.ready.then(() => (ready = true));
  assert.equal(ready, false);
  assert.deepEqual(t.ids(), []);
  await t.membership.ready;
  assert.deepEqual(t.ids(), ["worker-0", "worker-1", "worker-2"]);
  assert.deepEqual(t.events, ["join worker-0@0", "join worker-1@0", "join worker-2@0"]);
  assert.equal(t.clock.now(), 0, "no fake time was needed");
  assert.equal(t.membership.get("worker-1")?.heartbeat.state, "running");
  assert.equal(t.membership.get("worker-1")?.observedAt, 0);
});

Deno.test("ready resolves at once when there are no heartbeats yet", async () => {
  using t = await setup();
  t.membership.start();
  await t.membership.ready;
  assert.deepEqual(t.ids(), []);
});

Deno.test("a heartbeat not observed for exactly heartbeatTtlMs is still alive; the next check declares it dead", async () => {
  using t = await setup();
  await t.bucket.put("worker-0", heartbeat());
  t.membership.start();
  await t.membership.ready;
  // Checks run at 500, 1000, ... 3000: at 3000 the heartbeat is exactly the TTL old, not older.
  await t.clock.tickAsync(HEARTBEAT_TTL_MS);
  assert.deepEqual(t.ids(), ["worker-0"]);
  await t.clock.tickAsync(CHECK_MS - 1);
  assert.deepEqual(t.ids(), ["worker-0"]);
  await t.clock.tickAsync(1);
  assert.deepEqual(t.ids(), []);
  assert.deepEqual(t.events, ["join worker-0@0", "leave worker-0 dead@3500"]);
});

Deno.test("a worker is declared dead at the first liveness check after heartbeatTtlMs without a new heartbeat, not before", async () => {
  using t = await setup();
  t.membership.start();
  await t.membership.ready;
  await t.clock.tickAsync(200);
  await t.bucket.put("worker-0", heartbeat());
  await t.clock.flush();
  assert.equal(t.membership.get("worker-0")?.observedAt, 200);
  // Dead once more than 3000 ms old (after 3200); the first check after that is at 3500.
  await t.clock.tickAsync(3_299);
  assert.equal(t.clock.now(), 3_499);
  assert.deepEqual(t.ids(), ["worker-0"]);
  await t.clock.tickAsync(1);
  assert.deepEqual(t.ids(), []);
  assert.deepEqual(t.events, ["join worker-0@200", "leave worker-0 dead@3500"]);
  // Dead once: later checks do not report it again.
  await t.clock.tickAsync(5_000);
  assert.equal(t.events.length, 2);
});

Deno.test("a deleted heartbeat key is a graceful leave at once", async () => {
  using t = await setup();
  await t.bucket.put("worker-0", heartbeat());
  await t.bucket.put("worker-1", heartbeat());
  t.membership.start();
  await t.membership.ready;
  await t.clock.tickAsync(100);
  await t.bucket.delete("worker-0");
  await t.clock.flush();
  assert.equal(t.clock.now(), 100);
  assert.deepEqual(t.ids(), ["worker-1"]);
  assert.deepEqual(t.events.slice(2), ["leave worker-0 graceful@100"]);
  // Deleting a key that is not a member reports nothing.
  await t.bucket.delete("worker-9");
  await t.clock.tickAsync(HEARTBEAT_TTL_MS + CHECK_MS);
  assert.deepEqual(t.events.slice(2), ["leave worker-0 graceful@100", "leave worker-1 dead@3500"]);
});

Deno.test("a worker whose heartbeat was deleted, even before the watch started, has departed; one that expired has not", async () => {
  using t = await setup();
  await t.bucket.put("worker-0", heartbeat());
  await t.bucket.delete("worker-0"); // a graceful stop before this leader watched
  await t.bucket.put("worker-1", heartbeat());
  t.membership.start();
  await t.membership.ready;
  assert.equal(t.membership.hasDeparted("worker-0"), true);
  assert.equal(t.membership.hasDeparted("worker-1"), false);
  assert.equal(t.membership.hasDeparted("worker-7"), false, "never seen: unknown, not departed");
  await t.bucket.put("worker-0", heartbeat()); // back again
  await t.clock.flush();
  assert.equal(t.membership.hasDeparted("worker-0"), false);
  await t.bucket.delete("worker-1");
  await t.clock.flush();
  assert.equal(t.membership.hasDeparted("worker-1"), true);
});

Deno.test("a new heartbeat revision resets the liveness timer", async () => {
  using t = await setup();
  await t.bucket.put("worker-0", heartbeat(0));
  t.membership.start();
  await t.membership.ready;
  await t.clock.tickAsync(2_000);
  await t.bucket.put("worker-0", heartbeat(4));
  await t.clock.flush();
  assert.equal(t.membership.get("worker-0")?.observedAt, 2_000);
  assert.equal(t.membership.get("worker-0")?.heartbeat.owned, 4);
  // Without the new revision it would be dead at 3500; now only after 5000, at the 5500 check.
  await t.clock.tickAsync(3_499);
  assert.equal(t.clock.now(), 5_499);
  assert.deepEqual(t.ids(), ["worker-0"]);
  await t.clock.tickAsync(1);
  assert.deepEqual(t.ids(), []);
  assert.deepEqual(t.events, [
    "join worker-0@0",
    "update worker-0@2000",
    "leave worker-0 dead@5500",
  ]);
});

Deno.test("refreshAll(grace) declares nobody dead during the grace and then judges from the refresh", async () => {
  using t = await setup();
  await t.bucket.put("worker-0", heartbeat());
  await t.bucket.put("worker-1", heartbeat());
  t.membership.start();
  await t.membership.ready;
  await t.clock.tickAsync(2_900);
  t.membership.refreshAll(5_000); // grace until 7900; both observed at 2900
  assert.deepEqual(t.membership.members().map((m) => m.observedAt), [2_900, 2_900]);
  // Without the grace they would be dead at the 6000 check (more than 3000 ms after 2900).
  await t.clock.tickAsync(5_099);
  assert.equal(t.clock.now(), 7_999);
  assert.deepEqual(t.ids(), ["worker-0", "worker-1"]);
  await t.clock.tickAsync(1);
  assert.deepEqual(t.ids(), []);
  assert.deepEqual(t.events.slice(2), ["leave worker-0 dead@8000", "leave worker-1 dead@8000"]);
});

Deno.test("refreshAll(0) treats every known worker as just observed", async () => {
  using t = await setup();
  await t.bucket.put("worker-0", heartbeat());
  t.membership.start();
  await t.membership.ready;
  await t.clock.tickAsync(2_900);
  t.membership.refreshAll(0);
  await t.clock.tickAsync(3_099); // 5999: the 6000 check is the first more than 3000 ms after 2900
  assert.deepEqual(t.ids(), ["worker-0"]);
  await t.clock.tickAsync(1);
  assert.deepEqual(t.ids(), []);
});

Deno.test("a malformed heartbeat is reported through onError and does not join", async () => {
  using t = await setup();
  await t.bucket.put("worker-0", new TextEncoder().encode("not json"));
  await t.bucket.put("worker-1", heartbeat());
  t.membership.start();
  await t.membership.ready;
  assert.deepEqual(t.ids(), ["worker-1"]);
  assert.equal(t.errors.length, 1);
  assert.equal((t.errors[0] as Error & { code?: string }).code, "MALFORMED_DATA");
});

Deno.test("stop() ends the watch and the liveness timer and resolves ready", async () => {
  const t = await setup();
  await t.bucket.put("worker-0", heartbeat());
  t.membership.start();
  assert.equal(t.clock.pending, 1);
  t.membership.stop();
  await t.membership.ready;
  assert.equal(t.clock.pending, 0);
  await t.bucket.put("worker-1", heartbeat());
  await t.clock.tickAsync(10_000);
  assert.ok(!t.events.some((e) => e.includes("worker-1")));
  assert.ok(!t.events.some((e) => e.includes("leave")));
});

Deno.test("a worker whose renewals the watch has not delivered is read back, not declared dead", async () => {
  const clock = new FakeClock();
  const store = memoryStore({ clock });
  const inner: Bucket = await store.bucket("lagging", { ttlMs: HEARTBEAT_TTL_MS });
  await inner.put("worker-0", heartbeat());
  // A watch that delivers the initial values and then lags behind (a busy leader's consumer).
  const lagging: Bucket = {
    ...inner,
    name: inner.name,
    get: (k) => inner.get(k),
    put: (k, v) => inner.put(k, v),
    watch(options) {
      const watch = inner.watch(options);
      return {
        initialized: watch.initialized,
        stop: () => watch.stop(),
        async *[Symbol.asyncIterator]() {
          let first = true;
          for await (const entry of watch) {
            if (first) yield entry;
            first = false;
          }
        },
      };
    },
  };
  const events: string[] = [];
  const membership = new Membership(lagging, {
    heartbeatTtlMs: HEARTBEAT_TTL_MS,
    checkIntervalMs: CHECK_MS,
    timers: new Timers(clock),
    onJoin: (id) => events.push(`join ${id}@${clock.now()}`),
    onLeave: (id, reason) => events.push(`leave ${id} ${reason}@${clock.now()}`),
    onUpdate: (id) => events.push(`update ${id}@${clock.now()}`),
    onError: () => {},
  });
  try {
    membership.start();
    await membership.ready;
    // The worker keeps renewing every second; the watch shows none of it.
    for (let t = 0; t < 6_000; t += 1_000) {
      await clock.tickAsync(1_000);
      await inner.put("worker-0", heartbeat(t));
    }
    assert.ok(!events.some((e) => e.startsWith("leave")), events.join(", "));
    assert.deepEqual(membership.members().map((m) => m.workerId), ["worker-0"]);
    // Once it really stops renewing it is dead: a TTL after its last revision was read back (a
    // read-back observes late, never early), plus a check.
    await clock.tickAsync(2 * HEARTBEAT_TTL_MS + CHECK_MS);
    assert.ok(events.some((e) => e.startsWith("leave worker-0 dead")), events.join(", "));
  } finally {
    membership.stop();
  }
});
