/**
 * A dependency-free {@link MetricsRecorder} that keeps metrics in memory and renders them in the
 * Prometheus text exposition format (version 0.0.4), plus a fetch-style handler to serve them.
 *
 * @module
 */

import {
  type Counter,
  DEFAULT_SECONDS_BUCKETS,
  type Gauge,
  type Histogram,
  type HistogramOptions,
  type MetricLabels,
  type MetricsRecorder,
  normalizeBuckets,
  validateLabelNames,
  validateMetricName,
} from "./metrics.ts";
import {
  type AnyFamily,
  CounterFamily,
  escapeHelp,
  escapeLabelValue,
  GaugeFamily,
  HistogramFamily,
  type Kind,
} from "./prometheus_families.ts";

/** The `Content-Type` of {@link PrometheusRegistry.render}'s output: text format 0.0.4. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8";

/** Options of the {@link PrometheusRegistry} constructor. */
export interface PrometheusRegistryOptions {
  /**
   * Prepended to every metric name; defaults to `"parti_"`. Must be empty or a valid metric name
   * prefix (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
   */
  readonly prefix?: string;
  /**
   * Labels added to every series, e.g. `{ group: "orders", worker: "worker-0" }`. Instruments may
   * not declare a label of the same name, and `le` is reserved.
   */
  readonly constLabels?: MetricLabels;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * An in-memory {@link MetricsRecorder} rendered in the Prometheus text exposition format 0.0.4.
 *
 * - Every metric name gets the `prefix` (default `"parti_"`); counters end in `_total` (added
 *   unless the name already ends in it).
 * - `constLabels` are added to every series.
 * - Output is stable: metrics in registration order, series sorted by their label string.
 *   Instruments without labels are rendered (as zero) from registration on; labeled ones from
 *   their first update.
 * - Re-registering a name with the same kind returns the existing instrument (its first help text
 *   is kept; different label names or buckets throw a `TypeError`). Registering a name (or a name
 *   one of its series would use, such as a histogram's `_count`) with another kind throws a
 *   `TypeError`.
 *
 * @example Record, render and serve
 * ```ts
 * import assert from "node:assert/strict";
 * import { contentType, PrometheusRegistry } from "./prometheus.ts";
 *
 * const registry = new PrometheusRegistry({ constLabels: { group: "orders" } });
 * const rebalances = registry.counter("rebalances", "Rebalances started.", ["reason"]);
 * const owned = registry.gauge("owned_partitions", "Partitions owned by this worker.");
 * const duration = registry.histogram("rebalance_duration_seconds", "Rebalance duration.", {
 *   buckets: [0.1, 1],
 * });
 *
 * rebalances.add(1, { reason: "join" });
 * owned.set(12);
 * duration.observe(0.25);
 *
 * assert.equal(
 *   registry.render(),
 *   [
 *     "# HELP parti_rebalances_total Rebalances started.",
 *     "# TYPE parti_rebalances_total counter",
 *     'parti_rebalances_total{group="orders",reason="join"} 1',
 *     "# HELP parti_owned_partitions Partitions owned by this worker.",
 *     "# TYPE parti_owned_partitions gauge",
 *     'parti_owned_partitions{group="orders"} 12',
 *     "# HELP parti_rebalance_duration_seconds Rebalance duration.",
 *     "# TYPE parti_rebalance_duration_seconds histogram",
 *     'parti_rebalance_duration_seconds_bucket{group="orders",le="0.1"} 0',
 *     'parti_rebalance_duration_seconds_bucket{group="orders",le="1"} 1',
 *     'parti_rebalance_duration_seconds_bucket{group="orders",le="+Inf"} 1',
 *     'parti_rebalance_duration_seconds_sum{group="orders"} 0.25',
 *     'parti_rebalance_duration_seconds_count{group="orders"} 1',
 *     "",
 *   ].join("\n"),
 * );
 *
 * const response = registry.handler()(new Request("http://localhost/metrics"));
 * assert.equal(response.headers.get("content-type"), contentType);
 * assert.equal(await response.text(), registry.render());
 * ```
 */
export class PrometheusRegistry implements MetricsRecorder {
  /** The `Content-Type` of {@link PrometheusRegistry.render}'s output; same as {@link contentType}. */
  static readonly contentType: string = contentType;

  readonly #prefix: string;
  readonly #constLabelNames: ReadonlySet<string>;
  /** Pre-rendered const labels, e.g. `group="orders",worker="worker-0"`. */
  readonly #constLabels: string;
  /** Families in registration order. */
  readonly #families: AnyFamily[] = [];
  /** Families by full metric name. */
  readonly #byName = new Map<string, AnyFamily>();
  /** Every sample name a family writes (e.g. `x_bucket`), mapped to the family's name. */
  readonly #sampleNames = new Map<string, string>();

  /**
   * Creates an empty registry.
   *
   * @param options Name prefix and labels added to every series.
   * @throws {TypeError} If the prefix or a const label name is invalid, or a const label value is
   *   not a string.
   */
  constructor(options: PrometheusRegistryOptions = {}) {
    const prefix = options.prefix ?? "parti_";
    if (prefix !== "") validateMetricName(prefix);
    this.#prefix = prefix;
    const constLabels = options.constLabels ?? {};
    const names = Object.keys(constLabels).sort();
    validateLabelNames("(const labels)", names);
    if (names.includes("le")) {
      throw new TypeError('Invalid const label name "le": reserved for histogram buckets');
    }
    this.#constLabelNames = new Set(names);
    this.#constLabels = names.map((name) => {
      const value = constLabels[name];
      if (typeof value !== "string") {
        throw new TypeError(`Invalid value for const label "${name}": must be a string`);
      }
      return name + '="' + escapeLabelValue(value) + '"';
    }).join(",");
  }

  /**
   * Registers (or returns the already registered) counter `name`, rendered as
   * `<prefix><name>_total`.
   *
   * @param name Metric name without prefix; `_total` is appended unless already there.
   * @param help One-line description.
   * @param labelNames Label names every increment must carry.
   * @returns The counter; {@link Counter.add} throws a `RangeError` for negative or `NaN` values.
   */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    const full = this.#fullName("counter", name, help, labelNames);
    const metric = full.endsWith("_total") ? full : full + "_total";
    const existing = this.#existing("counter", metric, labelNames);
    if (existing !== undefined) return existing as CounterFamily;
    return this.#add(new CounterFamily(metric, help, labelNames), []);
  }

  /**
   * Registers (or returns the already registered) gauge `name`, rendered as `<prefix><name>`.
   *
   * @param name Metric name without prefix.
   * @param help One-line description.
   * @param labelNames Label names every update must carry.
   * @returns The gauge.
   */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const metric = this.#fullName("gauge", name, help, labelNames);
    const existing = this.#existing("gauge", metric, labelNames);
    if (existing !== undefined) return existing as GaugeFamily;
    return this.#add(new GaugeFamily(metric, help, labelNames), []);
  }

  /**
   * Registers (or returns the already registered) histogram `name`, rendered as
   * `<prefix><name>_bucket`, `_sum` and `_count`.
   *
   * @param name Metric name without prefix, e.g. `"rebalance_duration_seconds"`.
   * @param help One-line description.
   * @param options Label names (`le` is reserved) and bucket bounds (default
   *   {@link DEFAULT_SECONDS_BUCKETS}).
   * @returns The histogram.
   * @throws {RangeError} If the buckets are not strictly increasing finite numbers.
   */
  histogram(name: string, help: string, options: HistogramOptions = {}): Histogram {
    const labelNames = options.labelNames ?? [];
    const metric = this.#fullName("histogram", name, help, labelNames);
    if (labelNames.includes("le")) {
      throw new TypeError(
        `Invalid label name "le" for metric "${metric}": reserved for histogram buckets`,
      );
    }
    const buckets = normalizeBuckets(metric, options.buckets ?? DEFAULT_SECONDS_BUCKETS);
    const existing = this.#existing("histogram", metric, labelNames);
    if (existing !== undefined) {
      const histogram = existing as HistogramFamily;
      if (!sameNumbers(histogram.buckets, buckets)) {
        throw new TypeError(
          `Metric "${metric}" is already registered with buckets ${histogram.buckets.join(", ")}`,
        );
      }
      return histogram;
    }
    return this.#add(
      new HistogramFamily(metric, help, labelNames, buckets),
      [metric + "_bucket", metric + "_sum", metric + "_count"],
    );
  }

  /**
   * Renders every registered metric in the Prometheus text exposition format 0.0.4.
   *
   * @returns The exposition, ending in a line feed (empty when nothing is registered).
   */
  render(): string {
    const out: string[] = [];
    for (const family of this.#families) {
      const start = out.length;
      out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
      out.push(`# TYPE ${family.name} ${family.kind}`);
      const withHeader = out.length;
      family.renderSeries(out, this.#constLabels);
      // A labeled family without series yet is left out entirely.
      if (out.length === withHeader) out.length = start;
    }
    return out.length === 0 ? "" : out.join("\n") + "\n";
  }

  /**
   * A fetch-style handler serving {@link render} (e.g. to `Deno.serve`). Answers `GET` and `HEAD`
   * with status 200 and {@link contentType} whatever the path and `Accept` header; other methods
   * get 405.
   *
   * @returns The handler.
   */
  handler(): (req: Request) => Response {
    return (req: Request): Response => {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("Method Not Allowed\n", {
          status: 405,
          headers: { "allow": "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
        });
      }
      const headers = { "content-type": contentType, "cache-control": "no-store" };
      return new Response(req.method === "HEAD" ? null : this.render(), { status: 200, headers });
    };
  }

  /** Validates a registration and returns the prefixed name. */
  #fullName(kind: Kind, name: string, help: string, labelNames: readonly string[]): string {
    validateMetricName(name);
    if (typeof help !== "string") {
      throw new TypeError(`Invalid help for ${kind} "${name}": must be a string`);
    }
    const metric = this.#prefix + name;
    validateLabelNames(metric, labelNames);
    for (const label of labelNames) {
      if (this.#constLabelNames.has(label)) {
        throw new TypeError(
          `Invalid label name "${label}" for metric "${metric}": already a const label`,
        );
      }
    }
    return metric;
  }

  /** The family already registered as `metric`, after checking it is compatible. */
  #existing(kind: Kind, metric: string, labelNames: readonly string[]): AnyFamily | undefined {
    const existing = this.#byName.get(metric);
    if (existing === undefined) return undefined;
    if (existing.kind !== kind) {
      throw new TypeError(
        `Metric "${metric}" is already registered as a ${existing.kind}, not a ${kind}`,
      );
    }
    if (!sameStrings([...existing.declaredLabels].sort(), [...labelNames].sort())) {
      throw new TypeError(
        `Metric "${metric}" is already registered with labels [${
          existing.declaredLabels.join(", ")
        }], not [${labelNames.join(", ")}]`,
      );
    }
    return existing;
  }

  /** Registers `family`, whose series use its name and `extraSamples` (histogram suffixes). */
  #add<F extends AnyFamily>(family: F, extraSamples: readonly string[]): F {
    const samples = [family.name, ...extraSamples];
    for (const sample of samples) {
      const owner = this.#sampleNames.get(sample);
      if (owner !== undefined) {
        throw new TypeError(
          `Metric "${family.name}" (${family.kind}) collides with series "${sample}" of "${owner}"`,
        );
      }
    }
    for (const sample of samples) this.#sampleNames.set(sample, family.name);
    this.#families.push(family);
    this.#byName.set(family.name, family);
    return family;
  }
}
