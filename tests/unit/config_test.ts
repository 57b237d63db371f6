import assert from "node:assert/strict";
import { defaults, type ManagerOptions, presets, resolveConfig } from "../../src/config.ts";
import { InvalidConfigError } from "../../src/errors.ts";
import type { CoordinationStore } from "../../src/store/store.ts";

const store = {
  kind: "memory",
  bucket: () => Promise.reject(new Error("not used")),
  deleteBucket: () => Promise.resolve(),
} as CoordinationStore;

const base: ManagerOptions = { store, group: "orders", source: [{ keys: ["a"] }] };

function rejects(overrides: Record<string, unknown>, field: string, pattern?: RegExp): void {
  const options = { ...base, ...overrides } as ManagerOptions;
  assert.throws(
    () => resolveConfig(options),
    (error: unknown) => {
      assert.ok(error instanceof InvalidConfigError, `expected InvalidConfigError, got ${error}`);
      assert.equal(error.field, field);
      assert.equal(error.code, "INVALID_CONFIG");
      assert.match(error.message, new RegExp(`'${field.replace(/[[\].]/g, "\\$&")}'`));
      if (pattern) assert.match(error.message, pattern);
      return true;
    },
  );
}

Deno.test("resolveConfig() applies the documented defaults", () => {
  const config = resolveConfig(base);
  assert.equal(config.workerIdPrefix, "worker");
  assert.equal(config.workerIdMin, 0);
  assert.equal(config.workerIdMax, 99);
  assert.equal(config.workerIdTtlMs, 30_000);
  assert.equal(config.heartbeatIntervalMs, 2_000);
  assert.equal(config.heartbeatTtlMs, 6_000);
  assert.equal(config.electionLeaseMs, 5_000);
  assert.equal(config.coldStartWindowMs, 30_000);
  assert.equal(config.plannedScaleWindowMs, 10_000);
  assert.equal(config.emergencyGraceMs, 3_000);
  assert.equal(config.restartDetectionRatio, 0.5);
  assert.equal(config.minRebalanceIntervalMs, 10_000);
  assert.equal(config.minRebalanceThreshold, 0.15);
  assert.equal(config.partitionRefreshIntervalMs, 0);
  assert.equal(config.startupTimeoutMs, 60_000); // coldStartWindowMs + 30000
  assert.equal(config.shutdownTimeoutMs, 10_000);
  assert.equal(config.operationTimeoutMs, 10_000);
  assert.equal(config.onCoordinationLoss, "fence");
  assert.equal(config.revokeTimeoutMs, 300_000);
  assert.equal(config.onRevokeTimeout, "leave");
  assert.deepEqual(config.degraded, defaults.degraded);
  assert.deepEqual(config.kv, { replicas: 1, storage: "file" });
});

Deno.test("emergencyGraceMs defaults to 1.5 × the heartbeat interval", () => {
  const config = resolveConfig({ ...base, heartbeatIntervalMs: 400 });
  assert.equal(config.emergencyGraceMs, 600);
  assert.equal(config.heartbeatTtlMs, 1_200);
});

Deno.test("every preset passes validation", () => {
  for (const [name, preset] of Object.entries(presets)) {
    assert.doesNotThrow(() => resolveConfig({ ...base, ...preset }), name);
  }
});

Deno.test("a connection or a store is required, but not both", () => {
  rejects({ store: undefined }, "connection");
  rejects({ connection: {} }, "store", /not both/);
  rejects({ store: {} }, "store");
});

Deno.test("connection must have what the NATS KV store uses, checked without I/O", () => {
  const withoutStore = { store: undefined };
  rejects({ ...withoutStore, connection: {} }, "connection", /'request\(\)'.*'options'/);
  rejects({ ...withoutStore, connection: 4222 }, "connection", /got 4222/);
  rejects(
    { ...withoutStore, connection: Promise.resolve({}) },
    "connection",
    /Promise.*await connect\(\)/,
  );
});

Deno.test("group must be usable in bucket names", () => {
  rejects({ group: "" }, "group");
  rejects({ group: "a.b" }, "group");
  rejects({ group: "x".repeat(65) }, "group");
  rejects({ group: 7 }, "group");
});

Deno.test("workerIdPrefix must be usable in key names", () => {
  rejects({ workerIdPrefix: "w k" }, "workerIdPrefix");
  rejects({ workerIdPrefix: "" }, "workerIdPrefix");
});

Deno.test("workerIdMin must not exceed workerIdMax, and both are non-negative integers", () => {
  rejects({ workerIdMin: 5, workerIdMax: 4 }, "workerIdMax", /workerIdMin/);
  rejects({ workerIdMin: -1 }, "workerIdMin");
  rejects({ workerIdMax: 1.5 }, "workerIdMax");
});

Deno.test("heartbeatTtlMs must be at least twice heartbeatIntervalMs", () => {
  rejects({ heartbeatIntervalMs: 1_000, heartbeatTtlMs: 1_999 }, "heartbeatTtlMs", /2 ×/);
  assert.doesNotThrow(() =>
    resolveConfig({ ...base, heartbeatIntervalMs: 1_000, heartbeatTtlMs: 2_000 })
  );
});

Deno.test("workerIdTtlMs must be at least heartbeatTtlMs", () => {
  rejects({ heartbeatTtlMs: 6_000, workerIdTtlMs: 5_000 }, "workerIdTtlMs", /heartbeatTtlMs/);
});

Deno.test("coldStartWindowMs must be at least plannedScaleWindowMs", () => {
  rejects({ coldStartWindowMs: 1_000, plannedScaleWindowMs: 2_000 }, "coldStartWindowMs");
});

Deno.test("emergencyGraceMs must not exceed heartbeatTtlMs", () => {
  rejects({ emergencyGraceMs: 6_001 }, "emergencyGraceMs", /heartbeatTtlMs/);
});

Deno.test("ratios must lie in (0, 1]", () => {
  for (const value of [0, -0.1, 1.01, Number.NaN]) {
    rejects({ restartDetectionRatio: value }, "restartDetectionRatio", /\(0, 1\]/);
    rejects({ minRebalanceThreshold: value }, "minRebalanceThreshold", /\(0, 1\]/);
  }
});

Deno.test("every duration must be finite and non-negative", () => {
  const fields = [
    "workerIdTtlMs",
    "heartbeatIntervalMs",
    "heartbeatTtlMs",
    "electionLeaseMs",
    "coldStartWindowMs",
    "plannedScaleWindowMs",
    "emergencyGraceMs",
    "minRebalanceIntervalMs",
    "partitionRefreshIntervalMs",
    "startupTimeoutMs",
    "shutdownTimeoutMs",
    "operationTimeoutMs",
  ];
  for (const field of fields) {
    rejects({ [field]: -1 }, field);
    rejects({ [field]: Number.POSITIVE_INFINITY }, field, /finite/);
    rejects({ [field]: "100" }, field);
  }
});

Deno.test("startupTimeoutMs defaults to coldStartWindowMs + 30 s, which a new group's first start waits out", () => {
  assert.equal(
    resolveConfig({ ...base, coldStartWindowMs: 5_000, plannedScaleWindowMs: 2_000 })
      .startupTimeoutMs,
    35_000,
  );
  assert.equal(
    resolveConfig({
      ...base,
      coldStartWindowMs: 5_000,
      plannedScaleWindowMs: 2_000,
      startupTimeoutMs: 6_000,
    }).startupTimeoutMs,
    6_000,
  );
});

Deno.test("durations that drive timers must be greater than zero", () => {
  for (const field of ["heartbeatIntervalMs", "electionLeaseMs", "operationTimeoutMs"]) {
    rejects({ [field]: 0 }, field, /greater than 0/);
  }
});

Deno.test("onCoordinationLoss accepts only 'fence' and 'keep'", () => {
  rejects({ onCoordinationLoss: "drop" }, "onCoordinationLoss");
});

Deno.test("revokeTimeoutMs is a duration and onRevokeTimeout accepts only 'leave' and 'wait'", () => {
  rejects({ revokeTimeoutMs: -1 }, "revokeTimeoutMs");
  rejects({ revokeTimeoutMs: Number.NaN }, "revokeTimeoutMs");
  rejects({ onRevokeTimeout: "crash" }, "onRevokeTimeout");
});

Deno.test("degraded options are validated with their dotted names", () => {
  rejects({ degraded: { enterAfterMs: -5 } }, "degraded.enterAfterMs");
  rejects({ degraded: { kvErrorThreshold: 0 } }, "degraded.kvErrorThreshold");
  rejects(
    { degraded: { alertThresholdsMs: { info: 10_000, warn: 5_000 } } },
    "degraded.alertThresholdsMs.warn",
    /info/,
  );
});

Deno.test("kv options are validated", () => {
  rejects({ kv: { replicas: 0 } }, "kv.replicas");
  rejects({ kv: { replicas: 7 } }, "kv.replicas");
  rejects({ kv: { storage: "disk" } }, "kv.storage");
});

Deno.test("a static partition list is validated at construction, naming the entry", () => {
  rejects({ source: [{ keys: [] }] }, "source[0]", /empty 'keys'/);
  rejects({ source: [{ keys: ["a"] }, { keys: ["a", ""] }] }, "source[1]", /empty string/);
  rejects({ source: [{ keys: ["a"], weight: 0 }] }, "source[0]", /weight/);
  rejects({ source: [{ keys: ["a"], weight: Number.NaN }] }, "source[0]", /weight/);
  rejects({ source: [{ keys: ["a"], weight: Infinity }] }, "source[0]", /weight/);
  rejects({ source: [{ keys: ["a", "b"] }, { keys: ["a", "b"] }] }, "source[1]", /duplicates/);
  rejects({ source: "nope" }, "source");
});

Deno.test("hooks, strategy, clock, logger, metrics, tracer and instance are type-checked", () => {
  rejects({ hooks: { onError: 5 } }, "hooks.onError");
  rejects({ metrics: { counter() {}, gauge() {} } }, "metrics.histogram");
  rejects({ metrics: 5 }, "metrics.counter");
  rejects({ tracer: {} }, "tracer.startSpan");
  rejects({ strategy: 5 }, "strategy");
  rejects({ clock: {} }, "clock");
  rejects({ logger: { info() {} } }, "logger.debug");
  rejects({ instance: "" }, "instance");
});

Deno.test("placement options: labels, capacity, maxMovesPerRebalance and loadAware are validated, naming the field", () => {
  rejects({ labels: { "bad key": "x" } }, "labels", /key/);
  rejects({ labels: { zone: "not ok!" } }, "labels", /value/);
  rejects(
    { labels: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) },
    "labels",
  );
  rejects({ labels: "zone=a" }, "labels");
  rejects({ capacity: 0 }, "capacity");
  rejects({ capacity: Number.NaN }, "capacity");
  rejects({ maxMovesPerRebalance: 0 }, "maxMovesPerRebalance");
  rejects({ maxMovesPerRebalance: 2.5 }, "maxMovesPerRebalance");
  rejects({ loadAware: "yes" }, "loadAware");
  rejects({ loadAware: { blend: 0 } }, "loadAware.blend");
  rejects({ loadAware: { halfLifeMs: 0 } }, "loadAware.halfLifeMs");
  rejects({ loadAware: { digestSize: 5000 } }, "loadAware.digestSize");
  const c = resolveConfig({
    ...base,
    labels: { zone: "eu-1a", pool: "gpu" },
    capacity: 2,
    maxMovesPerRebalance: 0.25,
    loadAware: true,
  });
  assert.deepEqual(c.placement.labels, { zone: "eu-1a", pool: "gpu" });
  assert.equal(c.placement.capacity, 2);
  assert.equal(c.placement.maxMovesPerRebalance, 0.25);
  assert.equal(c.placement.loadAware?.halfLifeMs, 60_000);
  assert.equal(resolveConfig(base).placement.loadAware, undefined);
});

Deno.test("a static list given to several managers is checked once; a list that grew is checked again", () => {
  let reads = 0;
  const counted = (key: string) => ({
    get keys() {
      reads++;
      return [key];
    },
  });
  const list: { keys: string[] }[] = [counted("a"), counted("b")];
  resolveConfig({ ...base, source: list });
  const once = reads;
  assert.ok(once > 0);
  resolveConfig({ ...base, source: list });
  resolveConfig({ ...base, source: list });
  assert.equal(reads, once, "the same unchanged list is not read again");
  // A longer list is a changed one: checked again, and a bad entry is still rejected.
  list.push({ keys: [""] });
  assert.throws(() => resolveConfig({ ...base, source: list }), /source\[2\]/);
  // An equal list in another array is another list: checked on its own.
  resolveConfig({ ...base, source: [counted("a")] });
  assert.ok(reads > once);
});
