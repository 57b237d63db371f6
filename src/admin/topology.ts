/**
 * The topology snapshot a `GroupAdmin` shows: the group's {@link Topology} as read from its
 * buckets, with each worker's heartbeat age measured by the admin's own clock
 * (`heartbeat_ages.ts`).
 *
 * @module
 */
import { readTopology, type Topology, type TopologyWorker } from "../protocol/group_view.ts";
import type { HeartbeatObserver } from "./heartbeat_ages.ts";
import type { AdminBuckets } from "./open.ts";

/** One worker of an {@link AdminTopology}: the worker's view plus its heartbeat age. */
export interface AdminTopologyWorker extends TopologyWorker {
  /**
   * Milliseconds, by the admin's own monotonic clock, since it observed the worker's current
   * heartbeat revision arrive. `undefined` while the admin has only seen the revision that was
   * already there when it started watching: when that one was written is unknown without reading
   * another machine's clock, so the age is then at least {@link AdminTopology.observedForMs}.
   */
  readonly heartbeatAgeMs: number | undefined;
}

/** A snapshot of a group as an admin sees it: {@link Topology} plus heartbeat ages. */
export interface AdminTopology extends Topology {
  /** The workers, sorted by ID, each with its heartbeat age. */
  readonly workers: readonly AdminTopologyWorker[];
  /**
   * How long the admin has been watching heartbeats (since it was opened, or since the heartbeat
   * bucket was recreated); a worker whose `heartbeatAgeMs` is `undefined` has not heartbeated for
   * at least this long.
   */
  readonly observedForMs: number;
}

/** Reads the group's topology and adds the heartbeat ages `heartbeats` has measured. */
export async function readAdminTopology(
  buckets: AdminBuckets,
  heartbeats: HeartbeatObserver,
  onError: (error: Error) => void,
): Promise<AdminTopology> {
  return withAges(await readTopology(buckets, onError), heartbeats);
}

function withAges(topology: Topology, heartbeats: HeartbeatObserver): AdminTopology {
  return {
    ...topology,
    workers: topology.workers.map((w) => ({
      ...w,
      heartbeatAgeMs: heartbeats.ageMs(w.workerId),
    })),
    observedForMs: heartbeats.watchingForMs(),
  };
}
