/**
 * The small parts of the leader's loop, exactly: hand-off timing by step (`handoff_timing.ts`),
 * the move throttle's follow-up rounds (`move_throttle.ts`), and the store wrapper that times every
 * coordination operation (`observability/store_metrics.ts`).
 */
import assert from "node:assert/strict";
import { HandoffTiming } from "../../src/leader/handoff_timing.ts";
import { MoveThrottle } from "../../src/leader/move_throttle.ts";
import {
  bucketRole,
  errorLabel,
  instrumentStore,
  type StoreOperation,
} from "../../src/observability/store_metrics.ts";
import type { SpanLike, TracerLike } from "../../src/observability/tracing.ts";
import { memoryStore } from "../../src/store/memory.ts";
import { RevisionConflictError } from "../../src/errors.ts";

function recordingTracer() {
  const spans: { name: string; attributes: Record<string, unknown>; ended: boolean }[] = [];
  const tracer: TracerLike = {
    startSpan(name, options) {
      const span = { name, attributes: { ...options?.attributes }, ended: false };
      spans.push(span);
      const like: SpanLike = {
        setAttributes: (a) => Object.assign(span.attributes, a),
        recordException: () => {},
        setStatus: () => {},
        end: () => void (span.ended = true),
      } as SpanLike;
      return like;
    },
  };
  return { tracer, spans };
}

Deno.test("a hand-off's steps are revoke, ack and assign, and add up to its whole duration", () => {
  const { tracer, spans } = recordingTracer();
  const timing = new HandoffTiming(tracer, 7);
  // Decided at 100, revoke written at 104; a second revoke (more moves) does not restart it.
  assert.equal(timing.written("revoke", 2, 100, 104), undefined);
  assert.equal(timing.written("revoke", 3, 150, 151), undefined);
  // The old owners' acknowledgements were seen by the round deciding at 400; assign written at 409.
  const steps = timing.written("assign", 4, 400, 409);
  assert.deepEqual(steps, { revokeMs: 4, ackMs: 296, assignMs: 9 });
  assert.equal(steps!.revokeMs + steps!.ackMs + steps!.assignMs, 409 - 100);
  assert.equal(spans.length, 1);
  assert.deepEqual(spans[0], {
    name: "parti.handoff",
    attributes: { epoch: 7, version: 4 },
    ended: true,
  });
  // An assign with no hand-off in progress is no hand-off.
  assert.equal(timing.written("assign", 5, 500, 501), undefined);
});

Deno.test("a hand-off abandoned with its term ends its span as unfinished, and the next starts afresh", () => {
  const { tracer, spans } = recordingTracer();
  const timing = new HandoffTiming(tracer, 1);
  timing.written("revoke", 1, 0, 1);
  timing.abandon();
  assert.deepEqual(spans[0]!.attributes, { epoch: 1, unfinished: true });
  assert.equal(spans[0]!.ended, true);
  assert.equal(timing.written("assign", 2, 5, 6), undefined, "nothing in progress after abandon");
  timing.abandon(); // idempotent
  assert.equal(spans.length, 1);
});

Deno.test("the move throttle: the completing round starts no move, held-back moves plan one follow-up", () => {
  const throttle = new MoveThrottle(3, 1_000);
  assert.equal(throttle.maxMoves(false), 3);
  assert.equal(throttle.maxMoves(true), 0, "the round that completes a hand-off starts no move");
  assert.equal(throttle.due(0), Number.POSITIVE_INFINITY, "nothing planned");
  throttle.published("revoke", 9, 10);
  assert.equal(throttle.pending, 0, "a revoke does not count its plan");
  assert.equal(throttle.due(10), Number.POSITIVE_INFINITY);
  throttle.published("assign", 5, 20);
  assert.equal(throttle.pending, 5);
  assert.equal(throttle.due(500), 520);
  assert.equal(throttle.due(1_020), 0, "due exactly minRebalanceIntervalMs later");
  assert.equal(throttle.due(1_021), Number.POSITIVE_INFINITY, "consumed");
  throttle.published("assign", 0, 2_000);
  assert.equal(throttle.pending, 0);
  assert.equal(throttle.due(5_000), Number.POSITIVE_INFINITY);
  // Without a cap every round may move everything.
  assert.equal(new MoveThrottle(undefined, 1_000).maxMoves(true), undefined);
});

Deno.test("the timed store reports every bucket operation with its duration, and failures with their code", async () => {
  let now = 0;
  const seen: [StoreOperation, string, number, string | undefined][] = [];
  const inner = memoryStore();
  const slow = {
    kind: inner.kind,
    deleteBucket: (name: string) => inner.deleteBucket(name),
    async bucket(name: string, options: Parameters<typeof inner.bucket>[1]) {
      const bucket = await inner.bucket(name, options);
      return {
        ...bucket,
        name: bucket.name,
        create: bucket.create.bind(bucket),
        update: bucket.update.bind(bucket),
        get: bucket.get.bind(bucket),
        delete: bucket.delete.bind(bucket),
        keys: bucket.keys.bind(bucket),
        watch: bucket.watch.bind(bucket),
        status: bucket.status.bind(bucket),
        put: async (key: string, value: Uint8Array) => {
          now += 25; // the operation takes 25 ms of the clock
          return await bucket.put(key, value);
        },
      };
    },
  };
  const store = instrumentStore(
    slow,
    (op, bucket, seconds, error) =>
      seen.push([op, bucket, seconds, error === undefined ? undefined : errorLabel(error)]),
    () => now,
  );
  const hb = await store.bucket("parti_orders_hb", { ttlMs: 0 });
  const revision = await hb.put("worker-0", new Uint8Array([1]));
  await hb.get("worker-0");
  await assert.rejects(hb.create("worker-0", new Uint8Array([2])), RevisionConflictError);
  await hb.update("worker-0", new Uint8Array([3]), revision);
  await hb.keys();
  await hb.delete("worker-0");
  await hb.status();
  assert.deepEqual(seen, [
    ["open", "heartbeats", 0, undefined],
    ["put", "heartbeats", 0.025, undefined],
    ["get", "heartbeats", 0, undefined],
    ["create", "heartbeats", 0, "REVISION_CONFLICT"],
    ["update", "heartbeats", 0, undefined],
    ["keys", "heartbeats", 0, undefined],
    ["delete", "heartbeats", 0, undefined],
    ["status", "heartbeats", 0, undefined],
  ]);
});

Deno.test("bucket series are labelled by role, whatever the group is called", () => {
  assert.equal(bucketRole("parti_orders_ids"), "ids");
  assert.equal(bucketRole("parti_my_group_hb"), "heartbeats");
  assert.equal(bucketRole("parti_g_leader"), "leader");
  assert.equal(bucketRole("parti_g-1_assign"), "assignments");
  assert.equal(bucketRole("other_bucket"), "other_bucket");
  assert.equal(errorLabel(new TypeError("x")), "TypeError");
  assert.equal(errorLabel("a string"), "unknown");
});
