/**
 * An ownership auditor in the style of Jepsen: every worker appends what it acquires and releases
 * (with the fencing token), leadership starts and stops, and the harness appends process kills to
 * one shared append-only JSON-lines log; a checker replays the log afterwards and verifies the
 * invariants offline: no partition ever had two owners (I1), full coverage at the end (I2), one
 * leader per epoch with increasing epochs (I3), and versions that never go backwards per process.
 *
 * A paused process (`PAUSED`, e.g. SIGSTOP) cannot release anything, so others may acquire its
 * partitions meanwhile; once `RESUMED`, its next event for each such partition must be a
 * `RELEASE` (it fenced itself) — anything else is a violation.
 *
 * @module
 */

/** One event of the ownership log. `owner` identifies a process (e.g. its PID), not a worker ID. */
export type OwnershipEvent =
  | {
    readonly type: "ACQUIRE" | "RELEASE";
    readonly owner: string;
    readonly workerId: string;
    readonly partition: string;
    readonly epoch: number;
    readonly version: number;
  }
  | {
    readonly type: "LEADER_START" | "LEADER_STOP";
    readonly owner: string;
    readonly workerId: string;
    readonly epoch: number;
  }
  | { readonly type: "KILLED" | "PAUSED" | "RESUMED"; readonly owner: string }
  | { readonly type: "MARK"; readonly label: string };

/** Result of {@link checkOwnershipLog}. */
export interface OwnershipReport {
  /** Every invariant violation found, in log order; empty when the history is correct. */
  readonly violations: readonly string[];
  /** Counts of what the log contains. */
  readonly counts: {
    readonly events: number;
    readonly acquires: number;
    readonly releases: number;
    readonly kills: number;
    readonly leaderTerms: number;
    /** Partitions that changed owner at least once. */
    readonly handovers: number;
  };
  /** Owner (process) of each partition at the end of the log. */
  readonly finalOwners: ReadonlyMap<string, string>;
}

/** Options of {@link checkOwnershipLog}. */
export interface CheckOptions {
  /** When given, the end of the log must cover exactly these partitions, one owner each (I2). */
  readonly expectCoverage?: readonly string[];
}

/**
 * Replays an ownership log and checks the invariants.
 *
 * @param events The events in log (append) order.
 * @param options Optional coverage expectation.
 * @returns The violations found and counts.
 *
 * @example
 * ```ts
 * import { checkOwnershipLog } from "@parti/core/testing";
 * const report = checkOwnershipLog([
 *   { type: "ACQUIRE", owner: "1", workerId: "worker-0", partition: "p/0", epoch: 1, version: 1 },
 *   { type: "RELEASE", owner: "1", workerId: "worker-0", partition: "p/0", epoch: 1, version: 2 },
 *   { type: "ACQUIRE", owner: "2", workerId: "worker-1", partition: "p/0", epoch: 1, version: 3 },
 * ], { expectCoverage: ["p/0"] });
 * console.assert(report.violations.length === 0);
 * ```
 */
export function checkOwnershipLog(
  events: readonly OwnershipEvent[],
  options: CheckOptions = {},
): OwnershipReport {
  const violations: string[] = [];
  const holder = new Map<string, string>();
  const held = new Map<string, Set<string>>();
  const lastToken = new Map<string, { epoch: number; version: number }>();
  const epochHolder = new Map<number, string>();
  const everOwners = new Map<string, Set<string>>();
  const paused = new Set<string>();
  /** Partitions taken from a paused owner: it must release them before anything else. */
  const stale = new Map<string, Set<string>>();
  let maxEpoch = 0;
  let acquires = 0;
  let releases = 0;
  let kills = 0;
  events.forEach((event, index) => {
    const at = `event ${index + 1}`;
    switch (event.type) {
      case "ACQUIRE":
      case "RELEASE": {
        const previous = lastToken.get(event.owner);
        if (
          previous &&
          (event.epoch < previous.epoch ||
            (event.epoch === previous.epoch && event.version < previous.version))
        ) {
          violations.push(
            `${at}: ${event.workerId} (${event.owner}) went back from (${previous.epoch}, ` +
              `${previous.version}) to (${event.epoch}, ${event.version})`,
          );
        }
        lastToken.set(event.owner, { epoch: event.epoch, version: event.version });
        const staleSet = stale.get(event.owner);
        if (staleSet?.has(event.partition)) {
          staleSet.delete(event.partition);
          if (event.type !== "RELEASE") {
            violations.push(
              `${at}: ${event.workerId} (${event.owner}) resumed and acquired ` +
                `${event.partition} again without releasing it first`,
            );
          }
          break;
        }
        const current = holder.get(event.partition);
        if (event.type === "ACQUIRE") {
          acquires++;
          if (current !== undefined && current !== event.owner && paused.has(current)) {
            // Taken over from a paused process: it must release it first thing after resuming.
            let set = stale.get(current);
            if (!set) stale.set(current, set = new Set());
            set.add(event.partition);
            held.get(current)?.delete(event.partition);
          } else if (current !== undefined && current !== event.owner) {
            violations.push(
              `${at}: ${event.workerId} (${event.owner}) acquired ${event.partition} while ` +
                `${current} still held it`,
            );
          }
          holder.set(event.partition, event.owner);
          let set = held.get(event.owner);
          if (!set) held.set(event.owner, set = new Set());
          set.add(event.partition);
          let owners = everOwners.get(event.partition);
          if (!owners) everOwners.set(event.partition, owners = new Set());
          owners.add(event.owner);
        } else {
          releases++;
          if (current === event.owner) holder.delete(event.partition);
          held.get(event.owner)?.delete(event.partition);
        }
        break;
      }
      case "KILLED": {
        kills++;
        for (const p of held.get(event.owner) ?? []) {
          if (holder.get(p) === event.owner) holder.delete(p);
        }
        held.delete(event.owner);
        stale.delete(event.owner);
        paused.delete(event.owner);
        break;
      }
      case "PAUSED":
        paused.add(event.owner);
        break;
      case "RESUMED":
        paused.delete(event.owner);
        break;
      case "LEADER_START": {
        const other = epochHolder.get(event.epoch);
        if (other !== undefined && other !== event.owner) {
          violations.push(`${at}: epoch ${event.epoch} has two leaders (${other}, ${event.owner})`);
        }
        if (other === undefined && event.epoch <= maxEpoch) {
          violations.push(
            `${at}: leader epoch ${event.epoch} started after epoch ${maxEpoch} (not increasing)`,
          );
        }
        epochHolder.set(event.epoch, event.owner);
        maxEpoch = Math.max(maxEpoch, event.epoch);
        break;
      }
      case "LEADER_STOP":
      case "MARK":
        break;
    }
  });
  if (options.expectCoverage) {
    const expected = new Set(options.expectCoverage);
    const missing = options.expectCoverage.filter((p) => !holder.has(p));
    const extra = [...holder.keys()].filter((p) => !expected.has(p));
    if (missing.length > 0) {
      violations.push(`end: ${missing.length} partitions have no owner (e.g. ${missing[0]})`);
    }
    if (extra.length > 0) {
      violations.push(`end: ${extra.length} unexpected partitions are owned (e.g. ${extra[0]})`);
    }
  }
  let handovers = 0;
  for (const owners of everOwners.values()) if (owners.size > 1) handovers++;
  return {
    violations,
    counts: {
      events: events.length,
      acquires,
      releases,
      kills,
      leaderTerms: epochHolder.size,
      handovers,
    },
    finalOwners: holder,
  };
}

/**
 * Reads a JSON-lines ownership log written by several processes with `O_APPEND`.
 *
 * @param path The log file.
 * @returns The events in file order (lines that are not JSON are skipped).
 */
export async function readOwnershipLog(path: string): Promise<OwnershipEvent[]> {
  const text = await Deno.readTextFile(path);
  const events: OwnershipEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as OwnershipEvent);
    } catch {
      // A torn last line of a killed writer: ignore it.
    }
  }
  return events;
}

/**
 * Appends events to a shared ownership log, one `write` per event on a file opened with
 * `O_APPEND`, so the kernel's append order is the history's order across processes.
 */
export class OwnershipLog implements Disposable {
  readonly #file: Deno.FsFile;
  readonly #encoder = new TextEncoder();

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Opens (creating when absent) a log for appending.
   *
   * @param path The log file.
   * @returns The log.
   */
  static async open(path: string): Promise<OwnershipLog> {
    return new OwnershipLog(await Deno.open(path, { append: true, create: true }));
  }

  /**
   * Appends one event.
   *
   * @param event The event.
   */
  append(event: OwnershipEvent): void {
    this.#file.writeSync(this.#encoder.encode(JSON.stringify(event) + "\n"));
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }

  /** Same as {@link OwnershipLog.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
