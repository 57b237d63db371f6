/**
 * The runtime matrix's workerd worker, bundled with esbuild from the npm build. The entry the test
 * writes next to it imports the kernel and hands it over:
 *
 * ```js ignore
 * import kernel from "@parti/core/kernel.wasm"; // a WebAssembly.Module in workerd
 * import { worker } from "./workerd_worker.mjs";
 * export default worker(kernel);
 * ```
 *
 * esbuild keeps the `.wasm` import a module of its own (`--loader:.wasm=copy`), and workerd's
 * config declares it a `wasm` module: workerd gives the worker a compiled `WebAssembly.Module`,
 * since it forbids compiling WebAssembly from bytes at run time. (The `.wasm` import is not in this
 * file so that `deno check` resolves everything here.)
 *
 * Routes (each answers JSON, or 500 with the error):
 * - `/engine`: compiling the inlined kernel is refused, `backend: "auto"` falls back to TypeScript
 *   and says so, and the precompiled module gives the WebAssembly backend; owners of the fixed cases
 *   on both backends.
 * - `/pool`: three managers on the memory store with the precompiled kernel, full assignment, clean
 *   stop, no fallback reported; all in one request.
 * - `/serve/start`, `/serve/owner?worker=worker-1`, `/serve/stop`: a pool that outlives a request
 *   (kept alive with `ctx.waitUntil`) and answers which partitions a worker owns per request.
 * - `/nats?url=ws://127.0.0.1:<port>&group=<g>`: two managers over nats-server's WebSocket
 *   listener (`wsconnect` of `@nats-io/nats-core` on workerd's `WebSocket`), in one request.
 *
 * @module
 */
import * as core from "@parti/core";
import * as engineMod from "@parti/core/engine";
import { wsconnect } from "@nats-io/nats-core";
import {
  coverage,
  engineCheck,
  memoryPoolCheck,
  natsPoolCheck,
  poolPartitions,
  startPool,
  stopPool,
} from "./checks.mjs";

/** The kernel module the worker was made with (see {@link worker}). */
let kernel;
/** The pool of `/serve/*`, across requests. */
let serving;

function json(value, status = 200) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function engineRoute() {
  if (!(kernel instanceof WebAssembly.Module)) {
    throw new Error(`the .wasm module binding is not a WebAssembly.Module: ${typeof kernel}`);
  }
  const refused = await engineMod.createAssignmentEngine({ backend: "wasm" }).then(
    () => undefined,
    (error) => error,
  );
  const fallbacks = [];
  const auto = await engineMod.createAssignmentEngine({
    onFallback: (error) => void fallbacks.push(error),
  });
  return {
    compileFromBytes: refused === undefined
      ? "allowed"
      : `refused: ${refused.name} (${refused.code})`,
    autoBackend: auto.backend,
    autoFallbacksReported: fallbacks.length,
    ...(await engineCheck(engineMod, kernel)),
  };
}

async function serveStart(ctx) {
  if (serving) throw new Error("already serving");
  const partitions = poolPartitions(24);
  const store = core.memoryStore();
  const { managers, errors } = await startPool(core, {
    count: 3,
    group: "runtime-serve",
    partitions,
    options: () => ({ store, engine: kernel }),
  });
  let release;
  const stopped = new Promise((resolve) => release = resolve);
  serving = { managers, errors, partitions, release };
  // Timers of the pool were set in this request: keep its context alive until /serve/stop.
  ctx.waitUntil(stopped);
  return { workers: managers.map((m) => m.workerId).sort() };
}

function serveOwner(worker) {
  if (!serving) throw new Error("not serving");
  const manager = serving.managers.find((m) => m.workerId === worker);
  if (!manager) return { worker, known: false, partitions: [] };
  return {
    worker,
    known: true,
    state: manager.state,
    isLeader: manager.isLeader,
    partitions: manager.assignment.partitions.map((p) => core.partitionId(p)).sort(),
  };
}

async function serveStop() {
  if (!serving) throw new Error("not serving");
  const { managers, errors, partitions, release } = serving;
  const full = coverage(core, managers, partitions).full;
  serving = undefined;
  try {
    const states = await stopPool(managers);
    return { fullBeforeStop: full, states, errors: errors.map((e) => `${e.name}: ${e.message}`) };
  } finally {
    release();
  }
}

/**
 * The worker's handlers.
 *
 * @param {WebAssembly.Module} kernelModule The precompiled kernel (`@parti/core/kernel.wasm`).
 */
export function worker(kernelModule) {
  kernel = kernelModule;
  return { fetch: handle };
}

/**
 * @param {Request} request
 * @param {unknown} _env
 * @param {{ waitUntil(promise: Promise<unknown>): void }} ctx
 */
async function handle(request, _env, ctx) {
  const url = new URL(request.url);
  try {
    switch (url.pathname) {
      case "/engine":
        return json(await engineRoute());
      case "/pool":
        return json(await memoryPoolCheck(core, { engine: kernel }));
      case "/serve/start":
        return json(await serveStart(ctx));
      case "/serve/owner":
        return json(serveOwner(url.searchParams.get("worker") ?? ""));
      case "/serve/stop":
        return json(await serveStop());
      case "/nats": {
        const servers = url.searchParams.get("url");
        const group = url.searchParams.get("group") ?? "runtime-workerd";
        return json(
          await natsPoolCheck(
            core,
            () => wsconnect({ servers, ...core.recommendedConnectionOptions, name: "workerd" }),
            group,
            { engine: kernel },
          ),
        );
      }
      case "/health":
        return json({ ok: true });
      default:
        return json({ error: `no route ${url.pathname}` }, 404);
    }
  } catch (error) {
    return json({ error: String(error?.stack ?? error) }, 500);
  }
}
