/**
 * Compiling the WebAssembly kernel where the runtime forbids it (as workerd does), and stale or
 * foreign modules: typed errors that say what to do, a compile failure that is not cached, and a
 * fallback to the TypeScript backend that is reported, never silent. Its own file: the first test
 * must run before anything in this isolate compiled the kernel.
 */
import assert from "node:assert/strict";
import {
  compileAssignmentKernel,
  createAssignmentEngine,
  EngineUnavailableError,
} from "../../src/engine/mod.ts";
import { Manager, memoryStore, presets } from "../../mod.ts";

/** The smallest valid module: no exports at all, so certainly not the kernel. */
const FOREIGN = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));

Deno.test("a runtime that forbids compiling gets an EngineUnavailableError naming the fix, and the failure is not cached", async () => {
  const compile = WebAssembly.compile;
  WebAssembly.compile = () => Promise.reject(new WebAssembly.CompileError("forbidden here"));
  try {
    const error = await compileAssignmentKernel().catch((e) => e);
    assert.ok(error instanceof EngineUnavailableError, String(error));
    assert.equal(error.code, "ENGINE_UNAVAILABLE");
    assert.match(error.message, /precompiled module/);
    assert.ok(error.cause instanceof WebAssembly.CompileError);
    const strict = await createAssignmentEngine({ backend: "wasm" }).catch((e) => e);
    assert.ok(strict instanceof EngineUnavailableError);
  } finally {
    WebAssembly.compile = compile;
  }
  // Not cached: the next attempt compiles for real.
  const module = await compileAssignmentKernel();
  assert.ok(module instanceof WebAssembly.Module);
});

Deno.test("a module that is not this version's kernel is rejected by name of what it lacks", async () => {
  const error = await createAssignmentEngine({ backend: "wasm", module: FOREIGN }).catch((e) => e);
  assert.ok(error instanceof EngineUnavailableError, String(error));
  assert.match(error.message, /missing 'memory'/);
});

Deno.test("with backend auto a failure falls back to TypeScript and says so once", async () => {
  const reasons: Error[] = [];
  const engine = await createAssignmentEngine({
    module: FOREIGN,
    onFallback: (e) => void reasons.push(e),
  });
  assert.equal(engine.backend, "ts");
  assert.equal(reasons.length, 1);
  assert.ok(reasons[0] instanceof EngineUnavailableError);
});

Deno.test("a Manager given an unusable module reports the fallback once and still assigns", async () => {
  const errors: Error[] = [];
  const warnings: string[] = [];
  const manager = new Manager({
    ...presets.fastTest,
    store: memoryStore(),
    group: "engine",
    source: [{ keys: ["a"] }, { keys: ["b"] }],
    engine: FOREIGN,
    hooks: { onError: (e) => void errors.push(e) },
    logger: {
      debug() {},
      info() {},
      warn: (message) => void warnings.push(message),
      error() {},
    },
  });
  try {
    await manager.start();
    assert.equal(manager.assignment.partitions.length, 2);
    assert.equal(errors.filter((e) => e instanceof EngineUnavailableError).length, 1);
    assert.equal(warnings.filter((w) => /TypeScript engine/.test(w)).length, 1);
  } finally {
    await manager.stop();
  }
});

Deno.test("a Manager uses a ready engine it is given", async () => {
  const engine = await createAssignmentEngine({ backend: "ts" });
  let calls = 0;
  const counting = {
    ...engine,
    backend: engine.backend,
    assign: (input: Parameters<typeof engine.assign>[0]) => {
      calls++;
      return engine.assign(input);
    },
  } as typeof engine;
  const manager = new Manager({
    ...presets.fastTest,
    store: memoryStore(),
    group: "engine-given",
    source: [{ keys: ["a"] }],
    engine: counting,
  });
  try {
    await manager.start();
    assert.ok(calls > 0, "the given engine assigned");
  } finally {
    await manager.stop();
  }
});

Deno.test("the engine option is checked at construction", () => {
  assert.throws(
    () =>
      new Manager({
        store: memoryStore(),
        group: "g",
        source: [],
        engine: {} as unknown as WebAssembly.Module,
      }),
    /engine/,
  );
});
