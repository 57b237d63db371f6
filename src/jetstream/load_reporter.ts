/**
 * The consumer's measured load: every `reportLoadEveryMs` it tells the manager how many messages
 * per second each partition it runs has handled since the last report (`Manager.reportLoad`), so
 * a manager with `loadAware` on rebalances by the traffic it sees instead of static weights.
 *
 * @module
 */

/** Where the rates go, and what they are computed from. */
export interface LoadSource {
  /** Handled-message counts of the partitions running now, by partition ID. */
  handled(): Iterable<readonly [string, number]>;
  /** Receives one partition's rate in messages per second. */
  report(partitionId: string, messagesPerSecond: number): void;
}

/** Turns handled-message counts into rates, one report per partition per period. */
export class LoadReporter {
  readonly #source: LoadSource;
  /** Count and time of the last report, per partition. */
  readonly #last = new Map<string, { readonly count: number; readonly at: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** @param source The counts and the sink. */
  constructor(source: LoadSource) {
    this.#source = source;
  }

  /** Reports every `everyMs` on the system clock until {@link LoadReporter.stop}. */
  start(everyMs: number): void {
    this.tick(performance.now());
    this.#timer = setInterval(() => this.tick(performance.now()), everyMs);
  }

  /**
   * One period: a partition seen before gets (handled since) / (seconds since); one seen for the
   * first time is only remembered. Partitions no longer running are forgotten.
   *
   * @param now Milliseconds of a monotonic clock.
   */
  tick(now: number): void {
    const seen = new Set<string>();
    for (const [id, count] of this.#source.handled()) {
      seen.add(id);
      const last = this.#last.get(id);
      this.#last.set(id, { count, at: now });
      if (last === undefined || now <= last.at) continue;
      const rate = Math.max(0, count - last.count) / ((now - last.at) / 1_000);
      this.#source.report(id, rate);
    }
    for (const id of [...this.#last.keys()]) if (!seen.has(id)) this.#last.delete(id);
  }

  /** Stops reporting. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
