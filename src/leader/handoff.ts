/**
 * What the leader publishes: the exclusive hand-off plan and the bookkeeping it rests on. A
 * partition is added to a new owner only when no other member may still hold it — its old owner
 * confirmed the revocation through its heartbeat, or left — so no two live workers own it at once.
 * Also the `minRebalanceThreshold` rule, which judges whether a round that would only improve
 * balance is worth its movement. Pure: inputs in, plans out; no timers, no I/O.
 *
 * @module
 */
import { type Partition, partitionId, sameKeys } from "../partition.ts";
import { digestIds } from "../protocol/records.ts";

/** A worker's published key, as the hand-off rules see it. */
export interface PublishedIds {
  /** Version of the publication that last wrote the key. */
  readonly version: number;
  /** Partition IDs in the key. */
  readonly ids: ReadonlySet<string>;
  /** The worker incarnation the key is addressed to, when known. */
  readonly incarnation?: string;
}

/** One publication to a worker that it has not acknowledged yet. */
export interface UnackedPublication {
  /** The version written. */
  readonly version: number;
  /** The partition IDs it assigned. */
  readonly ids: ReadonlySet<string>;
}

/** What one member may still hold, as far as the leader can tell. */
export interface HoldState {
  /** Partitions the worker confirmed holding at its last acknowledged version. */
  readonly acked: ReadonlySet<string> | "unknown";
  /** Publications to this worker it has not acknowledged yet, oldest first. */
  readonly unacked: readonly UnackedPublication[];
}

/** The heartbeat fields the hand-off rules read. */
export interface HoldReport {
  /** Version of the assignment the worker applied (hooks resolved). */
  readonly appliedVersion: number;
  /** Number of partitions the worker owns. */
  readonly owned: number;
}

/** What a worker reporting no partitions holds (shared, never changed). */
const NOTHING: ReadonlySet<string> = new Set();

/**
 * Re-derives what a member may hold from its latest heartbeat: publications it has applied stop
 * being unacknowledged, and the newest of them becomes what it confirmed holding. A worker that
 * reports owning nothing holds nothing; with no acknowledged publication to go by, what it holds
 * is unknown.
 *
 * @param previous The hold before this heartbeat, if any.
 * @param report The heartbeat.
 * @param published The worker's published key, if any.
 * @returns The new hold.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { refreshHold } from "./handoff.ts";
 * const key = { version: 4, ids: new Set(["p/0"]) };
 * const hold = refreshHold(undefined, { appliedVersion: 4, owned: 1 }, key);
 * assert.deepEqual(hold, { acked: new Set(["p/0"]), unacked: [] });
 * ```
 */
export function refreshHold(
  previous: HoldState | undefined,
  report: HoldReport,
  published: PublishedIds | undefined,
): HoldState {
  const applied = report.appliedVersion;
  const unacked = (previous?.unacked ?? []).filter((u) => u.version > applied);
  // A key the worker has not applied yet may be on its way to its hooks: after a failover (holds
  // rebuilt from scratch) or a rejoin nothing recorded says so, so the key itself counts as
  // unacknowledged. This only ever holds partitions back.
  if (
    published && published.version > applied &&
    !unacked.some((u) => u.version === published.version)
  ) {
    unacked.push({ version: published.version, ids: published.ids });
    unacked.sort((x, y) => x.version - y.version);
  }
  let acked: ReadonlySet<string> | "unknown" = previous?.acked ?? "unknown";
  // The sets are shared, not copied (every heartbeat refreshes a hold): they are never changed.
  if (report.owned === 0) acked = NOTHING;
  else if (published && applied >= published.version) acked = published.ids;
  else if (previous) {
    const confirmed = previous.unacked.filter((u) => u.version <= applied).at(-1);
    if (confirmed) acked = confirmed.ids;
  }
  return { acked, unacked };
}

/**
 * Records a publication to a worker: until it acknowledges the version, it may hold these too.
 *
 * @param hold The worker's hold.
 * @param version The version written to its key.
 * @param ids The partition IDs written.
 * @returns The new hold.
 */
export function recordPublication(
  hold: HoldState,
  version: number,
  ids: ReadonlySet<string>,
): HoldState {
  return { acked: hold.acked, unacked: [...hold.unacked, { version, ids }] };
}

/**
 * Everything a member may hold: what it confirmed plus every unacknowledged publication.
 *
 * @param hold The member's hold; a member without one may hold anything.
 * @returns The partition IDs, or `"unknown"`.
 */
export function mayHold(hold: HoldState | undefined): ReadonlySet<string> | "unknown" {
  if (!hold || hold.acked === "unknown") return "unknown";
  const out = new Set(hold.acked);
  for (const u of hold.unacked) for (const id of u.ids) out.add(id);
  return out;
}

/**
 * Whether a worker cannot take its key as published: its key is addressed to an earlier
 * incarnation (it fenced itself, or a new process took the ID over after a restart), or it
 * confirmed the latest version but holds something else (its key was overwritten). Its key must
 * be rewritten even if unchanged.
 *
 * @param report The worker's heartbeat (`state`, applied version, owned digest, incarnation).
 * @param published The worker's published key, if any.
 * @returns `true` when its key must be republished.
 */
export function lostItsAssignment(
  report: {
    readonly state: string;
    readonly appliedVersion: number;
    readonly ownedDigest: string;
    readonly incarnation?: string;
  },
  published: PublishedIds | undefined,
): boolean {
  // A worker away for a restart holds nothing on purpose; its key waits for it unchanged.
  if (!published || report.state === "shutdown") return false;
  if (
    report.incarnation !== undefined && published.incarnation !== undefined &&
    report.incarnation !== published.incarnation
  ) return true;
  return report.appliedVersion >= published.version &&
    report.ownedDigest !== publishedDigest(published.ids);
}

/** Digests of published ID sets, which never change: each is sorted and hashed once. */
const digests = new WeakMap<ReadonlySet<string>, string>();

/** `digestIds` of a published key's IDs, computed once per key (every heartbeat compares it). */
function publishedDigest(ids: ReadonlySet<string>): string {
  let digest = digests.get(ids);
  if (digest === undefined) digests.set(ids, digest = digestIds(ids));
  return digest;
}

/**
 * The published owner of each partition, counting members only: a dead worker's key is no claim.
 *
 * @param published Published partition IDs per worker.
 * @param members The live workers.
 * @returns Partition ID → owner, the `previous` the engine keeps movement minimal against.
 */
export function previousOwners(
  published: ReadonlyMap<string, { readonly ids: ReadonlySet<string> }>,
  members: ReadonlySet<string>,
): Map<string, string> {
  const previous = new Map<string, string>();
  for (const [workerId, key] of published) {
    if (!members.has(workerId)) continue;
    for (const id of key.ids) previous.set(id, workerId);
  }
  return previous;
}

/**
 * Workers that have partitions in their published key but no heartbeat this leader has seen: a
 * new leader cannot tell a dead worker from one whose heartbeat key expired while the server was
 * down (the server counts its downtime against the TTL) and that may still be releasing its
 * partitions. Liveness comes only from this leader's own observation, so such a worker is treated
 * as alive, holding its key, until it has been absent for a whole heartbeat TTL.
 *
 * @param published Published partition IDs per worker.
 * @param members The workers with a heartbeat this leader has seen.
 * @returns The absent owners.
 */
export function absentOwners(
  published: ReadonlyMap<string, { readonly ids: ReadonlySet<string> }>,
  members: ReadonlySet<string>,
): string[] {
  return [...published].filter(([id, key]) => key.ids.size > 0 && !members.has(id)).map(([id]) =>
    id
  );
}

/** Inputs of {@link plan}. */
export interface PlanInput {
  /** The target partitions per worker (the engine's result); a worker not in it wants nothing. */
  readonly desired: ReadonlyMap<string, readonly Partition[]>;
  /**
   * Published partition IDs per worker, with the published list `ids` was built from when known
   * (its entries that `desired` repeats in the same order are kept without an ID look-up).
   */
  readonly published: ReadonlyMap<
    string,
    { readonly ids: ReadonlySet<string>; readonly partitions?: readonly Partition[] }
  >;
  /** The live workers, in publication order; only they may still hold anything. */
  readonly members: ReadonlySet<string>;
  /** What each member may still hold; a member without a hold may hold anything. */
  readonly holds: ReadonlyMap<string, HoldState>;
}

/** The next publication, from {@link plan}. */
export interface HandoffPlan {
  /**
   * The partitions per worker: one entry for every published worker and every member, then for
   * any other worker in `desired`.
   */
  readonly next: Map<string, Partition[]>;
  /** Partitions held back until no other member may hold them. */
  readonly pending: number;
  /** Partitions added to a worker that was not published with them. */
  readonly moved: number;
}

/**
 * Plans the next publication towards `desired`: a worker keeps what it is published with and
 * wants; a partition new to a worker is added only when no other member may still hold it (nor
 * holds an unknown set), otherwise it stays pending for a later round.
 *
 * @param input Desired, published, members and their holds.
 * @returns The partitions per worker and the pending and moved counts.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { plan } from "./handoff.ts";
 * const p0 = { keys: ["p", "0"] };
 * const holding = (...ids: string[]) => ({ acked: new Set(ids), unacked: [] });
 * // p/0 moves from "a" to "b": first "a" must confirm the revoke.
 * const result = plan({
 *   desired: new Map([["b", [p0]]]),
 *   published: new Map([["a", { ids: new Set(["p/0"]) }]]),
 *   members: new Set(["a", "b"]),
 *   holds: new Map([["a", holding("p/0")], ["b", holding()]]),
 * });
 * assert.deepEqual(result, { next: new Map([["a", []], ["b", []]]), pending: 1, moved: 0 });
 * ```
 */
export function plan(input: PlanInput): HandoffPlan {
  const { desired, published, members, holds } = input;
  const heldElsewhere = holderIndex(members, holds);
  const workers = new Set([...published.keys(), ...members, ...desired.keys()]);
  const next = new Map<string, Partition[]>();
  let pending = 0;
  let moved = 0;
  for (const workerId of workers) {
    const key = published.get(workerId);
    const current = key?.ids;
    const wanted = desired.get(workerId) ?? [];
    const out: Partition[] = [];
    if ((current === undefined || current.size === 0) && heldElsewhere.none) {
      // Nothing published to it and nobody may hold anything (a cold start): all of it is new.
      for (const partition of wanted) out.push(partition);
      moved += wanted.length;
      next.set(workerId, out);
      continue;
    }
    // The published list, walked alongside: a partition that is its next entry is kept without
    // building its ID (most of a list in most rounds, both being in partition-list order).
    const was = key?.partitions ?? [];
    let j = 0;
    for (const partition of wanted) {
      if (j < was.length && sameKeys(was[j]!, partition)) {
        out.push(partition);
        j++;
        continue;
      }
      const id = partitionId(partition);
      if (current?.has(id)) {
        out.push(partition);
        // Entries before it were dropped; if it is not ahead (another order), stop walking.
        let k = j;
        while (k < was.length && !sameKeys(was[k]!, partition)) k++;
        j = k < was.length ? k + 1 : was.length;
      } else if (heldElsewhere(workerId, id)) pending++;
      else {
        out.push(partition);
        moved++;
      }
    }
    next.set(workerId, out);
  }
  return { next, pending, moved };
}

/** Marks a partition that more than one member may hold. */
const SEVERAL = 0;

/**
 * Who may hold each partition, indexed once (O(total holds), not O(partitions × members)):
 * returns whether a member other than `workerId` may hold `id`. A member whose holdings are
 * unknown may hold anything.
 */
function holderIndex(
  members: ReadonlySet<string>,
  holds: ReadonlyMap<string, HoldState>,
): ((workerId: string, id: string) => boolean) & { readonly none: boolean } {
  const unknown = new Set<string>();
  const holders = new Map<string, string | typeof SEVERAL>();
  const note = (id: string, member: string) => {
    const holder = holders.get(id);
    if (holder === undefined) holders.set(id, member);
    else if (holder !== member) holders.set(id, SEVERAL);
  };
  for (const member of members) {
    // What `mayHold` returns, read in place rather than copied into one set per member.
    const hold = holds.get(member);
    if (!hold || hold.acked === "unknown") {
      unknown.add(member);
      continue;
    }
    for (const id of hold.acked) note(id, member);
    for (const u of hold.unacked) for (const id of u.ids) note(id, member);
  }
  const heldElsewhere = (workerId: string, id: string) => {
    if (unknown.size > 1 || (unknown.size === 1 && !unknown.has(workerId))) return true;
    const holder = holders.get(id);
    return holder !== undefined && holder !== workerId;
  };
  // `none`: no member may hold anything, so nothing is held elsewhere whatever the ID.
  return Object.assign(heldElsewhere, { none: unknown.size === 0 && holders.size === 0 });
}

/** Inputs of the `minRebalanceThreshold` rule ({@link isBalanceOnly}, {@link imbalance}). */
export interface BalanceView {
  /** The workers the round would assign to. */
  readonly live: readonly string[];
  /** The current partition list. */
  readonly partitions: readonly Partition[];
  /** Published partition IDs per worker. */
  readonly published: ReadonlyMap<string, { readonly ids: ReadonlySet<string> }>;
  /** Partition ID → published owner among the members ({@link previousOwners}). */
  readonly previous: ReadonlyMap<string, string>;
  /** Effective weight per partition ID (load-aware rebalancing), instead of the static weights. */
  readonly weights?: ReadonlyMap<string, number>;
  /** Capacity of a worker (1 when not given): loads are compared per unit of capacity. */
  readonly capacity?: (workerId: string) => number;
}

/** What the threshold rules read of a partition list, computed once per list (see below). */
interface ListFacts {
  readonly length: number;
  readonly ids: readonly string[];
  readonly idSet: ReadonlySet<string>;
  readonly weights: ReadonlyMap<string, number>;
}

const facts = new WeakMap<readonly Partition[], ListFacts>();

/**
 * The IDs (in order and as a set) and weights of a partition list, computed on the first use and
 * kept for as long as the list lives: the leader's list is never changed in place (a new read is
 * a new array), and its rounds ask for these up to five times each, 100k entries every time at
 * that size. A list whose length changed is read again.
 */
function listFacts(partitions: readonly Partition[]): ListFacts {
  const known = facts.get(partitions);
  if (known !== undefined && known.length === partitions.length) return known;
  const ids = partitions.map(partitionId);
  const weights = new Map<string, number>();
  for (let i = 0; i < ids.length; i++) weights.set(ids[i]!, partitions[i]!.weight ?? 1);
  const made = { length: partitions.length, ids, idSet: new Set(ids), weights };
  facts.set(partitions, made);
  return made;
}

/**
 * Whether a round could only improve balance: every partition has a live owner, every live
 * worker has a key, and no key holds a partition that is gone or belongs to a worker that is not
 * live.
 *
 * @param view The round's inputs.
 * @returns `true` when nothing is orphaned or stale.
 */
export function isBalanceOnly(view: BalanceView): boolean {
  const { live, partitions, published, previous } = view;
  const liveSet = new Set(live);
  // A worker that has never been published for waits for its first (possibly empty) assignment.
  for (const workerId of live) if (!published.has(workerId)) return false;
  // A key that is not a live worker's is found per worker, without reading the list: a round
  // after a crash (a new leader's first one included) needs no partition IDs to know it is not
  // balance-only.
  for (const [workerId, key] of published) {
    if (!liveSet.has(workerId) && key.ids.size > 0) return false;
  }
  const list = listFacts(partitions);
  for (const id of list.ids) {
    const owner = previous.get(id);
    if (owner === undefined || !liveSet.has(owner)) return false;
  }
  const current = list.idSet;
  for (const key of published.values()) {
    for (const id of key.ids) if (!current.has(id)) return false;
  }
  return true;
}

/**
 * (max − min) / mean of the live workers' published loads by weight, each per unit of its capacity;
 * 0 with no load.
 *
 * @param view The round's inputs (`previous` is not read).
 * @returns The imbalance, a fraction.
 */
export function imbalance(view: Omit<BalanceView, "previous">): number {
  const { live, partitions, published } = view;
  if (live.length === 0) return 0;
  const weights = view.weights ?? listFacts(partitions).weights;
  const capacities = live.map((w) => view.capacity?.(w) ?? 1);
  const meanCapacity = capacities.reduce((a, b) => a + b, 0) / live.length;
  const loads = live.map((w, i) => {
    let load = 0;
    for (const id of published.get(w)?.ids ?? []) load += weights.get(id) ?? 0;
    return load * meanCapacity / capacities[i]!;
  });
  const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
  return mean === 0 ? 0 : (Math.max(...loads) - Math.min(...loads)) / mean;
}

/** Inputs of {@link skipsBelowThreshold}. */
export interface ThresholdInput extends BalanceView {
  /** `minRebalanceThreshold`. */
  readonly threshold: number;
  /** The round serves an operator's request (a drain change or a trigger). */
  readonly manual: boolean;
  /** Some worker's key must be rewritten ({@link lostItsAssignment}). */
  readonly forced: boolean;
  /** A hand-off is under way (the last round left partitions pending). */
  readonly handingOff: boolean;
}

/**
 * The `minRebalanceThreshold` rule: a round whose only gain is balance is skipped when the
 * imbalance is below the threshold. A manual request, a forced rewrite and a hand-off under way
 * are never skipped.
 *
 * @param input The round's inputs and the threshold.
 * @returns `{ skip: true, imbalance }` when the round should publish nothing.
 */
export function skipsBelowThreshold(
  input: ThresholdInput,
): { readonly skip: true; readonly imbalance: number } | { readonly skip: false } {
  if (input.manual || input.forced || input.handingOff || !isBalanceOnly(input)) {
    return { skip: false };
  }
  const value = imbalance(input);
  return value < input.threshold ? { skip: true, imbalance: value } : { skip: false };
}

/** Inputs of {@link gainsNothing}. */
export interface GainInput extends ThresholdInput {
  /** The round's target: the partitions each worker should hold. */
  readonly desired: ReadonlyMap<string, readonly Partition[]>;
  /**
   * The partition list changed since the last publication (a pin, selector, locality or weight
   * may have changed): the target may move partitions for placement, not balance.
   */
  readonly listChanged: boolean;
}

/**
 * Whether a round that could only improve balance would not improve it: its target's imbalance
 * is no lower than the published one. Placement by consistent hashing with bounded loads is not
 * idempotent — placing its own output again can move a partition between two live workers with
 * no gain (e.g. when a worker that holds nothing is declared dead, the round it triggers) — so
 * such a round publishes nothing. Manual, forced and hand-off rounds, rounds with something
 * orphaned or stale, and rounds after a change of the partition list are never skipped.
 *
 * @param input The round's inputs and its target.
 * @returns `{ skip: true, imbalance }` (the current imbalance) when the round should publish
 *   nothing.
 *
 * @example A move between two equally loaded workers gains nothing
 * ```ts
 * import assert from "node:assert/strict";
 * import { gainsNothing, previousOwners } from "./handoff.ts";
 * const p = (i: number) => ({ keys: ["p", String(i)] });
 * const published = new Map([
 *   ["a", { version: 1, ids: new Set(["p/0"]) }],
 *   ["b", { version: 1, ids: new Set(["p/1"]) }],
 * ]);
 * const result = gainsNothing({
 *   live: ["a", "b"],
 *   partitions: [p(0), p(1)],
 *   published,
 *   previous: previousOwners(published, new Set(["a", "b"])),
 *   threshold: 0.15,
 *   manual: false,
 *   forced: false,
 *   handingOff: false,
 *   listChanged: false,
 *   desired: new Map([["a", [p(1)]], ["b", [p(0)]]]),
 * });
 * assert.deepEqual(result, { skip: true, imbalance: 0 });
 * ```
 */
export function gainsNothing(
  input: GainInput,
): { readonly skip: true; readonly imbalance: number } | { readonly skip: false } {
  if (
    input.manual || input.forced || input.handingOff || input.listChanged || !isBalanceOnly(input)
  ) {
    return { skip: false };
  }
  const current = imbalance(input);
  const target = new Map(
    input.live.map((w) => [w, { ids: new Set((input.desired.get(w) ?? []).map(partitionId)) }]),
  );
  const after = imbalance({ ...input, published: target });
  // A float tolerance: the same loads summed in another order.
  return after >= current - 1e-9 ? { skip: true, imbalance: current } : { skip: false };
}
