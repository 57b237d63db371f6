/**
 * `TimeSlice` (`src/runtime/slices.ts`): long leader work gives the event loop back between its
 * steps once a slice is used up; small work never does (it stays synchronous, as tests on a fake
 * clock expect).
 */
import assert from "node:assert/strict";
import { PAUSE_FROM_ITEMS, TimeSlice } from "../../src/runtime/slices.ts";

Deno.test("a slice used up over large work pauses, and a timer that was due runs in the pause", async () => {
  let ran = false;
  setTimeout(() => (ran = true), 0);
  // A slice of 0 ms is always used up.
  const slice = new TimeSlice(PAUSE_FROM_ITEMS, 0);
  assert.equal(await slice.pause(), true);
  assert.equal(ran, true);
});

Deno.test("work over fewer items than PAUSE_FROM_ITEMS never pauses, even with its slice used up", async () => {
  let ran = false;
  const id = setTimeout(() => (ran = true), 0);
  const slice = new TimeSlice(PAUSE_FROM_ITEMS - 1, 0);
  assert.equal(await slice.pause(), false);
  assert.equal(ran, false);
  clearTimeout(id);
});

Deno.test("a slice that is not used up does not pause", async () => {
  const slice = new TimeSlice(PAUSE_FROM_ITEMS, 60_000);
  assert.equal(await slice.pause(), false);
});
