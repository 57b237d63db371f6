/**
 * Runs `examples/edge_router.ts` as a child process (it starts its own nats-server with a
 * WebSocket listener) and checks what its header promises: every request reached the worker that
 * owns its partition, the router's owner matched `GroupAdmin.ownerOf()` each time, and the routes
 * followed the new assignment when a worker joined.
 */
import assert from "node:assert/strict";
import { runExample } from "./helpers/example_process.ts";

Deno.test("edge_router.ts routes every request to its partition's owner, as ownerOf() says, across a join", async () => {
  const r = await runExample<{
    requests: number;
    routed: number;
    ownerMatches: number;
    mismatches: number;
    misdirected: number;
    failed: number;
    workers: number;
    perWorker: Record<string, number>;
    joinedWorker: string;
    joinedServed: number;
    versionBefore: number;
    versionAfter: number;
  }>("edge_router.ts", ["--requests", "120", "--workers", "3", "--partitions", "12"], {
    deadlineMs: 40_000,
  });
  assert.equal(r.requests, 120);
  assert.equal(r.routed, 120, "every request was answered by a worker");
  assert.equal(r.ownerMatches, 120, "the router's owner was ownerOf()'s owner every time");
  assert.equal(r.mismatches, 0);
  assert.equal(r.misdirected, 0, "no worker was sent a partition it does not own");
  assert.equal(r.failed, 0);
  assert.equal(r.workers, 4);
  assert.equal(Object.values(r.perWorker).reduce((a, b) => a + b, 0), 120);
  assert.ok(r.joinedServed > 0, "the worker that joined served requests after the join");
  assert.ok(r.versionAfter > r.versionBefore, "the router followed a new publication");
});
