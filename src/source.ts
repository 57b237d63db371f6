/**
 * Partition sources: where the leader reads the list of partitions from.
 *
 * @module
 */
import { type Partition, validatePartitions } from "./partition.ts";
import type { PartitionSource } from "./types.ts";

/**
 * A source holding a list in memory; `update()` replaces it. Call `manager.refreshPartitions()`
 * after updating (or set `partitionRefreshIntervalMs`) so the leader reads the new list.
 *
 * @example
 * ```ts
 * import { StaticSource } from "@parti/core";
 * const source = new StaticSource([{ keys: ["a"] }]);
 * source.update([{ keys: ["a"] }, { keys: ["b"], weight: 2 }]);
 * console.log((await source.listPartitions()).length); // 2
 * ```
 */
export class StaticSource implements PartitionSource {
  #partitions: readonly Partition[];

  /**
   * Creates a source holding `partitions`.
   *
   * @param partitions The initial list.
   * @throws {InvalidPartitionError} On a malformed or duplicate partition.
   */
  constructor(partitions: readonly Partition[] = []) {
    validatePartitions(partitions);
    this.#partitions = [...partitions];
  }

  /** The current list. */
  get partitions(): readonly Partition[] {
    return this.#partitions;
  }

  /**
   * Replaces the list.
   *
   * @param partitions The new list.
   * @throws {InvalidPartitionError} On a malformed or duplicate partition (the old list stays).
   */
  update(partitions: readonly Partition[]): void {
    validatePartitions(partitions);
    this.#partitions = [...partitions];
  }

  /** Returns the current list. */
  listPartitions(): Promise<Partition[]> {
    return Promise.resolve([...this.#partitions]);
  }
}

/** Options of {@link PollingSource}. */
export interface PollingSourceOptions {
  /**
   * A list younger than this is served from the cache instead of calling the inner source.
   * @default {5000}
   */
  readonly maxAgeMs?: number;
  /** Monotonic time source (tests). */
  readonly now?: () => number;
}

/**
 * Wraps a slow or flaky source: serves a cached list for `maxAgeMs`, and when the inner source
 * fails after a successful read, serves the last good list (the error is still thrown once the
 * cache is older than three times `maxAgeMs`, so a source that is down for long is noticed).
 *
 * @example
 * ```ts ignore
 * import { PollingSource } from "@parti/core";
 * const source = new PollingSource({
 *   listPartitions: async () => (await fetch("https://inventory/tenants")).json(),
 * }, { maxAgeMs: 10_000 });
 * ```
 */
export class PollingSource implements PartitionSource {
  readonly #inner: PartitionSource;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #cached: Partition[] | undefined;
  #at = Number.NEGATIVE_INFINITY;

  /**
   * Wraps `inner` with a cache.
   *
   * @param inner The source to poll.
   * @param options Cache age.
   */
  constructor(inner: PartitionSource, options: PollingSourceOptions = {}) {
    if (typeof inner?.listPartitions !== "function") {
      throw new TypeError("PollingSource needs a source with a listPartitions() method");
    }
    const maxAgeMs = options.maxAgeMs ?? 5_000;
    if (!Number.isFinite(maxAgeMs) || maxAgeMs < 0) {
      throw new RangeError(`PollingSource maxAgeMs must be 0 or more, got ${maxAgeMs}`);
    }
    this.#inner = inner;
    this.#maxAgeMs = maxAgeMs;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Returns the cached list, or reads the inner source when the cache is too old. */
  async listPartitions(signal?: AbortSignal): Promise<Partition[]> {
    const now = this.#now();
    if (this.#cached && now - this.#at < this.#maxAgeMs) return [...this.#cached];
    try {
      this.#cached = await this.#inner.listPartitions(signal);
      this.#at = now;
      return [...this.#cached];
    } catch (error) {
      if (this.#cached && now - this.#at < 3 * this.#maxAgeMs) return [...this.#cached];
      throw error;
    }
  }
}
