/**
 * The leader's model of measured load (load-aware rebalancing): a moving average per partition of
 * what its owners report in their heartbeats, the weights it implies, the imbalance they show, and
 * the rule that says when that imbalance has lasted long enough to rebalance for. Pure: time comes
 * in as arguments, so the rule is tested exactly.
 *
 * @module
 */
import type { ResolvedLoadAware } from "../config_placement.ts";
import { type Partition, partitionId } from "../partition.ts";
import type { LoadDigest } from "../protocol/records.ts";

interface Average {
  value: number;
  at: number;
}

/** Effective weights of the measured partitions keep at least this share of the mean weight. */
const MIN_WEIGHT_SHARE = 0.01;

/** Moving averages of reported load, per partition ID. */
export class LoadModel {
  readonly #s: ResolvedLoadAware;
  readonly #averages = new Map<string, Average>();
  #aboveSince: number | undefined;
  #lastRebalanceAt = Number.NEGATIVE_INFINITY;

  /** @param settings Half-life, blend and sustain period. */
  constructor(settings: ResolvedLoadAware) {
    this.#s = settings;
  }

  /** Number of partitions with a measurement. */
  get measured(): number {
    return this.#averages.size;
  }

  /** The moving average of a partition's load, if it was ever reported. */
  average(id: string): number | undefined {
    return this.#averages.get(id)?.value;
  }

  /**
   * Takes in one heartbeat's digest: the named partitions exactly, every other partition the worker
   * owns (`owned`) at the digest's average for the rest.
   */
  observe(digest: LoadDigest | undefined, owned: ReadonlySet<string>, now: number): void {
    if (digest === undefined) return;
    const named = new Set<string>();
    for (const [id, value] of digest.top) {
      if (!owned.has(id)) continue;
      named.add(id);
      this.#update(id, value, now);
    }
    if (digest.restCount > 0) {
      const rest = digest.restSum / digest.restCount;
      for (const id of owned) if (!named.has(id)) this.#update(id, rest, now);
    }
  }

  #update(id: string, value: number, now: number): void {
    const a = this.#averages.get(id);
    if (a === undefined) {
      this.#averages.set(id, { value, at: now });
      return;
    }
    const dt = Math.max(0, now - a.at);
    if (dt === 0) return;
    const alpha = 1 - Math.pow(2, -dt / this.#s.halfLifeMs);
    a.value += alpha * (value - a.value);
    a.at = now;
  }

  /** Drops the averages of partitions no longer listed. */
  retain(partitions: readonly Partition[]): void {
    if (this.#averages.size === 0) return;
    const ids = new Set(partitions.map(partitionId));
    for (const id of this.#averages.keys()) if (!ids.has(id)) this.#averages.delete(id);
  }

  /**
   * The effective weight of each partition ID: the static weight, blended with the measured load
   * scaled so that the measured partitions keep their total static weight (rounded to three
   * significant digits, so noise below that moves nothing). Unmeasured partitions keep their
   * weight.
   */
  weights(partitions: readonly Partition[]): Map<string, number> {
    const out = new Map<string, number>();
    let staticSum = 0;
    let measuredSum = 0;
    for (const p of partitions) {
      const id = partitionId(p);
      const w = p.weight ?? 1;
      out.set(id, w);
      const a = this.#averages.get(id);
      if (a !== undefined) {
        staticSum += w;
        measuredSum += a.value;
      }
    }
    if (measuredSum <= 0) return out;
    const scale = staticSum / measuredSum;
    const floor = MIN_WEIGHT_SHARE * (staticSum / Math.max(1, this.#averages.size));
    const b = this.#s.blend;
    for (const p of partitions) {
      const id = partitionId(p);
      const a = this.#averages.get(id);
      if (a === undefined) continue;
      const w = (1 - b) * (p.weight ?? 1) + b * a.value * scale;
      out.set(id, Number(Math.max(w, floor).toPrecision(3)));
    }
    return out;
  }

  /**
   * The partitions with their effective weights (the same objects where the weight is unchanged),
   * or the list itself when nothing was measured.
   */
  weighted(partitions: readonly Partition[]): readonly Partition[] {
    if (this.#averages.size === 0) return partitions;
    const weights = this.weights(partitions);
    return partitions.map((p) => {
      const w = weights.get(partitionId(p))!;
      return w === (p.weight ?? 1) ? p : { ...p, weight: w };
    });
  }

  /**
   * The rule: rebalance for load when `imbalance` (largest worker load over its fair share, minus
   * 1) has stayed above `threshold` for `sustainMs`, and at least `minIntervalMs` after the last
   * load rebalance. Call it whenever the imbalance is recomputed.
   */
  due(imbalance: number, threshold: number, now: number, minIntervalMs: number): boolean {
    if (!(imbalance > threshold)) {
      this.#aboveSince = undefined;
      return false;
    }
    this.#aboveSince ??= now;
    return now - this.#aboveSince >= this.#s.sustainMs &&
      now - this.#lastRebalanceAt >= minIntervalMs;
  }

  /** When the imbalance would next be due if it stays above the threshold, or undefined. */
  dueAt(minIntervalMs: number): number | undefined {
    if (this.#aboveSince === undefined) return undefined;
    return Math.max(this.#aboveSince + this.#s.sustainMs, this.#lastRebalanceAt + minIntervalMs);
  }

  /** A rebalance for load started: the sustain period starts again. */
  rebalanced(now: number): void {
    this.#aboveSince = undefined;
    this.#lastRebalanceAt = now;
  }
}

/**
 * Largest load of a worker divided by its fair share (its capacity's share of the total), minus 1:
 * 0 is a perfect balance.
 *
 * @param owned Partition IDs each live worker owns.
 * @param weights Weight of each partition ID.
 * @param capacity Capacity of a worker.
 */
export function relativeImbalance(
  owned: ReadonlyMap<string, Iterable<string>>,
  weights: ReadonlyMap<string, number>,
  capacity: (workerId: string) => number,
): number {
  let total = 0;
  let capacities = 0;
  const loads: [number, number][] = [];
  for (const [worker, ids] of owned) {
    let load = 0;
    for (const id of ids) load += weights.get(id) ?? 0;
    const c = capacity(worker);
    loads.push([load, c]);
    total += load;
    capacities += c;
  }
  if (total <= 0 || capacities <= 0) return 0;
  let max = 0;
  for (const [load, c] of loads) max = Math.max(max, load / (total * c / capacities));
  return max - 1;
}

/**
 * Evens out an assignment by single moves (load-aware rounds): while some partition of the most
 * loaded worker (relative to capacity) can go to the least loaded one and lower the larger of the
 * two, the one that lowers it most moves. The ring placement leaves a worker up to one partition
 * above its bound, which with measured loads (a few hot partitions) can be far from the mean; this
 * closes that gap. Partitions with a selector, locality or pin stay where they are.
 *
 * @param owners Owner of each partition (`""` = unplaced); changed in place.
 * @param partitions The partitions, with effective weights.
 * @param capacity Capacity of a worker.
 * @param workers The live workers.
 * @param maxMoves Most moves.
 * @returns How many partitions moved.
 */
export function refineBalance(
  owners: string[],
  partitions: readonly Partition[],
  capacity: (workerId: string) => number,
  workers: readonly string[],
  maxMoves: number,
): number {
  if (workers.length < 2) return 0;
  const loads = new Map<string, number>(workers.map((w) => [w, 0]));
  const held = new Map<string, number[]>(workers.map((w) => [w, []]));
  partitions.forEach((p, i) => {
    const o = owners[i]!;
    if (!loads.has(o)) return;
    loads.set(o, loads.get(o)! + (p.weight ?? 1));
    const movable = p.selector === undefined && p.locality === undefined && p.pin === undefined;
    if (movable) held.get(o)!.push(i);
  });
  const rel = (w: string) => loads.get(w)! / capacity(w);
  let moves = 0;
  while (moves < maxMoves) {
    let hi = workers[0]!, lo = workers[0]!;
    for (const w of workers) {
      if (rel(w) > rel(hi)) hi = w;
      if (rel(w) < rel(lo)) lo = w;
    }
    if (hi === lo) break;
    const cHi = capacity(hi), cLo = capacity(lo);
    const before = rel(hi);
    let best = -1;
    let bestMax = before;
    for (const i of held.get(hi)!) {
      const w = partitions[i]!.weight ?? 1;
      const after = Math.max((loads.get(hi)! - w) / cHi, (loads.get(lo)! + w) / cLo);
      // Strictly better by more than rounding, so the loop always ends.
      if (after < bestMax - 1e-9 * before) {
        bestMax = after;
        best = i;
      }
    }
    if (best < 0) break;
    const w = partitions[best]!.weight ?? 1;
    loads.set(hi, loads.get(hi)! - w);
    loads.set(lo, loads.get(lo)! + w);
    const list = held.get(hi)!;
    list.splice(list.indexOf(best), 1);
    held.get(lo)!.push(best);
    owners[best] = lo;
    moves++;
  }
  return moves;
}
