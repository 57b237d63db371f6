/**
 * The target of a rebalance round: the engine's placement of the (load-weighted) partitions over
 * the live workers, with the published owners as `previous` so movement stays minimal, refined by
 * single moves in a load round, grouped by owner. Partitions no live worker may own (selectors)
 * come back as `unplaced` and are left out.
 *
 * @module
 */
import type { AssignmentEngine, AssignmentStrategy, WorkerInfo } from "../engine/mod.ts";
import { StrategyError } from "../errors.ts";
import type { Partition } from "../partition.ts";
import { refineWithinCap } from "./load_watch.ts";

/** What {@link computeTarget} places. */
export interface TargetInput {
  readonly engine: AssignmentEngine;
  readonly strategy: AssignmentStrategy;
  /** Workers that may own partitions, sorted. */
  readonly live: readonly string[];
  /** The partition list, as the source gave it. */
  readonly partitions: readonly Partition[];
  /** The same partitions with measured load in their weights (or the list itself). */
  readonly weighted: readonly Partition[];
  /** Partition ID → published owner among the members. */
  readonly previous: ReadonlyMap<string, string>;
  /** Capacity, labels and instance per worker. */
  readonly info: ReadonlyMap<string, WorkerInfo>;
  /** Planned moves this round may start (undefined: no limit). */
  readonly maxMoves: number | undefined;
  /** `maxMovesPerRebalance`, the budget of a load round's refinement. */
  readonly cap: number | undefined;
  /** A load round: close the gap the ring leaves by single moves. */
  readonly refine: boolean;
}

/** The placement a round aims for. */
export interface Target {
  /** Owner → the partitions it should hold. */
  readonly desired: Map<string, Partition[]>;
  /** Planned moves held back by `maxMoves`. */
  readonly movesPending: number;
  /** IDs of the partitions no live worker matches. */
  readonly unplaced: readonly string[];
}

/**
 * Computes the target of a round.
 *
 * @throws {StrategyError} When the strategy (or the engine) fails.
 */
export function computeTarget(input: TargetInput): Target {
  const desired = new Map<string, Partition[]>();
  if (input.live.length === 0 || input.partitions.length === 0) {
    return { desired, movesPending: 0, unplaced: [] };
  }
  let owners: readonly string[];
  let movesPending: number;
  let unplaced: readonly string[];
  try {
    const result = input.engine.assign({
      workers: input.live,
      partitions: input.weighted,
      strategy: input.strategy,
      previous: input.previous,
      workerInfo: input.info,
      maxMoves: input.maxMoves,
    });
    owners = result.owners;
    movesPending = result.stats.movesPending;
    unplaced = result.unplaced;
    if (input.refine && movesPending === 0) {
      const refined = owners.slice();
      const capacity = (id: string) => input.info.get(id)?.capacity ?? 1;
      refineWithinCap(
        refined,
        input.weighted,
        capacity,
        input.live,
        input.cap,
        result.stats.moved,
      );
      owners = refined;
    }
  } catch (error) {
    throw error instanceof StrategyError
      ? error
      : new StrategyError("The assignment strategy failed", { cause: error });
  }
  owners.forEach((owner, i) => {
    if (owner === "") return;
    const list = desired.get(owner) ?? [];
    list.push(input.partitions[i]!);
    desired.set(owner, list);
  });
  return { desired, movesPending, unplaced };
}
