/** Shared helpers for Manager tests: partition lists, pools of managers and coverage checks. */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import {
  type FencingToken,
  Manager,
  type ManagerOptions,
  type Partition,
  partitionId,
  presets,
  recommendedConnectionOptions,
} from "../../mod.ts";
import { waitFor } from "../../testing/mod.ts";

/** `count` partitions `["p", "<i>"]` with weights 1..5. */
export function makePartitions(count: number, weighted = true): Partition[] {
  return Array.from({ length: count }, (_, i) => ({
    keys: ["p", String(i)],
    ...(weighted ? { weight: 1 + (i % 5) } : {}),
  }));
}

/** Connects with the recommended options. */
export function connectTo(url: string): Promise<NatsConnection> {
  return connect({ servers: url, ...recommendedConnectionOptions });
}

/** Fast test timings plus the given options. */
export function fastOptions(
  overrides: Partial<ManagerOptions> & Pick<ManagerOptions, "group" | "source">,
): ManagerOptions {
  return { ...presets.fastTest, ...overrides } as ManagerOptions;
}

/** Owners of every partition among the given managers. */
export function owners(managers: readonly Manager[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of managers) {
    for (const p of m.assignment.partitions) {
      const id = partitionId(p);
      const list = out.get(id) ?? [];
      list.push(m.workerId ?? "?");
      out.set(id, list);
    }
  }
  return out;
}

/** True when every partition is owned by exactly one of the managers. */
export function fullyCovered(managers: readonly Manager[], partitions: readonly Partition[]) {
  const map = owners(managers);
  if (map.size !== partitions.length) return false;
  for (const p of partitions) if (map.get(partitionId(p))?.length !== 1) return false;
  return true;
}

/** Asserts there is never more than one owner per partition (a snapshot). */
export function duplicates(managers: readonly Manager[]): string[] {
  return [...owners(managers)].filter(([, o]) => o.length > 1).map(([id]) => id);
}

/** Waits until the managers cover every partition exactly once with exactly one leader. */
export async function waitForSettled(
  managers: readonly Manager[],
  partitions: readonly Partition[],
  timeoutMs = 15_000,
): Promise<void> {
  await waitFor(
    () =>
      fullyCovered(managers, partitions) &&
      managers.filter((m) => m.isLeader).length === 1 &&
      managers.every((m) => m.state === "stable"),
    { timeoutMs, intervalMs: 20 },
  );
}

/** Managers on their own NATS connections, stopped and closed on disposal. */
export interface NatsPool extends AsyncDisposable {
  /** The managers, not yet started. */
  readonly managers: Manager[];
  /** Their connections, in the same order. */
  readonly connections: NatsConnection[];
}

/**
 * Creates `count` managers with fast timings, each on its own connection to `url`.
 *
 * @param options Options for every manager, or a function of the index giving them.
 */
export async function natsPool(
  url: string,
  count: number,
  options:
    | (Partial<ManagerOptions> & Pick<ManagerOptions, "group" | "source">)
    | ((i: number) => Partial<ManagerOptions> & Pick<ManagerOptions, "group" | "source">),
): Promise<NatsPool> {
  const connections = await Promise.all(Array.from({ length: count }, () => connectTo(url)));
  const managers = connections.map((nc, i) =>
    new Manager(
      fastOptions({ ...(typeof options === "function" ? options(i) : options), connection: nc }),
    )
  );
  return {
    managers,
    connections,
    async [Symbol.asyncDispose]() {
      await Promise.all(managers.map((m) => m.stop()));
      await Promise.all(connections.map((nc) => nc.close()));
    },
  };
}

/** Orders two fencing tokens as (epoch, version) pairs, like a sort comparator. */
export function compareTokens(a: FencingToken, b: FencingToken): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.version - b.version;
}

/** The IDs of the given partitions, sorted. */
export function idsOf(partitions: readonly Partition[]): string[] {
  return partitions.map(partitionId).sort();
}

/** The four KV buckets of a group, opened on a connection of the test's own (no manager). */
export interface GroupBuckets {
  /** Stable worker ID claims (key: the worker ID). */
  readonly ids: KV;
  /** Heartbeats (key: the worker ID). */
  readonly heartbeats: KV;
  /** The leader lease. */
  readonly leader: KV;
  /** Published assignments. */
  readonly assignments: KV;
}

/**
 * Opens the buckets of `group`. They must exist already (wait for a manager of the group to have
 * a `workerId`): reads use the direct-get API, as the managers' own do, and nats-server 2.9.10
 * crashes (nil dereference in `jsMsgGetRequest`) on a plain message get that races the creation
 * of its stream.
 */
export async function openGroupBuckets(nc: NatsConnection, group: string): Promise<GroupBuckets> {
  const kvm = new Kvm(nc);
  const [ids, heartbeats, leader, assignments] = await Promise.all(
    ["ids", "hb", "leader", "assign"].map((b) =>
      kvm.open(`parti_${group}_${b}`, { allow_direct: true })
    ),
  );
  return { ids: ids!, heartbeats: heartbeats!, leader: leader!, assignments: assignments! };
}

/** Whether a KV entry read with `get()` holds a value (not absent, deleted or purged). */
export function holdsValue(entry: KvEntry | null): boolean {
  return entry !== null && entry.operation === "PUT";
}
