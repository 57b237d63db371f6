/**
 * The runtime matrix: the same sources on Node.js, Bun, workerd and `deno serve` without
 * permissions. Each runtime runs a small program as a subprocess:
 *
 * - Node.js (the machine's `node`) and Bun (npm package `bun`): `node_smoke.mjs` against the npm
 *   build (`build/npm.ts`): the engine on both backends gives the owners Deno computes here for
 *   the same input, a pool of three managers on the memory store reaches a full assignment and
 *   stops cleanly (the process then exits by itself), and two managers over a real nats-server
 *   over TCP (`@nats-io/transport-node`) do the same.
 * - workerd (npm package `workerd`): `workerd_worker.mjs`, bundled by esbuild from the npm build,
 *   with the kernel `.wasm` as a module binding (workerd refuses to compile WebAssembly from
 *   bytes): the WebAssembly backend from the precompiled module, the same owners, a pool on the
 *   memory store serving over fetch across requests, and two managers over nats-server's
 *   WebSocket listener (`wsconnect` of `@nats-io/nats-core`).
 * - `deno serve` with no permissions: `deno_serve.ts`, a pool on the memory store answering which
 *   partitions a worker owns per request, stopped on SIGTERM (the process then exits by itself).
 *
 * It builds the package and installs runtimes with npm, so it runs only with `PARTI_RUNTIMES=1`
 * (`deno task test:runtimes`, and CI's "Runtime matrix" step); `deno task test` skips it. A
 * runtime whose npm install fails is skipped with the reason, except with `CI` set or
 * `PARTI_RUNTIMES_REQUIRED=1`, where that fails the test. Installs go to `.cache/runtimes/`
 * (`PARTI_RUNTIMES_CACHE` moves it) and are reused while their versions match.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as engineMod from "../../src/engine/mod.ts";
import { NatsServer } from "../../testing/mod.ts";
import { freePorts } from "../../testing/free_port.ts";
import { runEngineCases } from "./engine_cases.mjs";

const ENABLED = Deno.env.get("PARTI_RUNTIMES") === "1";
const ciValue = (Deno.env.get("CI") ?? "").toLowerCase();
const REQUIRED = Deno.env.get("PARTI_RUNTIMES_REQUIRED") === "1" ||
  (ciValue !== "" && ciValue !== "0" && ciValue !== "false");

/** Pinned runtime and tool versions (npm packages). */
const TOOLS = {
  bun: { pkg: "bun", version: "1.4.5", bin: "bun" },
  workerd: { pkg: "workerd", version: "1.20261123.1", bin: "workerd" },
  esbuild: { pkg: "esbuild", version: "0.28.2", bin: "esbuild" },
} as const;
type ToolName = keyof typeof TOOLS;
/** The compatibility date the worker runs under (at most the workerd release's date). */
const WORKERD_COMPATIBILITY_DATE = "2026-01-01";

const root = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(/\/$/, "");
const here = `${root}/tests/runtimes`;
const cache = Deno.env.get("PARTI_RUNTIMES_CACHE") ?? `${root}/.cache/runtimes`;
const npmDir = `${cache}/npm`;
const toolsDir = `${cache}/tools`;
const smokeDir = `${npmDir}/_smoke`;
const SMOKE_FILES = [
  "checks.mjs",
  "engine_cases.mjs",
  "node_smoke.mjs",
  "workerd_worker.mjs",
  "node_consumer.ts",
];
/** The TypeScript compiler that checks the declarations as a Node.js user's project would. */
const TSC = "npm:typescript@5.9.3/tsc";
const decoder = new TextDecoder();

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`); never throws for a non-zero exit. */
async function exec(
  cmd: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<Output> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd ?? root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs ?? 120_000);
  try {
    const out = await child.output();
    const result = {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
    if (timedOut) {
      throw new Error(
        `${cmd} ${args.join(" ")} did not exit within ${options.timeoutMs ?? 120_000} ms ` +
          `(a timer or socket left running?)\n${result.stdout}\n${result.stderr}`,
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command that must succeed; returns its stdout. */
async function must(
  cmd: string,
  args: string[],
  options: Parameters<typeof exec>[2] = {},
): Promise<string> {
  const out = await exec(cmd, args, options);
  if (out.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited with ${out.code}:\n${out.stdout}\n${out.stderr}`,
    );
  }
  return out.stdout;
}

/** A long-running subprocess (a server) whose output is collected for error messages. */
class Service implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #output: string[] = [];
  readonly #done: Promise<unknown>;
  #exited = false;

  constructor(cmd: string, args: string[], options: { cwd?: string } = {}) {
    this.#child = new Deno.Command(cmd, {
      args,
      cwd: options.cwd ?? root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) this.#output.push(decoder.decode(chunk));
    };
    this.#done = Promise.all([
      drain(this.#child.stdout),
      drain(this.#child.stderr),
      this.#child.status.then(() => this.#exited = true),
    ]);
  }

  /** What it printed so far. */
  get output(): string {
    return this.#output.join("");
  }

  /** Polls `url` until it answers 200 (or the process exits, or `timeoutMs` passes). */
  async ready(url: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#exited) throw new Error(`exited before serving ${url}:\n${this.output}`);
      const ok = await fetch(url).then(async (r) => {
        await r.body?.cancel();
        return r.ok;
      }, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${this.output}`);
  }

  /**
   * Sends SIGTERM and waits for the process to exit by itself.
   *
   * @returns Its exit status and everything it printed.
   */
  async terminate(timeoutMs: number): Promise<{ status: Deno.CommandStatus; output: string }> {
    this.#child.kill("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      this.#child.status,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (status === undefined) {
      throw new Error(`still running ${timeoutMs} ms after SIGTERM:\n${this.output}`);
    }
    await this.#done;
    return { status, output: this.output };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 5_000);
      await this.#done;
      clearTimeout(timer);
    } else {
      await this.#done;
    }
  }
}

/** GETs JSON; a non-200 answer fails with its body. */
async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  const response = await fetch(url);
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

// ---- Installs -------------------------------------------------------------------------------

type Installed = { path: string; version: string } | { error: string };

async function installedVersion(pkg: string): Promise<string | undefined> {
  try {
    const text = await Deno.readTextFile(`${toolsDir}/node_modules/${pkg}/package.json`);
    return (JSON.parse(text) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Installs a pinned npm package into `.cache/runtimes/tools` (unless there) and runs `--version`. */
async function install(name: ToolName): Promise<Installed> {
  const tool = TOOLS[name];
  const path = `${toolsDir}/node_modules/.bin/${tool.bin}`;
  try {
    if (await installedVersion(tool.pkg) !== tool.version) {
      await Deno.mkdir(toolsDir, { recursive: true });
      await must("npm", [
        "install",
        "--prefix",
        toolsDir,
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        `${tool.pkg}@${tool.version}`,
      ], { timeoutMs: 240_000 });
    }
    const version = (await must(path, ["--version"], { timeoutMs: 30_000 })).trim();
    return { path, version };
  } catch (error) {
    // npm's own summary is its first lines; the rest is a stack and a log file name.
    const summary = (error as Error).message.split("\n").filter((l) => l.trim() !== "")
      .slice(0, 4).join(" | ");
    return { error: `${tool.pkg}@${tool.version} could not be installed with npm: ${summary}` };
  }
}

async function nodeVersion(): Promise<Installed> {
  try {
    const version = (await must("node", ["--version"], { timeoutMs: 30_000 })).trim();
    return { path: "node", version };
  } catch (error) {
    return { error: `no usable 'node' on PATH: ${(error as Error).message}` };
  }
}

// Installs run once, before the tests are declared, so a runtime that cannot be had is shown as
// ignored (with the reason printed) rather than passed.
const tools: Record<ToolName | "node", Installed> | undefined = ENABLED
  ? {
    node: await nodeVersion(),
    bun: await install("bun"),
    workerd: await install("workerd"),
    esbuild: await install("esbuild"),
  }
  : undefined;

function unavailable(...names: (ToolName | "node")[]): string | undefined {
  if (tools === undefined) return "PARTI_RUNTIMES=1 is not set";
  const errors = names.map((n) => tools[n]).filter((t) => "error" in t) as { error: string }[];
  return errors.length === 0 ? undefined : errors.map((e) => e.error).join("; ");
}

function ignored(...names: (ToolName | "node")[]): boolean {
  const reason = unavailable(...names);
  if (reason === undefined) return false;
  if (tools === undefined) return true;
  if (REQUIRED) return false; // the test runs and fails with the reason
  console.warn(`runtime matrix: skipping ${names.join(" + ")}: ${reason}`);
  return true;
}

function tool(name: ToolName | "node"): string {
  const reason = unavailable(name);
  if (reason !== undefined) {
    throw new Error(`${reason} (required: CI or PARTI_RUNTIMES_REQUIRED=1 is set)`);
  }
  return (tools![name] as { path: string }).path;
}

if (tools !== undefined) {
  const versions = Object.entries(tools).map(([n, t]) =>
    `${n} ${"version" in t ? t.version : "unavailable"}`
  );
  console.log(`runtime matrix: deno ${Deno.version.deno}, ${versions.join(", ")}`);
}

// ---- The npm build --------------------------------------------------------------------------

let built: Promise<void> | undefined;

/** Builds the npm package into the cache (once per run), adds the smoke programs and a client. */
function npmBuild(): Promise<void> {
  built ??= (async () => {
    await must(Deno.execPath(), ["run", "-A", `${root}/build/npm.ts`, npmDir], {
      timeoutMs: 240_000,
    });
    const deno = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
    const transport = String(deno.imports["@nats-io/transport-node"]).replace(
      /^npm:@nats-io\/transport-node@/,
      "",
    );
    // The NATS client the programs use (a user's own dependency, not the package's).
    await must("npm", [
      "install",
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      `@nats-io/transport-node@${transport}`,
    ], { cwd: npmDir, timeoutMs: 240_000 });
    // Inside the package, so `@parti/core` resolves through its own exports, as for users.
    await Deno.mkdir(smokeDir, { recursive: true });
    for (const file of SMOKE_FILES) await Deno.copyFile(`${here}/${file}`, `${smokeDir}/${file}`);
  })();
  return built;
}

// ---- What every runtime must reproduce ------------------------------------------------------

const expectedOwners = !ENABLED ? {} : await (async () => {
  const wasm = await engineMod.createAssignmentEngine({ backend: "wasm" });
  const ts = await engineMod.createAssignmentEngine({ backend: "ts" });
  const fromWasm = runEngineCases(engineMod, wasm);
  assert.deepEqual(runEngineCases(engineMod, ts), fromWasm, "Deno: both backends agree");
  return fromWasm;
})();

interface EngineReport {
  wasmBackend: string;
  wasm: Record<string, string[]>;
  ts: Record<string, string[]>;
}

function assertEngine(report: EngineReport, runtime: string): void {
  assert.equal(report.wasmBackend, "wasm", `${runtime}: the WebAssembly backend`);
  assert.deepEqual(report.wasm, expectedOwners, `${runtime}: WebAssembly owners equal Deno's`);
  assert.deepEqual(report.ts, expectedOwners, `${runtime}: TypeScript owners equal Deno's`);
}

/** Every one of `count` partitions `jobs/<i>` is owned by exactly one of `workers` workers. */
function assertCoverage(
  byWorker: Record<string, string[]>,
  count: number,
  workers: number,
  what: string,
): void {
  assert.equal(Object.keys(byWorker).length, workers, `${what}: ${workers} workers`);
  const all = Object.values(byWorker).flat().sort();
  const want = Array.from({ length: count }, (_, i) => `jobs/${i}`).sort();
  assert.deepEqual(all, want, `${what}: every partition has exactly one owner`);
  for (const [worker, ids] of Object.entries(byWorker)) {
    assert.ok(ids.length > 0, `${what}: ${worker} owns something`);
  }
}

interface SmokeReport {
  runtime: string;
  engine: EngineReport;
  memoryPool: { byWorker: Record<string, string[]>; leader: string; states: string[] };
  nats: { byWorker: Record<string, string[]>; states: string[] };
}

/** Runs `node_smoke.mjs` on a runtime against a fresh nats-server and checks its report. */
async function smoke(runtime: string, command: string[]): Promise<SmokeReport> {
  await npmBuild();
  await using server = await NatsServer.start();
  const config = JSON.stringify({ natsUrl: server.url, group: `runtime-${runtime}` });
  const out = await exec(command[0]!, [...command.slice(1), `${smokeDir}/node_smoke.mjs`, config], {
    cwd: smokeDir,
    timeoutMs: 60_000,
  });
  const line = out.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (out.code !== 0 || line === undefined) {
    throw new Error(`${runtime} failed (exit ${out.code}):\n${out.stdout}\n${out.stderr}`);
  }
  const report = JSON.parse(line.slice("RESULT ".length)) as SmokeReport;
  assertEngine(report.engine, runtime);
  assertCoverage(report.memoryPool.byWorker, 30, 3, `${runtime} memory pool`);
  assert.deepEqual(report.memoryPool.states, ["shutdown", "shutdown", "shutdown"]);
  assertCoverage(report.nats.byWorker, 12, 2, `${runtime} over NATS (TCP)`);
  assert.deepEqual(report.nats.states, ["shutdown", "shutdown"]);
  return report;
}

// ---- The tests ------------------------------------------------------------------------------

Deno.test({
  name:
    "npm build: package.json mirrors deno.json (exports, dependency ranges), kernel file, .d.ts under NodeNext",
  ignore: !ENABLED,
  async fn() {
    await npmBuild();
    const deno = JSON.parse(await Deno.readTextFile(`${root}/deno.json`));
    const pkg = JSON.parse(await Deno.readTextFile(`${npmDir}/package.json`));
    assert.equal(pkg.name, deno.name);
    assert.equal(pkg.version, deno.version);
    assert.equal(pkg.type, "module");
    const denoExports = Object.keys(deno.exports).filter((k) => k !== "./testing");
    assert.deepEqual(
      Object.keys(pkg.exports).sort(),
      [...denoExports, "./kernel.wasm", "./package.json"].sort(),
    );
    for (const sub of denoExports) {
      const ts = String(deno.exports[sub]);
      assert.deepEqual(pkg.exports[sub], {
        types: ts.replace(/\.ts$/, ".d.ts"),
        default: ts.replace(/\.ts$/, ".js"),
      });
      for (const file of Object.values(pkg.exports[sub] as Record<string, string>)) {
        await Deno.stat(`${npmDir}/${file}`);
      }
    }
    assert.ok(Object.keys(pkg.dependencies).length > 0);
    for (const [name, range] of Object.entries(pkg.dependencies)) {
      assert.equal(`npm:${name}@${range}`, deno.imports[name], `${name}: deno.json's range`);
    }
    // Deno-only: not in the build.
    await assert.rejects(Deno.stat(`${npmDir}/testing/mod.js`));
    const kernel = await Deno.readFile(`${npmDir}/parti_kernel.wasm`);
    assert.deepEqual(kernel, engineMod.assignmentKernelBytes());
    // The declarations, as a Node.js TypeScript project resolves them (and the libraries' too).
    await Deno.writeTextFile(
      `${smokeDir}/tsconfig.json`,
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2022", "DOM", "ESNext.Disposable"],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ["node_consumer.ts"],
      }),
    );
    await must(Deno.execPath(), ["run", "-A", TSC, "-p", `${smokeDir}/tsconfig.json`], {
      cwd: root,
      timeoutMs: 120_000,
    });
  },
});

Deno.test({
  name:
    "Node.js: engine (WASM and TS owners equal Deno's), memory pool of 3, Manager over NATS TCP",
  ignore: ignored("node"),
  async fn() {
    const node = tool("node");
    const version = (tools!.node as { version: string }).version;
    assert.ok(Number(/^v(\d+)/.exec(version)?.[1]) >= 20, `Node.js 20 or later (${version})`);
    const report = await smoke("node", [node]);
    assert.match(report.runtime, /^node /);
  },
});

Deno.test({
  name: "Bun: engine (WASM and TS owners equal Deno's), memory pool of 3, Manager over NATS TCP",
  ignore: ignored("bun"),
  async fn() {
    const report = await smoke("bun", [tool("bun")]);
    assert.match(report.runtime, /^bun /);
  },
});

Deno.test({
  name:
    "workerd: precompiled kernel module (WASM backend), memory pool served over fetch, Manager over NATS WebSocket",
  ignore: ignored("workerd", "esbuild"),
  async fn() {
    const workerd = tool("workerd");
    const esbuild = tool("esbuild");
    await npmBuild();
    const dir = await Deno.makeTempDir({ prefix: "parti-workerd-" });
    try {
      // The entry: the kernel as a module import, the worker built around it.
      await Deno.writeTextFile(
        `${smokeDir}/workerd_entry.mjs`,
        `import kernel from "@parti/core/kernel.wasm";\n` +
          `import { worker } from "./workerd_worker.mjs";\n` +
          `export default worker(kernel);\n`,
      );
      // The .wasm import stays a module of its own (copied next to the bundle, same name).
      await must(esbuild, [
        `${smokeDir}/workerd_entry.mjs`,
        "--bundle",
        "--format=esm",
        "--platform=browser",
        "--target=es2022",
        "--loader:.wasm=copy",
        "--asset-names=[name]",
        `--outdir=${dir}`,
        "--log-level=warning",
      ], { cwd: npmDir, timeoutMs: 60_000 });
      const bundle = await Deno.readTextFile(`${dir}/workerd_entry.js`);
      assert.match(bundle, /from\s*"\.\/parti_kernel\.wasm"/, "the kernel stays a module import");
      const [port] = freePorts(1) as [number];
      await Deno.writeTextFile(`${dir}/config.capnp`, workerdConfig(port));
      await using server = await NatsServer.start({ websocket: true });
      await using service = new Service(workerd, ["serve", "config.capnp"], { cwd: dir });
      const base = `http://127.0.0.1:${port}`;
      await service.ready(`${base}/health`);

      const engine = await getJson<
        EngineReport & {
          compileFromBytes: string;
          autoBackend: string;
          autoFallbacksReported: number;
        }
      >(`${base}/engine`);
      assert.match(engine.compileFromBytes, /^refused: EngineUnavailableError/);
      assert.equal(engine.autoBackend, "ts", "without the module, auto falls back to TypeScript");
      assert.equal(engine.autoFallbacksReported, 1, "and reports it once");
      assertEngine(engine, "workerd");

      const pool = await getJson<SmokeReport["memoryPool"]>(`${base}/pool`);
      assertCoverage(pool.byWorker, 30, 3, "workerd memory pool (one request)");
      assert.deepEqual(pool.states, ["shutdown", "shutdown", "shutdown"]);

      const started = await getJson<{ workers: string[] }>(`${base}/serve/start`);
      assert.deepEqual(started.workers, ["worker-0", "worker-1", "worker-2"]);
      await new Promise((r) => setTimeout(r, 1_500)); // several heartbeats across requests
      const byWorker: Record<string, string[]> = {};
      for (const worker of started.workers) {
        const owner = await getJson<{ state: string; partitions: string[] }>(
          `${base}/serve/owner?worker=${worker}`,
        );
        assert.equal(owner.state, "stable", `${worker} stays stable between requests`);
        byWorker[worker] = owner.partitions;
      }
      assertCoverage(byWorker, 24, 3, "workerd pool served over fetch");
      const unknown = await getJson<{ known: boolean }>(`${base}/serve/owner?worker=worker-9`);
      assert.equal(unknown.known, false);
      const stopped = await getJson<
        { fullBeforeStop: boolean; states: string[]; errors: string[] }
      >(
        `${base}/serve/stop`,
      );
      assert.ok(stopped.fullBeforeStop);
      assert.deepEqual(stopped.states, ["shutdown", "shutdown", "shutdown"]);
      assert.deepEqual(stopped.errors, [], "no engine fallback, no errors");

      const nats = await getJson<SmokeReport["nats"]>(
        `${base}/nats?url=${encodeURIComponent(server.wsUrl!)}&group=runtime-workerd`,
      );
      assertCoverage(nats.byWorker, 12, 2, "workerd over NATS (WebSocket)");
      assert.deepEqual(nats.states, ["shutdown", "shutdown"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A workerd config: the bundle and the kernel as modules, loopback reachable for WebSocket. */
function workerdConfig(port: number): string {
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # The default outbound network allows public addresses only; loopback (nats-server) is "private".
    (name = "internet", network = (allow = ["public", "private"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "workerd_entry.js", esModule = embed "workerd_entry.js"),
    # A compiled WebAssembly.Module for the worker: workerd forbids compiling bytes at run time.
    (name = "parti_kernel.wasm", wasm = embed "parti_kernel.wasm"),
  ],
  compatibilityDate = "${WORKERD_COMPATIBILITY_DATE}",
  globalOutbound = "internet",
);
`;
}

Deno.test({
  name:
    "deno serve with no permissions: a pool on the memory store answers which partitions a worker owns, stops on SIGTERM",
  ignore: !ENABLED,
  async fn() {
    const [port] = freePorts(1) as [number];
    await using service = new Service(Deno.execPath(), [
      "serve",
      "--no-prompt",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      `${here}/deno_serve.ts`,
    ]);
    const base = `http://127.0.0.1:${port}`;
    await service.ready(`${base}/ready`, 60_000);
    const deadline = Date.now() + 15_000;
    while (!(await getJson<{ ready: boolean }>(`${base}/ready`)).ready) {
      assert.ok(Date.now() < deadline, `a full assignment within 15 s:\n${service.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const permissions = await getJson<Record<string, string>>(`${base}/permissions`);
    for (const [name, state] of Object.entries(permissions)) {
      assert.notEqual(state, "granted", `no ${name} permission`);
    }
    const byWorker: Record<string, string[]> = {};
    for (const worker of ["worker-0", "worker-1", "worker-2"]) {
      const owner = await getJson<{ state: string; partitions: string[] }>(
        `${base}/owner?worker=${worker}`,
      );
      assert.equal(owner.state, "stable");
      byWorker[worker] = owner.partitions;
    }
    assertCoverage(byWorker, 24, 3, "deno serve pool");
    const missing = await fetch(`${base}/owner?worker=worker-9`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    assert.deepEqual(await getJson(`${base}/engine`), { backend: "wasm" });
    // SIGTERM: the program stops its managers, and the process then exits by itself.
    const { status, output } = await service.terminate(15_000);
    const line = output.split("\n").find((l) => l.startsWith("STOPPED "));
    assert.ok(line, `the pool was stopped on SIGTERM:\n${output}`);
    const stopped = JSON.parse(line.slice("STOPPED ".length));
    assert.deepEqual(stopped.states, ["shutdown", "shutdown", "shutdown"]);
    assert.deepEqual(stopped.held, [0, 0, 0]);
    assert.deepEqual(stopped.errors, []);
    assert.equal(status.code, 0, `exit status ${JSON.stringify(status)}`);
  },
});
