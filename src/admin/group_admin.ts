/**
 * `GroupAdmin`: an operator's handle on a group that does not join it. It claims no worker ID,
 * writes no heartbeat and never runs for leader; it reads the group's buckets (topology, published
 * assignments, owners) and writes only the control keys the protocol already has for any worker
 * (`protocol/requests.ts`): the drain list and one-shot rebalance / refresh requests. The CLI
 * (`cli/parti.ts`) and edge routers are built on it.
 *
 * @module
 */
import { NotStartedError, OperationTimeoutError } from "../errors.ts";
import { type Partition, partitionId } from "../partition.ts";
import { readAssignments } from "../protocol/group_view.ts";
import { compareVersions } from "../protocol/records.ts";
import { sendRequest, setDrained } from "../protocol/requests.ts";
import { systemTimers } from "../runtime/timers.ts";
import type { Assignment } from "../types.ts";
import { HeartbeatObserver } from "./heartbeat_ages.ts";
import { type AdminBuckets, openAdminBuckets } from "./open.ts";
import {
  checkAdminOptions,
  DEFAULT_OPERATION_TIMEOUT_MS,
  type GroupAdminOptions,
} from "./options.ts";
import { type AdminTopology, readAdminTopology } from "./topology.ts";
import { type GroupAdminWatchOptions, watchTopology } from "./topology_watch.ts";

// The public types of the admin live with the code they describe; they are re-exported here so
// that `GroupAdmin` and everything it takes or returns import from one module (as mod.ts does).
export type { GroupAdminOptions } from "./options.ts";
export type { AdminTopology, AdminTopologyWorker } from "./topology.ts";
export type { GroupAdminWatchOptions } from "./topology_watch.ts";

/** Sender name of the requests an admin writes (the leader does not act on the sender). */
const REQUEST_SENDER = "admin";

/**
 * Reads and steers a group without joining it: no worker ID, no heartbeat, no leadership.
 *
 * Everything it shows comes from the group's buckets: the topology (workers, leader, versions,
 * partition counts and load, drained workers, and how long ago this admin saw each worker
 * heartbeat), the published assignments and the owner of any partition. It writes only what
 * any worker may write: the drain list and one-shot "rebalance now" and "re-read the partitions"
 * requests, which the leader acts on.
 *
 * @example Show who owns what
 * ```ts ignore
 * import { connect } from "@nats-io/transport-node";
 * import { GroupAdmin } from "@parti/core";
 *
 * const nc = await connect({ servers: "127.0.0.1:4222" });
 * await using admin = await GroupAdmin.open({ connection: nc, group: "orders" });
 * for (const w of (await admin.topology()).workers) {
 *   console.log(w.workerId, w.state, w.partitions, w.isLeader ? "leader" : "");
 * }
 * console.log(await admin.ownerOf("orders/7")); // e.g. "worker-2"
 * ```
 *
 * @example Drain a worker before a rolling deploy
 * ```ts ignore
 * await admin.drain("worker-3");
 * for await (const t of admin.watch({ signal: AbortSignal.timeout(30_000) })) {
 *   if (t.workers.find((w) => w.workerId === "worker-3")?.partitions === 0) break;
 * }
 * ```
 */
export class GroupAdmin implements AsyncDisposable {
  /** The group this admin reads. */
  readonly group: string;
  readonly #buckets: AdminBuckets;
  readonly #heartbeats: HeartbeatObserver;
  readonly #onError: (error: Error) => void;
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;

  private constructor(
    group: string,
    buckets: AdminBuckets,
    heartbeats: HeartbeatObserver,
    onError: (error: Error) => void,
  ) {
    this.group = group;
    this.#buckets = buckets;
    this.#heartbeats = heartbeats;
    this.#onError = onError;
  }

  /**
   * Opens an admin on a group: binds its buckets (never creating them on a connection; see
   * {@link GroupAdminOptions.store} for stores) and starts watching heartbeats so that
   * {@link AdminTopologyWorker.heartbeatAgeMs} can be measured.
   *
   * @param options The connection or store, the group, and the deadline.
   * @returns The open admin; close it with {@link GroupAdmin.close} or `await using`.
   * @throws {GroupNotFoundError} When the group does not exist (code `"BUCKET_NOT_FOUND"`).
   * @throws {InvalidConfigError} When an option is invalid (it names the option).
   * @throws {CoordinationUnavailableError} When the server cannot be reached.
   * @throws {OperationTimeoutError} When the server does not answer within `operationTimeoutMs`.
   *
   * @example Open, read, close
   * ```ts ignore
   * import { GroupAdmin, GroupNotFoundError } from "@parti/core";
   *
   * try {
   *   await using admin = await GroupAdmin.open({ connection: nc, group: "orders" });
   *   console.log((await admin.topology()).leader);
   * } catch (error) {
   *   if (error instanceof GroupNotFoundError) Deno.exit(3);
   *   throw error;
   * }
   * ```
   */
  static async open(options: GroupAdminOptions): Promise<GroupAdmin> {
    const { report, clock } = checkAdminOptions(options);
    const buckets = await openAdminBuckets(options);
    const heartbeats = new HeartbeatObserver(buckets.heartbeats, clock, report);
    // The watch retries by itself while the server is away; an operator tool must not hang.
    const timeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    try {
      await systemTimers.deadline(heartbeats.start(), timeoutMs, {
        onTimeout: () =>
          new OperationTimeoutError(
            `Cannot open group '${options.group}': the heartbeat watch did not deliver the current values within ${timeoutMs} ms; check the connection and retry`,
          ),
      });
    } catch (error) {
      await heartbeats.stop();
      throw error;
    }
    return new GroupAdmin(options.group, buckets, heartbeats, report);
  }

  /**
   * Reads the topology: the shape of `Manager.getTopology()` plus each worker's heartbeat age by
   * this admin's clock.
   *
   * @returns A snapshot of the group.
   * @throws {NotStartedError} After {@link GroupAdmin.close}.
   *
   * @example Who leads?
   * ```ts ignore
   * const { leader, version, workers } = await admin.topology();
   * console.log(leader?.workerId, version, workers.length);
   * ```
   */
  async topology(): Promise<AdminTopology> {
    this.#checkOpen();
    return await readAdminTopology(this.#buckets, this.#heartbeats, this.#onError);
  }

  /**
   * Reads every worker's published assignment (the same map as `Manager.getAssignments()`).
   *
   * @returns Worker ID → its assignment (`{ epoch, version, partitions }`).
   * @throws {NotStartedError} After {@link GroupAdmin.close}.
   *
   * @example Count partitions per worker
   * ```ts ignore
   * for (const [id, a] of await admin.assignments()) console.log(id, a.partitions.length);
   * ```
   */
  async assignments(): Promise<Map<string, Assignment>> {
    this.#checkOpen();
    return await readAssignments(this.#buckets.assignments, this.#onError);
  }

  /**
   * The worker whose published assignment holds a partition. When stale keys list it twice, the
   * newer publication (epoch, version) wins.
   *
   * Each call reads every published assignment; to route many requests, keep a table built from
   * {@link GroupAdmin.assignments} and refresh it when {@link GroupAdmin.watch} shows a new
   * `version` (as `examples/edge_router.ts` does).
   *
   * @param partition A partition, or its ID (its keys joined with `/`, e.g. `"orders/7"`).
   * @returns The owner's worker ID, or `undefined` when no published assignment holds it (an
   * unknown partition, or one between the two steps of a hand-off).
   * @throws {TypeError} When `partition` is neither a partition nor a non-empty string.
   * @throws {NotStartedError} After {@link GroupAdmin.close}.
   *
   * @example Route by owner
   * ```ts ignore
   * const owner = await admin.ownerOf({ keys: ["orders", "7"] });
   * if (owner === undefined) console.log("unowned right now; retry shortly");
   * ```
   */
  async ownerOf(partition: Partition | string): Promise<string | undefined> {
    const id = toPartitionId(partition);
    this.#checkOpen();
    let best: { workerId: string; epoch: number; version: number } | undefined;
    for (const [workerId, assignment] of await this.assignments()) {
      if (!assignment.partitions.some((p) => partitionId(p) === id)) continue;
      if (best === undefined || compareVersions(assignment, best) > 0) {
        best = { workerId, epoch: assignment.epoch, version: assignment.version };
      }
    }
    return best?.workerId;
  }

  /**
   * Snapshots of the topology, one after every change of the heartbeat, leader or assignment
   * bucket: the first once the watches have taken in the current values, then one per change
   * (changes that arrive while a snapshot is read or while the consumer is busy are folded into
   * the next one). A failed read is reported to `onError` and retried; the iteration ends when
   * `signal` aborts, the loop is left, or the admin is closed.
   *
   * @param options The signal that ends the iteration.
   * @returns An async iterable of snapshots.
   * @throws {NotStartedError} After {@link GroupAdmin.close}.
   *
   * @example Print every change for ten seconds
   * ```ts ignore
   * for await (const t of admin.watch({ signal: AbortSignal.timeout(10_000) })) {
   *   console.log(t.version, t.workers.map((w) => `${w.workerId}:${w.partitions}`).join(" "));
   * }
   * ```
   */
  async *watch(
    options: GroupAdminWatchOptions = {},
  ): AsyncGenerator<AdminTopology, void, undefined> {
    this.#checkOpen();
    yield* watchTopology({
      buckets: this.#buckets,
      heartbeats: this.#heartbeats,
      onError: this.#onError,
      closing: this.#closing.signal,
    }, options);
  }

  /**
   * Drains a worker: it stays alive and in the group but is given no partitions; the leader moves
   * its partitions away at its next rebalance (exclusive hand-off as usual). Persisted in the
   * group, so it survives leader changes and restarts of the worker.
   *
   * @param workerId The worker, e.g. `"worker-3"` (it need not be running yet).
   * @returns Whether the drain list changed (`false` when it was drained already).
   * @throws {TypeError} When `workerId` is not a non-empty string.
   * @throws {NotStartedError} After {@link GroupAdmin.close}.
   *
   * @example Drain, then undo
   * ```ts ignore
   * await admin.drain("worker-3");
   * await admin.undrain("worker-3");
   * ```
   */
  async drain(workerId: string): Promise<boolean> {
    checkWorkerId("drain", workerId);
    this.#checkOpen();
    return await setDrained(this.#buckets.assignments, workerId, true, this.#onError);
  }

  /**
   * Undoes {@link GroupAdmin.drain}: the worker is given partitions again at the next rebalance.
   *
   * @param workerId The worker.
   * @returns Whether the drain list changed (`false` when it was not drained).
   * @throws {TypeError} When `workerId` is not a non-empty string.
   * @throws {NotStartedError} After {@link GroupAdmin.close}.
   *
   * @example Give a worker work again
   * ```ts ignore
   * if (!(await admin.undrain("worker-3"))) console.log("worker-3 was not drained");
   * ```
   */
  async undrain(workerId: string): Promise<boolean> {
    checkWorkerId("undrain", workerId);
    this.#checkOpen();
    return await setDrained(this.#buckets.assignments, workerId, false, this.#onError);
  }

  /**
   * Asks the leader to rebalance now, ignoring its batching windows and the minimum interval
   * (as `Manager.triggerRebalance()` does from a follower). Resolves once the request is written;
   * the leader acts on it when its watch sees it. A request made while no worker leads is not
   * replayed to the next leader (which starts with a full round anyway).
   *
   * @returns A promise that resolves once the request is stored.
   * @throws {NotStartedError} After {@link GroupAdmin.close}.
   *
   * @example Rebalance now instead of after the next window
   * ```ts ignore
   * await admin.requestRebalance();
   * ```
   */
  async requestRebalance(): Promise<void> {
    this.#checkOpen();
    await sendRequest(this.#buckets.assignments, "rebalance", REQUEST_SENDER);
  }

  /**
   * Asks the leader to re-read its partition source (as `Manager.refreshPartitions()` does from a
   * follower). Resolves once the request is written, not once the leader has read the source; a
   * request made while no worker leads is not replayed (a new leader reads the source anyway).
   *
   * @returns A promise that resolves once the request is stored.
   * @throws {NotStartedError} After {@link GroupAdmin.close}.
   *
   * @example After adding partitions to the source
   * ```ts ignore
   * await admin.requestRefresh();
   * ```
   */
  async requestRefresh(): Promise<void> {
    this.#checkOpen();
    await sendRequest(this.#buckets.assignments, "refresh", REQUEST_SENDER);
  }

  /**
   * Stops the admin's watches and ends running {@link GroupAdmin.watch} iterations. The
   * connection or store stays open (it belongs to the caller). Idempotent.
   *
   * @returns A promise that resolves once the watches have stopped.
   *
   * @example Close explicitly (or use `await using`)
   * ```ts ignore
   * const admin = await GroupAdmin.open({ connection: nc, group: "orders" });
   * try {
   *   console.log((await admin.topology()).version);
   * } finally {
   *   await admin.close();
   * }
   * ```
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await this.#heartbeats.stop();
    })();
    return this.#closed;
  }

  /** Same as {@link GroupAdmin.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed !== undefined) {
      throw new NotStartedError(
        `GroupAdmin of group '${this.group}' is closed; open a new one with GroupAdmin.open()`,
      );
    }
  }
}

function checkWorkerId(method: string, id: unknown): void {
  if (typeof id !== "string" || !id) {
    throw new TypeError(`GroupAdmin.${method}() needs a worker ID like 'worker-3'`);
  }
}

function toPartitionId(partition: unknown): string {
  if (typeof partition === "string" && partition !== "") return partition;
  const keys = (partition as { keys?: unknown } | null)?.keys;
  if (
    Array.isArray(keys) && keys.length > 0 && keys.every((k) => typeof k === "string" && k !== "")
  ) {
    return partitionId(partition as Partition);
  }
  throw new TypeError(
    "GroupAdmin.ownerOf() needs a partition ({ keys: [...] }) or its ID like 'orders/7'",
  );
}
