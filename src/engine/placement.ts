/**
 * The host side of placement with metadata: turns worker capacities and labels and partition
 * selectors, localities, priorities and pins into the flat inputs of `Kernel.assignPlaced`
 * (per-slot bounds, class ids, an eligibility table, placement groups), and throttles planned
 * movement. The kernels do the placing; nothing here looks at the ring.
 *
 * @module
 */
import { canonicalLabels, describeLabelsProblem, type Labels, labelsMatch } from "../labels.ts";
import type { Partition } from "../partition.ts";
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

/**
 * A placement class: a required one (a selector; `locality` undefined) or a preferred one (a
 * locality, under the partition's selector if it has one). Its row of the eligibility table marks
 * the workers that may hold it (required) or that it prefers (preferred).
 */
export interface PlacementClass {
  /** The selector (undefined for a preferred class of partitions without one). */
  readonly selector: Labels | undefined;
  /** The preferred value of the `spreadBy` label; undefined for a required class. */
  readonly locality: string | undefined;
}

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
  /**
   * Placement group of each partition: constrained ones (a required or preferred class) first,
   * each part by priority rank. Undefined when every partition is in group `priorities` (none
   * constrained, all priorities equal).
   */
  readonly group: Uint32Array | undefined;
  /** Pinned partitions: index and pin. */
  readonly pins: readonly (readonly [number, string])[];
  /**
   * Every class, required and preferred, numbered in order of first use (index 0 unused): class
   * ids are rows of the eligibility table.
   */
  readonly classes: readonly PlacementClass[];
}

const NO_CLASS: PlacementClass = { selector: undefined, locality: undefined };

const NO_META: PartitionMeta = {
  any: false,
  cls: undefined,
  pref: undefined,
  prio: undefined,
  priorities: 1,
  group: undefined,
  pins: [],
  classes: [NO_CLASS],
};

/**
 * Reads the metadata of a validated partition list, the way the engine's pass over the partitions
 * feeds its {@link MetaScan}.
 */
export function scanPartitionMeta(partitions: readonly Partition[]): PartitionMeta {
  const n = partitions.length;
  let scan: MetaScan | undefined;
  for (let i = 0; i < n; i++) scan = scanPartition(scan, n, i, partitions[i]!);
  return scan === undefined ? NO_META : scan.finish(partitions);
}

/**
 * Feeds partition `i` of a list of `n` to `scan` when it has metadata, starting the scan at the
 * first such partition; returns the scan (undefined while no partition had metadata). Each
 * metadata field is read once.
 */
export function scanPartition(
  scan: MetaScan | undefined,
  n: number,
  i: number,
  p: Partition,
): MetaScan | undefined {
  const selector = p.selector;
  const locality = p.locality;
  const priority = p.priority;
  const pin = p.pin;
  if (
    selector === undefined && locality === undefined && priority === undefined &&
    pin === undefined
  ) {
    return scan;
  }
  scan ??= new MetaScan(n, i);
  scan.addFields(i, selector, locality, priority, pin);
  return scan;
}

/** The metadata of a partition list without any. */
export function noPartitionMeta(): PartitionMeta {
  return NO_META;
}

/**
 * The metadata scan of one partition list, fed in order the partitions that have metadata (by the
 * engine in its pass over the partitions, see `Engine.#loadPartitions`).
 * An error of the scan is kept and thrown by {@link MetaScan.finish}, so that it surfaces where the
 * scan of the whole list used to run, after every partition was validated.
 */
export class MetaScan {
  readonly #n: number;
  readonly #first: number;
  #cls: Uint32Array | undefined;
  #pref: Uint32Array | undefined;
  // 1 = unconstrained, 0 = constrained, until the priorities are known.
  #group: Uint32Array | undefined;
  readonly #classes = new ClassTable();
  readonly #pins: [number, string][] = [];
  readonly #priorities = new Set<number>();
  // Adding the value added last is a no-op, so runs of equal priorities are added once.
  #lastPriority: number | undefined;
  #anyPriority = false;
  // Index after the last partition added: a gap means partitions without metadata (priority 0).
  #next: number;
  #error: { error: unknown } | undefined;
  #result: PartitionMeta | undefined;

  /** `first` is the index of the first partition with metadata of a list of `n`. */
  constructor(n: number, first: number) {
    this.#n = n;
    this.#first = first;
    // Partitions before the first one with metadata rank as priority 0: the first add sees them
    // as a gap.
    this.#next = 0;
  }

  /**
   * Reads the metadata fields of partition `i`: in order, from `first` on; partitions without
   * metadata may be left out (they have priority 0 and no class).
   */
  addFields(
    i: number,
    selector: Labels | undefined,
    locality: string | undefined,
    priority: number | undefined,
    pin: string | undefined,
  ): void {
    if (this.#error !== undefined) return;
    try {
      this.#add(i, selector, locality, priority, pin);
    } catch (error) {
      this.#error = { error };
    }
  }

  #addPriority(v: number): void {
    if (v !== this.#lastPriority) {
      this.#priorities.add(v);
      this.#lastPriority = v;
    }
  }

  #add(
    i: number,
    s: Labels | undefined,
    locality: string | undefined,
    priority: number | undefined,
    pin: string | undefined,
  ): void {
    const n = this.#n;
    if (i !== this.#next) this.#addPriority(0);
    this.#next = i + 1;
    if (priority !== undefined) this.#anyPriority = true;
    this.#addPriority(priority ?? 0);
    if (pin !== undefined) this.#pins.push([i, pin]);
    let c = 0;
    if (s !== undefined) {
      c = this.#classes.required(s);
      if (c !== 0) {
        (this.#cls ??= new Uint32Array(n))[i] = c;
        (this.#group ??= new Uint32Array(n).fill(1))[i] = 0;
      }
    }
    if (locality !== undefined) {
      (this.#pref ??= new Uint32Array(n))[i] = this.#classes.preferred(
        c,
        c === 0 ? undefined : s,
        locality,
      );
      (this.#group ??= new Uint32Array(n).fill(1))[i] = 0;
    }
  }

  /** The metadata of `partitions` (the list fed to {@link MetaScan.addFields}). */
  finish(partitions: readonly Partition[]): PartitionMeta {
    if (this.#error !== undefined) throw this.#error.error;
    if (this.#result !== undefined) return this.#result;
    const n = this.#n;
    if (this.#next < n) this.#addPriority(0);
    const priorities = this.#priorities;
    let group = this.#group;
    let prio: Uint32Array | undefined;
    if (this.#anyPriority && priorities.size > 1) {
      const ranks = new Map([...priorities].sort((a, b) => b - a).map((v, r) => [v, r]));
      prio = new Uint32Array(n);
      const zero = ranks.get(0);
      if (zero !== undefined) prio.fill(zero, 0, this.#first);
      for (let i = this.#first; i < n; i++) prio[i] = ranks.get(partitions[i]!.priority ?? 0)!;
      const d = priorities.size;
      const g = group ??= new Uint32Array(n).fill(1);
      for (let i = 0; i < n; i++) g[i] = (g[i] === 0 ? 0 : d) + prio[i]!;
    }
    return this.#result = {
      any: true,
      cls: this.#cls,
      pref: this.#pref,
      prio,
      priorities: prio === undefined ? 1 : priorities.size,
      group,
      pins: this.#pins,
      classes: this.#classes.list,
    };
  }
}

/**
 * The placement classes of one partition list, numbered in order of first use. Required classes
 * group selectors by their canonical text; preferred classes group (required class, locality
 * text) pairs, the same grouping as the text `${canonical selector}\0${locality}` since required
 * classes and canonical texts correspond one to one. Runs of partitions with the same metadata
 * (the common case) hit one-entry memos, and a one-entry selector with a string value skips the
 * canonical text (its text is a function of the entry).
 */
class ClassTable {
  readonly list: PlacementClass[] = [NO_CLASS];
  // Required and preferred classes so far, plus the unused index 0 of each of the two lists
  // the limit was first stated for.
  #count = 2;
  readonly #byText = new Map<string, number>();
  readonly #byEntry = new Map<string, Map<string, number>>();
  readonly #preferredBy: Map<string, number>[] = [];
  #lastName: string | undefined;
  #lastValue: string | undefined;
  #lastRequired = 0;
  #lastClass = -1;
  #lastLocality: string | undefined;
  #lastPreferred = 0;

  /**
   * The class of a selector, added when new; 0 when it has no entries (`Object.keys` is empty),
   * which places the partition anywhere.
   */
  required(selector: Labels): number {
    // One for-in pass finds the common case, a single own entry with a string value, without the
    // array Object.keys allocates: when for-in yields exactly one key and it is own, Object.keys
    // gives just that key (for-in yields every own enumerable key, and inherited ones too).
    let name: string | undefined;
    let value: unknown;
    let seen = 0;
    for (const k in selector) {
      if (++seen > 1) break;
      name = k;
      value = selector[k];
    }
    // No key: no own key either (Object.keys throws for null, as it always did here).
    if (seen === 0) return Object.keys(selector).length;
    if (seen === 1 && typeof value === "string" && Object.hasOwn(selector, name!)) {
      if (name === this.#lastName && value === this.#lastValue) return this.#lastRequired;
      let byValue = this.#byEntry.get(name!);
      let c = byValue?.get(value);
      if (c === undefined) {
        c = this.#byCanonicalText(selector);
        if (byValue === undefined) this.#byEntry.set(name!, byValue = new Map());
        byValue.set(value, c);
      }
      this.#lastName = name;
      this.#lastValue = value;
      this.#lastRequired = c;
      return c;
    }
    return Object.keys(selector).length === 0 ? 0 : this.#byCanonicalText(selector);
  }

  #byCanonicalText(selector: Labels): number {
    const key = canonicalLabels(selector);
    let c = this.#byText.get(key);
    if (c === undefined) {
      c = this.#add({ selector, locality: undefined });
      this.#byText.set(key, c);
    }
    return c;
  }

  /** The preferred class of a locality under required class `c` (selector `selector`). */
  preferred(c: number, selector: Labels | undefined, locality: string): number {
    const text = typeof locality === "string" ? locality : `${locality}`;
    if (c === this.#lastClass && text === this.#lastLocality) return this.#lastPreferred;
    const ids = this.#preferredBy[c] ??= new Map();
    let f = ids.get(text);
    if (f === undefined) {
      f = this.#add({ selector, locality });
      ids.set(text, f);
    }
    this.#lastClass = c;
    this.#lastLocality = text;
    this.#lastPreferred = f;
    return f;
  }

  #add(entry: PlacementClass): number {
    if (++this.#count > MAX_PLACEMENT_CLASSES) {
      throw new RangeError(
        `The partitions use more than ${MAX_PLACEMENT_CLASSES} distinct selector/locality ` +
          "combinations; group partitions under fewer selectors",
      );
    }
    this.list.push(entry);
    return this.list.length - 1;
  }
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

/**
 * Fills the kernel's placement views; returns the number of placement groups, twice the number of
 * priorities: the lower half holds the constrained partitions (the kernels rely on that to skip
 * class reads when it is empty).
 */
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
  // Constrained partitions (required or preferred class) first, each part by priority.
  if (meta.group !== undefined) views.group.set(meta.group.subarray(0, n));
  else views.group.fill(meta.priorities);
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
  const elig = views.elig;
  const classes = meta.classes;
  elig.fill(0);
  for (let r = 0; r < workers; r++) {
    const id = sorted[r]!;
    const s = slotOf.get(id)!;
    const labels = info?.get(id)?.labels;
    const spread = labels?.[input.spreadBy];
    for (let c = 1; c < classes.length; c++) {
      const { selector, locality } = classes[c]!;
      const ok = locality === undefined
        ? labelsMatch(labels, selector!)
        : spread === locality && (selector === undefined || labelsMatch(labels, selector));
      if (ok) elig[c * slotCount + s] = 1;
    }
  }
  return 2 * meta.priorities;
}

/** Rows of the eligibility table {@link fillPlacement} writes. */
export function placementClasses(meta: PartitionMeta): number {
  return meta.classes.length;
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
