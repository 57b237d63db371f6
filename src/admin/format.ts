/**
 * Plain-text renderings of what a `GroupAdmin` reads, for the CLI (`cli/parti.ts`) and anything
 * else that prints a group: the status table, heartbeat ages, the assignment listing, and JSON
 * forms that keep unknown values as `null` instead of dropping them. Pure functions, no I/O.
 *
 * @module
 */
import { partitionId } from "../partition.ts";
import type { Assignment } from "../types.ts";
import type { AdminTopology, AdminTopologyWorker } from "./group_admin.ts";

/** Column headers of {@link formatTopology}'s table, in order. */
export const STATUS_COLUMNS: readonly string[] = Object.freeze([
  "ID",
  "LEADER",
  "STATE",
  "PARTITIONS",
  "LOAD",
  "VERSION",
  "APPLIED",
  "HEARTBEAT",
  "DRAINED",
]);

/**
 * A heartbeat age for people: `"0.4s"` when it was observed, `">2.5s"` when the admin has only
 * seen the revision that was there when it started watching (`observedForMs` ago), `"-"` for a
 * worker with no heartbeat (gone, its key still published).
 */
export function formatHeartbeatAge(worker: AdminTopologyWorker, observedForMs: number): string {
  if (worker.state === undefined) return "-";
  if (worker.heartbeatAgeMs === undefined) return `>${seconds(observedForMs)}`;
  return seconds(worker.heartbeatAgeMs);
}

/**
 * The status of a group: a summary line and one table row per worker (columns
 * {@link STATUS_COLUMNS}, separated by at least two spaces, no cell contains a space).
 *
 * @param group The group name, for the summary line.
 * @param topology What `GroupAdmin.topology()` returned.
 * @returns Lines joined with `\n`, without a trailing newline.
 */
export function formatTopology(group: string, topology: AdminTopology): string {
  const leader = topology.leader
    ? `${topology.leader.workerId} (epoch ${topology.leader.epoch})`
    : "none";
  const summary = `group ${group}: leader ${leader}, version ${topology.version}, ` +
    `${topology.partitionCount} partitions (${topology.pending} pending), ` +
    `${topology.workers.length} worker${topology.workers.length === 1 ? "" : "s"}`;
  const rows = topology.workers.map((w) => [
    w.workerId,
    w.isLeader ? "yes" : "no",
    w.state ?? "-",
    String(w.partitions),
    formatNumber(w.load),
    String(w.publishedVersion),
    String(w.appliedVersion),
    formatHeartbeatAge(w, topology.observedForMs),
    w.drained ? "yes" : "no",
  ]);
  return [summary, ...table([STATUS_COLUMNS, ...rows])].join("\n");
}

/**
 * The topology as JSON-ready data: like the object itself, with an unknown heartbeat age as
 * `null` (and no leader as `null`) instead of a dropped field.
 */
export function topologyJson(topology: AdminTopology): Record<string, unknown> {
  return {
    ...topology,
    leader: topology.leader ?? null,
    workers: topology.workers.map((w) => ({
      ...w,
      state: w.state ?? null,
      heartbeatAgeMs: w.heartbeatAgeMs === undefined ? null : Math.round(w.heartbeatAgeMs),
    })),
    observedForMs: Math.round(topology.observedForMs),
  };
}

/** The published assignments as JSON-ready data: worker ID → `{ epoch, version, partitions }`. */
export function assignmentsJson(
  assignments: ReadonlyMap<string, Assignment>,
): Record<string, Assignment> {
  const out: Record<string, Assignment> = {};
  for (const id of [...assignments.keys()].sort()) out[id] = assignments.get(id)!;
  return out;
}

/** The published assignments for people: one line per worker with its partition IDs. */
export function formatAssignments(assignments: ReadonlyMap<string, Assignment>): string {
  const lines: string[] = [];
  for (const [id, a] of Object.entries(assignmentsJson(assignments))) {
    const ids = a.partitions.map(partitionId).join(" ");
    lines.push(
      `${id}  e${a.epoch}v${a.version}  ${a.partitions.length} partitions${ids ? `: ${ids}` : ""}`,
    );
  }
  return lines.length > 0 ? lines.join("\n") : "no published assignments";
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, "");
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  return rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  ")
  );
}
