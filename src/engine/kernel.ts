/**
 * The contract between the engine driver (`engine.ts`) and its two interchangeable kernels: the
 * WebAssembly one (`wasm_engine.ts`) and the pure-TypeScript one (`ts_engine.ts`). Both implement
 * the same algorithms on the same flat arrays and must produce bit-identical owners.
 *
 * @module
 */

/** Strategy codes understood by the kernels. */
export const STRATEGY_WEIGHTED = 0;
/** Plain ring lookup. */
export const STRATEGY_RING = 1;
/** Round robin over ranks. */
export const STRATEGY_ROUND_ROBIN = 2;
/** Owners given by the host (user strategy); only statistics are computed. */
export const STRATEGY_GIVEN = 3;

/** Most leading keys a partition may share with the previous one (see `keyCounts`). */
export const MAX_SHARED = 15;

/**
 * A partition its previous owner could not keep within its bound goes back to that owner while
 * the owner stays within this factor of its bound (and no worker below its floor can take it):
 * a bound that tightened a little, as when a worker joins a large pool, moves nothing. The same
 * double as `SHED_SLACK` in `wasm/assembly/regions.ts`.
 */
export const SHED_SLACK = 1.01;

/** Views into the partition input buffers (valid until the next kernel call that may grow). */
export interface PartitionBuffers {
  /** UTF-8 bytes of every key of every partition, back to back. */
  readonly bytes: Uint8Array;
  /**
   * Byte length of each key. The host may write UTF-16 lengths instead and say so to
   * {@link Kernel.preparePartitions}, which turns them into byte lengths from the bytes.
   */
  readonly keyLens: Uint32Array;
  /**
   * Per partition: `keys << 8 | shared`, where `shared` (at most {@link MAX_SHARED}) leading keys
   * equal the previous partition's and are left out of `bytes` and `keyLens`.
   */
  readonly keyCounts: Uint32Array;
  /** Weight of each partition. */
  readonly weights: Float64Array;
}

/** Views of per-worker-slot state. */
export interface SlotViews {
  /** Rank (position in sorted ID order) of each slot. */
  readonly rank: Uint32Array;
  /** 1 when the slot holds a current worker. */
  readonly alive: Uint32Array;
  /** Slot of each rank. */
  readonly rankToSlot: Uint32Array;
}

/** Statistics computed by {@link Kernel.assign}. */
export interface KernelStats {
  /** Owner slot of each partition (a view; copy before the next kernel call). */
  readonly owners: Uint32Array;
  /** Largest load of a worker. */
  readonly maxLoad: number;
  /** Partitions present in the previous assignment whose owner changed. */
  readonly moved: number;
  /** See `AssignmentStats.minimalMoves`. */
  readonly minimalMoves: number;
}

/** Statistics of {@link Kernel.assignPlaced}. */
export interface PlacedStats extends KernelStats {
  /** Partitions left without an owner (UNASSIGNED): no live worker of their class. */
  readonly unplaced: number;
  /** Placed partitions with a preferred class whose owner is outside it. */
  readonly localityViolations: number;
  /** Largest load of a worker divided by its bound. */
  readonly maxRelativeLoad: number;
}

/** Per-call inputs of {@link Kernel.assignPlaced}, for the host to fill. */
export interface PlacementViews {
  /** Load bound of each slot (live slots only are read). */
  readonly cap: Float64Array;
  /** Fill floor of each slot, for `minimalMoves` (0 = none). */
  readonly floor: Float64Array;
  /** Required class of each partition (0 = any worker). */
  readonly cls: Uint32Array;
  /** Preferred class of each partition (0 = none). */
  readonly pref: Uint32Array;
  /** Pinned slot of each partition (-1 = none). */
  readonly pin: Int32Array;
  /** Placement group of each partition: smaller groups are placed first. */
  readonly group: Uint32Array;
  /** `classes` rows of `slotCount` bytes: 1 when the slot may hold the class (row 0 unused). */
  readonly elig: Uint8Array;
}

/** Owner slot of a partition the kernel could not place. */
export const UNASSIGNED_SLOT = 0xffffffff;

/** An assignment kernel. */
export interface Kernel {
  /** Which implementation this is. */
  readonly backend: "wasm" | "ts";
  /** Ensures room for `n` partitions, `keyCount` keys and `byteLength` key bytes. */
  partitionBuffers(n: number, keyCount: number, byteLength: number): PartitionBuffers;
  /**
   * Ensures room for `byteLength` key bytes, keeping the first `keep` bytes written so far; returns
   * the byte buffer (valid until the next kernel call that may grow).
   */
  reserveBytes(byteLength: number, keep: number): Uint8Array;
  /**
   * Hashes the partitions in the buffers and sorts them; returns the number of equal adjacent
   * hashes. With `utf16Lengths`, `keyLens` holds UTF-16 lengths and the first `byteLength` bytes
   * the keys encoded back to back: the byte length of each key is read from the bytes on the way,
   * and -1 is returned when they do not split into keys of those lengths (a surrogate pair split
   * between two keys).
   */
  preparePartitions(
    n: number,
    equalWeights: boolean,
    utf16Lengths: boolean,
    byteLength: number,
  ): number;
  /** Ensures room for `slotCount` worker slots and a ring of `ringPoints` points. */
  ensureSlots(slotCount: number, ringPoints: number): void;
  /** Current per-slot views. */
  slotViews(): SlotViews;
  /** Hashes the IDs of joining workers into their slots. */
  hashWorkers(slots: readonly number[], ids: readonly string[]): void;
  /**
   * Drops points of dead slots and merges points for each added slot (in rank order): `vnodes`
   * each, or `counts[k]` for `added[k]` when `counts` is given (points 0 … count - 1 of the slot).
   */
  updateRing(added: readonly number[], vnodes: number, counts?: readonly number[]): void;
  /** Empties the ring. */
  clearRing(): void;
  /** View of the previous-owner slot of each partition (-1 absent, -2 owner gone). */
  prevView(n: number): Int32Array;
  /** View of the owner slots, for the host to fill with {@link STRATEGY_GIVEN}. */
  ownerView(n: number): Uint32Array;
  /** Runs a strategy and computes statistics. */
  assign(
    strategy: number,
    n: number,
    workers: number,
    slotCount: number,
    share: number,
    hasPrev: boolean,
    floor: number,
    maxWeight: number,
  ): KernelStats;
  /** Ensures room for the metadata of one {@link assignPlaced} call and returns its views. */
  placementViews(n: number, slotCount: number, classes: number, groups: number): PlacementViews;
  /**
   * Weighted consistent hash with metadata (see `wasm/assembly/placement.ts`); `uniform` says every
   * live slot has the same bound. Owners may be {@link UNASSIGNED_SLOT}.
   */
  assignPlaced(
    n: number,
    workers: number,
    slotCount: number,
    groups: number,
    hasPrev: boolean,
    maxWeight: number,
    uniform: boolean,
  ): PlacedStats;
  /** Statistics of the owners in the owner view as they stand (after the host changed some). */
  placedStats(
    n: number,
    workers: number,
    slotCount: number,
    hasPrev: boolean,
    maxWeight: number,
  ): PlacedStats;
}
