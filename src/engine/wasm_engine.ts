/**
 * The WebAssembly assignment kernel: instantiates the inlined module (no file or network access)
 * and lays out its typed regions in linear memory. Memory only grows; every view is re-created
 * after growth, so no stale view survives a `memory.grow`.
 *
 * @module
 */
import { EngineUnavailableError } from "../errors.ts";
import type {
  Kernel,
  KernelStats,
  PartitionBuffers,
  PlacedStats,
  PlacementViews,
  SlotViews,
} from "./kernel.ts";
import { WASM_BASE64 } from "./wasm_bytes.generated.ts";

/** The exports of the kernel module (see `wasm/assembly/index.ts`). */
interface KernelExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  setRegion(id: number, ptr: number): void;
  hashBytes(ptr: number, len: number, seed: bigint): bigint;
  hashPartitions(n: number, equalWeights: number, utf16Lengths: number, byteLength: number): number;
  hashWorkers(count: number): void;
  updateRingPoints(ringLen: number, addedCount: number, vnodes: number): number;
  assign(
    strategy: number,
    n: number,
    workers: number,
    slotCount: number,
    ringLen: number,
    share: number,
    hasPrev: number,
    floor: number,
    maxWeight: number,
  ): void;
  assignPlaced(
    n: number,
    workers: number,
    slotCount: number,
    ringLen: number,
    groups: number,
    hasPrev: number,
    maxWeight: number,
    uniform: number,
  ): void;
  placedStats(
    n: number,
    workers: number,
    slotCount: number,
    hasPrev: number,
    maxWeight: number,
  ): void;
}

// Region ids; keep in sync with wasm/assembly/index.ts.
const P_HASH = 0;
const P_WEIGHT = 1;
const P_HORDER = 2;
const P_WORDER = 3;
const P_START = 4;
const P_PREV = 5;
const P_OWNER = 6;
const KEY_LENS = 7;
const KEY_COUNTS = 8;
const BYTES = 9;
const T_KEYS = 10;
const T_KEYS2 = 11;
const T_IDX = 12;
const T_IDX2 = 13;
const R_HASH = 14;
const R_SLOT = 15;
const S_LOAD = 16;
const S_RANK = 17;
const S_ALIVE = 18;
const S_HASH = 19;
const S_RANK2SLOT = 20;
const ADDED = 21;
const W_BYTES = 22;
const W_LENS = 23;
const HIST = 24;
const STATS = 25;
const S_LOAD2 = 26;
const P_HSORTED = 27;
const R_SKIP = 28;
const R_SKIP2 = 29;
const P_WRANK = 30;
const P_WSORTED = 31;
const M_CAP = 32;
const M_FLOOR = 33;
const M_CLS = 34;
const M_PREF = 35;
const M_PIN = 36;
const M_GROUP = 37;
const M_ELIG = 38;
const M_ORDER = 39;
const M_HRANK = 40;
const M_COUNT = 41;
const R_SKIP0 = 42;
const REGION_COUNT = 43;

const PAGE = 65536;
const encoder = new TextEncoder();

let compiled: Promise<WebAssembly.Module> | undefined;
let testInstance: KernelExports | undefined;

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The kernel module's bytes (a fresh copy). */
export function kernelModuleBytes(): Uint8Array {
  return decodeBase64(WASM_BASE64);
}

/** Compiles the inlined kernel once per process (asynchronously). */
export function compileKernelModule(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(decodeBase64(WASM_BASE64) as Uint8Array<ArrayBuffer>).catch(
    (error) => {
      // Not cached: a later call (e.g. after the runtime allowed it) may succeed.
      compiled = undefined;
      throw new EngineUnavailableError(
        "Cannot compile the WebAssembly assignment kernel in this runtime (it may forbid " +
          "compiling WebAssembly from bytes, as workerd does): pass a precompiled module " +
          "(the Manager's `engine` option, or `createAssignmentEngine({ module })`) made from " +
          "`assignmentKernelBytes()` at build time, or use the TypeScript backend",
        { cause: error },
      );
    },
  );
  return compiled;
}

/** The exports this version of the engine needs from the kernel (its ABI). */
const KERNEL_EXPORTS = [
  "memory",
  "heapBase",
  "setRegion",
  "hashBytes",
  "hashPartitions",
  "hashWorkers",
  "updateRingPoints",
  "assign",
  "assignPlaced",
  "placedStats",
] as const;

/** Rejects a module that is not this version's kernel (a stale or foreign `.wasm`). */
function checkKernelModule(module: WebAssembly.Module): void {
  const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = KERNEL_EXPORTS.filter((name) => !names.has(name));
  if (missing.length > 0) {
    throw new EngineUnavailableError(
      `The WebAssembly module is not this version's assignment kernel (missing ` +
        `${missing.map((m) => `'${m}'`).join(", ")}); rebuild it from assignmentKernelBytes() ` +
        `of the installed @parti/core`,
    );
  }
}

/**
 * Instantiates a WebAssembly kernel.
 *
 * @param module A precompiled module, for runtimes that forbid compiling bytes at run time.
 * @returns The kernel.
 */
export async function createWasmKernel(module?: WebAssembly.Module): Promise<Kernel> {
  const compiledModule = module ?? await compileKernelModule();
  checkKernelModule(compiledModule);
  const instance = await WebAssembly.instantiate(compiledModule, {
    env: {
      abort() {
        throw new Error("Parti WebAssembly kernel aborted");
      },
    },
  });
  const exports = instance.exports as unknown as KernelExports;
  testInstance = exports;
  return new WasmKernel(exports);
}

/**
 * XXH3-64 computed by the most recently created WebAssembly kernel; for tests.
 *
 * @param bytes Input bytes.
 * @param seed Seed.
 * @returns The hash.
 */
export function wasmHashForTesting(bytes: Uint8Array, seed: bigint): bigint {
  const ex = testInstance;
  if (ex === undefined) throw new Error("No WebAssembly kernel was created yet");
  // A scratch area at the top of memory, above every region the kernel uses.
  if (testScratch === undefined || testScratch.cap < bytes.length || testScratch.ex !== ex) {
    const at = ex.memory.buffer.byteLength;
    const pages = Math.ceil(Math.max(bytes.length, PAGE) / PAGE);
    ex.memory.grow(pages);
    testScratch = { ex, at, cap: pages * PAGE };
  }
  new Uint8Array(ex.memory.buffer).set(bytes, testScratch.at);
  return BigInt.asUintN(64, ex.hashBytes(testScratch.at, bytes.length, BigInt.asIntN(64, seed)));
}

let testScratch: { ex: KernelExports; at: number; cap: number } | undefined;

class WasmKernel implements Kernel {
  readonly backend = "wasm" as const;
  readonly #ex: KernelExports;
  readonly #memory: WebAssembly.Memory;
  readonly #ptr = new Array<number>(REGION_COUNT).fill(0);
  #top: number;
  #partCap = -1;
  #keyCap = -1;
  #byteCap = -1;
  #scratchCap = -1;
  #slotCap = -1;
  #ringCap = -1;
  #workerByteCap = -1;
  #ringLen = 0;
  // Metadata placement capacities (-1 = not allocated yet).
  #metaPartCap = -1;
  #metaSlotCap = -1;
  #eligCap = -1;
  #groupCap = -1;
  #buffer: ArrayBuffer | undefined;
  #u8 = new Uint8Array(0);

  constructor(ex: KernelExports) {
    this.#ex = ex;
    this.#memory = ex.memory;
    this.#top = ex.heapBase();
    this.#set(HIST, this.#alloc(65536 * 4));
    this.#set(STATS, this.#alloc(64));
    this.ensureSlots(64, 64 * 150);
    this.partitionBuffers(1024, 2048, 16384);
  }

  #set(id: number, ptr: number): void {
    this.#ptr[id] = ptr;
    this.#ex.setRegion(id, ptr);
  }

  #alloc(bytes: number): number {
    const at = (this.#top + 15) & ~15;
    this.#top = at + bytes;
    const have = this.#memory.buffer.byteLength;
    if (this.#top > have) {
      // Grow with headroom so growth stays rare; views are rebuilt lazily afterwards.
      const want = Math.max(this.#top - have, have >> 1);
      this.#memory.grow(Math.ceil(want / PAGE));
    }
    return at;
  }

  #bytes(): Uint8Array {
    if (this.#buffer !== this.#memory.buffer) {
      this.#buffer = this.#memory.buffer as ArrayBuffer;
      this.#u8 = new Uint8Array(this.#buffer);
    }
    return this.#u8;
  }

  #u32(id: number, length: number): Uint32Array {
    this.#bytes();
    return new Uint32Array(this.#buffer!, this.#ptr[id]!, length);
  }

  #f64(id: number, length: number): Float64Array {
    this.#bytes();
    return new Float64Array(this.#buffer!, this.#ptr[id]!, length);
  }

  #ensureScratch(n: number): void {
    if (n <= this.#scratchCap) return;
    const cap = Math.max(n, Math.ceil(this.#scratchCap * 1.5));
    this.#set(T_KEYS, this.#alloc(cap * 8));
    this.#set(T_KEYS2, this.#alloc(cap * 8));
    this.#set(T_IDX, this.#alloc(cap * 4));
    this.#set(T_IDX2, this.#alloc(cap * 4));
    this.#scratchCap = cap;
  }

  partitionBuffers(n: number, keyCount: number, byteLength: number): PartitionBuffers {
    if (n > this.#partCap) {
      const cap = Math.max(n, Math.ceil(this.#partCap * 1.5));
      this.#set(P_HASH, this.#alloc(cap * 8));
      this.#set(P_HSORTED, this.#alloc(cap * 8));
      this.#set(P_WEIGHT, this.#alloc(cap * 8));
      this.#set(P_HORDER, this.#alloc(cap * 4));
      this.#set(P_WORDER, this.#alloc(cap * 4));
      this.#set(P_START, this.#alloc(cap * 4));
      this.#set(P_PREV, this.#alloc(cap * 4));
      this.#set(P_OWNER, this.#alloc(cap * 4));
      this.#set(P_WRANK, this.#alloc(cap * 4));
      this.#set(P_WSORTED, this.#alloc(cap * 8));
      this.#set(KEY_COUNTS, this.#alloc(cap * 4));
      this.#partCap = cap;
      this.#ensureScratch(cap);
    }
    if (keyCount > this.#keyCap) {
      const cap = Math.max(keyCount, Math.ceil(this.#keyCap * 1.5));
      this.#set(KEY_LENS, this.#alloc(cap * 4));
      this.#keyCap = cap;
    }
    if (byteLength > this.#byteCap) {
      const cap = Math.max(byteLength, Math.ceil(this.#byteCap * 1.5));
      this.#set(BYTES, this.#alloc(cap));
      this.#byteCap = cap;
    }
    const u8 = this.#bytes();
    return {
      bytes: u8.subarray(this.#ptr[BYTES]!, this.#ptr[BYTES]! + this.#byteCap),
      keyLens: this.#u32(KEY_LENS, keyCount),
      keyCounts: this.#u32(KEY_COUNTS, n),
      weights: this.#f64(P_WEIGHT, n),
    };
  }

  reserveBytes(byteLength: number, keep: number): Uint8Array {
    if (byteLength > this.#byteCap) {
      const cap = Math.max(byteLength, Math.ceil(this.#byteCap * 1.5));
      const old = this.#ptr[BYTES]!;
      const at = this.#alloc(cap);
      // alloc() may have grown memory, so copy through a fresh view.
      if (keep > 0) this.#bytes().copyWithin(at, old, old + keep);
      this.#set(BYTES, at);
      this.#byteCap = cap;
    }
    const start = this.#ptr[BYTES]!;
    return this.#bytes().subarray(start, start + this.#byteCap);
  }

  preparePartitions(
    n: number,
    equalWeights: boolean,
    utf16Lengths: boolean,
    byteLength: number,
  ): number {
    const dups = this.#ex.hashPartitions(n, equalWeights ? 1 : 0, utf16Lengths ? 1 : 0, byteLength);
    return dups === -1 || dups === 0xffffffff ? -1 : dups;
  }

  ensureSlots(slotCount: number, ringPoints: number): void {
    if (slotCount > this.#slotCap) {
      const cap = Math.max(slotCount, Math.ceil(this.#slotCap * 1.5));
      const old = this.#slotCap;
      // Preserved across growth: ranks, liveness, worker hashes, rank table.
      const keep = old > 0
        ? [S_RANK, S_ALIVE, S_RANK2SLOT].map((id) => this.#u32(id, old).slice())
        : undefined;
      const keepHash = old > 0 ? this.#u32(S_HASH, old * 2).slice() : undefined;
      this.#set(S_LOAD, this.#alloc(cap * 8));
      this.#set(S_LOAD2, this.#alloc(cap * 8));
      this.#set(S_RANK, this.#alloc(cap * 4));
      this.#set(S_ALIVE, this.#alloc(cap * 4));
      this.#set(S_HASH, this.#alloc(cap * 8));
      this.#set(S_RANK2SLOT, this.#alloc(cap * 4));
      this.#set(ADDED, this.#alloc(cap * 4));
      this.#set(W_LENS, this.#alloc(cap * 4));
      this.#slotCap = cap;
      const fresh = [S_RANK, S_ALIVE, S_RANK2SLOT];
      for (let k = 0; k < fresh.length; k++) {
        const view = this.#u32(fresh[k]!, cap);
        view.fill(0);
        if (keep !== undefined) view.set(keep[k]!);
      }
      if (keepHash !== undefined) this.#u32(S_HASH, cap * 2).set(keepHash);
    }
    if (ringPoints > this.#ringCap) {
      const cap = Math.max(ringPoints, Math.ceil(this.#ringCap * 1.5));
      const len = this.#ringLen;
      const keepHash = len > 0 ? this.#u32(R_HASH, len * 2).slice() : undefined;
      const keepSlot = len > 0 ? this.#u32(R_SLOT, len).slice() : undefined;
      // One more point for the sentinel that computeStarts() writes after the last one.
      this.#set(R_HASH, this.#alloc((cap + 1) * 8));
      this.#set(R_SLOT, this.#alloc(cap * 4));
      this.#set(R_SKIP, this.#alloc((cap + 1) * 4));
      this.#set(R_SKIP2, this.#alloc((cap + 1) * 4));
      this.#set(R_SKIP0, this.#alloc((cap + 1) * 4));
      if (keepHash !== undefined) this.#u32(R_HASH, len * 2).set(keepHash);
      if (keepSlot !== undefined) this.#u32(R_SLOT, len).set(keepSlot);
      this.#ringCap = cap;
      this.#ensureScratch(cap);
    }
  }

  slotViews(): SlotViews {
    const cap = this.#slotCap;
    return {
      rank: this.#u32(S_RANK, cap),
      alive: this.#u32(S_ALIVE, cap),
      rankToSlot: this.#u32(S_RANK2SLOT, cap),
    };
  }

  hashWorkers(slots: readonly number[], ids: readonly string[]): void {
    if (slots.length === 0) return;
    let chars = 0;
    for (const id of ids) chars += id.length;
    if (chars * 3 > this.#workerByteCap) {
      const cap = Math.max(chars * 3, Math.ceil(this.#workerByteCap * 1.5), 4096);
      this.#set(W_BYTES, this.#alloc(cap));
      this.#workerByteCap = cap;
    }
    const u8 = this.#bytes();
    const added = this.#u32(ADDED, slots.length);
    const lens = this.#u32(W_LENS, slots.length);
    let at = this.#ptr[W_BYTES]!;
    for (let k = 0; k < slots.length; k++) {
      const { written } = encoder.encodeInto(ids[k]!, u8.subarray(at, at + ids[k]!.length * 3));
      added[k] = slots[k]!;
      lens[k] = written;
      at += written;
    }
    this.#ex.hashWorkers(slots.length);
  }

  clearRing(): void {
    this.#ringLen = 0;
  }

  updateRing(added: readonly number[], vnodes: number, counts?: readonly number[]): void {
    if (added.length > 0) this.#u32(ADDED, added.length).set(added);
    if (counts !== undefined && added.length > 0) this.#u32(W_LENS, added.length).set(counts);
    this.#ringLen = this.#ex.updateRingPoints(
      this.#ringLen,
      added.length,
      counts === undefined ? vnodes : 0,
    );
  }

  prevView(n: number): Int32Array {
    this.#bytes();
    return new Int32Array(this.#buffer!, this.#ptr[P_PREV]!, n);
  }

  ownerView(n: number): Uint32Array {
    return this.#u32(P_OWNER, n);
  }

  placementViews(n: number, slotCount: number, classes: number, groups: number): PlacementViews {
    if (n > this.#metaPartCap) {
      const cap = Math.max(n, Math.ceil(this.#metaPartCap * 1.5));
      for (const id of [M_CLS, M_PREF, M_PIN, M_GROUP, M_ORDER, M_HRANK]) {
        this.#set(id, this.#alloc(cap * 4));
      }
      this.#metaPartCap = cap;
    }
    if (slotCount > this.#metaSlotCap) {
      const cap = Math.max(slotCount, Math.ceil(this.#metaSlotCap * 1.5));
      this.#set(M_CAP, this.#alloc(cap * 8));
      this.#set(M_FLOOR, this.#alloc(cap * 8));
      this.#metaSlotCap = cap;
    }
    if (classes * slotCount > this.#eligCap) {
      const cap = Math.max(classes * slotCount, Math.ceil(this.#eligCap * 1.5));
      this.#set(M_ELIG, this.#alloc(cap));
      this.#eligCap = cap;
    }
    if (groups + 1 > this.#groupCap) {
      const cap = Math.max(groups + 1, Math.ceil(this.#groupCap * 1.5));
      this.#set(M_COUNT, this.#alloc(cap * 4));
      this.#groupCap = cap;
    }
    const u8 = this.#bytes();
    const elig = this.#ptr[M_ELIG]!;
    return {
      cap: this.#f64(M_CAP, slotCount),
      floor: this.#f64(M_FLOOR, slotCount),
      cls: this.#u32(M_CLS, n),
      pref: this.#u32(M_PREF, n),
      pin: new Int32Array(this.#buffer!, this.#ptr[M_PIN]!, n),
      group: this.#u32(M_GROUP, n),
      elig: u8.subarray(elig, elig + classes * slotCount),
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
    this.#ex.assignPlaced(
      n,
      workers,
      slotCount,
      this.#ringLen,
      groups,
      hasPrev ? 1 : 0,
      maxWeight,
      uniform ? 1 : 0,
    );
    return this.#placed(n);
  }

  placedStats(
    n: number,
    workers: number,
    slotCount: number,
    hasPrev: boolean,
    maxWeight: number,
  ): PlacedStats {
    this.#ex.placedStats(n, workers, slotCount, hasPrev ? 1 : 0, maxWeight);
    return this.#placed(n);
  }

  #placed(n: number): PlacedStats {
    const stats = this.#f64(STATS, 6);
    return {
      owners: this.#u32(P_OWNER, n),
      maxLoad: stats[0]!,
      moved: stats[1]!,
      minimalMoves: stats[2]!,
      unplaced: stats[3]!,
      localityViolations: stats[4]!,
      maxRelativeLoad: stats[5]!,
    };
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
    this.#ex.assign(
      strategy,
      n,
      workers,
      slotCount,
      this.#ringLen,
      share,
      hasPrev ? 1 : 0,
      floor,
      maxWeight,
    );
    const stats = this.#f64(STATS, 3);
    return {
      owners: this.#u32(P_OWNER, n),
      maxLoad: stats[0]!,
      moved: stats[1]!,
      minimalMoves: stats[2]!,
    };
  }
}
