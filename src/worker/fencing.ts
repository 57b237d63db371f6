/**
 * How a worker fences itself: pure decisions, time passed in. A worker that has not renewed its
 * heartbeat for {@link fenceDeadlineMs} by its own clock must stop working on its partitions
 * before the leader may declare it dead (at `heartbeatTtlMs`) and hand them to someone else; with
 * `onCoordinationLoss: "keep"` it keeps them and shows `degraded` instead. A worker that reclaimed
 * its own live ID (a restart with a stable instance name) takes no work until its previous
 * incarnation has surely fenced itself: the reclaim embargo.
 *
 * @module
 */
import { fenceDeadlineMs, reclaimEmbargoMs } from "../runtime/cadence.ts";

/** The configuration the fence depends on. */
export interface FenceConfig {
  /** See `TuningOptions.heartbeatIntervalMs`. */
  readonly heartbeatIntervalMs: number;
  /** See `TuningOptions.heartbeatTtlMs`. */
  readonly heartbeatTtlMs: number;
  /** See `TuningOptions.electionLeaseMs` (unused here; part of the cadence inputs). */
  readonly electionLeaseMs: number;
  /** See `TuningOptions.workerIdTtlMs` (unused here; part of the cadence inputs). */
  readonly workerIdTtlMs: number;
  /** See `TuningOptions.onCoordinationLoss`. */
  readonly onCoordinationLoss: "fence" | "keep";
}

/**
 * What the fence says: `"hold"` (renewed recently enough, or never tried), `"fence"` (release
 * everything now) or `"keep"` (past the deadline, but configured to keep serving).
 */
export type FenceDecision = "hold" | "fence" | "keep";

/**
 * Decides whether a worker may keep its partitions.
 *
 * @param lastRenewedAt When the last successful heartbeat was *sent* (its request started), by the
 *   worker's own clock; `-Infinity` before the first one.
 * @param now The worker's clock now.
 * @param config Heartbeat timing and `onCoordinationLoss`.
 * @returns `"hold"` while `now − lastRenewedAt ≤ heartbeatTtlMs − heartbeatIntervalMs`.
 *
 * @example The deadline is inclusive
 * ```ts ignore
 * const c = { heartbeatIntervalMs: 100, heartbeatTtlMs: 300, onCoordinationLoss: "fence" };
 * decide(0, 200, c); // "hold"
 * decide(0, 201, c); // "fence"
 * ```
 */
export function decide(lastRenewedAt: number, now: number, config: FenceConfig): FenceDecision {
  if (lastRenewedAt === Number.NEGATIVE_INFINITY) return "hold";
  if (now - lastRenewedAt <= fenceDeadlineMs(config)) return "hold";
  return config.onCoordinationLoss === "fence" ? "fence" : "keep";
}

/**
 * The time before which a worker must not take partitions.
 *
 * @param reclaimed Whether the ID claim took over a live key of the same instance name.
 * @param claimedAt When the claim succeeded, by the worker's clock.
 * @param config Heartbeat timing.
 * @returns `claimedAt + reclaimEmbargoMs(config)` for a reclaim, else `-Infinity`.
 */
export function acceptAfter(reclaimed: boolean, claimedAt: number, config: FenceConfig): number {
  return reclaimed ? claimedAt + reclaimEmbargoMs(config) : Number.NEGATIVE_INFINITY;
}
