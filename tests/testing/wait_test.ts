import assert from "node:assert/strict";
import { waitFor } from "../../testing/mod.ts";

Deno.test("waitFor() resolves with the first truthy value the predicate returns", async () => {
  let calls = 0;
  const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1 });
  assert.deepEqual(value, { calls: 3 });
});

Deno.test("waitFor() awaits async predicates and keeps polling through thrown errors", async () => {
  let calls = 0;
  const value = await waitFor(async () => {
    await Promise.resolve();
    if (++calls < 3) throw new Error("not yet");
    return "ready";
  }, { intervalMs: 1 });
  assert.equal(value, "ready");
  assert.equal(calls, 3);
});

Deno.test("waitFor() rejects after timeoutMs, naming what it waited for and keeping the last error", async () => {
  const last = new Error("still down");
  const started = performance.now();
  const error = await waitFor(() => {
    throw last;
  }, { timeoutMs: 50, intervalMs: 5, message: "the server" }).then(
    () => assert.fail("waitFor should have timed out"),
    (e: unknown) => e,
  );
  assert.ok(performance.now() - started >= 50);
  assert.ok(error instanceof Error);
  assert.match(error.message, /^Timed out after 50 ms waiting for 'the server'; last error: /);
  assert.equal(error.cause, last);
});

Deno.test("waitFor() stops when its signal aborts", async () => {
  const controller = new AbortController();
  const waiting = waitFor(() => false, { timeoutMs: 10_000, signal: controller.signal });
  controller.abort(new Error("cancelled"));
  await assert.rejects(waiting, /cancelled/);
});

Deno.test("waitFor() rejects a negative or non-finite timeout or interval with a RangeError", async () => {
  await assert.rejects(() => waitFor(() => true, { timeoutMs: -1 }), RangeError);
  await assert.rejects(() => waitFor(() => true, { intervalMs: Infinity }), RangeError);
});
