/**
 * Leader election by lease, judged by locally observed time (as Kubernetes' leader election does):
 * a follower takes over only after it has observed no new revision of the lease for the whole lease
 * duration by its own monotonic clock, with compare-and-set on the revision it last saw (exactly one
 * wins). The leader renews by compare-and-set every lease/3, each renewal bounded by what is left
 * of its renew deadline (2/3 of the lease); it steps down at once when a renewal conflicts, and at
 * the renew deadline by its own timer whatever request is still in flight. No decision compares
 * timestamps written by two machines, so clock skew has no effect.
 *
 * A new term is numbered one above the highest epoch known: seen in the lease, or `minEpoch` (the
 * held assignment, the last publication). An epoch above `MAX_COUNTER` (2^52) never counts: the
 * lease decoder rejects it, so a forged lease is reported once and taken over after a lease like
 * any foreign value. An epoch of exactly 2^52 is well-formed but has no successor a record could
 * carry: it is reported once and skipped. Every epoch below the ceiling is counted, so the new term
 * still fences every earlier one a worker may hold, unless that worker took a key forged at or just
 * below the ceiling, which, like any well-formed forgery, can mislead it.
 *
 * @module
 */
import {
  followerCheckIntervalMs,
  leaseRenewDeadlineMs,
  leaseRenewIntervalMs,
  retryDelayMs,
} from "../runtime/cadence.ts";
import { FailureStreak } from "../runtime/retry.ts";
import type { Timers } from "../runtime/timers.ts";
import {
  MalformedDataError,
  OperationTimeoutError,
  RevisionConflictError,
  toError,
} from "../errors.ts";
import { LEADER_KEY } from "../protocol/keys.ts";
import { decodeLeader, encode, type LeaderRecord, MAX_COUNTER } from "../protocol/records.ts";
import type { Bucket, KvWatch } from "../store/store.ts";
import { Signal } from "../runtime/signal.ts";

/** Options of {@link LeaderElection}. */
export interface ElectionOptions {
  /** This worker's ID. */
  readonly workerId: string;
  /** This process's instance. */
  readonly instance: string;
  /** This manager's nonce. */
  readonly nonce: string;
  /** Lease duration in milliseconds. */
  readonly leaseMs: number;
  /** Timers on the manager's clock. */
  readonly timers: Timers;
  /**
   * Highest epoch known from durable state (the assignment it holds, the last publication), so a
   * new term is numbered above every earlier one even when the lease key itself expired.
   */
  readonly minEpoch: () => Promise<number>;
  /** Called when leadership is gained or lost. */
  readonly onChange: (isLeader: boolean, epoch: number) => void;
  /** Receives recoverable problems. */
  readonly onError: (error: Error) => void;
  /** Random numbers in [0, 1) for the jitter of the back-off. @default {Math.random} */
  readonly random?: () => number;
  /**
   * Renew a lease just won before acting on it (see `#confirm`): for stores whose
   * compare-and-set is not serializable under concurrent writers (replicated NATS KV).
   *
   * @default {false}
   */
  readonly confirmWins?: boolean;
}

interface Observation {
  readonly revision: number;
  readonly record: LeaderRecord | undefined; // undefined: deleted, absent or foreign
  readonly deleted: boolean;
  readonly at: number;
}

/** Takes part in the election of one group. */
export class LeaderElection {
  readonly #bucket: Bucket;
  readonly #options: ElectionOptions;
  readonly #wake = new Signal();
  readonly #abort = new AbortController();
  #watch: KvWatch | undefined;
  #loop: Promise<void> | undefined;
  #observed: Observation | undefined;
  #maxEpochSeen = 0;
  /** Sources of an epoch at MAX_COUNTER already reported (once each). */
  readonly #ceilingReported = new Set<string>();
  #leading = false;
  #epoch = 0;
  #revision = 0;
  #lastRenewStart = Number.NEGATIVE_INFINITY;
  /** While its requests fail, a follower takes a lapsed lease over only after its back-off. */
  #takeOverAfter = Number.NEGATIVE_INFINITY;
  readonly #random: () => number;
  #cancelStepDown: () => void = () => {};

  /**
   * @param bucket The leader bucket.
   * @param options Identity, lease and callbacks.
   */
  constructor(bucket: Bucket, options: ElectionOptions) {
    this.#bucket = bucket;
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** Whether this worker currently holds a valid lease. */
  get isLeader(): boolean {
    return this.#leading && this.leaseValid();
  }

  /** The epoch of this worker's leadership (0 when not leader). */
  get epoch(): number {
    return this.#leading ? this.#epoch : 0;
  }

  /** The leader this worker last observed (itself included). */
  get observedLeader(): LeaderRecord | undefined {
    return this.#observed?.record;
  }

  /** Highest epoch observed in the lease so far, below MAX_COUNTER (a new term goes above it). */
  get maxEpochSeen(): number {
    return this.#maxEpochSeen;
  }

  /** Whether the last successful renewal is recent enough to act as leader. */
  leaseValid(): boolean {
    return this.#leading &&
      this.#options.timers.now() - this.#lastRenewStart < this.#renewDeadline();
  }

  #renewDeadline(): number {
    return leaseRenewDeadlineMs({ electionLeaseMs: this.#options.leaseMs });
  }

  /** Starts watching the lease and campaigning. */
  start(): void {
    this.#watch = this.#bucket.watch({
      key: LEADER_KEY,
      signal: this.#abort.signal,
      onError: this.#options.onError,
    });
    const watch = this.#watch;
    (async () => {
      for await (const entry of watch) {
        const record = entry.operation === "put" ? this.#decode(entry.value) : undefined;
        this.#observe(
          entry.revision,
          record,
          entry.operation === "delete" || record?.released === true,
        );
        // Our own renewals come back through the watch too (possibly before update() resolves);
        // only a write by someone else, or a deletion, ends our term early.
        const foreign = entry.operation === "delete" || record?.nonce !== this.#options.nonce;
        if (this.#leading && foreign && entry.revision > this.#revision) this.#stepDown();
        this.#wake.notify();
      }
    })().catch((error) => this.#options.onError(toError(error)));
    this.#loop = this.#run();
  }

  #observe(revision: number, record: LeaderRecord | undefined, deleted = false): void {
    const previous = this.#observed;
    if (previous && revision !== 0 && previous.revision >= revision) return;
    if (previous && previous.revision === revision && previous.deleted === deleted) return;
    this.#observed = { revision, record, deleted, at: this.#options.timers.now() };
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const lease = { electionLeaseMs: this.#options.leaseMs };
    const renewEvery = leaseRenewIntervalMs(lease);
    const timers = this.#options.timers;
    let failures = 0;
    const streak = new FailureStreak();
    while (!signal.aborted) {
      // A follower backing off after failed requests waits it out even when a watch event wakes
      // it, unless the lease was deleted or released (taken at once).
      const backingOff = !this.#leading && timers.now() < this.#takeOverAfter &&
        !(this.#observed?.deleted ?? false);
      let failed = false;
      if (!backingOff) {
        try {
          if (!this.#leading) await this.#campaign();
          else if (timers.now() - this.#lastRenewStart >= renewEvery) await this.#renew();
          failures = 0;
          streak.end();
          this.#takeOverAfter = Number.NEGATIVE_INFINITY;
        } catch (thrown) {
          const error = toError(thrown);
          // One report per failing streak and cause, not one per attempt.
          if (streak.isNew(error)) this.#options.onError(error);
          failures++;
          failed = true;
        }
      }
      if (this.#leading && !this.leaseValid()) this.#stepDown();
      // A leader wakes only when its renewal is due (its own renewals also arrive as watch
      // events), or after a back-off when renewing failed, but never later than its renew
      // deadline; a follower wakes on every change of the lease so a deletion is acted on at once,
      // and otherwise at its check interval, or after a back-off (at most half a lease) while its
      // requests fail: an outage must not turn every follower into a busy loop.
      let period = followerCheckIntervalMs(lease);
      if (!this.#leading && failed) {
        // Jittered ("equal jitter"): after an outage every follower's requests start working at
        // the same instant, and every watch wakes its follower at once; taking over in step,
        // with the same expected revision, is exactly what a clustered nats-server before 2.9.21
        // may accept more than once (nats-server#4320: the check was not part of consensus).
        const backoff = Math.min(retryDelayMs(failures - 1), this.#options.leaseMs / 2);
        const delay = backoff / 2 + this.#random() * (backoff / 2);
        this.#takeOverAfter = timers.now() + delay;
        period = Math.max(period, delay);
      } else if (backingOff) {
        period = Math.max(1, this.#takeOverAfter - timers.now());
      }
      if (this.#leading) {
        const now = timers.now();
        period = failures === 0 ? this.#lastRenewStart + renewEvery - now : Math.min(
          retryDelayMs(failures - 1),
          this.#lastRenewStart + this.#renewDeadline() - now,
        );
        period = Math.max(1, period);
      }
      await timers.waitFor(this.#wake, period, signal);
    }
  }

  async #campaign(): Promise<void> {
    if (this.#observed === undefined) {
      await this.#refresh();
      // A lease that exists gets a full lease of observation before anyone may take it over.
      if (!(this.#observed as Observation | undefined)?.deleted) return;
    }
    const observed = this.#observed!;
    if (!observed.deleted && this.#options.timers.now() - observed.at < this.#options.leaseMs) {
      return;
    }
    const durable = this.#countable(await this.#options.minEpoch(), "minEpoch");
    const epoch = Math.max(this.#maxEpochSeen, durable) + 1;
    if (observed.deleted) {
      // Released by a resigning leader (a record that keeps its epoch: take it by CAS), or
      // deleted or absent (create succeeds only if nobody was faster).
      if (observed.record?.released) await this.#takeOver(observed.revision, epoch);
      else await this.#tryCreate(epoch);
      return;
    }
    // No renewal observed for a whole lease: take over by CAS on the revision last seen (a
    // foreign value is replaced the same way). An expired key makes the CAS fail; the refresh that
    // follows then observes it as absent and the next round creates it.
    await this.#takeOver(observed.revision, epoch);
  }

  async #tryCreate(epoch: number): Promise<void> {
    const start = this.#options.timers.now();
    try {
      const revision = await this.#bucket.create(LEADER_KEY, encode(this.#record(epoch)));
      this.#becomeLeader(await this.#confirm(revision, epoch), epoch, start);
    } catch (error) {
      if (!(error instanceof RevisionConflictError)) throw error;
      await this.#refresh();
    }
  }

  async #takeOver(revision: number, epoch: number): Promise<void> {
    const start = this.#options.timers.now();
    try {
      const next = await this.#bucket.update(LEADER_KEY, encode(this.#record(epoch)), revision);
      this.#becomeLeader(await this.#confirm(next, epoch), epoch, start);
    } catch (error) {
      if (!(error instanceof RevisionConflictError)) throw error;
      await this.#refresh();
    }
  }

  /**
   * With `confirmWins`, renews a lease just won before acting on it: a compare-and-set on the
   * revision it was won at succeeds only if no other candidate's write landed after it. A
   * clustered nats-server before 2.9.21 may accept several compare-and-sets that expect the same
   * revision when they are in flight together (nats-server#4320; after an outage, requests that
   * waited for a stream leader are processed together), and only the last one applied holds the
   * key: every earlier "winner" fails here and never leads.
   *
   * @throws {RevisionConflictError} When another write landed after the win.
   */
  async #confirm(revision: number, epoch: number): Promise<number> {
    if (!this.#options.confirmWins) return revision;
    return await this.#bucket.update(LEADER_KEY, encode(this.#record(epoch)), revision);
  }

  async #refresh(): Promise<void> {
    const entry = await this.#bucket.get(LEADER_KEY);
    if (!entry) {
      this.#observe(0, undefined, true);
      return;
    }
    const record = this.#decode(entry.value);
    this.#observe(entry.revision, record, record?.released === true);
  }

  /** Decodes a lease value (foreign data is reported and reads as `undefined`). */
  #decode(value: Uint8Array): LeaderRecord | undefined {
    try {
      const record = decodeLeader(this.#bucket.name, LEADER_KEY, value);
      this.#maxEpochSeen = Math.max(this.#maxEpochSeen, this.#countable(record.epoch, "lease"));
      return record;
    } catch (error) {
      this.#options.onError(toError(error));
      return undefined;
    }
  }

  /**
   * An epoch a new term may be numbered above: itself, or 0 for one at MAX_COUNTER (no successor
   * a record could carry), reported once per source.
   */
  #countable(epoch: number, source: "lease" | "minEpoch"): number {
    if (epoch < MAX_COUNTER) return epoch;
    if (!this.#ceilingReported.has(source)) {
      this.#ceilingReported.add(source);
      const where = source === "lease"
        ? "in the lease"
        : "outside the lease (the held assignment or the last publication)";
      this.#options.onError(
        new MalformedDataError(
          this.#bucket.name,
          LEADER_KEY,
          `epoch ${epoch} ${where} is 2^52, the largest a record may carry, and has no ` +
            "successor; new terms are numbered from the highest epoch below it",
        ),
      );
    }
    return 0;
  }

  async #renew(): Promise<void> {
    const timers = this.#options.timers;
    const start = timers.now();
    // A renewal that lands after the renew deadline is of no use: bound it by what is left.
    const left = this.#lastRenewStart + this.#renewDeadline() - start;
    try {
      this.#revision = await timers.deadline(
        this.#bucket.update(LEADER_KEY, encode(this.#record(this.#epoch)), this.#revision),
        Math.max(1, left),
        {
          onTimeout: () =>
            new OperationTimeoutError(
              `Lease renewal did not answer within the ${Math.max(0, Math.round(left))} ms left`,
            ),
        },
      );
      this.#lastRenewStart = start;
      this.#armStepDown();
    } catch (error) {
      if (error instanceof RevisionConflictError) {
        this.#stepDown();
        await this.#refresh();
        return;
      }
      throw error;
    }
  }

  #record(epoch: number): LeaderRecord {
    const { workerId, instance, nonce, leaseMs } = this.#options;
    return { workerId, instance, nonce, epoch, leaseMs };
  }

  #becomeLeader(revision: number, epoch: number, start: number): void {
    this.#revision = revision;
    this.#epoch = epoch;
    this.#lastRenewStart = start;
    this.#maxEpochSeen = Math.max(this.#maxEpochSeen, this.#countable(epoch, "lease"));
    this.#observe(revision, this.#record(epoch));
    if (!this.#leading) {
      this.#leading = true;
      this.#options.onChange(true, epoch);
    }
    this.#armStepDown();
  }

  /**
   * Steps down at the renew deadline by this leader's own timer, whatever request is in flight:
   * a leader cut off by a silent partition knows it lost at once, not when its request times out.
   */
  #armStepDown(): void {
    this.#cancelStepDown();
    const at = this.#lastRenewStart + this.#renewDeadline();
    this.#cancelStepDown = this.#options.timers.setTimeout(() => {
      if (this.#leading && !this.leaseValid()) {
        this.#stepDown();
        this.#wake.notify();
      }
    }, at - this.#options.timers.now());
  }

  #stepDown(): void {
    this.#cancelStepDown();
    if (!this.#leading) return;
    this.#leading = false;
    this.#options.onChange(false, this.#epoch);
  }

  /**
   * Stops campaigning. A leader marks the lease released (keeping its epoch) so a follower takes
   * over at once and numbers its term above this one.
   */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#watch?.stop();
    await this.#loop?.catch(() => {});
    if (this.#leading) {
      const revision = this.#revision;
      const record = { ...this.#record(this.#epoch), released: true };
      this.#stepDown();
      try {
        await this.#bucket.update(LEADER_KEY, encode(record), revision);
      } catch (error) {
        if (!(error instanceof RevisionConflictError)) this.#options.onError(toError(error));
      }
    }
  }
}
