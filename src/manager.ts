/**
 * The Manager: one worker's membership in a group, as the application sees it. It validates the
 * options, and `start()` opens a {@link Session} (buckets, stable ID, heartbeat, election, the
 * assignment watch, a leader term while leading); the getters read that session and the control
 * calls delegate to it.
 *
 * @module
 */
import { type ManagerOptions, resolveConfig } from "./config.ts";
import { AlreadyStartedError, NotStartedError } from "./errors.ts";
import type { Subscription } from "./hooks.ts";
import { type Partition, partitionId } from "./partition.ts";
import type { Topology } from "./protocol/group_view.ts";
import type { Session } from "./session.ts";
import { type SessionContext, sessionContext, startSession } from "./session_open.ts";
import { checkLoad } from "./worker/load_report.ts";
import { type Assignment, type FencingToken, type Hooks, State } from "./types.ts";

/** Options of {@link Manager.start}. */
export interface StartOptions {
  /** Aborting it cancels a pending start, and later stops the manager. */
  readonly signal?: AbortSignal;
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
  /** What each session is made from: config, hook lane, state, timers, metrics. */
  readonly #ctx: SessionContext;
  /** Aborted by `stop()`: ends a pending start and every loop of the session. */
  readonly #abort = new AbortController();
  #opening: Promise<Session> | undefined;
  #session: Session | undefined;
  #stopping: Promise<void> | undefined;

  /**
   * Validates every option before any I/O.
   *
   * @param options Connection or store, group, partitions and tuning.
   * @throws {InvalidConfigError} Naming the first invalid option.
   */
  constructor(options: ManagerOptions) {
    this.#ctx = sessionContext(resolveConfig(options), () => this.workerId, () => void this.stop());
  }

  /** This worker's stable ID once claimed (e.g. `"worker-3"`), else `undefined`. */
  get workerId(): string | undefined {
    return this.#session?.workerId;
  }

  /** Whether this worker is the leader right now. */
  get isLeader(): boolean {
    return this.#session?.isLeader ?? false;
  }

  /** The current state (see {@link State}). */
  get state(): State {
    this.#session?.checkFence();
    return this.#ctx.state.current;
  }

  /** The assignment this worker holds: `{ epoch, version, partitions }`. */
  get assignment(): Assignment {
    return this.#session?.assignment ?? EMPTY;
  }

  /**
   * Milliseconds since this worker's last heartbeat the store confirmed (by the manager's clock),
   * or `undefined` before the first or when not running. `/status` of the health handler shows it.
   */
  get heartbeatAgeMs(): number | undefined {
    return this.#session?.heartbeatAgeMs;
  }

  /**
   * The fencing token under which this worker owns a partition, or `undefined` if it does not.
   *
   * @param partition The partition or its ID.
   * @returns The (epoch, version) of the publication that gave it to this worker.
   */
  fencingToken(partition: Partition | string): FencingToken | undefined {
    const id = typeof partition === "string" ? partition : partitionId(partition);
    return this.#session?.fencingToken(id);
  }

  /**
   * Reports the measured load of a partition this worker owns (messages per second, CPU time,
   * bytes: any non-negative measure, the same for every worker), for load-aware rebalancing
   * (`loadAware` option): the next heartbeats carry it and the leader blends a moving average of
   * it into the partition's weight. Ignored when `loadAware` is off or before `start()`.
   *
   * @param partition The partition or its ID.
   * @param value The latest measurement.
   * @throws {RangeError} When `value` is not a finite number of at least 0.
   *
   * @example
   * ```ts ignore
   * manager.reportLoad("orders/3", messagesPerSecond);
   * ```
   */
  reportLoad(partition: Partition | string, value: number): void {
    const id = typeof partition === "string" ? partition : partitionId(partition);
    this.#session?.reportLoad(id, checkLoad(id, value));
  }

  /**
   * Starts the worker and resolves once it holds its first assignment (its
   * `onAssignmentChanged` has resolved).
   *
   * @param options Optional abort signal.
   * @throws {AlreadyStartedError} If this manager was started before (or is starting).
   * @throws {OperationTimeoutError} When no assignment arrived within `startupTimeoutMs`.
   * @throws {NotStartedError} When stopped or aborted before the first assignment.
   */
  async start(options: StartOptions = {}): Promise<void> {
    if (this.#opening || this.#stopping) throw new AlreadyStartedError();
    const { signal } = options;
    if (signal?.aborted) {
      await this.stop();
      throw new NotStartedError("start() was aborted before it began", { cause: signal.reason });
    }
    signal?.addEventListener("abort", () => void this.stop(), { once: true });
    this.#ctx.state.set(State.ClaimingId);
    const run = startSession(this.#ctx, this.#abort.signal, (s) => (this.#session = s));
    this.#opening = run.opening;
    try {
      await run.started;
    } catch (error) {
      await this.stop();
      throw error;
    }
    if (this.#abort.signal.aborted) throw new NotStartedError("Manager was stopped while starting");
  }

  /**
   * Adds a set of hooks next to the ones given in the options: same lane, same contract (one at a
   * time, in order, awaited; a revoke is acknowledged to the leader only once these resolved too;
   * errors go to `onError`). Subscribing while running first tells the new hooks the assignment the
   * other hooks hold (everything "added", with each partition's fencing token). For libraries
   * built on a manager, such as `partitionedConsumer()`.
   *
   * @param hooks The hooks to add.
   * @returns A subscription: `reportError()` reports through the manager's `onError` (and the
   *   logger); `unsubscribe()` (or `await using`) removes the hooks once hooks in flight finished.
   *
   * @example Follow the assignment from a second component
   * ```ts
   * import { Manager, memoryStore, presets } from "@parti/core";
   *
   * const manager = new Manager({ ...presets.fastTest, store: memoryStore(), group: "g", source: [{ keys: ["a"] }] });
   * const owned = new Set<string>();
   * await using _ = manager.subscribe({ onPartitionAdded: (p) => void owned.add(p.keys[0]!) });
   * await manager.start();
   * console.assert(owned.has("a"));
   * await manager.stop();
   * ```
   */
  subscribe(hooks: Hooks): Subscription {
    return this.#ctx.hooks.subscribe(hooks);
  }

  #requireRunning(): Session {
    const session = this.#session;
    if (!session || this.#stopping) throw new NotStartedError();
    return session;
  }

  /**
   * Re-reads the partition source. On the leader it resolves once the source was read; on a
   * follower once the request was handed to the leader.
   *
   * @throws {NotStartedError} If the manager is not running.
   */
  refreshPartitions(): Promise<void> {
    return this.#requireRunning().control.refreshPartitions();
  }

  /**
   * Asks the leader to rebalance now, ignoring windows and the minimum interval (the exclusive
   * hand-off still applies).
   *
   * @throws {NotStartedError} If the manager is not running.
   */
  triggerRebalance(): Promise<void> {
    return this.#requireRunning().control.triggerRebalance();
  }

  /**
   * Drains a worker: it stays alive and keeps its ID but is given no partitions (for rolling
   * deploys). Persisted in the group, so it survives leader changes.
   *
   * @param workerId The worker to drain, e.g. `"worker-3"`.
   * @returns Whether the drain list changed.
   * @throws {NotStartedError} If the manager is not running.
   * @throws {TypeError} If `workerId` is not a non-empty string.
   */
  drainWorker(workerId: string): Promise<boolean> {
    return this.#requireRunning().control.setDrained("drainWorker", workerId, true);
  }

  /**
   * Undoes {@link Manager.drainWorker}.
   *
   * @param workerId The worker to undrain.
   * @returns Whether the drain list changed.
   * @throws {NotStartedError} If the manager is not running.
   * @throws {TypeError} If `workerId` is not a non-empty string.
   */
  undrainWorker(workerId: string): Promise<boolean> {
    return this.#requireRunning().control.setDrained("undrainWorker", workerId, false);
  }

  /**
   * Reads every worker's published assignment.
   *
   * @returns A map from worker ID to its assignment.
   * @throws {NotStartedError} If the manager is not running.
   */
  getAssignments(): Promise<Map<string, Assignment>> {
    return this.#requireRunning().control.getAssignments();
  }

  /**
   * Reads the group's topology: workers with their states, versions, partition counts and load,
   * the leader and its epoch, and the latest version.
   *
   * @throws {NotStartedError} If the manager is not running.
   */
  getTopology(): Promise<Topology> {
    return this.#requireRunning().control.getTopology();
  }

  /**
   * Stops the worker from any state: revokes every owned partition through the hooks, then
   * resigns leadership, deletes its heartbeat and releases its ID. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    this.#abort.abort();
    const session = await this.#opening?.catch(() => undefined);
    if (session) await session.stop();
    this.#ctx.state.set(State.Shutdown);
  }

  /** Same as {@link Manager.stop}; enables `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
