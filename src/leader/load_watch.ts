/**
 * Load-aware rebalancing on the leader: feeds the load digests heartbeats carry into the
 * {@link LoadModel}, recomputes the measured imbalance when new figures came in, and says when a
 * round is due because it stayed above `minRebalanceThreshold` for long enough. The rules (moving
 * averages, the sustained-imbalance test, single-move refinement) live in `load_model.ts`; this
 * file only keeps the leader's bookkeeping around them.
 *
 * @module
 */
import type { ResolvedConfig } from "../config.ts";
import type { Partition } from "../partition.ts";
import type { LoadDigest } from "../protocol/records.ts";
import { LoadModel, refineBalance, relativeImbalance } from "./load_model.ts";

/** What {@link LoadWatch.check} needs about the pool, asked only when figures changed. */
export interface LoadInputs {
  /** Partition IDs each eligible (live, undrained) worker owns in the published assignment. */
  owned(): Map<string, Iterable<string>>;
  /** The partitions of the last good list. */
  readonly partitions: readonly Partition[];
  /** A worker's capacity (1 when unset). */
  capacity(workerId: string): number;
}

/** The leader's view of measured load (one per leadership term). */
export class LoadWatch {
  readonly #model: LoadModel;
  readonly #config: ResolvedConfig;
  /** A heartbeat brought new load figures since the imbalance was last computed. */
  #changed = false;

  /** @param config The resolved configuration; `placement.loadAware` must be set. */
  constructor(config: ResolvedConfig) {
    this.#config = config;
    this.#model = new LoadModel(config.placement.loadAware!);
  }

  /** A heartbeat reported load figures for the partitions its worker owns. */
  observe(load: LoadDigest, owned: ReadonlySet<string>, now: number): void {
    this.#model.observe(load, owned, now);
    this.#changed = true;
  }

  /** The partition list changed: forget partitions that are gone. */
  retain(partitions: readonly Partition[]): void {
    this.#model.retain(partitions);
  }

  /** The partitions with measured load blended into their weights. */
  weighted(partitions: readonly Partition[]): readonly Partition[] {
    return this.#model.weighted(partitions);
  }

  /**
   * Whether a load round is due now (`0`), or in how many milliseconds to look again (Infinity
   * when there is nothing to wait for). A due round is recorded as started.
   */
  check(now: number, inputs: LoadInputs): number {
    const { minRebalanceThreshold, minRebalanceIntervalMs } = this.#config;
    const model = this.#model;
    if (this.#changed) {
      this.#changed = false;
      const value = relativeImbalance(
        inputs.owned(),
        model.weights(inputs.partitions),
        inputs.capacity,
      );
      if (model.due(value, minRebalanceThreshold, now, minRebalanceIntervalMs)) {
        model.rebalanced(now);
        return 0;
      }
    }
    const at = model.dueAt(minRebalanceIntervalMs);
    if (at === undefined) return Number.POSITIVE_INFINITY;
    // Look again when it would be due (a heartbeat also wakes the loop).
    this.#changed = true;
    return Math.max(1, at - now);
  }
}

/**
 * Measured loads are lumpy: after a load round's ring placement, closes the remaining gap by
 * single moves, within what `maxMovesPerRebalance` leaves (a fraction counts as that share of the
 * partitions). Changes `owners` in place.
 *
 * @param owners Owner per partition, as the engine returned it (a copy the caller may change).
 * @param partitions The weighted partitions, in the same order.
 * @param capacity A worker's capacity.
 * @param live The workers that may own partitions.
 * @param cap `maxMovesPerRebalance`.
 * @param moved Moves the placement already made.
 */
export function refineWithinCap(
  owners: string[],
  partitions: readonly Partition[],
  capacity: (workerId: string) => number,
  live: readonly string[],
  cap: number | undefined,
  moved: number,
): void {
  const limit = cap === undefined
    ? partitions.length
    : Math.max(0, (cap >= 1 ? cap : Math.floor(cap * partitions.length)) - moved);
  refineBalance(owners, partitions, capacity, live, limit);
}
