/**
 * One started run of a manager: with the buckets, engine and worker ID `session_open.ts` opened,
 * it composes the worker side (heartbeat and fence, assignment watch and applier, election, degraded monitor)
 * with a leader term while this worker leads. It is the only place where `worker/` and `leader/`
 * meet. Shutdown is ordered: stop taking assignments, release everything through the hooks (while
 * still heartbeating, so nobody is told "start" before this worker has stopped), end the leader
 * term and resign the lease, then delete the heartbeat and release the ID.
 *
 * @module
 */
import { GroupControl } from "./control.ts";
import {
  BucketNotFoundError,
  CoordinationUnavailableError,
  MalformedDataError,
  NotStartedError,
  PermissionDeniedError,
  type RevisionConflictError,
  RevokeTimeoutError,
} from "./errors.ts";
import { assignmentHooks } from "./hooks.ts";
import { Leadership } from "./leadership.ts";
import { openGroupBuckets } from "./protocol/buckets.ts";
import { readPublishedEpoch } from "./protocol/group_view.ts";
import { digestIds, encode, type HeartbeatRecord } from "./protocol/records.ts";
import { retrying } from "./runtime/retry.ts";
import { abortable } from "./runtime/signal.ts";
import type { SessionContext, SessionParts } from "./session_open.ts";
import { workingState } from "./state.ts";
import { type Assignment, type FencingToken, State } from "./types.ts";
import { Applier } from "./worker/applier.ts";
import { AssignmentWatch } from "./worker/assignment_watch.ts";
import { DegradedMonitor } from "./worker/degraded.ts";
import { LeaderElection } from "./worker/election.ts";
import type { FenceDecision } from "./worker/fencing.ts";
import { Heartbeat } from "./worker/heartbeat.ts";
import { LoadReport } from "./worker/load_report.ts";

/** A started run of one worker. Created by `openSession` (`session_open.ts`). */
export class Session {
  readonly #ctx: SessionContext;
  readonly #p: SessionParts;
  readonly #applier: Applier;
  readonly #heartbeat: Heartbeat;
  readonly #watch: AssignmentWatch;
  readonly #election: LeaderElection;
  readonly #health: DegradedMonitor;
  readonly #leadership: Leadership;
  /** The control calls (`Manager.refreshPartitions()`, `drainWorker()`, `getTopology()`, …). */
  readonly control: GroupControl;
  /** `onCoordinationLoss: "keep"`: the fence deadline passed and the worker kept serving. */
  #pastDeadline = false;
  /**
   * Left the group (a stuck revoke): no heartbeat, no lease, nothing owned; on stop the heartbeat
   * and the ID are left to expire, so the leader moves the partitions only after TTL + grace.
   */
  #left = false;
  #recreating: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  /** The last acknowledged IDs digested, and their digest. */
  #digested: { readonly ids: readonly string[]; readonly digest: string } | undefined;
  /** Measured load per owned partition (load-aware rebalancing on), else null. */
  readonly #load: LoadReport | null;

  /** @internal Use `openSession`. */
  constructor(ctx: SessionContext, parts: SessionParts) {
    this.#ctx = ctx;
    const loadAware = ctx.config.placement.loadAware;
    this.#load = loadAware ? new LoadReport(loadAware.digestSize) : null;
    this.#p = parts;
    const c = ctx.config;
    const report = (e: Error) => this.#report(e);
    ctx.metrics.bind(parts.workerId);
    const tell = assignmentHooks(ctx.hooks);
    this.#applier = new Applier({
      tell: (applied) => {
        ctx.metrics.assignment(applied.change.assignment);
        return tell(applied);
      },
      timers: ctx.timers,
      signal: parts.signal,
      acceptAfter: parts.acceptAfter,
      onAcknowledged: () => {
        this.#refreshState();
        this.#heartbeat.wake();
      },
      revokeTimeoutMs: c.revokeTimeoutMs,
      onRevokeTimeout: (ids) => this.#revokeTimedOut(ids),
    });
    this.#health = new DegradedMonitor({
      settings: c.degraded,
      clock: ctx.timers,
      onEnter: () => {
        c.logger?.warn("Coordination degraded", { workerId: parts.workerId });
        ctx.metrics.degraded(true);
        this.#refreshState();
      },
      onExit: (durationMs) => {
        c.logger?.info("Coordination recovered", { workerId: parts.workerId, durationMs });
        ctx.metrics.degraded(false, durationMs);
        // A leader that was cut off saw no heartbeats either: give everyone a fresh start.
        this.#leadership.refreshAll(c.degraded.recoveryGraceMs);
        this.#refreshState();
      },
      onAlert: (level, durationMs) => {
        ctx.metrics.alert(level);
        void ctx.hooks.call("onDegradedAlert", { level, durationMs });
      },
    });
    this.#heartbeat = new Heartbeat({
      bucket: parts.buckets.heartbeats,
      stableId: parts.stableId,
      workerId: parts.workerId,
      config: c,
      timers: ctx.timers,
      record: () => this.#record(),
      onFenceCheck: (decision) => this.#onFenceCheck(decision),
      onSuccess: () => {
        this.#health.success();
        this.#pastDeadline = false;
        this.#refreshState();
      },
      onFailure: (error, first) => {
        ctx.metrics.heartbeatFailure();
        // One report per streak of failures; the state (degraded) tells the rest.
        if (first) this.#report(error);
        else this.#health.failure();
      },
      onRecovered: async () => {
        c.logger?.info("Heartbeat recovered", { workerId: parts.workerId });
        // The watch may have missed the outage's changes; its watchdog would recreate it, but
        // only after its interval.
        await this.#watch.poll().catch(report);
      },
      onLostId: (error) => void this.#lostId(error),
    });
    this.#watch = new AssignmentWatch(parts.buckets.assignments, parts.workerId, {
      current: () => this.#applier.accepted,
      onAssignment: (a) => this.#applier.apply(a),
      onError: report,
    });
    this.#leadership = new Leadership({
      config: c,
      buckets: parts.buckets,
      engine: parts.engine,
      strategy: ctx.strategy,
      timers: ctx.timers,
      hooks: ctx.hooks,
      isLeader: () => this.#election.isLeader,
      onChange: () => this.#refreshState(),
      onError: report,
      metrics: ctx.metrics,
    });
    this.control = new GroupControl({
      buckets: parts.buckets,
      workerId: parts.workerId,
      leading: () => (this.isLeader ? this.#leadership.controller : undefined),
      onError: report,
    });
    this.#election = new LeaderElection(parts.buckets.leader, {
      workerId: parts.workerId,
      instance: ctx.instance,
      nonce: ctx.nonce,
      leaseMs: c.electionLeaseMs,
      timers: ctx.timers,
      // The highest epoch recorded outside the lease: the held assignment, the last publication.
      // A summary that cannot be read now fails the campaign (reported once per streak by the
      // election): guessing 0 could number a term below the published one, and reporting each
      // attempt floods onError during an outage. A malformed one is reported and counts as 0.
      minEpoch: async () =>
        Math.max(
          this.#applier.accepted.epoch,
          await readPublishedEpoch(parts.buckets, (error) => {
            if (!(error instanceof MalformedDataError)) throw error;
            report(error);
          }),
        ),
      onChange: (isLeader, epoch) => this.#leadership.change(isLeader, epoch),
      onError: report,
      // Replicated buckets: a clustered nats-server may accept two compare-and-sets expecting the
      // same revision (nats-server#4320), so a won lease is confirmed before it is acted on.
      confirmWins: c.kv.replicas > 1,
    });
  }

  /** This worker's ID. */
  get workerId(): string {
    return this.#p.workerId;
  }

  /** Milliseconds since the last heartbeat the store confirmed, or undefined before the first. */
  get heartbeatAgeMs(): number | undefined {
    const at = this.#heartbeat.lastRenewedAt;
    return at === Number.NEGATIVE_INFINITY ? undefined : this.#ctx.timers.now() - at;
  }

  /** Whether this worker holds a valid lease. */
  get isLeader(): boolean {
    return this.#election.isLeader;
  }

  /** The assignment the application was last told about. */
  get assignment(): Assignment {
    this.checkFence();
    return this.#applier.assignment;
  }

  /** The fencing token of an owned partition. */
  fencingToken(id: string): FencingToken | undefined {
    this.checkFence();
    return this.#applier.fencingToken(id);
  }

  /**
   * Applies the fence now if its deadline has passed: read paths call it, so that after a stall
   * (GC, SIGSTOP, a frozen VM) nothing reads as owned for even one fence-timer tick.
   */
  checkFence(): void {
    // On every read (a consumer asks per message): only the deadline, not the health monitor.
    if (!this.#left && !this.#stopping) this.#applyFence(this.#heartbeat.check());
  }

  /**
   * Sends the first heartbeat, starts the loops and resolves once the first assignment's hooks
   * have resolved.
   *
   * @throws {NotStartedError} When the manager stops first.
   */
  async run(): Promise<void> {
    const { timers, config: c } = this.#ctx;
    const signal = this.#p.signal;
    const stopped = () => new NotStartedError("Manager was stopped while starting");
    await retrying(() => this.#heartbeat.beat(), {
      timers,
      signal,
      onAbort: stopped,
      onRetry: (error) =>
        c.logger?.warn("Could not send the first heartbeat; retrying", { error: error.message }),
    });
    this.#heartbeat.start();
    this.#watch.start();
    this.#ctx.state.set(State.Election);
    this.#election.start();
    if (!this.#applier.hasFirstAssignment) this.#ctx.state.set(State.WaitingAssignment);
    await abortable(this.#applier.firstApplied, signal, stopped);
  }

  #record(): HeartbeatRecord {
    const ack = this.#applier.acknowledged;
    return {
      instance: this.#ctx.instance,
      nonce: this.#ctx.nonce,
      state: this.#ctx.state.current,
      appliedVersion: ack.version,
      owned: ack.ids.length,
      ownedDigest: this.#digest(ack.ids),
      incarnation: this.#applier.incarnation,
      ...this.#placementFields(ack.ids),
    };
  }

  /** The digest of the acknowledged IDs, computed once per acknowledgement, not per heartbeat. */
  #digest(ids: readonly string[]): string {
    if (this.#digested?.ids !== ids) this.#digested = { ids, digest: digestIds(ids) };
    return this.#digested.digest;
  }

  /** Capacity and labels when set, and the load digest when there are reports. */
  #placementFields(owned: readonly string[]): Partial<HeartbeatRecord> {
    const { capacity, labels } = this.#ctx.config.placement;
    const load = this.#load?.digest(owned);
    return {
      ...(capacity !== 1 ? { capacity } : {}),
      ...(Object.keys(labels).length > 0 ? { labels } : {}),
      ...(load !== undefined ? { load } : {}),
    };
  }

  /**
   * Records the measured load of an owned partition for load-aware rebalancing (carried by the
   * next heartbeat). Ignored when `loadAware` is off.
   */
  reportLoad(id: string, value: number): void {
    this.#load?.report(id, value);
  }

  #refreshState(): void {
    if (this.#stopping) return;
    this.#ctx.state.set(workingState({
      degraded: this.#left || this.#applier.fenced || this.#pastDeadline || this.#health.degraded,
      hasFirstAssignment: this.#applier.hasFirstAssignment,
      leader: this.#leadership.state,
    }));
  }

  #onFenceCheck(decision: FenceDecision): void {
    this.#health.tick();
    this.#applyFence(decision);
  }

  #applyFence(decision: FenceDecision): void {
    if (decision === "fence" && !this.#applier.fenced) {
      this.#ctx.config.logger?.warn("Self-fencing: heartbeat could not be renewed", {
        workerId: this.workerId,
      });
      // At once, not behind the application's hooks: from here on nothing is owned.
      void this.#applier.releaseAll("fenced");
      this.#refreshState();
    } else if (decision === "keep" && !this.#pastDeadline) {
      // Availability over exclusivity: keep serving the last assignment, visibly degraded.
      this.#pastDeadline = true;
      this.#refreshState();
    }
  }

  /** The application's hooks are stuck on a revoke (see `revokeTimeoutMs`). */
  #revokeTimedOut(ids: readonly string[]): void {
    const c = this.#ctx.config;
    const leave = c.onRevokeTimeout === "leave";
    const error = RevokeTimeoutError.stuck(ids, c.revokeTimeoutMs, leave);
    // At once to the logger: onError runs in the hook lane, which the stuck hook is blocking.
    c.logger?.error(error.message, { code: error.code, workerId: this.workerId });
    void this.#ctx.hooks.error(error);
    if (leave) void this.#leave();
  }

  /** Leaves the group without a trace an early successor could act on (see `#left`). */
  async #leave(): Promise<void> {
    if (this.#left || this.#stopping) return;
    this.#left = true;
    this.#refreshState();
    this.#watch.stop();
    void this.#applier.releaseAll("left");
    await this.#heartbeat.stop();
    await this.#leadership.close();
    await this.#election.stop();
  }

  /** Another process holds our ID now: release everything at once and stop. */
  async #lostId(cause: RevisionConflictError): Promise<void> {
    void this.#ctx.hooks.error(
      new CoordinationUnavailableError(
        `Worker ID '${this.workerId}' was taken over by another process; releasing all ` +
          `partitions and stopping`,
        { cause },
      ),
    );
    this.#ctx.config.logger?.error("Worker ID lost to another process", {
      workerId: this.workerId,
    });
    await this.#applier.releaseAll("idLost");
    this.#ctx.onFatal();
  }

  #report(error: Error): void {
    // A refused permission leaves the worker as unable to coordinate as an unreachable server.
    if (error instanceof CoordinationUnavailableError || error instanceof PermissionDeniedError) {
      this.#health.failure();
    }
    if (error instanceof BucketNotFoundError) this.#recreateBuckets();
    void this.#ctx.hooks.error(error);
  }

  /**
   * A bucket disappeared (deleted by an operator or lost with a server's store): recreate it.
   * Watches resume by themselves once it exists again; every record is rewritten by its owner on
   * its next round (ID renewal re-creates the claim, heartbeats are puts, the leader re-adopts).
   */
  #recreateBuckets(): void {
    if (this.#recreating || this.#p.signal.aborted) return;
    const c = this.#ctx.config;
    this.#recreating = openGroupBuckets(this.#p.store, c)
      .then(() => {
        c.logger?.warn("Recreated missing buckets", { group: c.group });
        this.#leadership.bucketsRecreated();
      })
      .catch((error) => void this.#ctx.hooks.error(error))
      .finally(() => (this.#recreating = null));
  }

  /** Stops the run in order (see the module doc), bounded by `shutdownTimeoutMs`. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    const { config: c, timers, hooks, state } = this.#ctx;
    const report = (e: unknown) => void hooks.error(e);
    // Cancelled at the end, so a finished stop() leaves no timer keeping the process alive.
    const budgetTimer = new AbortController();
    const budget = timers.sleep(c.shutdownTimeoutMs, budgetTimer.signal);
    this.#watch.stop();
    // Hooks in flight finish first (bounded), then everything owned is revoked through them,
    // while the heartbeat keeps saying this worker may still hold it.
    const released = await Promise.race([
      this.#applier.releaseAll("shutdown").then(() => true),
      budget.then(() => false),
    ]);
    if (!released && !this.#left) {
      // A hook is stuck: deleting the heartbeat would let the leader move its partitions at once.
      c.logger?.error("Hooks did not finish within shutdownTimeoutMs; leaving the group", {
        workerId: this.workerId,
      });
      this.#left = true;
    }
    await this.#heartbeat.stop();
    const cleanup = async () => {
      await this.#leadership.close();
      await this.#election.stop();
      const { heartbeats } = this.#p.buckets;
      if (this.#left) {
        // Left with a hook still running: the heartbeat and the ID expire by themselves.
      } else if (c.instance !== undefined) {
        // Static membership: a process with a stable instance name is expected back (a rolling
        // restart). It keeps its ID and leaves a heartbeat saying it holds nothing; the leader
        // keeps its partitions reserved for emergencyGraceMs so a quick restart moves nothing.
        const record = { ...this.#record(), state: State.Shutdown };
        await heartbeats.put(this.workerId, encode(record)).catch(report);
      } else {
        await heartbeats.delete(this.workerId).catch(report);
        await this.#p.stableId.release().catch(report);
      }
    };
    await Promise.race([cleanup().catch(report), budget]);
    state.set(State.Shutdown);
    await Promise.race([hooks.idle(), budget]);
    this.#applier.close();
    budgetTimer.abort();
  }
}
