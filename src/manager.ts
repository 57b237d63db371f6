/**
 * The Manager: one worker's membership in a group. It claims a stable ID, heartbeats, takes part
 * in the leader election, runs the assignment controller while it leads, applies the assignments
 * published for it, and tells the application through hooks which partitions it gained and lost.
 *
 * @module
 */
import { type ManagerOptions, resolveConfig, type ResolvedConfig } from "./config.ts";
import type { ControllerState } from "./leader/controller.ts";
import { LeaderTerm } from "./leader/term.ts";
import { readAssignments, readTopology, type Topology } from "./protocol/group_view.ts";
import { sendRequest, setDrained } from "./protocol/requests.ts";
import { Timers } from "./runtime/timers.ts";
import {
  type AssignmentEngine,
  type AssignmentStrategy,
  createAssignmentEngine,
  weightedConsistentHash,
} from "./engine/mod.ts";
import {
  AlreadyStartedError,
  BucketNotFoundError,
  CoordinationUnavailableError,
  NotStartedError,
  PartiError,
  RevisionConflictError,
} from "./errors.ts";
import { type Partition, partitionId } from "./partition.ts";
import { bucketNames, META_KEY } from "./protocol/keys.ts";
import {
  compareVersions,
  decodeMeta,
  digestIds,
  encode,
  type HeartbeatRecord,
} from "./protocol/records.ts";
import { natsKvStore } from "./store/nats_kv.ts";
import type { Bucket, CoordinationStore } from "./store/store.ts";
import { type Assignment, type FencingToken, type Hooks, State } from "./types.ts";
import { AssignmentWatch, type ReceivedAssignment } from "./worker/assignment_watch.ts";
import { LeaderElection } from "./worker/election.ts";
import { StableId } from "./worker/stable_id.ts";
import { DegradedMonitor } from "./worker/degraded.ts";
import { randomHex, Signal } from "./runtime/signal.ts";

/** Options of {@link Manager.start}. */
export interface StartOptions {
  /** Aborting it cancels a pending start, and later stops the manager. */
  readonly signal?: AbortSignal;
}

interface Buckets {
  readonly ids: Bucket;
  readonly heartbeats: Bucket;
  readonly leader: Bucket;
  readonly assignments: Bucket;
}

const EMPTY: Assignment = Object.freeze({ epoch: 0, version: 0, partitions: Object.freeze([]) });

/**
 * One worker of a group. Create one per process, `start()` it, and let its hooks tell you which
 * partitions to work on.
 *
 * @example Run a worker
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { Manager, recommendedConnectionOptions } from "@parti/core";
 *
 * const nc = await connect({ servers: "127.0.0.1:4222", ...recommendedConnectionOptions });
 * await using manager = new Manager({
 *   connection: nc,
 *   group: "orders",
 *   source: [{ keys: ["orders", "0"] }, { keys: ["orders", "1"], weight: 2 }],
 *   hooks: {
 *     async onAssignmentChanged({ added, removed }) {
 *       for (const p of removed) await stopConsuming(p);
 *       for (const p of added) startConsuming(p);
 *     },
 *   },
 * });
 * await manager.start();
 * ```
 */
export class Manager implements AsyncDisposable {
  readonly #config: ResolvedConfig;
  readonly #hooks: Hooks;
  readonly #instance: string;
  readonly #nonce = randomHex(8);
  readonly #abort = new AbortController();
  #store: CoordinationStore | undefined;
  #buckets: Buckets | undefined;
  #engine: AssignmentEngine | undefined;
  #strategy: AssignmentStrategy;
  #state: State = State.Init;
  #started = false;
  #stopping: Promise<void> | undefined;
  #hookChain: Promise<void> = Promise.resolve();
  #stableId: StableId | undefined;
  #election: LeaderElection | undefined;
  #watch: AssignmentWatch | undefined;
  #term: LeaderTerm | undefined;
  /** Fencing token of each owned partition: the publication that gave it to this worker. */
  readonly #tokens = new Map<string, FencingToken>();
  #heartbeatLoop: Promise<void> | undefined;
  #heartbeatWake = new Signal();
  #assignment: Assignment = EMPTY;
  /** Highest (epoch, version) accepted: a fenced worker only takes a newer one. */
  #accepted = { epoch: 0, version: 0 };
  /**
   * What the heartbeat reports: the version whose hooks have resolved and the partitions held
   * then. The leader treats it as the worker's acknowledgement, so it only moves after the hooks.
   */
  #applied = { epoch: 0, version: 0, ids: [] as string[] };
  #lastHeartbeatOk = Number.NEGATIVE_INFINITY;
  #fenced = false;
  #leaderState: ControllerState = "stable";
  #firstAssignment = new Signal();
  #hasFirstAssignment = false;
  #recreating: Promise<void> | undefined;
  /** A reclaimed ID takes no work before its previous incarnation has surely fenced itself. */
  #acceptAfter = Number.NEGATIVE_INFINITY;
  /** `onCoordinationLoss: "keep"`: the heartbeat deadline passed and the worker kept serving. */
  #pastDeadline = false;
  readonly #health: DegradedMonitor;
  readonly #timers: Timers;

  /**
   * Validates every option before any I/O.
   *
   * @param options Connection or store, group, partitions and tuning.
   * @throws {InvalidConfigError} Naming the first invalid option.
   */
  constructor(options: ManagerOptions) {
    this.#config = resolveConfig(options);
    this.#hooks = this.#config.hooks;
    this.#timers = new Timers(this.#config.clock);
    this.#instance = this.#config.instance ?? `anon-${randomHex(6)}`;
    this.#strategy = this.#config.strategy ?? weightedConsistentHash();
    this.#health = new DegradedMonitor({
      settings: this.#config.degraded,
      clock: this.#config.clock,
      onEnter: () => {
        this.#config.logger?.warn("Coordination degraded", { workerId: this.workerId });
        this.#setState(this.#workingState());
      },
      onExit: (durationMs) => {
        this.#config.logger?.info("Coordination recovered", {
          workerId: this.workerId,
          durationMs,
        });
        // A leader that was cut off saw no heartbeats either: give everyone a fresh start.
        this.#term?.refreshAll(this.#config.degraded.recoveryGraceMs);
        this.#setState(this.#workingState());
      },
      onAlert: (level, durationMs) =>
        void this.#enqueue(() =>
          this.#callHook(this.#hooks.onDegradedAlert, { level, durationMs })
        ),
    });
  }

  /** This worker's stable ID once claimed (e.g. `"worker-3"`), else `undefined`. */
  get workerId(): string | undefined {
    return this.#stableId?.workerId;
  }

  /** Whether this worker is the leader right now. */
  get isLeader(): boolean {
    return this.#election?.isLeader ?? false;
  }

  /** The current state (see {@link State}). */
  get state(): State {
    return this.#state;
  }

  /** The assignment this worker holds: `{ epoch, version, partitions }`. */
  get assignment(): Assignment {
    return this.#assignment;
  }

  /**
   * Starts the worker and resolves once it holds its first assignment.
   *
   * @param options Optional abort signal.
   * @throws {AlreadyStartedError} If this manager was started before (or is starting).
   * @throws {PartiError} With code `TIMEOUT` when no assignment arrived within `startupTimeoutMs`.
   */
  async start(options: StartOptions = {}): Promise<void> {
    if (this.#started) throw new AlreadyStartedError();
    this.#started = true;
    const { signal } = options;
    if (signal?.aborted) {
      await this.stop();
      throw new PartiError("NOT_STARTED", "start() was aborted before it began", {
        cause: signal.reason,
      });
    }
    const onAbort = () => void this.stop();
    signal?.addEventListener("abort", onAbort, { once: true });
    const timeout = this.#config.startupTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PartiError(
              "TIMEOUT",
              `Manager did not receive an assignment within startupTimeoutMs (${timeout} ms); ` +
                `is a leader running and is the store reachable?`,
            ),
          ),
        timeout,
      );
    });
    const startup = this.#startup();
    // After a timeout the startup steps still unwind (stop() aborts them); nobody awaits that.
    startup.catch(() => {});
    try {
      await Promise.race([startup, deadline]);
    } catch (error) {
      await this.stop();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    if (this.#abort.signal.aborted) {
      throw new PartiError("NOT_STARTED", "Manager was stopped while starting");
    }
  }

  async #startup(): Promise<void> {
    const c = this.#config;
    this.#setState(State.ClaimingId);
    this.#store = c.store ??
      natsKvStore(c.connection!, { operationTimeoutMs: c.operationTimeoutMs });
    this.#buckets = await this.#retrying("open the group's buckets", () => this.#openBuckets());
    const { ids, leader, assignments } = this.#buckets;
    this.#engine = await createAssignmentEngine();
    this.#throwIfStopping();

    this.#stableId = new StableId(ids, {
      prefix: c.workerIdPrefix,
      min: c.workerIdMin,
      max: c.workerIdMax,
      claim: { instance: this.#instance, nonce: this.#nonce },
      stableInstance: c.instance !== undefined,
      onError: (e) => this.#reportError(e),
    });
    const stableId = this.#stableId;
    const workerId = await this.#retrying("claim a worker ID", () => stableId.claim());
    this.#throwIfStopping();
    if (this.#stableId.reclaimed) {
      this.#acceptAfter = c.clock.now() + c.heartbeatTtlMs - c.heartbeatIntervalMs;
    }
    c.logger?.info("Claimed worker ID", { workerId });

    await this.#retrying("send the first heartbeat", () => this.#beat());
    this.#heartbeatLoop = this.#runHeartbeats();

    this.#watch = new AssignmentWatch(assignments, workerId, {
      current: () => this.#accepted,
      onAssignment: (a) => this.#enqueueApply(a),
      onError: (e) => this.#reportError(e),
    });
    this.#watch.start();

    this.#setState(State.Election);
    this.#election = new LeaderElection(leader, {
      workerId,
      instance: this.#instance,
      nonce: this.#nonce,
      leaseMs: c.electionLeaseMs,
      timers: this.#timers,
      minEpoch: () => this.#durableEpoch(),
      onChange: (isLeader, epoch) => this.#onLeadership(isLeader, epoch),
      onError: (e) => this.#reportError(e),
    });
    this.#election.start();
    if (!this.#hasFirstAssignment) this.#setState(State.WaitingAssignment);
    while (!this.#hasFirstAssignment) {
      this.#throwIfStopping();
      await this.#timers.waitFor(this.#firstAssignment, 1_000, this.#abort.signal);
    }
    this.#throwIfStopping();
  }

  /**
   * Runs a startup step, retrying while coordination is unavailable (a reconnecting client, a
   * server restarting); other errors, such as an exhausted ID pool, fail the start at once. The
   * overall bound is `startupTimeoutMs`.
   */
  async #retrying<T>(what: string, step: () => Promise<T>): Promise<T> {
    for (let delay = 50;; delay = Math.min(delay * 2, 1_000)) {
      this.#throwIfStopping();
      try {
        return await step();
      } catch (error) {
        if (!(error instanceof CoordinationUnavailableError)) throw error;
        if (error instanceof BucketNotFoundError && this.#buckets) this.#recreateBuckets();
        this.#config.logger?.warn(`Could not ${what}; retrying`, { error: error.message });
        await this.#timers.sleep(delay, this.#abort.signal);
      }
    }
  }

  /** Opens (creating when absent) the group's four buckets. */
  async #openBuckets(): Promise<Buckets> {
    const c = this.#config;
    const names = bucketNames(c.group);
    const common = { replicas: c.kv.replicas, storage: c.kv.storage, history: 1 } as const;
    const store = this.#store!;
    const [ids, heartbeats, leader, assignments] = await Promise.all([
      store.bucket(names.ids, { ...common, ttlMs: c.workerIdTtlMs }),
      store.bucket(names.heartbeats, { ...common, ttlMs: c.heartbeatTtlMs }),
      // The lease is judged by observed revisions, never by expiry; a long TTL keeps the last
      // epoch around for the next leader and only collects the key of an abandoned group.
      store.bucket(names.leader, {
        ...common,
        ttlMs: Math.max(10 * c.electionLeaseMs, c.workerIdTtlMs),
      }),
      store.bucket(names.assignments, { ...common, ttlMs: 0 }),
    ]);
    return { ids, heartbeats, leader, assignments };
  }

  /**
   * A bucket disappeared (deleted by an operator or lost with a server's store): recreate it.
   * Watches resume by themselves once it exists again; every record is rewritten by its owner on
   * its next round (ID renewal re-creates the claim, heartbeats are puts, the leader re-adopts).
   */
  #recreateBuckets(): void {
    if (this.#recreating || this.#abort.signal.aborted) return;
    this.#recreating = this.#openBuckets()
      .then(() =>
        this.#config.logger?.warn("Recreated missing buckets", { group: this.#config.group })
      )
      .catch((error) => this.#reportError(error as Error))
      .finally(() => (this.#recreating = undefined));
  }

  /** The highest epoch recorded outside the lease: the held assignment and the last publication. */
  async #durableEpoch(): Promise<number> {
    let epoch = this.#accepted.epoch;
    try {
      const meta = await this.#buckets?.assignments.get(META_KEY);
      if (meta) {
        epoch = Math.max(
          epoch,
          decodeMeta(this.#buckets!.assignments.name, META_KEY, meta.value).epoch,
        );
      }
    } catch (error) {
      this.#reportError(error as Error);
    }
    return epoch;
  }

  #throwIfStopping(): void {
    if (this.#abort.signal.aborted) {
      throw new PartiError("NOT_STARTED", "Manager was stopped while starting");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Hooks: one at a time, in order, each awaited; a throwing hook goes to onError.

  #enqueue(task: () => void | Promise<void>): Promise<void> {
    const run = this.#hookChain.then(task).catch((error) => this.#callOnError(error));
    this.#hookChain = run;
    return run;
  }

  async #callHook<A extends unknown[]>(
    hook: ((...args: A) => void | Promise<void>) | undefined,
    ...args: A
  ): Promise<void> {
    if (!hook) return;
    try {
      await hook.apply(this.#hooks, args);
    } catch (error) {
      await this.#callOnError(error);
    }
  }

  async #callOnError(error: unknown): Promise<void> {
    const err = error instanceof Error ? error : new Error(String(error));
    this.#config.logger?.warn(err.message, { code: (err as PartiError).code });
    try {
      await this.#hooks.onError?.(err);
    } catch {
      // An error hook that throws has nowhere left to report to.
    }
  }

  #reportError(error: Error): void {
    if (error instanceof CoordinationUnavailableError) this.#health.failure();
    if (error instanceof BucketNotFoundError) this.#recreateBuckets();
    void this.#enqueue(() => this.#callOnError(error));
  }

  #setState(to: State): void {
    const from = this.#state;
    if (from === to || from === State.Shutdown) return;
    this.#state = to;
    this.#config.logger?.debug("State changed", { from, to, workerId: this.workerId });
    void this.#enqueue(() => this.#callHook(this.#hooks.onStateChanged, from, to));
  }

  /** The state a working worker shows: its leader-side state when it leads. */
  #workingState(): State {
    if (this.#fenced || this.#pastDeadline || this.#health.degraded) return State.Degraded;
    if (!this.#hasFirstAssignment) return State.WaitingAssignment;
    if (this.#term) {
      switch (this.#leaderState) {
        case "scaling":
          return State.Scaling;
        case "rebalancing":
          return State.Rebalancing;
        case "emergency":
          return State.Emergency;
      }
    }
    return State.Stable;
  }

  // ---------------------------------------------------------------------------------------------
  // Applying assignments.

  #enqueueApply(received: ReceivedAssignment): void {
    void this.#enqueue(() => this.#apply(received));
  }

  async #apply(received: ReceivedAssignment): Promise<void> {
    const wait = this.#acceptAfter - this.#config.clock.now();
    if (wait > 0) await this.#timers.sleep(wait, this.#abort.signal);
    if (this.#stopping !== undefined) return;
    if (compareVersions(received, this.#accepted) <= 0) return;
    this.#accepted = { epoch: received.epoch, version: received.version };
    const before = new Map(this.#assignment.partitions.map((p) => [partitionId(p), p]));
    const after = new Map(received.partitions.map((p) => [partitionId(p), p]));
    const added = [...after].filter(([id]) => !before.has(id)).map(([, p]) => p);
    const removed = [...before].filter(([id]) => !after.has(id)).map(([, p]) => p);
    const first = !this.#hasFirstAssignment;
    this.#fenced = false;
    await this.#changeAssignment(
      { epoch: received.epoch, version: received.version, partitions: [...after.values()] },
      added,
      removed,
      first,
    );
    this.#applied = { epoch: received.epoch, version: received.version, ids: [...after.keys()] };
    if (first) {
      this.#hasFirstAssignment = true;
      this.#firstAssignment.notify();
    }
    this.#setState(this.#workingState());
    this.#heartbeatWake.notify();
  }

  async #changeAssignment(
    assignment: Assignment,
    added: readonly Partition[],
    removed: readonly Partition[],
    force: boolean,
  ): Promise<void> {
    // Removals become visible before the hooks run, so nobody reads a partition as still owned
    // after it was handed to the application as "stop".
    this.#assignment = assignment;
    if (!force && added.length === 0 && removed.length === 0) return;
    const token: FencingToken = { epoch: assignment.epoch, version: assignment.version };
    const released = removed.map((p) => {
      const id = partitionId(p);
      const held = this.#tokens.get(id) ?? token;
      this.#tokens.delete(id);
      return held;
    });
    for (const p of added) this.#tokens.set(partitionId(p), token);
    await this.#callHook(this.#hooks.onAssignmentChanged, { added, removed, assignment, token });
    for (let i = 0; i < removed.length; i++) {
      await this.#callHook(this.#hooks.onPartitionRemoved, removed[i]!, released[i]!);
    }
    for (const p of added) await this.#callHook(this.#hooks.onPartitionAdded, p, token);
  }

  /**
   * The fencing token under which this worker owns a partition, or `undefined` if it does not.
   *
   * @param partition The partition or its ID.
   * @returns The (epoch, version) of the publication that gave it to this worker.
   */
  fencingToken(partition: Partition | string): FencingToken | undefined {
    return this.#tokens.get(typeof partition === "string" ? partition : partitionId(partition));
  }

  /** Releases every partition through the hooks (fencing and shutdown). */
  async #releaseAll(): Promise<void> {
    const removed = this.#assignment.partitions;
    if (removed.length === 0) return;
    await this.#changeAssignment(
      { epoch: this.#accepted.epoch, version: this.#accepted.version, partitions: [] },
      [],
      removed,
      false,
    );
    this.#applied = { ...this.#applied, ids: [] };
  }

  // ---------------------------------------------------------------------------------------------
  // Heartbeats, ID renewal and self-fencing.

  #heartbeatRecord(): HeartbeatRecord {
    const ids = this.#applied.ids;
    return {
      instance: this.#instance,
      nonce: this.#nonce,
      state: this.#state,
      appliedEpoch: this.#applied.epoch,
      appliedVersion: this.#applied.version,
      owned: ids.length,
      ownedDigest: digestIds(ids),
    };
  }

  async #beat(): Promise<void> {
    const workerId = this.workerId;
    if (!workerId || !this.#buckets) return;
    const start = this.#config.clock.now();
    await this.#stableId!.renew();
    await this.#buckets.heartbeats.put(workerId, encode(this.#heartbeatRecord()));
    this.#lastHeartbeatOk = start;
  }

  async #runHeartbeats(): Promise<void> {
    const c = this.#config;
    const signal = this.#abort.signal;
    // The fence deadline is watched by its own timer: a heartbeat request can hang for up to
    // operationTimeoutMs, longer than the deadline itself.
    const fenceTimer = setInterval(() => {
      this.#checkFence();
      this.#health.tick();
    }, Math.max(10, Math.min(c.heartbeatIntervalMs / 4, 250)));
    let failing = false;
    try {
      while (!signal.aborted) {
        await this.#timers.waitFor(this.#heartbeatWake, c.heartbeatIntervalMs, signal);
        if (signal.aborted) break;
        // After a pause (SIGSTOP, GC, a frozen VM) the deadline may have passed: fence before the
        // first request, so nothing is worked on after the leader may have moved it.
        this.#checkFence();
        try {
          await this.#beat();
          this.#health.success();
          this.#pastDeadline = false;
          this.#setState(this.#workingState());
          if (failing) {
            // Coordination is back: read our key once in case the watch missed the outage's
            // changes (the store's watchdog recreates the watch too, but only after its interval).
            c.logger?.info("Heartbeat recovered", { workerId: this.workerId });
            failing = false;
            await this.#watch?.poll();
          }
        } catch (error) {
          if (error instanceof RevisionConflictError) {
            await this.#lostId(error);
            return;
          }
          // One report per streak of failures; the state (degraded) tells the rest.
          if (!failing) this.#reportError(error as Error);
          else this.#health.failure();
          failing = true;
        }
        this.#checkFence();
      }
    } finally {
      clearInterval(fenceTimer);
    }
  }

  /** Another process holds our ID now: release everything at once and stop. */
  async #lostId(cause: Error): Promise<void> {
    await this.#enqueue(() =>
      this.#callOnError(
        new PartiError(
          "COORDINATION_UNAVAILABLE",
          `Worker ID '${this.workerId}' was taken over by another process; releasing all ` +
            `partitions and stopping`,
          { cause },
        ),
      )
    );
    await this.#enqueue(() => this.#fence());
    void this.stop();
  }

  #checkFence(): void {
    const c = this.#config;
    if (this.#lastHeartbeatOk === Number.NEGATIVE_INFINITY) return;
    const silentFor = c.clock.now() - this.#lastHeartbeatOk;
    if (this.#fenced || silentFor <= c.heartbeatTtlMs - c.heartbeatIntervalMs) return;
    if (c.onCoordinationLoss === "fence") {
      void this.#enqueue(() => this.#fence());
    } else if (!this.#pastDeadline) {
      // Availability over exclusivity: keep serving the last assignment, visibly degraded.
      this.#pastDeadline = true;
      this.#setState(State.Degraded);
    }
  }

  async #fence(): Promise<void> {
    if (this.#fenced) return;
    this.#fenced = true;
    this.#config.logger?.warn("Self-fencing: heartbeat could not be renewed", {
      workerId: this.workerId,
    });
    this.#setState(State.Degraded);
    await this.#releaseAll();
  }

  // ---------------------------------------------------------------------------------------------
  // Leadership.

  #onLeadership(isLeader: boolean, epoch: number): void {
    void this.#enqueue(async () => {
      if (isLeader && !this.#term && this.#stopping === undefined) {
        this.#startController(epoch);
      } else if (!isLeader && this.#term) {
        await this.#stopController();
      }
      this.#setState(this.#workingState());
      await this.#callHook(this.#hooks.onLeadershipChanged, isLeader, epoch);
    });
  }

  #startController(epoch: number): void {
    const buckets = this.#buckets!;
    this.#term = new LeaderTerm({
      config: this.#config,
      heartbeats: buckets.heartbeats,
      assignments: buckets.assignments,
      engine: this.#engine!,
      strategy: this.#strategy,
      epoch,
      timers: this.#timers,
      isLeader: () => this.#election?.isLeader ?? false,
      onState: (state) => {
        this.#leaderState = state;
        this.#setState(this.#workingState());
      },
      onWorkerJoined: (id) =>
        void this.#enqueue(() => this.#callHook(this.#hooks.onWorkerJoined, id)),
      onWorkerLeft: (id) => void this.#enqueue(() => this.#callHook(this.#hooks.onWorkerLeft, id)),
      onPublished: (info) => this.#config.logger?.info("Assignment published", { ...info }),
      onError: (e) => this.#reportError(e),
    });
  }

  async #stopController(): Promise<void> {
    const term = this.#term;
    this.#term = undefined;
    this.#leaderState = "stable";
    await term?.stop();
  }

  // ---------------------------------------------------------------------------------------------
  // Control, from any worker.

  #requireRunning(): Buckets {
    if (!this.#started || this.#stopping !== undefined || !this.#buckets || !this.workerId) {
      throw new NotStartedError();
    }
    return this.#buckets;
  }

  /**
   * Re-reads the partition source. On the leader it resolves once the source was read; on a
   * follower once the request was handed to the leader.
   *
   * @throws {NotStartedError} If the manager is not running.
   */
  async refreshPartitions(): Promise<void> {
    const buckets = this.#requireRunning();
    if (this.#term && this.isLeader) return await this.#term.controller.refreshPartitions();
    await sendRequest(buckets.assignments, "refresh", this.workerId!);
  }

  /**
   * Asks the leader to rebalance now, ignoring windows and the minimum interval (the exclusive
   * hand-off still applies).
   *
   * @throws {NotStartedError} If the manager is not running.
   */
  async triggerRebalance(): Promise<void> {
    const buckets = this.#requireRunning();
    if (this.#term && this.isLeader) return this.#term.controller.triggerRebalance();
    await sendRequest(buckets.assignments, "rebalance", this.workerId!);
  }

  /**
   * Drains a worker: it stays alive and keeps its ID but is given no partitions (for rolling
   * deploys). Persisted in the group, so it survives leader changes.
   *
   * @param workerId The worker to drain, e.g. `"worker-3"`.
   * @returns Whether the drain list changed.
   * @throws {NotStartedError} If the manager is not running.
   */
  drainWorker(workerId: string): Promise<boolean> {
    const buckets = this.#requireRunning();
    if (typeof workerId !== "string" || workerId.length === 0) {
      throw new TypeError("drainWorker() needs a worker ID such as 'worker-3'");
    }
    return setDrained(buckets.assignments, workerId, true, (e) => this.#reportError(e));
  }

  /**
   * Undoes {@link Manager.drainWorker}.
   *
   * @param workerId The worker to undrain.
   * @returns Whether the drain list changed.
   * @throws {NotStartedError} If the manager is not running.
   */
  undrainWorker(workerId: string): Promise<boolean> {
    const buckets = this.#requireRunning();
    if (typeof workerId !== "string" || workerId.length === 0) {
      throw new TypeError("undrainWorker() needs a worker ID such as 'worker-3'");
    }
    return setDrained(buckets.assignments, workerId, false, (e) => this.#reportError(e));
  }

  /**
   * Reads every worker's published assignment.
   *
   * @returns A map from worker ID to its assignment.
   * @throws {NotStartedError} If the manager is not running.
   */
  getAssignments(): Promise<Map<string, Assignment>> {
    const buckets = this.#requireRunning();
    return readAssignments(buckets.assignments, (e) => this.#reportError(e));
  }

  /**
   * Reads the group's topology: workers with their states, versions, partition counts and load,
   * the leader and its epoch, and the latest version.
   *
   * @throws {NotStartedError} If the manager is not running.
   */
  getTopology(): Promise<Topology> {
    const buckets = this.#requireRunning();
    return readTopology(buckets, (e) => this.#reportError(e));
  }

  // ---------------------------------------------------------------------------------------------
  // Shutdown.

  /**
   * Stops the worker from any state: revokes every owned partition through the hooks, then
   * resigns leadership, deletes its heartbeat and releases its ID. Idempotent.
   */
  stop(): Promise<void> {
    if (!this.#started && this.#state === State.Init) {
      this.#started = true;
      this.#setState(State.Shutdown);
      return Promise.resolve();
    }
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    const c = this.#config;
    this.#abort.abort();
    this.#heartbeatWake.notify();
    this.#firstAssignment.notify();
    // Cancelled at the end, so a finished stop() leaves no timer keeping the process alive.
    const budgetTimer = new AbortController();
    const budget = this.#timers.sleep(c.shutdownTimeoutMs, budgetTimer.signal);
    // Hooks in flight finish first (bounded), then everything owned is revoked through them.
    const revoke = this.#enqueue(async () => {
      this.#watch?.stop();
      await this.#releaseAll();
    });
    await Promise.race([revoke, budget]);
    await this.#heartbeatLoop?.catch(() => {});
    const cleanup = async () => {
      await this.#stopController();
      await this.#election?.stop();
      const workerId = this.workerId;
      if (workerId && this.#buckets && c.instance !== undefined) {
        // Static membership: a process with a stable instance name is expected back (a rolling
        // restart). It keeps its ID and leaves a heartbeat saying it holds nothing; the leader
        // keeps its partitions reserved for emergencyGraceMs so a quick restart moves nothing.
        const record = { ...this.#heartbeatRecord(), state: State.Shutdown };
        await this.#buckets.heartbeats.put(workerId, encode(record))
          .catch((e) => this.#reportError(e));
      } else if (workerId && this.#buckets) {
        await this.#buckets.heartbeats.delete(workerId).catch((e) => this.#reportError(e));
        await this.#stableId?.release().catch((e) => this.#reportError(e));
      }
    };
    await Promise.race([cleanup().catch((e) => this.#reportError(e)), budget]);
    this.#setState(State.Shutdown);
    await Promise.race([this.#hookChain, budget]);
    budgetTimer.abort();
  }

  /** Same as {@link Manager.stop}; enables `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
