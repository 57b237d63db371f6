/**
 * What the leader tells the engine about each member beyond its ID: capacity, labels and instance
 * name, as its heartbeat reports them.
 *
 * @module
 */
import type { WorkerInfo } from "../engine/placement.ts";
import type { MemberView } from "./membership.ts";

/** Worker ID → capacity, labels and instance, from the members' heartbeats. */
export function placementInfo(members: readonly MemberView[]): Map<string, WorkerInfo> {
  const info = new Map<string, WorkerInfo>();
  for (const m of members) {
    const { capacity, labels, instance } = m.heartbeat;
    info.set(m.workerId, {
      instance,
      ...(capacity !== undefined ? { capacity } : {}),
      ...(labels !== undefined ? { labels } : {}),
    });
  }
  return info;
}
