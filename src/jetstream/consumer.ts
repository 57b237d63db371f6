/**
 * `partitionedConsumer()`: follows a manager's assignment through `Manager.subscribe()` and runs
 * one {@link PartitionRunner} per owned partition. A revoke (`onAssignmentChanged` with
 * `removed`) resolves only once those partitions are drained, and the manager acknowledges the
 * revoke to the leader only after that, so the next owner never sees a message this worker still
 * holds. Adds never wait: a partition's durable is set up in the background.
 *
 * @module
 */
import { jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { type Partition, partitionId } from "../partition.ts";
import { type FencingToken, State } from "../types.ts";
import {
  type PartitionedConsumerOptions,
  type ResolvedOptions,
  resolveOptions,
} from "./options.ts";
import { LoadReporter } from "./load_reporter.ts";
import { partitionCounters } from "./metrics.ts";
import { type PartitionCounters, PartitionRunner, type RunnerContext } from "./partition_runner.ts";
import { supportsMultipleFilters } from "./server_version.ts";
import { Slots } from "./slots.ts";

/**
 * Counters of one partition (see {@link PartitionedConsumer.stats}).
 *
 * @example Share of messages that needed a retry
 * ```ts
 * import type { PartitionStats } from "@parti/core/jetstream";
 *
 * const retryRate = (s: PartitionStats) => s.nacked / Math.max(1, s.handled + s.nacked);
 * console.assert(retryRate({ handled: 9, redelivered: 1, nacked: 1, inFlight: 0 }) === 0.1);
 * ```
 */
export interface PartitionStats {
  /** Messages whose handler resolved and that were acked. */
  readonly handled: number;
  /** Messages received that had been delivered before (`msg.info.redelivered`). */
  readonly redelivered: number;
  /** Naks sent: a handler threw or timed out, or a message was handed back on a revoke. */
  readonly nacked: number;
  /** Handlers running now. */
  readonly inFlight: number;
}

/**
 * What {@link PartitionedConsumer.stats} returns.
 *
 * @example Turn the counters into metric lines
 * ```ts
 * import type { ConsumerStats } from "@parti/core/jetstream";
 *
 * function metricLines(stats: ConsumerStats): string[] {
 *   return Object.entries(stats.partitions).map(([id, s]) =>
 *     `parti_messages_handled_total{partition="${id}"} ${s.handled}`
 *   );
 * }
 * const lines = metricLines({
 *   partitions: { "orders/0": { handled: 3, redelivered: 0, nacked: 0, inFlight: 1 } },
 *   totals: { handled: 3, redelivered: 0, nacked: 0, inFlight: 1 },
 * });
 * console.assert(lines[0] === 'parti_messages_handled_total{partition="orders/0"} 3');
 * ```
 */
export interface ConsumerStats {
  /** Per partition ID, every partition this consumer has owned (counters are cumulative). */
  readonly partitions: Readonly<Record<string, PartitionStats>>;
  /** The sums over all partitions. */
  readonly totals: PartitionStats;
}

/**
 * A running partitioned consumer (see {@link partitionedConsumer}).
 *
 * @example Stop with a signal, then read the totals
 * ```ts ignore
 * const controller = new AbortController();
 * const consumer = partitionedConsumer(manager, { ...options, signal: controller.signal });
 * Deno.addSignalListener("SIGTERM", () => controller.abort());
 * await consumer.closed; // every partition drained: handlers finished, acked or nak'd
 * console.log(consumer.stats().totals); // { handled, redelivered, nacked, inFlight }
 * ```
 */
export interface PartitionedConsumer extends AsyncDisposable {
  /**
   * How partitions map to JetStream consumers. Always `"durablePerPartition"` for now: one
   * durable pull consumer with one filter subject per partition, which works on nats-server 2.9.
   * A mode with one multi-filter consumer per worker (2.10+) is not implemented yet.
   */
  readonly mode: "durablePerPartition";
  /**
   * Whether the connected server could run consumers with several filter subjects (version
   * 2.10 or later in its INFO). Detected, not assumed; informational while {@link mode} is
   * `"durablePerPartition"`.
   */
  readonly multiFilterSupported: boolean;
  /**
   * Resolves once the consumer has stopped: after {@link PartitionedConsumer.stop}, when the
   * manager stops, when the `signal` option aborts, or when the connection closes. Never rejects.
   */
  readonly closed: Promise<void>;
  /** Counters per partition and in total; a snapshot. */
  stats(): ConsumerStats;
  /**
   * Stops consuming every partition, with the same drain as a revoke, and removes the consumer's
   * hooks from the manager. Resolves once everything is drained; idempotent. The manager keeps
   * running and keeps its assignment. Do not await it inside a manager hook: a revoke in the
   * manager's hook lane may be waiting behind that hook.
   */
  stop(): Promise<void>;
}

/**
 * The hooks the consumer adds to a manager (a subset of the manager's `Hooks`).
 *
 * @example The manager's hooks fit
 * ```ts
 * import type { Hooks } from "@parti/core";
 * import type { ConsumerHooks } from "@parti/core/jetstream";
 *
 * const hooks: ConsumerHooks = { onStateChanged: (_from, to) => console.log(to) };
 * const asManagerHooks: Hooks = hooks;
 * ```
 */
export interface ConsumerHooks {
  /** Drains `removed`; resolves once nothing of them is in flight to this worker. */
  onAssignmentChanged?(change: { readonly removed: readonly Partition[] }): void | Promise<void>;
  /** Starts consuming a partition, under its fencing token. */
  onPartitionAdded?(partition: Partition, token: FencingToken): void | Promise<void>;
  /** Stops the consumer when the manager reaches `"shutdown"`. */
  onStateChanged?(from: string, to: string): void | Promise<void>;
}

/**
 * What `subscribe()` returns (a subset of the manager's `Subscription`).
 *
 * @example Report into the manager's onError
 * ```ts
 * import { Manager, memoryStore, presets } from "@parti/core";
 * import type { ConsumerSubscription } from "@parti/core/jetstream";
 *
 * const seen: Error[] = [];
 * const manager = new Manager({
 *   ...presets.fastTest,
 *   store: memoryStore(),
 *   group: "doc",
 *   source: [],
 *   hooks: { onError: (error) => void seen.push(error) },
 * });
 * const subscription: ConsumerSubscription = manager.subscribe({});
 * subscription.reportError(new Error("downstream is slow"));
 * await subscription.unsubscribe();
 * console.assert(seen.length === 1);
 * ```
 */
export interface ConsumerSubscription {
  /** Reports through the manager's `onError` hooks and logger, in its hook lane; never waits. */
  reportError(error: unknown): void;
  /** Removes the hooks again. */
  unsubscribe(): Promise<void>;
}

/**
 * Everything the consumer needs from a manager; a `Manager` of `@parti/core` has it.
 *
 * @example A Manager is a ConsumerManager
 * ```ts
 * import { Manager, memoryStore, presets } from "@parti/core";
 * import type { ConsumerManager } from "@parti/core/jetstream";
 *
 * const manager: ConsumerManager = new Manager({
 *   ...presets.fastTest,
 *   store: memoryStore(),
 *   group: "doc",
 *   source: [],
 * });
 * console.assert(manager.state === "init");
 * ```
 */
export interface ConsumerManager {
  /** Adds hooks in the manager's hook lane (see `Manager.subscribe`). */
  subscribe(hooks: ConsumerHooks): ConsumerSubscription;
  /** The manager's state; `"shutdown"` once stopped. */
  readonly state: string;
  /** This worker's ID (the `worker` label of the consumer's metrics). */
  readonly workerId?: string | undefined;
  /**
   * The token under which the worker owns a partition now, or `undefined` (see
   * `Manager.fencingToken`): asked before every handler starts, so a worker resumed after a stall
   * starts nothing under a token it no longer holds.
   */
  fencingToken(partitionId: string): FencingToken | undefined;
  /**
   * Takes a partition's measured load (see `Manager.reportLoad`); the consumer reports its
   * handled messages per second every `reportLoadEveryMs`. Optional: without it nothing is sent.
   */
  reportLoad?(partitionId: string, value: number): void;
}

/**
 * Consumes a JetStream stream by partition: every partition the manager assigns to this worker
 * is read from its own durable pull consumer (its `subject`, resuming from its `durable`'s ack
 * floor), handled one message at a time in order (see `maxInFlightPerPartition`), acked when the
 * handler resolves and nak'd when it throws or times out. A revoked partition is drained before
 * the revoke resolves: pulling stops, handlers in flight finish (bounded by `handlerTimeoutMs`)
 * and are acked or nak'd, unstarted messages are handed back; only then can the leader give the
 * partition to the next owner.
 *
 * Create it before or after `manager.start()`; subscribing while running picks up the current
 * assignment. Nothing is created on the server for an empty assignment.
 *
 * @param manager The worker whose assignment to follow.
 * @param options Connection, stream, subject and durable mappings, the handler, and limits.
 * @returns The running consumer; `stop()` it or let the manager's stop end it.
 * @throws {TypeError} For a missing or mistyped option, naming it.
 * @throws {RangeError} For a number out of range or a template without placeholder, naming it.
 *
 * @example Consume ORDERS by partition
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { Manager, recommendedConnectionOptions } from "@parti/core";
 * import { partitionedConsumer } from "@parti/core/jetstream";
 *
 * const nc = await connect({ servers: "127.0.0.1:4222", ...recommendedConnectionOptions });
 * const manager = new Manager({
 *   connection: nc,
 *   group: "orders",
 *   source: Array.from({ length: 8 }, (_, i) => ({ keys: ["orders", String(i)] })),
 * });
 * await using consumer = partitionedConsumer(manager, {
 *   connection: nc,
 *   stream: "ORDERS",
 *   subject: "orders.{1}",
 *   durable: "orders-{1}",
 *   async handle(msg, { partition, token }) {
 *     await saveOrder(msg.json(), { partition: partition.keys[1], token });
 *   },
 * });
 * await manager.start();
 * await consumer.closed; // until the manager stops
 * ```
 */
export function partitionedConsumer(
  manager: ConsumerManager,
  options: PartitionedConsumerOptions,
): PartitionedConsumer {
  if (
    typeof manager !== "object" || manager === null ||
    typeof (manager as { subscribe?: unknown }).subscribe !== "function"
  ) {
    throw new TypeError("partitionedConsumer() needs a Manager as its first argument");
  }
  return new PartitionedConsumerImpl(manager, resolveOptions(options));
}

class PartitionedConsumerImpl implements PartitionedConsumer {
  readonly mode = "durablePerPartition" as const;
  readonly multiFilterSupported: boolean;
  readonly closed: Promise<void>;
  readonly #options: ResolvedOptions;
  readonly #manager: ConsumerManager;
  readonly #ctx: RunnerContext;
  readonly #runners = new Map<string, PartitionRunner>();
  /** Durable name → partition ID, for the runners above. */
  readonly #durables = new Map<string, string>();
  /** Drains under way (revokes and stop). */
  readonly #draining = new Set<Promise<void>>();
  readonly #counters = new Map<string, PartitionCounters>();
  readonly #subscription: ConsumerSubscription;
  readonly #load: LoadReporter | undefined;
  #resolveClosed: () => void = () => {};
  #stopping: Promise<void> | undefined;

  constructor(manager: ConsumerManager, options: ResolvedOptions) {
    this.#options = options;
    this.#manager = manager;
    const nc = options.connection;
    this.multiFilterSupported = supportsMultipleFilters(nc.info?.version);
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    // Hooks run later, in the lane, so the subscription exists by the time anything reports.
    const report = (error: Error) => this.#subscription.reportError(error);
    // checkAPI: false makes no request; a stream or JetStream problem surfaces per partition.
    const jsm: Promise<JetStreamManager> = jetstreamManager(nc, { checkAPI: false });
    jsm.catch(() => {});
    this.#ctx = {
      options,
      js: jetstream(nc),
      jsm,
      slots: new Slots(options.maxInFlight),
      report,
      owns: (id, token) => {
        const now = manager.fencingToken(id);
        return now !== undefined && now.epoch === token.epoch && now.version === token.version;
      },
    };
    this.#subscription = manager.subscribe({
      onAssignmentChanged: ({ removed }) => this.#revoke(removed),
      onPartitionAdded: (partition, token) => this.#add(partition, token),
      onStateChanged: (_from, to) => {
        if (to === State.Shutdown) void this.stop();
      },
    });
    if (manager.state === State.Shutdown) void this.stop();
    options.signal?.addEventListener("abort", () => void this.stop(), { once: true });
    if (options.signal?.aborted) void this.stop();
    nc.closed().then(() => void this.stop(), () => void this.stop());
    const reportLoad = manager.reportLoad;
    if (options.reportLoadEveryMs > 0 && typeof reportLoad === "function") {
      this.#load = new LoadReporter({
        handled: () => [...this.#runners.keys()].map((id) => [id, this.#counters.get(id)!.handled]),
        report: (id, rate) => {
          try {
            reportLoad.call(manager, id, rate);
          } catch (error) {
            this.#ctx.report(error as Error);
          }
        },
      });
      this.#load.start(options.reportLoadEveryMs);
    }
  }

  #worker(): string {
    return this.#manager.workerId ?? "";
  }

  get #stopped(): boolean {
    return this.#stopping !== undefined;
  }

  stats(): ConsumerStats {
    const partitions: Record<string, PartitionStats> = {};
    const totals = { handled: 0, redelivered: 0, nacked: 0, inFlight: 0 };
    for (const [id, c] of this.#counters) {
      partitions[id] = { ...c };
      totals.handled += c.handled;
      totals.redelivered += c.redelivered;
      totals.nacked += c.nacked;
      totals.inFlight += c.inFlight;
    }
    return { partitions, totals };
  }

  #add(partition: Partition, token: FencingToken): void {
    if (this.#stopped) return;
    const id = partitionId(partition);
    const running = this.#runners.get(id);
    if (running) {
      running.token = token;
      return;
    }
    let subject: string;
    let durable: string;
    try {
      subject = this.#options.subject(partition);
      durable = this.#options.durable(partition);
    } catch (error) {
      this.#ctx.report(error as Error);
      return;
    }
    const holder = this.#durables.get(durable);
    if (holder !== undefined) {
      this.#ctx.report(
        new RangeError(
          `Option 'durable' maps partitions '${holder}' and '${id}' to the same durable ` +
            `'${durable}'; map each partition to its own name. Partition '${id}' is not consumed`,
        ),
      );
      return;
    }
    let counters = this.#counters.get(id);
    if (!counters) {
      const labels = { stream: this.#options.stream, worker: this.#worker(), partition: id };
      counters = partitionCounters(this.#options.metrics, labels);
      this.#counters.set(id, counters);
    }
    this.#durables.set(durable, id);
    const names = { id, subject, durable };
    this.#runners.set(id, new PartitionRunner(this.#ctx, partition, names, token, counters));
  }

  /** Drains the removed partitions in parallel; the revoke resolves once all are drained. */
  async #revoke(removed: readonly Partition[]): Promise<void> {
    await Promise.all(removed.map((p) => this.#drain(partitionId(p))));
  }

  #drain(id: string): Promise<void> {
    const runner = this.#runners.get(id);
    if (!runner) return Promise.resolve();
    this.#runners.delete(id);
    const drained = runner.stop().finally(() => {
      this.#draining.delete(drained);
      // Only now may the name be used again (by this partition coming back).
      if (this.#durables.get(runner.durable) === id) this.#durables.delete(runner.durable);
    });
    this.#draining.add(drained);
    return drained;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    this.#load?.stop();
    // Not awaited: removal runs in the manager's hook lane, which may be busy with a revoke that
    // this stop() must not wait behind; every hook of this set ignores calls from here on.
    this.#subscription.unsubscribe().catch(() => {});
    await Promise.all([...this.#runners.keys()].map((id) => this.#drain(id)));
    await Promise.all([...this.#draining]);
    this.#resolveClosed();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
