/**
 * The OpenTelemetry adapter with the OTel SDK's in-memory exporter: a pool's series arrive as OTel
 * instruments with the manager's attributes.
 */
import assert from "node:assert/strict";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { Manager, memoryStore, presets } from "../../mod.ts";
import { otelMetrics } from "../../src/observability/otel.ts";
import { makePartitions, waitForSettled } from "../helpers/pool.ts";

Deno.test("otelMetrics() records a pool's state, leadership, assignment and publications on an OTel meter", async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // The interval is never reached: the test collects with forceFlush().
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  const store = memoryStore();
  const partitions = makePartitions(12);
  const pool = Array.from({ length: 2 }, () =>
    new Manager({
      ...presets.fastTest,
      store,
      group: "otel",
      source: partitions,
      metrics: otelMetrics(provider.getMeter("parti-test")),
    }));
  try {
    await Promise.all(pool.map((m) => m.start()));
    await waitForSettled(pool, partitions);
    await reader.forceFlush();
    const points = new Map<string, { attributes: Record<string, unknown>; value: unknown }[]>();
    for (const resource of exporter.getMetrics()) {
      for (const scope of resource.scopeMetrics) {
        for (const metric of scope.metrics) {
          const list = points.get(metric.descriptor.name) ?? [];
          for (const p of metric.dataPoints) {
            list.push({ attributes: p.attributes, value: p.value });
          }
          points.set(metric.descriptor.name, list);
        }
      }
    }
    for (
      const name of ["parti.state", "parti.is_leader", "parti.partitions_owned", "parti.rebalances"]
    ) {
      assert.ok(points.has(name), `${name} exported (got ${[...points.keys()].join(", ")})`);
    }
    const leaders = points.get("parti.is_leader")!.filter((p) => p.value === 1);
    assert.equal(leaders.length, 1, "exactly one worker reports is_leader = 1");
    const leader = pool.find((m) => m.isLeader)!;
    assert.deepEqual(leaders[0]!.attributes, { group: "otel", worker: leader.workerId });
    const owned = points.get("parti.partitions_owned")!;
    const total = owned.reduce((sum, p) => sum + (p.value as number), 0);
    assert.equal(total, partitions.length, "owned counts add up to the partition count");
    const stable = points.get("parti.state")!.filter((p) => p.value === 1);
    assert.equal(stable.length, 2, "each worker is in exactly one state");
  } finally {
    await Promise.all(pool.map((m) => m.stop()));
    await provider.shutdown();
  }
});
