import assert from "node:assert/strict";
import { OperationTimeoutError } from "../../src/errors.ts";
import { Signal } from "../../src/runtime/signal.ts";
import { Timers } from "../../src/runtime/timers.ts";
import { FakeClock } from "../../testing/fake_clock.ts";

function setup() {
  const clock = new FakeClock();
  return { clock, timers: new Timers(clock) };
}

/** Tracks how a promise settles, so a test can look without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** An `onError` for ticks that must not throw. */
function unexpected(error: Error): never {
  throw new Error(`unexpected tick error: ${error.message}`);
}

Deno.test("Timers.now() reads the injected clock", () => {
  const clock = new FakeClock({ start: 123 });
  const timers = new Timers(clock);
  assert.equal(timers.now(), 123);
  clock.tick(7);
  assert.equal(timers.now(), 130);
});

Deno.test("Timers.setTimeout() schedules on the clock and a negative delay counts as 0", () => {
  const { clock, timers } = setup();
  const fired: number[] = [];
  timers.setTimeout(() => fired.push(clock.now()), -5);
  const cancel = timers.setTimeout(() => fired.push(-1), 10);
  assert.equal(clock.pending, 2);
  cancel();
  clock.tick(20);
  assert.deepEqual(fired, [0]);
  assert.equal(clock.pending, 0);
});

Deno.test("sleep() resolves at exactly ms, not a millisecond earlier", async () => {
  const { clock, timers } = setup();
  const sleep = track(timers.sleep(100));
  await clock.tickAsync(99);
  assert.equal(sleep.settled, false);
  await clock.tickAsync(1);
  assert.equal(sleep.settled, true);
  assert.equal(clock.now(), 100);
  assert.equal(clock.pending, 0);
});

Deno.test("sleep() with an already-aborted signal resolves at once and schedules no timer", async () => {
  const { clock, timers } = setup();
  const sleep = track(timers.sleep(100, AbortSignal.abort()));
  assert.equal(clock.pending, 0);
  await clock.flush();
  assert.equal(sleep.settled, true);
  assert.equal(clock.now(), 0);
});

Deno.test("sleep() resolves without error when its signal aborts and cancels its timer", async () => {
  const { clock, timers } = setup();
  const abort = new AbortController();
  const sleep = track(timers.sleep(100, abort.signal));
  await clock.tickAsync(40);
  assert.equal(clock.pending, 1);
  abort.abort(new Error("stop"));
  await clock.flush();
  assert.equal(sleep.settled, true);
  assert.equal(sleep.error, undefined);
  assert.equal(clock.pending, 0);
  assert.equal(clock.now(), 40);
});

Deno.test("waitFor() resolves on notify() before its time and leaves no timer", async () => {
  const { clock, timers } = setup();
  const wake = new Signal();
  const wait = track(timers.waitFor(wake, 100));
  await clock.tickAsync(30);
  assert.equal(wait.settled, false);
  wake.notify();
  await clock.flush();
  assert.equal(wait.settled, true);
  assert.equal(clock.now(), 30);
  assert.equal(clock.pending, 0);
});

Deno.test("waitFor() resolves at exactly ms without a notify and leaves no timer", async () => {
  const { clock, timers } = setup();
  const wait = track(timers.waitFor(new Signal(), 100));
  await clock.tickAsync(99);
  assert.equal(wait.settled, false);
  await clock.tickAsync(1);
  assert.equal(wait.settled, true);
  assert.equal(clock.pending, 0);
});

Deno.test("waitFor() resolves when its signal aborts and leaves no timer or listener", async () => {
  const { clock, timers } = setup();
  const abort = new AbortController();
  const wake = new Signal();
  const wait = track(timers.waitFor(wake, 100, abort.signal));
  await clock.tickAsync(10);
  abort.abort();
  await clock.flush();
  assert.equal(wait.settled, true);
  assert.equal(wait.error, undefined);
  assert.equal(clock.pending, 0);
  // A later notify is harmless: the wait is over.
  wake.notify();
  await clock.tickAsync(200);
});

// An abort listener added to an already-aborted signal never fires: waitFor() must check first.
Deno.test({
  name: "waitFor() with an already-aborted signal resolves at once and leaves no timer",
  fn: async () => {
    const { clock, timers } = setup();
    const wait = track(timers.waitFor(new Signal(), 100, AbortSignal.abort()));
    await clock.flush();
    assert.equal(wait.settled, true);
    assert.equal(clock.pending, 0);
  },
});

Deno.test("every() ticks at exact multiples of its period", () => {
  const { clock, timers } = setup();
  const ticks: number[] = [];
  const stop = timers.every(10, () => ticks.push(clock.now()), { onError: unexpected });
  clock.tick(9);
  assert.deepEqual(ticks, []);
  clock.tick(36);
  assert.deepEqual(ticks, [10, 20, 30, 40]);
  assert.equal(clock.pending, 1);
  stop();
});

Deno.test("every() keeps ticking after a tick throws and reports the error, not to the timer", () => {
  const { clock, timers } = setup();
  const ticks: number[] = [];
  const errors: string[] = [];
  const stop = timers.every(10, () => {
    ticks.push(clock.now());
    if (ticks.length === 2) throw new Error("tick failed");
  }, { onError: (e) => errors.push(e.message) });
  // A throw escaping into the platform's timer would end the process; the fake clock would rethrow.
  assert.doesNotThrow(() => clock.tick(50));
  assert.deepEqual(ticks, [10, 20, 30, 40, 50]);
  assert.deepEqual(errors, ["tick failed"]);
  assert.equal(clock.pending, 1);
  stop();
});

Deno.test("every() stops when its signal aborts and leaves no timer", () => {
  const { clock, timers } = setup();
  const abort = new AbortController();
  const ticks: number[] = [];
  timers.every(10, () => ticks.push(clock.now()), { signal: abort.signal, onError: unexpected });
  clock.tick(25);
  abort.abort();
  assert.equal(clock.pending, 0);
  clock.tick(100);
  assert.deepEqual(ticks, [10, 20]);
});

Deno.test("every() stops when its cancel function is called, even from inside a tick", () => {
  const { clock, timers } = setup();
  const ticks: number[] = [];
  const stop = timers.every(10, () => {
    ticks.push(clock.now());
    if (ticks.length === 3) stop();
  }, { onError: unexpected });
  clock.tick(100);
  assert.deepEqual(ticks, [10, 20, 30]);
  assert.equal(clock.pending, 0);
  stop();
});

Deno.test("every() with an already-aborted signal never ticks and schedules no timer", () => {
  const { clock, timers } = setup();
  let ticks = 0;
  timers.every(10, () => ticks++, { signal: AbortSignal.abort(), onError: unexpected });
  assert.equal(clock.pending, 0);
  clock.tick(100);
  assert.equal(ticks, 0);
});

Deno.test("deadline() resolves with the work's value and leaves no timer", async () => {
  const { clock, timers } = setup();
  const { promise, resolve } = Promise.withResolvers<string>();
  const result = track(timers.deadline(promise, 100));
  await clock.tickAsync(99);
  resolve("done");
  await clock.flush();
  assert.deepEqual(result, { settled: true, value: "done" });
  assert.equal(clock.pending, 0);
});

Deno.test("deadline() rejects with the work's error and leaves no timer", async () => {
  const { clock, timers } = setup();
  const failure = new Error("work failed");
  await assert.rejects(timers.deadline(Promise.reject(failure), 100), failure);
  assert.equal(clock.pending, 0);
});

Deno.test("deadline() rejects with an OperationTimeoutError at exactly ms and leaves no timer", async () => {
  const { clock, timers } = setup();
  const result = track(timers.deadline(new Promise<never>(() => {}), 100));
  await clock.tickAsync(99);
  assert.equal(result.settled, false);
  await clock.tickAsync(1);
  assert.equal(result.settled, true);
  assert.ok(result.error instanceof OperationTimeoutError);
  assert.equal(result.error.code, "TIMEOUT");
  assert.match(result.error.message, /100 ms/);
  assert.equal(clock.pending, 0);
});

Deno.test("deadline() rejects with the onTimeout error when the time is up", async () => {
  const { clock, timers } = setup();
  const custom = new RangeError("too slow");
  const result = track(
    timers.deadline(new Promise<never>(() => {}), 50, { onTimeout: () => custom }),
  );
  await clock.tickAsync(50);
  assert.equal(result.error, custom);
  assert.equal(clock.pending, 0);
});

Deno.test("deadline() rejects with the signal's reason when it aborts and leaves no timer", async () => {
  const { clock, timers } = setup();
  const abort = new AbortController();
  const reason = new Error("shutting down");
  const result = track(
    timers.deadline(new Promise<never>(() => {}), 100, { signal: abort.signal }),
  );
  await clock.tickAsync(30);
  abort.abort(reason);
  await clock.flush();
  assert.equal(result.error, reason);
  assert.equal(clock.pending, 0);
  assert.equal(clock.now(), 30);
});

Deno.test("deadline() with an already-aborted signal rejects at once with an AbortError", async () => {
  const { clock, timers } = setup();
  const abort = new AbortController();
  abort.abort();
  await assert.rejects(
    timers.deadline(new Promise<never>(() => {}), 100, { signal: abort.signal }),
    (error: unknown) => error instanceof DOMException && error.name === "AbortError",
  );
  assert.equal(clock.pending, 0);
  assert.equal(clock.now(), 0);
});

Deno.test("deadline() ignores the work settling after the time is up", async () => {
  const { clock, timers } = setup();
  const { promise, resolve } = Promise.withResolvers<string>();
  const result = track(timers.deadline(promise, 10));
  await clock.tickAsync(10);
  resolve("late");
  await clock.flush();
  assert.ok(result.error instanceof OperationTimeoutError);
  assert.equal(clock.pending, 0);
});

Deno.test("deadline() hands a value that arrives after the time is up to onLate", async () => {
  const { clock, timers } = setup();
  const { promise, resolve } = Promise.withResolvers<string>();
  const late: string[] = [];
  const result = track(timers.deadline(promise, 10, { onLate: (v) => late.push(v) }));
  await clock.tickAsync(10);
  assert.deepEqual(late, []);
  resolve("watcher");
  await clock.flush();
  assert.ok(result.error instanceof OperationTimeoutError);
  assert.deepEqual(late, ["watcher"]);
});

Deno.test("Timers on a clock with only now() schedule on the platform's timers", async () => {
  // The ops sanitizer of Deno.test also proves that no platform timer is left behind.
  const timers = new Timers({ now: () => 0 });
  const order: string[] = [];
  const abort = new AbortController();
  const aborted = timers.sleep(60_000, abort.signal).then(() => order.push("aborted"));
  // Delays far apart: on a loaded machine the lines below may run milliseconds apart, and timers
  // due 1 and 3 ms after two such instants can come due in the other order.
  const deadline = timers.deadline(new Promise<never>(() => {}), 40).catch((error) => {
    assert.ok(error instanceof OperationTimeoutError);
    order.push("deadline");
  });
  await Promise.all([
    timers.sleep(80).then(() => order.push("sleep 80")),
    timers.sleep(1).then(() => order.push("sleep 1")),
    deadline,
  ]);
  abort.abort();
  await aborted;
  assert.deepEqual(order, ["sleep 1", "deadline", "sleep 80", "aborted"]);
});
