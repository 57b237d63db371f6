// @ts-self-types="./engine_cases.d.mts"
/**
 * Fixed engine inputs that every runtime of the matrix computes: the Deno test computes the
 * expected owners from the sources, each runtime's program from the build it loads, and the owners
 * must be identical. Plain JavaScript, so that Node.js, Bun and workerd run it as it is.
 *
 * @module
 */

/**
 * `count` partitions `["orders", "<i>"]` with weights 1..7.
 *
 * @param {number} count
 */
function partitions(count) {
  return Array.from({ length: count }, (_, i) => ({
    keys: ["orders", String(i)],
    weight: 1 + ((i * 5) % 7),
  }));
}

/**
 * @param {number} count
 */
function workers(count) {
  return Array.from({ length: count }, (_, i) => `worker-${i}`);
}

/**
 * Runs every case on one engine.
 *
 * @param {any} mod The engine module (`@parti/core/engine` or `src/engine/mod.ts`).
 * @param {any} engine An engine created from it.
 * @returns {Record<string, string[]>} The owners of every case, by case name.
 */
export function runEngineCases(mod, engine) {
  const list = partitions(96);
  /** @type {Record<string, string[]>} */
  const out = {};
  const first = engine.assign({ workers: workers(5), partitions: list });
  out["weighted, 5 workers"] = first.owners;
  out["weighted, a 6th worker joins (sticky)"] = engine.assign({
    workers: workers(6),
    partitions: list,
    previous: first.assignment,
  }).owners;
  out["weighted, capacities and zones"] = engine.assign({
    workers: workers(4),
    partitions: list.map((p, i) => i % 8 === 0 ? { ...p, selector: { zone: "b" } } : p),
    strategy: mod.weightedConsistentHash({ virtualNodes: 64, spreadBy: "zone" }),
    workerInfo: new Map([
      ["worker-0", { capacity: 2, labels: { zone: "a" } }],
      ["worker-1", { capacity: 1, labels: { zone: "a" } }],
      ["worker-2", { capacity: 1, labels: { zone: "b" } }],
      ["worker-3", { capacity: 3, labels: { zone: "b" } }],
    ]),
  }).owners;
  out["consistentHash, 7 workers"] = engine.assign({
    workers: workers(7),
    partitions: list,
    strategy: mod.consistentHash({ virtualNodes: 50 }),
  }).owners;
  out["roundRobin, 3 workers"] = engine.assign({
    workers: workers(3),
    partitions: list,
    strategy: mod.roundRobin(),
  }).owners;
  out["xxh3_64 of 'parti'"] = [String(mod.xxh3_64(new TextEncoder().encode("parti")))];
  return out;
}
