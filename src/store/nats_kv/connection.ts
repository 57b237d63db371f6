/**
 * The shared state of one NATS KV store: the connection and its JetStream clients, the request
 * deadline, whether the connection is up (so operations fail fast instead of being buffered), and
 * the registry of watches to recreate after a reconnect. Also the few helpers every part of the
 * store uses: stream naming, nanosecond conversion and the request deadline.
 *
 * @module
 */

import { type NatsConnection, TimeoutError } from "@nats-io/nats-core";
import { jetstream, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { CoordinationUnavailableError } from "../../errors.ts";
import { systemTimers } from "../../runtime/timers.ts";
import type { Logger } from "../../types.ts";
import { apiErrorCode, STREAM_NOT_FOUND } from "./errors.ts";
import type { NatsKvStoreOptions } from "./mod.ts";

const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;
const DEFAULT_WATCHDOG_INTERVAL_MS = 2_000;

/** A watch that the context recreates after every reconnect. */
export interface RestartableWatch {
  /** Marks the watch for recreation and checks at once. */
  requestRestart(reason: string): void;
}

/** The stream that holds KV bucket `bucket` (JetStream names it `KV_<bucket>`). */
export function streamName(bucket: string): string {
  return `KV_${bucket}`;
}

/** JetStream reports durations such as `max_age` in nanoseconds; Parti uses milliseconds. */
export function nanosToMs(nanos: number | undefined): number {
  return Math.round((nanos ?? 0) / 1_000_000);
}

/**
 * Bounds `promise` by `ms` with the runtime's one `deadline()`, rejecting with nats-core's own
 * TimeoutError so that `mapError` classifies a missed deadline like a client-side timeout. Real
 * timers: the store measures network time, which no fake clock drives.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  onLate?: (value: T) => void,
): Promise<T> {
  return systemTimers.deadline(promise, ms, {
    onTimeout: () => new TimeoutError(),
    ...(onLate ? { onLate } : {}),
  });
}

/** Shared state of one store: the connection, clients and the watches to notify on reconnect. */
export class NatsContext {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly kvm: Kvm;
  readonly operationTimeoutMs: number;
  readonly watchdogIntervalMs: number;
  readonly logger: Logger | undefined;
  readonly #watches = new Set<RestartableWatch>();
  #jsm: Promise<JetStreamManager> | undefined;
  #connected = true;

  constructor(nc: NatsConnection, options: NatsKvStoreOptions) {
    this.nc = nc;
    this.operationTimeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    this.watchdogIntervalMs = options.watchdogIntervalMs ?? DEFAULT_WATCHDOG_INTERVAL_MS;
    this.logger = options.logger;
    // The JetStream timeout is inherited by the manager and the KV buckets, so it bounds every
    // request those clients make (the client's own default is 5 s).
    this.js = jetstream(nc, { timeout: this.operationTimeoutMs });
    this.kvm = new Kvm(this.js);
    this.#listen();
  }

  /** False between a `disconnect` and the next `reconnect` status of the connection. */
  get connected(): boolean {
    return this.#connected && !this.nc.isClosed();
  }

  /**
   * Fails fast instead of sending while the connection is down. Requests buffered during an
   * outage are never answered, even when the client reconnects before their deadline
   * (NATS_FACTS row 14), so sending them only turns a definite "not written" into a timeout
   * with an unknown outcome, after the full operation timeout.
   */
  ensureConnected(bucket: string, what: string): void {
    if (this.nc.isClosed()) {
      throw new CoordinationUnavailableError(
        `Cannot ${what} '${bucket}': the NATS connection is closed; create a new connection`,
      );
    }
    if (!this.#connected) {
      throw new CoordinationUnavailableError(
        `Cannot ${what} '${bucket}': the NATS connection is down and reconnecting; retry once it is back`,
      );
    }
  }

  #listen(): void {
    if (this.nc.isClosed()) return;
    (async () => {
      for await (const status of this.nc.status()) {
        switch (status.type) {
          case "disconnect":
            this.#connected = false;
            break;
          case "reconnect":
            // Act on state, not on event counts: a WebSocket reconnect may report "reconnect"
            // several times (NATS_FACTS row 22); each watch marks itself for one recreation.
            this.#connected = true;
            for (const watch of this.#watches) watch.requestRestart("reconnected");
            break;
        }
      }
    })().catch(() => {});
  }

  jsm(): Promise<JetStreamManager> {
    // No account-info round trip: the first real request reports a missing JetStream anyway.
    this.#jsm ??= this.js.jetstreamManager(false);
    return this.#jsm;
  }

  /** Whether the bucket's stream is known to be missing (false when that cannot be told). */
  async bucketMissing(bucket: string): Promise<boolean> {
    // Never probe while disconnected: the request could not be answered (and see ensureConnected).
    if (!this.connected) return false;
    try {
      await (await this.jsm()).streams.info(streamName(bucket));
      return false;
    } catch (error) {
      return apiErrorCode(error) === STREAM_NOT_FOUND;
    }
  }

  /** Registers a watch to be recreated after every reconnect. */
  addWatch(watch: RestartableWatch): void {
    this.#watches.add(watch);
  }

  removeWatch(watch: RestartableWatch): void {
    this.#watches.delete(watch);
  }
}
