/**
 * The series a manager records through its `metrics` option: its state (one-hot), leadership,
 * assignment, the leader's publications, hook durations and errors, heartbeat failures and the
 * degraded monitor. Every series carries `group` and `worker` labels; nothing is recorded before
 * the worker ID is claimed (the state then is replayed), so one process never shows two worker
 * labels at once except across a restart.
 *
 * @module
 */
import { type Assignment, State } from "../types.ts";
import {
  type Counter,
  DEFAULT_SECONDS_BUCKETS,
  type Gauge,
  type Histogram,
  type MetricsRecorder,
} from "./metrics.ts";

/** What one publication tells the metrics. */
export interface PublishedMetric {
  /** Why the leader rebalanced (`cold_start`, `planned`, `emergency`, `manual`, `refresh`…). */
  readonly reason: string;
  /** `"revoke"` or `"assign"`. */
  readonly phase: string;
  /** Partitions added to a worker that was not published with them. */
  readonly moved: number;
  /** Partitions left unassigned (no live worker matches their selector). */
  readonly unplaced?: number;
  /** Planned moves held back by `maxMovesPerRebalance`. */
  readonly movesPending?: number;
  /** Partitions held back until their old owners confirm. */
  readonly pending: number;
  /** Live workers the publication assigned to. */
  readonly workers: number;
  /** The new version. */
  readonly version: number;
  /** From the decision to the last write, in milliseconds. */
  readonly durationMs: number;
  /** When it completes a hand-off: from its first revoke to this assign, in milliseconds. */
  readonly handoffMs?: number;
  /** When it completes a hand-off: its duration by step, in milliseconds. */
  readonly handoffSteps?: {
    readonly revokeMs: number;
    readonly ackMs: number;
    readonly assignMs: number;
  };
}

const STATES = Object.values(State);
const ALERT_LEVELS = ["info", "warn", "error", "critical"];

/** The reason label of a publication: the controller's reason in the metric's vocabulary. */
export function reasonLabel(reason: string): string {
  if (reason === "coldStart") return "cold_start";
  if (reason === "partitions") return "refresh";
  return reason;
}

/** The instruments of one manager, and the calls that update them. */
export class ManagerMetrics {
  readonly #labels: { group: string; worker: string };
  #bound = false;
  #state: State = State.Init;
  readonly #stateGauge: Gauge;
  readonly #isLeader: Gauge;
  readonly #epoch: Gauge;
  readonly #version: Gauge;
  readonly #owned: Gauge;
  readonly #ownedWeight: Gauge;
  readonly #rebalances: Counter;
  readonly #rebalanceSeconds: Histogram;
  readonly #moved: Counter;
  readonly #handoffSeconds: Histogram;
  readonly #handoffStepSeconds: Histogram;
  readonly #kvSeconds: Histogram;
  readonly #kvErrors: Counter;
  readonly #pending: Gauge;
  readonly #unplaced: Gauge;
  readonly #movesPending: Gauge;
  readonly #workers: Gauge;
  readonly #hookSeconds: Histogram;
  readonly #hookErrors: Counter;
  readonly #errors: Counter;
  readonly #heartbeatFailures: Counter;
  readonly #degraded: Gauge;
  readonly #alertLevel: Gauge;
  readonly #degradedSeconds: Counter;

  /**
   * @param recorder Where the series go.
   * @param group The group name (the `group` label).
   */
  constructor(recorder: MetricsRecorder, group: string) {
    this.#labels = { group, worker: "" };
    const base = ["group", "worker"];
    const r = recorder;
    this.#stateGauge = r.gauge("state", "1 for the manager's current state", [...base, "state"]);
    this.#isLeader = r.gauge("is_leader", "1 while this worker leads the group", base);
    this.#epoch = r.gauge("leader_epoch", "Epoch of the assignment this worker applied", base);
    this.#version = r.gauge("assignment_version", "Version of the assignment applied", base);
    this.#owned = r.gauge("partitions_owned", "Partitions this worker owns", base);
    this.#ownedWeight = r.gauge("partitions_owned_weight", "Total weight owned", base);
    this.#rebalances = r.counter("rebalances", "Publications by this leader", [
      ...base,
      "reason",
      "phase",
    ]);
    this.#rebalanceSeconds = r.histogram(
      "rebalance_duration_seconds",
      "From a rebalance decision to its last write",
      { labelNames: [...base, "reason"], buckets: DEFAULT_SECONDS_BUCKETS },
    );
    this.#moved = r.counter("partitions_moved", "Partitions given to a new owner", base);
    this.#handoffSeconds = r.histogram(
      "handoff_duration_seconds",
      "From a hand-off's first revoke to its last assign (old owners acked, new owners told)",
      { labelNames: base, buckets: DEFAULT_SECONDS_BUCKETS },
    );
    this.#handoffStepSeconds = r.histogram(
      "handoff_step_duration_seconds",
      "A finished hand-off by step: revoke (decision to revoke written), ack (revoke written to " +
        "the old owners' acknowledgements seen), assign (to the new owners' keys written)",
      { labelNames: [...base, "step"], buckets: DEFAULT_SECONDS_BUCKETS },
    );
    this.#kvSeconds = r.histogram(
      "kv_operation_duration_seconds",
      "Time of one coordination store operation, failed ones included",
      { labelNames: [...base, "bucket", "op"], buckets: DEFAULT_SECONDS_BUCKETS },
    );
    this.#kvErrors = r.counter(
      "kv_operation_errors",
      "Coordination store operations that failed, by error code (a compare-and-set lost to " +
        "another writer is REVISION_CONFLICT: expected while workers contend)",
      [...base, "bucket", "op", "code"],
    );
    this.#pending = r.gauge("partitions_pending", "Partitions held back in a hand-off", base);
    this.#unplaced = r.gauge(
      "partitions_unplaced",
      "Partitions no live worker matches the selector of (left unassigned)",
      base,
    );
    this.#movesPending = r.gauge(
      "moves_pending",
      "Planned moves held back by maxMovesPerRebalance for a later round",
      base,
    );
    this.#workers = r.gauge("workers_alive", "Live workers in the last publication", base);
    this.#hookSeconds = r.histogram("hook_duration_seconds", "Time a hook took", {
      labelNames: [...base, "hook"],
      buckets: DEFAULT_SECONDS_BUCKETS,
    });
    this.#hookErrors = r.counter("hook_errors", "Hooks that threw", [...base, "hook"]);
    this.#errors = r.counter("errors", "Problems reported to onError, by code", [...base, "code"]);
    this.#heartbeatFailures = r.counter("heartbeat_failures", "Heartbeats that failed", base);
    this.#degraded = r.gauge("degraded", "1 while coordination is degraded", base);
    this.#alertLevel = r.gauge("degraded_alert_level", "Degraded alert level (0 = none)", base);
    this.#degradedSeconds = r.counter("degraded_seconds", "Time spent degraded", base);
  }

  /** The worker ID was claimed: from now on everything is recorded under it. */
  bind(workerId: string): void {
    this.#labels.worker = workerId;
    this.#bound = true;
    this.state(this.#state);
    this.#isLeader.set(0, this.#labels);
  }

  /** The manager's state changed. */
  state(to: State): void {
    this.#state = to;
    if (!this.#bound) return;
    for (const s of STATES) this.#stateGauge.set(s === to ? 1 : 0, { ...this.#labels, state: s });
  }

  /** This worker started or stopped leading. */
  leadership(isLeader: boolean): void {
    if (this.#bound) this.#isLeader.set(isLeader ? 1 : 0, this.#labels);
  }

  /** The application was told about a new assignment. */
  assignment(assignment: Assignment): void {
    if (!this.#bound) return;
    let weight = 0;
    for (const p of assignment.partitions) weight += p.weight ?? 1;
    this.#epoch.set(assignment.epoch, this.#labels);
    this.#version.set(assignment.version, this.#labels);
    this.#owned.set(assignment.partitions.length, this.#labels);
    this.#ownedWeight.set(weight, this.#labels);
  }

  /** This leader published a version. */
  published(info: PublishedMetric): void {
    if (!this.#bound) return;
    this.#rebalances.add(1, { ...this.#labels, reason: info.reason, phase: info.phase });
    this.#rebalanceSeconds.observe(info.durationMs / 1000, {
      ...this.#labels,
      reason: info.reason,
    });
    if (info.moved > 0) this.#moved.add(info.moved, this.#labels);
    if (info.handoffMs !== undefined) {
      this.#handoffSeconds.observe(info.handoffMs / 1000, this.#labels);
    }
    const steps = info.handoffSteps;
    if (steps !== undefined) {
      const step = (name: string, ms: number) =>
        this.#handoffStepSeconds.observe(ms / 1000, { ...this.#labels, step: name });
      step("revoke", steps.revokeMs);
      step("ack", steps.ackMs);
      step("assign", steps.assignMs);
    }
    this.#pending.set(info.pending, this.#labels);
    this.#unplaced.set(info.unplaced ?? 0, this.#labels);
    this.#movesPending.set(info.movesPending ?? 0, this.#labels);
    this.#workers.set(info.workers, this.#labels);
  }

  /** A hook finished (or threw). */
  hook(name: string, seconds: number, failed: boolean): void {
    if (!this.#bound) return;
    const labels = { ...this.#labels, hook: name };
    this.#hookSeconds.observe(seconds, labels);
    if (failed) this.#hookErrors.add(1, labels);
  }

  /** A problem was reported to `onError`. */
  error(code: string | undefined): void {
    if (this.#bound) this.#errors.add(1, { ...this.#labels, code: code ?? "unknown" });
  }

  /** A coordination store operation finished; `code` is set when it failed. */
  storeOperation(bucket: string, op: string, seconds: number, code: string | undefined): void {
    if (!this.#bound) return;
    const labels = { ...this.#labels, bucket, op };
    this.#kvSeconds.observe(seconds, labels);
    if (code !== undefined) this.#kvErrors.add(1, { ...labels, code });
  }

  /** A heartbeat failed. */
  heartbeatFailure(): void {
    if (this.#bound) this.#heartbeatFailures.add(1, this.#labels);
  }

  /** The degraded monitor entered (`durationMs` undefined) or left (with the time spent). */
  degraded(active: boolean, durationMs?: number): void {
    if (!this.#bound) return;
    this.#degraded.set(active ? 1 : 0, this.#labels);
    if (!active) {
      this.#alertLevel.set(0, this.#labels);
      if (durationMs !== undefined) this.#degradedSeconds.add(durationMs / 1000, this.#labels);
    }
  }

  /** The degraded monitor raised an alert level (`info` = 1 … `critical` = 4). */
  alert(level: string): void {
    if (this.#bound) this.#alertLevel.set(ALERT_LEVELS.indexOf(level) + 1, this.#labels);
  }
}
