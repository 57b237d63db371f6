/**
 * How a `GroupAdmin` gets at a group's buckets without joining it, and what "the group does not
 * exist" means on each kind of store.
 *
 * - On a NATS connection the buckets are bound read-only (`nats_readonly.ts`): nothing is created,
 *   and a missing bucket is a {@link GroupNotFoundError}.
 * - On a `store`, the store contract offers only `CoordinationStore.bucket()`, which creates a
 *   missing bucket and must be given the bucket settings the workers use (the same timing options
 *   and `kv` settings; an existing bucket with other settings is a `BucketConfigMismatchError`).
 *   A group none of whose buckets has ever been written to is then reported as
 *   {@link GroupNotFoundError} too; the empty buckets `bucket()` had to create stay (deleting them
 *   could race a worker that is just starting), and they match what a worker with the same
 *   settings creates.
 *
 * @module
 */
import { resolveConfig } from "../config.ts";
import { InvalidConfigError } from "../errors.ts";
import type { TuningOptions } from "../options.ts";
import { openGroupBuckets } from "../protocol/buckets.ts";
import { bucketNames } from "../protocol/keys.ts";
import type { CoordinationStore } from "../store/store.ts";
import type { NatsConnection } from "../types.ts";
import { GroupNotFoundError } from "./errors.ts";
import type { AdminBuckets } from "./nats_readonly.ts";

export type { AdminBuckets };

/** What {@link openAdminBuckets} needs from the admin's options. */
export interface OpenAdminOptions extends
  Pick<
    TuningOptions,
    | "workerIdTtlMs"
    | "heartbeatIntervalMs"
    | "heartbeatTtlMs"
    | "electionLeaseMs"
    | "operationTimeoutMs"
    | "kv"
  > {
  /** A NATS connection. */
  readonly connection?: NatsConnection;
  /** Or a coordination store. */
  readonly store?: CoordinationStore;
  /** The group. */
  readonly group: string;
}

/**
 * Validates the options and opens the group's buckets.
 *
 * @throws {InvalidConfigError} Naming the first invalid option.
 * @throws {GroupNotFoundError} When the group does not exist (see the module comment).
 */
export async function openAdminBuckets(options: OpenAdminOptions): Promise<AdminBuckets> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("GroupAdmin options must be an object");
  }
  // Only the options that shape the buckets (and the deadline) are checked: the admin has no use
  // for the rest of a preset that may be spread into its options.
  const c = resolveConfig({
    group: options.group,
    source: [],
    ...(options.connection !== undefined ? { connection: options.connection } : {}),
    ...(options.store !== undefined ? { store: options.store } : {}),
    ...pick(options),
  });
  if (c.connection !== undefined) {
    const { openExistingNatsGroup } = await import("./nats_readonly.ts");
    return await openExistingNatsGroup(c.connection, c.group, c.operationTimeoutMs);
  }
  const store = c.store;
  if (store === undefined) throw new InvalidConfigError("store", "give a connection or a store");
  const buckets = await openGroupBuckets(store, c);
  const statuses = await Promise.all(
    [buckets.ids, buckets.heartbeats, buckets.leader, buckets.assignments].map((b) => b.status()),
  );
  if (statuses.every((s) => s.lastRevision === 0)) {
    const names = bucketNames(c.group);
    throw new GroupNotFoundError(
      c.group,
      [names.ids, names.heartbeats, names.leader, names.assignments],
      { empty: true },
    );
  }
  return buckets;
}

function pick(o: OpenAdminOptions): TuningOptions {
  const out: Record<string, unknown> = {};
  for (
    const field of [
      "workerIdTtlMs",
      "heartbeatIntervalMs",
      "heartbeatTtlMs",
      "electionLeaseMs",
      "operationTimeoutMs",
      "kv",
    ] as const
  ) {
    if (o[field] !== undefined) out[field] = o[field];
  }
  return out as TuningOptions;
}
