/**
 * When the leader rebalances: the classification of every change into a rebalance window (cold
 * start, planned scale, emergency), the extension and spacing rules, restart detection, the grace
 * of a worker away for a restart, and the reason a publication reports. Pure and exact: no timers,
 * no I/O; every method that depends on time takes `now`, a reading of the leader's monotonic clock
 * in milliseconds, so a test can step through any rule to the millisecond.
 *
 * @module
 */

/** The configuration the window rules read (see the matching `TuningOptions` fields). */
export interface WindowSettings {
  /** How long a cold start waits for the rest of the pool. */
  readonly coldStartWindowMs: number;
  /** How long a planned change waits; also the step by which further changes extend a window. */
  readonly plannedScaleWindowMs: number;
  /** How long after a death (or a restart's departure) the dead worker's partitions move. */
  readonly emergencyGraceMs: number;
  /** The share of the members that, joining since the last publication, makes it a restart. */
  readonly restartDetectionRatio: number;
  /** The least time between two planned (or cold-start) rebalances. */
  readonly minRebalanceIntervalMs: number;
}

/** Why a rebalance window is open. */
export type WindowKind = "coldStart" | "planned" | "emergency";

/** An open rebalance window: the rebalance is due at `until`. */
export interface RebalanceWindow {
  /** What opened it. */
  readonly kind: WindowKind;
  /** When it opened; the extension cap counts from here. */
  readonly start: number;
  /** When the rebalance is due. */
  readonly until: number;
}

/**
 * Why a publication was made, as reported in `PublicationInfo.reason`. (`"partitions"` is part
 * of the reported type, but a partition-list change is classified, and reported, as `"planned"`.)
 */
export type RebalanceReason =
  | WindowKind
  | "adopt"
  | "partitions"
  | "manual"
  | "handoff"
  | "load";

/** What the leader should do now, from {@link RebalanceWindows.decide}. */
export type WindowDecision =
  | {
    /** A window (or the minimum interval) holds the rebalance back. */
    readonly action: "wait";
    /** When to decide again. */
    readonly untilMs: number;
    /** The leader-side state to report while waiting. */
    readonly state: "scaling" | "emergency";
  }
  | {
    /** Run a round now (then call {@link RebalanceWindows.rebalanceStarted}). */
    readonly action: "rebalance";
    /** The window that is due, or `undefined` for a round no window held back. */
    readonly kind: WindowKind | undefined;
  }
  | {
    /** Nothing is due. */
    readonly action: "idle";
  };

/**
 * The leader's rebalance windows for one leadership term. Event methods record a change at `now`
 * and return whether it needs a round (the loop should wake); {@link decide} says what is due.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { RebalanceWindows } from "./windows.ts";
 * const windows = new RebalanceWindows({
 *   coldStartWindowMs: 3_000,
 *   plannedScaleWindowMs: 1_000,
 *   emergencyGraceMs: 500,
 *   restartDetectionRatio: 0.5,
 *   minRebalanceIntervalMs: 1_000,
 * });
 * windows.adopt(0, { published: 3 });
 * windows.partitionsListed(0, { changed: true });
 * assert.deepEqual(windows.decide(0), { action: "rebalance", kind: undefined });
 * windows.rebalanceStarted(0);
 * windows.joined("worker-3", 5_000, { members: 4, away: false });
 * assert.deepEqual(windows.decide(5_999), { action: "wait", untilMs: 6_000, state: "scaling" });
 * assert.deepEqual(windows.decide(6_000), { action: "rebalance", kind: "planned" });
 * ```
 */
export class RebalanceWindows {
  readonly #s: WindowSettings;
  #window: RebalanceWindow | undefined;
  #lastPlannedAt = Number.NEGATIVE_INFINITY;
  #dirty = true;
  #adopted = false;
  #partitionsLoaded = false;
  #reason: RebalanceReason = "adopt";
  #lastPhase: "revoke" | "assign" = "assign";
  /** Workers that joined since the last publication (for restart detection). */
  readonly #joined = new Set<string>();
  /** Workers away for a restart, with the time they were first seen so. */
  readonly #away = new Map<string, number>();

  /** @param settings The window timings and ratios. */
  constructor(settings: WindowSettings) {
    this.#s = settings;
  }

  /** The open window, if any. */
  get window(): RebalanceWindow | undefined {
    return this.#window;
  }

  /** Whether a change awaits a round. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /** What the next round serves; `"manual"` exempts it from `minRebalanceThreshold`. */
  get reason(): RebalanceReason {
    return this.#reason;
  }

  /**
   * The published assignment was adopted. On the term's first adoption with nothing published
   * the whole pool is (re)starting: open a cold-start window for the rest to arrive.
   *
   * @param now Current time.
   * @param options `published`: the number of worker keys found.
   */
  adopt(now: number, options: { readonly published: number }): void {
    const first = !this.#adopted;
    this.#adopted = true;
    this.#dirty = true;
    if (first && options.published === 0) this.#open("coldStart", now);
  }

  /**
   * A worker joined. Members seen before the first adoption are the pool this leader inherits,
   * not arrivals. When the workers that joined since the last publication reach
   * `restartDetectionRatio` of the members (and there is more than one), the pool is restarting,
   * not scaling out: a planned window becomes a fresh cold-start window.
   *
   * @param workerId The worker.
   * @param now Current time.
   * @param options `members`: the member count including this worker; `away`: it reports a stop
   *   for a restart.
   * @returns Whether the loop should wake.
   */
  joined(
    workerId: string,
    now: number,
    options: { readonly members: number; readonly away: boolean },
  ): boolean {
    if (!this.#adopted) return false;
    this.#joined.add(workerId);
    const { members } = options;
    const kind = this.#window?.kind;
    if (
      (kind === undefined || kind === "planned") && members > 1 &&
      this.#joined.size >= this.#s.restartDetectionRatio * members
    ) {
      this.#window = undefined;
      this.#open("coldStart", now);
    } else {
      this.#open("planned", now);
    }
    this.observed(workerId, now, { away: options.away });
    return true;
  }

  /**
   * A worker left: a death opens an emergency window, a graceful leave a planned one.
   *
   * @param workerId The worker.
   * @param now Current time.
   * @param options `reason`: how it left.
   * @returns Whether the loop should wake.
   */
  left(workerId: string, now: number, options: { readonly reason: "graceful" | "dead" }): boolean {
    this.#away.delete(workerId);
    if (!this.#adopted) return false;
    this.#open(options.reason === "dead" ? "emergency" : "planned", now);
    return true;
  }

  /**
   * A member's heartbeat was seen. A worker that stops for a restart (it keeps its ID) opens an
   * emergency window: its partitions stay reserved for `emergencyGraceMs`, so a restart within
   * the grace moves nothing. Coming back ends the reservation.
   *
   * @param workerId The worker.
   * @param now Current time.
   * @param options `away`: it reports a stop for a restart.
   * @returns Whether the loop should wake.
   */
  observed(workerId: string, now: number, options: { readonly away: boolean }): boolean {
    if (options.away) {
      if (this.#away.has(workerId)) return false;
      this.#away.set(workerId, now);
      this.#open("emergency", now);
      return true;
    }
    if (!this.#away.delete(workerId)) return false;
    this.#dirty = true;
    return true;
  }

  /**
   * Whether a worker has been away for a restart for at least `emergencyGraceMs`: from then on
   * its partitions go to others.
   *
   * @param workerId The worker.
   * @param now Current time.
   * @returns `true` when it must be left out of the round.
   */
  isAway(workerId: string, now: number): boolean {
    const since = this.#away.get(workerId);
    return since !== undefined && now - since >= this.#s.emergencyGraceMs;
  }

  /**
   * The partition source was read. The first list needs a round but no window; a later change is
   * planned.
   *
   * @param now Current time.
   * @param options `changed`: the list differs from the last one.
   */
  partitionsListed(now: number, options: { readonly changed: boolean }): void {
    if (!this.#partitionsLoaded) {
      this.#partitionsLoaded = true;
      this.#dirty = true;
    } else if (options.changed) {
      this.#open("planned", now);
    }
  }

  /** The drain list changed: an operator's request, served without extra wait once no window holds. */
  drainChanged(): void {
    this.#dirty = true;
    this.#reason = "manual";
  }

  /** A manual rebalance: clears the window and the minimum interval, due at once. */
  trigger(): void {
    this.#window = undefined;
    this.#lastPlannedAt = Number.NEGATIVE_INFINITY;
    this.#dirty = true;
    this.#reason = "manual";
  }

  /**
   * The measured load has been out of balance long enough (see `LoadModel.due`): a round for it is
   * due once no window holds.
   */
  loadShifted(): void {
    this.#dirty = true;
    this.#reason = "load";
  }

  /** Something the next round must look at changed (an acknowledgement, a lost assignment). */
  markDirty(): void {
    this.#dirty = true;
  }

  /**
   * What is due at `now`. An open window waits until its end; a planned window also waits until
   * `minRebalanceIntervalMs` after the last planned or cold-start rebalance (a cold start and an
   * emergency do not); otherwise a pending change is due once the partition list is known.
   *
   * @param now Current time.
   * @returns The decision; it changes nothing.
   */
  decide(now: number): WindowDecision {
    const w = this.#window;
    if (w !== undefined && now < w.until) {
      return {
        action: "wait",
        untilMs: w.until,
        state: w.kind === "emergency" ? "emergency" : "scaling",
      };
    }
    const spacedUntil = this.#lastPlannedAt + this.#s.minRebalanceIntervalMs;
    if (w?.kind === "planned" && now < spacedUntil) {
      return { action: "wait", untilMs: spacedUntil, state: "scaling" };
    }
    if (this.#dirty && this.#partitionsLoaded) return { action: "rebalance", kind: w?.kind };
    return { action: "idle" };
  }

  /**
   * A round starts at `now` (after {@link decide} said `"rebalance"`): the window closes and a
   * planned or cold-start round starts the minimum interval.
   *
   * @param now Current time.
   * @returns The kind of the window the round serves, if any.
   */
  rebalanceStarted(now: number): WindowKind | undefined {
    const kind = this.#window?.kind;
    this.#window = undefined;
    if (kind === "planned" || kind === "coldStart") this.#lastPlannedAt = now;
    this.#dirty = false;
    return kind;
  }

  /**
   * A round ended with a publication attempt (not when it was skipped). Arrivals are counted from
   * here again; a manual request stays in force while the hand-off it started goes on.
   *
   * @param phase The round's phase: `"revoke"` when partitions wait for their old owners.
   * @param wrote Whether a new version was written.
   * @returns The reason to report: `"handoff"` for the round after a revoke, else the reason of
   *   the change the round serves.
   */
  published(phase: "revoke" | "assign", wrote: boolean): RebalanceReason {
    const reason = this.#lastPhase === "revoke" ? "handoff" : this.#reason;
    this.#joined.clear();
    if (phase === "assign") this.#reason = "planned";
    if (wrote) this.#lastPhase = phase;
    return reason;
  }

  #open(kind: WindowKind, now: number): void {
    const s = this.#s;
    const w = this.#window;
    this.#dirty = true;
    if (kind === "emergency") {
      // Not held back by a planned window; an earlier emergency deadline wins.
      const until = now + s.emergencyGraceMs;
      if (w?.kind !== "emergency" || until < w.until) {
        this.#window = { kind, start: now, until };
      }
      this.#reason = "emergency";
    } else if (w === undefined) {
      const length = kind === "coldStart" ? s.coldStartWindowMs : s.plannedScaleWindowMs;
      this.#window = { kind, start: now, until: now + length };
      this.#reason = kind;
    } else if (w.kind !== "emergency") {
      // Waiting for the rest of a change must not postpone the rebalance forever.
      const length = w.kind === "coldStart" ? s.coldStartWindowMs : s.plannedScaleWindowMs;
      const until = Math.min(
        Math.max(w.until, now + s.plannedScaleWindowMs),
        w.start + 3 * length,
      );
      this.#window = { ...w, until };
    }
  }
}
