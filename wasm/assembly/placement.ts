// Placement with worker and partition metadata: per-worker load bounds (capacity), required
// classes (selectors), preferred classes (locality), pins and a placement order (priority). The
// same bounded-load ring walk as assign() in index.ts, with each slot's bound read from M_CAP; the
// TypeScript kernel (src/engine/ts_engine.ts, #assignPlaced) mirrors it step by step.
//
// Order of work: pinned partitions take their slot; each live previous owner keeps its lightest
// partitions while it stays within its bound (only partitions it may hold, in their preferred
// class when they have one); the rest are placed by group (constrained first, then by priority),
// heaviest first within a group. A partition with a preferred class first looks for room there;
// a spilled partition then stays with its previous owner while that has room; otherwise it walks
// the ring: unconstrained partitions with the skip lists of index.ts, constrained ones over the
// workers of their class (first with room, then below bound, then the least loaded relative to its
// bound). A constrained partition with no live worker of its class stays UNASSIGNED.

import {
  computeStarts,
  find,
  M_CAP,
  M_CLS,
  M_COUNT,
  M_ELIG,
  M_FLOOR,
  M_GROUP,
  M_HRANK,
  M_ORDER,
  M_PIN,
  M_PREF,
  P_HORDER,
  P_OWNER,
  P_PREV,
  P_START,
  P_WEIGHT,
  P_WORDER,
  R_SKIP,
  R_SKIP2,
  R_SLOT,
  reg,
  S_LOAD,
  S_LOAD2,
  S_RANK2SLOT,
  STATS,
  UNASSIGNED,
} from "./regions";

let budgetMax: i32 = 32;
let lightest: f64 = 0;
let skip2Ready = false;
let uniformCaps = true;
let slotStride: usize = 0;

@inline function eligible(cls: u32, slot: u32): bool {
  return load<u8>(reg(M_ELIG) + <usize>cls * slotStride + <usize>slot) != 0;
}

@inline function capOf(slot: u32): f64 {
  return load<f64>(reg(M_CAP) + (<usize>slot << 3));
}

@inline function loadOf(slot: u32): f64 {
  return load<f64>(reg(S_LOAD) + (<usize>slot << 3));
}

@inline function addLoad(slot: u32, w: f64): void {
  const a = reg(S_LOAD) + (<usize>slot << 3);
  store<f64>(a, load<f64>(a) + w);
}

// Whether some live worker (of class `cls`, 0 = any) passes the tier test for weight `w`:
// tier 1 = stays within its bound with `w`, tier 2 = below its bound.
function anyFits(cls: u32, w: f64, tier: u32, workers: u32): bool {
  const r2s = reg(S_RANK2SLOT);
  for (let r: u32 = 0; r < workers; r++) {
    const s = load<u32>(r2s + (<usize>r << 2));
    if (cls != 0 && !eligible(cls, s)) continue;
    const l = loadOf(s);
    if (tier == 1 ? l + w <= capOf(s) : l < capOf(s)) return true;
  }
  return false;
}

// Least-loaded live worker relative to its bound (of class `cls`, 0 = any), ties to the lowest
// rank; UNASSIGNED when the class has no live worker. With equal bounds, plain loads are compared
// (the same answer as index.ts).
function leastLoaded(cls: u32, workers: u32): u32 {
  const r2s = reg(S_RANK2SLOT);
  let best = UNASSIGNED;
  let bestLoad: f64 = Infinity;
  for (let r: u32 = 0; r < workers; r++) {
    const s = load<u32>(r2s + (<usize>r << 2));
    if (cls != 0 && !eligible(cls, s)) continue;
    const l = uniformCaps ? loadOf(s) : loadOf(s) / capOf(s);
    if (best == UNASSIGNED || l < bestLoad) {
      best = s;
      bestLoad = l;
    }
  }
  return best;
}

// Tier 1 over every worker (see walkWithRoom in index.ts), each point tested against its own
// worker's bound. A point is skipped only when its worker cannot take even the lightest partition.
function walkWithRoom(first: u32, w: f64, ringLen: u32, workers: u32): u32 {
  const skip = reg(R_SKIP);
  const rs = reg(R_SLOT);
  let j = first;
  let wrapped = false;
  let budget = budgetMax;
  while (true) {
    j = find(skip, j);
    if (j == ringLen) {
      if (wrapped) return UNASSIGNED;
      wrapped = true;
      j = find(skip, 0);
    }
    if (wrapped && j >= first) return UNASSIGNED;
    const s = load<u32>(rs + (<usize>j << 2));
    const l = loadOf(s);
    const c = capOf(s);
    if (l + w <= c) return s;
    if (l + lightest > c) store<u32>(skip + (<usize>j << 2), j + 1);
    if (--budget == 0 && !anyFits(0, w, 1, workers)) return UNASSIGNED;
    j++;
  }
  return UNASSIGNED;
}

// Tier 2 over every worker: the first point whose worker is below its bound.
function walkBelowBound(first: u32, ringLen: u32, workers: u32): u32 {
  const skip = reg(R_SKIP2);
  const rs = reg(R_SLOT);
  if (!skip2Ready) {
    for (let j: u32 = 0; j <= ringLen; j++) store<u32>(skip + (<usize>j << 2), j);
    skip2Ready = true;
  }
  let j = first;
  let wrapped = false;
  let budget = budgetMax;
  while (true) {
    j = find(skip, j);
    if (j == ringLen) {
      if (wrapped) return UNASSIGNED;
      wrapped = true;
      j = find(skip, 0);
    }
    if (wrapped && j >= first) return UNASSIGNED;
    const s = load<u32>(rs + (<usize>j << 2));
    if (loadOf(s) < capOf(s)) return s;
    store<u32>(skip + (<usize>j << 2), j + 1);
    if (--budget == 0 && !anyFits(0, 0, 2, workers)) return UNASSIGNED;
    j++;
  }
  return UNASSIGNED;
}

// The first ring point at or after `first` whose worker is of class `cls` and passes the tier
// test; UNASSIGNED when no worker of the class does (checked first, so the walk always ends).
function walkClass(first: u32, w: f64, cls: u32, tier: u32, ringLen: u32, workers: u32): u32 {
  if (!anyFits(cls, w, tier, workers)) return UNASSIGNED;
  const rs = reg(R_SLOT);
  let j = first;
  while (true) {
    const s = load<u32>(rs + (<usize>j << 2));
    if (eligible(cls, s)) {
      const l = loadOf(s);
      if (tier == 1 ? l + w <= capOf(s) : l < capOf(s)) return s;
    }
    j++;
    if (j == ringLen) j = 0;
  }
  return UNASSIGNED;
}

// Stable counting sort of the weight order by group into M_ORDER.
function orderByGroup(n: u32, groups: u32): void {
  const worder = reg(P_WORDER);
  const group = reg(M_GROUP);
  const order = reg(M_ORDER);
  const count = reg(M_COUNT);
  memory.fill(count, 0, <usize>(groups + 1) << 2);
  for (let i: u32 = 0; i < n; i++) {
    const a = count + (<usize>(load<u32>(group + (<usize>i << 2)) + 1) << 2);
    store<u32>(a, load<u32>(a) + 1);
  }
  for (let g: u32 = 1; g <= groups; g++) {
    const a = count + (<usize>g << 2);
    store<u32>(a, load<u32>(a) + load<u32>(a - 4));
  }
  for (let k: u32 = 0; k < n; k++) {
    const i = load<u32>(worder + (<usize>k << 2));
    const a = count + (<usize>load<u32>(group + (<usize>i << 2)) << 2);
    const at = load<u32>(a);
    store<u32>(order + (<usize>at << 2), i);
    store<u32>(a, at + 1);
  }
}

// See minimalMoves in index.ts, with each slot's own bound and floor.
function minimalMoves(n: u32, workers: u32, maxWeight: f64): u32 {
  const worder = reg(P_WORDER);
  const prev = reg(P_PREV);
  const weights = reg(P_WEIGHT);
  const kept = reg(S_LOAD2);
  const floors = reg(M_FLOOR);
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
      if (l < capOf(<u32>p)) store<f64>(a, l + load<f64>(weights + (<usize>i << 3)));
      else shed++;
    } else if (p == -2) {
      shed++;
    } else {
      absent++;
    }
  }
  let fill: f64 = 0;
  for (let r: u32 = 0; r < workers; r++) {
    const s = load<u32>(r2s + (<usize>r << 2));
    const floor = load<f64>(floors + (<usize>s << 3));
    const l = load<f64>(kept + (<usize>s << 3));
    if (floor > 0 && l < floor) fill += Math.ceil((floor - l) / maxWeight);
  }
  const fillMoves = fill > <f64>absent ? <u32>(fill - <f64>absent) : 0;
  return fillMoves > shed ? fillMoves : shed;
}

/**
 * Statistics of the owners in P_OWNER (UNASSIGNED allowed) into STATS: maxLoad, moved,
 * minimalMoves, unplaced, locality violations, largest load relative to its bound. Recomputes the
 * loads, so the host may change owners (movement throttling) and call it again.
 */
export function placedStats(n: u32, workers: u32, slotCount: u32, hasPrev: bool, maxWeight: f64): void {
  const loads = reg(S_LOAD);
  const owner = reg(P_OWNER);
  const weights = reg(P_WEIGHT);
  const prev = reg(P_PREV);
  const pref = reg(M_PREF);
  memory.fill(loads, 0, <usize>slotCount << 3);
  let unplaced: u32 = 0;
  let locality: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const s = load<u32>(owner + (<usize>i << 2));
    if (s == UNASSIGNED) {
      unplaced++;
      continue;
    }
    addLoad(s, load<f64>(weights + (<usize>i << 3)));
    const f = load<u32>(pref + (<usize>i << 2));
    if (f != 0 && !eligible(f, s)) locality++;
  }
  let moved: u32 = 0;
  let minimal: u32 = 0;
  if (hasPrev) {
    minimal = minimalMoves(n, workers, maxWeight);
    for (let i: u32 = 0; i < n; i++) {
      const p = load<i32>(prev + (<usize>i << 2));
      if (p != -1 && <u32>p != load<u32>(owner + (<usize>i << 2))) moved++;
    }
  }
  const r2s = reg(S_RANK2SLOT);
  let maxLoad: f64 = 0;
  let maxRel: f64 = 0;
  for (let r: u32 = 0; r < workers; r++) {
    const s = load<u32>(r2s + (<usize>r << 2));
    const l = loadOf(s);
    if (l > maxLoad) maxLoad = l;
    const rel = l / capOf(s);
    if (rel > maxRel) maxRel = rel;
  }
  const stats = reg(STATS);
  store<f64>(stats, maxLoad);
  store<f64>(stats + 8, <f64>moved);
  store<f64>(stats + 16, <f64>minimal);
  store<f64>(stats + 24, <f64>unplaced);
  store<f64>(stats + 32, <f64>locality);
  store<f64>(stats + 40, maxRel);
}

/**
 * Weighted consistent hash with metadata (see the top of this file). The host fills M_CAP,
 * M_FLOOR (per live slot), M_CLS, M_PREF, M_PIN, M_GROUP (per partition) and M_ELIG (`classes`
 * rows of `slotCount` bytes; row 0 unused); `uniform` says every live slot has the same bound.
 */
export function assignPlaced(
  n: u32,
  workers: u32,
  slotCount: u32,
  ringLen: u32,
  groups: u32,
  hasPrev: bool,
  maxWeight: f64,
  uniform: bool,
): void {
  const loads = reg(S_LOAD);
  const owner = reg(P_OWNER);
  const weights = reg(P_WEIGHT);
  const prev = reg(P_PREV);
  const cls = reg(M_CLS);
  const pref = reg(M_PREF);
  const pin = reg(M_PIN);
  const start = reg(P_START);
  const hrank = reg(M_HRANK);
  const horder = reg(P_HORDER);
  const worder = reg(P_WORDER);
  uniformCaps = uniform;
  slotStride = <usize>slotCount;
  budgetMax = 32 + <i32>(workers >> 2);
  memory.fill(loads, 0, <usize>slotCount << 3);
  memory.fill(owner, 0xff, <usize>n << 2);
  for (let k: u32 = 0; k < n; k++) store<u32>(hrank + (<usize>load<u32>(horder + (<usize>k << 2)) << 2), k);
  computeStarts(n, ringLen);
  // Pins.
  for (let i: u32 = 0; i < n; i++) {
    const p = load<i32>(pin + (<usize>i << 2));
    if (p < 0) continue;
    store<u32>(owner + (<usize>i << 2), <u32>p);
    addLoad(<u32>p, load<f64>(weights + (<usize>i << 3)));
  }
  // Sticky pass, lightest first.
  if (hasPrev) {
    for (let k: i32 = <i32>n - 1; k >= 0; k--) {
      const i = load<u32>(worder + (<usize>k << 2));
      if (load<u32>(owner + (<usize>i << 2)) != UNASSIGNED) continue;
      const p = load<i32>(prev + (<usize>i << 2));
      if (p < 0) continue;
      const c = load<u32>(cls + (<usize>i << 2));
      if (c != 0 && !eligible(c, <u32>p)) continue;
      const f = load<u32>(pref + (<usize>i << 2));
      if (f != 0 && !eligible(f, <u32>p)) continue;
      const l = loadOf(<u32>p) + load<f64>(weights + (<usize>i << 3));
      if (l <= capOf(<u32>p)) {
        store<f64>(loads + (<usize>p << 3), l);
        store<u32>(owner + (<usize>i << 2), <u32>p);
      }
    }
  }
  orderByGroup(n, groups);
  const skip = reg(R_SKIP);
  for (let j: u32 = 0; j <= ringLen; j++) store<u32>(skip + (<usize>j << 2), j);
  skip2Ready = false;
  lightest = n > 0 ? load<f64>(weights + (<usize>load<u32>(worder + (<usize>(n - 1) << 2)) << 3)) : 0;
  let fail1: f64 = Infinity;
  let fail2 = false;
  const order = reg(M_ORDER);
  for (let k: u32 = 0; k < n; k++) {
    const i = load<u32>(order + (<usize>k << 2));
    if (load<u32>(owner + (<usize>i << 2)) != UNASSIGNED) continue;
    const w = load<f64>(weights + (<usize>i << 3));
    const first = load<u32>(start + (<usize>load<u32>(hrank + (<usize>i << 2)) << 2));
    const c = load<u32>(cls + (<usize>i << 2));
    const f = load<u32>(pref + (<usize>i << 2));
    let s = UNASSIGNED;
    if (f != 0) s = walkClass(first, w, f, 1, ringLen, workers);
    if (s == UNASSIGNED && hasPrev) {
      const p = load<i32>(prev + (<usize>i << 2));
      if (p >= 0 && (c == 0 || eligible(c, <u32>p)) && loadOf(<u32>p) + w <= capOf(<u32>p)) {
        s = <u32>p;
      }
    }
    if (s == UNASSIGNED) {
      if (c == 0) {
        if (w < fail1) {
          s = walkWithRoom(first, w, ringLen, workers);
          if (s == UNASSIGNED) fail1 = w;
        }
        if (s == UNASSIGNED && !fail2) {
          s = walkBelowBound(first, ringLen, workers);
          if (s == UNASSIGNED) fail2 = true;
        }
        if (s == UNASSIGNED) s = leastLoaded(0, workers);
      } else {
        s = walkClass(first, w, c, 1, ringLen, workers);
        if (s == UNASSIGNED) s = walkClass(first, w, c, 2, ringLen, workers);
        if (s == UNASSIGNED) s = leastLoaded(c, workers);
      }
    }
    if (s == UNASSIGNED) continue;
    addLoad(s, w);
    store<u32>(owner + (<usize>i << 2), s);
  }
  placedStats(n, workers, slotCount, hasPrev, maxWeight);
}
