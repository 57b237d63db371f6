/**
 * The pure-TypeScript assignment kernel: the fallback when WebAssembly is unavailable and the
 * reference the WebAssembly kernel is tested against. It mirrors `wasm/assembly/index.ts` step by
 * step; 64-bit hashes are kept as separate high and low 32-bit arrays.
 *
 * @module
 */
import {
  type Kernel,
  type KernelStats,
  MAX_SHARED,
  type PartitionBuffers,
  type PlacedStats,
  type PlacementViews,
  SHED_SLACK,
  type SlotViews,
  STRATEGY_GIVEN,
  STRATEGY_RING,
  STRATEGY_ROUND_ROBIN,
  STRATEGY_WEIGHTED,
} from "./kernel.ts";
import { xxh3Out, xxh3Raw } from "./xxh3.ts";
import { assignPlaced, placedStats, type PlacementArrays } from "./ts_placement.ts";

const UNASSIGNED = 0xffffffff;
/**
 * Rejected ring points a walk visits before it checks whether any worker can accept at all (the
 * check is one pass over the workers).
 */
function walkBudget(workers: number): number {
  return 32 + (workers >> 2);
}
const encoder = new TextEncoder();
// Bit pattern of a double as two u32 halves, independent of platform byte order.
const bits = new DataView(new ArrayBuffer(8));

function grow<T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(
  array: T,
  length: number,
  make: (n: number) => T,
  preserve = false,
): T {
  if (array.length >= length) return array;
  const next = make(Math.max(length, Math.ceil(array.length * 1.5)));
  if (preserve) (next as Uint32Array).set(array as Uint32Array);
  return next;
}

const u8 = (n: number) => new Uint8Array(n);
const u32 = (n: number) => new Uint32Array(n);
const i32 = (n: number) => new Int32Array(n);
const f64a = (n: number) => new Float64Array(n);

/** Creates the pure-TypeScript kernel. */
export function createTsKernel(): Kernel {
  return new TsKernel();
}

class TsKernel implements Kernel {
  readonly backend = "ts" as const;
  // partitions
  #bytes = u8(0);
  #keyLens = u32(0);
  #keyCounts = u32(0);
  #weights = f64a(0);
  #hashHi = u32(0);
  #hashLo = u32(0);
  #horder = u32(0);
  #worder = u32(0);
  #start = u32(0);
  #prev = i32(0);
  #owner = u32(0);
  // sort scratch
  #kHi = u32(0);
  #kLo = u32(0);
  #kHi2 = u32(0);
  #kLo2 = u32(0);
  #idx = u32(0);
  #idx2 = u32(0);
  #hist = new Uint32Array(8 * 256);
  // ring
  #rHi = u32(0);
  #rLo = u32(0);
  #rSlot = u32(0);
  #ringLen = 0;
  // slots
  #load = f64a(0);
  #load2 = f64a(0);
  #rank = u32(0);
  #alive = u32(0);
  #rankToSlot = u32(0);
  #wHi = u32(0);
  #wLo = u32(0);
  #vnodeBytes = new Uint8Array(8);
  #chainHi = new Uint32Array(MAX_SHARED + 1);
  #chainLo = new Uint32Array(MAX_SHARED + 1);
  // bounded-load placement
  #skip = u32(0);
  #skip2 = u32(0);
  #skip2Ready = false;
  #skip0 = u32(0);
  #skip0Ready = false;
  #wMin = 0;
  // metadata placement
  #cap = f64a(0);
  #floor = f64a(0);
  #cls = u32(0);
  #pref = u32(0);
  #pin = i32(0);
  #group = u32(0);
  #elig = u8(0);
  #order = u32(0);
  #count = u32(0);

  partitionBuffers(n: number, keyCount: number, byteLength: number): PartitionBuffers {
    this.#bytes = grow(this.#bytes, byteLength, u8);
    this.#keyLens = grow(this.#keyLens, keyCount, u32);
    this.#keyCounts = grow(this.#keyCounts, n, u32);
    this.#weights = grow(this.#weights, n, f64a);
    this.#hashHi = grow(this.#hashHi, n, u32);
    this.#hashLo = grow(this.#hashLo, n, u32);
    this.#horder = grow(this.#horder, n, u32);
    this.#worder = grow(this.#worder, n, u32);
    this.#start = grow(this.#start, n, u32);
    this.#prev = grow(this.#prev, n, i32);
    this.#owner = grow(this.#owner, n, u32);
    this.#ensureScratch(n);
    return {
      bytes: this.#bytes,
      keyLens: this.#keyLens,
      keyCounts: this.#keyCounts,
      weights: this.#weights,
    };
  }

  #ensureScratch(n: number): void {
    this.#kHi = grow(this.#kHi, n, u32);
    this.#kLo = grow(this.#kLo, n, u32);
    this.#kHi2 = grow(this.#kHi2, n, u32);
    this.#kLo2 = grow(this.#kLo2, n, u32);
    this.#idx = grow(this.#idx, n, u32);
    this.#idx2 = grow(this.#idx2, n, u32);
  }

  // Stable LSD radix sort of (kHi:kLo, idx)[0..n), 8-bit digits, constant digits skipped.
  #sortPairs(n: number): void {
    if (n < 2) return;
    const hist = this.#hist;
    hist.fill(0);
    let sHi = this.#kHi, sLo = this.#kLo, sIdx = this.#idx;
    let dHi = this.#kHi2, dLo = this.#kLo2, dIdx = this.#idx2;
    for (let i = 0; i < n; i++) {
      const lo = sLo[i]!, hi = sHi[i]!;
      hist[lo & 255]!++;
      hist[256 + ((lo >>> 8) & 255)]!++;
      hist[512 + ((lo >>> 16) & 255)]!++;
      hist[768 + (lo >>> 24)]!++;
      hist[1024 + (hi & 255)]!++;
      hist[1280 + ((hi >>> 8) & 255)]!++;
      hist[1536 + ((hi >>> 16) & 255)]!++;
      hist[1792 + (hi >>> 24)]!++;
    }
    for (let p = 0; p < 8; p++) {
      const base = p * 256;
      const shift = (p & 3) * 8;
      const useHi = p >= 4;
      const first = ((useHi ? sHi[0]! : sLo[0]!) >>> shift) & 255;
      if (hist[base + first] === n) continue;
      let sum = 0;
      for (let d = 0; d < 256; d++) {
        const c = hist[base + d]!;
        hist[base + d] = sum;
        sum += c;
      }
      for (let i = 0; i < n; i++) {
        const hi = sHi[i]!, lo = sLo[i]!;
        const d = base + (((useHi ? hi : lo) >>> shift) & 255);
        const pos = hist[d]!;
        hist[d] = pos + 1;
        dHi[pos] = hi;
        dLo[pos] = lo;
        dIdx[pos] = sIdx[i]!;
      }
      [sHi, dHi] = [dHi, sHi];
      [sLo, dLo] = [dLo, sLo];
      [sIdx, dIdx] = [dIdx, sIdx];
    }
    if (sHi !== this.#kHi) {
      this.#kHi.set(sHi.subarray(0, n));
      this.#kLo.set(sLo.subarray(0, n));
      this.#idx.set(sIdx.subarray(0, n));
    }
  }

  reserveBytes(byteLength: number, keep: number): Uint8Array {
    if (this.#bytes.length < byteLength) {
      const next = u8(Math.max(byteLength, Math.ceil(this.#bytes.length * 1.5)));
      next.set(this.#bytes.subarray(0, keep));
      this.#bytes = next;
    }
    return this.#bytes;
  }

  #utf8KeyLengths(keyCount: number, byteLength: number): boolean {
    const bytes = this.#bytes, lens = this.#keyLens;
    let p = 0;
    for (let k = 0; k < keyCount; k++) {
      let units = lens[k]!;
      const start = p;
      while (units > 0) {
        const b = bytes[p]!;
        if (b < 0x80) {
          p += 1;
          units -= 1;
        } else if (b < 0xe0) {
          p += 2;
          units -= 1;
        } else if (b < 0xf0) {
          p += 3;
          units -= 1;
        } else {
          // Four bytes are two UTF-16 units: a pair cannot end this key.
          if (units < 2) return false;
          p += 4;
          units -= 2;
        }
      }
      lens[k] = p - start;
    }
    return p === byteLength;
  }

  preparePartitions(
    n: number,
    equalWeights: boolean,
    utf16Lengths: boolean,
    byteLength: number,
  ): number {
    if (utf16Lengths) {
      let keyCount = 0;
      for (let i = 0; i < n; i++) {
        const word = this.#keyCounts[i]!;
        keyCount += (word >>> 8) - (word & 0xff);
      }
      if (!this.#utf8KeyLengths(keyCount, byteLength)) return -1;
    }
    const bytes = this.#bytes, lens = this.#keyLens, counts = this.#keyCounts;
    const hashHi = this.#hashHi, hashLo = this.#hashLo;
    const chainHi = this.#chainHi, chainLo = this.#chainLo;
    chainHi[0] = 0;
    chainLo[0] = 0;
    let p = 0;
    let key = 0;
    for (let i = 0; i < n; i++) {
      // Leading keys equal to the previous partition's were not marshalled: resume its chain.
      const word = counts[i]!;
      const c = word >>> 8;
      const shared = word & 0xff;
      let hh = chainHi[shared]!, hl = chainLo[shared]!;
      for (let j = shared; j < c; j++) {
        const len = lens[key++]!;
        xxh3Raw(bytes, p, len, hh, hl);
        hh = xxh3Out[0]!;
        hl = xxh3Out[1]!;
        p += len;
        if (j < MAX_SHARED) {
          chainHi[j + 1] = hh;
          chainLo[j + 1] = hl;
        }
      }
      hashHi[i] = hh;
      hashLo[i] = hl;
    }
    const kHi = this.#kHi, kLo = this.#kLo, idx = this.#idx;
    for (let i = 0; i < n; i++) {
      kHi[i] = hashHi[i]!;
      kLo[i] = hashLo[i]!;
      idx[i] = i;
    }
    this.#sortPairs(n);
    let dups = 0;
    for (let i = 1; i < n; i++) {
      if (kHi[i] === kHi[i - 1] && kLo[i] === kLo[i - 1]) dups++;
    }
    this.#horder.set(idx.subarray(0, n));
    if (!equalWeights) {
      const weights = this.#weights, horder = this.#horder;
      for (let k = 0; k < n; k++) {
        const i = horder[k]!;
        bits.setFloat64(0, weights[i]!, true);
        kHi[k] = ~bits.getUint32(4, true) >>> 0;
        kLo[k] = ~bits.getUint32(0, true) >>> 0;
        idx[k] = i;
      }
      this.#sortPairs(n);
    }
    this.#worder.set(idx.subarray(0, n));
    return dups;
  }

  ensureSlots(slotCount: number, ringPoints: number): void {
    this.#load = grow(this.#load, slotCount, f64a);
    this.#load2 = grow(this.#load2, slotCount, f64a);
    this.#rank = grow(this.#rank, slotCount, u32, true);
    this.#alive = grow(this.#alive, slotCount, u32, true);
    this.#rankToSlot = grow(this.#rankToSlot, slotCount, u32, true);
    this.#wHi = grow(this.#wHi, slotCount, u32, true);
    this.#wLo = grow(this.#wLo, slotCount, u32, true);
    this.#rHi = grow(this.#rHi, ringPoints, u32, true);
    this.#rLo = grow(this.#rLo, ringPoints, u32, true);
    this.#rSlot = grow(this.#rSlot, ringPoints, u32, true);
    this.#ensureScratch(ringPoints);
  }

  slotViews(): SlotViews {
    return { rank: this.#rank, alive: this.#alive, rankToSlot: this.#rankToSlot };
  }

  hashWorkers(slots: readonly number[], ids: readonly string[]): void {
    for (let k = 0; k < slots.length; k++) {
      const bytes = encoder.encode(ids[k]!);
      xxh3Raw(bytes, 0, bytes.length, 0, 0);
      this.#wHi[slots[k]!] = xxh3Out[0]!;
      this.#wLo[slots[k]!] = xxh3Out[1]!;
    }
  }

  clearRing(): void {
    this.#ringLen = 0;
  }

  updateRing(added: readonly number[], vnodes: number, counts?: readonly number[]): void {
    const rHi = this.#rHi, rLo = this.#rLo, rSlot = this.#rSlot;
    const alive = this.#alive, rank = this.#rank;
    let len = 0;
    for (let j = 0; j < this.#ringLen; j++) {
      const s = rSlot[j]!;
      if (alive[s] !== 0) {
        rHi[len] = rHi[j]!;
        rLo[len] = rLo[j]!;
        rSlot[len] = s;
        len++;
      }
    }
    this.#ringLen = len;
    if (added.length === 0) return;
    const kHi = this.#kHi, kLo = this.#kLo, idx = this.#idx;
    const vb = this.#vnodeBytes;
    let m = 0;
    for (let k = 0; k < added.length; k++) {
      const slot = added[k]!;
      const sh = this.#wHi[slot]!, sl = this.#wLo[slot]!;
      const points = counts === undefined ? vnodes : counts[k]!;
      for (let v = 0; v < points; v++) {
        vb[0] = v;
        vb[1] = v >>> 8;
        vb[2] = v >>> 16;
        vb[3] = v >>> 24;
        xxh3Raw(vb, 0, 8, sh, sl);
        kHi[m] = xxh3Out[0]!;
        kLo[m] = xxh3Out[1]!;
        idx[m] = slot;
        m++;
      }
    }
    this.#sortPairs(m);
    if (len === 0) {
      rHi.set(kHi.subarray(0, m));
      rLo.set(kLo.subarray(0, m));
      rSlot.set(idx.subarray(0, m));
      this.#ringLen = m;
      return;
    }
    const oHi = this.#kHi2, oLo = this.#kLo2, oIdx = this.#idx2;
    let a = 0, b = 0, o = 0;
    while (a < len && b < m) {
      const ah = rHi[a]!, al = rLo[a]!, bh = kHi[b]!, bl = kLo[b]!;
      let takeA = ah < bh || (ah === bh && al < bl);
      if (ah === bh && al === bl) takeA = rank[rSlot[a]!]! <= rank[idx[b]!]!;
      if (takeA) {
        oHi[o] = ah;
        oLo[o] = al;
        oIdx[o] = rSlot[a]!;
        a++;
      } else {
        oHi[o] = bh;
        oLo[o] = bl;
        oIdx[o] = idx[b]!;
        b++;
      }
      o++;
    }
    for (; a < len; a++, o++) {
      oHi[o] = rHi[a]!;
      oLo[o] = rLo[a]!;
      oIdx[o] = rSlot[a]!;
    }
    for (; b < m; b++, o++) {
      oHi[o] = kHi[b]!;
      oLo[o] = kLo[b]!;
      oIdx[o] = idx[b]!;
    }
    rHi.set(oHi.subarray(0, o));
    rLo.set(oLo.subarray(0, o));
    rSlot.set(oIdx.subarray(0, o));
    this.#ringLen = o;
  }

  prevView(n: number): Int32Array {
    return this.#prev.subarray(0, n);
  }

  ownerView(n: number): Uint32Array {
    return this.#owner.subarray(0, n);
  }

  #computeStarts(n: number): void {
    const hashHi = this.#hashHi, hashLo = this.#hashLo, horder = this.#horder;
    const start = this.#start, rHi = this.#rHi, rLo = this.#rLo, ringLen = this.#ringLen;
    let j = 0;
    for (let k = 0; k < n; k++) {
      const i = horder[k]!;
      const hh = hashHi[i]!, hl = hashLo[i]!;
      while (j < ringLen && (rHi[j]! < hh || (rHi[j] === hh && rLo[j]! < hl))) j++;
      start[i] = j === ringLen ? 0 : j;
    }
  }

  #leastLoaded(workers: number): number {
    const r2s = this.#rankToSlot, loads = this.#load;
    let best = r2s[0]!;
    let bestLoad = loads[best]!;
    for (let r = 1; r < workers; r++) {
      const s = r2s[r]!;
      if (loads[s]! < bestLoad) {
        best = s;
        bestLoad = loads[s]!;
      }
    }
    return best;
  }

  #stickyPass(n: number, share: number, loads: Float64Array, writeOwners: boolean): number {
    const worder = this.#worder, prev = this.#prev, weights = this.#weights, owner = this.#owner;
    let minimal = 0;
    for (let k = n - 1; k >= 0; k--) {
      const i = worder[k]!;
      const p = prev[i]!;
      let kept = false;
      if (p >= 0) {
        const l = loads[p]! + weights[i]!;
        if (l <= share) {
          loads[p] = l;
          kept = true;
        } else {
          minimal++;
        }
      } else if (p === -2) {
        minimal++;
      }
      if (writeOwners) owner[i] = kept ? p : UNASSIGNED;
    }
    return minimal;
  }

  #minimalMoves(
    n: number,
    workers: number,
    share: number,
    floor: number,
    maxWeight: number,
  ): number {
    const worder = this.#worder, prev = this.#prev, weights = this.#weights;
    const kept = this.#load2, r2s = this.#rankToSlot;
    for (let r = 0; r < workers; r++) kept[r2s[r]!] = 0;
    let shed = 0;
    let absent = 0;
    for (let k = n - 1; k >= 0; k--) {
      const i = worder[k]!;
      const p = prev[i]!;
      if (p >= 0) {
        const l = kept[p]!;
        if (l < share) kept[p] = l + weights[i]!;
        else shed++;
      } else if (p === -2) {
        shed++;
      } else {
        absent++;
      }
    }
    let fill = 0;
    if (floor > 0) {
      for (let r = 0; r < workers; r++) {
        const l = kept[r2s[r]!]!;
        if (l < floor) fill += Math.ceil((floor - l) / maxWeight);
      }
    }
    const fillMoves = fill > absent ? fill - absent : 0;
    return fillMoves > shed ? fillMoves : shed;
  }

  // Path-halving find over a skip list of ring points: the first point at or after `j` that is not
  // marked skipped (`ringLen` when none is left before the end).
  #find(skip: Uint32Array, j: number): number {
    let next = skip[j]!;
    while (next !== j) {
      const after = skip[next]!;
      skip[j] = after;
      j = next;
      next = after;
    }
    return j;
  }

  #minLoad(workers: number): number {
    const r2s = this.#rankToSlot, loads = this.#load;
    let min = Infinity;
    for (let r = 0; r < workers; r++) {
      const l = loads[r2s[r]!]!;
      if (l < min) min = l;
    }
    return min;
  }

  /**
   * Tier 1 of the bounded-load placement: the first ring point at or after `first` (cyclically)
   * whose worker stays within `share` with weight `w`, or UNASSIGNED when there is none. The same
   * answer as visiting every point in turn: points are skipped only when their worker cannot take
   * even the lightest partition of the call (loads only grow, weights only shrink), and after
   * {@link walkBudget} rejections one look at the least load tells whether any point can accept.
   */
  #walkWithRoom(first: number, w: number, share: number, ringLen: number, workers: number): number {
    const skip = this.#skip, rSlot = this.#rSlot, loads = this.#load, wMin = this.#wMin;
    let j = first;
    let wrapped = false;
    let budget = walkBudget(workers);
    for (;;) {
      j = this.#find(skip, j);
      if (j === ringLen) {
        if (wrapped) return UNASSIGNED;
        wrapped = true;
        j = this.#find(skip, 0);
      }
      if (wrapped && j >= first) return UNASSIGNED;
      const s = rSlot[j]!;
      const l = loads[s]!;
      if (l + w <= share) return s;
      if (l + wMin > share) skip[j] = j + 1;
      if (--budget === 0 && !(this.#minLoad(workers) + w <= share)) return UNASSIGNED;
      j++;
    }
  }

  /**
   * Tier 0: the first ring point at or after `first` whose worker is below `floor` and stays
   * within `share` with weight `w`; a point whose worker reached the floor is skipped for the rest
   * of the call (loads only grow).
   */
  #walkBelowFloor(
    first: number,
    w: number,
    share: number,
    floor: number,
    ringLen: number,
    workers: number,
  ): number {
    const skip = this.#skip0, rSlot = this.#rSlot, loads = this.#load;
    if (!this.#skip0Ready) {
      for (let j = 0; j <= ringLen; j++) skip[j] = j;
      this.#skip0Ready = true;
    }
    let j = first;
    let wrapped = false;
    let budget = walkBudget(workers);
    for (;;) {
      j = this.#find(skip, j);
      if (j === ringLen) {
        if (wrapped) return UNASSIGNED;
        wrapped = true;
        j = this.#find(skip, 0);
      }
      if (wrapped && j >= first) return UNASSIGNED;
      const s = rSlot[j]!;
      const l = loads[s]!;
      if (l < floor) {
        if (l + w <= share) return s;
        if (--budget === 0 && !(this.#minLoad(workers) + w <= share)) return UNASSIGNED;
      } else {
        skip[j] = j + 1;
      }
      j++;
    }
  }

  /** Tier 2: the first ring point at or after `first` whose worker is below `share`. */
  #walkBelowShare(first: number, share: number, ringLen: number, workers: number): number {
    const skip = this.#skip2, rSlot = this.#rSlot, loads = this.#load;
    if (!this.#skip2Ready) {
      for (let j = 0; j <= ringLen; j++) skip[j] = j;
      this.#skip2Ready = true;
    }
    let j = first;
    let wrapped = false;
    let budget = walkBudget(workers);
    for (;;) {
      j = this.#find(skip, j);
      if (j === ringLen) {
        if (wrapped) return UNASSIGNED;
        wrapped = true;
        j = this.#find(skip, 0);
      }
      if (wrapped && j >= first) return UNASSIGNED;
      const s = rSlot[j]!;
      if (loads[s]! < share) return s;
      skip[j] = j + 1;
      if (--budget === 0 && !(this.#minLoad(workers) < share)) return UNASSIGNED;
      j++;
    }
  }

  placementViews(n: number, slotCount: number, classes: number, groups: number): PlacementViews {
    this.#cap = grow(this.#cap, slotCount, f64a);
    this.#floor = grow(this.#floor, slotCount, f64a);
    this.#cls = grow(this.#cls, n, u32);
    this.#pref = grow(this.#pref, n, u32);
    this.#pin = grow(this.#pin, n, i32);
    this.#group = grow(this.#group, n, u32);
    this.#order = grow(this.#order, n, u32);
    this.#count = grow(this.#count, groups + 1, u32);
    this.#elig = grow(this.#elig, classes * slotCount, u8);
    return {
      cap: this.#cap.subarray(0, slotCount),
      floor: this.#floor.subarray(0, slotCount),
      cls: this.#cls.subarray(0, n),
      pref: this.#pref.subarray(0, n),
      pin: this.#pin.subarray(0, n),
      group: this.#group.subarray(0, n),
      elig: this.#elig.subarray(0, classes * slotCount),
    };
  }

  #placementArrays(): PlacementArrays {
    this.#skip = grow(this.#skip, this.#ringLen + 1, u32);
    this.#skip2 = grow(this.#skip2, this.#ringLen + 1, u32);
    this.#skip0 = grow(this.#skip0, this.#ringLen + 1, u32);
    return {
      weights: this.#weights,
      worder: this.#worder,
      start: this.#start,
      prev: this.#prev,
      owner: this.#owner,
      rSlot: this.#rSlot,
      ringLen: this.#ringLen,
      load: this.#load,
      load2: this.#load2,
      rankToSlot: this.#rankToSlot,
      skip: this.#skip,
      skip2: this.#skip2,
      skip0: this.#skip0,
      cap: this.#cap,
      floor: this.#floor,
      cls: this.#cls,
      pref: this.#pref,
      pin: this.#pin,
      group: this.#group,
      elig: this.#elig,
      order: this.#order,
      count: this.#count,
    };
  }

  assignPlaced(
    n: number,
    workers: number,
    slotCount: number,
    groups: number,
    hasPrev: boolean,
    maxWeight: number,
    uniform: boolean,
  ): PlacedStats {
    this.#computeStarts(n);
    const arrays = this.#placementArrays();
    return assignPlaced(arrays, n, workers, slotCount, groups, hasPrev, maxWeight, uniform);
  }

  placedStats(
    n: number,
    workers: number,
    slotCount: number,
    hasPrev: boolean,
    maxWeight: number,
  ): PlacedStats {
    return placedStats(this.#placementArrays(), n, workers, slotCount, hasPrev, maxWeight);
  }

  assign(
    strategy: number,
    n: number,
    workers: number,
    slotCount: number,
    share: number,
    hasPrev: boolean,
    floor: number,
    maxWeight: number,
  ): KernelStats {
    const loads = this.#load, owner = this.#owner, weights = this.#weights, prev = this.#prev;
    const rSlot = this.#rSlot, start = this.#start, ringLen = this.#ringLen;
    loads.fill(0, 0, slotCount);
    let minimal = 0;
    if (strategy === STRATEGY_WEIGHTED) {
      if (hasPrev) this.#stickyPass(n, share, loads, true);
      else owner.fill(UNASSIGNED, 0, n);
      this.#computeStarts(n);
      const worder = this.#worder;
      // Weights are placed heaviest first, so no partition of this call weighs less than the last.
      this.#wMin = weights[worder[n - 1]!]!;
      this.#skip = grow(this.#skip, ringLen + 1, u32);
      this.#skip2 = grow(this.#skip2, ringLen + 1, u32);
      this.#skip0 = grow(this.#skip0, ringLen + 1, u32);
      const skip = this.#skip;
      for (let j = 0; j <= ringLen; j++) skip[j] = j;
      this.#skip2Ready = false;
      this.#skip0Ready = false;
      let fail0 = Infinity;
      let fail1 = Infinity;
      let fail2 = false;
      for (let k = 0; k < n; k++) {
        const i = worder[k]!;
        if (owner[i] !== UNASSIGNED) continue;
        const w = weights[i]!;
        const first = start[i]!;
        let found = UNASSIGNED;
        const owned = hasPrev ? prev[i]! : -1;
        if (owned >= 0) {
          // Its live previous owner could not keep it: to a worker below the floor with room,
          // else back to that owner within SHED_SLACK of its bound (see place in
          // wasm/assembly/index.ts).
          if (floor > 0 && w < fail0) {
            found = this.#walkBelowFloor(first, w, share, floor, ringLen, workers);
            if (found === UNASSIGNED) fail0 = w;
          }
          const lp = loads[owned]!;
          if (found === UNASSIGNED && lp < share && lp + w <= share * SHED_SLACK) found = owned;
        }
        if (found === UNASSIGNED && w < fail1) {
          found = this.#walkWithRoom(first, w, share, ringLen, workers);
          if (found === UNASSIGNED) fail1 = w;
        }
        if (found === UNASSIGNED && !fail2) {
          // Below the bound the previous owner comes first: it moves nothing.
          const p = hasPrev ? prev[i]! : -1;
          if (p >= 0 && loads[p]! < share) found = p;
          else found = this.#walkBelowShare(first, share, ringLen, workers);
          if (found === UNASSIGNED) fail2 = true;
        }
        if (found === UNASSIGNED) found = this.#leastLoaded(workers);
        loads[found] = loads[found]! + w;
        owner[i] = found;
      }
    } else {
      if (strategy === STRATEGY_RING) {
        this.#computeStarts(n);
        for (let i = 0; i < n; i++) owner[i] = rSlot[start[i]!]!;
      } else if (strategy === STRATEGY_ROUND_ROBIN) {
        const r2s = this.#rankToSlot;
        let r = 0;
        for (let i = 0; i < n; i++) {
          owner[i] = r2s[r]!;
          if (++r === workers) r = 0;
        }
      } else if (strategy !== STRATEGY_GIVEN) {
        throw new RangeError(`Unknown strategy code ${strategy}`);
      }
      for (let i = 0; i < n; i++) {
        const s = owner[i]!;
        loads[s] = loads[s]! + weights[i]!;
      }
    }
    let moved = 0;
    if (hasPrev) {
      minimal = this.#minimalMoves(n, workers, share, floor, maxWeight);
      for (let i = 0; i < n; i++) {
        const p = prev[i]!;
        if (p !== -1 && p !== owner[i]) moved++;
      }
    }
    const r2s = this.#rankToSlot;
    let maxLoad = 0;
    for (let r = 0; r < workers; r++) {
      const l = loads[r2s[r]!]!;
      if (l > maxLoad) maxLoad = l;
    }
    return { owners: owner.subarray(0, n), maxLoad, moved, minimalMoves: minimal };
  }
}
