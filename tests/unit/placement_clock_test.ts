/**
 * Placement decisions of whole managers on one fake clock: load-aware rebalancing converges
 * without oscillating, movement throttling spreads a planned rebalance over several publications
 * and never holds back an emergency, and capacity and labels travel from the options to the
 * leader's decision.
 */
import assert from "node:assert/strict";
import { clockPartitions, clockPool, type PoolWorker } from "../helpers/clock_pool.ts";
import { partitionId } from "../../src/partition.ts";
import { ASSIGNMENT_PREFIX } from "../../src/protocol/keys.ts";

/** Partition ID → the name of its owner (each partition is owned once; the pool asserts it). */
function ownerMap(pool: { owners(): Map<string, string[]> }): Map<string, string> {
  return new Map([...pool.owners()].map(([id, names]) => [id, names[0]!]));
}

function movedBetween(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): string[] {
  return [...b].filter(([id, owner]) => a.has(id) && a.get(id) !== owner).map(([id]) => id);
}

Deno.test("load-aware rebalancing: a skewed measured load converges to max/mean ≤ 1.10 with bounded moves and no oscillation over 20 rebalance periods", async () => {
  const partitions = clockPartitions(40);
  // Eight hot partitions carry ten times the load of the others.
  const load = (id: string) => (Number(id.split("/")[1]) % 5 === 0 ? 10 : 1);
  await using pool = await clockPool({
    count: 4,
    partitions,
    tuning: {
      loadAware: { halfLifeMs: 200, sustainMs: 300 },
      minRebalanceThreshold: 0.1,
    },
  });
  await pool.start();
  await pool.advance(300);
  assert.ok(pool.covered());
  const measured = (owners: ReadonlyMap<string, string>) => {
    const per = new Map<string, number>(pool.workers.map((w) => [w.name, 0]));
    for (const [id, name] of owners) per.set(name, per.get(name)! + load(id));
    const values = [...per.values()];
    return Math.max(...values) / (values.reduce((a, b) => a + b, 0) / values.length);
  };
  const report = (w: PoolWorker) => {
    for (const p of w.manager.assignment.partitions) w.manager.reportLoad(p, load(partitionId(p)));
  };
  const initial = measured(ownerMap(pool));
  assert.ok(initial > 1.1, `the hash placement is skewed by load (${initial.toFixed(3)})`);

  // 20 rebalance periods (minRebalanceIntervalMs = 200), reporting every heartbeat interval.
  const history: Map<string, string>[] = [ownerMap(pool)];
  for (let t = 0; t < 20 * 200; t += 100) {
    for (const w of pool.workers) report(w);
    await pool.advance(100, 10);
    history.push(ownerMap(pool));
  }
  const final = history.at(-1)!;
  assert.equal(final.size, 40, "every partition is owned");
  const ratio = measured(final);
  assert.ok(ratio <= 1.1, `converged: max/mean ${ratio.toFixed(3)}`);

  // Bounded moves, and no oscillation: no partition returns to an owner it left, and once
  // balanced the assignment no longer changes.
  let moves = 0;
  const seen = new Map<string, string[]>();
  for (let i = 1; i < history.length; i++) {
    for (const id of movedBetween(history[i - 1]!, history[i]!)) {
      moves++;
      const owners = seen.get(id) ?? [history[i - 1]!.get(id)!];
      const next = history[i]!.get(id)!;
      assert.ok(!owners.includes(next), `${id} went back to ${next}`);
      seen.set(id, [...owners, next]);
    }
  }
  assert.ok(moves > 0 && moves <= 20, `moves ${moves}`);
  const balancedAt = history.findIndex((h) => h.size === 40 && measured(h) <= 1.1);
  for (let i = balancedAt + 1; i < history.length; i++) {
    assert.equal(movedBetween(history[i - 1]!, history[i]!).length, 0, `stable after ${i}`);
  }
});

Deno.test("maxMovesPerRebalance: a joining worker is filled over several publications, each moving at most the cap", async () => {
  await using pool = await clockPool({
    count: 4,
    partitions: clockPartitions(40),
    tuning: { maxMovesPerRebalance: 2 },
  });
  await pool.start();
  await pool.advance(300);
  const newcomer = pool.add();
  await pool.start([newcomer]);
  await pool.advance(2_000);
  const id = newcomer.manager.workerId!;
  // What the leader wrote to the newcomer's key, publication by publication.
  const sizes = pool.writes
    .filter((w) =>
      w.bucket === "assign" && w.key === `${ASSIGNMENT_PREFIX}${id}` && w.phase === "assign"
    )
    .map((w) => w.ids?.length ?? 0);
  const steps = sizes.map((n, i) => n - (sizes[i - 1] ?? 0)).filter((d) => d !== 0);
  assert.ok(steps.every((d) => d > 0 && d <= 2), `each publication moves at most 2: ${sizes}`);
  assert.equal(sizes.at(-1), 8, `the newcomer reaches its fair share: ${sizes}`);
  assert.ok(steps.length >= 4, `over several publications: ${sizes}`);
  assert.equal(newcomer.manager.assignment.partitions.length, 8);
});

Deno.test("maxMovesPerRebalance never holds back an emergency: a dead worker's partitions all move in one round", async () => {
  await using pool = await clockPool({
    count: 4,
    partitions: clockPartitions(40),
    tuning: { maxMovesPerRebalance: 1 },
  });
  await pool.start();
  await pool.advance(300);
  const victim = pool.workers.find((w) => !w.manager.isLeader)!;
  const held = victim.manager.assignment.partitions.map(partitionId);
  assert.ok(held.length > 1);
  const rest = pool.workers.filter((w) => w !== victim);
  victim.store.cut();
  await pool.advanceUntil(() => pool.covered(rest), "the others own everything", 2_000, 10);
  const owners = pool.owners(rest);
  assert.ok(held.every((id) => owners.has(id)));
});

Deno.test("capacity and labels reach the leader: a capacity-3 worker gets three times the share, and a selector places only on matching workers", async () => {
  const partitions = [
    ...clockPartitions(30),
    ...Array.from(
      { length: 6 },
      (_, i) => ({ keys: ["gpu", String(i)], selector: { pool: "gpu" } }),
    ),
  ];
  await using pool = await clockPool({
    count: 3,
    partitions,
    perWorker: (i) => i === 0 ? { capacity: 3, labels: { pool: "gpu" } } : {},
  });
  await pool.start();
  await pool.advance(300);
  const big = pool.workers[0]!;
  const ids = big.manager.assignment.partitions.map(partitionId);
  // 36 partitions over capacities 3 + 1 + 1: 21.6 for the big one.
  assert.ok(ids.length >= 21 && ids.length <= 22, `capacity share: ${ids.length}`);
  for (const w of pool.workers.slice(1)) {
    assert.ok(w.manager.assignment.partitions.every((p) => p.keys[0] !== "gpu"));
  }
  assert.ok(["0", "1", "2", "3", "4", "5"].every((i) => ids.includes(`gpu/${i}`)));
});
