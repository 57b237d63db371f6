/**
 * The assignment controller: the leader's decision loop. It watches membership and the partition
 * list, decides when to rebalance (cold start window, planned-scale window, emergency grace),
 * computes the target with the engine (the published assignment as `previous`, so movement stays
 * minimal and a new leader adopts instead of reshuffling) and converges the published assignment
 * towards it with the exclusive hand-off: a partition is added to its new owner only once no other
 * live worker may still hold it, i.e. its old owner has confirmed the revocation through its
 * heartbeat or has left.
 *
 * @module
 */
import { controllerIdleMs, controllerRetryMs } from "../runtime/cadence.ts";
import type { Timers } from "../runtime/timers.ts";
import type { ResolvedConfig } from "../config.ts";
import type { AssignmentEngine, AssignmentStrategy } from "../engine/mod.ts";
import { LeadershipLostError, PartitionSourceError, StrategyError } from "../errors.ts";
import { type Partition, partitionId, sanitizePartitions } from "../partition.ts";
import type { Logger, PartitionSource } from "../types.ts";
import { Signal } from "../runtime/signal.ts";
import { digestIds } from "../protocol/records.ts";
import type { LeaveReason, Membership, MemberView } from "./membership.ts";
import type { Publisher } from "./publisher.ts";

/** Leader-side states the controller reports. */
export type ControllerState = "stable" | "scaling" | "rebalancing" | "emergency";

/** Why a rebalance window is open. */
type WindowKind = "coldStart" | "planned" | "emergency";

/** Options of {@link Controller}. */
export interface ControllerOptions {
  /** Resolved manager configuration (timings, strategy). */
  readonly config: ResolvedConfig;
  /** The assignment engine. */
  readonly engine: AssignmentEngine;
  /** The strategy to use. */
  readonly strategy: AssignmentStrategy;
  /** Live workers. */
  readonly membership: Membership;
  /** Assignment writer. */
  readonly publisher: Publisher;
  /** This leader's epoch. */
  readonly epoch: number;
  /** Whether this worker may still act as leader. */
  readonly isLeader: () => boolean;
  /** Reports the leader-side state. */
  readonly onState: (state: ControllerState) => void;
  /** Reports each publication. */
  readonly onPublished: (info: PublicationInfo) => void;
  /** Receives recoverable problems. */
  readonly onError: (error: Error) => void;
  /** Reads the persisted drain list. */
  readonly readDrained: () => Promise<ReadonlySet<string>>;
  /** Timers on the manager's clock. */
  readonly timers: Timers;
  /** Logger. */
  readonly logger: Logger | undefined;
}

/** Details of one publication. */
export interface PublicationInfo {
  /** New version. */
  readonly version: number;
  /** Epoch. */
  readonly epoch: number;
  /** Why the controller rebalanced. */
  readonly reason: WindowKind | "adopt" | "partitions" | "manual" | "handoff";
  /** `"revoke"` when partitions are held back until their old owners confirm. */
  readonly phase: "revoke" | "assign";
  /** Partitions whose owner changed compared to the previous publication. */
  readonly moved: number;
  /** Partitions held back. */
  readonly pending: number;
  /** Live workers. */
  readonly workers: number;
}

interface HoldState {
  /** Partitions the worker confirmed holding at its last acknowledged version. */
  acked: Set<string> | "unknown";
  /** Publications to this worker it has not acknowledged yet. */
  unacked: { version: number; ids: ReadonlySet<string> }[];
}

/** Runs the leader's decision loop for one leadership term. */
export class Controller {
  readonly #o: ControllerOptions;
  readonly #wake = new Signal();
  readonly #abort = new AbortController();
  readonly #holds = new Map<string, HoldState>();
  #partitions: Partition[] = [];
  #partitionsLoaded = false;
  #dirty = true;
  #reason: PublicationInfo["reason"] = "adopt";
  #windowKind: WindowKind | undefined;
  #windowStart = 0;
  #windowUntil = 0;
  #lastPlannedAt = Number.NEGATIVE_INFINITY;
  #waitingForAcks = false;
  #refreshRequested = true;
  #nextRefreshAt = Number.POSITIVE_INFINITY;
  #loop: Promise<void> | undefined;
  #state: ControllerState | undefined;
  #drained: ReadonlySet<string> = new Set();
  /** Workers that joined since the last publication (for restart detection). */
  readonly #joinedInWindow = new Set<string>();
  #adopted = false;
  /** Workers that stopped for a restart (static membership), with the local time first seen so. */
  readonly #away = new Map<string, number>();
  readonly #refreshed = new Signal();
  #lastPhase: "revoke" | "assign" = "assign";

  /** @param options Dependencies and callbacks. */
  constructor(options: ControllerOptions) {
    this.#o = options;
  }

  /** Starts the loop: adopts the published assignment, then converges. */
  start(): void {
    this.#loop = this.#run().catch((error) => {
      if (!(error instanceof LeadershipLostError)) this.#o.onError(error as Error);
    });
  }

  /** Stops the loop and waits for it. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#wake.notify();
    await this.#loop;
  }

  /** A worker joined. */
  workerJoined(workerId: string): void {
    this.#refreshHold(workerId);
    // Members seen before the first adoption are the pool this leader inherits, not arrivals.
    if (!this.#adopted) return;
    this.#joinedInWindow.add(workerId);
    const members = this.#o.membership.members().length;
    if (
      (this.#windowKind === undefined || this.#windowKind === "planned") && members > 1 &&
      this.#joinedInWindow.size >= this.#o.config.restartDetectionRatio * members
    ) {
      // A large share of the pool arrived at once: a restart of the pool, not a scale-out. Wait
      // the cold-start window for the rest instead of rebalancing repeatedly.
      this.#windowKind = undefined;
      this.#openWindow("coldStart");
    } else {
      this.#openWindow("planned");
    }
    this.#trackAway(workerId);
  }

  /** A worker left (gracefully or declared dead). */
  workerLeft(workerId: string, reason: LeaveReason): void {
    this.#holds.delete(workerId);
    this.#away.delete(workerId);
    if (!this.#adopted) return;
    this.#openWindow(reason === "dead" ? "emergency" : "planned");
  }

  /** A live worker's heartbeat changed: it may acknowledge a publication or report a restart. */
  workerUpdated(workerId: string): void {
    this.#refreshHold(workerId);
    this.#trackAway(workerId);
    if (this.#waitingForAcks || this.#lostItsAssignment(workerId)) {
      this.#dirty = true;
      this.#wake.notify();
    }
  }

  /** Re-read the partition source now; resolves once it was read (or failed and was reported). */
  refreshPartitions(): Promise<void> {
    this.#refreshRequested = true;
    const done = this.#refreshed.wait();
    this.#wake.notify();
    return done;
  }

  /** The drain list changed: drained workers keep running with no partitions. */
  setDrained(workers: ReadonlySet<string>): void {
    const same = workers.size === this.#drained.size &&
      [...workers].every((w) => this.#drained.has(w));
    if (same) return;
    this.#drained = workers;
    this.#dirty = true;
    this.#reason = "manual";
    this.#wake.notify();
  }

  /** Rebalance now, ignoring windows and the minimum interval. */
  triggerRebalance(): void {
    this.#windowKind = undefined;
    this.#windowUntil = 0;
    this.#dirty = true;
    this.#reason = "manual";
    this.#lastPlannedAt = Number.NEGATIVE_INFINITY;
    this.#wake.notify();
  }

  /**
   * A worker with a stable instance name that stops keeps its ID and reports state `shutdown`: it
   * is expected back (a rolling restart). Its partitions stay reserved for `emergencyGraceMs`, so
   * a restart within the grace moves nothing; after that they are handed to others.
   */
  #trackAway(workerId: string): void {
    const member = this.#o.membership.get(workerId);
    if (!member) return;
    if (member.heartbeat.state === "shutdown") {
      if (!this.#away.has(workerId)) {
        this.#away.set(workerId, this.#o.timers.now());
        this.#openWindow("emergency");
      }
    } else if (this.#away.delete(workerId)) {
      this.#dirty = true;
      this.#wake.notify();
    }
  }

  #isAway(workerId: string, now: number): boolean {
    const since = this.#away.get(workerId);
    return since !== undefined && now - since >= this.#o.config.emergencyGraceMs;
  }

  /**
   * Whether a worker confirmed the latest version of its key but holds something else: it fenced
   * itself during an outage (and so only accepts a newer version) or its key was overwritten.
   */
  #lostItsAssignment(workerId: string): boolean {
    const member = this.#o.membership.get(workerId);
    const published = this.#o.publisher.published.get(workerId);
    // A worker away for a restart holds nothing on purpose; its key waits for it unchanged.
    if (!member || !published || member.heartbeat.state === "shutdown") return false;
    return member.heartbeat.appliedVersion >= published.version &&
      member.heartbeat.ownedDigest !== digestIds(published.ids);
  }

  /** Re-derives what a member may hold from its latest heartbeat. */
  #refreshHold(workerId: string): void {
    const member = this.#o.membership.get(workerId);
    if (!member) return;
    const applied = member.heartbeat.appliedVersion;
    const previous = this.#holds.get(workerId);
    const published = this.#o.publisher.published.get(workerId);
    const unacked = (previous?.unacked ?? []).filter((u) => u.version > applied);
    let acked: Set<string> | "unknown" = previous?.acked ?? "unknown";
    if (member.heartbeat.owned === 0) acked = new Set();
    else if (published && applied >= published.version) acked = new Set(published.ids);
    else if (previous) {
      const confirmed = previous.unacked.filter((u) => u.version <= applied).at(-1);
      if (confirmed) acked = new Set(confirmed.ids);
    }
    this.#holds.set(workerId, { acked, unacked });
  }

  #openWindow(kind: WindowKind): void {
    const now = this.#o.timers.now();
    const c = this.#o.config;
    this.#dirty = true;
    if (kind === "emergency") {
      // Emergencies are not held back by planned windows or the rebalance interval.
      const until = now + c.emergencyGraceMs;
      if (this.#windowKind !== "emergency" || until < this.#windowUntil) {
        this.#windowKind = "emergency";
        this.#windowStart = now;
        this.#windowUntil = until;
      }
      this.#reason = "emergency";
    } else if (this.#windowKind === undefined) {
      this.#windowKind = kind;
      this.#windowStart = now;
      this.#windowUntil = now +
        (kind === "coldStart" ? c.coldStartWindowMs : c.plannedScaleWindowMs);
      this.#reason = kind;
    } else if (this.#windowKind !== "emergency") {
      // Further changes extend an open window, up to three times its length.
      const length = this.#windowKind === "coldStart"
        ? c.coldStartWindowMs
        : c.plannedScaleWindowMs;
      this.#windowUntil = Math.min(
        Math.max(this.#windowUntil, now + c.plannedScaleWindowMs),
        this.#windowStart + 3 * length,
      );
    }
    this.#wake.notify();
  }

  async #run(): Promise<void> {
    const { config, publisher } = this.#o;
    const signal = this.#abort.signal;
    if (config.partitionRefreshIntervalMs > 0) {
      this.#nextRefreshAt = this.#o.timers.now() + config.partitionRefreshIntervalMs;
    }
    let needsAdopt = true;
    let first = true;
    while (!signal.aborted) {
      if (!this.#o.isLeader()) return;
      try {
        if (needsAdopt) {
          await this.#adopt();
          needsAdopt = false;
          if (first && publisher.published.size === 0) this.#openWindow("coldStart");
          first = false;
        }
        await this.#step();
      } catch (error) {
        if (signal.aborted || !this.#o.isLeader()) return;
        // A conflicting write or a recreated bucket: re-read what is published and carry on.
        this.#o.onError(error as Error);
        needsAdopt = true;
        this.#dirty = true;
        await this.#o.timers.waitFor(this.#wake, controllerRetryMs(config), signal);
      }
    }
  }

  async #adopt(): Promise<void> {
    const { membership, publisher } = this.#o;
    let minVersion = publisher.version;
    for (const m of membership.members()) {
      minVersion = Math.max(minVersion, m.heartbeat.appliedVersion);
    }
    await publisher.adopt(minVersion);
    this.#drained = await this.#o.readDrained();
    this.#adopted = true;
    this.#dirty = true;
    for (const m of membership.members()) {
      this.#refreshHold(m.workerId);
      this.#trackAway(m.workerId);
    }
  }

  async #step(): Promise<void> {
    const { config } = this.#o;
    const now = this.#o.timers.now();
    if (this.#refreshRequested || now >= this.#nextRefreshAt) await this.#refresh();
    let waitMs = controllerIdleMs(config);
    if (this.#windowKind !== undefined && now < this.#windowUntil) {
      this.#setState(this.#windowKind === "emergency" ? "emergency" : "scaling");
      waitMs = this.#windowUntil - now;
    } else if (
      this.#windowKind === "planned" &&
      now < this.#lastPlannedAt + config.minRebalanceIntervalMs
    ) {
      this.#setState("scaling");
      waitMs = this.#lastPlannedAt + config.minRebalanceIntervalMs - now;
    } else if (this.#dirty && this.#partitionsLoaded) {
      const kind = this.#windowKind;
      this.#windowKind = undefined;
      if (kind === "planned" || kind === "coldStart") this.#lastPlannedAt = now;
      this.#dirty = false;
      this.#setState(kind === "emergency" ? "emergency" : "rebalancing");
      await this.#converge();
      if (!this.#waitingForAcks) this.#setState("stable");
    } else if (!this.#waitingForAcks) {
      this.#setState("stable");
    }
    if (config.partitionRefreshIntervalMs > 0) {
      waitMs = Math.min(waitMs, Math.max(0, this.#nextRefreshAt - this.#o.timers.now()));
    }
    await this.#o.timers.waitFor(this.#wake, Math.max(1, waitMs), this.#abort.signal);
  }

  async #refresh(): Promise<void> {
    try {
      await this.#readSource();
    } finally {
      this.#refreshed.notify();
    }
  }

  async #readSource(): Promise<void> {
    const { config } = this.#o;
    this.#refreshRequested = false;
    if (config.partitionRefreshIntervalMs > 0) {
      this.#nextRefreshAt = this.#o.timers.now() + config.partitionRefreshIntervalMs;
    }
    let list: readonly unknown[];
    if (Array.isArray(config.source)) {
      list = config.source;
    } else {
      try {
        list = await this.#withDeadline(
          (config.source as PartitionSource).listPartitions(this.#abort.signal),
        );
        if (!Array.isArray(list)) throw new TypeError("listPartitions() did not return an array");
      } catch (error) {
        // Keep the last good list: a flaky source must not unassign everything.
        this.#o.onError(
          new PartitionSourceError(
            "Partition source failed; keeping the last good partition list",
            {
              cause: error,
            },
          ),
        );
        return;
      }
    }
    const { valid, errors } = sanitizePartitions(list);
    for (const error of errors) this.#o.onError(error);
    const changed = !this.#partitionsLoaded || !samePartitions(this.#partitions, valid);
    this.#partitions = valid;
    const first = !this.#partitionsLoaded;
    this.#partitionsLoaded = true;
    if (changed && !first) this.#openWindow("planned");
    else if (first) this.#dirty = true;
  }

  /**
   * Bounds a source call by `operationTimeoutMs` and by this controller's stop, so a source that
   * hangs (and ignores its signal) can neither stall the leader nor delay `stop()`.
   */
  #withDeadline<T>(work: Promise<T>): Promise<T> {
    const ms = this.#o.config.operationTimeoutMs;
    return this.#o.timers.deadline(work, ms, {
      signal: this.#abort.signal,
      onTimeout: () => new Error(`listPartitions() did not answer within ${ms} ms`),
    });
  }

  #setState(state: ControllerState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#o.onState(state);
  }

  async #converge(): Promise<void> {
    const { membership, publisher, engine, strategy, epoch } = this.#o;
    const members = membership.members();
    const now = this.#o.timers.now();
    const live = members
      .filter((m) => !this.#drained.has(m.workerId) && !this.#isAway(m.workerId, now))
      .map((m) => m.workerId)
      .sort();
    const memberIds = new Set(members.map((m) => m.workerId));

    const previous = new Map<string, string>();
    for (const [workerId, published] of publisher.published) {
      if (!memberIds.has(workerId)) continue;
      for (const id of published.ids) previous.set(id, workerId);
    }
    const desired = new Map<string, Partition[]>();
    for (const workerId of publisher.published.keys()) desired.set(workerId, []);
    for (const workerId of memberIds) desired.set(workerId, []);
    const force = new Set(
      members.map((m) => m.workerId).filter((id) => this.#lostItsAssignment(id)),
    );
    if (
      this.#reason !== "manual" && force.size === 0 && !this.#waitingForAcks &&
      this.#isBalanceOnly(live, previous)
    ) {
      // Nothing is orphaned or stale: rebalance only if the imbalance is worth the movement.
      const imbalance = this.#imbalance(live);
      if (imbalance < this.#o.config.minRebalanceThreshold) {
        this.#o.logger?.debug("Rebalance skipped: imbalance below minRebalanceThreshold", {
          imbalance,
        });
        return;
      }
    }
    if (live.length > 0 && this.#partitions.length > 0) {
      let owners: readonly string[];
      try {
        owners = engine.assign({
          workers: live,
          partitions: this.#partitions,
          strategy,
          previous,
        }).owners;
      } catch (error) {
        this.#o.onError(
          error instanceof StrategyError
            ? error
            : new StrategyError("The assignment strategy failed", { cause: error }),
        );
        return;
      }
      for (let i = 0; i < owners.length; i++) {
        desired.get(owners[i]!)!.push(this.#partitions[i]!);
      }
    }

    // Who may still hold what: a partition goes to its new owner only when no other member may.
    const mayHold = new Map<string, Set<string> | "unknown">();
    for (const member of members) mayHold.set(member.workerId, this.#mayHold(member));
    const next = new Map<string, Partition[]>();
    let pending = 0;
    let moved = 0;
    for (const [workerId, wanted] of desired) {
      const current = publisher.published.get(workerId)?.ids ?? new Set<string>();
      const out: Partition[] = [];
      for (const partition of wanted) {
        const id = partitionId(partition);
        if (current.has(id)) {
          out.push(partition);
          continue;
        }
        let blocked = false;
        for (const [other, held] of mayHold) {
          if (other !== workerId && (held === "unknown" || held.has(id))) {
            blocked = true;
            break;
          }
        }
        if (blocked) pending++;
        else {
          out.push(partition);
          moved++;
        }
      }
      next.set(workerId, out);
    }
    const phase = pending > 0 ? "revoke" : "assign";
    const version = await publisher.publish(epoch, next, phase, pending, this.#o.isLeader, force);
    this.#waitingForAcks = pending > 0;
    this.#joinedInWindow.clear();
    const reason = this.#lastPhase === "revoke" ? "handoff" : this.#reason;
    // A manual request is served by this round (and the hand-off rounds it starts); later rounds
    // are judged on their own merits again.
    if (!this.#waitingForAcks) this.#reason = "planned";
    if (version === undefined) return;
    for (const [workerId, partitions] of next) {
      const published = publisher.published.get(workerId);
      if (!published || published.version !== version) continue;
      const hold = this.#holds.get(workerId);
      if (hold) hold.unacked.push({ version, ids: new Set(partitions.map(partitionId)) });
    }
    this.#o.onPublished({
      version,
      epoch,
      reason,
      phase,
      moved,
      pending,
      workers: live.length,
    });
    this.#lastPhase = phase;
  }

  /** True when every partition has a live owner and no live worker holds a partition that is gone. */
  #isBalanceOnly(live: readonly string[], previous: ReadonlyMap<string, string>): boolean {
    const liveSet = new Set(live);
    // A worker that has never been published for waits for its first (possibly empty) assignment.
    for (const workerId of live) if (!this.#o.publisher.published.has(workerId)) return false;
    for (const p of this.#partitions) {
      const owner = previous.get(partitionId(p));
      if (owner === undefined || !liveSet.has(owner)) return false;
    }
    const current = new Set(this.#partitions.map(partitionId));
    for (const [workerId, published] of this.#o.publisher.published) {
      if (!liveSet.has(workerId) && published.ids.size > 0) return false;
      for (const id of published.ids) if (!current.has(id)) return false;
    }
    return true;
  }

  /** (max − min) / mean of the live workers' current loads by weight. */
  #imbalance(live: readonly string[]): number {
    if (live.length === 0) return 0;
    const weights = new Map(this.#partitions.map((p) => [partitionId(p), p.weight ?? 1]));
    const loads = live.map((w) => {
      let load = 0;
      for (const id of this.#o.publisher.published.get(w)?.ids ?? []) load += weights.get(id) ?? 0;
      return load;
    });
    const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
    return mean === 0 ? 0 : (Math.max(...loads) - Math.min(...loads)) / mean;
  }

  #mayHold(member: MemberView): Set<string> | "unknown" {
    const hold = this.#holds.get(member.workerId);
    if (!hold) return "unknown";
    if (hold.acked === "unknown") return "unknown";
    const out = new Set(hold.acked);
    for (const u of hold.unacked) for (const id of u.ids) out.add(id);
    return out;
  }
}

function samePartitions(a: readonly Partition[], b: readonly Partition[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (partitionId(x) !== partitionId(y) || (x.weight ?? 1) !== (y.weight ?? 1)) return false;
  }
  return true;
}
