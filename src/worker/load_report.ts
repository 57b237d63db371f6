/**
 * The worker's measured load per owned partition (load-aware rebalancing): the application reports
 * values with `manager.reportLoad()`, and each heartbeat carries a bounded digest of them (the
 * heaviest partitions exactly, the rest as a sum), so a heartbeat stays small however many
 * partitions the worker owns.
 *
 * @module
 */
import type { LoadDigest } from "../protocol/records.ts";

/** Latest reported load of each owned partition. */
export class LoadReport {
  readonly #values = new Map<string, number>();
  readonly #size: number;

  /** @param digestSize Most partitions a digest names. */
  constructor(digestSize: number) {
    this.#size = digestSize;
  }

  /**
   * Records the load of a partition; a later report replaces it.
   *
   * @throws {RangeError} When the value is not a finite number of at least 0.
   */
  report(id: string, value: number): void {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `Invalid load ${String(value)} for partition '${id}': use a finite number of at least 0`,
      );
    }
    this.#values.set(id, value);
  }

  /**
   * The digest of the reports for the partitions the worker owns now (reports of partitions it no
   * longer owns are dropped), or undefined when there is none.
   */
  digest(owned: readonly string[]): LoadDigest | undefined {
    if (this.#values.size === 0) return undefined;
    const ownedSet = new Set(owned);
    const entries: [string, number][] = [];
    for (const [id, v] of this.#values) {
      if (ownedSet.has(id)) entries.push([id, v]);
      else this.#values.delete(id);
    }
    if (entries.length === 0) return undefined;
    entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const top = entries.slice(0, this.#size);
    let restSum = 0;
    for (let i = this.#size; i < entries.length; i++) restSum += entries[i]![1];
    return { top, restSum, restCount: Math.max(0, entries.length - this.#size) };
  }
}

/**
 * Checks a reported load value.
 *
 * @returns The value.
 * @throws {RangeError} When it is not a finite number of at least 0.
 */
export function checkLoad(id: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Invalid load ${String(value)} for partition '${id}': use a finite number of at least 0`,
    );
  }
  return value;
}
