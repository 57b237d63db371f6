/**
 * `keyChanges` (`src/leader/publisher.ts`): which worker keys a publication writes. It compares a
 * worker's new list with its published one pairwise first and by ID only from the first
 * difference; these tests pin that it decides exactly as the set comparison, for any order.
 */
import assert from "node:assert/strict";
import { keyChanges, type PublishedWorker } from "../../src/leader/publisher.ts";
import { type Partition, partitionId } from "../../src/partition.ts";

const p = (n: number, weight?: number): Partition =>
  weight === undefined ? { keys: ["p", String(n)] } : { keys: ["p", String(n)], weight };

const key = (partitions: Partition[], incarnation = "i"): PublishedWorker => ({
  epoch: 1,
  version: 1,
  ids: new Set(partitions.map(partitionId)),
  partitions,
  chunks: 0,
  incarnation,
});

Deno.test("keyChanges: the same partitions and weights in another order write nothing", () => {
  const published = new Map([["a", key([p(0), p(1, 3), p(2)])]]);
  const next = new Map([["a", [p(2), p(0), p(1, 3)]]]);
  assert.deepEqual(keyChanges(published, next, new Set(), new Map()), []);
});

Deno.test("keyChanges: a weight changed after an unchanged prefix is written", () => {
  const published = new Map([["a", key([p(0), p(1), p(2, 2)])]]);
  const next = new Map([["a", [p(0), p(1), p(2, 5)]]]);
  const changes = keyChanges(published, next, new Set(), new Map());
  assert.deepEqual(changes.map((c) => [c.workerId, c.shrinks]), [["a", true]]);
});

Deno.test("keyChanges: shrinking keys come first; forced and re-addressed keys are written unchanged", () => {
  const published = new Map([
    ["a", key([p(0), p(1)])],
    ["b", key([p(2)])],
    ["c", key([p(3)])],
    ["d", key([p(4)], "old")],
  ]);
  const next = new Map([["b", [p(2), p(1)]], ["a", [p(0)]], ["c", [p(3)]], ["d", [p(4)]]]);
  const changes = keyChanges(published, next, new Set(["c"]), new Map([["d", "new"]]));
  assert.deepEqual(
    changes.map((c) => [c.workerId, c.shrinks, c.incarnation]),
    [["a", true, "i"], ["c", true, "i"], ["d", true, "new"], ["b", false, "i"]],
  );
});

Deno.test("property: keyChanges writes exactly the keys whose ID → weight sets differ", () => {
  let seed = 11;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 500; round++) {
    const n = Math.floor(random() * 12);
    const was = Array.from({ length: n }, (_, i) => p(i, 1 + Math.floor(random() * 3)));
    let now: { keys: string[]; weight?: number }[] = was.map((x) => ({
      keys: [...x.keys],
      ...(x.weight ? { weight: x.weight } : {}),
    }));
    const r = random();
    if (r < 0.2 && now.length > 0) now.splice(Math.floor(random() * now.length), 1);
    else if (r < 0.4) now.push({ keys: ["p", "100"] });
    else if (r < 0.6 && now.length > 0) now[Math.floor(random() * now.length)]!.weight = 9;
    if (random() < 0.5) now = now.reverse();
    const weights = (l: Partition[]) =>
      JSON.stringify(l.map((x) => `${partitionId(x)}=${x.weight ?? 1}`).sort());
    const differs = weights(was) !== weights(now);
    const changes = keyChanges(
      new Map([["a", key(was)]]),
      new Map([["a", now]]),
      new Set(),
      new Map(),
    );
    assert.equal(changes.length, differs ? 1 : 0, `round ${round}`);
  }
});
