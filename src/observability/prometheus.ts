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

type Kind = "counter" | "gauge" | "histogram";

const LABEL_VALUE_SPECIAL = /[\\"\n]/;
const LABEL_VALUE_SPECIAL_ALL = /[\\"\n]/g;
const HELP_SPECIAL = /[\\\n]/;
const HELP_SPECIAL_ALL = /[\\\n]/g;

function escapeChar(c: string): string {
  return c === "\n" ? "\\n" : "\\" + c;
}

/** Escapes a label value: backslash, double quote and line feed. */
function escapeLabelValue(value: string): string {
  return LABEL_VALUE_SPECIAL.test(value)
    ? value.replace(LABEL_VALUE_SPECIAL_ALL, escapeChar)
    : value;
}

/** Escapes a HELP text: backslash and line feed. */
function escapeHelp(help: string): string {
  return HELP_SPECIAL.test(help) ? help.replace(HELP_SPECIAL_ALL, escapeChar) : help;
}

/** Formats a sample value (or `le` bound) the way Prometheus parses it. */
function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (value !== value) return "NaN";
  return String(value);
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** Joins label strings (each possibly empty) into `{...}`, or `""` when there are none. */
function braces(constLabels: string, labels: string, extra = ""): string {
  let inner = constLabels;
  if (labels !== "") inner = inner === "" ? labels : inner + "," + labels;
  if (extra !== "") inner = inner === "" ? extra : inner + "," + extra;
  return inner === "" ? "" : "{" + inner + "}";
}

/**
 * State shared by the three instrument kinds: naming, label handling and the series map keyed
 * by the canonical (sorted, escaped) label string, which is also the rendered label string.
 */
abstract class Family<S> {
  readonly kind: Kind;
  readonly name: string;
  readonly help: string;
  /** Label names as registered, for re-registration checks. */
  readonly declaredLabels: readonly string[];
  /** Label names sorted, the order series keys are built in. */
  readonly #labelNames: readonly string[];
  readonly #series = new Map<string, S>();
  #sortedKeys: string[] | undefined;
  /** Creates a zero-valued series. */
  readonly #newSeries: () => S;
  /** The only series of an instrument without labels. */
  readonly #unlabeled: S | undefined;

  constructor(
    kind: Kind,
    name: string,
    help: string,
    labelNames: readonly string[],
    newSeries: () => S,
  ) {
    this.kind = kind;
    this.name = name;
    this.help = help;
    this.declaredLabels = Object.freeze([...labelNames]);
    this.#labelNames = Object.freeze([...labelNames].sort());
    this.#newSeries = newSeries;
    if (labelNames.length === 0) {
      this.#unlabeled = newSeries();
      this.#series.set("", this.#unlabeled);
    }
  }

  /** Renders all series of this family, after the HELP and TYPE lines. */
  abstract renderSeries(out: string[], constLabels: string): void;

  /** The series for `labels`, created on first use. */
  protected series(labels: MetricLabels | undefined): S {
    if (this.#unlabeled !== undefined) {
      if (labels !== undefined) {
        for (const label in labels) throw this.#labelError(`unexpected label "${label}"`);
      }
      return this.#unlabeled;
    }
    const key = this.#key(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = this.#newSeries();
      this.#series.set(key, series);
      this.#sortedKeys = undefined;
    }
    return series;
  }

  /** Series in render order: sorted by label string. */
  protected sortedSeries(): Array<[string, S]> {
    if (this.#sortedKeys === undefined) this.#sortedKeys = [...this.#series.keys()].sort();
    return this.#sortedKeys.map((key) => [key, this.#series.get(key)!]);
  }

  #key(labels: MetricLabels | undefined): string {
    const names = this.#labelNames;
    if (labels === undefined) throw this.#labelError(`missing labels ${names.join(", ")}`);
    let count = 0;
    for (const _ in labels) count++;
    let key = "";
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const value = labels[name];
      if (typeof value !== "string") {
        throw this.#labelError(
          value === undefined ? `missing label "${name}"` : `label "${name}" must be a string`,
        );
      }
      key += (i === 0 ? "" : ",") + name + '="' + escapeLabelValue(value) + '"';
    }
    if (count !== names.length) {
      for (const label in labels) {
        if (!names.includes(label)) throw this.#labelError(`unexpected label "${label}"`);
      }
    }
    return key;
  }

  #labelError(problem: string): TypeError {
    const expected = this.#labelNames.length === 0 ? "none" : this.#labelNames.join(", ");
    return new TypeError(
      `Invalid labels for metric "${this.name}": ${problem} (expected: ${expected})`,
    );
  }
}

interface Scalar {
  value: number;
}

function newScalar(): Scalar {
  return { value: 0 };
}

function renderScalars(
  out: string[],
  name: string,
  constLabels: string,
  series: Array<[string, Scalar]>,
): void {
  for (const [key, s] of series) {
    out.push(name + braces(constLabels, key) + " " + formatValue(s.value));
  }
}

class CounterFamily extends Family<Scalar> implements Counter {
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super("counter", name, help, labelNames, newScalar);
  }

  add(value = 1, labels?: MetricLabels): void {
    if (!(value >= 0)) {
      throw new RangeError(
        `Counter "${this.name}" can only increase: got ${String(value)}`,
      );
    }
    this.series(labels).value += value;
  }

  renderSeries(out: string[], constLabels: string): void {
    renderScalars(out, this.name, constLabels, this.sortedSeries());
  }
}

class GaugeFamily extends Family<Scalar> implements Gauge {
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super("gauge", name, help, labelNames, newScalar);
  }

  set(value: number, labels?: MetricLabels): void {
    this.series(labels).value = value;
  }

  add(delta: number, labels?: MetricLabels): void {
    this.series(labels).value += delta;
  }

  renderSeries(out: string[], constLabels: string): void {
    renderScalars(out, this.name, constLabels, this.sortedSeries());
  }
}

interface Distribution {
  /** Observations per bucket (not cumulative), one entry per finite bound. */
  readonly counts: number[];
  sum: number;
  count: number;
}

class HistogramFamily extends Family<Distribution> implements Histogram {
  readonly buckets: readonly number[];
  /** Pre-rendered `le="..."` labels, one per finite bound. */
  readonly #leLabels: readonly string[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ) {
    super("histogram", name, help, labelNames, () => ({
      counts: new Array<number>(buckets.length).fill(0),
      sum: 0,
      count: 0,
    }));
    this.buckets = buckets;
    this.#leLabels = buckets.map((bound) => `le="${formatValue(bound)}"`);
  }

  observe(value: number, labels?: MetricLabels): void {
    const series = this.series(labels);
    const bounds = this.buckets;
    const counts = series.counts;
    // Non-cumulative: each observation lands in the first bucket whose bound is >= value
    // (none for values above every bound or NaN, which only the +Inf bucket, i.e. count, holds).
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        counts[i]!++;
        break;
      }
    }
    series.sum += value;
    series.count++;
  }

  renderSeries(out: string[], constLabels: string): void {
    const bucketName = this.name + "_bucket";
    const le = this.#leLabels;
    for (const [key, s] of this.sortedSeries()) {
      let cumulative = 0;
      for (let i = 0; i < le.length; i++) {
        cumulative += s.counts[i]!;
        out.push(bucketName + braces(constLabels, key, le[i]!) + " " + formatValue(cumulative));
      }
      out.push(bucketName + braces(constLabels, key, 'le="+Inf"') + " " + formatValue(s.count));
      const labels = braces(constLabels, key);
      out.push(this.name + "_sum" + labels + " " + formatValue(s.sum));
      out.push(this.name + "_count" + labels + " " + formatValue(s.count));
    }
  }
}

type AnyFamily = CounterFamily | GaugeFamily | HistogramFamily;

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
