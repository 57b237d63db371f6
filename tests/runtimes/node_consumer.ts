/**
 * A TypeScript user of the npm build, type-checked by `tsc` with `"moduleResolution": "NodeNext"`
 * in the runtime matrix (never run): every entry point's declarations resolve and type-check
 * against the installed nats.js packages.
 *
 * @module
 */
import { type Assignment, Manager, memoryStore, presets } from "@parti/core";
import { type AssignmentEngine, createAssignmentEngine } from "@parti/core/engine";
import { natsKvStore } from "@parti/core/nats";
import { partitionedConsumer } from "@parti/core/jetstream";
import { PrometheusRegistry } from "@parti/core/metrics";
import { otelMetrics } from "@parti/core/otel";
import { connect } from "@nats-io/transport-node";

const engine: AssignmentEngine = await createAssignmentEngine({ backend: "ts" });
const manager = new Manager({
  ...presets.fastTest,
  store: memoryStore(),
  group: "consumer",
  source: [{ keys: ["a"] }],
  engine,
});
const assignment: Assignment = manager.assignment;
const epoch: number = assignment.epoch;
const nc = await connect({ servers: "127.0.0.1:4222" });
const store = natsKvStore(nc);
console.log(epoch, store, partitionedConsumer, new PrometheusRegistry(), otelMetrics);
