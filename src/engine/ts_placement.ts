/**
 * Placement with worker and partition metadata in pure TypeScript: the mirror of
 * `wasm/assembly/placement.ts` (per-worker bounds, required and preferred classes, pins, a
 * placement order by group), step by step, so both kernels produce the same owners bit for bit:
 * the class walks share the tier skip lists, and each class gets its live workers in rank order
 * and failure memos on first use (see the top of that file). The WebAssembly kernel's other speed
 * measures (visiting by weight rank, statistics from the placement's own sums when weights are
 * integers) give the same answers and are not repeated here. The TypeScript kernel hands its
 * current arrays in on every call.
 *
 * @module
 */
import { type PlacedStats, SHED_SLACK } from "./kernel.ts";

const UNASSIGNED = 0xffffffff;

/** The TypeScript kernel's arrays one placement reads and writes. */
export interface PlacementArrays {
  readonly weights: Float64Array;
  readonly worder: Uint32Array;
  /** Ring index of each partition's first point (by partition index). */
  readonly start: Uint32Array;
  readonly prev: Int32Array;
  readonly owner: Uint32Array;
  readonly rSlot: Uint32Array;
  readonly ringLen: number;
  readonly load: Float64Array;
  readonly load2: Float64Array;
  readonly rankToSlot: Uint32Array;
  readonly skip: Uint32Array;
  readonly skip2: Uint32Array;
  readonly skip0: Uint32Array;
  readonly cap: Float64Array;
  readonly floor: Float64Array;
  readonly cls: Uint32Array;
  readonly pref: Uint32Array;
  readonly pin: Int32Array;
  readonly group: Uint32Array;
  readonly elig: Uint8Array;
  readonly order: Uint32Array;
  readonly count: Uint32Array;
}

function find(skip: Uint32Array, j: number): number {
  let next = skip[j]!;
  while (next !== j) {
    const after = skip[next]!;
    skip[j] = after;
    j = next;
    next = after;
  }
  return j;
}

/** Per-class scratch, grown as needed and reused across calls (one call runs at a time). */
let classList = new Int32Array(64); // offset of each class's worker list in `workerLists`; -1 = unbuilt
let classLen = new Uint32Array(64);
let classFail1 = new Float64Array(64);
let classFail2 = new Uint8Array(64);
let classBudget = new Int32Array(64);
let workerLists = new Uint32Array(1024);

class Placement {
  readonly #a: PlacementArrays;
  readonly #workers: number;
  readonly #stride: number;
  readonly #uniform: boolean;
  readonly #budgetMax: number;
  #lightest = 0;
  #skip2Ready = false;
  #skip0Ready = false;
  #anyFloor = false;
  #fail0 = Infinity;
  #hasPrev = false;
  #listTop = 0;

  constructor(a: PlacementArrays, workers: number, slotCount: number, uniform: boolean) {
    this.#a = a;
    this.#workers = workers;
    this.#stride = slotCount;
    this.#uniform = uniform;
    this.#budgetMax = 32 + (workers >> 2);
  }

  #eligible(cls: number, slot: number): boolean {
    return this.#a.elig[cls * this.#stride + slot] !== 0;
  }

  /** Whether some live worker passes the tier test for weight `w` (classes: #classFits). */
  #anyFits(w: number, tier: number): boolean {
    const { rankToSlot, load, cap } = this.#a;
    for (let r = 0; r < this.#workers; r++) {
      const s = rankToSlot[r]!;
      const l = load[s]!;
      if (tier === 1 ? l + w <= cap[s]! : l < cap[s]!) return true;
    }
    return false;
  }

  /** The live worker least loaded relative to its bound, ties to the lowest rank. */
  #leastLoaded(): number {
    const { rankToSlot, load, cap } = this.#a;
    let best = UNASSIGNED;
    let bestLoad = Infinity;
    for (let r = 0; r < this.#workers; r++) {
      const s = rankToSlot[r]!;
      const l = this.#uniform ? load[s]! : load[s]! / cap[s]!;
      if (best === UNASSIGNED || l < bestLoad) {
        best = s;
        bestLoad = l;
      }
    }
    return best;
  }

  #walkWithRoom(first: number, w: number): number {
    const { skip, rSlot, load, cap, ringLen } = this.#a;
    let j = first;
    let wrapped = false;
    let budget = this.#budgetMax;
    for (;;) {
      j = find(skip, j);
      if (j === ringLen) {
        if (wrapped) return UNASSIGNED;
        wrapped = true;
        j = find(skip, 0);
      }
      if (wrapped && j >= first) return UNASSIGNED;
      const s = rSlot[j]!;
      const l = load[s]!;
      const c = cap[s]!;
      if (l + w <= c) return s;
      if (l + this.#lightest > c) skip[j] = j + 1;
      if (--budget === 0 && !this.#anyFits(w, 1)) return UNASSIGNED;
      j++;
    }
  }

  /**
   * Tier 0: the first ring point at or after `first` whose worker is below its floor, has room
   * for `w` and is of classes `c` and `f` (see walkBelowFloor in wasm/assembly/placement.ts).
   */
  #walkBelowFloor(first: number, w: number, c: number, f: number): number {
    const { skip0: skip, rSlot, load, cap, floor, ringLen } = this.#a;
    if (!this.#skip0Ready) {
      for (let j = 0; j <= ringLen; j++) skip[j] = j;
      this.#skip0Ready = true;
    }
    let j = first;
    let wrapped = false;
    let budget = this.#budgetMax;
    for (;;) {
      j = find(skip, j);
      if (j === ringLen) {
        if (wrapped) return UNASSIGNED;
        wrapped = true;
        j = find(skip, 0);
      }
      if (wrapped && j >= first) return UNASSIGNED;
      const s = rSlot[j]!;
      const l = load[s]!;
      if (l < floor[s]!) {
        if (
          l + w <= cap[s]! && (c === 0 || this.#eligible(c, s)) && (f === 0 || this.#eligible(f, s))
        ) {
          return s;
        }
        if (--budget === 0 && !this.#belowFloorFits(w, c, f)) return UNASSIGNED;
      } else {
        skip[j] = j + 1;
      }
      j++;
    }
  }

  /** Whether some live worker below its floor has room for `w` and is of classes `c` and `f`. */
  #belowFloorFits(w: number, c: number, f: number): boolean {
    const { rankToSlot, load, cap, floor } = this.#a;
    for (let r = 0; r < this.#workers; r++) {
      const s = rankToSlot[r]!;
      const l = load[s]!;
      if (l < floor[s]! && l + w <= cap[s]!) {
        if ((c === 0 || this.#eligible(c, s)) && (f === 0 || this.#eligible(f, s))) return true;
      }
    }
    return false;
  }

  /**
   * Partition `i`, which its live previous owner `p` could not keep: to a worker below its floor
   * with room, else back to `p` within SHED_SLACK of its bound (see shedPlace in
   * wasm/assembly/placement.ts).
   */
  #shedPlace(first: number, w: number, p: number, c: number, f: number): number {
    if (this.#anyFloor && !(c === 0 && f === 0 && w >= this.#fail0)) {
      const s = this.#walkBelowFloor(first, w, c, f);
      if (s !== UNASSIGNED) return s;
      if (c === 0 && f === 0) this.#fail0 = w;
    }
    if ((c !== 0 && !this.#eligible(c, p)) || (f !== 0 && !this.#eligible(f, p))) {
      return UNASSIGNED;
    }
    const l = this.#a.load[p]!;
    const bound = this.#a.cap[p]!;
    return l < bound && l + w <= bound * SHED_SLACK ? p : UNASSIGNED;
  }

  #walkBelowBound(first: number): number {
    const { skip2, rSlot, load, cap, ringLen } = this.#a;
    if (!this.#skip2Ready) {
      for (let j = 0; j <= ringLen; j++) skip2[j] = j;
      this.#skip2Ready = true;
    }
    let j = first;
    let wrapped = false;
    let budget = this.#budgetMax;
    for (;;) {
      j = find(skip2, j);
      if (j === ringLen) {
        if (wrapped) return UNASSIGNED;
        wrapped = true;
        j = find(skip2, 0);
      }
      if (wrapped && j >= first) return UNASSIGNED;
      const s = rSlot[j]!;
      if (load[s]! < cap[s]!) return s;
      skip2[j] = j + 1;
      if (--budget === 0 && !this.#anyFits(0, 2)) return UNASSIGNED;
      j++;
    }
  }

  /** Marks the classes of this call (0..largest class id) unbuilt. */
  #resetClasses(n: number): void {
    const { cls, pref } = this.#a;
    let top = 0;
    for (let i = 0; i < n; i++) {
      const c = cls[i]!;
      const f = pref[i]!;
      if (c > top) top = c;
      if (f > top) top = f;
    }
    if (classList.length <= top) {
      const size = Math.max(top + 1, classList.length * 2);
      classList = new Int32Array(size);
      classLen = new Uint32Array(size);
      classFail1 = new Float64Array(size);
      classFail2 = new Uint8Array(size);
      classBudget = new Int32Array(size);
    }
    classList.fill(-1, 0, top + 1);
    this.#listTop = 0;
  }

  /** Builds the record of class `cls` on first use: its live workers in rank order, fresh memos. */
  #classOf(cls: number): void {
    if (classList[cls] !== -1) return;
    const { rankToSlot, elig } = this.#a;
    const row = cls * this.#stride;
    if (workerLists.length < this.#listTop + this.#workers) {
      const next = new Uint32Array(Math.max(2 * workerLists.length, this.#listTop + this.#workers));
      next.set(workerLists.subarray(0, this.#listTop));
      workerLists = next;
    }
    const at = this.#listTop;
    let len = 0;
    for (let r = 0; r < this.#workers; r++) {
      const s = rankToSlot[r]!;
      if (elig[row + s] !== 0) workerLists[at + len++] = s;
    }
    this.#listTop += len;
    classList[cls] = at;
    classLen[cls] = len;
    classFail1[cls] = Infinity;
    classFail2[cls] = 0;
    classBudget[cls] = 8 + (len >> 2);
  }

  #classFits(cls: number, w: number, tier: number): boolean {
    const { load, cap } = this.#a;
    const at = classList[cls]!;
    const end = at + classLen[cls]!;
    for (let k = at; k < end; k++) {
      const s = workerLists[k]!;
      const l = load[s]!;
      if (tier === 1 ? l + w <= cap[s]! : l < cap[s]!) return true;
    }
    return false;
  }

  #classLeastLoaded(cls: number): number {
    this.#classOf(cls);
    const { load, cap } = this.#a;
    const at = classList[cls]!;
    const end = at + classLen[cls]!;
    let best = UNASSIGNED;
    let bestLoad = Infinity;
    for (let k = at; k < end; k++) {
      const s = workerLists[k]!;
      const l = this.#uniform ? load[s]! : load[s]! / cap[s]!;
      if (best === UNASSIGNED || l < bestLoad) {
        best = s;
        bestLoad = l;
      }
    }
    return best;
  }

  #walkClass(first: number, w: number, cls: number, tier: number): number {
    this.#classOf(cls);
    if (tier === 1 ? w >= classFail1[cls]! : classFail2[cls] !== 0) return UNASSIGNED;
    if (classLen[cls] !== 0) {
      const { rSlot, load, cap, ringLen, elig } = this.#a;
      let skip = this.#a.skip;
      if (tier !== 1) {
        skip = this.#a.skip2;
        if (!this.#skip2Ready) {
          for (let j = 0; j <= ringLen; j++) skip[j] = j;
          this.#skip2Ready = true;
        }
      }
      const row = cls * this.#stride;
      const lightest = this.#lightest;
      let j = first;
      let wrapped = false;
      let budget = classBudget[cls]!;
      for (;;) {
        j = find(skip, j);
        if (j === ringLen) {
          if (wrapped) break;
          wrapped = true;
          j = find(skip, 0);
        }
        if (wrapped && j >= first) break;
        const s = rSlot[j]!;
        const l = load[s]!;
        const c = cap[s]!;
        if (tier === 1) {
          if (l + w <= c) {
            if (elig[row + s] !== 0) return s;
          } else if (l + lightest > c) {
            skip[j] = j + 1;
          }
        } else if (l < c) {
          if (elig[row + s] !== 0) return s;
        } else {
          skip[j] = j + 1;
        }
        if (--budget === 0 && !this.#classFits(cls, w, tier)) break;
        j++;
      }
    }
    if (tier === 1) classFail1[cls] = w;
    else classFail2[cls] = 1;
    return UNASSIGNED;
  }

  #orderByGroup(n: number, groups: number): void {
    const { worder, group, order, count } = this.#a;
    count.fill(0, 0, groups + 1);
    for (let i = 0; i < n; i++) count[group[i]! + 1]!++;
    for (let g = 1; g <= groups; g++) count[g] = count[g]! + count[g - 1]!;
    for (let k = 0; k < n; k++) {
      const i = worder[k]!;
      const g = group[i]!;
      order[count[g]!] = i;
      count[g]!++;
    }
  }

  assign(n: number, groups: number, hasPrev: boolean): void {
    this.#hasPrev = hasPrev;
    const { load, owner, weights, prev, cls, pref, pin, start, worder, skip, order, cap } = this.#a;
    load.fill(0, 0, this.#stride);
    owner.fill(UNASSIGNED, 0, n);
    for (let i = 0; i < n; i++) {
      const p = pin[i]!;
      if (p < 0) continue;
      owner[i] = p;
      load[p] = load[p]! + weights[i]!;
    }
    if (hasPrev) {
      for (let k = n - 1; k >= 0; k--) {
        const i = worder[k]!;
        if (owner[i] !== UNASSIGNED) continue;
        const p = prev[i]!;
        if (p < 0) continue;
        const c = cls[i]!;
        if (c !== 0 && !this.#eligible(c, p)) continue;
        const f = pref[i]!;
        if (f !== 0 && !this.#eligible(f, p)) continue;
        const l = load[p]! + weights[i]!;
        if (l <= cap[p]!) {
          load[p] = l;
          owner[i] = p;
        }
      }
    }
    this.#orderByGroup(n, groups);
    this.#resetClasses(n);
    for (let j = 0; j <= this.#a.ringLen; j++) skip[j] = j;
    this.#skip2Ready = false;
    this.#skip0Ready = false;
    this.#fail0 = Infinity;
    this.#anyFloor = false;
    for (let r = 0; r < this.#workers; r++) {
      if (this.#a.floor[this.#a.rankToSlot[r]!]! > 0) this.#anyFloor = true;
    }
    this.#lightest = n > 0 ? weights[worder[n - 1]!]! : 0;
    let fail1 = Infinity;
    let fail2 = false;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      if (owner[i] !== UNASSIGNED) continue;
      const w = weights[i]!;
      const first = start[i]!;
      const c = cls[i]!;
      const f = pref[i]!;
      let s = UNASSIGNED;
      if (hasPrev && prev[i]! >= 0) s = this.#shedPlace(first, w, prev[i]!, c, f);
      if (s === UNASSIGNED && f !== 0) {
        s = this.#walkClass(first, w, f, 1);
        // In its zone a little over the bound rather than out of it with room.
        if (s === UNASSIGNED) s = this.#belowBoundPrev(i, c, f);
      }
      if (s === UNASSIGNED && hasPrev) {
        const p = prev[i]!;
        if (p >= 0 && (c === 0 || this.#eligible(c, p)) && load[p]! + w <= cap[p]!) s = p;
      }
      if (s === UNASSIGNED) {
        if (c === 0) {
          // Most partitions fit on the worker of their first point: take it without a walk (the
          // walk would start there, and a skipped point cannot pass this test).
          const s0 = this.#a.rSlot[first]!;
          if (w < fail1 && load[s0]! + w <= cap[s0]!) {
            s = s0;
          } else if (w < fail1) {
            s = this.#walkWithRoom(first, w);
            if (s === UNASSIGNED) fail1 = w;
          }
          if (s === UNASSIGNED && !fail2) {
            s = this.#belowBoundPrev(i, 0, 0);
            if (s === UNASSIGNED) s = this.#walkBelowBound(first);
            if (s === UNASSIGNED) fail2 = true;
          }
          if (s === UNASSIGNED) s = this.#leastLoaded();
        } else {
          s = this.#walkClass(first, w, c, 1);
          if (s === UNASSIGNED) s = this.#belowBoundPrev(i, c, 0);
          if (s === UNASSIGNED) s = this.#walkClass(first, w, c, 2);
          if (s === UNASSIGNED) s = this.#classLeastLoaded(c);
        }
      }
      if (s === UNASSIGNED) continue;
      load[s] = load[s]! + w;
      owner[i] = s;
    }
  }

  /**
   * Partition `i`'s previous owner when it is live, of classes `c` and `f` (0 = any) and below its
   * bound: the tier-2 choice that moves nothing (see belowBoundPrev in wasm/assembly/placement.ts).
   */
  #belowBoundPrev(i: number, c: number, f: number): number {
    if (!this.#hasPrev) return UNASSIGNED;
    const p = this.#a.prev[i]!;
    if (p < 0 || (c !== 0 && !this.#eligible(c, p)) || (f !== 0 && !this.#eligible(f, p))) {
      return UNASSIGNED;
    }
    return this.#a.load[p]! < this.#a.cap[p]! ? p : UNASSIGNED;
  }

  #minimalMoves(n: number, maxWeight: number): number {
    const { worder, prev, weights, load2: kept, rankToSlot, cap, floor } = this.#a;
    for (let r = 0; r < this.#workers; r++) kept[rankToSlot[r]!] = 0;
    let shed = 0;
    let absent = 0;
    for (let k = n - 1; k >= 0; k--) {
      const i = worder[k]!;
      const p = prev[i]!;
      if (p >= 0) {
        const l = kept[p]!;
        if (l < cap[p]!) kept[p] = l + weights[i]!;
        else shed++;
      } else if (p === -2) {
        shed++;
      } else {
        absent++;
      }
    }
    let fill = 0;
    for (let r = 0; r < this.#workers; r++) {
      const s = rankToSlot[r]!;
      const f = floor[s]!;
      const l = kept[s]!;
      if (f > 0 && l < f) fill += Math.ceil((f - l) / maxWeight);
    }
    const fillMoves = fill > absent ? fill - absent : 0;
    return fillMoves > shed ? fillMoves : shed;
  }

  stats(n: number, hasPrev: boolean, maxWeight: number): PlacedStats {
    const { load, owner, weights, prev, pref, rankToSlot, cap } = this.#a;
    load.fill(0, 0, this.#stride);
    let unplaced = 0;
    let locality = 0;
    for (let i = 0; i < n; i++) {
      const s = owner[i]!;
      if (s === UNASSIGNED) {
        unplaced++;
        continue;
      }
      load[s] = load[s]! + weights[i]!;
      const f = pref[i]!;
      if (f !== 0 && !this.#eligible(f, s)) locality++;
    }
    let moved = 0;
    let minimal = 0;
    if (hasPrev) {
      minimal = this.#minimalMoves(n, maxWeight);
      for (let i = 0; i < n; i++) {
        const p = prev[i]!;
        if (p !== -1 && p !== owner[i]) moved++;
      }
    }
    let maxLoad = 0;
    let maxRel = 0;
    for (let r = 0; r < this.#workers; r++) {
      const s = rankToSlot[r]!;
      const l = load[s]!;
      if (l > maxLoad) maxLoad = l;
      const rel = l / cap[s]!;
      if (rel > maxRel) maxRel = rel;
    }
    return {
      owners: owner.subarray(0, n),
      maxLoad,
      moved,
      minimalMoves: minimal,
      unplaced,
      localityViolations: locality,
      maxRelativeLoad: maxRel,
    };
  }
}

/** Runs the metadata placement (see `wasm/assembly/placement.ts`) and returns its statistics. */
export function assignPlaced(
  arrays: PlacementArrays,
  n: number,
  workers: number,
  slotCount: number,
  groups: number,
  hasPrev: boolean,
  maxWeight: number,
  uniform: boolean,
): PlacedStats {
  const placement = new Placement(arrays, workers, slotCount, uniform);
  placement.assign(n, groups, hasPrev);
  return placement.stats(n, hasPrev, maxWeight);
}

/** Statistics of the owners as they stand (after the host changed some). */
export function placedStats(
  arrays: PlacementArrays,
  n: number,
  workers: number,
  slotCount: number,
  hasPrev: boolean,
  maxWeight: number,
): PlacedStats {
  return new Placement(arrays, workers, slotCount, true).stats(n, hasPrev, maxWeight);
}
