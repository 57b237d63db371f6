/**
 * Pins the public face of `@parti/core`: the runtime exports of `mod.ts`, the types a user needs
 * to implement a store or a strategy, and the checks the `Manager` constructor makes before any I/O.
 * Changing the export list should be a decision, so this test must be updated with it.
 */
import assert from "node:assert/strict";
import * as parti from "../../mod.ts";
import {
  consoleLogger,
  InvalidConfigError,
  Manager,
  type ManagerOptions,
  memoryStore,
  silentLogger,
} from "../../mod.ts";
// Type-only exports cannot be listed at run time; importing them makes `deno check` the pin.
import type {
  AssignmentStrategy,
  Bucket,
  BucketOptions,
  BucketStatus,
  BuiltinStrategy,
  Cancel,
  Clock,
  ConsistentHashOptions,
  ConsistentHashStrategy,
  ConsoleLoggerOptions,
  CoordinationStore,
  HealthMeasurements,
  KvEntry,
  KvWatch,
  LogFields,
  Logger,
  LogLevel,
  RoundRobinStrategy,
  StrategyFunction,
  StrategyInput,
  TopologyReader,
  TopologySnapshot,
  TopologySnapshotWorker,
  WatchOptions,
  WeightedConsistentHashOptions,
  WeightedConsistentHashStrategy,
} from "../../mod.ts";

type _PublicTypes = [
  AssignmentStrategy,
  Bucket,
  BucketOptions,
  BucketStatus,
  BuiltinStrategy,
  Cancel,
  Clock,
  ConsistentHashOptions,
  ConsistentHashStrategy,
  ConsoleLoggerOptions,
  CoordinationStore,
  HealthMeasurements,
  KvEntry,
  KvWatch,
  LogFields,
  Logger,
  LogLevel,
  RoundRobinStrategy,
  StrategyFunction,
  StrategyInput,
  TopologyReader,
  TopologySnapshot,
  TopologySnapshotWorker,
  WatchOptions,
  WeightedConsistentHashOptions,
  WeightedConsistentHashStrategy,
];

Deno.test("mod.ts exports exactly the documented runtime values", () => {
  assert.deepEqual(Object.keys(parti).sort(), [
    "AlreadyStartedError",
    "BucketConfigMismatchError",
    "BucketNotFoundError",
    "CoordinationUnavailableError",
    "EngineUnavailableError",
    "GroupAdmin",
    "GroupNotFoundError",
    "InvalidConfigError",
    "InvalidPartitionError",
    "LeadershipLostError",
    "MalformedDataError",
    "Manager",
    "NotStartedError",
    "OperationTimeoutError",
    "PartiError",
    "PartitionSourceError",
    "PermissionDeniedError",
    "PollingSource",
    "RevisionConflictError",
    "RevokeTimeoutError",
    "State",
    "StaticSource",
    "StrategyError",
    "UnplacedPartitionsError",
    "WorkerIdExhaustedError",
    "consistentHash",
    "consoleLogger",
    "healthHandler",
    "healthStatus",
    "memoryStore",
    "partitionId",
    "partitionWeight",
    "presets",
    "recommendedConnectionOptions",
    "roundRobin",
    "silentLogger",
    "systemClock",
    "validatePartitions",
    "weightedConsistentHash",
  ]);
});

Deno.test("configuration internals are not part of the public face", () => {
  const exports = parti as Record<string, unknown>;
  for (const name of ["resolveConfig", "defaults", "sanitizePartitions", "toError"]) {
    assert.equal(exports[name], undefined, name);
  }
});

const base = { group: "orders", source: [{ keys: ["a"] }] } as const;

function rejectsConnection(connection: unknown, pattern: RegExp): void {
  assert.throws(
    () => new Manager({ ...base, connection } as ManagerOptions),
    (error: unknown) => {
      assert.ok(error instanceof InvalidConfigError, `expected InvalidConfigError, got ${error}`);
      assert.equal(error.field, "connection");
      assert.equal(error.code, "INVALID_CONFIG");
      assert.match(error.message, /^Invalid option 'connection': /);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

/** An object with every member of a NatsConnection that the NATS KV store uses. */
function connectionShape(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    options: { inboxPrefix: "_INBOX" },
    features: { get: () => ({ ok: true, min: "2.9.0" }) },
    request: () => Promise.reject(new Error("not used")),
    subscribe: () => {
      throw new Error("not used");
    },
    publish: () => {},
    status: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => {}) }) }),
    isClosed: () => false,
    closed: () => new Promise(() => {}),
    ...overrides,
  };
}

Deno.test("a fake connection is rejected at construction, naming the missing members", () => {
  rejectsConnection(
    { isClosed: () => false, closed: () => Promise.resolve(), getServer: () => "x" },
    /no 'request\(\)', 'subscribe\(\)', 'publish\(\)', 'status\(\)', 'options', 'features.get\(\)'/,
  );
  rejectsConnection({}, /await connect\(\)/);
  rejectsConnection(connectionShape({ options: undefined }), /no 'options'/);
  rejectsConnection(connectionShape({ features: {} }), /no 'features.get\(\)'/);
});

Deno.test("a connection that is not an object, a Promise or a closed one is rejected", () => {
  rejectsConnection("nats://127.0.0.1:4222", /got 'nats:\/\/127.0.0.1:4222'/);
  rejectsConnection(null, /got null/);
  const pending = Promise.resolve(connectionShape());
  rejectsConnection(pending, /is a Promise.*await connect\(\)/);
  rejectsConnection(connectionShape({ isClosed: () => true }), /is closed; pass an open/);
});

Deno.test("an object shaped like a NatsConnection passes construction without any I/O", () => {
  const connection = connectionShape();
  assert.doesNotThrow(() => new Manager({ ...base, connection } as unknown as ManagerOptions));
});

Deno.test("a store still works in place of a connection", () => {
  assert.doesNotThrow(() => new Manager({ ...base, store: memoryStore() }));
});

function captureConsole(run: () => void): Array<[string, string]> {
  const lines: Array<[string, string]> = [];
  const original = {
    debug: console.debug,
    info: console.info,
    warn: console.warn,
    error: console.error,
  };
  for (const level of ["debug", "info", "warn", "error"] as const) {
    console[level] = (line: string) => lines.push([level, line]);
  }
  try {
    run();
  } finally {
    Object.assign(console, original);
  }
  return lines;
}

Deno.test("consoleLogger() writes one structured line per record at or above its level", () => {
  const lines = captureConsole(() => {
    const logger = consoleLogger();
    logger.debug("Dropped");
    logger.info("Claimed worker ID", { workerId: "worker-0" });
    logger.warn("Heartbeat failed", { error: new parti.NotStartedError(), attempt: 2n });
    logger.error("Gave up");
  });
  assert.deepEqual(lines, [
    ["info", '[parti] info Claimed worker ID {"workerId":"worker-0"}'],
    [
      "warn",
      '[parti] warn Heartbeat failed {"error":{"name":"NotStartedError","message":' +
      '"Manager is not started; call start() first","code":"NOT_STARTED"},"attempt":"2"}',
    ],
    ["error", "[parti] error Gave up"],
  ]);
});

Deno.test("consoleLogger() honours level and prefix, and survives circular fields", () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const lines = captureConsole(() => {
    const logger = consoleLogger({ level: "debug", prefix: "" });
    logger.debug("Step", { n: 1 });
    logger.info("Loop", circular);
    consoleLogger({ level: "error", prefix: "[orders]" }).warn("Dropped");
    consoleLogger({ level: "error", prefix: "[orders]" }).error("Kept");
  });
  assert.deepEqual(lines, [
    ["debug", 'debug Step {"n":1}'],
    ["info", 'info Loop {"fields":"unserializable"}'],
    ["error", "[orders] error Kept"],
  ]);
  assert.throws(() => consoleLogger({ level: "verbose" as LogLevel }), RangeError);
});

Deno.test("silentLogger writes nothing and is accepted as a manager's logger", () => {
  const lines = captureConsole(() => {
    for (const level of ["debug", "info", "warn", "error"] as const) silentLogger[level]("x");
  });
  assert.deepEqual(lines, []);
  assert.doesNotThrow(() => new Manager({ ...base, store: memoryStore(), logger: silentLogger }));
  assert.doesNotThrow(() =>
    new Manager({ ...base, store: memoryStore(), logger: consoleLogger() })
  );
});
