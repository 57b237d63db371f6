/** The fence and the reclaim embargo, decided exactly from given times. */
import assert from "node:assert/strict";
import { acceptAfter, decide } from "../../src/worker/fencing.ts";

const config = {
  heartbeatIntervalMs: 100,
  heartbeatTtlMs: 300,
  electionLeaseMs: 300,
  workerIdTtlMs: 1_000,
  onCoordinationLoss: "fence",
} as const;

Deno.test("a worker holds its partitions up to heartbeatTtlMs − heartbeatIntervalMs after its last renewal, inclusive", () => {
  assert.equal(decide(1_000, 1_000, config), "hold");
  assert.equal(decide(1_000, 1_200, config), "hold");
});

Deno.test("one millisecond past the fence deadline the worker fences itself", () => {
  assert.equal(decide(1_000, 1_201, config), "fence");
  assert.equal(decide(1_000, 60_000, config), "fence");
});

Deno.test("with onCoordinationLoss 'keep' the worker keeps its partitions past the deadline", () => {
  const keep = { ...config, onCoordinationLoss: "keep" } as const;
  assert.equal(decide(1_000, 1_200, keep), "hold");
  assert.equal(decide(1_000, 1_201, keep), "keep");
});

Deno.test("before its first successful heartbeat a worker has nothing to fence", () => {
  assert.equal(decide(Number.NEGATIVE_INFINITY, 1e9, config), "hold");
});

Deno.test("the fence deadline comes one interval before the leader may declare the worker dead", () => {
  // The leader declares a worker dead once it has not been observed for heartbeatTtlMs; the
  // worker's last renewal was observed no earlier than it was sent.
  const lastRenewedAt = 5_000;
  const deadAt = lastRenewedAt + config.heartbeatTtlMs;
  let firstFence = lastRenewedAt;
  while (decide(lastRenewedAt, firstFence, config) === "hold") firstFence++;
  assert.equal(deadAt - firstFence, config.heartbeatIntervalMs - 1);
});

Deno.test("a reclaimed ID takes no work until the previous incarnation must have fenced itself", () => {
  assert.equal(acceptAfter(true, 2_000, config), 2_200);
  assert.equal(acceptAfter(false, 2_000, config), Number.NEGATIVE_INFINITY);
});
