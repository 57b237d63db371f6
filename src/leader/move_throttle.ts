/**
 * `maxMovesPerRebalance` on the leader: how many planned moves a round may start, and when the
 * round that continues a throttled rebalance is due. Emergencies, new partitions and partitions
 * of departed or ineligible workers are never held back (the engine's driver decides that); this
 * file only carries the count of held-back moves from one round to the next.
 *
 * @module
 */

/** Carries held-back moves between rounds of one leadership term. */
export class MoveThrottle {
  readonly #cap: number | undefined;
  readonly #intervalMs: number;
  #pending = 0;
  #followUpAt = Number.POSITIVE_INFINITY;

  /**
   * @param cap `maxMovesPerRebalance` (undefined: no limit).
   * @param intervalMs `minRebalanceIntervalMs`: the spacing of follow-up rounds.
   */
  constructor(cap: number | undefined, intervalMs: number) {
    this.#cap = cap;
    this.#intervalMs = intervalMs;
  }

  /** Planned moves the last assign round held back. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * The `maxMoves` of the next engine call. The round that completes a hand-off starts no new
   * move: the partitions it revoked are granted first, and the next moves wait for the follow-up.
   */
  maxMoves(completingHandoff: boolean): number | undefined {
    return completingHandoff && this.#cap !== undefined ? 0 : this.#cap;
  }

  /**
   * Whether the follow-up round is due now (`0`), else in how many milliseconds (Infinity when
   * none is planned). A due follow-up is consumed.
   */
  due(now: number): number {
    if (this.#followUpAt === Number.POSITIVE_INFINITY) return this.#followUpAt;
    if (now < this.#followUpAt) return this.#followUpAt - now;
    this.#followUpAt = Number.POSITIVE_INFINITY;
    return 0;
  }

  /** A publication was written; an assign with held-back moves plans a follow-up round. */
  published(phase: "revoke" | "assign", movesPending: number, now: number): void {
    if (phase !== "assign") return;
    this.#pending = movesPending;
    if (movesPending > 0) this.#followUpAt = now + this.#intervalMs;
  }
}
