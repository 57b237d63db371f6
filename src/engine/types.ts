/**
 * Public types of the assignment engine.
 *
 * @module
 */
import type { Partition } from "../partition.ts";
import type { AssignmentStrategy } from "./strategies.ts";
import type { WorkerInfo } from "./placement.ts";

/** Options of `createAssignmentEngine`. */
export interface CreateAssignmentEngineOptions {
  /**
   * Which implementation to use: `"wasm"` (fails when WebAssembly cannot be instantiated), `"ts"`
   * (pure TypeScript), or `"auto"` (WebAssembly, falling back to TypeScript).
   * @default {"auto"}
   */
  readonly backend?: "auto" | "wasm" | "ts";
  /**
   * A precompiled kernel module, for runtimes that forbid compiling WebAssembly from bytes at run
   * time: write `assignmentKernelBytes()` to a `.wasm` file at build time, import it as a module
   * the way the runtime prescribes, and pass it here.
   */
  readonly module?: WebAssembly.Module;
  /**
   * With `backend: "auto"`: called when WebAssembly could not be used and the TypeScript backend
   * (same results, 3–4× slower) was chosen instead, with the reason.
   */
  readonly onFallback?: (error: Error) => void;
}

/** Input of {@link AssignmentEngine.assign}. */
export interface AssignInput {
  /** Worker IDs (unique, non-empty strings; order does not matter). */
  readonly workers: readonly string[];
  /**
   * Partitions to assign. Treat them as immutable: the engine caches their hashes keyed by the
   * array and its elements' identity, so passing the same array again re-hashes nothing.
   */
  readonly partitions: readonly Partition[];
  /**
   * The strategy.
   * @default {weightedConsistentHash()}
   */
  readonly strategy?: AssignmentStrategy;
  /**
   * The previous owner of each partition ID. Partitions stay put where the strategy allows it, and
   * `stats.moved` / `stats.minimalMoves` are measured against it. Passing a previous result's
   * `assignment` is fastest (no string look-ups).
   */
  readonly previous?: ReadonlyMap<string, string> | undefined;
  /**
   * Capacity, labels and instance name of the workers (by worker ID; a worker absent from the map
   * has capacity 1 and no labels). `weightedConsistentHash()` gives each worker a share of the
   * total weight proportional to its capacity and matches partition selectors, localities and
   * pins against it; the other built-in strategies ignore it.
   */
  readonly workerInfo?: ReadonlyMap<string, WorkerInfo> | undefined;
  /**
   * Movement throttling: at most this many partitions change owner (an integer; 0 = none), or at
   * most this fraction of the total weight (a number in (0, 1)); the other planned moves stay with their
   * previous owner for a later call (`stats.movesPending`). Partitions whose owner left, new
   * partitions and partitions whose owner may no longer hold them always move. Needs `previous`.
   */
  readonly maxMoves?: number | undefined;
}

/** Quality of an assignment. */
export interface AssignmentStats {
  /** Largest total partition weight held by one worker. */
  readonly maxLoad: number;
  /** Total partition weight divided by the number of workers. */
  readonly meanLoad: number;
  /** Partitions present in `previous` whose owner changed (including owners that left). */
  readonly moved: number;
  /**
   * A lower bound on the partitions that must change owner to reach a balanced assignment, counted
   * over partitions present in `previous` (0 without it). It is the larger of:
   * - shedding: partitions whose previous owner left, plus, for each remaining worker, the
   *   partitions it must give up to stay below its fair share `loadFactor × meanLoad` before its
   *   last partition (keeping its lightest partitions, which needs the fewest moves);
   * - filling (only when `loadFactor` is 1, the default): the partitions needed to bring every
   *   worker to at least `meanLoad − heaviest weight`, each bringing at most the heaviest weight,
   *   minus the partitions that are new (absent from `previous`) and can fill workers for free.
   *
   * Strategies without a load factor use 1. Compare `moved` with it: the default strategy stays
   * close to it (≤ 1.15×) when one worker joins or leaves.
   */
  readonly minimalMoves: number;
  /**
   * Largest load of a worker divided by its fair share (its capacity's share of the total weight);
   * 1 is a perfect balance.
   */
  readonly maxRelativeLoad: number;
  /** Partitions left without an owner because no live worker matches their `selector`. */
  readonly unplaced: number;
  /** Placed partitions with a `locality` whose owner lacks it (spilled for want of room). */
  readonly localityViolations: number;
  /** Planned moves held back by `maxMoves` (0 without it). */
  readonly movesPending: number;
}

/** Output of {@link AssignmentEngine.assign}. */
export interface AssignmentResult {
  /**
   * The owning worker ID of each input partition, in input order. Built on first read (the result
   * keeps one owner slot number per partition until then), so a caller that only needs
   * `assignment` or `stats` does not pay for an array of strings.
   */
  readonly owners: string[];
  /**
   * IDs of the partitions left without an owner (their `owners` entry is `""`, and `assignment`
   * leaves them out): no live worker matches their `selector`. Empty in the common case.
   */
  readonly unplaced: readonly string[];
  /** Load and movement statistics. */
  readonly stats: AssignmentStats;
  /**
   * The same assignment as a map from partition ID to worker ID, built on first read. Pass it as
   * `previous` of the next call for the fastest recalculation.
   */
  readonly assignment: ReadonlyMap<string, string>;
}

/** Assigns partitions to workers; keeps hash caches between calls. */
export interface AssignmentEngine {
  /** The implementation in use. */
  readonly backend: "wasm" | "ts";
  /**
   * Computes an assignment.
   *
   * @param input Workers, partitions, strategy and previous assignment.
   * @returns The owner of each partition and statistics.
   */
  assign(input: AssignInput): AssignmentResult;
}
