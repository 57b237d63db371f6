/**
 * Manager options: their defaults, the presets and the validation that runs in the `Manager`
 * constructor before any I/O. Every error names the offending option and says how to fix it.
 *
 * @module
 */
import type { AssignmentStrategy } from "./engine/mod.ts";
import { InvalidConfigError } from "./errors.ts";
import { type Partition, sanitizePartitions } from "./partition.ts";
import type { Clock } from "./runtime/clock.ts";
import { systemClock } from "./runtime/clock.ts";
import type { CoordinationStore } from "./store/store.ts";
import type { Hooks, Logger, NatsConnection, PartitionSource } from "./types.ts";

/** Degraded-mode settings (all durations in milliseconds). */
export interface DegradedOptions {
  /**
   * Time without a healthy connection before entering `degraded`.
   * @default {10000}
   */
  readonly enterAfterMs?: number;
  /**
   * Time of healthy connection needed to leave `degraded`.
   * @default {5000}
   */
  readonly exitAfterMs?: number;
  /**
   * Coordination errors within `kvErrorWindowMs` that enter `degraded`.
   * @default {5}
   */
  readonly kvErrorThreshold?: number;
  /**
   * Window over which coordination errors are counted.
   * @default {30000}
   */
  readonly kvErrorWindowMs?: number;
  /**
   * After recovering, how long a leader waits before treating silent workers as dead.
   * @default {15000}
   */
  readonly recoveryGraceMs?: number;
  /**
   * Time in `degraded` at which each alert level fires (ascending).
   * @default {{ info: 30000, warn: 120000, error: 300000, critical: 600000 }}
   */
  readonly alertThresholdsMs?: {
    readonly info?: number;
    readonly warn?: number;
    readonly error?: number;
    readonly critical?: number;
  };
}

/** Settings of the KV buckets Parti creates. */
export interface KvOptions {
  /**
   * Replica count of every bucket (use 3 on a clustered JetStream).
   * @default {1}
   */
  readonly replicas?: number;
  /**
   * Storage of every bucket.
   * @default {"file"}
   */
  readonly storage?: "file" | "memory";
}

/** Timing and behaviour options shared by presets and `ManagerOptions` (durations in ms). */
export interface TuningOptions {
  /**
   * Prefix of worker IDs (`worker-0`, `worker-1`, …).
   * @default {"worker"}
   */
  readonly workerIdPrefix?: string;
  /**
   * Lowest worker ID number.
   * @default {0}
   */
  readonly workerIdMin?: number;
  /**
   * Highest worker ID number; the pool holds `workerIdMax - workerIdMin + 1` workers.
   * @default {99}
   */
  readonly workerIdMax?: number;
  /**
   * Time-to-live of a worker ID claim that is no longer renewed (ID bucket TTL).
   * @default {30000}
   */
  readonly workerIdTtlMs?: number;
  /**
   * How often a worker renews its heartbeat.
   * @default {2000}
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * A worker not observed for this long is dead; must be at least twice the interval.
   * @default {6000}
   */
  readonly heartbeatTtlMs?: number;
  /**
   * Leader lease duration; followers take over after observing no renewal for this long.
   * @default {5000}
   */
  readonly electionLeaseMs?: number;
  /**
   * How long the leader waits for workers to arrive on a cold start.
   * @default {30000}
   */
  readonly coldStartWindowMs?: number;
  /**
   * How long the leader batches joins, leaves and partition changes.
   * @default {10000}
   */
  readonly plannedScaleWindowMs?: number;
  /**
   * Delay before a dead worker's partitions are reassigned.
   * @default {1.5 × heartbeatIntervalMs}
   */
  readonly emergencyGraceMs?: number;
  /**
   * Fraction of new workers at once that counts as a cold start (a restart of the pool).
   * @default {0.5}
   */
  readonly restartDetectionRatio?: number;
  /**
   * Minimum spacing of planned rebalances (emergencies are not held back).
   * @default {10000}
   */
  readonly minRebalanceIntervalMs?: number;
  /**
   * A balance-only rebalance is skipped when it would improve balance by less than this fraction.
   * @default {0.15}
   */
  readonly minRebalanceThreshold?: number;
  /**
   * How often the leader re-reads the partition source (0 = only on `refreshPartitions()`).
   * @default {0}
   */
  readonly partitionRefreshIntervalMs?: number;
  /**
   * Upper bound for `start()` to reach a first assignment.
   * @default {30000}
   */
  readonly startupTimeoutMs?: number;
  /**
   * Upper bound for `stop()`, including waiting for hooks in flight.
   * @default {10000}
   */
  readonly shutdownTimeoutMs?: number;
  /**
   * Timeout of a single coordination operation.
   * @default {10000}
   */
  readonly operationTimeoutMs?: number;
  /**
   * What a worker does when it cannot reach coordination: `"fence"` releases its partitions before
   * anyone else can get them (exclusive ownership); `"keep"` keeps serving in `degraded` state
   * (availability over exclusivity).
   * @default {"fence"}
   */
  readonly onCoordinationLoss?: "fence" | "keep";
  /** Degraded-mode settings. */
  readonly degraded?: DegradedOptions;
  /** Bucket settings. */
  readonly kv?: KvOptions;
}

/** Options of `new Manager(options)`. Exactly one of `connection` and `store` is required. */
export interface ManagerOptions extends TuningOptions {
  /**
   * An open NATS connection from any nats.js v3 transport: `connect()` of
   * `@nats-io/transport-deno` or `@nats-io/transport-node`, or `wsconnect()` of
   * `@nats-io/nats-core` (TCP or WebSocket). The caller keeps ownership and closes it after
   * `stop()`.
   */
  readonly connection?: NatsConnection;
  /** A coordination store instead of a connection, e.g. `memoryStore()` for one process. */
  readonly store?: CoordinationStore;
  /** Group name: namespaces the buckets; letters, digits, `_` and `-`. */
  readonly group: string;
  /** The partitions: a static list or a source the leader reads. */
  readonly source: readonly Partition[] | PartitionSource;
  /**
   * How partitions are assigned.
   * @default {weightedConsistentHash()}
   */
  readonly strategy?: AssignmentStrategy;
  /** Callbacks; see {@link Hooks}. */
  readonly hooks?: Hooks;
  /**
   * A stable name of this process (pod or host name). A restarted process with the same
   * instance name reclaims its previous worker ID at once instead of waiting for it to expire.
   */
  readonly instance?: string;
  /**
   * Structured logger, e.g. `consoleLogger()` or an adapter for your logging library.
   * @default {silentLogger}
   */
  readonly logger?: Logger;
  /** Monotonic clock for every timer and deadline (tests inject one). */
  readonly clock?: Clock;
}

/** Degraded settings with every default applied. */
export interface ResolvedDegradedOptions {
  /** See {@link DegradedOptions.enterAfterMs}. */
  readonly enterAfterMs: number;
  /** See {@link DegradedOptions.exitAfterMs}. */
  readonly exitAfterMs: number;
  /** See {@link DegradedOptions.kvErrorThreshold}. */
  readonly kvErrorThreshold: number;
  /** See {@link DegradedOptions.kvErrorWindowMs}. */
  readonly kvErrorWindowMs: number;
  /** See {@link DegradedOptions.recoveryGraceMs}. */
  readonly recoveryGraceMs: number;
  /** See {@link DegradedOptions.alertThresholdsMs}. */
  readonly alertThresholdsMs: {
    readonly info: number;
    readonly warn: number;
    readonly error: number;
    readonly critical: number;
  };
}

/** Tuning options with every default applied. */
export interface ResolvedTuning {
  /** See {@link TuningOptions.workerIdPrefix}. */ readonly workerIdPrefix: string;
  /** See {@link TuningOptions.workerIdMin}. */ readonly workerIdMin: number;
  /** See {@link TuningOptions.workerIdMax}. */ readonly workerIdMax: number;
  /** See {@link TuningOptions.workerIdTtlMs}. */ readonly workerIdTtlMs: number;
  /** See {@link TuningOptions.heartbeatIntervalMs}. */ readonly heartbeatIntervalMs: number;
  /** See {@link TuningOptions.heartbeatTtlMs}. */ readonly heartbeatTtlMs: number;
  /** See {@link TuningOptions.electionLeaseMs}. */ readonly electionLeaseMs: number;
  /** See {@link TuningOptions.coldStartWindowMs}. */ readonly coldStartWindowMs: number;
  /** See {@link TuningOptions.plannedScaleWindowMs}. */ readonly plannedScaleWindowMs: number;
  /** See {@link TuningOptions.emergencyGraceMs}. */ readonly emergencyGraceMs: number;
  /** See {@link TuningOptions.restartDetectionRatio}. */ readonly restartDetectionRatio: number;
  /** See {@link TuningOptions.minRebalanceIntervalMs}. */ readonly minRebalanceIntervalMs: number;
  /** See {@link TuningOptions.minRebalanceThreshold}. */ readonly minRebalanceThreshold: number;
  /** See {@link TuningOptions.partitionRefreshIntervalMs}. */
  readonly partitionRefreshIntervalMs: number;
  /** See {@link TuningOptions.startupTimeoutMs}. */ readonly startupTimeoutMs: number;
  /** See {@link TuningOptions.shutdownTimeoutMs}. */ readonly shutdownTimeoutMs: number;
  /** See {@link TuningOptions.operationTimeoutMs}. */ readonly operationTimeoutMs: number;
  /** See {@link TuningOptions.onCoordinationLoss}. */ readonly onCoordinationLoss:
    | "fence"
    | "keep";
  /** See {@link TuningOptions.degraded}. */ readonly degraded: ResolvedDegradedOptions;
  /** See {@link TuningOptions.kv}. */
  readonly kv: { readonly replicas: number; readonly storage: "file" | "memory" };
}

/** Every option of a manager with defaults applied; produced by {@link resolveConfig}. */
export interface ResolvedConfig extends ResolvedTuning {
  /** See {@link ManagerOptions.connection}. */ readonly connection: NatsConnection | undefined;
  /** See {@link ManagerOptions.store}. */ readonly store: CoordinationStore | undefined;
  /** See {@link ManagerOptions.group}. */ readonly group: string;
  /** See {@link ManagerOptions.source}. */
  readonly source: readonly Partition[] | PartitionSource;
  /** See {@link ManagerOptions.strategy}. */ readonly strategy: AssignmentStrategy | undefined;
  /** See {@link ManagerOptions.hooks}. */ readonly hooks: Hooks;
  /** See {@link ManagerOptions.instance}. */ readonly instance: string | undefined;
  /** See {@link ManagerOptions.logger}. */ readonly logger: Logger | undefined;
  /** See {@link ManagerOptions.clock}. */ readonly clock: Clock;
}

/** The defaults of every tuning option. */
export const defaults: ResolvedTuning = Object.freeze({
  workerIdPrefix: "worker",
  workerIdMin: 0,
  workerIdMax: 99,
  workerIdTtlMs: 30_000,
  heartbeatIntervalMs: 2_000,
  heartbeatTtlMs: 6_000,
  electionLeaseMs: 5_000,
  coldStartWindowMs: 30_000,
  plannedScaleWindowMs: 10_000,
  emergencyGraceMs: 3_000,
  restartDetectionRatio: 0.5,
  minRebalanceIntervalMs: 10_000,
  minRebalanceThreshold: 0.15,
  partitionRefreshIntervalMs: 0,
  startupTimeoutMs: 30_000,
  shutdownTimeoutMs: 10_000,
  operationTimeoutMs: 10_000,
  onCoordinationLoss: "fence",
  degraded: Object.freeze({
    enterAfterMs: 10_000,
    exitAfterMs: 5_000,
    kvErrorThreshold: 5,
    kvErrorWindowMs: 30_000,
    recoveryGraceMs: 15_000,
    alertThresholdsMs: Object.freeze({
      info: 30_000,
      warn: 120_000,
      error: 300_000,
      critical: 600_000,
    }),
  }),
  kv: Object.freeze({ replicas: 1, storage: "file" }),
});

/**
 * Ready-made tuning profiles. Spread one into the options and override what you need.
 *
 * @example Fast timings for tests
 * ```ts ignore
 * import { Manager, presets } from "@parti/core";
 * const manager = new Manager({ ...presets.fastTest, store, group: "t", source: [] });
 * ```
 */
export const presets: {
  /** Short windows for a developer laptop: quick feedback, still safe. */
  readonly development: TuningOptions;
  /** The defaults, spelled out: conservative timings for production on one server. */
  readonly production: TuningOptions;
  /** Very short timings for automated tests on loopback. */
  readonly fastTest: TuningOptions;
} = Object.freeze({
  development: Object.freeze({
    heartbeatIntervalMs: 1_000,
    heartbeatTtlMs: 3_000,
    workerIdTtlMs: 10_000,
    electionLeaseMs: 3_000,
    coldStartWindowMs: 3_000,
    plannedScaleWindowMs: 2_000,
    emergencyGraceMs: 1_500,
    minRebalanceIntervalMs: 2_000,
  }),
  production: Object.freeze({
    heartbeatIntervalMs: 2_000,
    heartbeatTtlMs: 6_000,
    workerIdTtlMs: 30_000,
    electionLeaseMs: 5_000,
    coldStartWindowMs: 30_000,
    plannedScaleWindowMs: 10_000,
    emergencyGraceMs: 3_000,
    minRebalanceIntervalMs: 10_000,
  }),
  fastTest: Object.freeze({
    heartbeatIntervalMs: 200,
    heartbeatTtlMs: 1_000,
    workerIdTtlMs: 3_000,
    electionLeaseMs: 1_000,
    coldStartWindowMs: 300,
    plannedScaleWindowMs: 200,
    emergencyGraceMs: 300,
    minRebalanceIntervalMs: 200,
    startupTimeoutMs: 15_000,
    shutdownTimeoutMs: 5_000,
    operationTimeoutMs: 2_000,
    degraded: Object.freeze({ enterAfterMs: 2_000, exitAfterMs: 1_000, recoveryGraceMs: 2_000 }),
  }),
});

const NAME = /^[A-Za-z0-9_-]+$/;
const HOOK_NAMES = [
  "onAssignmentChanged",
  "onPartitionAdded",
  "onPartitionRemoved",
  "onStateChanged",
  "onLeadershipChanged",
  "onWorkerJoined",
  "onWorkerLeft",
  "onDegradedAlert",
  "onError",
] as const;

function duration(field: string, value: unknown, fallback: number, positive = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new InvalidConfigError(
      field,
      `must be a finite number of milliseconds, got ${show(value)}`,
    );
  }
  if (value < 0 || (positive && value === 0)) {
    throw new InvalidConfigError(
      field,
      `must be ${positive ? "greater than 0" : "0 or more"} milliseconds, got ${value}`,
    );
  }
  return value;
}

function integer(field: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new InvalidConfigError(
      field,
      `must be an integer of at least ${min}, got ${show(value)}`,
    );
  }
  return value;
}

function ratio(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new InvalidConfigError(field, `must be a ratio in (0, 1], got ${show(value)}`);
  }
  return value;
}

function show(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "number" || typeof value === "boolean" || value == null) {
    return String(value);
  }
  return typeof value;
}

const CONNECTION_HINT = "pass what 'await connect()' of @nats-io/transport-deno or " +
  "@nats-io/transport-node, or 'await wsconnect()' of @nats-io/nats-core returns " +
  "(or give 'store' instead)";

/**
 * Checks, without any I/O, that `connection` has what the NATS KV store uses: `jetstream()` reads
 * `options.inboxPrefix` and sends through `request`/`subscribe`/`publish`, `Kvm` asks
 * `features.get()` whether the server supports KV, and the store follows `status()`, `isClosed()`
 * and `closed()`. A stand-in that lacks any of them would otherwise only fail inside `start()`
 * with a bare TypeError from nats.js.
 */
function checkConnection(connection: unknown): void {
  if (typeof connection !== "object" || connection === null) {
    throw new InvalidConfigError(
      "connection",
      `must be a NatsConnection, got ${show(connection)}; ${CONNECTION_HINT}`,
    );
  }
  const c = connection as Record<string, unknown>;
  if (typeof c.then === "function") {
    throw new InvalidConfigError(
      "connection",
      "is a Promise, not a NatsConnection; await connect() before passing its result",
    );
  }
  const missing: string[] = [];
  for (const method of ["request", "subscribe", "publish", "status", "isClosed", "closed"]) {
    if (typeof c[method] !== "function") missing.push(`${method}()`);
  }
  const options = c.options as { inboxPrefix?: unknown } | null | undefined;
  if (typeof options !== "object" || options === null) missing.push("options");
  const features = c.features as { get?: unknown } | null | undefined;
  if (typeof features !== "object" || features === null || typeof features.get !== "function") {
    missing.push("features.get()");
  }
  if (missing.length > 0) {
    throw new InvalidConfigError(
      "connection",
      `must be a NatsConnection from nats.js v3; this object has no ${
        missing.map((m) => `'${m}'`).join(", ")
      }; ${CONNECTION_HINT}`,
    );
  }
  if ((c.isClosed as () => unknown).call(connection) === true) {
    throw new InvalidConfigError(
      "connection",
      "is closed; pass an open connection (a closed NatsConnection cannot reconnect)",
    );
  }
}

function isSource(value: unknown): value is PartitionSource {
  return typeof value === "object" && value !== null &&
    typeof (value as PartitionSource).listPartitions === "function";
}

/**
 * Applies defaults and validates every option; runs in the `Manager` constructor before any I/O.
 *
 * Internal: not exported from `mod.ts` (the `Manager` constructor is the public way in).
 *
 * @param options The options given to the manager.
 * @returns The resolved configuration.
 * @throws {InvalidConfigError} Naming the first invalid option.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * import { memoryStore } from "./store/memory.ts";
 * const config = resolveConfig({ store: memoryStore(), group: "orders", source: [] });
 * console.assert(config.heartbeatTtlMs === 6000);
 * ```
 */
export function resolveConfig(options: ManagerOptions): ResolvedConfig {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Manager options must be an object");
  }
  const o = options;
  if (o.connection === undefined && o.store === undefined) {
    throw new InvalidConfigError(
      "connection",
      "give a NATS connection ('connection') or a coordination store ('store')",
    );
  }
  if (o.connection !== undefined && o.store !== undefined) {
    throw new InvalidConfigError("store", "give either 'connection' or 'store', not both");
  }
  if (o.connection !== undefined) checkConnection(o.connection);
  if (o.store !== undefined && typeof o.store?.bucket !== "function") {
    throw new InvalidConfigError("store", "must be a CoordinationStore such as memoryStore()");
  }
  if (typeof o.group !== "string" || !NAME.test(o.group) || o.group.length > 64) {
    throw new InvalidConfigError(
      "group",
      `must be 1-64 letters, digits, '_' or '-' (it names KV buckets), got ${show(o.group)}`,
    );
  }
  const workerIdPrefix = o.workerIdPrefix ?? defaults.workerIdPrefix;
  if (typeof workerIdPrefix !== "string" || !NAME.test(workerIdPrefix)) {
    throw new InvalidConfigError(
      "workerIdPrefix",
      `must be letters, digits, '_' or '-' (it names KV keys), got ${show(workerIdPrefix)}`,
    );
  }
  const workerIdMin = integer("workerIdMin", o.workerIdMin, defaults.workerIdMin, 0);
  const workerIdMax = integer("workerIdMax", o.workerIdMax, defaults.workerIdMax, 0);
  if (workerIdMin > workerIdMax) {
    throw new InvalidConfigError(
      "workerIdMax",
      `must be at least workerIdMin (${workerIdMin}), got ${workerIdMax}`,
    );
  }

  const heartbeatIntervalMs = duration(
    "heartbeatIntervalMs",
    o.heartbeatIntervalMs,
    defaults.heartbeatIntervalMs,
    true,
  );
  const heartbeatTtlMs = duration(
    "heartbeatTtlMs",
    o.heartbeatTtlMs,
    o.heartbeatIntervalMs !== undefined ? 3 * heartbeatIntervalMs : defaults.heartbeatTtlMs,
    true,
  );
  if (heartbeatTtlMs < 2 * heartbeatIntervalMs) {
    throw new InvalidConfigError(
      "heartbeatTtlMs",
      `must be at least 2 × heartbeatIntervalMs (${
        2 * heartbeatIntervalMs
      }), got ${heartbeatTtlMs}`,
    );
  }
  const workerIdTtlMs = duration(
    "workerIdTtlMs",
    o.workerIdTtlMs,
    Math.max(defaults.workerIdTtlMs, heartbeatTtlMs),
    true,
  );
  if (workerIdTtlMs < heartbeatTtlMs) {
    throw new InvalidConfigError(
      "workerIdTtlMs",
      `must be at least heartbeatTtlMs (${heartbeatTtlMs}), got ${workerIdTtlMs}`,
    );
  }
  const electionLeaseMs = duration(
    "electionLeaseMs",
    o.electionLeaseMs,
    defaults.electionLeaseMs,
    true,
  );
  const plannedScaleWindowMs = duration(
    "plannedScaleWindowMs",
    o.plannedScaleWindowMs,
    defaults.plannedScaleWindowMs,
  );
  const coldStartWindowMs = duration(
    "coldStartWindowMs",
    o.coldStartWindowMs,
    Math.max(defaults.coldStartWindowMs, plannedScaleWindowMs),
  );
  if (coldStartWindowMs < plannedScaleWindowMs) {
    throw new InvalidConfigError(
      "coldStartWindowMs",
      `must be at least plannedScaleWindowMs (${plannedScaleWindowMs}), got ${coldStartWindowMs}`,
    );
  }
  const emergencyGraceMs = duration(
    "emergencyGraceMs",
    o.emergencyGraceMs,
    Math.min(1.5 * heartbeatIntervalMs, heartbeatTtlMs),
  );
  if (emergencyGraceMs > heartbeatTtlMs) {
    throw new InvalidConfigError(
      "emergencyGraceMs",
      `must be at most heartbeatTtlMs (${heartbeatTtlMs}), got ${emergencyGraceMs}`,
    );
  }
  const onCoordinationLoss = o.onCoordinationLoss ?? defaults.onCoordinationLoss;
  if (onCoordinationLoss !== "fence" && onCoordinationLoss !== "keep") {
    throw new InvalidConfigError(
      "onCoordinationLoss",
      `must be 'fence' or 'keep', got ${show(onCoordinationLoss)}`,
    );
  }

  const d = o.degraded ?? {};
  const da = d.alertThresholdsMs ?? {};
  const dd = defaults.degraded;
  const alertThresholdsMs = {
    info: duration("degraded.alertThresholdsMs.info", da.info, dd.alertThresholdsMs.info),
    warn: duration("degraded.alertThresholdsMs.warn", da.warn, dd.alertThresholdsMs.warn),
    error: duration("degraded.alertThresholdsMs.error", da.error, dd.alertThresholdsMs.error),
    critical: duration(
      "degraded.alertThresholdsMs.critical",
      da.critical,
      dd.alertThresholdsMs.critical,
    ),
  };
  const levels = ["info", "warn", "error", "critical"] as const;
  for (let i = 1; i < levels.length; i++) {
    const level = levels[i]!;
    const previous = levels[i - 1]!;
    if (alertThresholdsMs[level] < alertThresholdsMs[previous]) {
      throw new InvalidConfigError(
        `degraded.alertThresholdsMs.${level}`,
        `must be at least the '${previous}' threshold (${alertThresholdsMs[previous]}), got ${
          alertThresholdsMs[level]
        }`,
      );
    }
  }
  const degraded: ResolvedDegradedOptions = {
    enterAfterMs: duration("degraded.enterAfterMs", d.enterAfterMs, dd.enterAfterMs),
    exitAfterMs: duration("degraded.exitAfterMs", d.exitAfterMs, dd.exitAfterMs),
    kvErrorThreshold: integer(
      "degraded.kvErrorThreshold",
      d.kvErrorThreshold,
      dd.kvErrorThreshold,
      1,
    ),
    kvErrorWindowMs: duration(
      "degraded.kvErrorWindowMs",
      d.kvErrorWindowMs,
      dd.kvErrorWindowMs,
      true,
    ),
    recoveryGraceMs: duration("degraded.recoveryGraceMs", d.recoveryGraceMs, dd.recoveryGraceMs),
    alertThresholdsMs,
  };

  const kv = {
    replicas: integer("kv.replicas", o.kv?.replicas, defaults.kv.replicas, 1),
    storage: o.kv?.storage ?? defaults.kv.storage,
  };
  if (kv.replicas > 5) {
    throw new InvalidConfigError("kv.replicas", `must be between 1 and 5, got ${kv.replicas}`);
  }
  if (kv.storage !== "file" && kv.storage !== "memory") {
    throw new InvalidConfigError(
      "kv.storage",
      `must be 'file' or 'memory', got ${show(kv.storage)}`,
    );
  }

  if (Array.isArray(o.source)) {
    const { errors } = sanitizePartitions(o.source);
    const first = errors[0];
    if (first !== undefined) {
      throw new InvalidConfigError(`source[${first.index}]`, first.message);
    }
  } else if (!isSource(o.source)) {
    throw new InvalidConfigError(
      "source",
      "must be an array of partitions or an object with a listPartitions() method",
    );
  }

  if (o.strategy !== undefined) {
    const s = o.strategy as unknown;
    if (typeof s !== "function" && (typeof s !== "object" || s === null)) {
      throw new InvalidConfigError(
        "strategy",
        "must be a strategy such as weightedConsistentHash() or a function",
      );
    }
  }
  const hooks = o.hooks ?? {};
  if (typeof hooks !== "object" || hooks === null) {
    throw new InvalidConfigError("hooks", "must be an object of callbacks");
  }
  for (const name of HOOK_NAMES) {
    const hook = (hooks as Record<string, unknown>)[name];
    if (hook !== undefined && typeof hook !== "function") {
      throw new InvalidConfigError(`hooks.${name}`, `must be a function, got ${show(hook)}`);
    }
  }
  if (o.instance !== undefined && (typeof o.instance !== "string" || o.instance.length === 0)) {
    throw new InvalidConfigError("instance", "must be a non-empty string when given");
  }
  if (o.clock !== undefined && typeof o.clock?.now !== "function") {
    throw new InvalidConfigError("clock", "must have a now() method returning milliseconds");
  }
  if (o.logger !== undefined) {
    for (const level of ["debug", "info", "warn", "error"] as const) {
      if (typeof o.logger?.[level] !== "function") {
        throw new InvalidConfigError(`logger.${level}`, "must be a function");
      }
    }
  }

  return {
    connection: o.connection,
    store: o.store,
    group: o.group,
    source: o.source,
    strategy: o.strategy,
    hooks,
    instance: o.instance,
    logger: o.logger,
    clock: o.clock ?? systemClock,
    workerIdPrefix,
    workerIdMin,
    workerIdMax,
    workerIdTtlMs,
    heartbeatIntervalMs,
    heartbeatTtlMs,
    electionLeaseMs,
    coldStartWindowMs,
    plannedScaleWindowMs,
    emergencyGraceMs,
    restartDetectionRatio: ratio(
      "restartDetectionRatio",
      o.restartDetectionRatio,
      defaults.restartDetectionRatio,
    ),
    minRebalanceIntervalMs: duration(
      "minRebalanceIntervalMs",
      o.minRebalanceIntervalMs,
      defaults.minRebalanceIntervalMs,
    ),
    minRebalanceThreshold: ratio(
      "minRebalanceThreshold",
      o.minRebalanceThreshold,
      defaults.minRebalanceThreshold,
    ),
    partitionRefreshIntervalMs: duration(
      "partitionRefreshIntervalMs",
      o.partitionRefreshIntervalMs,
      defaults.partitionRefreshIntervalMs,
    ),
    startupTimeoutMs: duration(
      "startupTimeoutMs",
      o.startupTimeoutMs,
      defaults.startupTimeoutMs,
      true,
    ),
    shutdownTimeoutMs: duration(
      "shutdownTimeoutMs",
      o.shutdownTimeoutMs,
      defaults.shutdownTimeoutMs,
      true,
    ),
    operationTimeoutMs: duration(
      "operationTimeoutMs",
      o.operationTimeoutMs,
      defaults.operationTimeoutMs,
      true,
    ),
    onCoordinationLoss,
    degraded,
    kv,
  };
}
