/**
 * One leadership term: what a worker runs while it holds the lease. It watches membership (the
 * heartbeat bucket) and the control keys, and runs the assignment controller, which publishes
 * through its own publisher. A term starts when the election says "leader" and is stopped, once,
 * when it says otherwise or the worker stops; a new term starts from scratch (it adopts what is
 * published).
 *
 * @module
 */
import type { ResolvedConfig } from "../config.ts";
import type { AssignmentEngine, AssignmentStrategy } from "../engine/mod.ts";
import { readDrained } from "../protocol/group_view.ts";
import { livenessCheckIntervalMs } from "../runtime/cadence.ts";
import type { Timers } from "../runtime/timers.ts";
import type { Bucket } from "../store/store.ts";
import { ControlWatch } from "./control_watch.ts";
import { Controller, type ControllerState, type PublicationInfo } from "./controller.ts";
import { type LeaveReason, Membership } from "./membership.ts";
import { Publisher } from "./publisher.ts";

/** What a term needs and whom it tells. */
export interface TermOptions {
  /** Resolved manager configuration. */
  readonly config: ResolvedConfig;
  /** The heartbeat bucket (membership). */
  readonly heartbeats: Bucket;
  /** The assignment bucket (publications and control keys). */
  readonly assignments: Bucket;
  /** The assignment engine. */
  readonly engine: AssignmentEngine;
  /** The strategy. */
  readonly strategy: AssignmentStrategy;
  /** This term's epoch. */
  readonly epoch: number;
  /** Timers on the manager's clock. */
  readonly timers: Timers;
  /** Whether the lease is still valid; checked before every write. */
  readonly isLeader: () => boolean;
  /** The leader-side state changed. */
  readonly onState: (state: ControllerState) => void;
  /** A worker joined the group. */
  readonly onWorkerJoined: (workerId: string) => void;
  /** A worker left the group. */
  readonly onWorkerLeft: (workerId: string, reason: LeaveReason) => void;
  /** A publication was written. */
  readonly onPublished: (info: PublicationInfo) => void;
  /** Recoverable problems. */
  readonly onError: (error: Error) => void;
}

/** A running leadership term. */
export class LeaderTerm {
  readonly #membership: Membership;
  readonly #controller: Controller;
  readonly #control: ControlWatch;
  #stopped: Promise<void> | undefined;

  /**
   * Starts the term: membership and control watches at once, the controller once the heartbeat
   * snapshot has been delivered (so its first decision sees the whole pool).
   */
  constructor(options: TermOptions) {
    const o = options;
    const c = o.config;
    const publisher = new Publisher(o.assignments, o.onError);
    // The membership callbacks need the controller, which needs the membership.
    const ref: { controller?: Controller } = {};
    this.#membership = new Membership(o.heartbeats, {
      heartbeatTtlMs: c.heartbeatTtlMs,
      checkIntervalMs: livenessCheckIntervalMs(c),
      timers: o.timers,
      onJoin: (id) => {
        ref.controller?.workerJoined(id);
        o.onWorkerJoined(id);
      },
      onLeave: (id, reason) => {
        ref.controller?.workerLeft(id, reason);
        o.onWorkerLeft(id, reason);
      },
      onUpdate: (id) => ref.controller?.workerUpdated(id),
      onError: o.onError,
    });
    const controller = new Controller({
      config: c,
      engine: o.engine,
      strategy: o.strategy,
      membership: this.#membership,
      publisher,
      epoch: o.epoch,
      isLeader: o.isLeader,
      onState: o.onState,
      onPublished: o.onPublished,
      onError: o.onError,
      readDrained: async () => (await readDrained(o.assignments, o.onError)).workers,
      timers: o.timers,
      logger: c.logger,
    });
    ref.controller = controller;
    this.#controller = controller;
    this.#control = new ControlWatch(o.assignments, {
      onDrained: (workers) => controller.setDrained(workers),
      onRefresh: () => void controller.refreshPartitions(),
      onRebalance: () => controller.triggerRebalance(),
      onRecreated: () => controller.bucketRecreated(),
      onError: o.onError,
    });
    void this.#control.start();
    this.#membership.start();
    void this.#membership.ready.then(() => {
      if (this.#stopped === undefined) controller.start();
    });
  }

  /** The term's controller (for control calls made on the leader itself). */
  get controller(): Controller {
    return this.#controller;
  }

  /**
   * Treats every known worker as just observed and declares nobody dead for `graceMs` (this
   * leader regained coordination after an outage of its own).
   */
  refreshAll(graceMs: number): void {
    this.#membership.refreshAll(graceMs);
  }

  /** Ends the term: watches stop, the controller finishes its round. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#control.stop();
      this.#membership.stop();
      await this.#controller.stop();
    })();
    return this.#stopped;
  }
}
