/**
 * Turns the election's "leader / not leader" into leader terms: a term starts when this worker
 * wins the lease and stops, fully, before the next one starts. This never waits behind the
 * application's hooks; `onLeadershipChanged` is queued once the term has started or stopped.
 *
 * @module
 */
import { type ManagerMetrics, reasonLabel } from "./observability/manager_metrics.ts";
import type { ResolvedConfig } from "./config.ts";
import {
  type AssignmentEngine,
  type AssignmentStrategy,
  createAssignmentEngine,
} from "./engine/mod.ts";
import { toError } from "./errors.ts";
import type { HookQueue } from "./hooks.ts";
import type { Controller, ControllerState } from "./leader/controller.ts";
import { LeaderTerm } from "./leader/term.ts";
import type { GroupBuckets } from "./protocol/buckets.ts";
import type { Timers } from "./runtime/timers.ts";

/** The configured engine, or one on the inlined kernel; a fallback to TypeScript is reported. */
export async function openEngine(
  config: ResolvedConfig,
  hooks: HookQueue,
): Promise<AssignmentEngine> {
  const given = config.engine;
  if (given !== undefined && !(given instanceof WebAssembly.Module)) return given;
  return await createAssignmentEngine({
    ...(given ? { module: given } : {}),
    onFallback: (error) => {
      config.logger?.warn("WebAssembly unavailable; assigning with the TypeScript engine", {
        error: error.message,
      });
      void hooks.error(error);
    },
  });
}

/** Options of {@link Leadership}. */
export interface LeadershipOptions {
  /** Resolved options. */
  readonly config: ResolvedConfig;
  /** The group's buckets. */
  readonly buckets: GroupBuckets;
  /** The assignment engine. */
  readonly engine: AssignmentEngine;
  /** The strategy. */
  readonly strategy: AssignmentStrategy;
  /** Timers on the manager's clock. */
  readonly timers: Timers;
  /** The application's hooks. */
  readonly hooks: HookQueue;
  /** Whether the lease is still valid (checked before every write). */
  readonly isLeader: () => boolean;
  /** The leader-side state changed, or a term started or stopped. */
  readonly onChange: () => void;
  /** Recoverable problems. */
  readonly onError: (error: Error) => void;
  /** Where publications and leadership changes are recorded. */
  readonly metrics: ManagerMetrics;
}

/** The leader terms of one session. */
export class Leadership {
  readonly #o: LeadershipOptions;
  /** The running term, while this worker leads. */
  #term: LeaderTerm | null = null;
  #state: ControllerState = "stable";
  #lane: Promise<void> = Promise.resolve();
  #closed = false;

  /** @param options Buckets, engine and callbacks. */
  constructor(options: LeadershipOptions) {
    this.#o = options;
  }

  /** The leader-side state while a term runs, else `undefined`. */
  get state(): ControllerState | undefined {
    return this.#term ? this.#state : undefined;
  }

  /** The running term's controller, if this worker leads. */
  get controller(): Controller | undefined {
    return this.#term?.controller;
  }

  /** The election changed its mind: start or stop a term, in order. */
  change(isLeader: boolean, epoch: number): void {
    this.#lane = this.#lane.then(async () => {
      if (isLeader && !this.#term && !this.#closed) this.#start(epoch);
      else if (!isLeader && this.#term) await this.#stop();
      this.#o.onChange();
      this.#o.metrics.leadership(isLeader);
      void this.#o.hooks.call("onLeadershipChanged", isLeader, epoch);
    }).catch((e) => this.#o.onError(toError(e)));
  }

  /** The group's buckets were recreated: a running term re-reads and republishes. */
  bucketsRecreated(): void {
    this.#term?.controller.bucketRecreated();
  }

  /** This leader regained coordination: nobody is declared dead for `graceMs`. */
  refreshAll(graceMs: number): void {
    this.#term?.refreshAll(graceMs);
  }

  /** Stops the running term and starts no other. */
  close(): Promise<void> {
    this.#closed = true;
    this.#lane = this.#lane.then(() => this.#stop());
    return this.#lane;
  }

  #start(epoch: number): void {
    const { config: c, hooks, buckets } = this.#o;
    this.#term = new LeaderTerm({
      config: c,
      heartbeats: buckets.heartbeats,
      assignments: buckets.assignments,
      engine: this.#o.engine,
      strategy: this.#o.strategy,
      epoch,
      timers: this.#o.timers,
      isLeader: this.#o.isLeader,
      onState: (state) => {
        this.#state = state;
        this.#o.onChange();
      },
      onWorkerJoined: (id) => void hooks.call("onWorkerJoined", id),
      onWorkerLeft: (id) => void hooks.call("onWorkerLeft", id),
      onPublished: (info) => {
        c.logger?.info("Assignment published", { ...info });
        this.#o.metrics.published({ ...info, reason: reasonLabel(info.reason) });
      },
      onError: this.#o.onError,
    });
  }

  async #stop(): Promise<void> {
    const term = this.#term;
    this.#term = null;
    this.#state = "stable";
    await term?.stop();
  }
}
