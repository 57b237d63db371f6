// Placement with worker and partition metadata: per-worker load bounds (capacity), required
// classes (selectors), preferred classes (locality), pins and a placement order (priority). The
// same bounded-load ring walk as assign() in index.ts, with each slot's bound read from M_CAP; the
// TypeScript kernel (src/engine/ts_placement.ts) mirrors it step by step.
//
// Order of work: pinned partitions take their slot; each live previous owner keeps its lightest
// partitions while it stays within its bound (only partitions it may hold, in their preferred
// class when they have one); the rest are placed by group (constrained first, then by priority),
// heaviest first within a group. A partition its live previous owner could not keep first goes
// to a worker below its floor with room for it (of its classes), else back to that owner within
// SHED_SLACK of its bound (shedPlace). A partition with a preferred class first looks for room there;
// a spilled partition then stays with its previous owner while that has room; otherwise it walks
// the ring: unconstrained partitions with the skip lists of index.ts, constrained ones over the
// workers of their class (first with room, then below bound, then the least loaded relative to its
// bound), where "below bound" first asks the previous owner; a partition with a preferred class
// that finds no room there stays with its previous owner in that class while that is below its
// bound. A constrained partition with no live worker of its class stays UNASSIGNED.
//
// Class walks share the two skip lists: a skipped point's worker can take no partition in that tier
// for the rest of the call, whatever its class (loads only grow, every weight is at least the
// lightest). Each class gets, on first use in a call, the list of its live workers in rank order
// (for the "does any worker of the class fit" check, which ends a walk early, and for the least
// loaded) and failure memos (a weight that found no room finds none later; a class with no worker
// below its bound never gets one). None of this changes an answer: a walk still returns the first
// point at or after the partition's own that passes the test.
//
// Speed without other answers, here only: partitions are visited by weight rank (the weight-ordered
// arrays of index.ts are read front to back within a group); an unconstrained partition whose
// first point has room takes it without a walk; per-partition class reads are skipped when no
// partition has a class; and with integer weights (exact sums in any order) the statistics come
// from the loads and counts of the placement itself instead of a second pass.

import {
  computeStarts,
  find,
  HIST,
  M_CAP,
  M_CLS,
  M_COUNT,
  M_ELIG,
  M_FLOOR,
  M_GROUP,
  M_ORDER,
  M_PIN,
  M_PREF,
  P_HORDER,
  P_OWNER,
  P_PREV,
  P_START,
  P_WEIGHT,
  P_WORDER,
  P_WRANK,
  P_WSORTED,
  R_SKIP,
  R_SKIP0,
  R_SKIP2,
  R_SLOT,
  reg,
  S_LOAD,
  S_LOAD2,
  S_RANK2SLOT,
  SHED_SLACK,
  STATS,
  T_KEYS,
  UNASSIGNED,
} from "./regions";

let budgetMax: i32 = 32;
let lightest: f64 = 0;
let skip2Ready = false;
let uniformCaps = true;
let slotStride: usize = 0;

// Per-class records, CLASS_BYTES each, in HIST (scratch outside the sorts of index.ts), built on a
// class's first use in a call: the offset of its worker list in T_KEYS (NO_LIST when the lists ran
// out of room: then the class's checks scan every worker), the list length, the tier-2 failure
// flag, the walk budget, the tier-1 failure weight and the stamp of the call that built it. Stamps
// have the top bit set, which no value the sorts leave in HIST has (counts up to n < 2^31), so a
// record is current exactly when its stamp is this call's.
const CLASS_BYTES: usize = 32;
const C_LIST: usize = 0;
const C_LEN: usize = 4;
const C_FAIL2: usize = 8;
const C_BUDGET: usize = 12;
const C_FAIL1: usize = 16;
const C_STAMP: usize = 24;
const NO_LIST: u32 = 0xffffffff;
const MAX_CLASSES: usize = 4096;
let stamp: u32 = 0x80000000;
// Used and total u32 entries for worker lists in T_KEYS (u64[T], T >= max(n, ringLen)).
let listTop: u32 = 0;
let listCap: u32 = 0;

@inline function classRecord(cls: u32): usize {
  return reg(HIST) + (<usize>cls * CLASS_BYTES);
}

// Addresses of the per-slot regions read on every step of a walk, copied from the region table
// at the start of each call: a global is not memory, so the compiler need not reload it after
// every store the way it reloads a region address.
let eligAt: usize = 0;
let capAt: usize = 0;
let loadAt: usize = 0;

function setSlotRegions(): void {
  eligAt = reg(M_ELIG);
  capAt = reg(M_CAP);
  loadAt = reg(S_LOAD);
}

@inline function eligible(cls: u32, slot: u32): bool {
  return load<u8>(eligAt + <usize>cls * slotStride + <usize>slot) != 0;
}

@inline function capOf(slot: u32): f64 {
  return load<f64>(capAt + (<usize>slot << 3));
}

@inline function loadOf(slot: u32): f64 {
  return load<f64>(loadAt + (<usize>slot << 3));
}

@inline function addLoad(slot: u32, w: f64): void {
  const a = loadAt + (<usize>slot << 3);
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

// Starts a call's class records: a new stamp (clearing the records when the stamps wrap, so no
// record of 2^31 calls ago passes for current) and empty worker lists.
function resetClasses(n: u32, ringLen: u32): void {
  stamp++;
  if (stamp == 0) {
    stamp = 0x80000000;
    memory.fill(reg(HIST), 0, MAX_CLASSES * CLASS_BYTES);
  }
  listTop = 0;
  listCap = 2 * (n > ringLen ? n : ringLen);
}

// The record of class `cls`, built on first use: its live workers in rank order, fresh memos.
function classOf(cls: u32, workers: u32): usize {
  const rec = classRecord(cls);
  if (load<u32>(rec + C_STAMP) == stamp) return rec;
  store<u32>(rec + C_STAMP, stamp);
  const r2s = reg(S_RANK2SLOT);
  const row = eligAt + <usize>cls * slotStride;
  let len: u32 = 0;
  if (listTop + workers <= listCap) {
    const list = reg(T_KEYS) + (<usize>listTop << 2);
    for (let r: u32 = 0; r < workers; r++) {
      const s = load<u32>(r2s + (<usize>r << 2));
      if (load<u8>(row + <usize>s) != 0) {
        store<u32>(list + (<usize>len << 2), s);
        len++;
      }
    }
    store<u32>(rec + C_LIST, listTop);
    listTop += len;
  } else {
    for (let r: u32 = 0; r < workers; r++) {
      if (load<u8>(row + <usize>load<u32>(r2s + (<usize>r << 2))) != 0) len++;
    }
    store<u32>(rec + C_LIST, NO_LIST);
  }
  store<u32>(rec + C_LEN, len);
  store<u32>(rec + C_FAIL2, 0);
  // Rejections before the check; the check costs one pass over the class's workers.
  store<i32>(rec + C_BUDGET, 8 + <i32>(len >> 2));
  store<f64>(rec + C_FAIL1, Infinity);
  return rec;
}

// anyFits over the workers of one class (its record `rec`).
function classFits(rec: usize, cls: u32, w: f64, tier: u32, workers: u32): bool {
  const at = load<u32>(rec + C_LIST);
  if (at == NO_LIST) return anyFits(cls, w, tier, workers);
  const list = reg(T_KEYS) + (<usize>at << 2);
  const len = load<u32>(rec + C_LEN);
  for (let k: u32 = 0; k < len; k++) {
    const s = load<u32>(list + (<usize>k << 2));
    const l = loadOf(s);
    if (tier == 1 ? l + w <= capOf(s) : l < capOf(s)) return true;
  }
  return false;
}

// leastLoaded over the workers of one class.
function classLeastLoaded(cls: u32, workers: u32): u32 {
  const rec = classOf(cls, workers);
  const at = load<u32>(rec + C_LIST);
  if (at == NO_LIST) return leastLoaded(cls, workers);
  const list = reg(T_KEYS) + (<usize>at << 2);
  const len = load<u32>(rec + C_LEN);
  let best = UNASSIGNED;
  let bestLoad: f64 = Infinity;
  for (let k: u32 = 0; k < len; k++) {
    const s = load<u32>(list + (<usize>k << 2));
    const l = uniformCaps ? loadOf(s) : loadOf(s) / capOf(s);
    if (best == UNASSIGNED || l < bestLoad) {
      best = s;
      bestLoad = l;
    }
  }
  return best;
}

// The first ring point at or after `first` (cyclically) whose worker is of class `cls` and passes
// the tier test; UNASSIGNED when no worker of the class does. Walks the skip list of the tier and
// marks the points whose worker is out of that tier for good (see the top of this file).
function walkClass(first: u32, w: f64, cls: u32, tier: u32, ringLen: u32, workers: u32): u32 {
  const rec = classOf(cls, workers);
  if (tier == 1) {
    if (w >= load<f64>(rec + C_FAIL1)) return UNASSIGNED;
  } else if (load<u32>(rec + C_FAIL2) != 0) {
    return UNASSIGNED;
  }
  if (load<u32>(rec + C_LEN) != 0) {
    let skip = reg(R_SKIP);
    if (tier != 1) {
      skip = reg(R_SKIP2);
      if (!skip2Ready) {
        for (let j: u32 = 0; j <= ringLen; j++) store<u32>(skip + (<usize>j << 2), j);
        skip2Ready = true;
      }
    }
    const rs = reg(R_SLOT);
    const row = eligAt + <usize>cls * slotStride;
    let j = first;
    let wrapped = false;
    let budget = load<i32>(rec + C_BUDGET);
    while (true) {
      j = find(skip, j);
      if (j == ringLen) {
        if (wrapped) break;
        wrapped = true;
        j = find(skip, 0);
      }
      if (wrapped && j >= first) break;
      const s = load<u32>(rs + (<usize>j << 2));
      const l = loadOf(s);
      const c = capOf(s);
      if (tier == 1) {
        if (l + w <= c) {
          if (load<u8>(row + <usize>s) != 0) return s;
        } else if (l + lightest > c) {
          store<u32>(skip + (<usize>j << 2), j + 1);
        }
      } else if (l < c) {
        if (load<u8>(row + <usize>s) != 0) return s;
      } else {
        store<u32>(skip + (<usize>j << 2), j + 1);
      }
      if (--budget == 0 && !classFits(rec, cls, w, tier, workers)) break;
      j++;
    }
  }
  if (tier == 1) store<f64>(rec + C_FAIL1, w);
  else store<u32>(rec + C_FAIL2, 1);
  return UNASSIGNED;
}

// Whether some live worker has a floor (loadFactor 1), set at the start of each call.
let anyFloor = false;
let skip0Ready = false;
// Smallest weight a tier-0 walk of an unconstrained partition failed for in this call (the
// below-floor workers with room only get fewer).
let fail0: f64 = Infinity;

// Tier 0: the first ring point at or after `first` whose worker is below its floor, has room for
// `w` and is of classes `c` and `f` (0 = any). A point whose worker reached its floor is skipped
// for the rest of the call (loads only grow).
function walkBelowFloor(first: u32, w: f64, c: u32, f: u32, ringLen: u32, workers: u32): u32 {
  const skip = reg(R_SKIP0);
  if (!skip0Ready) {
    for (let j: u32 = 0; j <= ringLen; j++) store<u32>(skip + (<usize>j << 2), j);
    skip0Ready = true;
  }
  const rs = reg(R_SLOT);
  const floors = reg(M_FLOOR);
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
    if (l < load<f64>(floors + (<usize>s << 3))) {
      if (l + w <= capOf(s) && (c == 0 || eligible(c, s)) && (f == 0 || eligible(f, s))) return s;
      if (--budget == 0 && !belowFloorFits(w, c, f, workers)) return UNASSIGNED;
    } else {
      store<u32>(skip + (<usize>j << 2), j + 1);
    }
    j++;
  }
  return UNASSIGNED;
}

// Whether some live worker below its floor has room for `w` and is of classes `c` and `f`.
function belowFloorFits(w: f64, c: u32, f: u32, workers: u32): bool {
  const r2s = reg(S_RANK2SLOT);
  const floors = reg(M_FLOOR);
  for (let r: u32 = 0; r < workers; r++) {
    const s = load<u32>(r2s + (<usize>r << 2));
    const l = loadOf(s);
    if (l < load<f64>(floors + (<usize>s << 3)) && l + w <= capOf(s)) {
      if ((c == 0 || eligible(c, s)) && (f == 0 || eligible(f, s))) return true;
    }
  }
  return false;
}

// Partition i, which its live previous owner `p` could not keep within its bound: to a worker
// below its floor (one that must gain load, such as one that just joined) with room for it,
// else back to `p` when `p` may hold it, is below its bound and stays within SHED_SLACK of it
// (a bound that tightened a little moves nothing), else UNASSIGNED (placed as any other).
function shedPlace(first: u32, w: f64, p: u32, c: u32, f: u32, ringLen: u32, workers: u32): u32 {
  if (anyFloor && !(c == 0 && f == 0 && w >= fail0)) {
    const s = walkBelowFloor(first, w, c, f, ringLen, workers);
    if (s != UNASSIGNED) return s;
    if (c == 0 && f == 0) fail0 = w;
  }
  if ((c != 0 && !eligible(c, p)) || (f != 0 && !eligible(f, p))) return UNASSIGNED;
  const l = loadOf(p);
  const bound = capOf(p);
  return l < bound && l + w <= bound * SHED_SLACK ? p : UNASSIGNED;
}

// Partition i's previous owner when it is live, of classes `c` and `f` (0 = any) and below its
// bound: the tier-2 choice that moves nothing, tried before a tier-2 walk from the partition's own
// point, and for a partition with a preferred class before it leaves that class for room
// elsewhere. (A partition placed away from its own point, e.g. in its zone, would otherwise land
// on whichever worker below its bound comes first there: when every bound tightens a little, as
// when a worker joins, most workers are below theirs and such partitions moved between old
// workers, or out of their zone.)
@inline function belowBoundPrev(prev: usize, i: u32, c: u32, f: u32): u32 {
  const p = load<i32>(prev + (<usize>i << 2));
  if (p < 0 || (c != 0 && !eligible(c, <u32>p)) || (f != 0 && !eligible(f, <u32>p))) {
    return UNASSIGNED;
  }
  return loadOf(<u32>p) < capOf(<u32>p) ? <u32>p : UNASSIGNED;
}

// Whether some partition has a required or preferred class (set by orderByGroup).
let anyConstrained = false;

// Stable counting sort of the weight ranks by group into M_ORDER (weight order within a group).
// Returns the group when every partition is in one (M_ORDER is then left alone: the order is the
// weight order itself), else UNASSIGNED. The host puts the constrained partitions in the lower half
// of the groups (see fillPlacement in src/engine/placement.ts), which sets anyConstrained.
function orderByGroup(n: u32, groups: u32): u32 {
  const worder = reg(P_WORDER);
  const group = reg(M_GROUP);
  const order = reg(M_ORDER);
  const count = reg(M_COUNT);
  memory.fill(count, 0, <usize>(groups + 1) << 2);
  for (let i: u32 = 0; i < n; i++) {
    const a = count + (<usize>(load<u32>(group + (<usize>i << 2)) + 1) << 2);
    store<u32>(a, load<u32>(a) + 1);
  }
  anyConstrained = false;
  for (let g: u32 = 0; g < groups >> 1; g++) {
    if (load<u32>(count + (<usize>(g + 1) << 2)) != 0) anyConstrained = true;
  }
  for (let g: u32 = 0; g < groups; g++) {
    if (load<u32>(count + (<usize>(g + 1) << 2)) == n) return g;
  }
  for (let g: u32 = 1; g <= groups; g++) {
    const a = count + (<usize>g << 2);
    store<u32>(a, load<u32>(a) + load<u32>(a - 4));
  }
  for (let k: u32 = 0; k < n; k++) {
    const i = load<u32>(worder + (<usize>k << 2));
    const a = count + (<usize>load<u32>(group + (<usize>i << 2)) << 2);
    const at = load<u32>(a);
    store<u32>(order + (<usize>at << 2), k);
    store<u32>(a, at + 1);
  }
  return UNASSIGNED;
}

// Whether the weight order is the hash order (always so when all weights are equal; then index.ts
// leaves P_WRANK and P_WSORTED unwritten, and weight rank k is hash rank k).
function weightOrderIsHashOrder(n: u32): bool {
  const worder = reg(P_WORDER);
  const horder = reg(P_HORDER);
  for (let k: u32 = 0; k < n; k++) {
    if (load<u32>(worder + (<usize>k << 2)) != load<u32>(horder + (<usize>k << 2))) return false;
  }
  return true;
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
  setSlotRegions();
  slotStride = <usize>slotCount;
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
  finishStats(n, workers, hasPrev, maxWeight, unplaced, locality);
}

// The rest of placedStats, from the loads in S_LOAD and the counts of unplaced partitions and
// locality violations.
function finishStats(n: u32, workers: u32, hasPrev: bool, maxWeight: f64, unplaced: u32, locality: u32): void {
  const owner = reg(P_OWNER);
  const prev = reg(P_PREV);
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

// Whether every weight is an integer and their sum is at most 2^53: then every partial sum of
// weights is exact, so loads summed in placement order equal loads summed in partition order
// (what placedStats computes).
function exactWeights(n: u32): bool {
  const weights = reg(P_WEIGHT);
  let sum: f64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const w = load<f64>(weights + (<usize>i << 3));
    if (w != Math.floor(w)) return false;
    sum += w;
  }
  return sum <= 9007199254740992;
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
  const worder = reg(P_WORDER);
  setSlotRegions();
  uniformCaps = uniform;
  slotStride = <usize>slotCount;
  budgetMax = 32 + <i32>(workers >> 2);
  memory.fill(loads, 0, <usize>slotCount << 3);
  memory.fill(owner, 0xff, <usize>n << 2);
  computeStarts(n, ringLen);
  // Pins.
  // Unplaced partitions and locality violations, counted as they are decided (placedStats counts
  // the same from the owners).
  let unplaced: u32 = 0;
  let locality: u32 = 0;
  const single = orderByGroup(n, groups);
  const constrained = anyConstrained;
  resetClasses(n, ringLen);
  let pinned = false;
  for (let i: u32 = 0; i < n; i++) {
    const p = load<i32>(pin + (<usize>i << 2));
    if (p < 0) continue;
    store<u32>(owner + (<usize>i << 2), <u32>p);
    addLoad(<u32>p, load<f64>(weights + (<usize>i << 3)));
    pinned = true;
    if (constrained) {
      const f = load<u32>(pref + (<usize>i << 2));
      if (f != 0 && !eligible(f, <u32>p)) locality++;
    }
  }
  // Without pins and a previous assignment every partition is still to place.
  const placedBefore = pinned || hasPrev;
  // Sticky pass, lightest first.
  if (hasPrev) {
    for (let k: i32 = <i32>n - 1; k >= 0; k--) {
      const i = load<u32>(worder + (<usize>k << 2));
      if (load<u32>(owner + (<usize>i << 2)) != UNASSIGNED) continue;
      const p = load<i32>(prev + (<usize>i << 2));
      if (p < 0) continue;
      if (constrained) {
        const c = load<u32>(cls + (<usize>i << 2));
        if (c != 0 && !eligible(c, <u32>p)) continue;
        const f = load<u32>(pref + (<usize>i << 2));
        if (f != 0 && !eligible(f, <u32>p)) continue;
      }
      const l = loadOf(<u32>p) + load<f64>(weights + (<usize>i << 3));
      if (l <= capOf(<u32>p)) {
        store<f64>(loads + (<usize>p << 3), l);
        store<u32>(owner + (<usize>i << 2), <u32>p);
      }
    }
  }
  const hashOrder = weightOrderIsHashOrder(n);
  const skip = reg(R_SKIP);
  for (let j: u32 = 0; j <= ringLen; j++) store<u32>(skip + (<usize>j << 2), j);
  skip2Ready = false;
  skip0Ready = false;
  fail0 = Infinity;
  anyFloor = false;
  const floors = reg(M_FLOOR);
  const r2s = reg(S_RANK2SLOT);
  for (let r: u32 = 0; r < workers; r++) {
    if (load<f64>(floors + (<usize>load<u32>(r2s + (<usize>r << 2)) << 3)) > 0) anyFloor = true;
  }
  lightest = n > 0 ? load<f64>(weights + (<usize>load<u32>(worder + (<usize>(n - 1) << 2)) << 3)) : 0;
  let fail1: f64 = Infinity;
  let fail2 = false;
  const order = reg(M_ORDER);
  const rs = reg(R_SLOT);
  const wrank = reg(P_WRANK);
  const wsorted = reg(P_WSORTED);
  // In placement order; within a group the weight ranks ascend, so the weight-ordered arrays are
  // read front to back.
  for (let t: u32 = 0; t < n; t++) {
    const k = single == UNASSIGNED ? load<u32>(order + (<usize>t << 2)) : t;
    const i = load<u32>(worder + (<usize>k << 2));
    if (placedBefore && load<u32>(owner + (<usize>i << 2)) != UNASSIGNED) continue;
    let w: f64;
    let first: u32;
    if (hashOrder) {
      w = load<f64>(weights + (<usize>i << 3));
      first = load<u32>(start + (<usize>k << 2));
    } else {
      w = load<f64>(wsorted + (<usize>k << 3));
      first = load<u32>(start + (<usize>load<u32>(wrank + (<usize>k << 2)) << 2));
    }
    let c: u32 = 0;
    let f: u32 = 0;
    if (constrained) {
      c = load<u32>(cls + (<usize>i << 2));
      f = load<u32>(pref + (<usize>i << 2));
    }
    let s = UNASSIGNED;
    if (hasPrev) {
      const p = load<i32>(prev + (<usize>i << 2));
      if (p >= 0) s = shedPlace(first, w, <u32>p, c, f, ringLen, workers);
    }
    if (s == UNASSIGNED && f != 0) {
      s = walkClass(first, w, f, 1, ringLen, workers);
      // In its zone a little over the bound rather than out of it with room.
      if (s == UNASSIGNED && hasPrev) s = belowBoundPrev(prev, i, c, f);
    }
    if (s == UNASSIGNED && hasPrev) {
      const p = load<i32>(prev + (<usize>i << 2));
      if (p >= 0 && (c == 0 || eligible(c, <u32>p)) && loadOf(<u32>p) + w <= capOf(<u32>p)) {
        s = <u32>p;
      }
    }
    if (s == UNASSIGNED) {
      if (c == 0) {
        // Most partitions fit on the worker of their first point: take it without a walk (the
        // walk would start there, and a skipped point cannot pass this test).
        const s0 = load<u32>(rs + (<usize>first << 2));
        if (w < fail1 && loadOf(s0) + w <= capOf(s0)) {
          s = s0;
        } else if (w < fail1) {
          s = walkWithRoom(first, w, ringLen, workers);
          if (s == UNASSIGNED) fail1 = w;
        }
        if (s == UNASSIGNED && !fail2) {
          if (hasPrev) s = belowBoundPrev(prev, i, 0, 0);
          if (s == UNASSIGNED) s = walkBelowBound(first, ringLen, workers);
          if (s == UNASSIGNED) fail2 = true;
        }
        if (s == UNASSIGNED) s = leastLoaded(0, workers);
      } else {
        s = walkClass(first, w, c, 1, ringLen, workers);
        if (s == UNASSIGNED && hasPrev) s = belowBoundPrev(prev, i, c, 0);
        if (s == UNASSIGNED) s = walkClass(first, w, c, 2, ringLen, workers);
        if (s == UNASSIGNED) s = classLeastLoaded(c, workers);
      }
    }
    if (s == UNASSIGNED) {
      unplaced++;
      continue;
    }
    if (f != 0 && !eligible(f, s)) locality++;
    addLoad(s, w);
    store<u32>(owner + (<usize>i << 2), s);
  }
  // The sticky pass keeps a partition only in its preferred class, so it adds no violation.
  if (exactWeights(n)) finishStats(n, workers, hasPrev, maxWeight, unplaced, locality);
  else placedStats(n, workers, slotCount, hasPrev, maxWeight);
}
