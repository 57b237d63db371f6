/**
 * One supervised watch of a NATS KV bucket: a `kv.watch` underneath, de-duplicated by revision,
 * with the watchdog that recreates it when it goes silent and the readiness logic that tells when
 * the initial values have all been delivered (nats.js's `isUpdate` cannot be trusted for that).
 *
 * @module
 */

import type { KV, KvWatchEntry, KvWatchOptions } from "@nats-io/kv";
import type { WatchOptions } from "../store.ts";
import { keyMatcher } from "../validation.ts";
import { WatchQueue } from "../watch_queue.ts";
import type { NatsBucket } from "./bucket.ts";
import { type NatsContext, withDeadline } from "./connection.ts";
import { mapError } from "./errors.ts";
import { BucketNotFoundError } from "../../errors.ts";
import { FailureStreak } from "../../runtime/retry.ts";

/**
 * One watch: a `kv.watch` underneath, de-duplicated by revision, supervised by a watchdog that
 * recreates it when the bucket was recreated, when it went silent although matching entries exist,
 * when it ended by itself, and after a reconnect.
 *
 * Readiness (`initialized`): nats.js 3.4.0 has no end-of-snapshot signal it can be trusted with.
 * Its `isUpdate` flag counts deliveries against the consumer's pending count at creation, so it
 * turns true one entry early on the last initial value, on every entry when nothing was pending
 * (the first one then being a future write), and too early when its ordered consumer resets
 * mid-snapshot and redelivers older revisions. Instead, once the consumer exists, the watch reads
 * the latest revision matching its filter. Every initial value is a latest-per-key entry that
 * existed before that read, so none is above it; and the entry at that revision (or a later
 * write of its key that replaced it) is itself delivered, because it is the latest of its key
 * or newer than the consumer. So the initial values are all handed over once the watch has seen
 * a revision at or above the bound, counting entries it drops as duplicates or non-matching,
 * and this never waits for a write made after the read. A bound of 0 means there were none.
 */
export class NatsWatch {
  readonly queue: WatchQueue;
  readonly #ctx: NatsContext;
  readonly #bucket: NatsBucket;
  readonly #kv: KV;
  readonly #filter: string;
  readonly #matches: (key: string) => boolean;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #onRecreated: (() => void) | undefined;
  /** Incarnation the delivered revisions belong to; unknown until the first check. */
  #incarnation: string | undefined;
  /** Highest revision delivered in this incarnation. */
  #lastRevision = 0;
  /** Bumped on each recreation so entries of a replaced watcher are ignored. */
  #generation = 0;
  #inner: { stop(): void } | undefined;
  #restartReason: string | undefined = "start";
  #deliveredSinceCheck = false;
  /** A matching revision the watch has not delivered yet, and when the watchdog first saw it. */
  #missing: { revision: number; since: number } | undefined;
  /**
   * A bucket revision up to which the watchdog found nothing undelivered for this filter (0:
   * none yet). While the bucket's last revision stays there, there is nothing to look up: at
   * steady state most of a bucket's revisions are other workers' keys, and looking up the next
   * matching one on every check cost every worker a message get per interval.
   */
  #cleanUpTo = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #checking = false;
  #checkAgain = false;
  /** Problems are reported once per cause and streak: an outage is not one report per check. */
  readonly #failures = new FailureStreak();
  /** Whether `queue.markInitialized()` was called; it is never undone. */
  #initialized = false;
  /**
   * The revision the watch must see before its initial values count as delivered (see the
   * class comment); unknown until read after the first consumer of this incarnation exists.
   */
  #initialBound: number | undefined;
  /** Highest revision handed over by this incarnation's watchers, including dropped ones. */
  #seenRevision = 0;

  constructor(ctx: NatsContext, bucket: NatsBucket, kv: KV, options: WatchOptions) {
    this.#matches = keyMatcher(options.key);
    this.#filter = options.key ?? ">";
    this.#ctx = ctx;
    this.#bucket = bucket;
    this.#kv = kv;
    this.#onError = options.onError;
    this.#onRecreated = options.onRecreated;
    this.queue = new WatchQueue(options.signal);
  }

  start(): void {
    if (this.queue.stopped) return;
    this.#ctx.addWatch(this);
    this.queue.onStop(() => {
      this.#ctx.removeWatch(this);
      clearTimeout(this.#timer);
      this.#generation += 1;
      this.#inner?.stop();
      this.#inner = undefined;
    });
    this.#schedule(0);
  }

  /**
   * Marks the watch for recreation (idempotent while one is pending) and checks at once, or at
   * the next interval when `now` is false.
   */
  requestRestart(reason: string, now = true): void {
    if (this.queue.stopped) return;
    this.#restartReason ??= reason;
    if (now) this.#schedule(0);
  }

  #schedule(delayMs: number): void {
    if (this.queue.stopped) return;
    if (this.#checking) {
      if (delayMs === 0) this.#checkAgain = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#check(), delayMs);
  }

  async #check(): Promise<void> {
    this.#checking = true;
    try {
      await this.#checkOnce();
      this.#failures.end();
    } catch (error) {
      this.#report(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#checking = false;
      const again = this.#checkAgain;
      this.#checkAgain = false;
      this.#schedule(again ? 0 : this.#ctx.watchdogIntervalMs);
    }
  }

  async #checkOnce(): Promise<void> {
    // A failing status (bucket gone, server away) is reported and checked again next interval.
    const status = await this.#bucket.status();
    if (this.queue.stopped) return;
    if (status.incarnation !== this.#incarnation) {
      if (this.#incarnation !== undefined) {
        // Recreated bucket: revisions restart at 1, so the cursor must too, and the old
        // consumer may be parked at a sequence the new stream will not reach for a long time.
        this.#ctx.logger?.info("Bucket was recreated; restarting its watch", {
          bucket: this.#bucket.name,
        });
        this.#lastRevision = 0;
        this.#seenRevision = 0;
        this.#cleanUpTo = 0;
        // Not initialized yet: the values still owed are the new bucket's, not the old one's.
        this.#initialBound = undefined;
        this.#restartReason = "bucket recreated";
        try {
          this.#onRecreated?.();
        } catch {
          // A throwing callback must not stop the watchdog.
        }
      }
      this.#incarnation = status.incarnation;
      this.#restartReason ??= "start";
    }
    if (this.#restartReason !== undefined) {
      await this.#restart(this.#restartReason);
      return;
    }
    if (!this.#initialized) await this.#settleInitialized();
    const delivered = this.#deliveredSinceCheck;
    this.#deliveredSinceCheck = false;
    if (status.lastRevision <= this.#lastRevision || status.lastRevision === this.#cleanUpTo) {
      this.#missing = undefined;
      return;
    }
    const next = await this.#bucket.nextMatchingRevision(this.#filter, this.#lastRevision + 1);
    if (next === 0 || next <= this.#lastRevision) {
      // Read after the status: nothing matching up to at least its last revision.
      if (next === 0) this.#cleanUpTo = status.lastRevision;
      this.#missing = undefined;
      return;
    }
    const now = performance.now();
    if (this.#missing === undefined || delivered || this.#missing.revision <= this.#lastRevision) {
      this.#missing = { revision: next, since: now };
      return;
    }
    if (now - this.#missing.since >= this.#ctx.watchdogIntervalMs * 0.9) {
      // An entry stayed undelivered for a whole interval while the watch delivered nothing:
      // the consumer is gone or stuck (NATS_FACTS rows 21 and 24).
      await this.#restart(`silent while revision ${next} is pending`);
    }
  }

  async #restart(reason: string): Promise<void> {
    const generation = ++this.#generation;
    this.#inner?.stop();
    this.#inner = undefined;
    this.#missing = undefined;
    const options: KvWatchOptions = { key: this.#filter };
    if (this.#lastRevision > 0) options.resumeFromRevision = this.#lastRevision + 1;
    this.#ctx.logger?.debug("Starting bucket watch", {
      bucket: this.#bucket.name,
      reason,
      resumeFromRevision: options.resumeFromRevision ?? 0,
    });
    let iterator;
    try {
      iterator = await withDeadline(
        this.#kv.watch(options),
        this.#ctx.operationTimeoutMs,
        (late) => late.stop(),
      );
    } catch (error) {
      throw await mapError(this.#ctx, error, this.#bucket.name, "watch");
    }
    if (generation !== this.#generation || this.queue.stopped) {
      iterator.stop();
      return;
    }
    this.#restartReason = undefined;
    this.#inner = iterator;
    void this.#pump(generation, iterator);
    // The bound must be read only now that the consumer exists (see the class comment). A
    // recreation before readiness keeps the bound: it resumes after the last delivered revision,
    // so it still delivers everything at or below it that the first watcher did not.
    if (!this.#initialized && this.#initialBound === undefined) await this.#readInitialBound();
  }

  async #readInitialBound(): Promise<void> {
    const bound = await this.#bucket.lastMatchingRevision(this.#filter);
    if (this.queue.stopped || this.#initialized || this.#initialBound !== undefined) return;
    this.#initialBound = bound;
    this.#checkInitialized();
  }

  /**
   * The watchdog's part in readiness: reads a bound that could not be read when the watch
   * started, and gives up on initial values that left the stream without being delivered (a
   * TTL expiry or an administrative purge right at the start), which no delivery would ever
   * replace. Entries in flight are still in the stream, so the probe finds them.
   */
  async #settleInitialized(): Promise<void> {
    if (this.#inner === undefined) return;
    if (this.#initialBound === undefined) {
      await this.#readInitialBound();
      return;
    }
    const bound = this.#initialBound;
    const from = this.#seenRevision;
    if (from >= bound) return;
    const next = await this.#bucket.nextMatchingRevision(this.#filter, from + 1);
    if (this.queue.stopped || this.#initialized || this.#initialBound !== bound) return;
    if (next === 0 || next > bound) this.#markInitialized();
  }

  #checkInitialized(): void {
    if (this.#initialBound !== undefined && this.#seenRevision >= this.#initialBound) {
      this.#markInitialized();
    }
  }

  #markInitialized(): void {
    if (this.#initialized) return;
    this.#initialized = true;
    this.queue.markInitialized();
  }

  async #pump(generation: number, iterator: AsyncIterable<KvWatchEntry>): Promise<void> {
    try {
      for await (const entry of iterator) {
        if (generation !== this.#generation) return;
        this.#deliver(entry);
        // Dropped entries count too: the bound may be a duplicate or a key the filter excludes.
        if (entry.revision > this.#seenRevision) this.#seenRevision = entry.revision;
        this.#checkInitialized();
      }
    } catch (error) {
      if (generation === this.#generation) {
        this.#report(await mapError(this.#ctx, error, this.#bucket.name, "watch"));
      }
    }
    // The underlying watcher ended without being replaced: recreate it at the next check, not
    // at once, so a watcher that keeps ending cannot spin.
    if (generation === this.#generation) this.requestRestart("watcher ended", false);
  }

  #deliver(entry: KvWatchEntry): void {
    // Revisions only grow within an incarnation, so anything not above the cursor was delivered
    // already (a recreated watcher overlaps the old one).
    if (entry.revision <= this.#lastRevision || !this.#matches(entry.key)) return;
    this.#lastRevision = entry.revision;
    this.#deliveredSinceCheck = true;
    this.queue.push({
      key: entry.key,
      value: entry.operation === "PUT" ? entry.value : new Uint8Array(0),
      revision: entry.revision,
      operation: entry.operation === "PUT" ? "put" : "delete",
    });
  }

  #report(error: Error): void {
    if (this.queue.stopped) return;
    // A missing bucket is reported every time: the manager recreates it from that report.
    if (!this.#failures.isNew(error) && !(error instanceof BucketNotFoundError)) {
      this.#ctx.logger?.debug("Bucket watch problem persists; retrying", {
        bucket: this.#bucket.name,
        error: error.message,
      });
      return;
    }
    this.#ctx.logger?.warn("Bucket watch problem; retrying", {
      bucket: this.#bucket.name,
      error: error.message,
    });
    try {
      this.#onError?.(error);
    } catch {
      // A throwing callback must not stop the watchdog.
    }
  }
}
