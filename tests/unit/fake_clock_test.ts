import assert from "node:assert/strict";
import { FakeClock } from "../../testing/fake_clock.ts";

Deno.test("the start option sets the first reading and time stands still until ticked", () => {
  assert.equal(new FakeClock().now(), 0);
  const clock = new FakeClock({ start: 5_000 });
  assert.equal(clock.now(), 5_000);
  assert.equal(clock.now(), 5_000);
  clock.tick(250);
  assert.equal(clock.now(), 5_250);
  assert.throws(() => new FakeClock({ start: Number.NaN }), RangeError);
});

Deno.test("timers fire in due-time order, each with now() reading its own due time", () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  clock.tick(100);
  assert.deepEqual(fired, ["a@10", "b@20", "c@30"]);
  assert.equal(clock.now(), 100);
});

Deno.test("timers due at the same time fire in the order they were scheduled", () => {
  const clock = new FakeClock();
  const fired: number[] = [];
  for (let i = 0; i < 5; i++) clock.setTimeout(() => fired.push(i), 10);
  clock.setTimeout(() => fired.push(-1), 5);
  clock.tick(10);
  assert.deepEqual(fired, [-1, 0, 1, 2, 3, 4]);
});

Deno.test("a timer fires at exactly its delay, not a millisecond earlier", () => {
  const clock = new FakeClock();
  let fired = false;
  clock.setTimeout(() => (fired = true), 100);
  clock.tick(99);
  assert.equal(fired, false);
  assert.equal(clock.pending, 1);
  clock.tick(1);
  assert.equal(fired, true);
  assert.equal(clock.pending, 0);
});

Deno.test("a timer never fires from setTimeout itself, even with a delay of 0", () => {
  const clock = new FakeClock();
  let fired = false;
  clock.setTimeout(() => (fired = true), 0);
  assert.equal(fired, false);
  clock.tick(0);
  assert.equal(fired, true);
});

Deno.test("negative and NaN delays count as 0, an infinite delay never falls due", () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push("infinite"), Number.POSITIVE_INFINITY);
  clock.setTimeout(() => fired.push("negative"), -50);
  clock.setTimeout(() => fired.push("nan"), Number.NaN);
  clock.tick(0);
  assert.deepEqual(fired, ["negative", "nan"]);
  clock.tick(1e12);
  assert.deepEqual(fired, ["negative", "nan"]);
  assert.equal(clock.pending, 1);
});

Deno.test("a timer scheduled by a callback fires in the same tick when it falls due within it", () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  clock.setTimeout(() => {
    fired.push(`outer@${clock.now()}`);
    clock.setTimeout(() => {
      fired.push(`inner@${clock.now()}`);
      clock.setTimeout(() => fired.push(`innermost@${clock.now()}`), 25);
    }, 15);
  }, 10);
  clock.setTimeout(() => fired.push(`other@${clock.now()}`), 20);
  clock.tick(40);
  assert.deepEqual(fired, ["outer@10", "other@20", "inner@25"]);
  assert.equal(clock.now(), 40);
  assert.equal(clock.pending, 1);
  clock.tick(10);
  assert.deepEqual(fired, ["outer@10", "other@20", "inner@25", "innermost@50"]);
});

Deno.test("a zero-delay timer scheduled by a callback fires after the timers already due then", () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  clock.setTimeout(() => {
    fired.push("first");
    clock.setTimeout(() => fired.push(`nested@${clock.now()}`), 0);
  }, 10);
  clock.setTimeout(() => fired.push("second"), 10);
  clock.tick(10);
  assert.deepEqual(fired, ["first", "second", "nested@10"]);
});

Deno.test("a cancelled timer never fires; cancelling again or after it fired does nothing", () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  const cancelA = clock.setTimeout(() => fired.push("a"), 10);
  const cancelB = clock.setTimeout(() => fired.push("b"), 10);
  clock.setTimeout(() => fired.push("c"), 10);
  assert.equal(clock.pending, 3);
  cancelA();
  cancelA();
  assert.equal(clock.pending, 2);
  clock.tick(10);
  assert.deepEqual(fired, ["b", "c"]);
  cancelB();
  assert.equal(clock.pending, 0);
});

Deno.test("a callback can cancel a later timer that is due in the same tick", () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  let cancelLater = () => {};
  clock.setTimeout(() => {
    fired.push("first");
    cancelLater();
  }, 10);
  cancelLater = clock.setTimeout(() => fired.push("later"), 20);
  clock.tick(30);
  assert.deepEqual(fired, ["first"]);
  assert.equal(clock.pending, 0);
});

Deno.test("tick() does not run promise continuations, tickAsync() does", async () => {
  const clock = new FakeClock();
  const steps: number[] = [];
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  const chain = (async () => {
    await sleep(10);
    steps.push(clock.now());
    await sleep(10);
    steps.push(clock.now());
  })();
  clock.tick(20);
  assert.deepEqual(steps, [], "the continuation after the first sleep has not run yet");
  assert.equal(clock.pending, 0, "the second sleep is not scheduled yet");
  await clock.flush();
  assert.deepEqual(steps, [20], "it ran late, at the time the test yielded");
  await clock.tickAsync(10);
  await chain;
  assert.deepEqual(steps, [20, 30]);
});

Deno.test("tickAsync() drives a chain of awaits that schedules each timer after the last one", async () => {
  const clock = new FakeClock();
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  const seen: number[] = [];
  const chain = (async () => {
    for (let i = 1; i <= 10; i++) {
      await sleep(i);
      // Several awaits between timers, as a store round trip would add.
      await Promise.resolve();
      await (async () => {
        await null;
      })();
      seen.push(clock.now());
    }
  })();
  await clock.tickAsync(55);
  assert.deepEqual(seen, [1, 3, 6, 10, 15, 21, 28, 36, 45, 55]);
  assert.equal(clock.now(), 55);
  assert.equal(clock.pending, 0);
  await chain;
});

Deno.test("tickAsync() stops at its target and leaves later timers for the next call", async () => {
  const clock = new FakeClock();
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  const seen: number[] = [];
  const chain = (async () => {
    for (let i = 0; i < 4; i++) {
      await sleep(30);
      seen.push(clock.now());
    }
  })();
  await clock.tickAsync(100);
  assert.deepEqual(seen, [30, 60, 90]);
  assert.equal(clock.now(), 100);
  assert.equal(clock.pending, 1);
  await clock.tickAsync(19);
  assert.deepEqual(seen, [30, 60, 90]);
  await clock.tickAsync(1);
  assert.deepEqual(seen, [30, 60, 90, 120]);
  await chain;
});

Deno.test("tickAsync(0) and flush() run pending continuations without moving time", async () => {
  const clock = new FakeClock({ start: 7 });
  let ran = 0;
  void Promise.resolve().then(() => ran++);
  await clock.tickAsync(0);
  void Promise.resolve().then(() => Promise.resolve()).then(() => ran++);
  await clock.flush();
  assert.equal(ran, 2);
  assert.equal(clock.now(), 7);
});

Deno.test("a throwing callback does not stop the others and tick() rethrows it afterwards", () => {
  const clock = new FakeClock();
  const fired: number[] = [];
  clock.setTimeout(() => {
    throw new Error("boom");
  }, 10);
  clock.setTimeout(() => fired.push(clock.now()), 20);
  assert.throws(() => clock.tick(50), { message: "boom" });
  assert.deepEqual(fired, [20]);
  assert.equal(clock.now(), 50);
});

Deno.test("several throwing callbacks are rethrown together as an AggregateError", async () => {
  const clock = new FakeClock();
  clock.setTimeout(() => {
    throw new Error("one");
  }, 1);
  clock.setTimeout(() => {
    throw new Error("two");
  }, 2);
  await assert.rejects(clock.tickAsync(5), (error: unknown) => {
    assert.ok(error instanceof AggregateError);
    assert.deepEqual(error.errors.map((e: Error) => e.message), ["one", "two"]);
    return true;
  });
  assert.equal(clock.now(), 5);
});

Deno.test("tick() rejects a negative or non-finite span with a RangeError", () => {
  const clock = new FakeClock();
  assert.throws(() => clock.tick(-1), RangeError);
  assert.throws(() => clock.tick(Number.POSITIVE_INFINITY), RangeError);
  assert.throws(() => clock.tick(Number.NaN), RangeError);
  assert.equal(clock.now(), 0);
});

Deno.test("moving the clock while a tickAsync() is running throws instead of interleaving", async () => {
  const clock = new FakeClock();
  clock.setTimeout(() => {}, 10);
  const running = clock.tickAsync(20);
  assert.throws(() => clock.tick(1), /already moving/);
  await assert.rejects(clock.tickAsync(1), /already moving/);
  await running;
  assert.equal(clock.now(), 20);
  let nested: unknown;
  clock.setTimeout(() => {
    try {
      clock.tick(1);
    } catch (error) {
      nested = error;
    }
  }, 1);
  clock.tick(1);
  assert.ok(nested instanceof Error);
});

Deno.test("next() moves time to the earliest timer and fires only that one", () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push("b"), 20);
  clock.setTimeout(() => fired.push("a"), 10);
  assert.equal(clock.next(), true);
  assert.deepEqual(fired, ["a"]);
  assert.equal(clock.now(), 10);
  assert.equal(clock.next(), true);
  assert.equal(clock.now(), 20);
  assert.equal(clock.next(), false);
  assert.equal(clock.now(), 20);
});

Deno.test("runUntilIdle() fires every timer, awaits included, and ends at the last due time", async () => {
  const clock = new FakeClock();
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  const chain = (async () => {
    await sleep(100);
    await sleep(200);
    return clock.now();
  })();
  await clock.runUntilIdle();
  assert.equal(await chain, 300);
  assert.equal(clock.now(), 300);
  assert.equal(clock.pending, 0);
});

Deno.test("runUntilIdle() gives up with a RangeError on a timer that keeps rescheduling itself", async () => {
  const clock = new FakeClock();
  let cancel = () => {};
  const again = () => {
    cancel = clock.setTimeout(again, 10);
  };
  again();
  await assert.rejects(clock.runUntilIdle({ maxTimers: 50 }), RangeError);
  assert.equal(clock.now(), 500);
  cancel();
  assert.equal(clock.pending, 0);
});
