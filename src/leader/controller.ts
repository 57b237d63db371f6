/**
 * The assignment controller: the leader's decision loop. It feeds membership, heartbeat and
 * partition-list changes to the window rules (`windows.ts`, which say when to rebalance), computes
 * the target with the engine (the published assignment as `previous`, so movement stays minimal
 * and a new leader adopts instead of reshuffling), plans the exclusive hand-off towards it
 * (`handoff.ts`) and publishes. The rules live in those two pure modules; this file only gathers
 * their inputs, acts on their answers and sleeps.
 *
 * @module
 */
import { type SpanLike, traced } from "../observability/tracing.ts";
import { controllerIdleMs, controllerRetryMs } from "../runtime/cadence.ts";
import type { Timers } from "../runtime/timers.ts";
import type { ResolvedConfig } from "../config.ts";
import type { AssignmentEngine, AssignmentStrategy } from "../engine/mod.ts";
import {
  LeadershipLostError,
  PartitionSourceError,
  StrategyError,
  toError,
  UnplacedPartitionsError,
} from "../errors.ts";
import { LoadModel, refineBalance, relativeImbalance } from "./load_model.ts";
import { placementInfo } from "./placement_inputs.ts";
import { type Partition, partitionId, sanitizePartitions } from "../partition.ts";
import type { Logger, PartitionSource } from "../types.ts";
import { Signal } from "../runtime/signal.ts";
import {
  absentOwners,
  type HoldState,
  lostItsAssignment,
  plan,
  previousOwners,
  recordPublication,
  refreshHold,
  skipsBelowThreshold,
} from "./handoff.ts";
import type { LeaveReason, Membership } from "./membership.ts";
import type { Publisher } from "./publisher.ts";
import { type RebalanceReason, RebalanceWindows } from "./windows.ts";

/** Leader-side states the controller reports. */
export type ControllerState = "stable" | "scaling" | "rebalancing" | "emergency";

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
  readonly reason: RebalanceReason;
  /** `"revoke"` when partitions are held back until their old owners confirm. */
  readonly phase: "revoke" | "assign";
  /** Partitions whose owner changed compared to the previous publication. */
  readonly moved: number;
  /** Partitions held back. */
  readonly pending: number;
  /** Planned moves held back by `maxMovesPerRebalance`, for a later round. */
  readonly movesPending: number;
  /** Partitions left unassigned: no live worker matches their selector. */
  readonly unplaced: number;
  /** Live workers. */
  readonly workers: number;
  /** From the decision to the last write, by the manager's clock (ms). */
  readonly durationMs: number;
  /**
   * When this publication completes a hand-off: from its first revoke being published to this
   * assign (the old owners acknowledged, the new owners told), by the manager's clock (ms).
   */
  readonly handoffMs?: number;
}

/** Runs the leader's decision loop for one leadership term. */
export class Controller {
  readonly #o: ControllerOptions;
  readonly #wake = new Signal();
  readonly #abort = new AbortController();
  readonly #holds = new Map<string, HoldState>();
  readonly #windows: RebalanceWindows;
  #partitions: Partition[] = [];
  #waitingForAcks = false;
  #refreshRequested = true;
  #nextRefreshAt = Number.POSITIVE_INFINITY;
  #loop: Promise<void> | undefined;
  #state: ControllerState | undefined;
  #drained: ReadonlySet<string> = new Set();
  /**
   * Owners in the published assignment this leader has never seen a heartbeat of: what their key
   * held when this leader found them, and the time from which they count as dead (see
   * `absentOwners`). The snapshot matters: their key is emptied by the revoke that follows.
   */
  readonly #absent = new Map<
    string,
    { readonly deadAt: number; readonly ids: ReadonlySet<string> }
  >();
  readonly #refreshed = new Signal();
  /** The `parti.handoff` span: from the first revoke of a hand-off to its last assign. */
  #handoff: SpanLike | undefined;
  #handoffStartedAt = 0;
  /** Re-read what is published before the next round (first round, failed write, new bucket). */
  #needsAdopt = true;
  /** Measured load (load-aware rebalancing on), else undefined. */
  readonly #load: LoadModel | undefined;
  /** A heartbeat brought new load figures since the imbalance was last computed. */
  #loadChanged = false;
  /** Planned moves the last round held back (`maxMovesPerRebalance`): the next round continues. */
  #movesPending = 0;
  /** When the round that continues a throttled rebalance is due. */
  #followUpAt = Number.POSITIVE_INFINITY;
  /** The unplaced partitions last reported, so a set is reported once. */
  #unplacedKey = "";

  /** @param options Dependencies and callbacks. */
  constructor(options: ControllerOptions) {
    this.#o = options;
    this.#windows = new RebalanceWindows(options.config);
    const loadAware = options.config.placement.loadAware;
    this.#load = loadAware ? new LoadModel(loadAware) : undefined;
  }

  /** Starts the loop: adopts the published assignment, then converges. */
  start(): void {
    this.#loop = this.#run().catch((error) => {
      if (!(error instanceof LeadershipLostError)) this.#o.onError(toError(error));
    });
  }

  /** Stops the loop and waits for it. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#wake.notify();
    await this.#loop;
    this.#handoff?.setAttributes({ unfinished: true });
    this.#handoff?.end();
    this.#handoff = undefined;
  }

  /** A worker joined. */
  workerJoined(workerId: string): void {
    this.#absent.delete(workerId);
    this.#refreshHold(workerId);
    const { membership, timers } = this.#o;
    const away = membership.get(workerId)?.heartbeat.state === "shutdown";
    const members = membership.members().length;
    if (this.#windows.joined(workerId, timers.now(), { members, away })) this.#wake.notify();
  }

  /** A worker left (gracefully or declared dead). */
  workerLeft(workerId: string, reason: LeaveReason): void {
    this.#holds.delete(workerId);
    if (this.#windows.left(workerId, this.#o.timers.now(), { reason })) this.#wake.notify();
  }

  /** A live worker's heartbeat changed: it may acknowledge a publication or report a restart. */
  workerUpdated(workerId: string): void {
    this.#refreshHold(workerId);
    this.#observeLoad(workerId);
    let wake = this.#trackAway(workerId);
    if (this.#waitingForAcks || this.#lostItsAssignment(workerId)) {
      this.#windows.markDirty();
      wake = true;
    }
    if (wake) this.#wake.notify();
  }

  /**
   * The assignment bucket was deleted and created again: what this leader believes is published
   * is gone. Re-read it (it is empty) and publish again, continuing the versions.
   */
  bucketRecreated(): void {
    this.#needsAdopt = true;
    this.#windows.markDirty();
    this.#wake.notify();
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
    this.#windows.drainChanged();
    this.#wake.notify();
  }

  /** Rebalance now, ignoring windows and the minimum interval. */
  triggerRebalance(): void {
    this.#windows.trigger();
    this.#wake.notify();
  }

  #observeLoad(workerId: string): void {
    const load = this.#o.membership.get(workerId)?.heartbeat.load;
    if (this.#load === undefined || load === undefined) return;
    const owned = this.#o.publisher.published.get(workerId)?.ids ?? new Set<string>();
    this.#load.observe(load, owned, this.#o.timers.now());
    this.#loadChanged = true;
  }

  /**
   * Load-aware rebalancing: recomputes the measured imbalance when new figures came in, and asks
   * for a round once it has stayed above `minRebalanceThreshold` long enough. Returns when to look
   * again (ms from now), or Infinity.
   */
  #checkLoad(now: number): number {
    const model = this.#load;
    if (model === undefined || this.#waitingForAcks) return Number.POSITIVE_INFINITY;
    const { config, membership, publisher } = this.#o;
    if (this.#loadChanged) {
      this.#loadChanged = false;
      const owned = new Map<string, Iterable<string>>();
      for (const m of membership.members()) {
        if (this.#drained.has(m.workerId)) continue;
        owned.set(m.workerId, publisher.published.get(m.workerId)?.ids ?? []);
      }
      const value = relativeImbalance(
        owned,
        model.weights(this.#partitions),
        (id) => membership.get(id)?.heartbeat.capacity ?? 1,
      );
      if (model.due(value, config.minRebalanceThreshold, now, config.minRebalanceIntervalMs)) {
        model.rebalanced(now);
        this.#windows.loadShifted();
        return 0;
      }
    }
    const at = model.dueAt(config.minRebalanceIntervalMs);
    if (at === undefined) return Number.POSITIVE_INFINITY;
    // Look again when it would be due (a heartbeat also wakes the loop).
    this.#loadChanged = true;
    return Math.max(1, at - now);
  }

  /** Tells the windows whether a member reports a stop for a restart (a stable-ID worker). */
  #trackAway(workerId: string): boolean {
    const member = this.#o.membership.get(workerId);
    if (!member) return false;
    const away = member.heartbeat.state === "shutdown";
    return this.#windows.observed(workerId, this.#o.timers.now(), { away });
  }

  #lostItsAssignment(workerId: string): boolean {
    const member = this.#o.membership.get(workerId);
    if (!member) return false;
    return lostItsAssignment(member.heartbeat, this.#o.publisher.published.get(workerId));
  }

  #refreshHold(workerId: string): void {
    const member = this.#o.membership.get(workerId);
    if (!member) return;
    const published = this.#o.publisher.published.get(workerId);
    this.#holds.set(workerId, refreshHold(this.#holds.get(workerId), member.heartbeat, published));
  }

  async #run(): Promise<void> {
    const { config } = this.#o;
    const signal = this.#abort.signal;
    if (config.partitionRefreshIntervalMs > 0) {
      this.#nextRefreshAt = this.#o.timers.now() + config.partitionRefreshIntervalMs;
    }
    while (!signal.aborted) {
      if (!this.#o.isLeader()) return;
      try {
        if (this.#needsAdopt) {
          this.#needsAdopt = false;
          await this.#adopt();
        }
        await this.#step();
      } catch (error) {
        if (signal.aborted || !this.#o.isLeader()) return;
        // A conflicting write or a recreated bucket: re-read what is published and carry on.
        this.#o.onError(toError(error));
        this.#needsAdopt = true;
        this.#windows.markDirty();
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
    const now = this.#o.timers.now();
    const members = new Set<string>();
    for (const m of membership.members()) {
      members.add(m.workerId);
      this.#refreshHold(m.workerId);
      this.#trackAway(m.workerId);
    }
    for (const id of absentOwners(publisher.published, members)) {
      // A worker that deleted its heartbeat released everything before it did.
      if (this.#absent.has(id) || membership.hasDeparted(id)) continue;
      const ids = new Set(publisher.published.get(id)!.ids);
      this.#absent.set(id, { deadAt: now + this.#o.config.heartbeatTtlMs, ids });
    }
    this.#windows.adopt(now, { published: publisher.published.size });
  }

  async #step(): Promise<void> {
    const { config } = this.#o;
    const now = this.#o.timers.now();
    if (this.#refreshRequested || now >= this.#nextRefreshAt) await this.#refresh();
    let waitMs = controllerIdleMs(config);
    for (const [id, { deadAt }] of this.#absent) {
      if (now < deadAt) {
        waitMs = Math.min(waitMs, deadAt - now);
        continue;
      }
      // Absent for a whole TTL by this leader's clock: dead, like a member that went silent.
      this.#absent.delete(id);
      this.#windows.left(id, now, { reason: "dead" });
    }
    waitMs = Math.min(waitMs, this.#checkLoad(now));
    if (now >= this.#followUpAt) {
      this.#followUpAt = Number.POSITIVE_INFINITY;
      this.#windows.markDirty();
    } else if (this.#followUpAt !== Number.POSITIVE_INFINITY) {
      waitMs = Math.min(waitMs, this.#followUpAt - now);
    }
    const decision = this.#windows.decide(now);
    if (decision.action === "wait") {
      this.#setState(decision.state);
      waitMs = decision.untilMs - now;
    } else if (decision.action === "rebalance") {
      const kind = this.#windows.rebalanceStarted(now);
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

  /** Reads the partition source; `refreshPartitions()` callers are told once it was read. */
  async #refresh(): Promise<void> {
    const { config } = this.#o;
    this.#refreshRequested = false;
    if (config.partitionRefreshIntervalMs > 0) {
      this.#nextRefreshAt = this.#o.timers.now() + config.partitionRefreshIntervalMs;
    }
    try {
      let list: readonly unknown[];
      if (Array.isArray(config.source)) list = config.source;
      else {
        try {
          list = await this.#withDeadline(
            (config.source as PartitionSource).listPartitions(this.#abort.signal),
          );
          if (!Array.isArray(list)) throw new TypeError("listPartitions() did not return an array");
        } catch (cause) {
          // Keep the last good list: a flaky source must not unassign everything.
          const message = "Partition source failed; keeping the last good partition list";
          this.#o.onError(new PartitionSourceError(message, { cause }));
          return;
        }
      }
      const { valid, errors } = sanitizePartitions(list);
      for (const error of errors) this.#o.onError(error);
      const changed = !samePartitions(this.#partitions, valid);
      this.#partitions = valid;
      this.#load?.retain(valid);
      this.#windows.partitionsListed(this.#o.timers.now(), { changed });
    } finally {
      this.#refreshed.notify();
    }
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

  /** Reports a new set of unplaced partitions once (an empty set clears it). */
  #reportUnplaced(unplaced: readonly string[]): void {
    const key = unplaced.join("\n");
    if (key === this.#unplacedKey) return;
    this.#unplacedKey = key;
    if (unplaced.length > 0) this.#o.onError(new UnplacedPartitionsError(unplaced));
  }

  /** One rebalance decision, in a `parti.rebalance` span. */
  #converge(): Promise<void> {
    const { config, epoch } = this.#o;
    const reason = this.#windows.reason;
    return traced(
      config.tracer,
      "parti.rebalance",
      { epoch, reason },
      (span) => this.#decide(span),
    );
  }

  async #decide(span: SpanLike): Promise<void> {
    const { membership, publisher, engine, strategy, epoch, config } = this.#o;
    const members = membership.members();
    const now = this.#o.timers.now();
    const live = members
      .filter((m) => !this.#drained.has(m.workerId) && !this.#windows.isAway(m.workerId, now))
      .map((m) => m.workerId)
      .sort();
    const memberIds = new Set(members.map((m) => m.workerId));
    const previous = previousOwners(publisher.published, memberIds);
    const force = new Set([...memberIds].filter((id) => this.#lostItsAssignment(id)));
    // A member without a key yet (e.g. drained before it joined) waits for its first, empty one.
    const unpublished = [...memberIds].some((id) => !publisher.published.has(id));
    const info = placementInfo(members);
    const partitions = this.#load?.weighted(this.#partitions) ?? this.#partitions;
    const skip = skipsBelowThreshold({
      live,
      partitions,
      published: publisher.published,
      previous,
      threshold: config.minRebalanceThreshold,
      manual: this.#windows.reason === "manual" || this.#windows.reason === "load",
      forced: force.size > 0 || unpublished,
      // A throttled round's remaining moves are carried out whatever the imbalance.
      handingOff: this.#waitingForAcks || this.#movesPending > 0,
      capacity: (id) => info.get(id)?.capacity ?? 1,
    });
    if (skip.skip) {
      this.#o.logger?.debug("Rebalance skipped: imbalance below minRebalanceThreshold", {
        imbalance: skip.imbalance,
      });
      return;
    }
    const desired = new Map<string, Partition[]>();
    let movesPending = 0;
    let unplaced: readonly string[] = [];
    if (live.length > 0 && this.#partitions.length > 0) {
      let owners: readonly string[];
      try {
        const result = engine.assign({
          workers: live,
          partitions,
          strategy,
          previous,
          workerInfo: info,
          // The round that completes a throttled hand-off starts no new move: the partitions it
          // revoked are granted first, and the next moves wait for the follow-up round.
          maxMoves: this.#waitingForAcks && config.placement.maxMovesPerRebalance !== undefined
            ? 0
            : config.placement.maxMovesPerRebalance,
        });
        owners = result.owners;
        movesPending = result.stats.movesPending;
        if (this.#windows.reason === "load" && movesPending === 0) {
          // Measured loads are lumpy: close the gap the ring placement leaves, by single moves.
          owners = owners.slice();
          // Within maxMovesPerRebalance (a fraction counts as that share of the partitions).
          const cap = config.placement.maxMovesPerRebalance;
          const limit = cap === undefined ? partitions.length : Math.max(
            0,
            (cap >= 1 ? cap : Math.floor(cap * partitions.length)) - result.stats.moved,
          );
          refineBalance(
            owners as string[],
            partitions,
            (id) => info.get(id)?.capacity ?? 1,
            live,
            limit,
          );
        }
        unplaced = result.unplaced;
      } catch (error) {
        this.#o.onError(
          error instanceof StrategyError
            ? error
            : new StrategyError("The assignment strategy failed", { cause: error }),
        );
        return;
      }
      owners.forEach((owner, i) => {
        if (owner === "") return;
        const list = desired.get(owner) ?? [];
        list.push(this.#partitions[i]!);
        desired.set(owner, list);
      });
    }

    // An absent owner may still hold what its key says until it counts as dead.
    const holds = new Map(this.#holds);
    const mayHoldIds = new Set(memberIds);
    for (const [id, absent] of this.#absent) {
      if (memberIds.has(id)) continue;
      mayHoldIds.add(id);
      holds.set(id, { acked: absent.ids, unacked: [] });
    }
    const { next, pending, moved } = plan({
      desired,
      published: publisher.published,
      members: mayHoldIds,
      holds,
    });
    const phase = pending > 0 ? "revoke" : "assign";
    span.setAttributes({
      partitions: this.#partitions.length,
      workers: live.length,
      moved,
      pending,
    });
    if (phase === "revoke" && !this.#handoff) {
      this.#handoff = config.tracer.startSpan("parti.handoff", { attributes: { epoch } });
      this.#handoffStartedAt = now;
    }
    // Each key is addressed to the incarnation its worker's heartbeat reports now.
    const incarnations = new Map(members.map((m) => [m.workerId, m.heartbeat.incarnation]));
    const version = await traced(
      config.tracer,
      "parti.publish",
      { epoch, phase, moved, pending },
      () => publisher.publish(epoch, next, phase, pending, this.#o.isLeader, force, incarnations),
    );
    let handoffMs: number | undefined;
    if (version !== undefined && phase === "assign" && this.#handoff) {
      this.#handoff.setAttributes({ version });
      this.#handoff.end();
      this.#handoff = undefined;
      handoffMs = this.#o.timers.now() - this.#handoffStartedAt;
    }
    this.#waitingForAcks = pending > 0;
    const reason = this.#windows.published(phase, version !== undefined);
    if (version === undefined) return;
    this.#reportUnplaced(unplaced);
    this.#movesPending = phase === "assign" ? movesPending : this.#movesPending;
    // Held-back moves: another round `minRebalanceIntervalMs` after this one.
    if (phase === "assign" && movesPending > 0) {
      this.#followUpAt = this.#o.timers.now() + config.minRebalanceIntervalMs;
    }
    for (const [workerId, partitions] of next) {
      const hold = this.#holds.get(workerId);
      if (!hold || publisher.published.get(workerId)?.version !== version) continue;
      const ids = new Set(partitions.map(partitionId));
      this.#holds.set(workerId, recordPublication(hold, version, ids));
    }
    const durationMs = this.#o.timers.now() - now;
    this.#o.onPublished({
      version,
      epoch,
      reason,
      phase,
      moved,
      pending,
      movesPending,
      unplaced: unplaced.length,
      workers: live.length,
      durationMs,
      ...(handoffMs !== undefined ? { handoffMs } : {}),
    });
  }
}

/** Whether two partition lists are the same, in order, weight and placement metadata. */
function samePartitions(a: readonly Partition[], b: readonly Partition[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (partitionId(x) !== partitionId(y) || (x.weight ?? 1) !== (y.weight ?? 1)) return false;
    if (x.priority !== y.priority || x.pin !== y.pin || x.locality !== y.locality) return false;
    if (JSON.stringify(x.selector) !== JSON.stringify(y.selector)) return false;
  }
  return true;
}
