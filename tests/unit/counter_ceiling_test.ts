/**
 * The ceiling on epochs and versions (`MAX_COUNTER` in `src/protocol/records.ts`), pinned exactly:
 *
 * - Every epoch and version a record carries (lease epoch, worker key and chunk epoch and version,
 *   `_meta` epoch and version, heartbeat applied version) is an integer from 0 to 2^52. Above it
 *   the record is malformed: every reader rejects it with a `MalformedDataError`, so no worker
 *   takes it and no leader counts from it.
 * - The leader writes a worker key or `_meta` it cannot read over by compare-and-set on the
 *   revision it read (a fresh record addressed to the worker's current incarnation), instead of
 *   creating it, which would conflict forever.
 * - A value of exactly 2^52 is well-formed but has no successor a record could carry: it is
 *   reported once per key and the count continues from the highest value below it. Nothing above
 *   2^52 is ever written.
 *
 * The election's side of the rule is in `election_test.ts`; the whole pool against a real NATS
 * server in `tests/faults/hostile_data_test.ts`.
 */
import assert from "node:assert/strict";
import { LeadershipLostError, MalformedDataError } from "../../src/errors.ts";
import type { Partition } from "../../src/partition.ts";
import { assignmentKey, META_KEY } from "../../src/protocol/keys.ts";
import {
  decodeChunk,
  decodeHeartbeat,
  decodeLeader,
  decodeMeta,
  decodeWorkerAssignment,
  encode,
  MAX_COUNTER,
} from "../../src/protocol/records.ts";
import { Publisher } from "../../src/leader/publisher.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket } from "../../src/store/store.ts";
import { AssignmentWatch, type ReceivedAssignment } from "../../src/worker/assignment_watch.ts";
import { FakeClock } from "../../testing/mod.ts";

const p = (id: string): Partition => ({ keys: [id] });
const ABOVE = "is above 2^52, more than any leader counts to";
const noSuccessor = (what: string) =>
  `${what} ${MAX_COUNTER} is 2^52, the largest a record may carry, and has no successor; ` +
  "the count continues from the highest version below it";

async function setup() {
  const clock = new FakeClock();
  const bucket: Bucket = await memoryStore({ clock }).bucket("assign", { ttlMs: 0 });
  const errors: Error[] = [];
  const publisher = new Publisher(bucket, (error) => errors.push(error));
  /** Publishes as a leader of `epoch` would, every worker addressed to incarnation `i-<id>`. */
  const publish = (epoch: number, next: Record<string, Partition[]>) =>
    publisher.publish(
      epoch,
      new Map(Object.entries(next)),
      "assign",
      0,
      () => true,
      new Set(),
      new Map(Object.keys(next).map((id) => [id, `i-${id}`])),
    );
  /** The record in a worker's key, decoded (throws if it is not one Parti accepts). */
  const key = async (workerId: string) =>
    decodeWorkerAssignment("assign", "k", (await bucket.get(assignmentKey(workerId)))!.value);
  const meta = async () => decodeMeta("assign", META_KEY, (await bucket.get(META_KEY))!.value);
  const messages = () => errors.map((e) => e.message.replace(/^Ignoring .*?': /, ""));
  return { clock, bucket, errors, publisher, publish, key, meta, messages };
}

/** A worker key as a forger writes it: right incarnation, current epoch, any version. */
function forgedKey(version: number, partitions: Partition[], incarnation: string): Uint8Array {
  return encode({ epoch: 1, version, phase: "assign", incarnation, partitions });
}

Deno.test("every decoder accepts epochs and versions up to 2^52 and rejects anything above", () => {
  assert.equal(MAX_COUNTER, 2 ** 52);
  const records: [string, (n: number) => Record<string, unknown>, (b: Uint8Array) => unknown][] = [
    [
      "epoch",
      (n) => ({ workerId: "w", instance: "i", nonce: "n", epoch: n, leaseMs: 1 }),
      (b) => decodeLeader("leader", "leader", b),
    ],
    [
      "epoch",
      (n) => ({ epoch: n, version: 1, phase: "assign", incarnation: "i", partitions: [] }),
      (b) => decodeWorkerAssignment("assign", "w.w", b),
    ],
    [
      "version",
      (n) => ({ epoch: 1, version: n, phase: "assign", incarnation: "i", partitions: [] }),
      (b) => decodeWorkerAssignment("assign", "w.w", b),
    ],
    ["epoch", (n) => ({ epoch: n, version: 1, partitions: [] }), (b) => decodeChunk("a", "c", b)],
    ["version", (n) => ({ epoch: 1, version: n, partitions: [] }), (b) => decodeChunk("a", "c", b)],
    [
      "epoch",
      (n) => ({ epoch: n, version: 1, workers: [], partitionCount: 0 }),
      (b) => decodeMeta("a", META_KEY, b),
    ],
    [
      "version",
      (n) => ({ epoch: 1, version: n, workers: [], partitionCount: 0 }),
      (b) => decodeMeta("a", META_KEY, b),
    ],
    [
      "appliedVersion",
      (n) => ({
        instance: "i",
        nonce: "n",
        state: "stable",
        appliedVersion: n,
        owned: 0,
        ownedDigest: "0:0",
        incarnation: "i",
      }),
      (b) => decodeHeartbeat("hb", "w", b),
    ],
  ];
  for (const [field, record, decode] of records) {
    for (const n of [0, MAX_COUNTER]) {
      assert.equal(
        (decode(encode(record(n))) as Record<string, number>)[field],
        n,
        `${field}=${n}`,
      );
    }
    for (const n of [MAX_COUNTER + 1, Number.MAX_SAFE_INTEGER]) {
      assert.throws(
        () => decode(encode(record(n))),
        (e) => e instanceof MalformedDataError && e.message.endsWith(`'${field}' ${n} ${ABOVE}`),
        `${field}=${n}`,
      );
    }
    // Beyond the safe integers the old rule still answers.
    assert.throws(() => decode(encode(record(2 ** 53))), /is not a non-negative integer/);
  }
  // Fields that are not counters keep the safe-integer rule.
  const lease = { workerId: "w", instance: "i", nonce: "n", epoch: 1 };
  const leaseMs = Number.MAX_SAFE_INTEGER;
  assert.equal(decodeLeader("l", "l", encode({ ...lease, leaseMs })).leaseMs, leaseMs);
});

Deno.test("a worker never takes a key forged above 2^52: reported once, the next honest key is taken", async () => {
  const t = await setup();
  await t.publish(1, { w: [p("a")] });
  const received: ReceivedAssignment[] = [];
  const watchErrors: Error[] = [];
  let held = { epoch: 0, version: 0 };
  const watch = new AssignmentWatch(t.bucket, "w", {
    current: () => held,
    onAssignment: (a) => {
      received.push(a);
      held = { epoch: a.epoch, version: a.version };
    },
    onError: (error) => watchErrors.push(error),
  });
  watch.start();
  await t.clock.flush();
  assert.deepEqual(received.map((a) => a.version), [1]);
  await t.bucket.put(assignmentKey("w"), forgedKey(Number.MAX_SAFE_INTEGER, [p("a")], "i-w"));
  await t.clock.flush();
  await watch.poll(); // the safety-net read of an unchanged revision reports nothing more
  assert.deepEqual(received.map((a) => a.version), [1]);
  assert.deepEqual(watchErrors.map((e) => e.message), [
    `Ignoring malformed value at 'assign/w.w': 'version' ${Number.MAX_SAFE_INTEGER} ${ABOVE}`,
  ]);
  // The leader's next write conflicts with the forgery once; after re-adopting it writes over it.
  await assert.rejects(t.publish(1, { w: [p("a"), p("b")] }), LeadershipLostError);
  await t.publisher.adopt(t.publisher.version);
  assert.equal(await t.publish(1, { w: [p("a"), p("b")] }), 2);
  await t.clock.flush();
  assert.deepEqual(received.map((a) => [a.version, a.partitions.length]), [[1, 1], [2, 2]]);
  assert.equal(watchErrors.length, 1);
  watch.stop();
});

Deno.test("a worker key forged above 2^52 is reported on adoption and written over by CAS with the next honest version", async () => {
  const t = await setup();
  assert.equal(await t.publish(1, { a: [p("x")], b: [p("y")] }), 1);
  await t.bucket.put(assignmentKey("b"), forgedKey(Number.MAX_SAFE_INTEGER, [p("y")], "i-b"));
  await t.publisher.adopt(t.publisher.version);
  assert.deepEqual(t.messages(), [`'version' ${Number.MAX_SAFE_INTEGER} ${ABOVE}`]);
  assert.equal(t.publisher.version, 1, "counted from the readable keys, not from the forgery");
  assert.deepEqual([...t.publisher.published.keys()], ["a"], "an unreadable key is no claim");
  // Written over by compare-and-set (not created, which would conflict): a fresh record addressed
  // to the worker's current incarnation, numbered just above the honest count.
  assert.equal(await t.publish(1, { a: [p("x")], b: [p("y")] }), 2);
  assert.deepEqual(await t.key("b"), {
    epoch: 1,
    version: 2,
    phase: "assign",
    incarnation: "i-b",
    partitions: [p("y")],
  });
  assert.equal((await t.meta()).version, 2);
  await t.publisher.adopt(t.publisher.version);
  assert.equal(t.errors.length, 1, "reported once; nothing left to report");
});

Deno.test("a key the leader cannot read is written over only at the revision it read: another writer still wins", async () => {
  const t = await setup();
  await t.publish(1, { a: [p("x")] });
  await t.bucket.put(assignmentKey("a"), encode({ junk: true }));
  await t.publisher.adopt(t.publisher.version);
  // Someone else (a newer leader) writes the key after this leader read it.
  await t.bucket.put(assignmentKey("a"), forgedKey(7, [p("x")], "i-a"));
  await assert.rejects(t.publish(1, { a: [p("x"), p("y")] }), LeadershipLostError);
  assert.equal((await t.key("a")).version, 7);
});

Deno.test("_meta forged above 2^52 is reported on adoption and written over by CAS; the count comes from the keys", async () => {
  const t = await setup();
  await t.publish(3, { a: [p("x")] });
  const forged = { ...(await t.meta()), version: Number.MAX_SAFE_INTEGER };
  await t.bucket.put(META_KEY, encode(forged));
  await t.publisher.adopt(0);
  assert.deepEqual(t.messages(), [`'version' ${Number.MAX_SAFE_INTEGER} ${ABOVE}`]);
  assert.equal(t.publisher.version, 1);
  assert.equal(await t.publish(3, { a: [p("x"), p("y")] }), 2);
  assert.equal((await t.meta()).version, 2);
  assert.equal(t.errors.length, 1);
});

Deno.test("a version of exactly 2^52 in a key, _meta or a heartbeat is skipped, reported once per key", async () => {
  const t = await setup();
  assert.equal(await t.publish(1, { a: [p("x")], b: [p("y")] }), 1);
  await t.bucket.put(assignmentKey("b"), forgedKey(MAX_COUNTER, [p("y")], "i-b"));
  await t.bucket.put(META_KEY, encode({ ...(await t.meta()), version: MAX_COUNTER }));
  for (let i = 0; i < 3; i++) await t.publisher.adopt(MAX_COUNTER);
  assert.deepEqual(t.messages().sort(), [
    noSuccessor("a heartbeat's applied version"),
    noSuccessor("version"),
    noSuccessor("version"),
  ]);
  assert.deepEqual(
    t.errors.map((e) => (e as MalformedDataError).key).sort(),
    ["(heartbeats)", META_KEY, assignmentKey("b")].sort(),
  );
  assert.equal(t.publisher.version, 1, "the count continues below the ceiling");
  // The key is well-formed, so it stays adopted (what the worker may hold), and is rewritten.
  assert.equal(t.publisher.published.get("b")?.version, MAX_COUNTER);
  assert.equal(await t.publish(1, { a: [p("x")], b: [p("y"), p("z")] }), 2);
  assert.equal((await t.key("b")).version, 2);
});

Deno.test("nothing above 2^52 is ever written: a count that reaches it re-reads instead", async () => {
  const t = await setup();
  await t.bucket.put(assignmentKey("a"), forgedKey(MAX_COUNTER - 1, [p("x")], "i-a"));
  await t.publisher.adopt(0);
  assert.equal(t.publisher.version, MAX_COUNTER - 1);
  assert.equal(await t.publish(1, { a: [p("x"), p("y")] }), MAX_COUNTER);
  await assert.rejects(
    t.publish(1, { a: [p("x")] }),
    (e) => e instanceof LeadershipLostError && /count reached 2\^52/.test(e.message),
  );
  assert.equal((await t.key("a")).version, MAX_COUNTER);
  assert.equal((await t.meta()).version, MAX_COUNTER);
});
