import assert from "node:assert/strict";
import {
  followerCheckIntervalMs,
  leaseRenewDeadlineMs,
  leaseRenewIntervalMs,
} from "../../src/runtime/cadence.ts";
import { Timers } from "../../src/runtime/timers.ts";
import { LEADER_KEY } from "../../src/protocol/keys.ts";
import { decodeLeader, encode, MAX_COUNTER } from "../../src/protocol/records.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket } from "../../src/store/store.ts";
import { LeaderElection } from "../../src/worker/election.ts";
import { MalformedDataError, OperationTimeoutError } from "../../src/errors.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { type FaultyStore, faultyStore } from "../../testing/faulty_store.ts";

const LEASE_MS = 3_000;
const RENEW_MS = leaseRenewIntervalMs({ electionLeaseMs: LEASE_MS }); // 1000
const RENEW_DEADLINE_MS = leaseRenewDeadlineMs({ electionLeaseMs: LEASE_MS }); // 2000
const FOLLOWER_CHECK_MS = followerCheckIntervalMs({ electionLeaseMs: LEASE_MS }); // 250
const BUCKET = { ttlMs: 0 };

interface Candidate {
  readonly name: string;
  readonly election: LeaderElection;
  /** This candidate's own path to the shared store: cut it to fail its writes. */
  readonly store: FaultyStore;
  /** `leader <epoch>@<time>` and `follower <epoch>@<time>`, from onChange. */
  readonly changes: string[];
  readonly errors: Error[];
}

interface SetupOptions {
  /** Each candidate's `minEpoch`. @default {() => Promise.resolve(0)} */
  readonly minEpoch?: (name: string) => Promise<number>;
}

async function setup(names: string[], options: SetupOptions = {}) {
  const clock = new FakeClock();
  const shared = memoryStore({ clock });
  const bucket: Bucket = await shared.bucket("leader", BUCKET);
  // Every revision of the lease and the fake time it was written at, seen from outside.
  const writes: string[] = [];
  const watch = bucket.watch({ key: LEADER_KEY });
  void (async () => {
    for await (const entry of watch) {
      let record;
      try {
        record = entry.operation === "put"
          ? decodeLeader("leader", LEADER_KEY, entry.value)
          : undefined;
      } catch {
        writes.push(`malformed@${clock.now()}`);
        continue;
      }
      writes.push(
        `${record?.workerId ?? "-"} ${record?.epoch ?? 0}${record?.released ? " released" : ""}` +
          `@${clock.now()}`,
      );
    }
  })();
  const timers = new Timers(clock);
  const candidates = new Map<string, Candidate>();
  for (const name of names) {
    const store = faultyStore(shared);
    const changes: string[] = [];
    const errors: Error[] = [];
    const election = new LeaderElection(await store.bucket("leader", BUCKET), {
      workerId: name,
      instance: `host-${name}`,
      nonce: `nonce-${name}`,
      leaseMs: LEASE_MS,
      timers,
      minEpoch: () => options.minEpoch?.(name) ?? Promise.resolve(0),
      onChange: (isLeader, epoch) =>
        changes.push(`${isLeader ? "leader" : "follower"} ${epoch}@${clock.now()}`),
      onError: (error) => errors.push(error),
    });
    candidates.set(name, { name, election, store, changes, errors });
  }
  const get = (name: string): Candidate => candidates.get(name)!;
  const leaders = () => [...candidates.values()].filter((c) => c.election.isLeader);

  return {
    clock,
    bucket,
    writes,
    get,
    leaders,
    /** Starts a candidate and lets its first campaign run. */
    async start(name: string): Promise<Candidate> {
      get(name).election.start();
      await clock.flush();
      return get(name);
    },
    /**
     * Moves time in small steps, checking after each that at most one candidate acts as leader.
     */
    async advance(ms: number, step = 10): Promise<void> {
      for (let left = ms; left > 0; left -= step) {
        await clock.tickAsync(Math.min(step, left));
        assert.ok(
          leaders().length <= 1,
          `two leaders at ${clock.now()}: ${leaders().map((c) => c.name)}`,
        );
      }
    },
    /** Moves time to an absolute fake time. */
    async advanceTo(time: number): Promise<void> {
      await this.advance(time - clock.now());
    },
    async [Symbol.asyncDispose](): Promise<void> {
      for (const candidate of candidates.values()) {
        // Settle every campaign first: stop() during one waits a period (see the ignored test).
        await clock.flush();
        await candidate.election.stop();
      }
      watch.stop();
    },
  };
}

Deno.test("the cadence of a 3 s lease: renew every 1 s, give up after 2 s, followers check every 250 ms", () => {
  assert.deepEqual([RENEW_MS, RENEW_DEADLINE_MS, FOLLOWER_CHECK_MS], [1_000, 2_000, 250]);
});

Deno.test("the first candidate becomes leader with epoch 1 and the others follow it while it renews", async () => {
  await using t = await setup(["a", "b", "c"]);
  const a = await t.start("a");
  assert.equal(a.election.isLeader, true);
  assert.equal(a.election.epoch, 1);
  assert.deepEqual(a.changes, ["leader 1@0"]);
  const b = await t.start("b");
  const c = await t.start("c");
  await t.advance(10_000, 50);
  assert.deepEqual(t.leaders().map((x) => x.name), ["a"]);
  for (const follower of [b, c]) {
    assert.equal(follower.election.isLeader, false);
    assert.equal(follower.election.epoch, 0);
    assert.equal(follower.election.observedLeader?.workerId, "a");
    assert.equal(follower.election.maxEpochSeen, 1);
    assert.deepEqual(follower.changes, []);
  }
  // One create, then one renewal per second.
  assert.equal(t.writes.length, 11);
  assert.deepEqual(t.writes.slice(0, 3), ["a 1@0", "a 1@1000", "a 1@2000"]);
  assert.deepEqual([a.errors, b.errors, c.errors], [[], [], []]);
});

Deno.test("a follower takes over only after observing no renewal for the whole lease", async () => {
  await using t = await setup(["a", "b"]);
  await t.start("a");
  const b = await t.start("b");
  await t.advanceTo(1_500);
  t.get("a").store.cut();
  await t.advanceTo(1_000 + LEASE_MS - 1);
  assert.equal(t.writes.at(-1), "a 1@1000", "the last renewal B observed was at 1000");
  assert.equal(b.election.isLeader, false, "not at lease - 1 after the last observed revision");
  await t.advance(1 + FOLLOWER_CHECK_MS);
  assert.equal(b.election.isLeader, true, "by lease + one follower check");
  assert.equal(b.election.epoch, 2);
  const [change] = b.changes;
  const at = Number(change?.split("@")[1]);
  assert.ok(at >= 1_000 + LEASE_MS && at <= 1_000 + LEASE_MS + FOLLOWER_CHECK_MS, change);
  assert.equal(t.writes.at(-1), `b 2@${at}`);
});

Deno.test("a candidate that starts while a lease is held observes it for a whole lease before taking it over", async () => {
  await using t = await setup(["a", "b"]);
  await t.start("a");
  t.get("a").store.cut(); // the lease written at 0 is never renewed
  await t.advanceTo(500);
  const b = await t.start("b");
  // The lease is older than a lease by 3000, but B first saw it at 500.
  await t.advanceTo(500 + LEASE_MS - 1);
  assert.equal(b.election.isLeader, false);
  await t.advance(1 + FOLLOWER_CHECK_MS);
  assert.equal(b.election.isLeader, true);
  assert.equal(b.election.epoch, 2);
});

Deno.test("a leader whose renewals fail stops acting as leader at the renew deadline, before a follower can take over", async () => {
  await using t = await setup(["a", "b"]);
  const a = await t.start("a");
  const b = await t.start("b");
  await t.advanceTo(1_500);
  a.store.cut(); // the renewal due at 2000 fails; the last successful one started at 1000
  await t.advanceTo(1_000 + RENEW_DEADLINE_MS - 1);
  assert.equal(a.election.isLeader, true);
  assert.ok(a.errors.length > 0, "the failed renewals were reported");
  assert.ok(
    a.errors.every((e) => (e as Error & { code?: string }).code === "COORDINATION_UNAVAILABLE"),
  );
  await t.clock.tickAsync(1);
  assert.equal(
    a.election.isLeader,
    false,
    "no longer leader at the renew deadline by its own clock",
  );
  assert.equal(a.election.leaseValid(), false);
  assert.deepEqual(a.changes, ["leader 1@0", "follower 1@3000"]);
  assert.equal(b.election.isLeader, false, "the follower is still waiting out the lease");
  await t.advanceTo(1_000 + LEASE_MS + FOLLOWER_CHECK_MS);
  assert.equal(b.election.isLeader, true);
  assert.equal(a.election.isLeader, false);
  // Healed, the old leader sees the new one and stays a follower.
  a.store.heal();
  await t.advance(2 * LEASE_MS, 50);
  assert.deepEqual(t.leaders().map((x) => x.name), ["b"]);
  assert.equal(a.election.observedLeader?.workerId, "b");
  assert.deepEqual(a.changes, ["leader 1@0", "follower 1@3000"]);
});

Deno.test("a graceful stop() releases the lease and a follower takes over at once", async () => {
  await using t = await setup(["a", "b"]);
  const a = await t.start("a");
  const b = await t.start("b");
  await t.advanceTo(1_500);
  await a.election.stop();
  await t.clock.flush();
  assert.equal(t.clock.now(), 1_500, "without waiting any fake time");
  assert.deepEqual(a.changes, ["leader 1@0", "follower 1@1500"]);
  assert.equal(b.election.isLeader, true);
  assert.equal(b.election.epoch, 2);
  assert.deepEqual(b.changes, ["leader 2@1500"]);
  assert.deepEqual(t.writes.slice(-2), ["a 1 released@1500", "b 2@1500"]);
});

Deno.test("a follower's stop() leaves the lease alone and every candidate stopped leaves no timer", async () => {
  const t = await setup(["a", "b"]);
  try {
    await t.start("a");
    const b = await t.start("b");
    await t.advanceTo(500);
    const writes = t.writes.length;
    await b.election.stop();
    await t.clock.flush();
    assert.equal(t.writes.length, writes);
    await t.get("a").election.stop();
    await t.clock.flush();
    assert.equal(t.clock.pending, 0);
  } finally {
    await t[Symbol.asyncDispose]();
  }
});

Deno.test("epochs increase by one per takeover, whether by release or by lease expiry", async () => {
  await using t = await setup(["a", "b", "c"]);
  await t.start("a");
  await t.start("b");
  await t.start("c");
  await t.advanceTo(1_500);
  await t.get("a").election.stop();
  await t.advance(100);
  const [second] = t.leaders();
  assert.ok(second, "one of the followers took over the released lease");
  assert.equal(second.election.epoch, 2);
  // Now the second leader is cut off; the third candidate takes over after a lease.
  second.store.cut();
  await t.advance(LEASE_MS + RENEW_MS + FOLLOWER_CHECK_MS, 50);
  const [third] = t.leaders();
  assert.ok(third && third !== second);
  assert.equal(third.election.epoch, 3);
  const gained = ["a", "b", "c"].flatMap((name) => t.get(name).changes)
    .filter((change) => change.startsWith("leader"))
    .map((change) => Number(change.split(" ")[1]?.split("@")[0]));
  assert.deepEqual(gained.sort(), [1, 2, 3]);
});

Deno.test("a new term is numbered above minEpoch and above every epoch seen in the lease", async () => {
  await using t = await setup(["a", "b"], { minEpoch: () => Promise.resolve(41) });
  const a = await t.start("a");
  assert.equal(a.election.epoch, 42);
  await t.start("b");
  await a.election.stop();
  await t.clock.flush();
  assert.equal(t.get("b").election.epoch, 43);
});

Deno.test("a leader that sees someone else write the lease steps down at once", async () => {
  await using t = await setup(["a"]);
  const a = await t.start("a");
  await t.advanceTo(1_200);
  await t.bucket.put(
    LEADER_KEY,
    encode({ workerId: "x", instance: "host-x", nonce: "nonce-x", epoch: 7, leaseMs: LEASE_MS }),
  );
  await t.clock.flush();
  assert.equal(a.election.isLeader, false);
  assert.deepEqual(a.changes, ["leader 1@0", "follower 1@1200"]);
  assert.equal(a.election.observedLeader?.workerId, "x");
  // The foreign lease is never renewed: A takes it back after a whole lease, above its epoch.
  await t.advanceTo(1_200 + LEASE_MS - 1);
  assert.equal(a.election.isLeader, false);
  await t.advance(1 + FOLLOWER_CHECK_MS);
  assert.equal(a.election.isLeader, true);
  assert.equal(a.election.epoch, 8);
});

// stop() aborts the loop while a campaign awaits minEpoch(); the loop must not sleep again after.
Deno.test({
  name: "stop() returns without waiting even when called while a campaign is in flight",
  fn: async () => {
    const epoch = Promise.withResolvers<number>();
    await using t = await setup(["a"], { minEpoch: () => epoch.promise });
    const a = await t.start("a"); // campaigning: waiting for minEpoch()
    let stopped = false;
    const stopping = a.election.stop().then(() => (stopped = true));
    epoch.resolve(0);
    await t.clock.flush();
    try {
      assert.equal(stopped, true, "stop() is still waiting for the loop's sleep");
    } finally {
      await t.clock.tickAsync(RENEW_MS); // let the loop end either way
      await stopping;
    }
  },
});

// A store that keeps failing gets back-off, not a retry every millisecond, and one report.
Deno.test({
  name: "a leader retries failed renewals with back-off, not every millisecond",
  fn: async () => {
    await using t = await setup(["a"]);
    const a = await t.start("a");
    await t.advanceTo(1_500);
    a.store.cut();
    await t.advanceTo(1_000 + RENEW_DEADLINE_MS);
    assert.equal(a.election.isLeader, false);
    assert.equal(a.errors.length, 1, `${a.errors.length} reports of one failing streak`);
  },
});

Deno.test("a leader whose renewal hangs steps down at the renew deadline by its own timer", async () => {
  const clock = new FakeClock();
  const shared = memoryStore({ clock });
  const inner = await shared.bucket("leader", BUCKET);
  let hang = false;
  const bucket: Bucket = {
    ...inner,
    name: inner.name,
    update: (k, v, r) => (hang ? new Promise<number>(() => {}) : inner.update(k, v, r)),
    watch: (o) => inner.watch(o),
    create: (k, v) => inner.create(k, v),
    get: (k) => inner.get(k),
    put: (k, v) => inner.put(k, v),
    delete: (k, o) => inner.delete(k, o),
    keys: () => inner.keys(),
    status: () => inner.status(),
  };
  const changes: string[] = [];
  const errors: Error[] = [];
  const election = new LeaderElection(bucket, {
    workerId: "a",
    instance: "host-a",
    nonce: "nonce-a",
    leaseMs: LEASE_MS,
    timers: new Timers(clock),
    minEpoch: () => Promise.resolve(0),
    onChange: (isLeader, epoch) =>
      changes.push(`${isLeader ? "leader" : "follower"} ${epoch}@${clock.now()}`),
    onError: (error) => errors.push(error),
  });
  election.start();
  await clock.flush();
  assert.deepEqual(changes, ["leader 1@0"]);
  hang = true; // the renewal due at 1000 never answers
  for (let t = 0; t < RENEW_DEADLINE_MS - 1; t += 1) await clock.tickAsync(1);
  assert.equal(election.isLeader, true);
  await clock.tickAsync(1);
  assert.deepEqual(changes, ["leader 1@0", `follower 1@${RENEW_DEADLINE_MS}`]);
  assert.equal(election.isLeader, false);
  assert.ok(errors.some((e) => e instanceof OperationTimeoutError), "the hung renewal is reported");
  hang = false;
  const stopping = election.stop();
  await clock.tickAsync(LEASE_MS);
  await stopping;
});

/** A lease as a forger would write it: never renewed, from a worker that does not exist. */
function forgedLease(epoch: number): Uint8Array {
  return encode({ workerId: "x", instance: "host-x", nonce: "nonce-x", epoch, leaseMs: LEASE_MS });
}

/**
 * The rule (`MAX_COUNTER` in records.ts): epochs run from 0 to 2^52. A lease above it is malformed
 * (reported once, foreign, taken over after a lease); one at exactly 2^52 is well-formed but has no
 * successor, so it is reported once and a new term is numbered from the highest epoch below it.
 */
const noSuccessor = (where: string) =>
  `Ignoring malformed value at 'leader/leader': epoch ${MAX_COUNTER} ${where} is 2^52, the ` +
  "largest a record may carry, and has no successor; new terms are numbered from the highest " +
  "epoch below it";

Deno.test("a lease forged above 2^52 is reported once per candidate and taken over after a lease as epoch 2", async () => {
  await using t = await setup(["a", "b"]);
  const a = await t.start("a");
  const b = await t.start("b");
  await t.advanceTo(1_200);
  await t.bucket.put(LEADER_KEY, forgedLease(Number.MAX_SAFE_INTEGER));
  await t.clock.flush();
  // Foreign to everyone: the leader steps down at once, like for any value not its own.
  assert.equal(a.election.isLeader, false);
  assert.equal(a.election.observedLeader, undefined);
  // Never renewed: taken over a whole lease after it was observed, numbered from the epochs known
  // below the ceiling (1), never 2^53, which no reader would accept.
  await t.advanceTo(1_200 + LEASE_MS - 1);
  assert.deepEqual(t.leaders(), []);
  await t.advance(1 + FOLLOWER_CHECK_MS);
  assert.deepEqual(t.leaders(), [a]);
  assert.equal(a.election.epoch, 2);
  // Renewals go on for several leases with no further report.
  await t.advance(3 * LEASE_MS, 50);
  assert.equal(a.election.epoch, 2);
  for (const c of [a, b]) {
    assert.deepEqual(
      c.errors.map((e) => e.message),
      [
        `Ignoring malformed value at 'leader/leader': 'epoch' ${Number.MAX_SAFE_INTEGER} is above ` +
        "2^52, more than any leader counts to",
      ],
      `${c.name} reports the forged lease once`,
    );
  }
  assert.deepEqual(t.writes.slice(0, 4), ["a 1@0", "a 1@1000", "malformed@1200", "a 2@4200"]);
});

Deno.test("a lease of exactly 2^52 is observed as a lease but not counted: the next term is epoch 2, reported once", async () => {
  assert.equal(MAX_COUNTER, 2 ** 52);
  // b holds an assignment of a's term 1 (its minEpoch): the durable epochs, not the overwritten
  // lease, are what a term is numbered above once the lease holds something else.
  await using t = await setup(["a", "b"], {
    minEpoch: (name) => Promise.resolve(name === "b" ? 1 : 0),
  });
  const a = await t.start("a");
  await t.advanceTo(1_200);
  await t.bucket.put(LEADER_KEY, forgedLease(MAX_COUNTER));
  const b = await t.start("b");
  // Decodable: a leader in place for a whole lease, but its epoch is not one to count from.
  assert.equal(a.election.isLeader, false);
  assert.equal(a.election.observedLeader?.epoch, MAX_COUNTER);
  assert.equal(a.election.maxEpochSeen, 1);
  assert.equal(b.election.maxEpochSeen, 0);
  await t.advanceTo(1_200 + LEASE_MS - 1);
  assert.deepEqual(t.leaders(), []);
  await t.advance(1 + FOLLOWER_CHECK_MS);
  // b observed it first (its start-up read, before a's watch delivered it), so b is first to act.
  assert.deepEqual(t.leaders(), [b]);
  assert.equal(b.election.epoch, 2, "numbered from the highest epoch below the ceiling");
  await t.advance(3 * LEASE_MS, 50);
  for (const c of [a, b]) {
    assert.deepEqual(c.errors.map((e) => e.message), [noSuccessor("in the lease")], c.name);
    assert.ok(c.errors.every((e) => e instanceof MalformedDataError));
  }
  assert.deepEqual(t.writes.slice(0, 4), [
    "a 1@0",
    "a 1@1000",
    `x ${MAX_COUNTER}@1200`,
    "b 2@4200",
  ]);
});

Deno.test("a minEpoch of exactly 2^52 is skipped, reported once however often the candidate campaigns", async () => {
  await using t = await setup(["a", "b"], {
    minEpoch: (name) => Promise.resolve(name === "a" ? MAX_COUNTER : 0),
  });
  const a = await t.start("a");
  assert.equal(a.election.epoch, 1, "numbered from the lease (nothing), not from 2^52");
  const b = await t.start("b");
  // a is cut off: b takes over (epoch 2). Then b is cut off and a, healed, takes over (epoch 3).
  await t.advanceTo(1_500);
  a.store.cut();
  await t.advance(LEASE_MS + RENEW_MS + FOLLOWER_CHECK_MS, 50);
  assert.deepEqual(t.leaders(), [b]);
  assert.equal(b.election.epoch, 2);
  a.store.heal();
  b.store.cut();
  await t.advance(LEASE_MS + RENEW_MS + FOLLOWER_CHECK_MS, 50);
  assert.deepEqual(t.leaders(), [a]);
  assert.equal(a.election.epoch, 3);
  b.store.heal();
  const durable = noSuccessor("outside the lease (the held assignment or the last publication)");
  const ceiling = a.errors.filter((e) => e instanceof MalformedDataError).map((e) => e.message);
  assert.deepEqual(ceiling, [durable], "two campaigns with minEpoch() at 2^52, one report");
  assert.deepEqual(b.errors.filter((e) => e instanceof MalformedDataError), []);
});
