/**
 * The leader's view of the live workers, built from the heartbeat bucket and judged by the
 * leader's own monotonic clock: a worker is alive while a new heartbeat revision has been observed
 * within `heartbeatTtlMs`, and gone at once when its heartbeat key is deleted (graceful stop).
 * Bucket TTL expiry sends no event on NATS 2.9, so deaths are found by a local timer, not by watch.
 *
 * @module
 */
import { toError } from "../errors.ts";
import type { Timers } from "../runtime/timers.ts";
import { decodeHeartbeat, type HeartbeatRecord } from "../protocol/records.ts";
import type { Bucket, KvEntry, KvWatch } from "../store/store.ts";

/** What the leader knows about one worker. */
export interface MemberView {
  /** Worker ID. */
  readonly workerId: string;
  /** Latest heartbeat. */
  readonly heartbeat: HeartbeatRecord;
  /** Local time the latest heartbeat revision was observed. */
  readonly observedAt: number;
}

/** How a worker left. */
export type LeaveReason = "graceful" | "dead";

/** Options of {@link Membership}. */
export interface MembershipOptions {
  /** A worker not observed for this long is dead. */
  readonly heartbeatTtlMs: number;
  /** How often to look for dead workers. */
  readonly checkIntervalMs: number;
  /** Timers on the manager's clock. */
  readonly timers: Timers;
  /** A worker joined. */
  readonly onJoin: (workerId: string) => void;
  /** A worker left. */
  readonly onLeave: (workerId: string, reason: LeaveReason) => void;
  /** A live worker's heartbeat changed (applied version, state, owned partitions). */
  readonly onUpdate: (workerId: string) => void;
  /** Receives malformed heartbeats and watch problems. */
  readonly onError: (error: Error) => void;
}

/** Tracks live workers from heartbeats. */
export class Membership {
  readonly #bucket: Bucket;
  readonly #options: MembershipOptions;
  readonly #members = new Map<string, MemberView & { revision: number }>();
  /** Workers whose latest heartbeat entry is a delete marker. */
  readonly #departed = new Set<string>();
  readonly #abort = new AbortController();
  #watch: KvWatch | undefined;
  #graceUntil = Number.NEGATIVE_INFINITY;
  /** A confirming read of silent members is under way. */
  #confirming = false;
  #resolveReady!: () => void;
  /**
   * Resolves once the heartbeats present when the watch started have all been seen (or the
   * membership stopped): from then on `members()` is the whole pool, not a partial snapshot.
   */
  readonly ready: Promise<void> = new Promise((resolve) => (this.#resolveReady = resolve));

  /**
   * @param bucket The heartbeat bucket.
   * @param options Timing and callbacks.
   */
  constructor(bucket: Bucket, options: MembershipOptions) {
    this.#bucket = bucket;
    this.#options = options;
  }

  /** Starts watching heartbeats. */
  start(): void {
    this.#watch = this.#bucket.watch({
      signal: this.#abort.signal,
      onError: this.#options.onError,
    });
    const watch = this.#watch;
    void watch.initialized.then(this.#resolveReady);
    (async () => {
      for await (const entry of watch) {
        const known = this.#members.get(entry.key);
        if (entry.operation === "delete") {
          this.#departed.add(entry.key);
          if (known) {
            this.#members.delete(entry.key);
            this.#options.onLeave(entry.key, "graceful");
          }
          continue;
        }
        this.#observe(entry);
      }
    })().catch((error) => this.#options.onError(toError(error)));
    this.#options.timers.every(
      this.#options.checkIntervalMs,
      () => this.#expire(),
      { signal: this.#abort.signal, onError: this.#options.onError },
    );
  }

  /** A heartbeat value seen (through the watch or a confirming read): newer revisions only. */
  #observe(entry: KvEntry): void {
    const known = this.#members.get(entry.key);
    if (known && known.revision >= entry.revision) return;
    this.#departed.delete(entry.key);
    let heartbeat: HeartbeatRecord;
    try {
      heartbeat = decodeHeartbeat(this.#bucket.name, entry.key, entry.value);
    } catch (error) {
      this.#options.onError(toError(error));
      return;
    }
    this.#members.set(entry.key, {
      workerId: entry.key,
      heartbeat,
      observedAt: this.#options.timers.now(),
      revision: entry.revision,
    });
    if (!known) this.#options.onJoin(entry.key);
    else this.#options.onUpdate(entry.key);
  }

  #expire(): void {
    const now = this.#options.timers.now();
    if (now < this.#graceUntil || this.#confirming) return;
    const silent = [...this.#members].filter(([, m]) =>
      now - m.observedAt > this.#options.heartbeatTtlMs
    );
    if (silent.length === 0) return;
    // Before declaring anyone dead, read their keys: a watch that lags (a busy leader, a slow
    // consumer) must not make a worker that is renewing look dead, because such a worker never
    // fences itself. A newer revision counts as observed now; only a confirmed silence kills.
    this.#confirming = true;
    void Promise.all(silent.map(async ([id, member]) => {
      let entry: KvEntry | null | undefined;
      try {
        entry = await this.#bucket.get(id);
      } catch {
        entry = undefined; // unreachable: judge by what was observed
      }
      if (this.#abort.signal.aborted || this.#members.get(id) !== member) return;
      if (entry && entry.operation === "put" && entry.revision > member.revision) {
        this.#observe(entry);
        return;
      }
      this.#members.delete(id);
      this.#options.onLeave(id, "dead");
    })).finally(() => (this.#confirming = false));
  }

  /**
   * Treats every known worker as just observed and declares nobody dead for `graceMs`: used when
   * this leader regains coordination, so an outage of its own does not make it evict everyone.
   */
  refreshAll(graceMs: number): void {
    const now = this.#options.timers.now();
    this.#graceUntil = now + graceMs;
    for (const [id, member] of this.#members) this.#members.set(id, { ...member, observedAt: now });
  }

  /** The live workers. */
  members(): MemberView[] {
    return [...this.#members.values()];
  }

  /**
   * Whether the worker's latest heartbeat entry is a deletion: it stopped gracefully (after
   * releasing everything). A key that expired instead leaves no trace, so it does not count.
   */
  hasDeparted(workerId: string): boolean {
    return this.#departed.has(workerId);
  }

  /** One live worker, if known. */
  get(workerId: string): MemberView | undefined {
    return this.#members.get(workerId);
  }

  /** Stops watching. */
  stop(): void {
    this.#resolveReady();
    this.#abort.abort();
    this.#watch?.stop();
  }
}
