/**
 * OpenTelemetry for a manager: {@link otelMetrics} records its series on an OpenTelemetry `Meter`
 * (from `npm:@opentelemetry/api`; this module depends on nothing, it takes any object shaped like
 * one). Nothing is exported unless the application installs a `MeterProvider`; without one the
 * API's no-op meter makes every call free. For spans, pass an OpenTelemetry tracer as the
 * manager's `tracer` option.
 *
 * @example Record on the global meter provider
 * ```ts
 * import { metrics } from "@opentelemetry/api";
 * import { Manager, memoryStore } from "@parti/core";
 * import { otelMetrics } from "@parti/core/otel";
 *
 * const manager = new Manager({
 *   store: memoryStore(),
 *   group: "orders",
 *   source: [{ keys: ["orders", "0"] }],
 *   metrics: otelMetrics(metrics.getMeter("orders-worker")),
 * });
 * console.assert(manager.state === "init");
 * ```
 *
 * @module
 */
import {
  type Counter,
  type Gauge,
  type Histogram,
  type MetricLabels,
  type MetricsRecorder,
  validateMetricName,
} from "./metrics.ts";

export type {
  Counter,
  Gauge,
  Histogram,
  HistogramOptions,
  MetricLabels,
  MetricsRecorder,
} from "./metrics.ts";

/** Attributes of a measurement, as OpenTelemetry takes them. */
export type MeterAttributes = Record<string, string>;

/** The part of an OpenTelemetry `Meter` {@link otelMetrics} uses (`@opentelemetry/api` ≥ 1.9). */
export interface MeterLike {
  /** Creates a monotonic counter. */
  createCounter(name: string, options?: { description?: string }): {
    add(value: number, attributes?: MeterAttributes): void;
  };
  /** Creates a synchronous gauge. */
  createGauge(name: string, options?: { description?: string }): {
    record(value: number, attributes?: MeterAttributes): void;
  };
  /** Creates a histogram; `advice.explicitBucketBoundaries` sets its buckets. */
  createHistogram(
    name: string,
    options?: { description?: string; advice?: { explicitBucketBoundaries?: number[] } },
  ): { record(value: number, attributes?: MeterAttributes): void };
}

/** Options of {@link otelMetrics}. */
export interface OtelMetricsOptions {
  /** Prepended to every instrument name. @default {"parti."} */
  readonly prefix?: string;
}

/**
 * A {@link MetricsRecorder} over an OpenTelemetry meter: counters become OTel counters (the
 * `_total` suffix is Prometheus' convention and is not added), gauges synchronous gauges and
 * histograms histograms with the given buckets as explicit bucket boundaries. Labels become
 * attributes.
 *
 * @param meter The meter, e.g. `metrics.getMeter("my-service")`.
 * @param options Name prefix.
 * @returns The recorder to pass as the manager's `metrics` option.
 */
export function otelMetrics(meter: MeterLike, options: OtelMetricsOptions = {}): MetricsRecorder {
  const prefix = options.prefix ?? "parti.";
  const made = new Map<string, { kind: string; instrument: Counter | Gauge | Histogram }>();
  const once = <T extends Counter | Gauge | Histogram>(
    kind: string,
    name: string,
    make: () => T,
  ): T => {
    validateMetricName(name);
    const known = made.get(name);
    if (known) {
      if (known.kind !== kind) {
        throw new TypeError(`Metric '${name}' is already registered as a ${known.kind}`);
      }
      return known.instrument as T;
    }
    const instrument = make();
    made.set(name, { kind, instrument });
    return instrument;
  };
  const attributes = (labels: MetricLabels | undefined): MeterAttributes | undefined =>
    labels as MeterAttributes | undefined;
  return {
    counter(name, help) {
      return once("counter", name, () => {
        const c = meter.createCounter(prefix + name, { description: help });
        return {
          add(value = 1, labels) {
            if (value < 0) throw new RangeError(`Counter '${name}' cannot decrease`);
            c.add(value, attributes(labels));
          },
        };
      });
    },
    gauge(name, help) {
      return once("gauge", name, () => {
        const g = meter.createGauge(prefix + name, { description: help });
        const values = new Map<string, number>();
        const keyOf = (labels: MetricLabels | undefined) =>
          JSON.stringify(Object.entries(labels ?? {}).sort());
        return {
          set(value, labels) {
            values.set(keyOf(labels), value);
            g.record(value, attributes(labels));
          },
          add(delta, labels) {
            const value = (values.get(keyOf(labels)) ?? 0) + delta;
            values.set(keyOf(labels), value);
            g.record(value, attributes(labels));
          },
        };
      });
    },
    histogram(name, help, histogramOptions) {
      return once("histogram", name, () => {
        const buckets = histogramOptions?.buckets;
        const h = meter.createHistogram(prefix + name, {
          description: help,
          ...(buckets ? { advice: { explicitBucketBoundaries: [...buckets] } } : {}),
        });
        return { observe: (value, labels) => h.record(value, attributes(labels)) };
      });
    },
  };
}
