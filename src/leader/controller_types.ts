/**
 * What the leader's decision loop (`Controller`) is given and what it reports: its
 * dependencies and callbacks, its states, and the details of each publication.
 *
 * @module
 */
import type { ResolvedConfig } from "../config.ts";
import type { AssignmentEngine, AssignmentStrategy } from "../engine/mod.ts";
import type { Timers } from "../runtime/timers.ts";
import type { Logger } from "../types.ts";
import type { HandoffSteps } from "./handoff_timing.ts";
import type { Membership } from "./membership.ts";
import type { Publisher } from "./publisher.ts";
import type { RebalanceReason } from "./windows.ts";

/** Leader-side states the controller reports. */
export type ControllerState = "stable" | "scaling" | "rebalancing" | "emergency";

/** Options of `Controller`. */
export interface ControllerOptions {
  /** Resolved manager configuration (timings, strategy). */
  readonly config: ResolvedConfig;
  /** The assignment engine. */
  readonly engine: AssignmentEngine;
  /** The strategy to use. */
  readonly strategy: AssignmentStrategy;
  /** Live workers. */
  readonly membership: Membership;
  /** Assignment writer. */
  readonly publisher: Publisher;
  /** This leader's epoch. */
  readonly epoch: number;
  /** Whether this worker may still act as leader. */
  readonly isLeader: () => boolean;
  /** Reports the leader-side state. */
  readonly onState: (state: ControllerState) => void;
  /** Reports each publication. */
  readonly onPublished: (info: PublicationInfo) => void;
  /** Receives recoverable problems. */
  readonly onError: (error: Error) => void;
  /** Reads the persisted drain list. */
  readonly readDrained: () => Promise<ReadonlySet<string>>;
  /** Timers on the manager's clock. */
  readonly timers: Timers;
  /** Logger. */
  readonly logger: Logger | undefined;
}

/** Details of one publication. */
export interface PublicationInfo {
  /** New version. */
  readonly version: number;
  /** Epoch. */
  readonly epoch: number;
  /** Why the controller rebalanced. */
  readonly reason: RebalanceReason;
  /** `"revoke"` when partitions are held back until their old owners confirm. */
  readonly phase: "revoke" | "assign";
  /** Partitions whose owner changed compared to the previous publication. */
  readonly moved: number;
  /** Partitions held back. */
  readonly pending: number;
  /** Planned moves held back by `maxMovesPerRebalance`, for a later round. */
  readonly movesPending: number;
  /** Partitions left unassigned: no live worker matches their selector. */
  readonly unplaced: number;
  /** Live workers. */
  readonly workers: number;
  /** From the decision to the last write, by the manager's clock (ms). */
  readonly durationMs: number;
  /**
   * When this publication completes a hand-off: from its first revoke being published to this
   * assign (the old owners acknowledged, the new owners told), by the manager's clock (ms).
   */
  readonly handoffMs?: number;
  /** When this publication completes a hand-off: its duration by step (they add up to `handoffMs`). */
  readonly handoffSteps?: HandoffSteps;
}
