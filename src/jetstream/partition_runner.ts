/**
 * Consumes one partition: its durable pull consumer (created or reused, one filter subject,
 * explicit acks, `max_ack_pending` = the partition's handler slots), a loop of pull requests, and
 * the handlers, started in delivery order.
 *
 * **Draining** (a revoke or `stop()`) must leave nothing in flight to this worker and nothing of
 * its own on the server, because the next owner starts as soon as the revoke resolves. Two server
 * behaviours shape it (nats-server 2.9.10, measured):
 *
 * - A pull request stays on the server until it expires or its batch is complete, even after the
 *   client unsubscribed its inbox. New messages are not sent to such a dead inbox, but a message
 *   **nak'd** meanwhile — by this worker or by the next owner — is redelivered into it and then
 *   stays invisible until its ack wait.
 * - Unsubscribing while a request is open also races with a message the server is sending at that
 *   moment (4 of 300 attempts on loopback): the client drops it, and it waits for its ack wait.
 *
 * So a drain never closes a pull early. It stops starting handlers and stops issuing pulls, defers
 * every ack and nak (so no slot frees up and the server sends nothing new), and waits until the
 * open request has ended on the server (it expires within `pullExpiresMs`, or its batch
 * completes) and every running handler has an outcome. Then it settles every message held: ack
 * for a handler that resolved (confirmed with `ackAck`), nak for one that threw or timed out, nak
 * without delay for one never started. Handlers still running past `handlerTimeoutMs` are not
 * waited for (their message is nak'd and their signal aborted): the fencing token protects
 * downstream writes from them. A pull that ended with an error may have left its request behind;
 * naks, and the end of a drain, wait until that request has expired.
 *
 * The durable's set-up is in `durable.ts`; the messages held and their acks and naks are in
 * `deliveries.ts`.
 *
 * @module
 */
import type {
  Consumer,
  ConsumerMessages,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
} from "@nats-io/jetstream";
import { toError } from "../errors.ts";
import type { Partition } from "../partition.ts";
import { retryDelayMs } from "../runtime/cadence.ts";
import { Signal } from "../runtime/signal.ts";
import { systemTimers } from "../runtime/timers.ts";
import type { FencingToken } from "../types.ts";
import { Deliveries, type Delivery } from "./deliveries.ts";
import { ensureDurable, MismatchError } from "./durable.ts";
import { PartitionedConsumerError, type PartitionedConsumerErrorCode } from "./errors.ts";
import type { MessageContext, ResolvedOptions } from "./options.ts";
import type { Slots } from "./slots.ts";

/** Counters of one partition, cumulative over every time this consumer owned it. */
export interface PartitionCounters {
  /** Messages whose handler resolved and that were acked. */
  handled: number;
  /** Messages received that had been delivered before. */
  redelivered: number;
  /** Naks sent: handler threw or timed out, or handed back unhandled on a revoke. */
  nacked: number;
  /** Handlers running now (including ones past their timeout that have not returned). */
  inFlight: number;
}

/** What a runner needs from its consumer. */
export interface RunnerContext {
  readonly options: ResolvedOptions;
  readonly js: JetStreamClient;
  readonly jsm: Promise<JetStreamManager>;
  /** The consumer-wide handler slots (`maxInFlight`). */
  readonly slots: Slots;
  readonly report: (error: Error) => void;
  /** Whether the worker still owns the partition under this token (the fence applied first). */
  readonly owns: (id: string, token: FencingToken) => boolean;
}

/** Messages asked for per pull request; the server sends at most `max_ack_pending` at a time. */
const PULL_BATCH = 256;
/** Slack on top of handler timeout + pull expiry before a drain gives up. */
const DRAIN_MARGIN_MS = 5_000;
/** Upper bound of the back-off between set-up or pull retries. */
const MAX_RETRY_MS = 2_000;

/** Consumes one partition until {@link PartitionRunner.stop}. */
export class PartitionRunner {
  /** The partition ID. */
  readonly id: string;
  readonly partition: Partition;
  readonly subject: string;
  readonly durable: string;
  /** The fencing token handlers are given. */
  token: FencingToken;
  readonly #ctx: RunnerContext;
  readonly #counters: PartitionCounters;
  /** Aborted by stop(): no new pulls, no new handlers, no more retries. */
  readonly #stop = new AbortController();
  readonly #changed = new Signal();
  /** Received, not started, in delivery order. */
  readonly #queue: Delivery[] = [];
  readonly #deliveries: Deliveries;
  readonly #handlerAborts = new Set<AbortController>();
  /** Handlers that have not returned, and those of them without an outcome yet. */
  #running = 0;
  #undecided = 0;
  #pumping = false;
  /** A pull request may be open on the server: the server may send to us. */
  #pullOpen = false;
  #pull: ConsumerMessages | undefined;
  #lastCause: string | undefined;
  readonly #loop: Promise<void>;
  #stopping: Promise<void> | undefined;

  /**
   * Starts consuming at once (creating or reusing the durable first).
   *
   * @param ctx The consumer's shared parts.
   * @param partition The partition.
   * @param names Its filter subject and durable name, already mapped and checked.
   * @param token The fencing token it is owned under.
   * @param counters Where to count (kept by the consumer across ownerships).
   */
  constructor(
    ctx: RunnerContext,
    partition: Partition,
    names: { readonly id: string; readonly subject: string; readonly durable: string },
    token: FencingToken,
    counters: PartitionCounters,
  ) {
    this.#ctx = ctx;
    this.partition = partition;
    this.id = names.id;
    this.subject = names.subject;
    this.durable = names.durable;
    this.token = token;
    this.#counters = counters;
    this.#deliveries = new Deliveries(counters);
    this.#loop = this.#run().catch((error) => this.#ctx.report(toError(error)));
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /**
   * Drains the partition (see the module doc) and resolves once nothing is in flight to this
   * worker any more. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#drain();
    return this.#stopping;
  }

  // ---------------------------------------------------------------------------------------------
  // Set-up and pulling.

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const consumer = await this.#setUp();
      if (!consumer) return;
      await this.#pullUntilError(consumer);
    }
  }

  /** Creates or reuses the durable, retrying; `undefined` when stopped or when it cannot fit. */
  async #setUp(): Promise<Consumer | undefined> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        const info = await ensureDurable(
          this.#ctx.jsm,
          this.#ctx.options,
          this,
          () => this.#deliveries.lastAcked,
        );
        this.#lastCause = undefined;
        this.#deliveries.startTicks(info);
        return this.#ctx.js.consumers.getConsumerFromInfo(info);
      } catch (thrown) {
        if (thrown instanceof MismatchError) {
          this.#ctx.report(thrown);
          return undefined;
        }
        if (this.#stopped) return undefined;
        const error = toError(thrown);
        this.#reportOnce(
          "CONSUMER_SETUP_FAILED",
          `Cannot set up durable '${this.durable}' on stream '${this.#ctx.options.stream}' for ` +
            `partition '${this.id}': ${error.message}; retrying (does the stream exist?)`,
          error,
        );
        await this.#backOff(attempt);
      }
    }
    return undefined;
  }

  /** Pulls until stopped (returns normally) or a pull fails (returns after a back-off). */
  async #pullUntilError(consumer: Consumer): Promise<void> {
    const { pullExpiresMs } = this.#ctx.options;
    for (let failures = 0; !this.#stopped;) {
      this.#pullOpen = true;
      try {
        const pull = await consumer.fetch({ max_messages: PULL_BATCH, expires: pullExpiresMs });
        this.#pull = pull;
        for await (const msg of pull) this.#receive(msg);
        this.#pullEnded();
        failures = 0;
        this.#lastCause = undefined;
      } catch (thrown) {
        this.#pullEnded();
        this.#deliveries.pullMayLinger(pullExpiresMs);
        if (this.#stopped) return;
        const error = toError(thrown);
        this.#reportOnce(
          "PULL_FAILED",
          `Pulling durable '${this.durable}' for partition '${this.id}' failed: ` +
            `${error.message}; retrying`,
          error,
        );
        await this.#backOff(failures++);
        return; // set up again: the durable may be gone
      }
    }
  }

  #pullEnded(): void {
    this.#pull = undefined;
    this.#pullOpen = false;
    this.#changed.notify();
  }

  #receive(msg: JsMsg): void {
    if (this.#ctx.options.maxInFlightPerPartition === 1 && msg.seq <= this.#deliveries.lastAcked) {
      // A stale copy of a message already acked (its ack wait ran out while it was handled).
      msg.ack();
      return;
    }
    const delivery = this.#deliveries.hold(msg);
    this.#queue.push(delivery);
    if (msg.info.redelivered) {
      this.#counters.redelivered++;
      this.#report(
        "REDELIVERED",
        `Message ${msg.seq} of partition '${this.id}' was delivered again (delivery ` +
          `${msg.info.deliveryCount})`,
        msg,
      );
    }
    if (!this.#stopped) void this.#pump();
  }

  // ---------------------------------------------------------------------------------------------
  // Handlers.

  /** Starts queued messages, in order, while partition and consumer slots are free. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    const { slots, options } = this.#ctx;
    try {
      while (
        !this.#stopped && this.#queue.length > 0 &&
        this.#running < options.maxInFlightPerPartition
      ) {
        if (!await slots.acquire(this.#stop.signal)) return;
        const delivery = this.#queue.shift();
        // A worker resumed after a stall (SIGSTOP, GC) may have lost the partition before its
        // fence timer ran: asking the manager applies the fence, and the revoke that follows
        // drains this runner and hands the queued messages back.
        if (!delivery || this.#stopped || !this.#ctx.owns(this.id, this.token)) {
          if (delivery) this.#queue.unshift(delivery);
          slots.release();
          return;
        }
        this.#start(delivery);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #start(delivery: Delivery): void {
    const { handle, handlerTimeoutMs, retryDelayMs } = this.#ctx.options;
    const { msg } = delivery;
    this.#running++;
    this.#undecided++;
    this.#counters.inFlight++;
    const abort = new AbortController();
    this.#handlerAborts.add(abort);
    let timedOut = false;
    const cancelTimeout = systemTimers.setTimeout(() => {
      timedOut = true;
      const error = this.#error(
        "HANDLER_TIMEOUT",
        `Handler for message ${msg.seq} of partition '${this.id}' did not finish within ` +
          `handlerTimeoutMs (${handlerTimeoutMs} ms); nak'd for redelivery`,
        msg,
      );
      abort.abort(error);
      this.#decide(delivery, "nak", retryDelayMs);
      this.#ctx.report(error);
    }, handlerTimeoutMs);
    const context: MessageContext = {
      partition: this.partition,
      token: this.token,
      signal: abort.signal,
    };
    new Promise<void>((resolve) => resolve(handle(msg, context))).then(
      () => {
        if (!timedOut) this.#decide(delivery, "ack", 0);
      },
      (thrown) => {
        if (timedOut) return;
        this.#decide(delivery, "nak", retryDelayMs);
        const cause = toError(thrown);
        this.#ctx.report(this.#error(
          "HANDLER_FAILED",
          `Handler for message ${msg.seq} of partition '${this.id}' threw: ${cause.message}; ` +
            `nak'd for redelivery`,
          msg,
          cause,
        ));
      },
    ).finally(() => {
      cancelTimeout();
      this.#handlerAborts.delete(abort);
      this.#running--;
      this.#counters.inFlight--;
      this.#ctx.slots.release();
      this.#changed.notify();
      void this.#pump();
    });
  }

  /** Records a handler's outcome; tells the server at once unless draining (see the module doc). */
  #decide(delivery: Delivery, outcome: "ack" | "nak", delayMs: number): void {
    if (delivery.outcome !== undefined) return;
    delivery.outcome = outcome;
    delivery.delayMs = delayMs;
    this.#undecided--;
    if (!this.#stopped) this.#deliveries.settleWhenSafe(delivery);
    this.#changed.notify();
  }

  // ---------------------------------------------------------------------------------------------
  // Draining.

  async #drain(): Promise<void> {
    const { handlerTimeoutMs, pullExpiresMs, connection } = this.#ctx.options;
    this.#stop.abort();
    const budget = new AbortController();
    const outOfTime = systemTimers
      .sleep(handlerTimeoutMs + pullExpiresMs + DRAIN_MARGIN_MS, budget.signal)
      .then(() => !budget.signal.aborted);
    const quiet = (async () => {
      while (this.#pullOpen || this.#undecided > 0) await this.#changed.wait();
      await this.#loop;
    })();
    const late = await Promise.race([quiet.then(() => false), outOfTime]);
    budget.abort();
    if (late) {
      // Defensive: the pull never ended (e.g. the connection is down). A message may have been
      // in flight; it becomes visible again after the durable's ack wait.
      this.#pull?.stop();
      this.#pullOpen = false;
      this.#deliveries.pullMayLinger(pullExpiresMs);
      for (const abort of this.#handlerAborts) abort.abort();
      this.#report(
        "DRAIN_TIMEOUT",
        `Revoking partition '${this.id}' did not finish in time; messages it held become ` +
          `visible again after the ack wait of durable '${this.durable}'`,
      );
    }
    // Never started, or (when late) never answered: handed back without delay.
    this.#queue.length = 0;
    await this.#deliveries.settleAll();
    this.#deliveries.stopTicks();
    await connection.flush().catch(() => {});
  }

  // ---------------------------------------------------------------------------------------------
  // Errors.

  async #backOff(attempt: number): Promise<void> {
    await systemTimers.sleep(Math.min(MAX_RETRY_MS, retryDelayMs(attempt)), this.#stop.signal);
  }

  /** Reports once per streak of the same cause. */
  #reportOnce(code: PartitionedConsumerErrorCode, message: string, cause: Error): void {
    const key = `${code}: ${cause.message}`;
    if (key === this.#lastCause) return;
    this.#lastCause = key;
    this.#ctx.report(new PartitionedConsumerError(code, this.id, message, { cause }));
  }

  #report(code: PartitionedConsumerErrorCode, message: string, msg?: JsMsg): void {
    this.#ctx.report(this.#error(code, message, msg));
  }

  #error(
    code: PartitionedConsumerErrorCode,
    message: string,
    msg?: JsMsg,
    cause?: Error,
  ): PartitionedConsumerError {
    return new PartitionedConsumerError(code, this.id, message, {
      ...(cause ? { cause } : {}),
      ...(msg ? { streamSequence: msg.seq, deliveryCount: msg.info.deliveryCount } : {}),
    });
  }
}
