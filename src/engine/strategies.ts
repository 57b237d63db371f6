/**
 * Assignment strategies: descriptors for the built-in algorithms and the shape of a user-supplied
 * strategy function.
 *
 * @module
 */
import { describeLabelsProblem } from "../labels.ts";
import type { Partition } from "../partition.ts";
import type { WorkerInfo } from "./placement.ts";

/** Default number of points each worker gets on the hash ring. */
export const DEFAULT_VIRTUAL_NODES = 150;
/** Default bound on a worker's load, as a multiple of the mean load. */
export const DEFAULT_LOAD_FACTOR = 1;
/** Largest accepted `virtualNodes`. */
export const MAX_VIRTUAL_NODES = 4096;

/** Options of {@link weightedConsistentHash}. */
export interface WeightedConsistentHashOptions {
  /**
   * Points per worker on the hash ring. More points spread the ring walk more evenly. When the
   * workers' capacities differ (`AssignInput.workerInfo`), a worker of capacity `c` has
   * `max(1, round(virtualNodes × c / largest capacity))` points, the first ones of its full set,
   * so partitions land on workers in proportion to their shares.
   * @default {150}
   */
  readonly virtualNodes?: number;
  /**
   * Upper bound on a worker's load as a multiple of the mean load (total weight / workers); at
   * least 1. A partition stays with its previous owner, or goes to the next worker on the ring,
   * only while that worker stays within `loadFactor × mean`. 1 gives the tightest balance and
   * the fewest moves when workers join; larger values keep more partitions on their ring owner
   * (hash affinity) at the price of balance.
   * @default {1}
   */
  readonly loadFactor?: number;
  /**
   * The worker label that partition `locality` values name (e.g. a zone or rack).
   * @default {"zone"}
   */
  readonly spreadBy?: string;
}

/** Options of {@link consistentHash}. */
export interface ConsistentHashOptions {
  /**
   * Points per worker on the hash ring.
   * @default {150}
   */
  readonly virtualNodes?: number;
}

/** Descriptor of the weighted, bounded-load, sticky consistent hash (the default strategy). */
export interface WeightedConsistentHashStrategy {
  /** Strategy discriminator. */
  readonly kind: "weightedConsistentHash";
  /** Points per worker on the ring (of a worker of the largest capacity, when they differ). */
  readonly virtualNodes: number;
  /** Load bound as a multiple of the mean load. */
  readonly loadFactor: number;
  /** The worker label partition localities refer to. */
  readonly spreadBy: string;
}

/** Descriptor of the plain consistent-hash ring (weights ignored for placement). */
export interface ConsistentHashStrategy {
  /** Strategy discriminator. */
  readonly kind: "consistentHash";
  /** Points per worker on the ring. */
  readonly virtualNodes: number;
}

/** Descriptor of round robin over the sorted worker IDs. */
export interface RoundRobinStrategy {
  /** Strategy discriminator. */
  readonly kind: "roundRobin";
}

/** One of the built-in strategies. */
export type BuiltinStrategy =
  | WeightedConsistentHashStrategy
  | ConsistentHashStrategy
  | RoundRobinStrategy;

/** What a user strategy function receives. */
export interface StrategyInput {
  /** Worker IDs, in the order the caller gave them (unique, non-empty). */
  readonly workers: readonly string[];
  /** The validated partitions. */
  readonly partitions: readonly Partition[];
  /** The previous owner of each partition ID, when known. */
  readonly previous: ReadonlyMap<string, string> | undefined;
  /** Capacity, labels and instance of the workers, when given (see `AssignInput.workerInfo`). */
  readonly workerInfo?: ReadonlyMap<string, WorkerInfo> | undefined;
}

/**
 * A user-supplied strategy: returns the owning worker ID of each partition, in input order.
 * The engine checks the result and throws a `StrategyError` when it is malformed.
 */
export type StrategyFunction = (input: StrategyInput) => readonly string[];

/** A built-in strategy descriptor or a user strategy function. */
export type AssignmentStrategy = BuiltinStrategy | StrategyFunction;

function checkVirtualNodes(value: number | undefined): number {
  const v = value ?? DEFAULT_VIRTUAL_NODES;
  if (!Number.isInteger(v) || v < 1 || v > MAX_VIRTUAL_NODES) {
    throw new RangeError(
      `Invalid virtualNodes ${String(value)}: use an integer from 1 to ${MAX_VIRTUAL_NODES}`,
    );
  }
  return v;
}

/**
 * Consistent hashing with bounded loads by weight, sticky to the previous assignment (the default
 * strategy).
 *
 * Partitions are placed heaviest first (ties by partition hash). A partition stays with its
 * previous owner while that owner is alive and holds at most `loadFactor × mean` (its lightest
 * partitions are kept first, so the fewest partitions move). One its live previous owner could not
 * keep goes to the first worker on the ring from its hash that is below its floor (with
 * `loadFactor` 1: the mean less the heaviest partition's weight, so a worker that must gain load,
 * such as one that just joined) and has room for it; else back to its previous owner while that
 * owner is below the bound and stays within 1 % of it (a bound that tightened a little, as when a
 * worker joins a large pool, moves nothing). Any other partition walks the ring from its hash to
 * the first worker that stays within `loadFactor × mean` with it, else to its previous owner if
 * that is still below the bound (which moves nothing), else to the first worker still below that
 * bound, else to the least-loaded worker. No worker ends above `loadFactor × mean` by more than one
 * partition's weight.
 *
 * With worker capacities (`AssignInput.workerInfo`) the mean is each worker's capacity share of
 * the total weight, and a worker's points on the ring are in proportion to its capacity (see
 * `virtualNodes`), so most partitions fit on the worker of their own point.
 *
 * @param options Ring size and load bound.
 * @returns The strategy descriptor.
 * @throws {RangeError} When `virtualNodes` is not an integer in 1..4096 or `loadFactor` is below 1.
 *
 * @example Tighter or looser balance
 * ```ts
 * import { weightedConsistentHash } from "@parti/core/engine";
 * const strict = weightedConsistentHash(); // loadFactor 1: best balance, fewest moves
 * const loose = weightedConsistentHash({ virtualNodes: 200, loadFactor: 1.25 });
 * console.log(strict.loadFactor, loose.virtualNodes);
 * ```
 */
export function weightedConsistentHash(
  options: WeightedConsistentHashOptions = {},
): WeightedConsistentHashStrategy {
  const virtualNodes = checkVirtualNodes(options.virtualNodes);
  const loadFactor = options.loadFactor ?? DEFAULT_LOAD_FACTOR;
  if (typeof loadFactor !== "number" || !Number.isFinite(loadFactor) || loadFactor < 1) {
    throw new RangeError(
      `Invalid loadFactor ${String(options.loadFactor)}: use a finite number of at least 1`,
    );
  }
  const spreadBy = options.spreadBy ?? "zone";
  if (typeof spreadBy !== "string" || describeLabelsProblem({ [spreadBy]: "x" }) !== undefined) {
    throw new RangeError(
      `Invalid spreadBy ${JSON.stringify(options.spreadBy)}: use a label key (e.g. "zone")`,
    );
  }
  return { kind: "weightedConsistentHash", virtualNodes, loadFactor, spreadBy };
}

/**
 * A plain consistent-hash ring: each partition goes to the worker owning the first ring point at or
 * after the partition's hash. Weights and the previous assignment are ignored for placement; balance
 * is whatever the ring gives (about ±35 % at 100 partitions per worker).
 *
 * @param options Ring size.
 * @returns The strategy descriptor.
 * @throws {RangeError} When `virtualNodes` is not an integer in 1..4096.
 *
 * @example
 * ```ts
 * import { consistentHash } from "@parti/core/engine";
 * const strategy = consistentHash({ virtualNodes: 100 });
 * console.log(strategy.kind);
 * ```
 */
export function consistentHash(options: ConsistentHashOptions = {}): ConsistentHashStrategy {
  return { kind: "consistentHash", virtualNodes: checkVirtualNodes(options.virtualNodes) };
}

/**
 * Round robin: partition `i` (input order) goes to worker `i mod n` of the worker IDs sorted in
 * code-unit order. Perfect count balance, no affinity.
 *
 * @returns The strategy descriptor.
 *
 * @example
 * ```ts
 * import { roundRobin } from "@parti/core/engine";
 * console.log(roundRobin().kind); // "roundRobin"
 * ```
 */
export function roundRobin(): RoundRobinStrategy {
  return { kind: "roundRobin" };
}
