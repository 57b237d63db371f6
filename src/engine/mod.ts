/**
 * The Parti assignment engine: decides which worker owns which partition. Edge-safe: no NATS, no
 * `Deno.*`, no file or network access; the WebAssembly kernel is inlined and instantiated
 * asynchronously, with a pure-TypeScript fallback that computes bit-identical results.
 *
 * Hashing is XXH3-64 over each key's UTF-8 bytes, chained key to key (the hash of `["a", "b"]` is
 * `XXH3("b", seed = XXH3("a"))`); ring point `i` of worker `w` is `XXH3(LE64(i), seed = XXH3(w))`.
 * Ring positions compare as unsigned 64-bit integers, ties by worker ID. The weighted strategy
 * places partitions heaviest first, ties by partition hash (then input position, which only matters
 * for a 64-bit hash collision). Results depend only on the worker set, the partitions (and their
 * order for round robin), the strategy and `previous`, never on the order of `workers` or on
 * earlier calls; both backends return identical owners.
 *
 * @example Assign partitions, then recalculate after a worker joins
 * ```ts
 * import { createAssignmentEngine, weightedConsistentHash } from "@parti/core/engine";
 *
 * const engine = await createAssignmentEngine();
 * const partitions = Array.from({ length: 12 }, (_, i) => ({ keys: ["orders", String(i)] }));
 * const first = engine.assign({ workers: ["worker-0", "worker-1"], partitions });
 * const second = engine.assign({
 *   workers: ["worker-0", "worker-1", "worker-2"],
 *   partitions,
 *   strategy: weightedConsistentHash({ virtualNodes: 150 }),
 *   previous: first.assignment,
 * });
 * console.log(second.owners, second.stats); // 4 partitions move to worker-2
 * ```
 *
 * @module
 */
import { EngineUnavailableError } from "../errors.ts";
import { Engine } from "./engine.ts";
import { createTsKernel } from "./ts_engine.ts";
import { compileKernelModule, createWasmKernel, kernelModuleBytes } from "./wasm_engine.ts";
import type { AssignmentEngine, CreateAssignmentEngineOptions } from "./types.ts";

export type {
  AssignInput,
  AssignmentEngine,
  AssignmentResult,
  AssignmentStats,
  CreateAssignmentEngineOptions,
} from "./types.ts";
export type {
  AssignmentStrategy,
  BuiltinStrategy,
  ConsistentHashOptions,
  ConsistentHashStrategy,
  RoundRobinStrategy,
  StrategyFunction,
  StrategyInput,
  WeightedConsistentHashOptions,
  WeightedConsistentHashStrategy,
} from "./strategies.ts";
export {
  consistentHash,
  DEFAULT_LOAD_FACTOR,
  DEFAULT_VIRTUAL_NODES,
  roundRobin,
  weightedConsistentHash,
} from "./strategies.ts";
export { xxh3_64 } from "./xxh3.ts";
export type { Partition } from "../partition.ts";
export type { Labels } from "../labels.ts";
export type { WorkerInfo } from "./placement.ts";
export {
  EngineUnavailableError,
  InvalidPartitionError,
  PartiError,
  StrategyError,
} from "../errors.ts";
export type { PartiErrorCode } from "../errors.ts";

/**
 * Creates an assignment engine. Each engine keeps its own caches (partition hashes, the hash ring,
 * worker slots); use one engine per stream of related calculations.
 *
 * @param options Backend choice and an optional precompiled kernel module.
 * @returns The engine, backed by WebAssembly or by TypeScript (see `engine.backend`).
 * @throws {EngineUnavailableError} With `backend: "wasm"`, when WebAssembly cannot be used (the
 *   runtime forbids compiling bytes, or `module` is not this version's kernel).
 *
 * @example Pick a backend
 * ```ts
 * import { createAssignmentEngine } from "@parti/core/engine";
 * const fast = await createAssignmentEngine(); // WebAssembly when available
 * const portable = await createAssignmentEngine({ backend: "ts" });
 * const { owners } = portable.assign({ workers: ["a", "b"], partitions: [{ keys: ["p0"] }] });
 * console.log(fast.backend, portable.backend, owners);
 * ```
 */
export async function createAssignmentEngine(
  options: CreateAssignmentEngineOptions = {},
): Promise<AssignmentEngine> {
  const backend = options.backend ?? "auto";
  if (backend !== "auto" && backend !== "wasm" && backend !== "ts") {
    throw new TypeError(`Unknown backend '${String(backend)}'; use "auto", "wasm" or "ts"`);
  }
  if (backend === "ts") return new Engine(createTsKernel());
  try {
    return new Engine(await createWasmKernel(options.module));
  } catch (thrown) {
    const error = thrown instanceof EngineUnavailableError ? thrown : new EngineUnavailableError(
      "Cannot instantiate the WebAssembly assignment kernel; pass a precompiled module or use " +
        `the TypeScript backend (${thrown instanceof Error ? thrown.message : String(thrown)})`,
      { cause: thrown },
    );
    if (backend === "wasm") throw error;
    options.onFallback?.(error);
    return new Engine(createTsKernel());
  }
}

/**
 * Compiles the inlined WebAssembly kernel (once per process) so that it can be reused or passed to
 * other engines as `module`.
 *
 * @returns The compiled kernel module.
 *
 * @example Share one compiled module
 * ```ts
 * import { compileAssignmentKernel, createAssignmentEngine } from "@parti/core/engine";
 * const module = await compileAssignmentKernel();
 * const engine = await createAssignmentEngine({ backend: "wasm", module });
 * console.log(engine.backend); // "wasm"
 * ```
 */
export function compileAssignmentKernel(): Promise<WebAssembly.Module> {
  return compileKernelModule();
}

/**
 * Returns the bytes of the WebAssembly kernel, for runtimes that only accept modules prepared at
 * build time (write them to a `.wasm` file, then pass the runtime's module as `module`).
 *
 * @returns A fresh copy of the module bytes.
 *
 * @example Save the kernel next to a worker script
 * ```ts ignore
 * import { assignmentKernelBytes } from "@parti/core/engine";
 * await Deno.writeFile("dist/parti_kernel.wasm", assignmentKernelBytes());
 * ```
 */
export function assignmentKernelBytes(): Uint8Array {
  return kernelModuleBytes();
}
