/**
 * Reading the partition source on the leader: a static list or a {@link PartitionSource} bounded
 * by `operationTimeoutMs` and by the term's stop, validated entry by entry. A source that fails
 * keeps the last good list (a flaky source must not unassign everything). {@link PartitionList}
 * holds that list and when to read it again (`partitionRefreshIntervalMs`, or on request).
 *
 * @module
 */
import type { ResolvedConfig } from "../config.ts";
import { PartitionSourceError } from "../errors.ts";
import { type Partition, partitionId, sanitizePartitions } from "../partition.ts";
import { Signal } from "../runtime/signal.ts";
import type { Timers } from "../runtime/timers.ts";
import type { PartitionSource } from "../types.ts";

/**
 * Reads the configured source once.
 *
 * @param config The resolved configuration (`source`, `operationTimeoutMs`).
 * @param timers The manager's timers.
 * @param signal Aborted when the leadership term ends.
 * @param onError Receives the source's failure and every invalid entry, once each.
 * @returns The valid partitions, or undefined when the source failed (keep the last good list).
 */
export async function readPartitions(
  config: ResolvedConfig,
  timers: Timers,
  signal: AbortSignal,
  onError: (error: Error) => void,
): Promise<readonly Partition[] | undefined> {
  let list: readonly unknown[];
  // A static list was validated when the manager was constructed (`resolveConfig`) and is not
  // changed afterwards: read as it is, the same array every term (no 100k-entry pass per read,
  // and the engine's per-list cache of partition IDs stays valid).
  if (Array.isArray(config.source)) return config.source;
  else {
    const ms = config.operationTimeoutMs;
    try {
      // Bounded, so a source that hangs (and ignores its signal) can neither stall the leader
      // nor delay `stop()`.
      list = await timers.deadline(
        (config.source as PartitionSource).listPartitions(signal),
        ms,
        { signal, onTimeout: () => new Error(`listPartitions() did not answer within ${ms} ms`) },
      );
      if (!Array.isArray(list)) throw new TypeError("listPartitions() did not return an array");
    } catch (cause) {
      const message = "Partition source failed; keeping the last good partition list";
      onError(new PartitionSourceError(message, { cause }));
      return undefined;
    }
  }
  const { valid, errors } = sanitizePartitions(list);
  for (const error of errors) onError(error);
  return valid;
}

/** Whether two partition lists are the same, in order, weight and placement metadata. */
export function samePartitions(a: readonly Partition[], b: readonly Partition[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (partitionId(x) !== partitionId(y) || (x.weight ?? 1) !== (y.weight ?? 1)) return false;
    if (x.priority !== y.priority || x.pin !== y.pin || x.locality !== y.locality) return false;
    if (JSON.stringify(x.selector) !== JSON.stringify(y.selector)) return false;
  }
  return true;
}

/** The leader's partition list: the last good one, and when to read the source again. */
export class PartitionList {
  readonly #config: ResolvedConfig;
  readonly #timers: Timers;
  readonly #signal: AbortSignal;
  readonly #onError: (error: Error) => void;
  readonly #refreshed = new Signal();
  #partitions: readonly Partition[] = [];
  #requested = true;
  #nextAt = Number.POSITIVE_INFINITY;

  /**
   * @param config The resolved configuration.
   * @param timers The manager's timers.
   * @param signal Aborted when the leadership term ends.
   * @param onError Receives the source's failures and invalid entries.
   */
  constructor(
    config: ResolvedConfig,
    timers: Timers,
    signal: AbortSignal,
    onError: (error: Error) => void,
  ) {
    this.#config = config;
    this.#timers = timers;
    this.#signal = signal;
    this.#onError = onError;
    this.#schedule();
  }

  /** The last good list (empty before the first read). */
  get current(): readonly Partition[] {
    return this.#partitions;
  }

  /** Asks for a read on the next round; resolves once it was read (or failed and was reported). */
  request(): Promise<void> {
    this.#requested = true;
    return this.#refreshed.wait();
  }

  /** Milliseconds until a read is due (0: now; Infinity: only on request). */
  dueInMs(now: number): number {
    if (this.#requested) return 0;
    return Math.max(0, this.#nextAt - now);
  }

  /**
   * Reads the source and keeps the result when it is valid.
   *
   * @returns Whether the list changed, or undefined when the source failed.
   */
  async read(): Promise<{ readonly changed: boolean } | undefined> {
    this.#requested = false;
    this.#schedule();
    try {
      const valid = await readPartitions(this.#config, this.#timers, this.#signal, this.#onError);
      if (valid === undefined) return undefined;
      const changed = !samePartitions(this.#partitions, valid);
      this.#partitions = valid;
      return { changed };
    } finally {
      this.#refreshed.notify();
    }
  }

  #schedule(): void {
    const every = this.#config.partitionRefreshIntervalMs;
    if (every > 0) this.#nextAt = this.#timers.now() + every;
  }
}
