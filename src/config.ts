/**
 * The resolved configuration of a manager: every option with its default applied, the defaults
 * themselves, and `resolveConfig()`, the validation that runs in the `Manager` constructor before
 * any I/O. Every error names the offending option and says how to fix it.
 *
 * @module
 */
import { type ResolvedDegradedOptions, resolveDegraded, resolveKv } from "./config_degraded.ts";
import { type ResolvedPlacement, resolvePlacement } from "./config_placement.ts";
import { type MetricsRecorder, noopMetrics } from "./observability/metrics.ts";
import { noopTracer, type TracerLike } from "./observability/tracing.ts";
import {
  checkConnection,
  checkEngine,
  duration,
  HOOK_NAMES,
  integer,
  isSource,
  NAME,
  ratio,
  show,
} from "./config_checks.ts";
import type { AssignmentEngine, AssignmentStrategy } from "./engine/mod.ts";
import { InvalidConfigError } from "./errors.ts";
import type { DegradedOptions, KvOptions, ManagerOptions, TuningOptions } from "./options.ts";
import { type Partition, sanitizePartitions } from "./partition.ts";
import type { Clock } from "./runtime/clock.ts";
import { systemClock } from "./runtime/clock.ts";
import type { CoordinationStore } from "./store/store.ts";
import type { Hooks, Logger, NatsConnection, PartitionSource } from "./types.ts";

// The options live in options.ts; re-exported so modules that import them from here keep working.
export type { DegradedOptions, KvOptions, ManagerOptions, TuningOptions };
export { presets } from "./options.ts";
export type { ResolvedDegradedOptions };

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
  /** See {@link TuningOptions.revokeTimeoutMs}. */ readonly revokeTimeoutMs: number;
  /** See {@link TuningOptions.onRevokeTimeout}. */ readonly onRevokeTimeout: "leave" | "wait";
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
  /** See {@link ManagerOptions.engine}. */
  readonly engine: AssignmentEngine | WebAssembly.Module | undefined;
  /** See {@link ManagerOptions.hooks}. */ readonly hooks: Hooks;
  /** See {@link ManagerOptions.instance}. */ readonly instance: string | undefined;
  /** See {@link ManagerOptions.logger}. */ readonly logger: Logger | undefined;
  /** See {@link ManagerOptions.metrics}. */ readonly metrics: MetricsRecorder;
  /** See {@link ManagerOptions.tracer}. */ readonly tracer: TracerLike;
  /** See {@link ManagerOptions.clock}. */ readonly clock: Clock;
  /** Labels, capacity, movement throttling and load-aware rebalancing. */
  readonly placement: ResolvedPlacement;
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
  revokeTimeoutMs: 300_000,
  onRevokeTimeout: "leave",
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
 * Static partition lists already validated, with their length then: several managers in one
 * process given the same (unchanged) list check its 100k entries once, not once each, which
 * would block the process's other managers for that long every time.
 */
const validLists = new WeakMap<readonly unknown[], number>();

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
  // The first workers of a new group wait out the cold-start window before their first
  // assignment: by default the startup bound covers it (a worker joining a running group may set a
  // shorter one).
  const startupTimeoutMs = duration(
    "startupTimeoutMs",
    o.startupTimeoutMs,
    coldStartWindowMs + defaults.startupTimeoutMs,
    true,
  );
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

  const onRevokeTimeout = o.onRevokeTimeout ?? defaults.onRevokeTimeout;
  if (onRevokeTimeout !== "leave" && onRevokeTimeout !== "wait") {
    throw new InvalidConfigError(
      "onRevokeTimeout",
      `must be 'leave' or 'wait', got ${show(onRevokeTimeout)}`,
    );
  }

  const degraded = resolveDegraded(o.degraded, defaults.degraded);
  const kv = resolveKv(o.kv, defaults.kv);

  if (Array.isArray(o.source)) {
    if (validLists.get(o.source) !== o.source.length) {
      const { errors } = sanitizePartitions(o.source);
      const first = errors[0];
      if (first !== undefined) {
        throw new InvalidConfigError(`source[${first.index}]`, first.message);
      }
      validLists.set(o.source, o.source.length);
    }
  } else if (!isSource(o.source)) {
    throw new InvalidConfigError(
      "source",
      "must be an array of partitions or an object with a listPartitions() method",
    );
  }

  if (o.engine !== undefined) checkEngine(o.engine);
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
  if (o.metrics !== undefined) {
    for (const kind of ["counter", "gauge", "histogram"] as const) {
      if (typeof o.metrics?.[kind] !== "function") {
        throw new InvalidConfigError(`metrics.${kind}`, "must be a function");
      }
    }
  }
  if (o.tracer !== undefined && typeof o.tracer?.startSpan !== "function") {
    throw new InvalidConfigError("tracer.startSpan", "must be a function");
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
    engine: o.engine,
    hooks,
    instance: o.instance,
    logger: o.logger,
    metrics: o.metrics ?? noopMetrics,
    tracer: o.tracer ?? noopTracer,
    clock: o.clock ?? systemClock,
    placement: resolvePlacement(o),
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
    startupTimeoutMs,
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
    revokeTimeoutMs: duration("revokeTimeoutMs", o.revokeTimeoutMs, defaults.revokeTimeoutMs),
    onRevokeTimeout,
    onCoordinationLoss,
    degraded,
    kv,
  };
}
