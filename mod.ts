/**
 * Parti: Kafka-consumer-group-style partition ownership for a pool of workers, coordinated through
 * nothing but NATS JetStream KV.
 *
 * Workers claim stable IDs (`worker-0`, `worker-1`, …), elect one leader by lease and heartbeat.
 * The leader computes a weighted, cache-affine assignment of partitions to workers (in
 * WebAssembly) and publishes it, versioned; every worker's hooks learn which partitions it gained
 * and lost. In the default exclusive mode a partition moves in two steps (revoke, then assign), so
 * no two live workers ever own it at the same time.
 *
 * @example A worker
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { Manager, recommendedConnectionOptions } from "@parti/core";
 *
 * const nc = await connect({ servers: "127.0.0.1:4222", ...recommendedConnectionOptions });
 * await using manager = new Manager({
 *   connection: nc,
 *   group: "orders",
 *   source: Array.from({ length: 64 }, (_, i) => ({ keys: ["orders", String(i)] })),
 *   hooks: {
 *     async onAssignmentChanged({ added, removed }) {
 *       for (const p of removed) await stopConsuming(p);
 *       for (const p of added) startConsuming(p);
 *     },
 *   },
 * });
 * await manager.start();
 * ```
 *
 * @example One process, no server: the in-memory store
 * ```ts
 * import { Manager, memoryStore, presets } from "@parti/core";
 *
 * const store = memoryStore();
 * const manager = new Manager({
 *   ...presets.fastTest,
 *   store,
 *   group: "demo",
 *   source: [{ keys: ["a"] }, { keys: ["b"], weight: 2 }],
 * });
 * await manager.start();
 * console.log(manager.workerId, manager.assignment.partitions.length); // worker-0 2
 * await manager.stop();
 * ```
 *
 * @module
 */

export { Manager, type StartOptions } from "./src/manager.ts";
export type { Subscription } from "./src/hooks.ts";
export {
  type DegradedOptions,
  type KvOptions,
  type LoadAwareOptions,
  type ManagerOptions,
  presets,
  type TuningOptions,
} from "./src/options.ts";
export {
  type Assignment,
  type AssignmentChange,
  type ChangeReason,
  type DegradedAlertLevel,
  type FencingToken,
  type Hooks,
  type PartitionSource,
  State,
} from "./src/types.ts";
export {
  consoleLogger,
  type ConsoleLoggerOptions,
  type LogFields,
  type Logger,
  type LogLevel,
  silentLogger,
} from "./src/observability/logger.ts";
export type {
  Counter,
  Gauge,
  Histogram,
  HistogramOptions,
  MetricLabels,
  MetricsRecorder,
} from "./src/observability/metrics.ts";
export type { SpanAttributes, SpanLike, TracerLike } from "./src/observability/tracing.ts";
export {
  healthHandler,
  type HealthMeasurements,
  type HealthOptions,
  type HealthSource,
  type HealthStatus,
  healthStatus,
  type MetricsSource,
  type TopologyReader,
  type TopologySnapshot,
  type TopologySnapshotWorker,
} from "./src/observability/health.ts";
export type { Labels } from "./src/labels.ts";
export type { WorkerInfo } from "./src/engine/placement.ts";
export {
  type Partition,
  partitionId,
  partitionWeight,
  validatePartitions,
} from "./src/partition.ts";
export {
  AlreadyStartedError,
  BucketConfigMismatchError,
  BucketNotFoundError,
  CoordinationUnavailableError,
  EngineUnavailableError,
  InvalidConfigError,
  InvalidPartitionError,
  LeadershipLostError,
  MalformedDataError,
  NotStartedError,
  OperationTimeoutError,
  PartiError,
  type PartiErrorCode,
  PartitionSourceError,
  PermissionDeniedError,
  RevisionConflictError,
  RevokeTimeoutError,
  StrategyError,
  UnplacedPartitionsError,
  WorkerIdExhaustedError,
} from "./src/errors.ts";
export { type Cancel, type Clock, systemClock } from "./src/runtime/clock.ts";
export { PollingSource, type PollingSourceOptions, StaticSource } from "./src/source.ts";
export type { Topology, TopologyWorker } from "./src/protocol/group_view.ts";
// Reading and steering a group without joining it (the CLI's core).
export {
  type AdminTopology,
  type AdminTopologyWorker,
  GroupAdmin,
  type GroupAdminOptions,
  type GroupAdminWatchOptions,
} from "./src/admin/group_admin.ts";
export { GroupNotFoundError } from "./src/admin/errors.ts";
// What a custom coordination store implements.
export type {
  Bucket,
  BucketOptions,
  BucketStatus,
  CoordinationStore,
  KvEntry,
  KvWatch,
  WatchOptions,
} from "./src/store/store.ts";
export { memoryStore, type MemoryStoreOptions } from "./src/store/memory.ts";
export { recommendedConnectionOptions } from "./src/store/nats_kv/connection_options.ts";
// The built-in strategies, their options and descriptors, and what a custom strategy implements.
export {
  type AssignInput,
  type AssignmentEngine,
  type AssignmentResult,
  type AssignmentStats,
  type AssignmentStrategy,
  type BuiltinStrategy,
  consistentHash,
  type ConsistentHashOptions,
  type ConsistentHashStrategy,
  roundRobin,
  type RoundRobinStrategy,
  type StrategyFunction,
  type StrategyInput,
  weightedConsistentHash,
  type WeightedConsistentHashOptions,
  type WeightedConsistentHashStrategy,
} from "./src/engine/mod.ts";
