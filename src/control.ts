/**
 * Control calls any worker can make on its group: refresh the partitions and rebalance now (on the
 * leader directly, else through the control keys the leader watches), drain and undrain, and the
 * read side (every published assignment, the topology).
 *
 * @module
 */
import type { Controller } from "./leader/controller.ts";
import type { GroupBuckets } from "./protocol/buckets.ts";
import { readAssignments, readTopology, type Topology } from "./protocol/group_view.ts";
import { sendRequest, setDrained } from "./protocol/requests.ts";
import type { Assignment } from "./types.ts";

/** Options of {@link GroupControl}. */
export interface GroupControlOptions {
  /** The group's buckets. */
  readonly buckets: GroupBuckets;
  /** This worker's ID (the sender of requests). */
  readonly workerId: string;
  /** The controller while this worker leads with a valid lease. */
  readonly leading: () => Controller | undefined;
  /** Malformed values found while reading. */
  readonly onError: (error: Error) => void;
}

/** The control calls of one started worker. */
export class GroupControl {
  readonly #o: GroupControlOptions;

  /** @param options Buckets, identity and the leader's controller. */
  constructor(options: GroupControlOptions) {
    this.#o = options;
  }

  /** See `Manager.refreshPartitions`. */
  async refreshPartitions(): Promise<void> {
    const controller = this.#o.leading();
    if (controller) return await controller.refreshPartitions();
    await sendRequest(this.#o.buckets.assignments, "refresh", this.#o.workerId);
  }

  /** See `Manager.triggerRebalance`. */
  async triggerRebalance(): Promise<void> {
    const controller = this.#o.leading();
    if (controller) return controller.triggerRebalance();
    await sendRequest(this.#o.buckets.assignments, "rebalance", this.#o.workerId);
  }

  /**
   * See `Manager.drainWorker` / `Manager.undrainWorker`.
   *
   * @param method The calling method, named in the error.
   * @throws {TypeError} If `workerId` is not a non-empty string.
   */
  setDrained(method: string, workerId: string, drained: boolean): Promise<boolean> {
    if (typeof workerId !== "string" || !workerId) {
      throw new TypeError(`${method}() needs an ID like 'worker-3'`);
    }
    return setDrained(this.#o.buckets.assignments, workerId, drained, this.#o.onError);
  }

  /** See `Manager.getAssignments`. */
  getAssignments(): Promise<Map<string, Assignment>> {
    return readAssignments(this.#o.buckets.assignments, this.#o.onError);
  }

  /** See `Manager.getTopology`. */
  getTopology(): Promise<Topology> {
    return readTopology(this.#o.buckets, this.#o.onError);
  }
}
