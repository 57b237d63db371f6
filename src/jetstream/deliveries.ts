/**
 * The messages one partition runner holds — received, not yet acked or nak'd, so the server
 * counts them against `max_ack_pending` — and how they are settled: an ack at once, a nak only
 * once no dead pull request of ours can receive its redelivery (see `partition_runner.ts`), and
 * progress acks meanwhile so that none reaches its ack wait while held.
 *
 * @module
 */
import type { ConsumerInfo, JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { Cancel } from "../runtime/clock.ts";
import { systemTimers } from "../runtime/timers.ts";
import type { PartitionCounters } from "./partition_runner.ts";

/** One message this worker holds: received, possibly handled, not yet acked or nak'd. */
export interface Delivery {
  readonly msg: JsMsg;
  /** What to tell the server, once decided. */
  outcome: "ack" | "nak" | undefined;
  /** Delay of the nak, for a handler that failed. */
  delayMs: number;
}

/** Slack for the one-way trip of a pull request when computing when it expires on the server. */
const LINGER_MARGIN_MS = 500;

/** The deliveries of one partition runner that are not yet acked or nak'd. */
export class Deliveries {
  readonly #counters: PartitionCounters;
  /** Every delivery not yet acked or nak'd: the server counts these against max_ack_pending. */
  readonly #held = new Set<Delivery>();
  #lastAcked = 0;
  /** Until then (monotonic ms) a request of ours may linger on the server with a dead inbox. */
  #lingerUntil = 0;
  #stopTicks: Cancel = () => {};

  /** @param counters Where to count acks (`handled`) and naks (`nacked`). */
  constructor(counters: PartitionCounters) {
    this.#counters = counters;
  }

  /** The highest stream sequence acked so far (0 if none). */
  get lastAcked(): number {
    return this.#lastAcked;
  }

  /** Holds a message just received; it has no outcome yet. */
  hold(msg: JsMsg): Delivery {
    const delivery: Delivery = { msg, outcome: undefined, delayMs: 0 };
    this.#held.add(delivery);
    return delivery;
  }

  /** A request of ours may now linger on the server, with a dead inbox, until it expires. */
  pullMayLinger(pullExpiresMs: number): void {
    this.#lingerUntil = systemTimers.now() + pullExpiresMs + LINGER_MARGIN_MS;
  }

  /** Keeps messages this worker holds from reaching their ack wait (progress acks). */
  startTicks(info: ConsumerInfo): void {
    this.#stopTicks();
    const ackWaitMs = (info.config.ack_wait ?? nanos(30_000)) / 1_000_000;
    this.#stopTicks = systemTimers.every(Math.max(250, ackWaitMs / 3), () => {
      for (const d of this.#held) d.msg.working();
    }, { onError: () => {} });
  }

  /** Stops the progress acks. */
  stopTicks(): void {
    this.#stopTicks();
  }

  /** Settles now, or a nak once no dead request of ours can receive its redelivery. */
  settleWhenSafe(delivery: Delivery): void {
    const wait = this.#lingerUntil - systemTimers.now();
    if (delivery.outcome === "ack" || wait <= 0) void this.#settle(delivery, false);
    else systemTimers.setTimeout(() => void this.#settle(delivery, false), wait);
  }

  /**
   * Once no request of ours can linger, settles every delivery still held, acks confirmed with
   * `ackAck`; resolves when all are settled.
   */
  async settleAll(): Promise<void> {
    const linger = this.#lingerUntil - systemTimers.now();
    if (linger > 0) await systemTimers.sleep(linger);
    const settled = [...this.#held].map((d) => this.#settle(d, true));
    await Promise.all(settled);
  }

  /** Acks or naks a held delivery (a nak without outcome is immediate). */
  #settle(delivery: Delivery, confirm: boolean): Promise<unknown> {
    if (!this.#held.delete(delivery)) return Promise.resolve();
    const { msg } = delivery;
    try {
      if (delivery.outcome === "ack") {
        this.#counters.handled++;
        if (msg.seq > this.#lastAcked) this.#lastAcked = msg.seq;
        if (confirm) return msg.ackAck().catch(() => false);
        msg.ack();
      } else {
        this.#counters.nacked++;
        if (delivery.outcome === "nak" && delivery.delayMs > 0) msg.nak(delivery.delayMs);
        else msg.nak();
      }
    } catch {
      // The connection is closed: the server redelivers after the ack wait.
    }
    return Promise.resolve();
  }
}
