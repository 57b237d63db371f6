/**
 * Owners in the published assignment a new leader has never seen a heartbeat of (see
 * `absentOwners` in `handoff.ts` for why they count as alive): what their key held when this
 * leader found them, and when they count as dead. Until then nothing they may hold is given to
 * anyone else, and their keys are not rewritten either: an owner that is alive but unseen (its
 * heartbeat key expired on the server, or it was silent across the takeover) would read a revoke
 * on its return and give up everything for nothing. The snapshot matters: a key this leader
 * rewrites after all (the owner came back, then went silent again) no longer says what it held.
 *
 * @module
 */
import { absentOwners, type HoldState } from "./handoff.ts";

/** The absent owners of one leadership term. */
export class AbsentOwners {
  readonly #absent = new Map<
    string,
    { readonly deadAt: number; readonly ids: ReadonlySet<string> }
  >();

  /**
   * Records the owners in `published` that are not members (nor departed) as absent, dead
   * `ttlMs` from `now` unless a heartbeat shows up first. Owners already recorded keep their time.
   */
  found(
    published: ReadonlyMap<string, { readonly ids: ReadonlySet<string> }>,
    members: ReadonlySet<string>,
    hasDeparted: (workerId: string) => boolean,
    now: number,
    ttlMs: number,
  ): void {
    for (const id of absentOwners(published, members)) {
      // A worker that deleted its heartbeat released everything before it did.
      if (this.#absent.has(id) || hasDeparted(id)) continue;
      this.#absent.set(id, { deadAt: now + ttlMs, ids: new Set(published.get(id)!.ids) });
    }
  }

  /** A heartbeat of the worker arrived: it is a member now. */
  joined(workerId: string): void {
    this.#absent.delete(workerId);
  }

  /**
   * Declares the owners absent for their whole TTL dead (through `onDead`, like a member that went
   * silent) and returns the milliseconds until the next one would be (Infinity when none).
   */
  expire(now: number, onDead: (workerId: string) => void): number {
    let waitMs = Number.POSITIVE_INFINITY;
    for (const [id, { deadAt }] of this.#absent) {
      if (now < deadAt) {
        waitMs = Math.min(waitMs, deadAt - now);
        continue;
      }
      this.#absent.delete(id);
      onDead(id);
    }
    return waitMs;
  }

  /** The absent owners that are not members (yet): their keys stay as published. */
  *owners(members: ReadonlySet<string>): Iterable<string> {
    for (const id of this.#absent.keys()) if (!members.has(id)) yield id;
  }

  /**
   * Adds every absent owner that is not a member to `holds` (holding what its key held, as
   * acknowledged) and to `mayHold`: until it counts as dead nothing it may hold is given away.
   */
  addHolds(
    holds: Map<string, HoldState>,
    mayHold: Set<string>,
    members: ReadonlySet<string>,
  ): void {
    for (const [id, absent] of this.#absent) {
      if (members.has(id)) continue;
      mayHold.add(id);
      holds.set(id, { acked: absent.ids, unacked: [] });
    }
  }
}
