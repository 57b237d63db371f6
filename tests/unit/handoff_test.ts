/**
 * The exclusive hand-off (`src/leader/handoff.ts`): the plan never lets two members own a
 * partition, holds are re-derived from heartbeats exactly, and the `minRebalanceThreshold` rule
 * skips only balance-only rounds. Includes seeded property tests (no `Math.random`).
 */
import assert from "node:assert/strict";
import {
  type HoldState,
  imbalance,
  isBalanceOnly,
  lostItsAssignment,
  mayHold,
  plan,
  type PlanInput,
  previousOwners,
  recordPublication,
  refreshHold,
  skipsBelowThreshold,
  type ThresholdInput,
} from "../../src/leader/handoff.ts";
import { type Partition, partitionId } from "../../src/partition.ts";
import { digestIds } from "../../src/protocol/records.ts";

function p(n: number, weight?: number): Partition {
  return weight === undefined ? { keys: ["p", String(n)] } : { keys: ["p", String(n)], weight };
}

function ids(...ns: number[]): Set<string> {
  return new Set(ns.map((n) => partitionId(p(n))));
}

function key(version: number, ...ns: number[]) {
  return { version, ids: ids(...ns) };
}

function held(...ns: number[]): HoldState {
  return { acked: ids(...ns), unacked: [] };
}

/** The next publication as worker → sorted partition numbers. */
function shape(next: ReadonlyMap<string, readonly Partition[]>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [w, list] of next) out[w] = list.map((x) => Number(x.keys[1])).sort((a, b) => a - b);
  return out;
}

/** Deterministic PRNG (mulberry32), so a failing case replays from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("partitions with no previous owner are assigned in one step", () => {
  const result = plan({
    desired: new Map([["a", [p(0), p(1)]], ["b", [p(2)]]]),
    published: new Map(),
    members: new Set(["a", "b"]),
    holds: new Map([["a", held()], ["b", held()]]),
  });
  assert.deepEqual(shape(result.next), { a: [0, 1], b: [2] });
  assert.equal(result.moved, 3);
  assert.equal(result.pending, 0);
});

Deno.test("an unacknowledged revoke keeps a partition pending instead of adding it to its new owner", () => {
  // Round 1: p0 moves from a to b. a still holds it, so the round only revokes.
  const members = new Set(["a", "b"]);
  const desired = new Map([["a", [p(1)]], ["b", [p(0)]]]);
  let holdA = held(0, 1);
  const first = plan({
    desired,
    published: new Map([["a", key(1, 0, 1)], ["b", key(1)]]),
    members,
    holds: new Map([["a", holdA], ["b", held()]]),
  });
  assert.deepEqual(shape(first.next), { a: [1], b: [] });
  assert.equal(first.pending, 1);
  assert.equal(first.moved, 0);
  // The revoke is version 2; a has not applied it yet.
  holdA = recordPublication(holdA, 2, ids(1));
  holdA = refreshHold(holdA, { appliedVersion: 1, owned: 2 }, key(2, 1));
  assert.deepEqual(mayHold(holdA), ids(0, 1));
  const second = plan({
    desired,
    published: new Map([["a", key(2, 1)], ["b", key(1)]]),
    members,
    holds: new Map([["a", holdA], ["b", held()]]),
  });
  assert.deepEqual(shape(second.next), { a: [1], b: [] });
  assert.equal(second.pending, 1);
});

Deno.test("once the old owner applies the revoke and no longer holds the partition, it moves", () => {
  const holdA = refreshHold(
    recordPublication(held(0, 1), 2, ids(1)),
    { appliedVersion: 2, owned: 1 },
    key(2, 1),
  );
  assert.deepEqual(holdA, { acked: ids(1), unacked: [] });
  const result = plan({
    desired: new Map([["a", [p(1)]], ["b", [p(0)]]]),
    published: new Map([["a", key(2, 1)], ["b", key(1)]]),
    members: new Set(["a", "b"]),
    holds: new Map([["a", holdA], ["b", held()]]),
  });
  assert.deepEqual(shape(result.next), { a: [1], b: [0] });
  assert.equal(result.moved, 1);
  assert.equal(result.pending, 0);
});

Deno.test("a dead (non-member) old owner frees its partitions at once and its key is emptied", () => {
  const result = plan({
    desired: new Map([["b", [p(0), p(1)]]]),
    published: new Map([["a", key(3, 0, 1)], ["b", key(3)]]),
    members: new Set(["b"]),
    holds: new Map([["b", held()]]),
  });
  assert.deepEqual(shape(result.next), { a: [], b: [0, 1] });
  assert.equal(result.moved, 2);
  assert.equal(result.pending, 0);
});

Deno.test("an unknown hold blocks everything that worker might hold, but not its own additions", () => {
  const input = (holdC: HoldState | undefined): PlanInput => ({
    desired: new Map([["b", [p(5)]], ["c", [p(6)]]]),
    published: new Map(),
    members: new Set(["b", "c"]),
    holds: new Map(holdC ? [["b", held()], ["c", holdC]] : [["b", held()]]),
  });
  for (const holdC of [{ acked: "unknown", unacked: [] } as HoldState, undefined]) {
    const result = plan(input(holdC));
    assert.deepEqual(shape(result.next), { b: [], c: [6] });
    assert.equal(result.pending, 1);
    assert.equal(result.moved, 1);
  }
});

Deno.test("moved and pending counts are exact", () => {
  const result = plan({
    desired: new Map([
      ["a", [p(0), p(1), p(7)]], // keeps 0 and 1; 7 is held by c
      ["b", [p(2), p(3), p(4)]], // keeps 2; 3 is free; 4 was dead d's
      ["c", [p(5)]], // 5 is in b's unacknowledged publication
    ]),
    published: new Map([
      ["a", key(4, 0, 1)],
      ["b", key(4, 2)],
      ["c", key(4, 7)],
      ["d", key(4, 4)],
    ]),
    members: new Set(["a", "b", "c"]),
    holds: new Map([
      ["a", held(0, 1)],
      ["b", { acked: ids(2), unacked: [{ version: 4, ids: ids(2, 5) }] }],
      ["c", held(7)],
    ]),
  });
  assert.deepEqual(shape(result.next), { a: [0, 1], b: [2, 3, 4], c: [], d: [] });
  assert.equal(result.moved, 2);
  assert.equal(result.pending, 2);
});

Deno.test("a partition never appears in two workers' next publications", () => {
  // b wants p0 while a is still published with and wants it: a keeps it, b waits.
  const result = plan({
    desired: new Map([["a", [p(0)]], ["b", [p(0)]]]),
    published: new Map([["a", key(1, 0)]]),
    members: new Set(["a", "b"]),
    holds: new Map([["a", held(0)], ["b", held()]]),
  });
  assert.deepEqual(shape(result.next), { a: [0], b: [] });
  assert.equal(result.pending, 1);
});

Deno.test("a worker back within the grace keeps what it is published with: nothing moves", () => {
  // It fenced itself while away (owns nothing) and rejoined before the emergency round; the
  // engine, given `previous`, wants the same assignment as published.
  const rejoined = refreshHold(undefined, { appliedVersion: 5, owned: 0 }, key(5, 0, 1));
  const result = plan({
    desired: new Map([["a", [p(0), p(1)]], ["b", [p(2)]]]),
    published: new Map([["a", key(5, 0, 1)], ["b", key(5, 2)]]),
    members: new Set(["a", "b"]),
    holds: new Map([["a", rejoined], ["b", held(2)]]),
  });
  assert.deepEqual(shape(result.next), { a: [0, 1], b: [2] });
  assert.equal(result.moved, 0);
  assert.equal(result.pending, 0);
});

Deno.test("next has an entry for every published worker and member, in that order, then other desired workers", () => {
  const result = plan({
    desired: new Map([["z", [p(9)]], ["m", []]]),
    published: new Map([["d", key(1)], ["a", key(1)]]),
    members: new Set(["m", "a"]),
    holds: new Map([["m", held()], ["a", held()]]),
  });
  assert.deepEqual([...result.next.keys()], ["d", "a", "m", "z"]);
});

Deno.test("a heartbeat reporting nothing owned means the worker holds nothing confirmed", () => {
  const hold = refreshHold(held(0, 1), { appliedVersion: 3, owned: 0 }, key(2, 0, 1));
  assert.deepEqual(hold, { acked: new Set(), unacked: [] });
});

Deno.test("a worker that applied its latest key holds exactly that key", () => {
  const hold = refreshHold(undefined, { appliedVersion: 4, owned: 2 }, key(4, 3, 4));
  assert.deepEqual(hold, { acked: ids(3, 4), unacked: [] });
});

Deno.test("with no acknowledged publication to go by, what a worker holds is unknown", () => {
  assert.deepEqual(refreshHold(undefined, { appliedVersion: 1, owned: 2 }, key(4, 3, 4)), {
    acked: "unknown",
    unacked: [{ version: 4, ids: ids(3, 4) }],
  });
  assert.deepEqual(refreshHold(undefined, { appliedVersion: 1, owned: 2 }, undefined), {
    acked: "unknown",
    unacked: [],
  });
  assert.equal(mayHold(undefined), "unknown");
});

Deno.test("after a failover, a key the worker has not applied yet counts as possibly held", () => {
  // A new leader (no previous hold) sees a worker that owns nothing yet but has version 5 in its
  // key: its hooks may be starting on partitions 7 and 8 right now.
  const hold = refreshHold(undefined, { appliedVersion: 4, owned: 0 }, key(5, 7, 8));
  assert.deepEqual(hold, { acked: new Set(), unacked: [{ version: 5, ids: ids(7, 8) }] });
  assert.deepEqual(mayHold(hold), ids(7, 8));
  // Giving 7 to another member must wait for this worker's acknowledgement.
  const out = plan({
    desired: new Map([["w1", []], ["w2", [p(7)]]]),
    published: new Map([["w1", { version: 5, ids: ids(7, 8) }]]),
    members: new Set(["w1", "w2"]),
    holds: new Map([["w1", hold], ["w2", { acked: new Set(), unacked: [] }]]),
  });
  assert.equal(out.pending, 1);
  assert.deepEqual(out.next.get("w2"), []);
  // Once it applied version 5 and says it owns them, the usual rules apply again.
  const applied = refreshHold(hold, { appliedVersion: 5, owned: 2 }, key(5, 7, 8));
  assert.deepEqual(applied, { acked: ids(7, 8), unacked: [] });
});

Deno.test("an acknowledged intermediate version becomes the confirmed set and later ones stay unacknowledged", () => {
  let hold = held(0);
  hold = recordPublication(hold, 2, ids(0, 1));
  hold = recordPublication(hold, 3, ids(1));
  hold = recordPublication(hold, 4, ids(1, 2));
  hold = refreshHold(hold, { appliedVersion: 3, owned: 1 }, key(4, 1, 2));
  assert.deepEqual(hold, { acked: ids(1), unacked: [{ version: 4, ids: ids(1, 2) }] });
  assert.deepEqual(mayHold(hold), ids(1, 2));
  // A heartbeat between publications changes nothing it confirmed.
  assert.deepEqual(refreshHold(hold, { appliedVersion: 3, owned: 1 }, key(4, 1, 2)), hold);
});

Deno.test("mayHold is the confirmed set plus every unacknowledged publication", () => {
  const hold: HoldState = {
    acked: ids(0),
    unacked: [{ version: 2, ids: ids(1) }, { version: 3, ids: ids(2, 3) }],
  };
  assert.deepEqual(mayHold(hold), ids(0, 1, 2, 3));
  assert.deepEqual(mayHold({ acked: "unknown", unacked: hold.unacked }), "unknown");
});

Deno.test("a worker that applied its key but reports another digest lost its assignment; one away for a restart did not", () => {
  const published = key(5, 0, 1);
  const report = (state: string, appliedVersion: number, owned: Set<string>) => ({
    state,
    appliedVersion,
    ownedDigest: digestIds(owned),
  });
  assert.equal(lostItsAssignment(report("stable", 5, new Set()), published), true);
  assert.equal(lostItsAssignment(report("stable", 5, ids(0, 1)), published), false);
  assert.equal(lostItsAssignment(report("stable", 4, new Set()), published), false, "not applied");
  assert.equal(lostItsAssignment(report("shutdown", 5, new Set()), published), false);
  assert.equal(lostItsAssignment(report("stable", 5, new Set()), undefined), false);
});

Deno.test("a worker whose key is addressed to an earlier incarnation lost its assignment, whatever it reports", () => {
  const published = { ...key(5, 0, 1), incarnation: "before" };
  const report = (incarnation: string, appliedVersion: number) => ({
    state: "stable",
    appliedVersion,
    ownedDigest: digestIds(ids(0, 1)),
    incarnation,
  });
  assert.equal(lostItsAssignment(report("after", 5), published), true, "fenced since");
  assert.equal(lostItsAssignment(report("after", 3), published), true, "never applied it");
  assert.equal(lostItsAssignment(report("before", 5), published), false);
  const away = { ...report("after", 5), state: "shutdown" };
  assert.equal(lostItsAssignment(away, published), false, "away for a restart");
});

Deno.test("previousOwners counts members' keys only", () => {
  const previous = previousOwners(
    new Map([["a", key(1, 0, 1)], ["dead", key(1, 2)]]),
    new Set(["a", "b"]),
  );
  assert.deepEqual(previous, new Map([["p/0", "a"], ["p/1", "a"]]));
});

function balanced(extra: Partial<ThresholdInput> = {}): ThresholdInput {
  const published = new Map([["a", key(1, 0, 1)], ["b", key(1, 2)]]);
  return {
    live: ["a", "b"],
    partitions: [p(0), p(1), p(2)],
    published,
    previous: previousOwners(published, new Set(["a", "b"])),
    threshold: 0.7,
    manual: false,
    forced: false,
    handingOff: false,
    ...extra,
  };
}

Deno.test("imbalance is (max − min) / mean of the live workers' published loads by weight", () => {
  assert.equal(imbalance(balanced()), (2 - 1) / 1.5);
  assert.equal(imbalance(balanced({ partitions: [p(0), p(1), p(2, 4)] })), (4 - 2) / 3);
  assert.equal(imbalance(balanced({ live: [] })), 0);
  assert.equal(imbalance(balanced({ partitions: [] })), 0);
});

Deno.test("a balance-only round below minRebalanceThreshold is skipped; at the threshold it is not", () => {
  assert.deepEqual(skipsBelowThreshold(balanced()), { skip: true, imbalance: 2 / 3 });
  assert.deepEqual(skipsBelowThreshold(balanced({ threshold: 2 / 3 })), { skip: false });
});

Deno.test("manual, forced and hand-off rounds are never skipped for balance", () => {
  for (const flag of ["manual", "forced", "handingOff"] as const) {
    assert.deepEqual(skipsBelowThreshold(balanced({ [flag]: true })), { skip: false }, flag);
  }
});

Deno.test("an orphaned or stale partition, a non-live owner or an unpublished live worker make a round more than balance", () => {
  assert.equal(isBalanceOnly(balanced()), true);
  assert.equal(isBalanceOnly(balanced({ partitions: [p(0), p(1), p(2), p(3)] })), false, "orphan");
  assert.equal(isBalanceOnly(balanced({ partitions: [p(0), p(1)] })), false, "stale p2");
  assert.equal(isBalanceOnly(balanced({ live: ["a"] })), false, "b is not live");
  assert.equal(isBalanceOnly(balanced({ live: ["a", "b", "c"] })), false, "c has no key");
  const withDeadKey = new Map([["a", key(1, 0, 1)], ["b", key(1, 2)], ["d", key(1, 0)]]);
  assert.equal(isBalanceOnly(balanced({ published: withDeadKey })), false, "d is not live");
  const withEmptyDeadKey = new Map([["a", key(1, 0, 1)], ["b", key(1, 2)], ["d", key(1)]]);
  assert.equal(isBalanceOnly(balanced({ published: withEmptyDeadKey })), true, "empty key");
});

Deno.test("property: over random rounds a partition added to a worker has no other possible owner, and none is in two next publications", () => {
  const random = mulberry32(20_240_601);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const workers = ["w0", "w1", "w2", "w3", "w4", "w5"];
  const partitions = Array.from({ length: 16 }, (_, i) => p(i));
  for (let round = 0; round < 2_000; round++) {
    const members = new Set(workers.filter(() => random() < 0.7));
    const memberList = [...members];
    const dead = workers.filter((w) => !members.has(w));
    // One member may hold an unknown set; then no other member may hold anything.
    const unknown = memberList.length > 0 && random() < 0.15 ? pick(memberList) : undefined;
    const publishedIds = new Map<string, Set<string>>();
    const acked = new Map(memberList.map((w) => [w, new Set<string>()]));
    const unackedIds = new Map(memberList.map((w) => [w, new Set<string>()]));
    for (const partition of partitions) {
      const id = partitionId(partition);
      const r = random();
      // Before the round at most one member may own a partition; dead workers' keys may too.
      const holder = r < 0.2
        ? undefined
        : unknown ?? (memberList.length ? pick(memberList) : undefined);
      if (holder !== undefined) {
        const how = random();
        if (how < 0.5) {
          (publishedIds.get(holder) ?? publishedIds.set(holder, new Set()).get(holder)!).add(id);
          acked.get(holder)!.add(id);
        } else if (how < 0.7) acked.get(holder)!.add(id); // revoked, not yet acknowledged
        else if (how < 0.9) unackedIds.get(holder)!.add(id); // published, not yet applied
        else (publishedIds.get(holder) ?? publishedIds.set(holder, new Set()).get(holder)!).add(id);
      }
      if (r >= 0.2 && r < 0.35 && dead.length > 0) {
        const d = pick(dead);
        if (![...publishedIds.values()].some((s) => s.has(id))) {
          (publishedIds.get(d) ?? publishedIds.set(d, new Set()).get(d)!).add(id);
        }
      }
    }
    const holds = new Map<string, HoldState>();
    for (const w of memberList) {
      if (w === unknown) {
        if (random() < 0.5) holds.set(w, { acked: "unknown", unacked: [] });
        continue;
      }
      const pendingIds = unackedIds.get(w)!;
      holds.set(w, {
        acked: acked.get(w)!,
        unacked: pendingIds.size ? [{ version: 9, ids: pendingIds }] : [],
      });
    }
    const desired = new Map<string, Partition[]>();
    const live = memberList.filter(() => random() < 0.9);
    for (const partition of partitions) {
      if (live.length === 0 || random() < 0.1) continue;
      const owner = pick(live);
      desired.set(owner, [...(desired.get(owner) ?? []), partition]);
    }
    const published = new Map([...publishedIds].map(([w, s]) => [w, { ids: s }]));
    const result = plan({ desired, published, members, holds });

    const mayOwn = new Map(memberList.map((w) => [w, mayHold(holds.get(w))]));
    let pending = 0;
    let moved = 0;
    const seen = new Map<string, string>();
    for (const [w, list] of result.next) {
      for (const partition of list) {
        const id = partitionId(partition);
        assert.equal(seen.get(id), undefined, `round ${round}: ${id} in ${seen.get(id)} and ${w}`);
        seen.set(id, w);
        if (publishedIds.get(w)?.has(id)) continue;
        moved++;
        for (const [other, may] of mayOwn) {
          if (other === w) continue;
          assert.ok(
            may !== "unknown" && !may.has(id),
            `round ${round}: ${id} to ${w}, ${other} may hold it`,
          );
        }
      }
    }
    // Across next ∪ may-hold, every partition has at most one possible owner among the members.
    for (const partition of partitions) {
      const id = partitionId(partition);
      const owners = memberList.filter((w) => {
        const may = mayOwn.get(w)!;
        return may === "unknown" || may.has(id) ||
          result.next.get(w)!.some((x) => partitionId(x) === id);
      });
      assert.ok(owners.length <= 1, `round ${round}: ${id} may be owned by ${owners.join(", ")}`);
    }
    for (const [w, list] of desired) {
      for (const partition of list) {
        if (!result.next.get(w)!.includes(partition)) pending++;
      }
    }
    assert.equal(result.moved, moved, `round ${round}: moved`);
    assert.equal(result.pending, pending, `round ${round}: pending`);
  }
});

Deno.test("plan() indexes who may hold what once, and decides exactly as the member-by-member rule", () => {
  // The rule, written out: a partition new to a worker waits while any other member may hold it
  // (a member whose holdings are unknown may hold anything).
  const reference = (input: Parameters<typeof plan>[0]) => {
    let pending = 0;
    let moved = 0;
    for (const [workerId, wanted] of input.desired) {
      const current = input.published.get(workerId)?.ids;
      for (const p of wanted) {
        const id = partitionId(p);
        if (current?.has(id)) continue;
        const elsewhere = [...input.members].some((other) => {
          if (other === workerId) return false;
          const held = mayHold(input.holds.get(other));
          return held === "unknown" || held.has(id);
        });
        if (elsewhere) pending++;
        else moved++;
      }
    }
    return { pending, moved };
  };
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 300; round++) {
    const workers = Array.from({ length: 1 + Math.floor(random() * 6) }, (_, i) => `w${i}`);
    const ids = Array.from({ length: 1 + Math.floor(random() * 30) }, (_, i) => `p/${i}`);
    const pick = () => workers[Math.floor(random() * workers.length)]!;
    const desired = new Map<string, Partition[]>();
    const published = new Map<string, { ids: Set<string> }>();
    const holds = new Map<string, HoldState>();
    for (const w of workers) {
      published.set(w, { ids: new Set() });
      const r = random();
      holds.set(
        w,
        r < 0.1
          ? { acked: "unknown", unacked: [] }
          : { acked: new Set(ids.filter(() => random() < 0.2)), unacked: [] },
      );
    }
    for (const id of ids) {
      const to = pick();
      desired.set(to, [...(desired.get(to) ?? []), { keys: id.split("/") }]);
      if (random() < 0.5) published.get(pick())!.ids.add(id);
    }
    const members = new Set(workers.filter(() => random() < 0.9));
    const input = { desired, published, members, holds };
    const { pending, moved } = plan(input);
    assert.deepEqual({ pending, moved }, reference(input), `round ${round}`);
  }
});

Deno.test("plan() decides exactly as the per-partition rule for published lists in any order, as the same objects or decoded copies", () => {
  // The rule, written out per partition (the next lists included): what a worker is published
  // with and wants it keeps; a partition new to it waits while another member may hold it.
  const reference = (input: PlanInput) => {
    const next = new Map<string, string[]>();
    let pending = 0;
    let moved = 0;
    const workers = new Set([...input.published.keys(), ...input.members, ...input.desired.keys()]);
    for (const workerId of workers) {
      const current = input.published.get(workerId)?.ids;
      const out: string[] = [];
      for (const p of input.desired.get(workerId) ?? []) {
        const id = partitionId(p);
        const elsewhere = [...input.members].some((other) => {
          if (other === workerId) return false;
          const held = mayHold(input.holds.get(other));
          return held === "unknown" || held.has(id);
        });
        if (current?.has(id)) out.push(id);
        else if (elsewhere) pending++;
        else {
          out.push(id);
          moved++;
        }
      }
      next.set(workerId, out);
    }
    return { next, pending, moved };
  };
  const random = mulberry32(20_261_203);
  const shuffle = <T>(xs: T[]) => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  };
  for (let round = 0; round < 400; round++) {
    const workers = Array.from({ length: 1 + Math.floor(random() * 6) }, (_, i) => `w${i}`);
    const list = Array.from({ length: 1 + Math.floor(random() * 40) }, (_, i) => p(i));
    const pick = () => workers[Math.floor(random() * workers.length)]!;
    const cold = random() < 0.2;
    const desired = new Map<string, Partition[]>();
    const publishedLists = new Map<string, Partition[]>(workers.map((w) => [w, []]));
    for (const partition of list) {
      const to = pick();
      desired.set(to, [...(desired.get(to) ?? []), partition]);
      // Published with it: mostly its wanted owner (kept), sometimes another worker (moved).
      if (!cold && random() < 0.7) {
        const owner = random() < 0.7 ? to : pick();
        // Sometimes the same object, sometimes a decoded copy (equal keys, other strings).
        const copy = random() < 0.5
          ? partition
          : { keys: partition.keys.map((k) => k.split("").join("")) };
        publishedLists.get(owner)!.push(copy);
      }
    }
    const published = new Map<string, { ids: Set<string>; partitions: Partition[] }>();
    for (const [w, l] of publishedLists) {
      // Some lists in partition-list order, some in another order, some with foreign entries.
      const order = random();
      const partitions = order < 0.6 ? l : order < 0.85 ? shuffle([...l]) : [...l, p(1000 + round)];
      published.set(w, { ids: new Set(partitions.map(partitionId)), partitions });
    }
    const holds = new Map<string, HoldState>();
    for (const w of workers) {
      const r = random();
      const acked = cold ? new Set<string>() : published.get(w)!.ids;
      holds.set(
        w,
        r < 0.1 && !cold
          ? { acked: "unknown", unacked: [] }
          : { acked: new Set([...acked].filter(() => random() < 0.8)), unacked: [] },
      );
    }
    const members = new Set(workers.filter(() => random() < 0.9));
    const input = { desired, published, members, holds };
    const got = plan(input);
    const want = reference(input);
    assert.deepEqual(
      {
        next: new Map([...got.next].map(([w, l]) => [w, l.map(partitionId)])),
        pending: got.pending,
        moved: got.moved,
      },
      want,
      `round ${round}`,
    );
  }
});
