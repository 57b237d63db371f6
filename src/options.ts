/**
 * The options of `new Manager(options)`, each documented with its default, and the ready-made
 * tuning presets. This is the part of the configuration users read; the defaults themselves and
 * the validation live in `config.ts`.
 *
 * @module
 */
import type { AssignmentEngine, AssignmentStrategy } from "./engine/mod.ts";
import type { Partition } from "./partition.ts";
import type { MetricsRecorder } from "./observability/metrics.ts";
import type { TracerLike } from "./observability/tracing.ts";
import type { Clock } from "./runtime/clock.ts";
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

/** Load-aware rebalancing (see {@link TuningOptions.loadAware}). */
export interface LoadAwareOptions {
  /**
   * Half-life of the moving average the leader keeps of each partition's reported load: a change
   * in load counts half after this long.
   * @default {60000}
   */
  readonly halfLifeMs?: number;
  /**
   * How much the measured load replaces a partition's static weight (1 = entirely, scaled so the
   * measured partitions keep their total weight).
   * @default {1}
   */
  readonly blend?: number;
  /**
   * The measured imbalance (largest worker load over its fair share, minus 1) must stay above
   * `minRebalanceThreshold` this long before the leader rebalances for it.
   * @default {30000}
   */
  readonly sustainMs?: number;
  /**
   * Most partitions whose load one heartbeat carries (the heaviest); the rest travel as their
   * average.
   * @default {64}
   */
  readonly digestSize?: number;
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
   * Upper bound for `start()` to reach a first assignment. The first workers of a new group wait
   * out `coldStartWindowMs` (further arrivals extend it up to 3×): keep it above that.
   * @default {coldStartWindowMs + 30000}
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
  /**
   * How long `onAssignmentChanged` (and the other hooks of the same change) may take to finish a
   * revoke before it counts as stuck (Kafka's `max.poll.interval.ms`); 0 = never. A stuck revoke is
   * reported as a `RevokeTimeoutError`: to the logger at once, to `onError` once the hook lane
   * moves again.
   * @default {300000}
   */
  readonly revokeTimeoutMs?: number;
  /**
   * What a worker with a stuck revoke does: `"leave"` leaves the group — it releases everything,
   * stops heartbeating and resigns, so the leader reassigns its partitions after the usual
   * `heartbeatTtlMs` + `emergencyGraceMs` (the stuck handler may still be running then: downstream
   * writes stay safe only through the fencing token); `"wait"` keeps the partitions unowned until
   * the hook returns.
   * @default {"leave"}
   */
  readonly onRevokeTimeout?: "leave" | "wait";
  /** Degraded-mode settings. */
  readonly degraded?: DegradedOptions;
  /**
   * Movement throttling: a planned rebalance (joins, leaves after a restart window, drains, load)
   * moves at most this many partitions (an integer ≥ 1) or this fraction of the total weight (a
   * number in (0, 1)) per publication, and converges over several publications. Partitions of
   * dead workers and new partitions are never held back.
   * @default {undefined} (no cap)
   */
  readonly maxMovesPerRebalance?: number;
  /**
   * Load-aware rebalancing: workers report measured load per owned partition
   * (`manager.reportLoad()`, or the JetStream helper's message rate), heartbeats carry it, and the
   * leader blends a moving average of it into the weights, rebalancing when the measured
   * imbalance stays above `minRebalanceThreshold` for `sustainMs`. `true` uses the defaults.
   * @default {false}
   */
  readonly loadAware?: boolean | LoadAwareOptions;
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
  /**
   * The partitions: a static list or a source the leader reads. A static list is validated once,
   * when the manager is constructed, and must not be changed afterwards; for a list that changes,
   * pass a {@link PartitionSource} such as `StaticSource` and call `refreshPartitions()`.
   */
  readonly source: readonly Partition[] | PartitionSource;
  /**
   * How partitions are assigned.
   * @default {weightedConsistentHash()}
   */
  readonly strategy?: AssignmentStrategy;
  /**
   * The assignment engine the leader uses: a ready engine (`createAssignmentEngine()` of
   * `@parti/core/engine`), or a precompiled WebAssembly kernel module for runtimes that forbid
   * compiling WebAssembly from bytes (workerd: import the `.wasm` written from
   * `assignmentKernelBytes()` at build time). By default the inlined kernel is compiled; when that
   * fails the TypeScript backend is used and the fallback is reported once (logger and `onError`).
   */
  readonly engine?: AssignmentEngine | WebAssembly.Module;
  /** Callbacks; see {@link Hooks}. */
  readonly hooks?: Hooks;
  /**
   * A stable name of this process (pod or host name). A restarted process with the same
   * instance name reclaims its previous worker ID at once instead of waiting for it to expire.
   */
  readonly instance?: string;
  /**
   * Labels of this worker, published in its heartbeat and matched by partition selectors and the
   * strategy's `spreadBy` key (e.g. `{ zone: "eu-1a", pool: "gpu" }`): at most 16, keys and values
   * of at most 63 letters, digits, `.`, `_`, `-` (keys also `/`).
   * @default {{}}
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Relative size of this worker: it gets a share of the total partition weight proportional to
   * its capacity (2 = twice the share of a worker of capacity 1).
   * @default {1}
   */
  readonly capacity?: number;
  /**
   * Structured logger, e.g. `consoleLogger()` or an adapter for your logging library.
   * @default {silentLogger}
   */
  readonly logger?: Logger;
  /**
   * Where the manager records its series (state, leadership, assignment, publications, hook
   * durations, errors, heartbeat failures, degraded time), e.g. a `PrometheusRegistry` from
   * `@parti/core/metrics` or `otelMetrics(meter)`. Every series has `group` and `worker` labels.
   * @default {noopMetrics}
   */
  readonly metrics?: MetricsRecorder;
  /**
   * Opens spans for rebalance decisions (`parti.rebalance`), publications (`parti.publish`),
   * hand-offs from the first revoke to the last assign (`parti.handoff`) and hook invocations
   * (`parti.hook`), with the reason and partition counts as attributes. Pass an OpenTelemetry
   * tracer, e.g. `trace.getTracer("orders-worker")`; without a provider installed it is a no-op.
   * @default {noopTracer}
   */
  readonly tracer?: TracerLike;
  /** Monotonic clock for every timer and deadline (tests inject one). */
  readonly clock?: Clock;
}

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
