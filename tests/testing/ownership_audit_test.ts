import assert from "node:assert/strict";
import { checkOwnershipLog, type OwnershipEvent } from "../../testing/mod.ts";

const event =
  (type: "ACQUIRE" | "RELEASE") =>
  (owner: string, partition: string, version: number): OwnershipEvent => ({
    type,
    owner,
    workerId: `w${owner}`,
    partition,
    epoch: 1,
    version,
  });
const acquire = event("ACQUIRE");
const release = event("RELEASE");

Deno.test("checkOwnershipLog accepts a clean hand-over and reports full coverage", () => {
  const report = checkOwnershipLog([
    acquire("1", "a", 1),
    acquire("1", "b", 1),
    release("1", "b", 2),
    acquire("2", "b", 3),
  ], { expectCoverage: ["a", "b"] });
  assert.deepEqual(report.violations, []);
  assert.equal(report.counts.handovers, 1);
  assert.equal(report.finalOwners.get("b"), "2");
});

Deno.test("checkOwnershipLog flags a partition acquired while another process holds it", () => {
  const report = checkOwnershipLog([acquire("1", "a", 1), acquire("2", "a", 2)]);
  assert.equal(report.violations.length, 1);
  assert.match(report.violations[0]!, /acquired a while 1 still held it/);
});

Deno.test("a KILLED process implicitly releases everything it held", () => {
  const report = checkOwnershipLog([
    acquire("1", "a", 1),
    { type: "KILLED", owner: "1" },
    acquire("2", "a", 2),
  ]);
  assert.deepEqual(report.violations, []);
});

Deno.test("versions going backwards in one process are a violation", () => {
  const report = checkOwnershipLog([acquire("1", "a", 5), acquire("1", "b", 4)]);
  assert.match(report.violations.join(), /went back/);
});

Deno.test("two leaders in one epoch, or a decreasing epoch, are violations", () => {
  const start = (owner: string, epoch: number): OwnershipEvent => ({
    type: "LEADER_START",
    owner,
    workerId: owner,
    epoch,
  });
  assert.equal(checkOwnershipLog([start("1", 1), start("2", 2)]).violations.length, 0);
  assert.match(checkOwnershipLog([start("1", 2), start("2", 2)]).violations.join(), /two leaders/);
  assert.match(checkOwnershipLog([start("1", 2), start("2", 1)]).violations.join(), /increasing/);
});

Deno.test("a paused process must release what was taken over before doing anything with it", () => {
  const ok = checkOwnershipLog([
    acquire("1", "a", 1),
    { type: "PAUSED", owner: "1" },
    acquire("2", "a", 2),
    { type: "RESUMED", owner: "1" },
    release("1", "a", 2),
  ], { expectCoverage: ["a"] });
  assert.deepEqual(ok.violations, []);
  const bad = checkOwnershipLog([
    acquire("1", "a", 1),
    { type: "PAUSED", owner: "1" },
    acquire("2", "a", 2),
    { type: "RESUMED", owner: "1" },
    acquire("1", "a", 3),
  ]);
  assert.match(bad.violations.join(), /without releasing/);
});

Deno.test("missing coverage at the end of the log is reported", () => {
  const report = checkOwnershipLog([acquire("1", "a", 1)], { expectCoverage: ["a", "b"] });
  assert.match(report.violations.join(), /1 partitions have no owner/);
});
