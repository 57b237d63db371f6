/**
 * An outage is reported a bounded number of times, whatever its length. Found by the error-flood
 * fault test: every campaign of a follower read the publication summary to number a new term
 * (`minEpoch`), and reported each failed read on its own, so a worker reported the outage
 * two to four times a second for as long as it lasted. The summary read now fails the campaign
 * instead, which the election reports once per streak and cause (it also no longer guesses
 * epoch 0 when the summary cannot be read). On a fake clock, with every manager cut off from the
 * store: the reports of a 2 s and of a 10 s outage are the same few.
 */
import assert from "node:assert/strict";
import { clockPool } from "../helpers/clock_pool.ts";

async function reportsDuring(outageMs: number): Promise<number[]> {
  const reports: number[][] = [[], [], []];
  await using pool = await clockPool({
    count: 3,
    perWorker: (i) => ({ hooks: { onError: () => void reports[i]!.push(0) } }),
  });
  await pool.start();
  await pool.advanceUntil(() => pool.covered() && pool.leaders().length === 1, "settled", 5_000);
  const before = reports.map((r) => r.length);
  for (const w of pool.workers) w.store.cut();
  await pool.advance(outageMs);
  const during = reports.map((r, i) => r.length - before[i]!);
  for (const w of pool.workers) w.store.heal();
  await pool.advanceUntil(
    () => pool.covered() && pool.leaders().length === 1,
    "settled after the outage",
    10_000,
  );
  return during;
}

Deno.test("a 2 s and a 10 s outage of the whole store are reported the same few times per worker", async () => {
  const short = await reportsDuring(2_000);
  const long = await reportsDuring(10_000);
  console.log(`reports per worker: 2 s outage ${short.join(" ")}, 10 s outage ${long.join(" ")}`);
  for (const [i, n] of long.entries()) {
    assert.ok(n <= 6, `worker ${i}: ${n} reports in 10 s`);
    assert.ok(n <= short[i]! + 2, `worker ${i}: ${short[i]} reports in 2 s, ${n} in 10 s`);
  }
});
