/**
 * Metrics for a manager: the recorder interface the `metrics` option takes, a Prometheus registry
 * that renders the text exposition format and serves it, and the no-op default. For
 * OpenTelemetry, see `@parti/core/otel`.
 *
 * @example Expose a worker's series to Prometheus
 * ```ts
 * import { Manager, memoryStore } from "@parti/core";
 * import { PrometheusRegistry } from "@parti/core/metrics";
 *
 * const registry = new PrometheusRegistry();
 * const manager = new Manager({
 *   store: memoryStore(),
 *   group: "orders",
 *   source: [{ keys: ["orders", "0"] }],
 *   metrics: registry,
 * });
 * // e.g. Deno.serve({ port: 9464 }, registry.handler());
 * console.assert(manager.state === "init" && typeof registry.render() === "string");
 * ```
 *
 * @module
 */
export {
  type Counter,
  DEFAULT_SECONDS_BUCKETS,
  type Gauge,
  type Histogram,
  type HistogramOptions,
  type MetricLabels,
  type MetricsRecorder,
  noopMetrics,
} from "./metrics.ts";
export { contentType, PrometheusRegistry, type PrometheusRegistryOptions } from "./prometheus.ts";
