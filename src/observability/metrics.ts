/**
 * The metrics recorder interface Parti reports its instruments to, the
 * {@link noopMetrics} recorder (what the library uses when none is given) and the naming rules
 * every recorder enforces. A ready-made Prometheus implementation lives in `./prometheus.ts`;
 * adapt any other metrics library by implementing {@link MetricsRecorder}.
 *
 * Instruments are registered once (usually at construction time) and then updated on hot paths,
 * so registration validates and updates only record.
 *
 * @module
 */

/**
 * Label values of one series, keyed by label name, e.g. `{ reason: "timeout" }`. The keys must be
 * exactly the label names the instrument was registered with.
 */
export type MetricLabels = Readonly<Record<string, string>>;

/** A monotonically increasing count, e.g. assignments published. */
export interface Counter {
  /**
   * Increases the counter.
   *
   * @param value Non-negative amount to add; defaults to `1`. Negative or `NaN` values throw a
   *   `RangeError` in recorders that keep state.
   * @param labels Label values of the series to increase.
   */
  add(value?: number, labels?: MetricLabels): void;
}

/** A value that can go up and down, e.g. partitions currently owned. */
export interface Gauge {
  /**
   * Sets the gauge to `value`.
   *
   * @param value The new value.
   * @param labels Label values of the series to set.
   */
  set(value: number, labels?: MetricLabels): void;
  /**
   * Adds `delta` (which may be negative) to the gauge.
   *
   * @param delta Amount to add.
   * @param labels Label values of the series to change.
   */
  add(delta: number, labels?: MetricLabels): void;
}

/** A distribution of observed values counted into buckets, e.g. rebalance durations in seconds. */
export interface Histogram {
  /**
   * Records one observation.
   *
   * @param value The observed value (for durations: seconds).
   * @param labels Label values of the series to record into.
   */
  observe(value: number, labels?: MetricLabels): void;
}

/** Options of {@link MetricsRecorder.histogram}. */
export interface HistogramOptions {
  /** Label names every observation must carry; none by default. `le` is reserved. */
  readonly labelNames?: readonly string[];
  /**
   * Strictly increasing finite upper bounds; the `+Inf` bucket is always added. Defaults to
   * {@link DEFAULT_SECONDS_BUCKETS}.
   */
  readonly buckets?: readonly number[];
}

/**
 * Where Parti records its metrics. Implementations must be cheap to update and must not throw
 * from updates except on contract violations (wrong labels, negative counter increments).
 *
 * Registration rules shared by every implementation:
 * - metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names match `[a-zA-Z_][a-zA-Z0-9_]*`
 *   and do not start with `__`; anything else throws a `TypeError` naming the metric or label
 *   (see {@link validateMetricName} and {@link validateLabelNames});
 * - registering a name again with the same kind returns the same instrument; with another kind
 *   it throws a `TypeError`.
 *
 * @example A recorder that counts how often each counter is increased
 * ```ts
 * import assert from "node:assert/strict";
 * import { type MetricsRecorder, noopMetrics, validateMetricName } from "./metrics.ts";
 *
 * const adds = new Map<string, number>();
 * const recorder: MetricsRecorder = {
 *   counter(name) {
 *     validateMetricName(name);
 *     return { add: (value = 1) => adds.set(name, (adds.get(name) ?? 0) + value) };
 *   },
 *   gauge: (name, help, labelNames) => noopMetrics.gauge(name, help, labelNames),
 *   histogram: (name, help, options) => noopMetrics.histogram(name, help, options),
 * };
 * const published = recorder.counter("assignments_published", "Assignments published.");
 * published.add();
 * published.add(2);
 * assert.equal(adds.get("assignments_published"), 3);
 * ```
 */
export interface MetricsRecorder {
  /**
   * Registers (or returns the already registered) counter `name`.
   *
   * @param name Metric name without prefix or `_total` suffix, e.g. `"rebalances"`.
   * @param help One-line description shown by scrapers.
   * @param labelNames Label names every increment must carry; none by default.
   * @returns The counter.
   */
  counter(name: string, help: string, labelNames?: readonly string[]): Counter;
  /**
   * Registers (or returns the already registered) gauge `name`.
   *
   * @param name Metric name without prefix, e.g. `"owned_partitions"`.
   * @param help One-line description shown by scrapers.
   * @param labelNames Label names every update must carry; none by default.
   * @returns The gauge.
   */
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge;
  /**
   * Registers (or returns the already registered) histogram `name`.
   *
   * @param name Metric name without prefix, e.g. `"rebalance_duration_seconds"`.
   * @param help One-line description shown by scrapers.
   * @param options Label names and bucket bounds.
   * @returns The histogram.
   */
  histogram(name: string, help: string, options?: HistogramOptions): Histogram;
}

/**
 * Default histogram buckets for durations in seconds: 1 ms to 30 s. Frozen.
 */
export const DEFAULT_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
]);

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Throws a `TypeError` unless `name` is a valid Prometheus metric name
 * (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
 *
 * @param name The metric name to check.
 * @throws {TypeError} Naming the invalid metric.
 */
export function validateMetricName(name: string): void {
  if (typeof name !== "string" || !METRIC_NAME.test(name)) {
    throw new TypeError(
      `Invalid metric name ${JSON.stringify(name)}: must match [a-zA-Z_:][a-zA-Z0-9_:]*`,
    );
  }
}

/**
 * Throws a `TypeError` unless every label name is valid (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting
 * with the reserved `__`) and no name occurs twice.
 *
 * @param metric The metric the labels belong to, named in the error.
 * @param labelNames The label names to check.
 * @throws {TypeError} Naming the metric and the invalid label.
 */
export function validateLabelNames(metric: string, labelNames: readonly string[]): void {
  if (!Array.isArray(labelNames)) {
    throw new TypeError(`Invalid label names for metric "${metric}": expected an array`);
  }
  for (let i = 0; i < labelNames.length; i++) {
    const label = labelNames[i];
    if (typeof label !== "string" || !LABEL_NAME.test(label)) {
      throw new TypeError(
        `Invalid label name ${
          JSON.stringify(label)
        } for metric "${metric}": must match [a-zA-Z_][a-zA-Z0-9_]*`,
      );
    }
    if (label.startsWith("__")) {
      throw new TypeError(
        `Invalid label name "${label}" for metric "${metric}": names starting with "__" are reserved`,
      );
    }
    if (labelNames.indexOf(label) !== i) {
      throw new TypeError(`Duplicate label name "${label}" for metric "${metric}"`);
    }
  }
}

/**
 * Checks histogram bucket bounds and returns them without a trailing `+Inf` (which every
 * histogram has implicitly).
 *
 * @param metric The metric the buckets belong to, named in the error.
 * @param buckets Strictly increasing finite bounds, optionally ending in `Infinity`.
 * @returns A frozen copy of the finite bounds.
 * @throws {RangeError} If a bound is not a number, not finite (except a trailing `Infinity`) or
 *   not greater than the one before.
 */
export function normalizeBuckets(metric: string, buckets: readonly number[]): readonly number[] {
  if (!Array.isArray(buckets)) {
    throw new RangeError(`Invalid buckets for metric "${metric}": expected an array of numbers`);
  }
  const end = buckets.length > 0 && buckets[buckets.length - 1] === Infinity
    ? buckets.length - 1
    : buckets.length;
  const bounds: number[] = [];
  for (let i = 0; i < end; i++) {
    const bound = buckets[i];
    if (typeof bound !== "number" || !Number.isFinite(bound)) {
      throw new RangeError(
        `Invalid bucket ${String(bound)} for metric "${metric}": bounds must be finite numbers`,
      );
    }
    const previous = bounds[bounds.length - 1];
    if (previous !== undefined && !(bound > previous)) {
      throw new RangeError(
        `Invalid buckets for metric "${metric}": bounds must be strictly increasing ` +
          `(${previous} then ${bound})`,
      );
    }
    bounds.push(bound);
  }
  return Object.freeze(bounds);
}

const NOOP_COUNTER: Counter = Object.freeze({ add(): void {} });
const NOOP_GAUGE: Gauge = Object.freeze({ set(): void {}, add(): void {} });
const NOOP_HISTOGRAM: Histogram = Object.freeze({ observe(): void {} });

/**
 * A recorder that discards everything; what Parti uses when no recorder is configured. Frozen;
 * registration returns shared frozen instruments and updates allocate nothing. Registration still
 * validates metric and label names (so a mistake shows up without a real recorder), but it keeps
 * no registry, so it cannot detect a name registered with two kinds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { noopMetrics } from "./metrics.ts";
 *
 * const rebalances = noopMetrics.counter("rebalances", "Rebalances.", ["reason"]);
 * rebalances.add(1, { reason: "join" }); // does nothing
 * assert.equal(rebalances, noopMetrics.counter("other", "Other."));
 * assert.throws(() => noopMetrics.gauge("bad-name", "Bad."), TypeError);
 * ```
 */
export const noopMetrics: MetricsRecorder = Object.freeze({
  counter(name: string, _help: string, labelNames?: readonly string[]): Counter {
    validateMetricName(name);
    if (labelNames !== undefined) validateLabelNames(name, labelNames);
    return NOOP_COUNTER;
  },
  gauge(name: string, _help: string, labelNames?: readonly string[]): Gauge {
    validateMetricName(name);
    if (labelNames !== undefined) validateLabelNames(name, labelNames);
    return NOOP_GAUGE;
  },
  histogram(name: string, _help: string, options?: HistogramOptions): Histogram {
    validateMetricName(name);
    if (options?.labelNames !== undefined) validateLabelNames(name, options.labelNames);
    return NOOP_HISTOGRAM;
  },
});
