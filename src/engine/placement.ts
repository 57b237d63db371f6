/**
 * The host side of placement with metadata: turns worker capacities and labels and partition
 * selectors, localities, priorities and pins into the flat inputs of `Kernel.assignPlaced`
 * (per-slot bounds, class ids, an eligibility table, placement groups), and throttles planned
 * movement. The kernels do the placing; nothing here looks at the ring.
 *
 * @module
 */
import { canonicalLabels, describeLabelsProblem, type Labels, labelsMatch } from "../labels.ts";
import { hasPlacementMetadata, type Partition } from "../partition.ts";
import type { PlacementViews } from "./kernel.ts";

/** What the engine knows about a worker beyond its ID. */
export interface WorkerInfo {
  /**
   * Relative size: a worker of capacity 2 gets twice the share of one of capacity 1. A finite
   * number greater than 0.
   * @default {1}
   */
  readonly capacity?: number;
  /** Labels matched by partition selectors and by the strategy's `spreadBy` key. */
  readonly labels?: Labels;
  /** Instance name (stable identity), matched by partition pins as well as the worker ID. */
  readonly instance?: string;
}

/** Most distinct selector/locality combinations in one partition list. */
export const MAX_PLACEMENT_CLASSES = 4096;

/** Placement metadata of one partition list (computed once per list). */
export interface PartitionMeta {
  /** Whether any partition carries metadata. */
  readonly any: boolean;
  /** Required class of each partition (0 = any), or undefined when there are none. */
  readonly cls: Uint32Array | undefined;
  /** Preferred class of each partition (0 = none), or undefined when there are none. */
  readonly pref: Uint32Array | undefined;
  /** Rank of each partition's priority (0 = highest), or undefined when all are equal. */
  readonly prio: Uint32Array | undefined;
  /** Number of distinct priorities (1 when all are equal). */
  readonly priorities: number;
  /** Pinned partitions: index and pin. */
  readonly pins: readonly (readonly [number, string])[];
  /** Selector of each required class (index 0 unused). */
  readonly required: readonly Labels[];
  /** Selector and preferred value of each preferred class (index 0 unused). */
  readonly preferred: readonly { readonly selector: Labels | undefined; readonly value: string }[];
}

const NO_META: PartitionMeta = {
  any: false,
  cls: undefined,
  pref: undefined,
  prio: undefined,
  priorities: 1,
  pins: [],
  required: [{}],
  preferred: [{ selector: undefined, value: "" }],
};

/** Reads the metadata of a validated partition list. */
export function scanPartitionMeta(partitions: readonly Partition[]): PartitionMeta {
  const n = partitions.length;
  let first = -1;
  for (let i = 0; i < n; i++) {
    if (hasPlacementMetadata(partitions[i]!)) {
      first = i;
      break;
    }
  }
  if (first < 0) return NO_META;
  let cls: Uint32Array | undefined;
  let pref: Uint32Array | undefined;
  const required: Labels[] = [{}];
  const preferred: { selector: Labels | undefined; value: string }[] = [{
    selector: undefined,
    value: "",
  }];
  const requiredIds = new Map<string, number>();
  const preferredIds = new Map<string, number>();
  const pins: [number, string][] = [];
  const priorities = new Set<number>();
  let anyPriority = false;
  for (let i = first; i < n; i++) {
    const p = partitions[i]!;
    if (p.priority !== undefined) anyPriority = true;
    priorities.add(p.priority ?? 0);
    if (p.pin !== undefined) pins.push([i, p.pin]);
    const selector = p.selector !== undefined && Object.keys(p.selector).length > 0
      ? p.selector
      : undefined;
    const key = selector === undefined ? "" : canonicalLabels(selector);
    if (selector !== undefined) {
      let c = requiredIds.get(key);
      if (c === undefined) {
        c = required.length;
        required.push(selector);
        requiredIds.set(key, c);
      }
      (cls ??= new Uint32Array(n))[i] = c;
    }
    if (p.locality !== undefined) {
      const k = `${key}\u0000${p.locality}`;
      let c = preferredIds.get(k);
      if (c === undefined) {
        c = preferred.length;
        preferred.push({ selector, value: p.locality });
        preferredIds.set(k, c);
      }
      (pref ??= new Uint32Array(n))[i] = c;
    }
    if (required.length + preferred.length > MAX_PLACEMENT_CLASSES) {
      throw new RangeError(
        `The partitions use more than ${MAX_PLACEMENT_CLASSES} distinct selector/locality ` +
          "combinations; group partitions under fewer selectors",
      );
    }
  }
  let prio: Uint32Array | undefined;
  if (anyPriority && priorities.size > 1) {
    const ranks = new Map([...priorities].sort((a, b) => b - a).map((v, r) => [v, r]));
    prio = new Uint32Array(n);
    for (let i = 0; i < n; i++) prio[i] = ranks.get(partitions[i]!.priority ?? 0)!;
  }
  return {
    any: true,
    cls,
    pref,
    prio,
    priorities: prio === undefined ? 1 : priorities.size,
    pins,
    required,
    preferred,
  };
}

/** Capacity of a worker, validated. */
export function workerCapacity(id: string, info: WorkerInfo | undefined): number {
  const c = info?.capacity;
  if (c === undefined) return 1;
  if (typeof c !== "number" || !Number.isFinite(c) || !(c > 0)) {
    throw new RangeError(
      `Worker '${id}' has capacity ${String(c)}; capacity must be a finite number greater than 0`,
    );
  }
  return c;
}

/** Checks the labels of a worker. */
export function checkWorkerLabels(id: string, info: WorkerInfo | undefined): void {
  if (info?.labels === undefined) return;
  const problem = describeLabelsProblem(info.labels);
  if (problem !== undefined) throw new RangeError(`Worker '${id}' labels ${problem}`);
}

/** Inputs of {@link fillPlacement}. */
export interface PlacementInput {
  readonly views: PlacementViews;
  readonly meta: PartitionMeta;
  readonly n: number;
  /** Live worker IDs in rank order. */
  readonly sorted: readonly string[];
  readonly slotOf: ReadonlyMap<string, number>;
  readonly slotCount: number;
  readonly capacities: Float64Array;
  readonly info: ReadonlyMap<string, WorkerInfo> | undefined;
  /** `loadFactor × mean load`. */
  readonly share: number;
  readonly mean: number;
  readonly maxWeight: number;
  readonly loadFactor: number;
  readonly spreadBy: string;
}

/** Fills the kernel's placement views; returns the number of placement groups. */
export function fillPlacement(input: PlacementInput): number {
  const { views, meta, n, sorted, slotOf, slotCount, capacities, info } = input;
  const workers = sorted.length;
  let capSum = 0;
  for (let r = 0; r < workers; r++) capSum += capacities[r]!;
  const meanCap = capSum / workers;
  for (let r = 0; r < workers; r++) {
    const s = slotOf.get(sorted[r]!)!;
    const c = capacities[r]!;
    views.cap[s] = input.share * c / meanCap;
    views.floor[s] = input.loadFactor === 1 ? input.mean * c / meanCap - input.maxWeight : 0;
  }
  if (meta.cls !== undefined) views.cls.set(meta.cls.subarray(0, n));
  else views.cls.fill(0);
  if (meta.pref !== undefined) views.pref.set(meta.pref.subarray(0, n));
  else views.pref.fill(0);
  views.pin.fill(-1);
  if (meta.pins.length > 0) {
    const byInstance = new Map<string, number>();
    for (const id of sorted) {
      const instance = info?.get(id)?.instance;
      if (instance !== undefined && !byInstance.has(instance)) {
        byInstance.set(instance, slotOf.get(id)!);
      }
    }
    for (const [i, pin] of meta.pins) {
      const slot = slotOf.get(pin) ?? byInstance.get(pin);
      if (slot !== undefined) views.pin[i] = slot;
    }
  }
  // Constrained partitions (required or preferred class) first, each part by priority.
  const d = meta.priorities;
  const { cls, pref, prio } = meta;
  for (let i = 0; i < n; i++) {
    const constrained = (cls !== undefined && cls[i] !== 0) ||
      (pref !== undefined && pref[i] !== 0);
    views.group[i] = (constrained ? 0 : d) + (prio === undefined ? 0 : prio[i]!);
  }
  const rows = meta.required.length;
  const elig = views.elig;
  elig.fill(0);
  for (let r = 0; r < workers; r++) {
    const id = sorted[r]!;
    const s = slotOf.get(id)!;
    const labels = info?.get(id)?.labels;
    for (let c = 1; c < rows; c++) {
      if (labelsMatch(labels, meta.required[c]!)) elig[c * slotCount + s] = 1;
    }
    for (let c = 1; c < meta.preferred.length; c++) {
      const { selector, value } = meta.preferred[c]!;
      const ok = labels?.[input.spreadBy] === value &&
        (selector === undefined || labelsMatch(labels, selector));
      if (ok) elig[(rows + c - 1) * slotCount + s] = 1;
    }
  }
  if (meta.pref !== undefined && rows > 1) {
    // Preferred class ids follow the required ones in the table.
    for (let i = 0; i < n; i++) if (views.pref[i] !== 0) views.pref[i] = views.pref[i]! + rows - 1;
  }
  return 2 * d;
}

/** Rows of the eligibility table {@link fillPlacement} writes. */
export function placementClasses(meta: PartitionMeta): number {
  return meta.required.length + meta.preferred.length - 1;
}

/** Inputs of {@link throttleMoves}. */
export interface ThrottleInput {
  readonly owners: Uint32Array;
  readonly prev: Int32Array;
  readonly weights: Float64Array;
  readonly n: number;
  /** Required class per partition (undefined = none) and the eligibility table. */
  readonly cls: Uint32Array | undefined;
  readonly elig: Uint8Array | undefined;
  readonly slotCount: number;
  readonly prio: Uint32Array | undefined;
  readonly pinned: Int32Array | undefined;
  /** Count (0 or ≥ 1) or fraction of the total weight (in (0, 1)). */
  readonly maxMoves: number;
  readonly totalWeight: number;
}

/**
 * Keeps at most `maxMoves` planned moves (a partition whose previous owner is still live and may
 * still hold it) and puts the rest back with their previous owner, most important first (pinned,
 * then by priority, then heaviest, then input order). Partitions whose owner left, new ones and
 * those whose owner may no longer hold them are never held back. Returns how many were held back.
 */
export function throttleMoves(input: ThrottleInput): number {
  const { owners, prev, weights, n, cls, elig, slotCount, prio, pinned } = input;
  const candidates: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = prev[i]!;
    if (p < 0 || owners[i] === p) continue;
    if (
      cls !== undefined && elig !== undefined && cls[i] !== 0 && elig[cls[i]! * slotCount + p] === 0
    ) {
      continue;
    }
    candidates.push(i);
  }
  const byWeight = input.maxMoves > 0 && input.maxMoves < 1;
  const budget = byWeight ? input.maxMoves * input.totalWeight : Math.floor(input.maxMoves);
  if (byWeight) {
    let sum = 0;
    for (const i of candidates) sum += weights[i]!;
    if (sum <= budget) return 0;
  } else if (candidates.length <= budget) {
    return 0;
  }
  const rank = (i: number) => pinned !== undefined && pinned[i]! >= 0 ? 0 : 1;
  candidates.sort((a, b) =>
    rank(a) - rank(b) ||
    (prio === undefined ? 0 : prio[a]! - prio[b]!) ||
    weights[b]! - weights[a]! ||
    a - b
  );
  let used = 0;
  let kept = 0;
  let held = 0;
  for (const i of candidates) {
    const cost = byWeight ? weights[i]! : 1;
    // The first move always goes (unless no move may), so a cap below one partition's weight
    // still converges.
    if ((kept === 0 && budget > 0) || used + cost <= budget) {
      used += cost;
      kept++;
    } else {
      owners[i] = prev[i]!;
      held++;
    }
  }
  return held;
}
