// The Parti assignment kernel. Only numbers cross the boundary: the host lays out typed regions in
// linear memory (see src/engine/wasm_engine.ts), registers their addresses with setRegion() and
// calls the kernels below. No allocation happens in here (runtime "stub").

import { vnodeFlip, vnodeHash, xxh3 } from "./xxh3";
import {
  P_HASH,
  P_WEIGHT,
  P_HORDER,
  P_WORDER,
  P_START,
  P_PREV,
  P_OWNER,
  KEY_LENS,
  KEY_COUNTS,
  BYTES,
  T_KEYS,
  T_KEYS2,
  T_IDX,
  T_IDX2,
  R_HASH,
  R_SLOT,
  S_LOAD,
  S_RANK,
  S_ALIVE,
  S_HASH,
  S_RANK2SLOT,
  ADDED,
  W_BYTES,
  W_LENS,
  HIST,
  STATS,
  S_LOAD2,
  P_HSORTED,
  R_SKIP,
  R_SKIP0,
  R_SKIP2,
  P_WRANK,
  P_WSORTED,
  M_CAP,
  M_FLOOR,
  M_CLS,
  M_PREF,
  M_PIN,
  M_GROUP,
  M_ELIG,
  M_ORDER,
  M_HRANK,
  M_COUNT,
  REGION_COUNT,
  REGIONS,
  UNASSIGNED,
  reg,
  find,
  computeStarts,
  SHED_SLACK,
} from "./regions";

export { xxh3 };

// Chain states of the previous partition: CHAIN[d] = hash after its first d keys (d < MAX_SHARED + 1).
const MAX_SHARED: u32 = 15;
const CHAIN: usize = memory.data(8 * (MAX_SHARED + 1), 8);


// Whether the loaded partitions all weigh the same (then weight order = hash order).
let allEqual = false;
// Failure memos of the ring walk during one assign() call (loads only grow, so a weight that found
// no room once finds none later).
let fail1: f64 = Infinity;
let fail2 = false;
const DIGIT_BITS: u64 = 11;
const DIGITS: u32 = 2048;
const PASSES: u32 = 3;
const MAX_BUCKET_BITS: u32 = 16;


/** First byte the host may use. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

/** Registers the address of a region. */
export function setRegion(id: i32, ptr: usize): void {
  store<usize>(REGIONS + (<usize>id << 3), ptr);
}

/** XXH3-64 of `len` bytes at `ptr`, for tests (BigInt on the boundary is fine there). */
export function hashBytes(ptr: usize, len: usize, seed: u64): u64 {
  return xxh3(ptr, len, seed);
}

// Stable sort of (T_KEYS, T_IDX)[0..n) by unsigned 64-bit key; leaves the result in place.
// LSD radix over the high 32 bits (3 passes of 11 bits, histograms from one read pass, constant
// digits skipped), then one insertion pass orders keys that share their high 32 bits (rare for
// hashes and for weights, which differ in their high bits).
function sortPairs(n: u32): void {
  if (n < 2) return;
  const hist = reg(HIST);
  memory.fill(hist, 0, <usize>(PASSES * DIGITS) << 2);
  let srcK = reg(T_KEYS);
  let srcI = reg(T_IDX);
  let dstK = reg(T_KEYS2);
  let dstI = reg(T_IDX2);
  for (let i: u32 = 0; i < n; i++) {
    const k = load<u64>(srcK + (<usize>i << 3)) >> 32;
    const a0 = hist + (<usize>(k & 2047) << 2);
    store<u32>(a0, load<u32>(a0) + 1);
    const a1 = hist + ((<usize>DIGITS + <usize>((k >> 11) & 2047)) << 2);
    store<u32>(a1, load<u32>(a1) + 1);
    const a2 = hist + ((<usize>(2 * DIGITS) + <usize>(k >> 22)) << 2);
    store<u32>(a2, load<u32>(a2) + 1);
  }
  for (let p: u32 = 0; p < PASSES; p++) {
    const h = hist + (<usize>(p * DIGITS) << 2);
    const shift = 32 + <u64>p * DIGIT_BITS;
    const first = <u32>((load<u64>(srcK) >> shift) & 2047);
    if (load<u32>(h + (<usize>first << 2)) == n) continue;
    let sum: u32 = 0;
    for (let d: u32 = 0; d < DIGITS; d++) {
      const a = h + (<usize>d << 2);
      const c = load<u32>(a);
      store<u32>(a, sum);
      sum += c;
    }
    for (let i: u32 = 0; i < n; i++) {
      const k = load<u64>(srcK + (<usize>i << 3));
      const a = h + (<usize>((k >> shift) & 2047) << 2);
      const pos = load<u32>(a);
      store<u32>(a, pos + 1);
      store<u64>(dstK + (<usize>pos << 3), k);
      store<u32>(dstI + (<usize>pos << 2), load<u32>(srcI + (<usize>i << 2)));
    }
    const tk = srcK;
    srcK = dstK;
    dstK = tk;
    const ti = srcI;
    srcI = dstI;
    dstI = ti;
  }
  if (srcK != reg(T_KEYS)) {
    memory.copy(reg(T_KEYS), srcK, <usize>n << 3);
    memory.copy(reg(T_IDX), srcI, <usize>n << 2);
  }
  insertionFix(n, reg(T_KEYS), reg(T_IDX));
}

// Stable insertion pass over (keys, idx)[0..n): cheap when the keys are nearly sorted.
function insertionFix(n: u32, keys: usize, idx: usize): void {
  let prev = load<u64>(keys);
  for (let i: u32 = 1; i < n; i++) {
    const k = load<u64>(keys + (<usize>i << 3));
    if (k >= prev) {
      prev = k;
      continue;
    }
    const v = load<u32>(idx + (<usize>i << 2));
    let j = i;
    while (j > 0) {
      const before = load<u64>(keys + (<usize>(j - 1) << 3));
      if (before <= k) break;
      store<u64>(keys + (<usize>j << 3), before);
      store<u32>(idx + (<usize>j << 2), load<u32>(idx + (<usize>(j - 1) << 2)));
      j--;
    }
    store<u64>(keys + (<usize>j << 3), k);
    store<u32>(idx + (<usize>j << 2), v);
  }
}

// Stable sort of (T_KEYS, T_IDX)[0..n) for uniformly distributed keys (hashes) into (dstK, dstI),
// which must not be T_KEYS/T_IDX: one counting scatter into about n buckets by the top bits, then
// the insertion pass (about one key per bucket).
function sortHashesInto(n: u32, dstK: usize, dstI: usize): void {
  const srcK = reg(T_KEYS);
  const srcI = reg(T_IDX);
  // Beyond ~4 keys per bucket the insertion pass would dominate; use the radix sort instead.
  if (n < 2 || n > (<u32>1 << (MAX_BUCKET_BITS + 2))) {
    sortPairs(n);
    memory.copy(dstK, srcK, <usize>n << 3);
    memory.copy(dstI, srcI, <usize>n << 2);
    return;
  }
  let bits: u32 = 8;
  while (bits < MAX_BUCKET_BITS && (<u32>1 << bits) < n) bits++;
  const buckets: u32 = <u32>1 << bits;
  const shift = <u64>(64 - bits);
  const hist = reg(HIST);
  memory.fill(hist, 0, <usize>buckets << 2);
  for (let i: u32 = 0; i < n; i++) {
    const a = hist + (<usize>(load<u64>(srcK + (<usize>i << 3)) >> shift) << 2);
    store<u32>(a, load<u32>(a) + 1);
  }
  let sum: u32 = 0;
  for (let d: u32 = 0; d < buckets; d++) {
    const a = hist + (<usize>d << 2);
    const c = load<u32>(a);
    store<u32>(a, sum);
    sum += c;
  }
  for (let i: u32 = 0; i < n; i++) {
    const k = load<u64>(srcK + (<usize>i << 3));
    const a = hist + (<usize>(k >> shift) << 2);
    const pos = load<u32>(a);
    store<u32>(a, pos + 1);
    store<u64>(dstK + (<usize>pos << 3), k);
    store<u32>(dstI + (<usize>pos << 2), load<u32>(srcI + (<usize>i << 2)));
  }
  insertionFix(n, dstK, dstI);
}

const HIGH: u64 = 0x8080808080808080;

// UTF-8 byte length of the key that starts at `p` and spans `units` UTF-16 units, in bytes that
// hold keys encoded back to back and end at `end`; 0xffffffff when the bytes do not split there (a
// surrogate pair split between two keys, or too few bytes). A key ends where the (units + 1)-th
// character starts (a four-byte character counts as two units): eight bytes at a time, counting
// the bytes that start a character (not 10xxxxxx), one byte at a time around four-byte ones.
@inline function utf8Length(p: usize, units: u32, end: usize): u32 {
  const start = p;
  let u = units;
  while (true) {
    if (p + 8 <= end) {
      const x = load<u64>(p);
      if ((x & (x << 1) & (x << 2) & (x << 3) & HIGH) == 0) {
        let starts = (~x | (x << 1)) & HIGH;
        const c = <u32>popcnt<u64>(starts);
        if (c <= u) {
          p += 8;
          u -= c;
          continue;
        }
        for (let k: u32 = 0; k < u; k++) starts &= starts - 1;
        return <u32>(p - start) + <u32>(ctz<u64>(starts) >> 3);
      }
    }
    if (p >= end) return u == 0 ? <u32>(p - start) : 0xffffffff;
    const b = <u32>load<u8>(p);
    if ((b & 0xc0) != 0x80) {
      if (u == 0) return <u32>(p - start);
      if (b >= 0xf0) {
        // Four bytes are two UTF-16 units: a pair cannot end this key.
        if (u < 2) return 0xffffffff;
        u -= 2;
      } else {
        u -= 1;
      }
    }
    p++;
  }
  return 0xffffffff;
}

/**
 * Hashes every partition (chained XXH3 over its keys), then computes the hash order and the weight
 * order. Returns the number of adjacent equal hashes in hash order (candidate duplicates), or
 * 0xffffffff when `utf16Lengths` (KEY_LENS holds UTF-16 lengths, turned into byte lengths on the
 * way, see utf8Length) and the bytes do not split into keys of those lengths.
 */
export function hashPartitions(n: u32, equalWeights: bool, utf16Lengths: bool, byteLength: u32): u32 {
  const bytes = reg(BYTES);
  const end = bytes + <usize>byteLength;
  const lens = reg(KEY_LENS);
  const counts = reg(KEY_COUNTS);
  const hashes = reg(P_HASH);
  let p = bytes;
  let key: usize = 0;
  store<u64>(CHAIN, 0);
  for (let i: u32 = 0; i < n; i++) {
    // Leading keys equal to the previous partition's were not marshalled: resume its chain.
    const word = load<u32>(counts + (<usize>i << 2));
    const c = word >> 8;
    const shared = word & 0xff;
    let h = load<u64>(CHAIN + (<usize>shared << 3));
    for (let j = shared; j < c; j++) {
      let len = <usize>load<u32>(lens + (key << 2));
      if (utf16Lengths) {
        const bytesLen = utf8Length(p, <u32>len, end);
        if (bytesLen == 0xffffffff) return 0xffffffff;
        len = <usize>bytesLen;
      }
      h = xxh3(p, len, h);
      p += len;
      key++;
      if (j < MAX_SHARED) store<u64>(CHAIN + (<usize>(j + 1) << 3), h);
    }
    store<u64>(hashes + (<usize>i << 3), h);
  }
  if (utf16Lengths && p != end) return 0xffffffff;
  const tk = reg(T_KEYS);
  const ti = reg(T_IDX);
  for (let i: u32 = 0; i < n; i++) {
    store<u64>(tk + (<usize>i << 3), load<u64>(hashes + (<usize>i << 3)));
    store<u32>(ti + (<usize>i << 2), i);
  }
  const horder = reg(P_HORDER);
  const worder = reg(P_WORDER);
  const hsorted = reg(P_HSORTED);
  sortHashesInto(n, hsorted, horder);
  let dups: u32 = 0;
  for (let i: u32 = 1; i < n; i++) {
    if (load<u64>(hsorted + (<usize>i << 3)) == load<u64>(hsorted + (<usize>(i - 1) << 3))) dups++;
  }
  allEqual = equalWeights;
  if (!equalWeights) {
    // Sort hash ranks by descending weight (stable, so ties stay in hash order), then keep the
    // weights and hash ranks in that order: the placement reads them in sequence.
    const weights = reg(P_WEIGHT);
    for (let k: u32 = 0; k < n; k++) {
      const i = load<u32>(horder + (<usize>k << 2));
      // Positive doubles order like their bit patterns; invert for descending weight.
      store<u64>(tk + (<usize>k << 3), ~reinterpret<u64>(load<f64>(weights + (<usize>i << 3))));
      store<u32>(ti + (<usize>k << 2), k);
    }
    sortPairs(n);
    const wrank = reg(P_WRANK);
    const wsorted = reg(P_WSORTED);
    memory.copy(wrank, ti, <usize>n << 2);
    for (let k: u32 = 0; k < n; k++) {
      store<f64>(wsorted + (<usize>k << 3), reinterpret<f64>(~load<u64>(tk + (<usize>k << 3))));
      const hr = load<u32>(ti + (<usize>k << 2));
      store<u32>(ti + (<usize>k << 2), load<u32>(horder + (<usize>hr << 2)));
    }
  }
  memory.copy(worder, equalWeights ? horder : ti, <usize>n << 2);
  return dups;
}

/** Hashes the IDs of the `count` joining workers listed in ADDED (bytes in W_BYTES). */
export function hashWorkers(count: u32): void {
  const added = reg(ADDED);
  const lens = reg(W_LENS);
  const hashes = reg(S_HASH);
  let p = reg(W_BYTES);
  for (let k: u32 = 0; k < count; k++) {
    const len = <usize>load<u32>(lens + (<usize>k << 2));
    const slot = load<u32>(added + (<usize>k << 2));
    store<u64>(hashes + (<usize>slot << 3), xxh3(p, len, 0));
    p += len;
  }
}

/**
 * Updates the ring: drops the points of slots no longer alive, then merges in points for each of
 * the `addedCount` slots in ADDED: `vnodes` each, or with `vnodes` 0 the count in W_LENS at the
 * same index (points 0 … count - 1 of the slot, so a slot's points are a prefix of its full set).
 * Returns the new ring length.
 */
export function updateRingPoints(ringLen: u32, addedCount: u32, vnodes: u32): u32 {
  const rh = reg(R_HASH);
  const rs = reg(R_SLOT);
  const alive = reg(S_ALIVE);
  const rank = reg(S_RANK);
  let len: u32 = 0;
  for (let j: u32 = 0; j < ringLen; j++) {
    const s = load<u32>(rs + (<usize>j << 2));
    if (load<u32>(alive + (<usize>s << 2)) != 0) {
      if (len != j) {
        store<u64>(rh + (<usize>len << 3), load<u64>(rh + (<usize>j << 3)));
        store<u32>(rs + (<usize>len << 2), s);
      }
      len++;
    }
  }
  if (addedCount == 0) return len;
  const added = reg(ADDED);
  const whash = reg(S_HASH);
  const tk = reg(T_KEYS);
  const ti = reg(T_IDX);
  let m: u32 = 0;
  const counts = reg(W_LENS);
  for (let k: u32 = 0; k < addedCount; k++) {
    const slot = load<u32>(added + (<usize>k << 2));
    const flip = vnodeFlip(load<u64>(whash + (<usize>slot << 3)));
    const points = vnodes != 0 ? vnodes : load<u32>(counts + (<usize>k << 2));
    for (let v: u32 = 0; v < points; v++) {
      store<u64>(tk + (<usize>m << 3), vnodeHash(v, flip));
      store<u32>(ti + (<usize>m << 2), slot);
      m++;
    }
  }
  if (len == 0) {
    sortHashesInto(m, rh, rs);
    return m;
  }
  // Sort the new points into the second scratch pair, merge the two sorted runs into the first,
  // then copy back.
  const nk = reg(T_KEYS2);
  const ni = reg(T_IDX2);
  sortHashesInto(m, nk, ni);
  const ok = tk;
  const oi = ti;
  let a: u32 = 0;
  let b: u32 = 0;
  let o: u32 = 0;
  while (a < len && b < m) {
    const ha = load<u64>(rh + (<usize>a << 3));
    const hb = load<u64>(nk + (<usize>b << 3));
    const sa = load<u32>(rs + (<usize>a << 2));
    const sb = load<u32>(ni + (<usize>b << 2));
    let takeA = ha < hb;
    if (ha == hb) {
      takeA = load<u32>(rank + (<usize>sa << 2)) <= load<u32>(rank + (<usize>sb << 2));
    }
    if (takeA) {
      store<u64>(ok + (<usize>o << 3), ha);
      store<u32>(oi + (<usize>o << 2), sa);
      a++;
    } else {
      store<u64>(ok + (<usize>o << 3), hb);
      store<u32>(oi + (<usize>o << 2), sb);
      b++;
    }
    o++;
  }
  while (a < len) {
    store<u64>(ok + (<usize>o << 3), load<u64>(rh + (<usize>a << 3)));
    store<u32>(oi + (<usize>o << 2), load<u32>(rs + (<usize>a << 2)));
    a++;
    o++;
  }
  while (b < m) {
    store<u64>(ok + (<usize>o << 3), load<u64>(nk + (<usize>b << 3)));
    store<u32>(oi + (<usize>o << 2), load<u32>(ni + (<usize>b << 2)));
    b++;
    o++;
  }
  memory.copy(rh, ok, <usize>o << 3);
  memory.copy(rs, oi, <usize>o << 2);
  return o;
}


// Lowest-loaded live worker, ties to the lowest rank.
function leastLoaded(workers: u32): u32 {
  const r2s = reg(S_RANK2SLOT);
  const loads = reg(S_LOAD);
  let best = load<u32>(r2s);
  let bestLoad = load<f64>(loads + (<usize>best << 3));
  for (let r: u32 = 1; r < workers; r++) {
    const s = load<u32>(r2s + (<usize>r << 2));
    const l = load<f64>(loads + (<usize>s << 3));
    if (l < bestLoad) {
      best = s;
      bestLoad = l;
    }
  }
  return best;
}

// Sticky pass: each live previous owner keeps its lightest partitions first while it stays within
// `share` (so the fewest partitions leave it). Sets `owner` to the kept slot or UNASSIGNED.
function stickyPass(n: u32, share: f64, loadsPtr: usize, writeOwners: bool): u32 {
  const worder = reg(P_WORDER);
  const prev = reg(P_PREV);
  const weights = reg(P_WEIGHT);
  const owner = reg(P_OWNER);
  let minimal: u32 = 0;
  for (let k: i32 = <i32>n - 1; k >= 0; k--) {
    const i = load<u32>(worder + (<usize>k << 2));
    const p = load<i32>(prev + (<usize>i << 2));
    let kept = false;
    if (p >= 0) {
      const a = loadsPtr + (<usize>p << 3);
      const w = load<f64>(weights + (<usize>i << 3));
      const l = load<f64>(a) + w;
      if (l <= share) {
        store<f64>(a, l);
        kept = true;
      } else {
        minimal++;
      }
    } else if (p == -2) {
      minimal++;
    }
    if (writeOwners) store<u32>(owner + (<usize>i << 2), kept ? <u32>p : UNASSIGNED);
  }
  return minimal;
}

// Lower bound on moves (see AssignmentStats.minimalMoves in src/engine/types.ts): the larger of
// (a) partitions on departed workers plus those a worker must shed to stay below `share` before its
// last partition (keeping its lightest first), and (b) the partitions needed to lift every worker to
// `floor` (each brings at most `maxWeight`), less the partitions absent from the previous
// assignment, which can fill workers without counting as moves.
function minimalMoves(n: u32, workers: u32, share: f64, floor: f64, maxWeight: f64): u32 {
  const worder = reg(P_WORDER);
  const prev = reg(P_PREV);
  const weights = reg(P_WEIGHT);
  const kept = reg(S_LOAD2);
  const r2s = reg(S_RANK2SLOT);
  for (let r: u32 = 0; r < workers; r++) {
    store<f64>(kept + (<usize>load<u32>(r2s + (<usize>r << 2)) << 3), 0);
  }
  let shed: u32 = 0;
  let absent: u32 = 0;
  for (let k: i32 = <i32>n - 1; k >= 0; k--) {
    const i = load<u32>(worder + (<usize>k << 2));
    const p = load<i32>(prev + (<usize>i << 2));
    if (p >= 0) {
      const a = kept + (<usize>p << 3);
      const l = load<f64>(a);
      if (l < share) store<f64>(a, l + load<f64>(weights + (<usize>i << 3)));
      else shed++;
    } else if (p == -2) {
      shed++;
    } else {
      absent++;
    }
  }
  let fill: f64 = 0;
  if (floor > 0) {
    for (let r: u32 = 0; r < workers; r++) {
      const l = load<f64>(kept + (<usize>load<u32>(r2s + (<usize>r << 2)) << 3));
      if (l < floor) fill += Math.ceil((floor - l) / maxWeight);
    }
  }
  const fillMoves = fill > <f64>absent ? <u32>(fill - <f64>absent) : 0;
  return fillMoves > shed ? fillMoves : shed;
}

// Rejected ring points a walk visits before it checks whether any worker can accept at all (the
// check costs one pass over the workers).
let walkBudget: i32 = 32;
// Lightest weight placed in this assign() call (partitions are placed heaviest first).
let wMin: f64 = 0;
let skip2Ready = false;
// Below-floor tier (see place): the floor of this call (0 = none) and its skip list.
let floorLevel: f64 = 0;
let skip0Ready = false;
let fail0: f64 = Infinity;

function minLoad(workers: u32): f64 {
  const r2s = reg(S_RANK2SLOT);
  const loads = reg(S_LOAD);
  let min: f64 = Infinity;
  for (let r: u32 = 0; r < workers; r++) {
    const l = load<f64>(loads + (<usize>load<u32>(r2s + (<usize>r << 2)) << 3));
    if (l < min) min = l;
  }
  return min;
}

// Tier 1: the first ring point at or after `first` (cyclically) whose worker stays within `share`
// with weight `w`, or UNASSIGNED. Same answer as visiting every point: a point is skipped only when
// its worker cannot take even the lightest partition of the call (loads only grow), and after
// walkBudget rejections one look at the least load tells whether any point can accept.
function walkWithRoom(first: u32, w: f64, share: f64, ringLen: u32, workers: u32): u32 {
  const skip = reg(R_SKIP);
  const rs = reg(R_SLOT);
  const loads = reg(S_LOAD);
  const lightest = wMin;
  let j = first;
  let wrapped = false;
  let budget = walkBudget;
  while (true) {
    j = find(skip, j);
    if (j == ringLen) {
      if (wrapped) return UNASSIGNED;
      wrapped = true;
      j = find(skip, 0);
    }
    if (wrapped && j >= first) return UNASSIGNED;
    const s = load<u32>(rs + (<usize>j << 2));
    const l = load<f64>(loads + (<usize>s << 3));
    if (l + w <= share) return s;
    if (l + lightest > share) store<u32>(skip + (<usize>j << 2), j + 1);
    if (--budget == 0 && !(minLoad(workers) + w <= share)) return UNASSIGNED;
    j++;
  }
  return UNASSIGNED;
}

// Tier 2: the first ring point at or after `first` whose worker is below `share`, or UNASSIGNED.
function walkBelowShare(first: u32, share: f64, ringLen: u32, workers: u32): u32 {
  const skip = reg(R_SKIP2);
  const rs = reg(R_SLOT);
  const loads = reg(S_LOAD);
  if (!skip2Ready) {
    for (let j: u32 = 0; j <= ringLen; j++) store<u32>(skip + (<usize>j << 2), j);
    skip2Ready = true;
  }
  let j = first;
  let wrapped = false;
  let budget = walkBudget;
  while (true) {
    j = find(skip, j);
    if (j == ringLen) {
      if (wrapped) return UNASSIGNED;
      wrapped = true;
      j = find(skip, 0);
    }
    if (wrapped && j >= first) return UNASSIGNED;
    const s = load<u32>(rs + (<usize>j << 2));
    if (load<f64>(loads + (<usize>s << 3)) < share) return s;
    store<u32>(skip + (<usize>j << 2), j + 1);
    if (--budget == 0 && !(minLoad(workers) < share)) return UNASSIGNED;
    j++;
  }
  return UNASSIGNED;
}

// Tier 0 (see place): the first ring point at or after `first` whose worker is below the floor
// and stays within `share` with weight `w`, or UNASSIGNED. A point whose worker reached the floor
// is skipped for the rest of the call (loads only grow).
function walkBelowFloor(first: u32, w: f64, share: f64, ringLen: u32, workers: u32): u32 {
  const skip = reg(R_SKIP0);
  const rs = reg(R_SLOT);
  const loads = reg(S_LOAD);
  if (!skip0Ready) {
    for (let j: u32 = 0; j <= ringLen; j++) store<u32>(skip + (<usize>j << 2), j);
    skip0Ready = true;
  }
  let j = first;
  let wrapped = false;
  let budget = walkBudget;
  while (true) {
    j = find(skip, j);
    if (j == ringLen) {
      if (wrapped) return UNASSIGNED;
      wrapped = true;
      j = find(skip, 0);
    }
    if (wrapped && j >= first) return UNASSIGNED;
    const s = load<u32>(rs + (<usize>j << 2));
    const l = load<f64>(loads + (<usize>s << 3));
    if (l < floorLevel) {
      if (l + w <= share) return s;
      if (--budget == 0 && !(minLoad(workers) + w <= share)) return UNASSIGNED;
    } else {
      store<u32>(skip + (<usize>j << 2), j + 1);
    }
    j++;
  }
  return UNASSIGNED;
}

// Places one partition of weight `w` whose ring walk starts at `first`; returns the slot.
// Tier 1: the next worker on the ring that stays within `share` with it; tier 2: the next worker
// still below `share`; else the least-loaded worker.
// `p`: the partition's previous owner's slot, or a negative value for none (or not live).
@inline function place(first: u32, w: f64, share: f64, ringLen: u32, workers: u32, p: i32): u32 {
  const loads = reg(S_LOAD);
  if (p >= 0) {
    // Its live previous owner could not keep it: to a worker below the floor (one that must gain
    // load, such as one that just joined) with room for it, else back to that owner while it is
    // below `share` and stays within SHED_SLACK of it (a bound that tightened a little moves
    // nothing), else as any other partition.
    if (floorLevel > 0 && w < fail0) {
      const s = walkBelowFloor(first, w, share, ringLen, workers);
      if (s != UNASSIGNED) {
        const a = loads + (<usize>s << 3);
        store<f64>(a, load<f64>(a) + w);
        return s;
      }
      fail0 = w;
    }
    const ap = loads + (<usize>p << 3);
    const lp = load<f64>(ap);
    if (lp < share && lp + w <= share * SHED_SLACK) {
      store<f64>(ap, lp + w);
      return <u32>p;
    }
  }
  // Most partitions fit on the worker of their first point: take it without a walk (a skipped
  // point cannot pass this test, so the answer is the same).
  const s0 = load<u32>(reg(R_SLOT) + (<usize>first << 2));
  const a0 = loads + (<usize>s0 << 3);
  const l0 = load<f64>(a0);
  if (l0 + w <= share && w < fail1) {
    store<f64>(a0, l0 + w);
    return s0;
  }
  let found: u32 = UNASSIGNED;
  if (w < fail1) {
    found = walkWithRoom(first, w, share, ringLen, workers);
    if (found == UNASSIGNED) fail1 = w;
  }
  if (found == UNASSIGNED && !fail2) {
    // Below the bound the previous owner comes first: it moves nothing.
    if (p >= 0 && load<f64>(loads + (<usize>p << 3)) < share) found = <u32>p;
    else found = walkBelowShare(first, share, ringLen, workers);
    if (found == UNASSIGNED) fail2 = true;
  }
  if (found == UNASSIGNED) found = leastLoaded(workers);
  const a = loads + (<usize>found << 3);
  store<f64>(a, load<f64>(a) + w);
  return found;
}

/**
 * Assigns the `n` partitions. strategy: 0 = weighted consistent hash (bounded, sticky),
 * 1 = consistent hash, 2 = round robin, 3 = owners already in P_OWNER (statistics only). `share` = loadFactor x mean load. Writes owners to P_OWNER
 * and maxLoad, moved, minimalMoves to STATS.
 */
export function assign(
  strategy: u32,
  n: u32,
  workers: u32,
  slotCount: u32,
  ringLen: u32,
  share: f64,
  hasPrev: bool,
  floor: f64,
  maxWeight: f64,
): void {
  const loads = reg(S_LOAD);
  const owner = reg(P_OWNER);
  const weights = reg(P_WEIGHT);
  const prev = reg(P_PREV);
  const rs = reg(R_SLOT);
  const start = reg(P_START);
  memory.fill(loads, 0, <usize>slotCount << 3);
  let minimal: u32 = 0;
  if (strategy == 0) {
    if (hasPrev) {
      stickyPass(n, share, loads, true);
    } else {
      memory.fill(owner, 0xff, <usize>n << 2);
    }
    fail1 = Infinity;
    fail2 = false;
    skip2Ready = false;
    skip0Ready = false;
    fail0 = Infinity;
    floorLevel = floor;
    walkBudget = 32 + <i32>(workers >> 2);
    const skip = reg(R_SKIP);
    for (let j: u32 = 0; j <= ringLen; j++) store<u32>(skip + (<usize>j << 2), j);
    wMin = n > 0 ? load<f64>(weights + (<usize>load<u32>(reg(P_WORDER) + (<usize>(n - 1) << 2)) << 3)) : 0;
    if (allEqual) {
      // Weight order is hash order: merge with the ring on the fly, touching memory in sequence.
      const hsorted = reg(P_HSORTED);
      const horder = reg(P_HORDER);
      const rh = reg(R_HASH);
      const w = load<f64>(weights);
      let j: u32 = 0;
      for (let k: u32 = 0; k < n; k++) {
        const h = load<u64>(hsorted + (<usize>k << 3));
        while (j < ringLen && load<u64>(rh + (<usize>j << 3)) < h) j++;
        const i = load<u32>(horder + (<usize>k << 2));
        if (load<u32>(owner + (<usize>i << 2)) != UNASSIGNED) continue;
        const p = hasPrev ? load<i32>(prev + (<usize>i << 2)) : -1;
        store<u32>(owner + (<usize>i << 2), place(j == ringLen ? 0 : j, w, share, ringLen, workers, p));
      }
    } else {
      computeStarts(n, ringLen);
      const worder = reg(P_WORDER);
      const wrank = reg(P_WRANK);
      const wsorted = reg(P_WSORTED);
      for (let k: u32 = 0; k < n; k++) {
        const i = load<u32>(worder + (<usize>k << 2));
        if (hasPrev && load<u32>(owner + (<usize>i << 2)) != UNASSIGNED) continue;
        const w = load<f64>(wsorted + (<usize>k << 3));
        const first = load<u32>(start + (<usize>load<u32>(wrank + (<usize>k << 2)) << 2));
        const p = hasPrev ? load<i32>(prev + (<usize>i << 2)) : -1;
        store<u32>(owner + (<usize>i << 2), place(first, w, share, ringLen, workers, p));
      }
    }
  } else {
    if (strategy == 1) {
      computeStarts(n, ringLen);
      const horder = reg(P_HORDER);
      for (let k: u32 = 0; k < n; k++) {
        const slot = load<u32>(rs + (<usize>load<u32>(start + (<usize>k << 2)) << 2));
        store<u32>(owner + (<usize>load<u32>(horder + (<usize>k << 2)) << 2), slot);
      }
    } else if (strategy == 2) {
      const r2s = reg(S_RANK2SLOT);
      let r: u32 = 0;
      for (let i: u32 = 0; i < n; i++) {
        store<u32>(owner + (<usize>i << 2), load<u32>(r2s + (<usize>r << 2)));
        r++;
        if (r == workers) r = 0;
      }
    }
    for (let i: u32 = 0; i < n; i++) {
      const a = loads + (<usize>load<u32>(owner + (<usize>i << 2)) << 3);
      store<f64>(a, load<f64>(a) + load<f64>(weights + (<usize>i << 3)));
    }
  }
  let moved: u32 = 0;
  if (hasPrev) {
    minimal = minimalMoves(n, workers, share, floor, maxWeight);
    for (let i: u32 = 0; i < n; i++) {
      const p = load<i32>(prev + (<usize>i << 2));
      if (p != -1 && <u32>p != load<u32>(owner + (<usize>i << 2))) moved++;
    }
  }
  const r2s = reg(S_RANK2SLOT);
  let maxLoad: f64 = 0;
  for (let r: u32 = 0; r < workers; r++) {
    const l = load<f64>(loads + (<usize>load<u32>(r2s + (<usize>r << 2)) << 3));
    if (l > maxLoad) maxLoad = l;
  }
  const stats = reg(STATS);
  store<f64>(stats, maxLoad);
  store<f64>(stats + 8, <f64>moved);
  store<f64>(stats + 16, <f64>minimal);
}

export { assignPlaced, placedStats } from "./placement";
