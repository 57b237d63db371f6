/**
 * Applies the assignments published for this worker: computes what was added and removed, keeps a
 * fencing token per owned partition, makes the change visible at once (`assignment`,
 * `fencingToken()`), queues the hooks it owes the application, and acknowledges a version (what
 * the heartbeat reports as applied) only once those hooks have resolved — the leader hands a
 * revoked partition to another worker only after that acknowledgement. Releasing everything
 * (self-fencing, shutdown) works the same way and never waits behind an earlier hook.
 *
 * Each assignment is addressed to one incarnation of this worker. The incarnation is new for every
 * applier and again after every self-fence, and only assignments addressed to the current one are
 * taken: one the leader wrote before the fence — which it may have handed on since, having seen
 * this worker fall silent — is never applied when the connection comes back. The leader sees the
 * new incarnation in the next heartbeat and addresses a fresh publication to it.
 *
 * @module
 */
import { type Partition, partitionId } from "../partition.ts";
import { compareVersions } from "../protocol/records.ts";
import { randomHex } from "../runtime/signal.ts";
import type { Timers } from "../runtime/timers.ts";
import type { Assignment, AssignmentChange, ChangeReason, FencingToken } from "../types.ts";
import type { ReceivedAssignment } from "./assignment_watch.ts";

/** What the heartbeat reports: a version whose hooks have resolved, and what was held then. */
export interface Acknowledged {
  /** Epoch of the acknowledged publication. */
  readonly epoch: number;
  /** Version of the acknowledged publication. */
  readonly version: number;
  /** The partition IDs this worker may still be working on. */
  readonly ids: readonly string[];
}

/** A change the application must be told about. */
export interface AppliedChange {
  /** What `onAssignmentChanged` receives. */
  readonly change: AssignmentChange;
}

/** Why everything is released: the fence, a stuck revoke, a lost ID, or `stop()`. */
export type ReleaseReason = Exclude<ChangeReason, "assigned" | "moved">;

/** Options of {@link Applier}. */
export interface ApplierOptions {
  /**
   * Tells the application (queues its hooks); resolves once they have all resolved. Changes are
   * told in the order they happen and must be resolved in that order.
   */
  readonly tell: (change: AppliedChange) => Promise<void>;
  /** Timers on the manager's clock (for the reclaim embargo). */
  readonly timers: Timers;
  /** Aborted when the worker stops: nothing more is applied. */
  readonly signal: AbortSignal;
  /** No assignment is taken before this time (see `acceptAfter` in `fencing.ts`). */
  readonly acceptAfter: number;
  /** The acknowledged state changed (the heartbeat should report it, the state may change). */
  readonly onAcknowledged: () => void;
  /** How long the hooks of a change with removals may take before it counts as stuck (0 = never). */
  readonly revokeTimeoutMs: number;
  /** A change's removals were not finished within `revokeTimeoutMs`; called once per change. */
  readonly onRevokeTimeout: (partitionIds: readonly string[]) => void;
}

const EMPTY: Assignment = Object.freeze({ epoch: 0, version: 0, partitions: Object.freeze([]) });

/** This worker's assignment and its fencing tokens. */
export class Applier {
  readonly #o: ApplierOptions;
  #assignment: Assignment = EMPTY;
  readonly #tokens = new Map<string, FencingToken>();
  /** Highest (epoch, version) taken: a fenced worker only takes a newer one. */
  #accepted = { epoch: 0, version: 0 };
  #acknowledged: Acknowledged = { epoch: 0, version: 0, ids: [] };
  #fenced = false;
  #incarnation = randomHex(8);
  #first = false;
  #resolveFirst!: () => void;
  /** Applications wait here for the reclaim embargo, one after another, in arrival order. */
  #lane: Promise<void> = Promise.resolve();
  #lastRelease: Promise<void> = Promise.resolve();
  /** Cancels of the revoke timers running (see `revokeTimeoutMs`). */
  readonly #revokeTimers = new Set<() => void>();
  /** Resolves once the first assignment's hooks have resolved. */
  readonly firstApplied: Promise<void> = new Promise((resolve) => (this.#resolveFirst = resolve));

  /** @param options Hooks, timers and callbacks. */
  constructor(options: ApplierOptions) {
    this.#o = options;
  }

  /** The assignment the application was last told about. */
  get assignment(): Assignment {
    return this.#assignment;
  }

  /** The newest (epoch, version) taken. */
  get accepted(): { readonly epoch: number; readonly version: number } {
    return this.#accepted;
  }

  /** What the heartbeat reports. */
  get acknowledged(): Acknowledged {
    return this.#acknowledged;
  }

  /** The incarnation assignments must be addressed to (the heartbeat reports it). */
  get incarnation(): string {
    return this.#incarnation;
  }

  /** Whether everything was released by the fence and no newer assignment arrived since. */
  get fenced(): boolean {
    return this.#fenced;
  }

  /** Whether the first assignment has been applied and acknowledged. */
  get hasFirstAssignment(): boolean {
    return this.#first;
  }

  /** The fencing token of an owned partition, or `undefined`. */
  fencingToken(id: string): FencingToken | undefined {
    return this.#tokens.get(id);
  }

  /** Takes a published assignment if it is newer than the one held; in arrival order. */
  apply(received: ReceivedAssignment): void {
    this.#lane = this.#lane.then(async () => {
      const wait = this.#o.acceptAfter - this.#o.timers.now();
      if (wait > 0) await this.#o.timers.sleep(wait, this.#o.signal);
      if (this.#o.signal.aborted) return;
      // Addressed to an earlier incarnation (before a fence): the leader may have moved it on.
      if (received.incarnation !== this.#incarnation) return;
      if (compareVersions(received, this.#accepted) <= 0) return;
      this.#accepted = { epoch: received.epoch, version: received.version };
      this.#fenced = false;
      const before = new Map(this.#assignment.partitions.map((p) => [partitionId(p), p]));
      const after = new Map(received.partitions.map((p) => [partitionId(p), p]));
      const added = [...after].filter(([id]) => !before.has(id)).map(([, p]) => p);
      const removed = [...before].filter(([id]) => !after.has(id)).map(([, p]) => p);
      const assignment: Assignment = {
        epoch: received.epoch,
        version: received.version,
        partitions: [...after.values()],
      };
      const first = !this.#first;
      const reason = removed.length > 0 ? "moved" : "assigned";
      const done = this.#change(assignment, added, removed, first, reason);
      const ack: Acknowledged = { ...this.#accepted, ids: [...after.keys()] };
      // Not awaited here: the next assignment may be taken while these hooks run; its hooks
      // queue behind them and its acknowledgement follows theirs.
      void done.then(() => {
        this.#acknowledge(ack);
        if (first) {
          this.#first = true;
          this.#resolveFirst();
        }
        this.#o.onAcknowledged();
      });
    });
  }

  /**
   * Releases every partition at once (the fence, or shutdown): `assignment` is empty and no
   * token is held from now on; the hooks are told (everything removed) after those already
   * queued.
   *
   * @param reason Why; anything but `"shutdown"` fences (the worker then only takes a newer version).
   * @returns Resolves once the removal hooks have resolved and the release is acknowledged.
   */
  releaseAll(reason: ReleaseReason): Promise<void> {
    if (reason !== "shutdown") {
      this.#fenced = true;
      // Nothing published before this instant may be taken any more.
      this.#incarnation = randomHex(8);
    }
    const removed = this.#assignment.partitions;
    // Nothing left to release: wait for the release that emptied it, if one is still running.
    if (removed.length === 0) return this.#lastRelease;
    this.#lastRelease = this.#release(removed, reason);
    return this.#lastRelease;
  }

  async #release(removed: readonly Partition[], reason: ReleaseReason): Promise<void> {
    const { epoch, version } = this.#accepted;
    // On shutdown, stop() bounds the wait itself (shutdownTimeoutMs): no revoke timer.
    await this.#change({ epoch, version, partitions: [] }, [], removed, false, reason);
    // Hooks of later versions may have run meanwhile; what they added is released by now too,
    // unless a newer assignment was taken after this release.
    if (this.#assignment.partitions.length === 0) {
      this.#acknowledged = { ...this.#acknowledged, ids: [] };
    }
    this.#o.onAcknowledged();
  }

  /** Makes the change visible and queues its hooks; resolves once they have all resolved. */
  #change(
    assignment: Assignment,
    added: readonly Partition[],
    removed: readonly Partition[],
    force: boolean,
    reason: ChangeReason,
  ): Promise<void> {
    // Removals become visible before the hooks run, so nobody reads a partition as still owned
    // after it was handed to the application as "stop".
    this.#assignment = assignment;
    if (!force && added.length === 0 && removed.length === 0) return Promise.resolve();
    const token: FencingToken = { epoch: assignment.epoch, version: assignment.version };
    const released = removed.map((p) => {
      const id = partitionId(p);
      const held = this.#tokens.get(id) ?? token;
      this.#tokens.delete(id);
      return held;
    });
    for (const p of added) this.#tokens.set(partitionId(p), token);
    const told = this.#o.tell({
      change: { added, removed, removedTokens: released, reason, assignment, token },
    });
    const { revokeTimeoutMs, timers } = this.#o;
    if (reason !== "shutdown" && removed.length > 0 && revokeTimeoutMs > 0) {
      const ids = removed.map(partitionId);
      const cancel = timers.setTimeout(() => {
        this.#revokeTimers.delete(cancel);
        this.#o.onRevokeTimeout(ids);
      }, revokeTimeoutMs);
      this.#revokeTimers.add(cancel);
      void told.then(() => {
        this.#revokeTimers.delete(cancel);
        cancel();
      });
    }
    return told;
  }

  /** Cancels every revoke timer: the worker stopped, no timer may outlive it. */
  close(): void {
    for (const cancel of this.#revokeTimers) cancel();
    this.#revokeTimers.clear();
  }

  /** Acknowledgements only move forward (they resolve in hook order, which is arrival order). */
  #acknowledge(ack: Acknowledged): void {
    if (compareVersions(ack, this.#acknowledged) >= 0) this.#acknowledged = ack;
  }
}
