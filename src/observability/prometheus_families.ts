/**
 * The metric families behind `PrometheusRegistry`: one counter, gauge or histogram with its
 * series (one per label set), and how each renders its samples in the Prometheus text exposition
 * format 0.0.4. Internal: users get them as {@link Counter}, {@link Gauge} and {@link Histogram}
 * from the registry.
 *
 * @module
 */

import type { Counter, Gauge, Histogram, MetricLabels } from "./metrics.ts";

/** The instrument kind of a family, as written on its `# TYPE` line. */
export type Kind = "counter" | "gauge" | "histogram";

const LABEL_VALUE_SPECIAL = /[\\"\n]/;
const LABEL_VALUE_SPECIAL_ALL = /[\\"\n]/g;
const HELP_SPECIAL = /[\\\n]/;
const HELP_SPECIAL_ALL = /[\\\n]/g;

function escapeChar(c: string): string {
  return c === "\n" ? "\\n" : "\\" + c;
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return LABEL_VALUE_SPECIAL.test(value)
    ? value.replace(LABEL_VALUE_SPECIAL_ALL, escapeChar)
    : value;
}

/** Escapes a HELP text: backslash and line feed. */
export function escapeHelp(help: string): string {
  return HELP_SPECIAL.test(help) ? help.replace(HELP_SPECIAL_ALL, escapeChar) : help;
}

/** Formats a sample value (or `le` bound) the way Prometheus parses it. */
function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (value !== value) return "NaN";
  return String(value);
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
export abstract class Family<S> {
  /** The instrument kind, for the `# TYPE` line. */
  readonly kind: Kind;
  /** The full metric name, prefix included. */
  readonly name: string;
  /** The help text as registered (unescaped). */
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

  /**
   * @param kind The instrument kind.
   * @param name The full metric name, prefix included.
   * @param help The help text.
   * @param labelNames The label names every update must carry (validated by the registry).
   * @param newSeries Creates a zero-valued series.
   */
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

/** A counter and its series; renders one `<name>{labels} <value>` sample per series. */
export class CounterFamily extends Family<Scalar> implements Counter {
  /**
   * @param name The full metric name, prefix and `_total` included.
   * @param help The help text.
   * @param labelNames The label names every increment must carry.
   */
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super("counter", name, help, labelNames, newScalar);
  }

  /**
   * Adds `value` to the series of `labels`.
   *
   * @throws {RangeError} If `value` is negative or `NaN`.
   */
  add(value = 1, labels?: MetricLabels): void {
    if (!(value >= 0)) {
      throw new RangeError(
        `Counter "${this.name}" can only increase: got ${String(value)}`,
      );
    }
    this.series(labels).value += value;
  }

  /** Renders every series as `<name>{labels} <value>`. */
  renderSeries(out: string[], constLabels: string): void {
    renderScalars(out, this.name, constLabels, this.sortedSeries());
  }
}

/** A gauge and its series; renders one `<name>{labels} <value>` sample per series. */
export class GaugeFamily extends Family<Scalar> implements Gauge {
  /**
   * @param name The full metric name, prefix included.
   * @param help The help text.
   * @param labelNames The label names every update must carry.
   */
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super("gauge", name, help, labelNames, newScalar);
  }

  /** Sets the series of `labels` to `value`. */
  set(value: number, labels?: MetricLabels): void {
    this.series(labels).value = value;
  }

  /** Adds `delta` (possibly negative) to the series of `labels`. */
  add(delta: number, labels?: MetricLabels): void {
    this.series(labels).value += delta;
  }

  /** Renders every series as `<name>{labels} <value>`. */
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

/**
 * A histogram and its series; renders cumulative `_bucket` samples (one per bound, then `+Inf`),
 * `_sum` and `_count` per series.
 */
export class HistogramFamily extends Family<Distribution> implements Histogram {
  /** The finite upper bounds, strictly increasing (`+Inf` is implied). */
  readonly buckets: readonly number[];
  /** Pre-rendered `le="..."` labels, one per finite bound. */
  readonly #leLabels: readonly string[];

  /**
   * @param name The full metric name, prefix included.
   * @param help The help text.
   * @param labelNames The label names every observation must carry (not `le`).
   * @param buckets The finite upper bounds, already normalized.
   */
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

  /** Records `value` in the series of `labels`. */
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

  /** Renders every series as cumulative `_bucket` samples, `_sum` and `_count`. */
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

/** Any family a registry holds. */
export type AnyFamily = CounterFamily | GaugeFamily | HistogramFamily;
