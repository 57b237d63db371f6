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
import { LeadershipLostError, toError, UnplacedPartitionsError } from "../errors.ts";
import { type SpanLike, traced } from "../observability/tracing.ts";
import { controllerIdleMs, controllerRetryMs } from "../runtime/cadence.ts";
import { Signal } from "../runtime/signal.ts";
import { TimeSlice } from "../runtime/slices.ts";
import { AbsentOwners } from "./absent_owners.ts";
import type { ControllerOptions, ControllerState } from "./controller_types.ts";
import {
  gainsNothing,
  type HoldState,
  lostItsAssignment,
  plan,
  previousOwners,
  recordPublication,
  refreshHold,
  skipsBelowThreshold,
} from "./handoff.ts";
import { HandoffTiming } from "./handoff_timing.ts";
import { LoadWatch } from "./load_watch.ts";
import type { LeaveReason } from "./membership.ts";
import { MoveThrottle } from "./move_throttle.ts";
import { PartitionList } from "./partition_list.ts";
import { placementInfo } from "./placement_inputs.ts";
import { computeTarget, type Target } from "./target.ts";
import { RebalanceWindows } from "./windows.ts";

export type { ControllerOptions, ControllerState, PublicationInfo } from "./controller_types.ts";

/** Runs the leader's decision loop for one leadership term. */
export class Controller {
  readonly #o: ControllerOptions;
  readonly #wake = new Signal();
  readonly #abort = new AbortController();
  readonly #holds = new Map<string, HoldState>();
  readonly #windows: RebalanceWindows;
  readonly #list: PartitionList;
  #waitingForAcks = false;
  #loop: Promise<void> | undefined;
  #state: ControllerState | undefined;
  #drained: ReadonlySet<string> = new Set();
  /** Published owners this leader has never seen a heartbeat of. */
  readonly #absent = new AbsentOwners();
  /** The hand-off in progress: its span and its steps' timing. */
  readonly #handoff: HandoffTiming;
  /** Re-read what is published before the next round (first round, failed write, new bucket). */
  #needsAdopt = true;
  /** Measured load (load-aware rebalancing on), else undefined. */
  readonly #load: LoadWatch | undefined;
  /** Planned moves held back by `maxMovesPerRebalance`, continued by a follow-up round. */
  readonly #throttle: MoveThrottle;
  /** The unplaced partitions last reported, so a set is reported once. */
  #unplacedKey = "";
  /** The partition list changed since the last publication (see `gainsNothing`). */
  #listChanged = true;

  /** @param options Dependencies and callbacks. */
  constructor(options: ControllerOptions) {
    this.#o = options;
    const { config } = options;
    this.#windows = new RebalanceWindows(config);
    this.#load = config.placement.loadAware ? new LoadWatch(config) : undefined;
    this.#throttle = new MoveThrottle(
      config.placement.maxMovesPerRebalance,
      config.minRebalanceIntervalMs,
    );
    this.#handoff = new HandoffTiming(config.tracer, options.epoch);
    const { timers, onError } = options;
    this.#list = new PartitionList(config, timers, this.#abort.signal, onError);
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
    this.#handoff.abandon();
  }

  /** A worker joined. */
  workerJoined(workerId: string): void {
    this.#absent.joined(workerId);
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
    const done = this.#list.request();
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
  }

  /**
   * Load-aware rebalancing: asks for a round once the measured imbalance stayed above
   * `minRebalanceThreshold` long enough. Returns when to look again (ms from now), or Infinity.
   */
  #checkLoad(now: number): number {
    if (this.#load === undefined || this.#waitingForAcks) return Number.POSITIVE_INFINITY;
    const { membership, publisher } = this.#o;
    const waitMs = this.#load.check(now, {
      owned: () =>
        new Map(
          membership.members().filter((m) => !this.#drained.has(m.workerId))
            .map((m) => [m.workerId, publisher.published.get(m.workerId)?.ids ?? []]),
        ),
      partitions: this.#list.current,
      capacity: (id) => membership.get(id)?.heartbeat.capacity ?? 1,
    });
    if (waitMs === 0) this.#windows.loadShifted();
    return waitMs;
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
    while (!signal.aborted) {
      if (!this.#o.isLeader()) {
        // The lease looks expired (e.g. after an event-loop stall), but a late renewal answer may
        // still make it valid without the term ending: wait and look again, re-reading what is
        // published. The term stops this loop when leadership is really lost.
        this.#needsAdopt = true;
        this.#windows.markDirty();
        await this.#o.timers.waitFor(this.#wake, controllerRetryMs(config), signal);
        continue;
      }
      try {
        if (this.#needsAdopt) {
          this.#needsAdopt = false;
          await this.#adopt();
        }
        await this.#step();
      } catch (error) {
        if (signal.aborted) return;
        // A conflicting write or a recreated bucket: re-read what is published and carry on.
        if (this.#o.isLeader()) this.#o.onError(toError(error));
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
    const { heartbeatTtlMs } = this.#o.config;
    this.#absent.found(
      publisher.published,
      members,
      (id) => membership.hasDeparted(id),
      now,
      heartbeatTtlMs,
    );
    this.#windows.adopt(now, { published: publisher.published.size });
  }

  async #step(): Promise<void> {
    const { config } = this.#o;
    const now = this.#o.timers.now();
    if (this.#list.dueInMs(now) === 0) await this.#refresh();
    let waitMs = controllerIdleMs(config);
    // Absent for a whole TTL by this leader's clock: dead, like a member that went silent.
    const untilDeadMs = this.#absent.expire(
      now,
      (id) => this.#windows.left(id, now, { reason: "dead" }),
    );
    waitMs = Math.min(waitMs, untilDeadMs);
    waitMs = Math.min(waitMs, this.#checkLoad(now));
    const followUpMs = this.#throttle.due(now);
    if (followUpMs === 0) this.#windows.markDirty();
    else waitMs = Math.min(waitMs, followUpMs);
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
    waitMs = Math.min(waitMs, this.#list.dueInMs(this.#o.timers.now()));
    await this.#o.timers.waitFor(this.#wake, Math.max(1, waitMs), this.#abort.signal);
  }

  /** Reads the partition source; `refreshPartitions()` callers are told once it was read. */
  async #refresh(): Promise<void> {
    const read = await this.#list.read();
    if (read === undefined) return;
    if (read.changed) this.#listChanged = true;
    this.#load?.retain(this.#list.current);
    this.#windows.partitionsListed(this.#o.timers.now(), read);
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

  #skipped(why: string, imbalance: number): void {
    this.#o.logger?.debug(`Rebalance skipped: ${why}`, { imbalance });
  }

  async #decide(span: SpanLike): Promise<void> {
    const { membership, publisher, engine, strategy, epoch, config } = this.#o;
    // Between its steps the round gives the loop back once it ran for a slice: at 100k partitions
    // a step takes long enough to delay the lease renewal past its deadline (see `TimeSlice`).
    // What it decides is unchanged; a term that ended (in a pause or an earlier await) ends it.
    const slice = new TimeSlice(this.#list.current.length);
    const paused = async () => {
      await slice.pause();
      return this.#abort.signal.aborted;
    };
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
    const weighted = this.#load?.weighted(this.#list.current) ?? this.#list.current;
    const balance = {
      live,
      partitions: weighted,
      published: publisher.published,
      previous,
      threshold: config.minRebalanceThreshold,
      manual: this.#windows.reason === "manual" || this.#windows.reason === "load",
      forced: force.size > 0 || unpublished,
      // A throttled round's remaining moves are carried out whatever the imbalance.
      handingOff: this.#waitingForAcks || this.#throttle.pending > 0,
      capacity: (id: string) => info.get(id)?.capacity ?? 1,
    };
    if (await paused()) return;
    const skip = skipsBelowThreshold(balance);
    if (skip.skip) return this.#skipped("imbalance below minRebalanceThreshold", skip.imbalance);
    if (await paused()) return;
    let target: Target;
    try {
      target = computeTarget({
        engine,
        strategy,
        live,
        partitions: this.#list.current,
        weighted,
        previous,
        info,
        maxMoves: this.#throttle.maxMoves(this.#waitingForAcks),
        cap: config.placement.maxMovesPerRebalance,
        refine: this.#windows.reason === "load",
      });
    } catch (error) {
      this.#o.onError(toError(error));
      return;
    }
    if (await paused()) return;
    const gain = gainsNothing({
      ...balance,
      desired: target.desired,
      listChanged: this.#listChanged,
    });
    if (gain.skip) return this.#skipped("the target would not improve the balance", gain.imbalance);
    if (await paused()) return;

    // An absent owner may still hold what its key says until it counts as dead.
    const holds = new Map(this.#holds);
    const mayHoldIds = new Set(memberIds);
    this.#absent.addHolds(holds, mayHoldIds, memberIds);
    const { next, pending, moved } = plan({
      desired: target.desired,
      published: publisher.published,
      members: mayHoldIds,
      holds,
    });
    // An absent owner keeps its key as published until it counts as dead: it may be alive and
    // only unseen, and would give up everything on reading a revoke (see `AbsentOwners`).
    for (const id of this.#absent.owners(memberIds)) {
      const key = publisher.published.get(id);
      if (key) next.set(id, [...key.partitions]);
    }
    if (await paused()) return;
    const phase = pending > 0 ? "revoke" : "assign";
    span.setAttributes({
      partitions: this.#list.current.length,
      workers: live.length,
      moved,
      pending,
    });
    // Each key is addressed to the incarnation its worker's heartbeat reports now.
    const incarnations = new Map(members.map((m) => [m.workerId, m.heartbeat.incarnation]));
    const version = await traced(
      config.tracer,
      "parti.publish",
      { epoch, phase, moved, pending },
      () => publisher.publish(epoch, next, phase, pending, this.#o.isLeader, force, incarnations),
    );
    this.#waitingForAcks = pending > 0;
    const reason = this.#windows.published(phase, version !== undefined);
    // The target placed the current list: a later round gets no exemption from it.
    this.#listChanged = false;
    if (version === undefined) return;
    const writtenAt = this.#o.timers.now();
    const steps = this.#handoff.written(phase, version, now, writtenAt);
    this.#reportUnplaced(target.unplaced);
    // Held-back moves: another round `minRebalanceIntervalMs` after this one.
    this.#throttle.published(phase, target.movesPending, writtenAt);
    for (const workerId of next.keys()) {
      const hold = this.#holds.get(workerId);
      const key = publisher.published.get(workerId);
      if (!hold || key?.version !== version) continue;
      this.#holds.set(workerId, recordPublication(hold, version, key.ids));
    }
    this.#o.onPublished({
      version,
      epoch,
      reason,
      phase,
      moved,
      pending,
      movesPending: target.movesPending,
      unplaced: target.unplaced.length,
      workers: live.length,
      durationMs: writtenAt - now,
      ...(steps
        ? { handoffMs: steps.revokeMs + steps.ackMs + steps.assignMs, handoffSteps: steps }
        : {}),
    });
  }
}
