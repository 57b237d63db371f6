/**
 * The checks every runtime of the matrix runs, in plain JavaScript (Node.js, Bun and workerd run
 * it as it is). The modules under test are passed in, so this file imports nothing: each runtime's
 * entry program imports `@parti/core` the way that runtime's users do.
 *
 * @module
 */
import { runEngineCases } from "./engine_cases.mjs";

/**
 * Fails with a message.
 *
 * @param {unknown} condition
 * @param {string} message
 * @returns {asserts condition}
 */
function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/**
 * Polls until `condition()` is true.
 *
 * @param {() => boolean} condition
 * @param {number} timeoutMs
 * @param {string} what
 */
async function waitFor(condition, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * The engine on both backends: owners of the fixed cases.
 *
 * @param {any} engineMod `@parti/core/engine`.
 * @param {WebAssembly.Module} [module] A precompiled kernel (runtimes that cannot compile bytes).
 */
export async function engineCheck(engineMod, module) {
  const wasm = await engineMod.createAssignmentEngine({
    backend: "wasm",
    ...(module ? { module } : {}),
  });
  const ts = await engineMod.createAssignmentEngine({ backend: "ts" });
  check(wasm.backend === "wasm", `the WebAssembly backend is used (got ${wasm.backend})`);
  check(ts.backend === "ts", "the TypeScript backend is used");
  return {
    wasmBackend: wasm.backend,
    wasm: runEngineCases(engineMod, wasm),
    ts: runEngineCases(engineMod, ts),
  };
}

/**
 * Partition IDs by owner, and whether every partition has exactly one owner.
 *
 * @param {any} core `@parti/core`.
 * @param {readonly any[]} managers
 * @param {readonly any[]} partitions
 */
export function coverage(core, managers, partitions) {
  /** @type {Record<string, string[]>} */
  const byWorker = {};
  /** @type {Map<string, number>} */
  const owners = new Map();
  for (const m of managers) {
    const ids = m.assignment.partitions.map((/** @type {any} */ p) => core.partitionId(p)).sort();
    byWorker[m.workerId ?? "?"] = ids;
    for (const id of ids) owners.set(id, (owners.get(id) ?? 0) + 1);
  }
  const full = owners.size === partitions.length &&
    partitions.every((p) => owners.get(core.partitionId(p)) === 1);
  return { byWorker, full };
}

/**
 * The partitions of a pool.
 *
 * @param {number} count
 */
export function poolPartitions(count) {
  return Array.from({ length: count }, (_, i) => ({
    keys: ["jobs", String(i)],
    weight: 1 + (i % 3),
  }));
}

/**
 * Starts `count` managers of one group, waits until every partition has exactly one owner and
 * one of them leads. The caller stops them (see {@link stopPool}).
 *
 * @param {any} core `@parti/core`.
 * @param {{ count: number, group: string, partitions: readonly any[], options: (i: number) => object }} spec
 */
export async function startPool(core, spec) {
  /** @type {Error[]} */
  const errors = [];
  const managers = Array.from({ length: spec.count }, (_, i) =>
    new core.Manager({
      ...core.presets.fastTest,
      group: spec.group,
      source: spec.partitions,
      hooks: { onError: (/** @type {Error} */ e) => void errors.push(e) },
      ...spec.options(i),
    }));
  try {
    await Promise.all(managers.map((m) => m.start()));
    await waitFor(
      () =>
        coverage(core, managers, spec.partitions).full &&
        managers.filter((m) => m.isLeader).length === 1 &&
        managers.every((m) => m.assignment.partitions.length > 0),
      15_000,
      `a full assignment of ${spec.partitions.length} partitions over ${spec.count} workers`,
    );
  } catch (error) {
    await Promise.allSettled(managers.map((m) => m.stop()));
    throw error;
  }
  return { managers, errors };
}

/**
 * Stops a pool and checks every manager reached `shutdown` holding nothing.
 *
 * @param {readonly any[]} managers
 */
export async function stopPool(managers) {
  await Promise.all(managers.map((m) => m.stop()));
  for (const m of managers) {
    check(m.state === "shutdown", `${m.workerId} stopped (state ${m.state})`);
    check(m.assignment.partitions.length === 0, `${m.workerId} holds nothing after stop()`);
  }
  return managers.map((m) => m.state);
}

/**
 * Errors that are not expected in a healthy run (an engine fallback would be one).
 *
 * @param {readonly Error[]} errors
 */
function unexpected(errors) {
  return errors.map((e) => `${e.name}: ${e.message}`);
}

/**
 * A pool of three managers on the memory store: full assignment, then a clean stop.
 *
 * @param {any} core `@parti/core`.
 * @param {{ engine?: WebAssembly.Module }} [extra]
 */
export async function memoryPoolCheck(core, extra = {}) {
  const partitions = poolPartitions(30);
  const store = core.memoryStore();
  const { managers, errors } = await startPool(core, {
    count: 3,
    group: "runtime-memory",
    partitions,
    options: () => ({ store, ...extra }),
  });
  const { byWorker } = coverage(core, managers, partitions);
  const leader = managers.find((m) => m.isLeader)?.workerId;
  const states = await stopPool(managers);
  check(errors.length === 0, `no errors reported: ${unexpected(errors).join("; ")}`);
  return { byWorker, leader, states };
}

/**
 * Two managers over a real nats-server, each with its own connection: full assignment, clean stop,
 * connections closed.
 *
 * @param {any} core `@parti/core`.
 * @param {() => Promise<any>} open Opens one connection.
 * @param {string} group
 * @param {{ engine?: WebAssembly.Module }} [extra]
 */
export async function natsPoolCheck(core, open, group, extra = {}) {
  const partitions = poolPartitions(12);
  const connections = [await open(), await open()];
  try {
    const { managers, errors } = await startPool(core, {
      count: 2,
      group,
      partitions,
      options: (i) => ({ connection: connections[i], kv: { storage: "memory" }, ...extra }),
    });
    const { byWorker } = coverage(core, managers, partitions);
    const states = await stopPool(managers);
    check(errors.length === 0, `no errors reported: ${unexpected(errors).join("; ")}`);
    return { byWorker, states };
  } finally {
    await Promise.all(connections.map((nc) => nc.close()));
  }
}
