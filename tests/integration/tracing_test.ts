/**
 * Spans through the OpenTelemetry SDK's in-memory exporter: a pool's rebalance decisions,
 * publications, hand-offs and hook invocations, with their attributes.
 */
import assert from "node:assert/strict";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { Manager, memoryStore, presets } from "../../mod.ts";
import { waitFor } from "../../testing/mod.ts";
import { makePartitions, waitForSettled } from "../helpers/pool.ts";

Deno.test("a pool traces rebalances, publications, the hand-off to a joining worker and every hook", async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer("parti-test");
  const store = memoryStore();
  const partitions = makePartitions(20);
  const make = () =>
    new Manager({
      ...presets.fastTest,
      store,
      group: "traced",
      source: partitions,
      tracer,
      hooks: {
        onAssignmentChanged: () => {},
        onPartitionAdded: () => {
          throw new Error("hook failure on purpose");
        },
        onError: () => {},
      },
    });
  const pool = [make()];
  try {
    await pool[0]!.start();
    pool.push(make());
    await pool[1]!.start();
    await waitForSettled(pool, partitions);
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === "parti.handoff"), {
      timeoutMs: 10_000,
      message: "the hand-off span ended",
    });
    const spans = exporter.getFinishedSpans();
    const named = (name: string) => spans.filter((s) => s.name === name);
    const rebalances = named("parti.rebalance");
    assert.ok(rebalances.length >= 2, "a rebalance per publication at least");
    const first = rebalances[0]!;
    assert.equal(typeof first.attributes.reason, "string");
    assert.equal(first.attributes.partitions, partitions.length);
    assert.ok(named("parti.publish").some((s) => s.attributes.phase === "revoke"));
    assert.ok(named("parti.publish").some((s) => s.attributes.phase === "assign"));
    const handoff = named("parti.handoff")[0]!;
    assert.equal(typeof handoff.attributes.version, "number");
    const hooks = named("parti.hook");
    assert.ok(
      hooks.some((s) => s.attributes.hook === "onAssignmentChanged" && s.status.code !== 2),
    );
    const failed = hooks.filter((s) => s.attributes.hook === "onPartitionAdded");
    assert.ok(failed.length > 0 && failed.every((s) => s.status.code === 2), "failures are marked");
    assert.ok(failed.every((s) => s.events.some((e) => e.name === "exception")));
  } finally {
    await Promise.all(pool.map((m) => m.stop()));
    await provider.shutdown();
  }
});
