/** The JetStream consumer's load reports (`src/jetstream/load_reporter.ts`), on explicit times. */
import assert from "node:assert/strict";
import { LoadReporter } from "../../src/jetstream/load_reporter.ts";

Deno.test("load reports: messages per second since the last report, per running partition", () => {
  const counts = new Map<string, number>([["a", 0], ["b", 10]]);
  const reports: [string, number][] = [];
  const reporter = new LoadReporter({
    handled: () => counts,
    report: (id, rate) => void reports.push([id, rate]),
  });
  reporter.tick(1_000); // first sight: remembered, not reported
  assert.deepEqual(reports, []);
  counts.set("a", 50).set("b", 10);
  reporter.tick(3_000); // 2 s later: a handled 50, b none
  assert.deepEqual(reports, [["a", 25], ["b", 0]]);
  // b is revoked, c added: b is forgotten, c is first remembered.
  counts.delete("b");
  counts.set("c", 7);
  reports.length = 0;
  reporter.tick(4_000);
  assert.deepEqual(reports, [["a", 0]]);
  // b comes back: it starts afresh from its current count.
  counts.set("b", 100);
  reporter.tick(5_000);
  counts.set("b", 103).set("c", 9);
  reports.length = 0;
  reporter.tick(5_500);
  assert.deepEqual(reports, [["a", 0], ["c", 4], ["b", 6]]);
});

Deno.test("load reports: a count that went down (a counter reset) or no time passed reports nothing negative or infinite", () => {
  const counts = new Map<string, number>([["a", 10]]);
  const reports: [string, number][] = [];
  const reporter = new LoadReporter({
    handled: () => counts,
    report: (id, rate) => void reports.push([id, rate]),
  });
  reporter.tick(0);
  reporter.tick(0);
  counts.set("a", 5);
  reporter.tick(1_000);
  assert.deepEqual(reports, [["a", 0]]);
  reporter.stop();
  reporter.stop();
});
