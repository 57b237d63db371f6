/**
 * Every period and deadline a manager derives from its configuration, named and in one place, so
 * that "how often does the fence check run" or "when does a leader give up its lease" is answered
 * here and nowhere else. All values are milliseconds.
 *
 * @module
 */

/** The configuration fields the derived periods depend on. */
export interface CadenceConfig {
  /** See `TuningOptions.heartbeatIntervalMs`. */
  readonly heartbeatIntervalMs: number;
  /** See `TuningOptions.heartbeatTtlMs`. */
  readonly heartbeatTtlMs: number;
  /** See `TuningOptions.electionLeaseMs`. */
  readonly electionLeaseMs: number;
  /** See `TuningOptions.workerIdTtlMs`. */
  readonly workerIdTtlMs: number;
}

/**
 * How long a worker may go without a successful heartbeat before it fences itself: one interval
 * before the leader may declare it dead, so it has released everything by then.
 */
export function fenceDeadlineMs(c: CadenceConfig): number {
  return c.heartbeatTtlMs - c.heartbeatIntervalMs;
}

/**
 * How long the heartbeat loop waits between two rounds: `heartbeatIntervalMs`, or half the fence
 * deadline when that is shorter. The age of the last successful round just before the next one
 * succeeds is one round, the wait and another round; with `heartbeatTtlMs` at its minimum of
 * 2 × `heartbeatIntervalMs` the fence deadline equals the interval, so waiting the whole interval
 * would fence the worker on every round that takes any time at all.
 */
export function heartbeatPeriodMs(c: CadenceConfig): number {
  return Math.min(c.heartbeatIntervalMs, fenceDeadlineMs(c) / 2);
}

/**
 * How often the fence deadline is checked, apart from the heartbeat loop: a heartbeat request can
 * hang for up to `operationTimeoutMs`, longer than the deadline itself.
 */
export function fenceCheckIntervalMs(c: CadenceConfig): number {
  return Math.max(10, Math.min(c.heartbeatIntervalMs / 4, 250));
}

/**
 * How long a worker that reclaimed its own live ID (a restart with a stable `instance`) waits
 * before taking work: by then its previous incarnation has surely fenced itself.
 */
export function reclaimEmbargoMs(c: CadenceConfig): number {
  return fenceDeadlineMs(c);
}

/** How often the leader looks for workers whose heartbeat has not been observed for the TTL. */
export function livenessCheckIntervalMs(c: CadenceConfig): number {
  return Math.max(50, Math.min(c.heartbeatIntervalMs / 2, 500));
}

/** How often the leader renews its lease. */
export function leaseRenewIntervalMs(c: Pick<CadenceConfig, "electionLeaseMs">): number {
  return c.electionLeaseMs / 3;
}

/**
 * How long a leader may go without a successful renewal before it stops acting as leader: well
 * before a follower, which waits the whole lease, may take over.
 */
export function leaseRenewDeadlineMs(c: Pick<CadenceConfig, "electionLeaseMs">): number {
  return (c.electionLeaseMs * 2) / 3;
}

/** How often a follower re-checks the lease when no watch event woke it. */
export function followerCheckIntervalMs(c: Pick<CadenceConfig, "electionLeaseMs">): number {
  return Math.min(c.electionLeaseMs / 4, 250);
}

/** How long the controller sleeps when nothing is due (it is woken by every change). */
export function controllerIdleMs(c: CadenceConfig): number {
  return Math.max(50, Math.min(c.heartbeatIntervalMs, 1_000));
}

/** After a failed controller round, how long to wait before re-reading and trying again. */
export function controllerRetryMs(c: CadenceConfig): number {
  return c.heartbeatIntervalMs;
}

/**
 * TTL of the leader bucket. The lease is judged by observed revisions, never by expiry; a long TTL
 * keeps the last epoch around for the next leader and only collects the key of an abandoned group.
 */
export function leaderBucketTtlMs(c: CadenceConfig): number {
  return Math.max(10 * c.electionLeaseMs, c.workerIdTtlMs);
}

/** First and maximum delay of the back-off between retries of a failing coordination step. */
export const RETRY_BACKOFF = Object.freeze({ initialMs: 50, maxMs: 1_000, factor: 2 });

/** The delay before retry number `attempt` (0-based): exponential, capped. */
export function retryDelayMs(attempt: number): number {
  const { initialMs, maxMs, factor } = RETRY_BACKOFF;
  return Math.min(maxMs, initialMs * factor ** Math.min(attempt, 32));
}
