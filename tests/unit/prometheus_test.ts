import assert from "node:assert/strict";
// An independent parser of the text format (the package ships no types: typed below).
import parsePrometheusTextFormatUntyped from "npm:parse-prometheus-text-format@1.1.1";
import {
  DEFAULT_SECONDS_BUCKETS,
  type MetricsRecorder,
  noopMetrics,
  normalizeBuckets,
  validateLabelNames,
  validateMetricName,
} from "../../src/observability/metrics.ts";
import { contentType, PrometheusRegistry } from "../../src/observability/prometheus.ts";

// ---------------------------------------------------------------------------------------------
// Independent validation of the output.

interface ParsedSample {
  readonly value?: string;
  readonly labels?: Record<string, string>;
  readonly buckets?: Record<string, string>;
  readonly count?: string;
  readonly sum?: string;
}

interface ParsedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly metrics: ParsedSample[];
}

const parseExposition = parsePrometheusTextFormatUntyped as (text: string) => ParsedFamily[];

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = "[a-zA-Z_][a-zA-Z0-9_]*";
// A label value: anything but `"`, `\` and line feed, or one of the three escapes.
const LABEL_VALUE = String.raw`(?:[^"\\\n]|\\[\\"n])*`;
const LABEL_PAIR = `${LABEL}="${LABEL_VALUE}"`;
// Go's strconv.ParseFloat syntax as Prometheus writes it, plus the special values.
const FLOAT = String.raw`(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)`;
const HELP_LINE = new RegExp(String.raw`^# HELP (${NAME}) ((?:[^\\\n]|\\[\\n])*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(
  `^(${NAME})(?:\\{((?:${LABEL_PAIR})(?:,${LABEL_PAIR})*,?)?\\})? (${FLOAT})(?: -?\\d+)?$`,
);
const PAIR = new RegExp(`(${LABEL})="(${LABEL_VALUE})"`, "g");

function parseFloatLikePrometheus(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  return Number(text);
}

/**
 * A strict checker of the text exposition format 0.0.4 (line grammar plus the family rules the
 * npm parser is lenient about): every line is a HELP, TYPE or sample line; each family's HELP and
 * TYPE come once, before its samples, and its samples are contiguous; sample names belong to
 * their family (`_total` for counters, `_bucket`/`_sum`/`_count` for histograms); no series
 * repeats; histogram buckets are cumulative and end in `le="+Inf"` equal to `_count`.
 */
function assertValidExposition(text: string): void {
  if (text === "") return;
  assert.ok(text.endsWith("\n"), "exposition must end with a line feed");
  const lines = text.slice(0, -1).split("\n");
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const finished = new Set<string>();
  const seenSeries = new Set<string>();
  let current: string | undefined;
  // Histogram state per (family, labels without le).
  const buckets = new Map<string, { last: number; inf?: number; count?: number }>();

  const enter = (family: string, line: string): void => {
    if (current === family) return;
    assert.ok(!finished.has(family), `family ${family} is not contiguous: ${line}`);
    if (current !== undefined) finished.add(current);
    current = family;
  };

  for (const line of lines) {
    let match = HELP_LINE.exec(line);
    if (match) {
      const family = match[1]!;
      assert.ok(!helps.has(family), `second HELP for ${family}`);
      assert.ok(!types.has(family), `HELP after TYPE/samples for ${family}`);
      helps.add(family);
      enter(family, line);
      continue;
    }
    match = TYPE_LINE.exec(line);
    if (match) {
      const family = match[1]!;
      assert.ok(!types.has(family), `second TYPE for ${family}`);
      types.set(family, match[2]!);
      enter(family, line);
      continue;
    }
    match = SAMPLE_LINE.exec(line);
    assert.ok(match, `not a valid exposition line: ${JSON.stringify(line)}`);
    const name = match[1]!;
    const labelText = match[2] ?? "";
    const valueText = match[3]!;
    const labels = new Map<string, string>();
    for (const pair of labelText.matchAll(PAIR)) {
      assert.ok(!labels.has(pair[1]!), `label ${pair[1]} repeated: ${line}`);
      labels.set(pair[1]!, pair[2]!);
    }
    const family = [...types.keys()].find((f) => {
      const type = types.get(f);
      if (type === "histogram") {
        return name === f + "_bucket" || name === f + "_sum" || name === f + "_count";
      }
      return name === f;
    });
    assert.ok(family !== undefined, `sample ${name} has no TYPE line before it`);
    assert.equal(family, current, `sample ${name} outside its family block`);
    const type = types.get(family);
    if (type === "counter") assert.ok(name.endsWith("_total"), `counter ${name} lacks _total`);
    const seriesId = name + "{" + [...labels].sort().map(([k, v]) => `${k}=${v}`).join(",") + "}";
    assert.ok(!seenSeries.has(seriesId), `series repeated: ${line}`);
    seenSeries.add(seriesId);
    if (type === "histogram") {
      const value = parseFloatLikePrometheus(valueText);
      const rest = [...labels].filter(([k]) => k !== "le").sort().map(([k, v]) => `${k}=${v}`);
      const id = family + "{" + rest.join(",") + "}";
      const state = buckets.get(id) ?? { last: 0 };
      buckets.set(id, state);
      if (name.endsWith("_bucket")) {
        const le = labels.get("le");
        assert.ok(le !== undefined, `bucket without le: ${line}`);
        assert.ok(state.inf === undefined, `bucket after le="+Inf": ${line}`);
        assert.ok(value >= state.last, `buckets not cumulative: ${line}`);
        state.last = value;
        if (le === "+Inf") state.inf = value;
      } else {
        assert.ok(!labels.has("le"), `le on ${name}`);
        if (name.endsWith("_count")) state.count = value;
      }
    }
  }
  for (const [id, state] of buckets) {
    assert.ok(state.inf !== undefined, `histogram ${id} lacks le="+Inf"`);
    assert.equal(state.inf, state.count, `histogram ${id}: +Inf bucket != _count`);
  }
}

/** Both validators; returns the npm parser's view. */
function validate(text: string): ParsedFamily[] {
  assertValidExposition(text);
  return parseExposition(text);
}

/** A registry with one instrument of each kind and some data, used by several tests. */
function sampleRegistry(): PrometheusRegistry {
  const registry = new PrometheusRegistry({ constLabels: { worker: "worker-0", group: "orders" } });
  const rebalances = registry.counter("rebalances", "Rebalances started.", ["reason"]);
  rebalances.add(1, { reason: "join" });
  rebalances.add(2, { reason: "emergency" });
  registry.gauge("owned_partitions", "Partitions owned.").set(12);
  const duration = registry.histogram("rebalance_duration_seconds", "Rebalance duration.", {
    labelNames: ["reason"],
    buckets: [0.1, 1, 10],
  });
  duration.observe(0.05, { reason: "join" });
  duration.observe(0.5, { reason: "join" });
  duration.observe(100, { reason: "join" });
  return registry;
}

// ---------------------------------------------------------------------------------------------
// Golden output per kind.

Deno.test("counter: _total suffix, HELP/TYPE, series sorted by label string", () => {
  const registry = new PrometheusRegistry();
  const c = registry.counter("hook_errors", "Hooks that threw.", ["hook"]);
  c.add(1, { hook: "onRevoked" });
  c.add(1, { hook: "onAssigned" });
  c.add(undefined, { hook: "onAssigned" });
  c.add(0.5, { hook: "onAssigned" });
  const plain = registry.counter("heartbeat_failures_total", "Failed heartbeats.");
  plain.add();
  assert.equal(
    registry.render(),
    [
      "# HELP parti_hook_errors_total Hooks that threw.",
      "# TYPE parti_hook_errors_total counter",
      'parti_hook_errors_total{hook="onAssigned"} 2.5',
      'parti_hook_errors_total{hook="onRevoked"} 1',
      "# HELP parti_heartbeat_failures_total Failed heartbeats.",
      "# TYPE parti_heartbeat_failures_total counter",
      "parti_heartbeat_failures_total 1",
      "",
    ].join("\n"),
  );
  validate(registry.render());
});

Deno.test("gauge: set, add, negative values and special numbers", () => {
  const registry = new PrometheusRegistry({ prefix: "" });
  const g = registry.gauge("temperature", "Temperature.", ["room"]);
  g.set(3, { room: "a" });
  g.add(-5.5, { room: "a" });
  g.add(2, { room: "b" });
  g.set(Infinity, { room: "c" });
  g.set(-Infinity, { room: "d" });
  g.set(NaN, { room: "e" });
  g.set(1e21, { room: "f" });
  g.set(1.5e-7, { room: "g" });
  g.set(-0, { room: "h" });
  const text = registry.render();
  assert.equal(
    text,
    [
      "# HELP temperature Temperature.",
      "# TYPE temperature gauge",
      'temperature{room="a"} -2.5',
      'temperature{room="b"} 2',
      'temperature{room="c"} +Inf',
      'temperature{room="d"} -Inf',
      'temperature{room="e"} NaN',
      'temperature{room="f"} 1e+21',
      'temperature{room="g"} 1.5e-7',
      'temperature{room="h"} 0',
      "",
    ].join("\n"),
  );
  const [family] = validate(text);
  assert.equal(family?.type, "GAUGE");
  assert.deepEqual(
    family?.metrics.map((m) => m.value),
    ["-2.5", "2", "+Inf", "-Inf", "NaN", "1e+21", "1.5e-7", "0"],
  );
});

Deno.test("histogram: cumulative buckets, +Inf, _sum and _count", () => {
  const registry = new PrometheusRegistry({ constLabels: { group: "orders" } });
  const h = registry.histogram("hook_duration_seconds", "Hook duration.", {
    labelNames: ["hook"],
    buckets: [0.01, 0.1, 1],
  });
  // Binary fractions, so the sum is exact; 0.1 sits exactly on a bound (le is inclusive).
  for (const v of [0.0078125, 0.0078125, 0.0625, 0.5, 0.75, 4]) {
    h.observe(v, { hook: "onAssigned" });
  }
  h.observe(0.1, { hook: "onRevoked" });
  assert.equal(
    registry.render(),
    [
      "# HELP parti_hook_duration_seconds Hook duration.",
      "# TYPE parti_hook_duration_seconds histogram",
      'parti_hook_duration_seconds_bucket{group="orders",hook="onAssigned",le="0.01"} 2',
      'parti_hook_duration_seconds_bucket{group="orders",hook="onAssigned",le="0.1"} 3',
      'parti_hook_duration_seconds_bucket{group="orders",hook="onAssigned",le="1"} 5',
      'parti_hook_duration_seconds_bucket{group="orders",hook="onAssigned",le="+Inf"} 6',
      'parti_hook_duration_seconds_sum{group="orders",hook="onAssigned"} 5.328125',
      'parti_hook_duration_seconds_count{group="orders",hook="onAssigned"} 6',
      'parti_hook_duration_seconds_bucket{group="orders",hook="onRevoked",le="0.01"} 0',
      'parti_hook_duration_seconds_bucket{group="orders",hook="onRevoked",le="0.1"} 1',
      'parti_hook_duration_seconds_bucket{group="orders",hook="onRevoked",le="1"} 1',
      'parti_hook_duration_seconds_bucket{group="orders",hook="onRevoked",le="+Inf"} 1',
      'parti_hook_duration_seconds_sum{group="orders",hook="onRevoked"} 0.1',
      'parti_hook_duration_seconds_count{group="orders",hook="onRevoked"} 1',
      "",
    ].join("\n"),
  );
  // The npm parser flattens labeled histograms into one entry (its known limitation), so only
  // the family is compared here; the strict checker validates every series.
  const [family] = validate(registry.render());
  assert.equal(family?.type, "HISTOGRAM");
  assert.equal(family?.name, "parti_hook_duration_seconds");
});

Deno.test("histogram: default buckets, trailing Infinity dropped, NaN counted only in +Inf", () => {
  const registry = new PrometheusRegistry({ prefix: "" });
  const d = registry.histogram("d_seconds", "Default buckets.");
  d.observe(0.2);
  const lines = registry.render().split("\n").filter((l) => l.startsWith("d_seconds_bucket"));
  assert.deepEqual(
    lines.map((l) => /le="([^"]+)"/.exec(l)?.[1]),
    [...DEFAULT_SECONDS_BUCKETS.map(String), "+Inf"],
  );
  assert.equal(lines[0], 'd_seconds_bucket{le="0.001"} 0');
  assert.equal(lines.at(-1), 'd_seconds_bucket{le="+Inf"} 1');

  const n = registry.histogram("n", "NaN and huge values.", { buckets: [1, Infinity] });
  n.observe(NaN);
  n.observe(2);
  n.observe(Infinity);
  const text = registry.render();
  assert.ok(
    text.endsWith(
      [
        "# TYPE n histogram",
        'n_bucket{le="1"} 0',
        'n_bucket{le="+Inf"} 3',
        "n_sum NaN",
        "n_count 3",
        "",
      ].join("\n"),
    ),
    text,
  );
  const families = validate(text);
  assert.deepEqual(families[1], {
    name: "n",
    help: "NaN and huge values.",
    type: "HISTOGRAM",
    metrics: [{ buckets: { "1": "0", "+Inf": "3" }, count: "3", sum: "NaN" }],
  });
});

Deno.test("an instrument without labels renders zero from registration; a labeled one waits", () => {
  const registry = new PrometheusRegistry();
  registry.counter("a", "A.");
  registry.gauge("b", "B.", ["x"]);
  registry.histogram("c", "C.", { buckets: [1] });
  assert.equal(
    registry.render(),
    [
      "# HELP parti_a_total A.",
      "# TYPE parti_a_total counter",
      "parti_a_total 0",
      "# HELP parti_c C.",
      "# TYPE parti_c histogram",
      'parti_c_bucket{le="1"} 0',
      'parti_c_bucket{le="+Inf"} 0',
      "parti_c_sum 0",
      "parti_c_count 0",
      "",
    ].join("\n"),
  );
  assert.equal(new PrometheusRegistry().render(), "");
});

Deno.test("metrics render in registration order, whatever their names", () => {
  const registry = new PrometheusRegistry({ prefix: "" });
  registry.gauge("zeta", "Z.").set(1);
  registry.counter("alpha", "A.").add(1);
  registry.gauge("mid", "M.").set(1);
  const names = registry.render().split("\n").filter((l) => l.startsWith("# TYPE"));
  assert.deepEqual(names, ["# TYPE zeta gauge", "# TYPE alpha_total counter", "# TYPE mid gauge"]);
});

// ---------------------------------------------------------------------------------------------
// Escaping.

Deno.test("HELP escapes backslash and line feed; label values also the double quote", () => {
  const registry = new PrometheusRegistry({
    prefix: "",
    constLabels: { path: 'C:\\dir\\"x"' },
  });
  const g = registry.gauge("weird", 'Help with \\ backslash,\nnewline and "quotes".', ["v"]);
  g.set(1, { v: 'a"b' });
  g.set(2, { v: "line\nbreak" });
  g.set(3, { v: "back\\slash" });
  g.set(4, { v: "ünïcødé ✓" });
  const text = registry.render();
  assert.equal(
    text,
    [
      '# HELP weird Help with \\\\ backslash,\\nnewline and "quotes".',
      "# TYPE weird gauge",
      'weird{path="C:\\\\dir\\\\\\"x\\"",v="a\\"b"} 1',
      'weird{path="C:\\\\dir\\\\\\"x\\"",v="back\\\\slash"} 3',
      'weird{path="C:\\\\dir\\\\\\"x\\"",v="line\\nbreak"} 2',
      'weird{path="C:\\\\dir\\\\\\"x\\"",v="ünïcødé ✓"} 4',
      "",
    ].join("\n"),
  );
  const [family] = validate(text);
  assert.equal(family?.help, 'Help with \\ backslash,\nnewline and "quotes".');
  assert.deepEqual(
    family?.metrics.map((m) => m.labels?.v),
    ['a"b', "back\\slash", "line\nbreak", "ünïcødé ✓"],
  );
  assert.ok(family?.metrics.every((m) => m.labels?.path === 'C:\\dir\\"x"'));
});

// ---------------------------------------------------------------------------------------------
// Validation.

Deno.test("invalid metric names throw a TypeError naming the metric", () => {
  const registry = new PrometheusRegistry();
  for (const bad of ["", "1abc", "with-dash", "spa ce", "ünï", "a.b"]) {
    assert.throws(() => registry.counter(bad, "x"), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.ok(e.message.includes(JSON.stringify(bad)), e.message);
      return true;
    });
    assert.throws(() => registry.gauge(bad, "x"), TypeError);
    assert.throws(() => registry.histogram(bad, "x"), TypeError);
    assert.throws(() => noopMetrics.counter(bad, "x"), TypeError);
  }
  for (const good of ["a", "_a", ":a", "a:b_c9", "A_Z"]) validateMetricName(good);
  assert.throws(() => new PrometheusRegistry({ prefix: "bad-" }), TypeError);
  assert.throws(() => new PrometheusRegistry({ prefix: "9" }), TypeError);
  new PrometheusRegistry({ prefix: "" }).counter("a", "A.");
});

Deno.test("invalid label names throw a TypeError naming the metric and the label", () => {
  const registry = new PrometheusRegistry();
  const cases: Array<[readonly string[], string]> = [
    [["__reserved"], "__reserved"],
    [["bad-label"], "bad-label"],
    [["9lives"], "9lives"],
    [["a:b"], "a:b"],
    [["ok", "ok"], "ok"],
    [[""], '""'],
  ];
  for (const [labels, named] of cases) {
    assert.throws(() => registry.gauge("g", "G.", labels), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.ok(e.message.includes("parti_g"), e.message);
      assert.ok(e.message.includes(named), e.message);
      return true;
    });
    assert.throws(() => noopMetrics.gauge("g", "G.", labels), TypeError);
  }
  validateLabelNames("m", ["_x", "a1", "_"]);
  assert.throws(
    () => registry.histogram("h", "H.", { labelNames: ["le"] }),
    /Invalid label name "le" for metric "parti_h"/,
  );
  assert.throws(() => new PrometheusRegistry({ constLabels: { "__x": "1" } }), /"__x"/);
  assert.throws(() => new PrometheusRegistry({ constLabels: { le: "1" } }), TypeError);
  const withConst = new PrometheusRegistry({ constLabels: { group: "orders" } });
  assert.throws(() => withConst.counter("c", "C.", ["group"]), /"group".*const label/);
});

Deno.test("updates with wrong labels throw a TypeError naming the metric and label", () => {
  const registry = new PrometheusRegistry();
  const c = registry.counter("c", "C.", ["a", "b"]);
  assert.throws(() => c.add(1), /parti_c_total.*missing labels/);
  assert.throws(() => c.add(1, { a: "1" }), /parti_c_total.*missing label "b"/);
  assert.throws(() => c.add(1, { a: "1", b: "2", z: "3" }), /parti_c_total.*unexpected label "z"/);
  assert.throws(
    () => c.add(1, { a: "1", b: 2 } as unknown as Record<string, string>),
    /label "b" must be a string/,
  );
  const g = registry.gauge("g", "G.");
  assert.throws(() => g.set(1, { x: "y" }), /parti_g.*unexpected label "x"/);
  g.set(1, {});
  // Label order in the object does not matter: both land in one series.
  c.add(1, { b: "2", a: "1" });
  c.add(1, { a: "1", b: "2" });
  assert.ok(registry.render().includes('parti_c_total{a="1",b="2"} 2\n'));
});

Deno.test("counter.add rejects negative and NaN values with a RangeError", () => {
  const registry = new PrometheusRegistry();
  const c = registry.counter("c", "C.");
  assert.throws(() => c.add(-1), RangeError);
  assert.throws(() => c.add(NaN), RangeError);
  c.add(0);
  c.add(Infinity);
  assert.ok(registry.render().includes("parti_c_total +Inf\n"));
});

Deno.test("invalid buckets throw a RangeError", () => {
  const registry = new PrometheusRegistry();
  assert.throws(() => registry.histogram("h1", "H.", { buckets: [1, 1] }), RangeError);
  assert.throws(() => registry.histogram("h2", "H.", { buckets: [2, 1] }), RangeError);
  assert.throws(() => registry.histogram("h3", "H.", { buckets: [NaN] }), RangeError);
  assert.throws(() => registry.histogram("h4", "H.", { buckets: [-Infinity, 1] }), RangeError);
  assert.throws(() => registry.histogram("h5", "H.", { buckets: [Infinity, 1] }), RangeError);
  assert.deepEqual(normalizeBuckets("m", [1, 2, Infinity]), [1, 2]);
  assert.deepEqual(normalizeBuckets("m", []), []);
  // A histogram with no finite bucket has just +Inf.
  registry.histogram("only_inf", "H.", { buckets: [] }).observe(5);
  assert.ok(registry.render().includes('parti_only_inf_bucket{le="+Inf"} 1\n'));
  validate(registry.render());
});

// ---------------------------------------------------------------------------------------------
// Re-registration and collisions.

Deno.test("registering a name again with the same kind returns the same instrument", () => {
  const registry = new PrometheusRegistry();
  const c1 = registry.counter("c", "C.", ["a", "b"]);
  const c2 = registry.counter("c", "Other help is ignored.", ["b", "a"]);
  const c3 = registry.counter("c_total", "C.", ["a", "b"]);
  assert.equal(c1, c2);
  assert.equal(c1, c3);
  assert.equal(registry.gauge("g", "G."), registry.gauge("g", "G."));
  const h = registry.histogram("h", "H.", { buckets: [1, 2] });
  assert.equal(registry.histogram("h", "H.", { buckets: [1, 2, Infinity] }), h);
  c1.add(1, { a: "x", b: "y" });
  c2.add(1, { a: "x", b: "y" });
  const text = registry.render();
  assert.equal(text.match(/# TYPE parti_c_total/g)?.length, 1);
  assert.ok(text.includes('parti_c_total{a="x",b="y"} 2\n'));
  assert.ok(text.includes("# HELP parti_c_total C.\n"));
});

Deno.test("registering a name with another kind, labels or buckets throws", () => {
  const registry = new PrometheusRegistry();
  registry.counter("c", "C.");
  registry.gauge("g", "G.", ["a"]);
  registry.histogram("h", "H.", { buckets: [1] });
  assert.throws(() => registry.gauge("g", "G.", ["b"]), /already registered with labels/);
  assert.throws(() => registry.gauge("g", "G."), /already registered with labels/);
  assert.throws(() => registry.histogram("h", "H.", { buckets: [2] }), /buckets/);
  assert.throws(() => registry.gauge("h", "H."), /already registered as a histogram, not a gauge/);
  assert.throws(() => registry.histogram("g", "G."), /already registered as a gauge/);
  // The counter is exposed as parti_c_total, so that name is taken too.
  assert.throws(() => registry.gauge("c_total", "C."), /already registered as a counter/);
  // Names the histogram's series use.
  assert.throws(() => registry.gauge("h_count", "X."), /collides with series "parti_h_count"/);
  assert.throws(() => registry.gauge("h_bucket", "X."), TypeError);
  // A counter never collides with them: it is exposed as parti_h_bucket_total.
  registry.counter("h_bucket", "X.");
  registry.gauge("x_sum", "X.");
  assert.throws(() => registry.histogram("x", "X."), /collides with series "parti_x_sum"/);
  // Failed registrations left nothing behind.
  validate(registry.render());
  // c, h, h_bucket (counter) and x_sum; the labeled gauge g has no series yet.
  assert.deepEqual(registry.render().match(/^# TYPE \S+/gm), [
    "# TYPE parti_c_total",
    "# TYPE parti_h",
    "# TYPE parti_h_bucket_total",
    "# TYPE parti_x_sum",
  ]);
});

// ---------------------------------------------------------------------------------------------
// The no-op recorder.

Deno.test("noopMetrics is frozen and hands out shared, inert instruments", () => {
  assert.ok(Object.isFrozen(noopMetrics));
  const recorder: MetricsRecorder = noopMetrics;
  const c = recorder.counter("c", "C.", ["a"]);
  const g = recorder.gauge("g", "G.");
  const h = recorder.histogram("h", "H.", { labelNames: ["a"], buckets: [1] });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(g) && Object.isFrozen(h));
  assert.equal(c, recorder.counter("other", "O."));
  c.add(-1);
  c.add(1, { wrong: "labels" });
  g.set(1);
  g.add(1);
  h.observe(1);
  assert.ok(Object.isFrozen(DEFAULT_SECONDS_BUCKETS));
});

// ---------------------------------------------------------------------------------------------
// Whole-output validation and serving.

Deno.test("a registry with every kind renders valid exposition the npm parser agrees with", () => {
  const text = sampleRegistry().render();
  const families = validate(text);
  assert.deepEqual(
    families.map((f) => [f.name, f.type, f.help]),
    [
      ["parti_rebalances_total", "COUNTER", "Rebalances started."],
      ["parti_owned_partitions", "GAUGE", "Partitions owned."],
      ["parti_rebalance_duration_seconds", "HISTOGRAM", "Rebalance duration."],
    ],
  );
  assert.deepEqual(families[0]?.metrics, [
    { value: "2", labels: { group: "orders", worker: "worker-0", reason: "emergency" } },
    { value: "1", labels: { group: "orders", worker: "worker-0", reason: "join" } },
  ]);
  // Labeled histograms come out of the npm parser flattened, without labels, sum or count.
  assert.deepEqual(families[2]?.metrics[0]?.buckets, {
    "0.1": "1",
    "1": "2",
    "10": "2",
    "+Inf": "3",
  });
});

Deno.test("the strict checker rejects malformed exposition", () => {
  const bad = [
    "no_newline 1",
    'metric{a="unterminated} 1\n',
    'metric{a="x" } 1\n',
    "metric 1 2 3\n",
    "metric one\n",
    "# TYPE m gauge\n# TYPE m gauge\nm 1\n",
    "# TYPE c counter\nc 1\n",
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n',
    "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",
    'm{a="bad\\escape"} 1\n',
  ];
  for (const text of bad) assert.throws(() => assertValidExposition(text), text);
});

Deno.test("handler: GET and HEAD serve the exposition, other methods get 405", async () => {
  const registry = sampleRegistry();
  const handle = registry.handler();
  const get = handle(new Request("http://localhost/anything"));
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("content-type"), contentType);
  assert.equal(PrometheusRegistry.contentType, "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(await get.text(), registry.render());
  const head = handle(new Request("http://localhost/metrics", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.body, null);
  const post = handle(new Request("http://localhost/metrics", { method: "POST", body: "x" }));
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();
});

Deno.test("served over HTTP, a scrape gets 200, the 0.0.4 content type and a valid body", async () => {
  const registry = sampleRegistry();
  const handle = registry.handler();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/metrics" ? handle(req) : new Response(null, { status: 404 }),
  );
  try {
    const response = await fetch(`http://127.0.0.1:${server.addr.port}/metrics`, {
      headers: {
        // What Prometheus 3 sends when scraping.
        "accept": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," +
          "application/openmetrics-text;version=0.0.1;q=0.5," +
          "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4," +
          "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        "user-agent": "Prometheus/3.0.0",
        "x-prometheus-scrape-timeout-seconds": "10",
      },
    });
    const body = await response.text();
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), contentType);
    assert.equal(body, registry.render());
    const families = validate(body);
    assert.deepEqual(families.map((f) => f.name), [
      "parti_rebalances_total",
      "parti_owned_partitions",
      "parti_rebalance_duration_seconds",
    ]);
    assert.equal(families[1]?.metrics[0]?.value, "12");
  } finally {
    await server.shutdown();
  }
});
