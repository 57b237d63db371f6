/**
 * Partitions: the units of work that Parti assigns to workers, their IDs and validation.
 *
 * @module
 */
import { InvalidPartitionError } from "./errors.ts";
import { describeLabelsProblem } from "./labels.ts";

/**
 * A unit of work owned by exactly one worker at a time.
 *
 * @example
 * ```ts
 * import type { Partition } from "@parti/core";
 * const p: Partition = { keys: ["orders", "eu", "0"], weight: 3 };
 * ```
 */
export interface Partition {
  /** Non-empty list of non-empty keys; joined with `/` they form the partition ID. */
  readonly keys: readonly string[];
  /**
   * Relative cost of the partition; must be finite and greater than 0.
   * @default {1}
   */
  readonly weight?: number;
  /**
   * Placement constraint: the partition goes only to workers whose `labels` contain every entry
   * (e.g. `{ pool: "gpu" }`). When no live worker matches, it stays unassigned and is reported
   * (never forced onto another worker). Honoured by `weightedConsistentHash()`.
   */
  readonly selector?: Readonly<Record<string, string>>;
  /**
   * Preferred value of the strategy's `spreadBy` label (default `"zone"`): the partition is placed
   * on a worker with that label value while one has room, and spills elsewhere otherwise (counted
   * in `stats.localityViolations`). Honoured by `weightedConsistentHash()`.
   */
  readonly locality?: string;
  /**
   * Placement priority: higher is placed first, so under shortage (constraints, locality, drains,
   * movement caps) the most important partitions get their place first.
   * @default {0}
   */
  readonly priority?: number;
  /**
   * Pins the partition to one worker, by worker ID or instance name, while that worker is live and
   * not drained; otherwise the partition is placed normally. Honoured by `weightedConsistentHash()`.
   */
  readonly pin?: string;
}

/**
 * Returns the ID of a partition: its keys joined with `/`.
 *
 * @param partition The partition.
 * @returns The partition ID, e.g. `"orders/0"`.
 *
 * @example
 * ```ts
 * import { partitionId } from "@parti/core";
 * partitionId({ keys: ["orders", "0"] }); // "orders/0"
 * ```
 */
export function partitionId(partition: Partition): string {
  return partition.keys.join("/");
}

/**
 * Whether two partitions have equal keys (hence the same ID), compared without building the ID
 * string: the hand-off and the publisher use it to skip the ID look-ups for the part of a worker's
 * list that did not change, which at 100k partitions is most of a rebalance's cost before its
 * first write.
 *
 * @param a One partition.
 * @param b The other.
 * @returns `true` when their keys are equal.
 */
export function sameKeys(a: Partition, b: Partition): boolean {
  if (a === b) return true;
  const ka = a.keys;
  const kb = b.keys;
  if (ka.length !== kb.length) return false;
  for (let k = 0; k < ka.length; k++) if (ka[k] !== kb[k]) return false;
  return true;
}

/**
 * Returns the effective weight of a partition (1 when not set).
 *
 * @param partition The partition.
 * @returns The weight.
 */
export function partitionWeight(partition: Partition): number {
  return partition.weight ?? 1;
}

/**
 * Checks one partition and returns a description of what is wrong, or `undefined` if it is valid.
 *
 * @param partition The value to check (may be anything read from outside).
 * @returns A problem description, or `undefined`.
 */
export function describePartitionProblem(partition: unknown): string | undefined {
  if (typeof partition !== "object" || partition === null) return "is not an object";
  const { keys, weight, selector, locality, priority, pin } = partition as {
    keys?: unknown;
    weight?: unknown;
    selector?: unknown;
    locality?: unknown;
    priority?: unknown;
    pin?: unknown;
  };
  if (!Array.isArray(keys)) return "has no 'keys' array";
  if (keys.length === 0) return "has an empty 'keys' array; give at least one key";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (typeof key !== "string") return `has a non-string key at keys[${i}]`;
    if (key.length === 0) return `has an empty string at keys[${i}]`;
  }
  if (weight !== undefined) {
    if (typeof weight !== "number" || !Number.isFinite(weight) || weight <= 0) {
      return `has weight ${String(weight)}; weight must be a finite number greater than 0`;
    }
  }
  if (selector !== undefined) {
    const problem = describeLabelsProblem(selector);
    if (problem !== undefined) return `has a 'selector' that ${problem}`;
  }
  if (locality !== undefined) {
    const problem = describeLabelsProblem({ locality });
    if (typeof locality !== "string" || locality.length === 0 || problem !== undefined) {
      return `has locality ${JSON.stringify(locality)}; use a non-empty label value`;
    }
  }
  if (priority !== undefined && (typeof priority !== "number" || !Number.isFinite(priority))) {
    return `has priority ${String(priority)}; priority must be a finite number`;
  }
  if (pin !== undefined && (typeof pin !== "string" || pin.length === 0 || pin.length > 256)) {
    return `has pin ${JSON.stringify(pin)}; use a worker ID or instance name`;
  }
  return undefined;
}

/**
 * Validates a list of partitions and throws on the first problem.
 *
 * @param partitions The list to check.
 * @throws {InvalidPartitionError} On a malformed partition or a duplicate ID.
 *
 * @example
 * ```ts
 * import { validatePartitions } from "@parti/core";
 * validatePartitions([{ keys: ["a"] }, { keys: ["b"], weight: 2 }]);
 * ```
 */
export function validatePartitions(partitions: readonly Partition[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < partitions.length; i++) {
    const partition = partitions[i];
    const problem = describePartitionProblem(partition);
    if (problem !== undefined) {
      throw new InvalidPartitionError(i, `Partition at index ${i} ${problem}`);
    }
    const id = partitionId(partition as Partition);
    if (seen.has(id)) {
      throw new InvalidPartitionError(i, `Partition at index ${i} duplicates the ID '${id}'`);
    }
    seen.add(id);
  }
}

/**
 * Splits a list into valid partitions and the problems found, skipping bad and duplicate entries.
 * Used for partitions from a dynamic source, where one bad entry must not drop the rest.
 *
 * @param partitions Values to check.
 * @returns The valid partitions (first occurrence of each ID kept) and one error per skipped entry.
 */
export function sanitizePartitions(
  partitions: readonly unknown[],
): { valid: Partition[]; errors: InvalidPartitionError[] } {
  const valid: Partition[] = [];
  const errors: InvalidPartitionError[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < partitions.length; i++) {
    const partition = partitions[i];
    const problem = describePartitionProblem(partition);
    if (problem !== undefined) {
      errors.push(new InvalidPartitionError(i, `Partition at index ${i} ${problem}; skipped`));
      continue;
    }
    const id = partitionId(partition as Partition);
    if (seen.has(id)) {
      errors.push(
        new InvalidPartitionError(i, `Partition at index ${i} duplicates the ID '${id}'; skipped`),
      );
      continue;
    }
    seen.add(id);
    valid.push(partition as Partition);
  }
  return { valid, errors };
}
