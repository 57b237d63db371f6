/**
 * The heartbeat loop: every `heartbeatIntervalMs` (or half the fence deadline when that is
 * shorter, see `heartbeatPeriodMs`; or sooner when woken, e.g. after an assignment was
 * acknowledged) it renews the worker's ID claim by compare-and-set and puts its heartbeat record.
 * It remembers when the last successful round started, and a separate check on its own timer
 * applies the fence (`fencing.ts`) even while a request hangs: a heartbeat request can take up to
 * `operationTimeoutMs`, longer than the fence deadline. A failing streak is reported once;
 * losing the ID to another process ends the loop.
 *
 * @module
 */
import { RevisionConflictError, toError } from "../errors.ts";
import { encode, type HeartbeatRecord } from "../protocol/records.ts";
import { fenceCheckIntervalMs, heartbeatPeriodMs } from "../runtime/cadence.ts";
import { Signal } from "../runtime/signal.ts";
import type { Timers } from "../runtime/timers.ts";
import type { Bucket } from "../store/store.ts";
import { decide, type FenceConfig, type FenceDecision } from "./fencing.ts";
import type { StableId } from "./stable_id.ts";

/** Options of {@link Heartbeat}. */
export interface HeartbeatOptions {
  /** The heartbeat bucket. */
  readonly bucket: Bucket;
  /** The claimed ID, renewed with every beat. */
  readonly stableId: StableId;
  /** This worker's ID. */
  readonly workerId: string;
  /** Heartbeat timing and `onCoordinationLoss`. */
  readonly config: FenceConfig;
  /** Timers on the manager's clock. */
  readonly timers: Timers;
  /** The record to put, read at every beat. */
  readonly record: () => HeartbeatRecord;
  /** Called on every fence check with its decision (and after every round). */
  readonly onFenceCheck: (decision: FenceDecision) => void;
  /** A round succeeded. */
  readonly onSuccess: () => void;
  /** A round failed; `firstOfStreak` is true for the first failure after a success. */
  readonly onFailure: (error: Error, firstOfStreak: boolean) => void;
  /** The first success after a failing streak (read the assignment key in case the watch missed it). */
  readonly onRecovered: () => Promise<void>;
  /** Another process holds the ID now; the loop has ended. */
  readonly onLostId: (error: RevisionConflictError) => void;
}

/** One worker's heartbeat. */
export class Heartbeat {
  readonly #o: HeartbeatOptions;
  readonly #wake = new Signal();
  readonly #abort = new AbortController();
  #lastRenewedAt = Number.NEGATIVE_INFINITY;
  #loop: Promise<void> | null = null;

  /** @param options Bucket, ID, timing and callbacks. */
  constructor(options: HeartbeatOptions) {
    this.#o = options;
  }

  /** When the last successful round started (`-Infinity` before the first). */
  get lastRenewedAt(): number {
    return this.#lastRenewedAt;
  }

  /** The fence's decision now. */
  check(): FenceDecision {
    return decide(this.#lastRenewedAt, this.#o.timers.now(), this.#o.config);
  }

  /**
   * One round: renew the ID, then put the heartbeat.
   *
   * @throws The store's error; {@link RevisionConflictError} when the ID was lost.
   */
  async beat(): Promise<void> {
    const start = this.#o.timers.now();
    await this.#o.stableId.renew();
    await this.#o.bucket.put(this.#o.workerId, encode(this.#o.record()));
    this.#lastRenewedAt = start;
  }

  /** Starts the loop (after a first successful {@link Heartbeat.beat}). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Beats now instead of at the next interval. */
  wake(): void {
    this.#wake.notify();
  }

  /** Stops the loop and waits for a round in flight. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#wake.notify();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { timers, config } = this.#o;
    const signal = this.#abort.signal;
    timers.every(fenceCheckIntervalMs(config), () => this.#o.onFenceCheck(this.check()), {
      signal,
      onError: (error) => this.#o.onFailure(error, true),
    });
    let failing = false;
    const period = heartbeatPeriodMs(config);
    while (!signal.aborted) {
      await timers.waitFor(this.#wake, period, signal);
      if (signal.aborted) break;
      // After a pause (SIGSTOP, GC, a frozen VM) the deadline may have passed: fence before the
      // first request, so nothing is worked on after the leader may have moved it.
      this.#o.onFenceCheck(this.check());
      try {
        await this.beat();
        this.#o.onSuccess();
        if (failing) {
          failing = false;
          await this.#o.onRecovered();
        }
      } catch (thrown) {
        if (thrown instanceof RevisionConflictError) {
          this.#o.onLostId(thrown);
          return;
        }
        this.#o.onFailure(toError(thrown), !failing);
        failing = true;
      }
      this.#o.onFenceCheck(this.check());
    }
  }
}
