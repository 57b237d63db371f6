// Linear-memory regions shared by the kernels: the host lays them out and registers each address
// with setRegion() (see src/engine/wasm_engine.ts).

// Region ids; keep in sync with REGION in src/engine/wasm_engine.ts.
export const P_HASH: i32 = 0; // u64[P]   chained XXH3 of each partition's keys
export const P_WEIGHT: i32 = 1; // f64[P]
export const P_HORDER: i32 = 2; // u32[P]  partition indices by ascending hash
export const P_WORDER: i32 = 3; // u32[P]  by descending weight, then ascending hash
export const P_START: i32 = 4; // u32[P]   by hash rank: ring index of the first point >= the hash
export const P_PREV: i32 = 5; // i32[P]    previous owner slot; -1 = not in previous, -2 = owner gone
export const P_OWNER: i32 = 6; // u32[P]   result: owner slot
export const KEY_LENS: i32 = 7; // u32[K]
export const KEY_COUNTS: i32 = 8; // u32[P]   keys << 8 | leading keys shared with the previous partition
export const BYTES: i32 = 9; // u8[B]     UTF-8 of all keys, back to back
export const T_KEYS: i32 = 10; // u64[T]  sort scratch; worker lists of placement classes (T >= max(P, R))
export const T_KEYS2: i32 = 11;
export const T_IDX: i32 = 12; // u32[T]
export const T_IDX2: i32 = 13;
export const R_HASH: i32 = 14; // u64[R]  the ring, ascending (hash, worker rank)
export const R_SLOT: i32 = 15; // u32[R]
export const S_LOAD: i32 = 16; // f64[S]
export const S_RANK: i32 = 17; // u32[S]  position of the worker ID in sorted order
export const S_ALIVE: i32 = 18; // u32[S]
export const S_HASH: i32 = 19; // u64[S]  XXH3 of the worker ID
export const S_RANK2SLOT: i32 = 20; // u32[S]
export const ADDED: i32 = 21; // u32[S]   slots joining the ring, in rank order
export const W_BYTES: i32 = 22; // u8[]   UTF-8 of the joining worker IDs
export const W_LENS: i32 = 23; // u32[S]   byte lengths of the joining IDs; then ring point counts (updateRingPoints)
export const HIST: i32 = 24; // u32[2^16] sort histograms; placement class records (placement.ts)
export const STATS: i32 = 25; // f64[4]  maxLoad, moved, minimalMoves
export const S_LOAD2: i32 = 26; // f64[S]
export const P_HSORTED: i32 = 27; // u64[P] partition hashes in ascending order (parallel to P_HORDER)
export const R_SKIP: i32 = 28; // u32[R+1] skip list over ring points (tier 1 of the placement)
export const R_SKIP2: i32 = 29; // u32[R+1] skip list over ring points (tier 2)
export const P_WRANK: i32 = 30; // u32[P]  by weight rank: hash rank of the partition
export const P_WSORTED: i32 = 31; // f64[P] by weight rank: weight
// Placement with worker and partition metadata (placement.ts).
export const M_CAP: i32 = 32; // f64[S]  load bound of each slot
export const M_FLOOR: i32 = 33; // f64[S] fill floor of each slot (minimalMoves)
export const M_CLS: i32 = 34; // u32[P]  required class of each partition (0 = any worker)
export const M_PREF: i32 = 35; // u32[P] preferred class of each partition (0 = none)
export const M_PIN: i32 = 36; // i32[P]  pinned slot of each partition (-1 = none)
export const M_GROUP: i32 = 37; // u32[P] placement group (smaller groups are placed first)
export const M_ELIG: i32 = 38; // u8[C*S] 1 when slot s may hold class c
export const M_ORDER: i32 = 39; // u32[P] placement order (scratch)
export const M_HRANK: i32 = 40; // u32[P] hash rank of each partition (scratch)
export const M_COUNT: i32 = 41; // u32[G+1] group histogram (scratch)
export const R_SKIP0: i32 = 42; // u32[R+1] skip list over ring points (workers below their floor)
export const REGION_COUNT: i32 = 43;

export const REGIONS: usize = memory.data(REGION_COUNT * 8, 8);

export const UNASSIGNED: u32 = 0xffffffff;

// A partition its previous owner could not keep goes back to it while that owner stays within
// this factor of its bound (see shedPlace in placement.ts and place in index.ts).
export const SHED_SLACK: f64 = 1.01;

/** Address of a region. */
@inline export function reg(id: i32): usize {
  return load<usize>(REGIONS + (<usize>id << 3));
}

// Path-halving find over a skip list: the first ring point at or after `j` not marked skipped
// (ringLen when none is left before the end).
@inline export function find(skip: usize, j: u32): u32 {
  let next = load<u32>(skip + (<usize>j << 2));
  while (next != j) {
    const after = load<u32>(skip + (<usize>next << 2));
    store<u32>(skip + (<usize>j << 2), after);
    j = next;
    next = after;
  }
  return j;
}

// Ring index of the first point at or after each partition's hash (wrapping to 0), by hash rank:
// one merge pass over the partitions in hash order.
// Branch-free: each step advances either the ring or the partitions (the ring region has room for
// a sentinel point that no hash is above).
export function computeStarts(n: u32, ringLen: u32): void {
  const hsorted = reg(P_HSORTED);
  const start = reg(P_START);
  const rh = reg(R_HASH);
  store<u64>(rh + (<usize>ringLen << 3), 0xffffffffffffffff);
  let j: u32 = 0;
  let k: u32 = 0;
  while (k < n) {
    const h = load<u64>(hsorted + (<usize>k << 3));
    const ahead = <u32>(load<u64>(rh + (<usize>j << 3)) < h);
    j += ahead;
    store<u32>(start + (<usize>k << 2), select<u32>(0, j, j == ringLen));
    k += ahead ^ 1;
  }
}
