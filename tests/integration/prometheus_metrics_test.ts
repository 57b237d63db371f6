/**
 * A pool's series in the Prometheus exposition format, scraped over HTTP as Prometheus would:
 * every worker's state, leadership, assignment, publications and hooks, labelled by group and
 * worker.
 */
import assert from "node:assert/strict";
import { Manager, memoryStore, presets } from "../../mod.ts";
import { contentType, PrometheusRegistry } from "../../src/observability/metrics_mod.ts";
import { makePartitions, waitForSettled } from "../helpers/pool.ts";

/** `name{labels} value` lines → samples; comment lines are skipped. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (match[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k!] = v!;
    }
    out.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return out;
}

Deno.test("a pool's series are scraped over HTTP with group and worker labels and consistent values", async () => {
  const registry = new PrometheusRegistry();
  const store = memoryStore();
  const partitions = makePartitions(24);
  const pool = Array.from({ length: 3 }, () =>
    new Manager({
      ...presets.fastTest,
      store,
      group: "scraped",
      source: partitions,
      metrics: registry,
      hooks: { onAssignmentChanged: () => {} },
    }));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    registry.handler(),
  );
  try {
    await Promise.all(pool.map((m) => m.start()));
    await waitForSettled(pool, partitions);
    const response = await fetch(`http://127.0.0.1:${server.addr.port}/metrics`, {
      headers: { accept: "text/plain;version=0.0.4;q=0.9,*/*;q=0.1" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), contentType);
    const body = await response.text();
    const all = samples(body);
    const of = (name: string) => all.filter((s) => s.name === name);
    for (const s of all) assert.equal(s.labels.group, "scraped", `${s.name} has the group label`);
    const workers = new Set(pool.map((m) => m.workerId!));
    assert.deepEqual(new Set(of("parti_is_leader").map((s) => s.labels.worker)), workers);
    assert.equal(of("parti_is_leader").filter((s) => s.value === 1).length, 1, "one leader");
    const leader = pool.find((m) => m.isLeader)!;
    assert.equal(of("parti_is_leader").find((s) => s.value === 1)!.labels.worker, leader.workerId);
    const owned = of("parti_partitions_owned").reduce((sum, s) => sum + s.value, 0);
    assert.equal(owned, partitions.length);
    const weight = of("parti_partitions_owned_weight").reduce((sum, s) => sum + s.value, 0);
    assert.equal(weight, partitions.reduce((sum, p) => sum + (p.weight ?? 1), 0));
    for (const m of pool) {
      const states = of("parti_state").filter((s) => s.labels.worker === m.workerId);
      assert.deepEqual(states.filter((s) => s.value === 1).map((s) => s.labels.state), [m.state]);
      const version = of("parti_assignment_version").find((s) => s.labels.worker === m.workerId);
      assert.equal(version?.value, m.assignment.version);
    }
    const rebalances = of("parti_rebalances_total");
    assert.ok(
      rebalances.length > 0 && rebalances.every((s) => s.labels.worker === leader.workerId),
    );
    assert.ok(
      rebalances.some((s) => s.labels.reason === "cold_start" || s.labels.reason === "adopt"),
    );
    const hooks = of("parti_hook_duration_seconds_count").filter((s) =>
      s.labels.hook === "onAssignmentChanged"
    );
    assert.equal(hooks.length, workers.size, "one hook histogram per worker");
    assert.match(body, /^# TYPE parti_rebalance_duration_seconds histogram$/m);
  } finally {
    await Promise.all(pool.map((m) => m.stop()));
    await server.shutdown();
  }
});

Deno.test("a scale-out to 5 workers shows in a scrape: more rebalances, partitions moved and a hand-off duration", async () => {
  const registry = new PrometheusRegistry();
  const store = memoryStore();
  const partitions = makePartitions(40);
  const make = () =>
    new Manager({
      ...presets.fastTest,
      store,
      group: "scale",
      source: partitions,
      metrics: registry,
    });
  const pool = Array.from({ length: 4 }, make);
  const total = (body: string, name: string) =>
    samples(body).filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0);
  try {
    await Promise.all(pool.map((m) => m.start()));
    await waitForSettled(pool, partitions);
    const before = registry.render();
    const newcomer = make();
    pool.push(newcomer);
    await newcomer.start();
    await waitForSettled(pool, partitions);
    const after = registry.render();
    assert.ok(newcomer.assignment.partitions.length > 0, "the fifth worker got partitions");
    assert.ok(
      total(after, "parti_rebalances_total") > total(before, "parti_rebalances_total"),
      "rebalance counter grew",
    );
    const moved = total(after, "parti_partitions_moved_total") -
      total(before, "parti_partitions_moved_total");
    assert.ok(moved >= newcomer.assignment.partitions.length, `moved ${moved}`);
    const handoffs = total(after, "parti_handoff_duration_seconds_count") -
      total(before, "parti_handoff_duration_seconds_count");
    assert.ok(handoffs >= 1, "a hand-off was timed");
    assert.ok(total(after, "parti_handoff_duration_seconds_sum") > 0);
    // Each finished hand-off is also timed by step, and the steps add up to the whole.
    const steps = samples(after).filter((s) =>
      s.name === "parti_handoff_step_duration_seconds_count"
    );
    assert.deepEqual(
      new Set(steps.map((s) => s.labels.step)),
      new Set(["revoke", "ack", "assign"]),
    );
    for (const step of ["revoke", "ack", "assign"]) {
      const count = steps.filter((s) => s.labels.step === step).reduce(
        (sum, s) => sum + s.value,
        0,
      );
      assert.equal(count, total(after, "parti_handoff_duration_seconds_count"), `${step} count`);
    }
    const stepSum = samples(after)
      .filter((s) => s.name === "parti_handoff_step_duration_seconds_sum")
      .reduce((sum, s) => sum + s.value, 0);
    const wholeSum = total(after, "parti_handoff_duration_seconds_sum");
    assert.ok(Math.abs(stepSum - wholeSum) < 1e-6, `steps ${stepSum} s, whole ${wholeSum} s`);
    // Every worker's store operations are timed by bucket and operation.
    const kv = samples(after).filter((s) => s.name === "parti_kv_operation_duration_seconds_count");
    for (const m of pool) {
      const mine = kv.filter((s) => s.labels.worker === m.workerId);
      const beats = mine.find((s) => s.labels.bucket === "heartbeats" && s.labels.op === "put");
      assert.ok((beats?.value ?? 0) >= 1, `${m.workerId} timed its heartbeats`);
      assert.ok(mine.some((s) => s.labels.bucket === "ids"), `${m.workerId} timed its ID claim`);
    }
  } finally {
    await Promise.all(pool.map((m) => m.stop()));
  }
});
