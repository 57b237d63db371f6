/**
 * Opening a session. `sessionContext()` makes a manager's long-lived parts once (hook lane, state,
 * timers, metrics); `openSession()` opens the group's buckets (through a store wrapper that times
 * every operation for the metrics), the assignment engine and a claimed worker ID, each retried
 * while coordination is unavailable, into a {@link Session}; `startSession()` runs that until the
 * first assignment, bounded by `startupTimeoutMs`.
 *
 * @module
 */
import type { ResolvedConfig } from "./config.ts";
import {
  type AssignmentEngine,
  type AssignmentStrategy,
  weightedConsistentHash,
} from "./engine/mod.ts";
import { NotStartedError, OperationTimeoutError } from "./errors.ts";
import { HookQueue } from "./hooks.ts";
import { openEngine } from "./leadership.ts";
import { ManagerMetrics } from "./observability/manager_metrics.ts";
import { errorLabel, instrumentStore } from "./observability/store_metrics.ts";
import { type GroupBuckets, openGroupBuckets } from "./protocol/buckets.ts";
import { retrying } from "./runtime/retry.ts";
import { randomHex } from "./runtime/signal.ts";
import { Timers } from "./runtime/timers.ts";
import { Session } from "./session.ts";
import { StateMachine } from "./state.ts";
import type { CoordinationStore } from "./store/store.ts";
import { acceptAfter } from "./worker/fencing.ts";
import { StableId } from "./worker/stable_id.ts";

/** What a session is made from: the manager's configuration and its long-lived parts. */
export interface SessionContext {
  /** Resolved options. */
  readonly config: ResolvedConfig;
  /** The application's hook lane. */
  readonly hooks: HookQueue;
  /** The manager's state. */
  readonly state: StateMachine;
  /** Timers on the configured clock. */
  readonly timers: Timers;
  /** The strategy. */
  readonly strategy: AssignmentStrategy;
  /** This process's instance name. */
  readonly instance: string;
  /** Random per manager: tells two processes with one instance name apart. */
  readonly nonce: string;
  /** The worker lost its ID to another process: the manager must stop. */
  readonly onFatal: () => void;
  /** Where the worker's series are recorded. */
  readonly metrics: ManagerMetrics;
}

/**
 * The long-lived parts of a manager, made once from its resolved options: the hook lane, the state
 * machine, the timers on its clock, its metrics, its instance name and nonce.
 *
 * @param config Resolved options.
 * @param workerId The claimed worker ID, for log lines about state changes.
 * @param onFatal Stops the manager (the worker ID was lost to another process).
 */
export function sessionContext(
  config: ResolvedConfig,
  workerId: () => string | undefined,
  onFatal: () => void,
): SessionContext {
  const metrics = new ManagerMetrics(config.metrics, config.group);
  const hooks = new HookQueue(config.hooks, config.logger, {
    hookRan: (name, seconds, failed) => metrics.hook(name, seconds, failed),
    errorReported: (code) => metrics.error(code),
    tracer: config.tracer,
  });
  const state = new StateMachine(hooks, config.logger, workerId, (to) => metrics.state(to));
  return {
    config,
    hooks,
    state,
    timers: new Timers(config.clock),
    strategy: config.strategy ?? weightedConsistentHash(),
    instance: config.instance ?? `anon-${randomHex(6)}`,
    nonce: randomHex(8),
    onFatal,
    metrics,
  };
}

/**
 * Opens the buckets, loads the engine and claims a worker ID, retrying while coordination is
 * unavailable (a reconnecting client, a restarting server); other errors, such as an exhausted ID
 * pool, fail at once.
 *
 * @param ctx The manager's parts.
 * @param signal Aborted by `stop()`: the steps end and a claimed ID is released again.
 * @throws {NotStartedError} When aborted.
 */
export async function openSession(ctx: SessionContext, signal: AbortSignal): Promise<Session> {
  const c = ctx.config;
  const stopped = () => new NotStartedError("Manager was stopped while starting");
  const retry = <T>(what: string, step: () => Promise<T>) =>
    retrying(step, {
      timers: ctx.timers,
      signal,
      onAbort: stopped,
      onRetry: (error) => c.logger?.warn(`Could not ${what}; retrying`, { error: error.message }),
    });
  // Loaded on demand: a Manager on a memory store (or a bundle of one) never pulls in nats.js.
  const nats = c.store ? undefined : await import("./store/nats_kv/mod.ts");
  const store = instrumentStore(
    c.store ?? nats!.natsKvStore(c.connection!, { operationTimeoutMs: c.operationTimeoutMs }),
    (op, bucket, seconds, error) =>
      ctx.metrics.storeOperation(
        bucket,
        op,
        seconds,
        error === undefined ? undefined : errorLabel(error),
      ),
    () => ctx.timers.now(),
  );
  const buckets = await retry("open the group's buckets", () => openGroupBuckets(store, c));
  const engine = await openEngine(c, ctx.hooks);
  if (signal.aborted) throw stopped();
  const stableId = new StableId(buckets.ids, {
    prefix: c.workerIdPrefix,
    min: c.workerIdMin,
    max: c.workerIdMax,
    claim: { instance: ctx.instance, nonce: ctx.nonce },
    stableInstance: c.instance !== undefined,
    onError: (e) => void ctx.hooks.error(e),
  });
  const workerId = await retry("claim a worker ID", () => stableId.claim());
  const claimedAt = ctx.timers.now();
  if (signal.aborted) {
    await stableId.release().catch(() => {});
    throw stopped();
  }
  c.logger?.info("Claimed worker ID", { workerId });
  return new Session(ctx, {
    store,
    buckets,
    engine,
    stableId,
    workerId,
    acceptAfter: acceptAfter(stableId.reclaimed, claimedAt, c),
    signal,
  });
}

/** What {@link openSession} opened, handed to the {@link Session}. */
export interface SessionParts {
  readonly store: CoordinationStore;
  readonly buckets: GroupBuckets;
  readonly engine: AssignmentEngine;
  readonly stableId: StableId;
  readonly workerId: string;
  readonly acceptAfter: number;
  /** The root signal: aborted when the manager stops. */
  readonly signal: AbortSignal;
}

/** A session being opened and run until its first assignment. */
export interface StartingSession {
  /** Resolves with the opened session (rejects when opening failed or was stopped). */
  readonly opening: Promise<Session>;
  /** Resolves once the first assignment's hooks resolved, within `startupTimeoutMs`. */
  readonly started: Promise<void>;
}

/**
 * Opens a session and runs it until the worker holds its first assignment.
 *
 * @param ctx The manager's parts.
 * @param signal Aborted by `stop()`.
 * @param onOpened Told the session as soon as it is open (before its first assignment).
 * @returns The two steps; `started` rejects with an {@link OperationTimeoutError} after
 *   `startupTimeoutMs` (the steps still unwind once the signal is aborted).
 */
export function startSession(
  ctx: SessionContext,
  signal: AbortSignal,
  onOpened: (session: Session) => void,
): StartingSession {
  const opening = openSession(ctx, signal);
  const startup = opening.then((session) => {
    onOpened(session);
    return session.run();
  });
  // After a timeout the startup steps still unwind (stop() aborts them); nobody awaits that.
  startup.catch(() => {});
  const timeout = ctx.config.startupTimeoutMs;
  const started = ctx.timers.deadline(startup, timeout, {
    onTimeout: () =>
      new OperationTimeoutError(
        `Manager did not receive an assignment within startupTimeoutMs (${timeout} ms); ` +
          `is a leader running and is the store reachable?`,
      ),
  });
  return { opening, started };
}
