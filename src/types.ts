/**
 * Core public types: manager states, assignments, hooks and partition sources.
 *
 * @module
 */
import type { NatsConnection as NatsCoreConnection } from "@nats-io/nats-core";
import type { Partition } from "./partition.ts";

// The logger types live with the loggers; re-exported so modules in src/ can keep this import.
export type { LogFields, Logger } from "./observability/logger.ts";

/** The states a manager walks through; `manager.state` holds one of them. */
export const State = {
  /** Constructed, not started. */
  Init: "init",
  /** Claiming a stable worker ID. */
  ClaimingId: "claimingId",
  /** Taking part in leader election. */
  Election: "election",
  /** Waiting for the first assignment that names this worker. */
  WaitingAssignment: "waitingAssignment",
  /** Working on its assignment. */
  Stable: "stable",
  /** Leader only: a planned scale window is open. */
  Scaling: "scaling",
  /** Leader only: computing and publishing a new assignment. */
  Rebalancing: "rebalancing",
  /** Leader only: reassigning the partitions of a dead worker. */
  Emergency: "emergency",
  /** Coordination is impaired; see `onCoordinationLoss`. */
  Degraded: "degraded",
  /** Stopped (terminal). */
  Shutdown: "shutdown",
} as const;

/** One of the {@link State} values. */
export type State = typeof State[keyof typeof State];

/** The assignment a worker currently holds. */
export interface Assignment {
  /** Leader epoch of the publication this assignment came from (0 before the first one). */
  readonly epoch: number;
  /** Version of the publication (increases by one per publication; 0 before the first one). */
  readonly version: number;
  /** The partitions this worker owns. */
  readonly partitions: readonly Partition[];
}

/**
 * A fencing token: the (epoch, version) of the publication that gave a partition to this worker.
 * Tokens of one partition increase with every hand-over, so a downstream system that remembers
 * the highest token it has seen per partition can reject writes from a deposed owner.
 */
export interface FencingToken {
  /** Leader epoch of the publication. */
  readonly epoch: number;
  /** Version of the publication. */
  readonly version: number;
}

/** What `onAssignmentChanged` receives. */
export interface AssignmentChange {
  /** Fencing token of this change: compare tokens as (epoch, version) pairs. */
  readonly token: FencingToken;
  /** Partitions this worker gained. */
  readonly added: readonly Partition[];
  /** Partitions this worker lost. */
  readonly removed: readonly Partition[];
  /** The fencing token each of `removed` was held by, in the same order. */
  readonly removedTokens: readonly FencingToken[];
  /**
   * Why: `"assigned"` (a publication that only adds), `"moved"` (a publication took partitions
   * away: finish the message in hand, then stop), `"fenced"` (coordination was lost: another worker
   * may own them soon, drop work in hand), `"shutdown"` (`stop()`), `"idLost"` (another process took
   * this worker's ID), `"left"` (a revoke was stuck past `revokeTimeoutMs`).
   */
  readonly reason: ChangeReason;
  /** The assignment now held. */
  readonly assignment: Assignment;
}

/** Why an assignment changed; see {@link AssignmentChange.reason}. */
export type ChangeReason = "assigned" | "moved" | "fenced" | "shutdown" | "idLost" | "left";

/** Severity of a degraded-mode alert, escalating with time spent degraded. */
export type DegradedAlertLevel = "info" | "warn" | "error" | "critical";

/**
 * Callbacks a manager calls. All are optional and may be async. Hooks of one manager run one at a
 * time, in order, each awaited; a hook that throws is reported to `onError` and never stops the
 * manager.
 */
export interface Hooks {
  /**
   * The assignment changed. Resolve only once you have stopped work on `removed`: in exclusive
   * mode the leader hands those partitions to another worker only after this resolves.
   */
  onAssignmentChanged?(change: AssignmentChange): void | Promise<void>;
  /** Called once per partition gained, after `onAssignmentChanged`, with its fencing token. */
  onPartitionAdded?(partition: Partition, token: FencingToken): void | Promise<void>;
  /** Called once per partition lost, after `onAssignmentChanged`, with the token it was held by. */
  onPartitionRemoved?(partition: Partition, token: FencingToken): void | Promise<void>;
  /** The manager moved from one state to another. */
  onStateChanged?(from: State, to: State): void | Promise<void>;
  /** This worker became (`true`) or stopped being (`false`) the leader of term `epoch`. */
  onLeadershipChanged?(isLeader: boolean, epoch: number): void | Promise<void>;
  /** Leader only: a worker joined the group. */
  onWorkerJoined?(workerId: string): void | Promise<void>;
  /** Leader only: a worker left the group (graceful stop or declared dead). */
  onWorkerLeft?(workerId: string): void | Promise<void>;
  /** Degraded mode lasted long enough to reach a new alert level. */
  onDegradedAlert?(alert: { level: DegradedAlertLevel; durationMs: number }): void | Promise<void>;
  /** Something went wrong that the manager recovers from by itself (or a hook threw). */
  onError?(error: Error): void | Promise<void>;
}

/**
 * Where the leader reads the list of partitions from.
 *
 * @example A source backed by a function
 * ```ts
 * import type { PartitionSource } from "@parti/core";
 * const source: PartitionSource = {
 *   listPartitions: () => Promise.resolve([{ keys: ["tenant", "acme"] }]),
 * };
 * ```
 */
export interface PartitionSource {
  /** Returns the current partitions; may be called often, so keep it cheap. */
  listPartitions(signal?: AbortSignal): Promise<Partition[]>;
}

/**
 * A NATS connection from any nats.js v3 transport: `NatsConnection` of `@nats-io/nats-core`, as
 * returned by `connect()` of `@nats-io/transport-deno` or `@nats-io/transport-node`, or by
 * `wsconnect()` of `@nats-io/nats-core`. A type-only import: Parti loads no transport.
 *
 * @internal The alias exists only because `deno doc --lint` reports any type from another package
 * as private (denoland/deno#27364); the type itself is nats.js's public `NatsConnection`.
 */
export type NatsConnection = NatsCoreConnection;
