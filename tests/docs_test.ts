/**
 * The documentation is tested like code:
 *
 * - every TypeScript code block (fenced as `ts`) of `README.md`, `CONTRIBUTING.md`, `CHANGELOG.md`
 *   and `docs/*.md` type-checks against this repository (blocks fenced as `ts ignore` are skipped). Each block is written to a temporary file with an import map
 *   that resolves `@parti/core`, `jsr:@parti/core` and their subpaths to this repository's entry
 *   points, then all of them are checked with one `deno check`;
 * - every relative link of those files points at a file that exists, and every `#anchor` at a
 *   heading of the target;
 * - every YAML file in `deploy/` parses, the Kubernetes objects have what they need (apiVersion,
 *   kind, metadata.name, spec; a StatefulSet's serviceName names a Service and its containers have
 *   a command; every PodDisruptionBudget selects the pods of a workload and every workload is
 *   covered; terminationGracePeriodSeconds is above the stop time its environment configures; the
 *   JSON in PARTI_OPTIONS is accepted by the Manager), every file a Compose service, a container
 *   or the Dockerfile runs exists, with no flag that program does not read, and the NATS config
 *   parses with `nats-server -t` when a binary is found; the worker containers' liveness and
 *   readiness probes are `httpGet` probes of the health handler's routes on the port the worker
 *   listens on, and Compose publishes the dashboard's topology page;
 * - `deploy/worker.ts` runs against a real nats-server: it starts, answers its probes, `/status`,
 *   `/metrics` and the topology page over HTTP, stops cleanly on SIGTERM (draining first when
 *   asked), and a restart with the same instance name takes the same worker ID back;
 *   `deploy/dashboard.ts` answers 503 until the group exists, then shows it.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "npm:yaml@2";
import { Manager, memoryStore, presets, type TuningOptions } from "../mod.ts";
import { findNatsServer, NatsServer, waitFor } from "../testing/mod.ts";

import { exists, path, read, ROOT } from "./helpers/repo_files.ts";

/** The Markdown files whose code blocks and links are tested. */
function markdownFiles(): string[] {
  const docs = [...Deno.readDirSync(path("docs/"))]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => `docs/${e.name}`)
    .sort();
  return ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", ...docs];
}

// -------------------------------------------------------------------------------------------------
// Code blocks

interface CodeBlock {
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly info: string;
  readonly code: string;
}

/** Fenced blocks, also when indented inside a list item (the indentation is removed). */
function codeBlocks(file: string): CodeBlock[] {
  const lines = read(file).split("\n");
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) {
      body.push(lines[j]!.slice(Math.min(indent, /^\s*/.exec(lines[j]!)![0].length)));
    }
    blocks.push({ file, line: i + 1, info: open[2]!.trim(), code: body.join("\n") });
    i = j;
  }
  return blocks;
}

/**
 * Names some README examples use without declaring them (they stand for the reader's own code),
 * and the declarations prepended when a block uses one and does not declare it itself.
 */
const STUBS: Readonly<Record<string, string>> = {
  startConsuming: `declare function startConsuming(p: import("@parti/core").Partition): void;`,
  stopConsuming:
    `declare function stopConsuming(p: import("@parti/core").Partition): Promise<void>;`,
  manager: `declare const manager: import("@parti/core").Manager;`,
  nc: `declare const nc: import("@nats-io/nats-core").NatsConnection;`,
  db: `declare const db: { write(...args: unknown[]): Promise<void> };`,
};

function stubsFor(code: string): string[] {
  return Object.entries(STUBS).filter(([name]) => {
    const used = new RegExp(`\\b${name}\\b`).test(code);
    const declared = new RegExp(`\\b(const|let|var|function|class|using)\\s+${name}\\b`)
      .test(code) || new RegExp(`import\\s*(type\\s*)?\\{[^}]*\\b${name}\\b[^}]*\\}`).test(code);
    return used && !declared;
  }).map(([, stub]) => stub);
}

/**
 * The import map of the check: this repository's own imports, its package name and subpaths
 * (with and without `jsr:`) mapped to the entry points in deno.json, and
 * `@nats-io/transport-deno`, which is published on JSR only (not reachable here), mapped to
 * `@nats-io/transport-node`, whose `connect()` takes the same options.
 */
function checkConfig(): Record<string, unknown> {
  const denoJson = JSON.parse(read("deno.json"));
  const imports: Record<string, string> = { ...denoJson.imports };
  for (const [subpath, target] of Object.entries(denoJson.exports as Record<string, string>)) {
    const name = subpath === "." ? denoJson.name : `${denoJson.name}${subpath.slice(1)}`;
    const url = new URL(target, ROOT).href;
    imports[name] = url;
    imports[`jsr:${name}`] = url;
  }
  imports["@nats-io/transport-deno"] = denoJson.imports["@nats-io/transport-node"];
  return { imports, compilerOptions: denoJson.compilerOptions };
}

Deno.test("every ts block in the Markdown docs type-checks against this repository", async () => {
  const blocks = markdownFiles().flatMap(codeBlocks);
  const checked = blocks.filter((b) => b.info === "ts" || b.info === "typescript");
  assert.ok(checked.length >= 10, `expected the docs to have ts blocks, found ${checked.length}`);
  const dir = await Deno.makeTempDir({ prefix: "parti-docs-" });
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify(checkConfig(), null, 2));
    const files: string[] = [];
    const origin = new Map<string, CodeBlock>();
    for (const [i, block] of checked.entries()) {
      const name = `${dir}/block_${String(i).padStart(2, "0")}.ts`;
      const stubs = stubsFor(block.code);
      const text = [`// ${block.file}:${block.line}`, ...stubs, block.code, "export {};", ""];
      await Deno.writeTextFile(name, text.join("\n"));
      files.push(name);
      origin.set(name, block);
    }
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-lock", "--quiet", "--config", `${dir}/deno.json`, ...files],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const output = new TextDecoder().decode(result.stderr) +
      new TextDecoder().decode(result.stdout);
    // Name the Markdown file and line of every block the checker complains about.
    const where = [...origin].filter(([name]) => output.includes(name.split("/").pop()!))
      .map(([, b]) => `${b.file}:${b.line}`);
    assert.equal(result.code, 0, `type errors in ${where.join(", ")}:\n${output}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// -------------------------------------------------------------------------------------------------
// Links

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchors(file: string): Set<string> {
  const text = read(file).replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

Deno.test("every relative link in the Markdown docs points at a file and heading that exist", () => {
  const broken: string[] = [];
  for (const file of markdownFiles()) {
    const text = read(file).replace(/```[\s\S]*?```/g, "");
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      // The repository's own pages on GitHub (the CI badge), outside the tree.
      if (target.startsWith("../../actions/")) continue;
      const [relative, anchor] = target.split("#") as [string, string | undefined];
      const resolved = relative === ""
        ? file
        : new URL(relative, new URL(file, ROOT)).pathname.slice(ROOT.pathname.length);
      if (!exists(resolved)) {
        broken.push(`${file}: ${target} (no ${resolved})`);
      } else if (anchor && resolved.endsWith(".md") && !anchors(resolved).has(anchor)) {
        broken.push(`${file}: ${target} (no heading '#${anchor}' in ${resolved})`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

// -------------------------------------------------------------------------------------------------
// Manifests

type Json = Record<string, unknown>;

/** Every YAML file below deploy/, relative to the repository root. */
function yamlFiles(dir = "deploy"): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(path(`${dir}/`))) {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory) out.push(...yamlFiles(relative));
    else if (/\.ya?ml$/.test(entry.name)) out.push(relative);
  }
  return out.sort();
}

function parseYaml(file: string): Json[] {
  const docs = parseAllDocuments(read(file));
  assert.ok(Array.isArray(docs), `${file}: not a YAML stream`);
  return docs.map((doc, i) => {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${file}: document ${i} has errors`);
    return doc.toJS() as Json;
  });
}

function kubernetesObjects(): { file: string; object: Json }[] {
  return yamlFiles("deploy/k8s").flatMap((file) =>
    parseYaml(file).filter((o) => o !== null).map((object) => ({ file, object }))
  );
}

const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v as Json | undefined)?.[k], o);

/** The pod templates of the workloads, with their labels and containers. */
function workloads(objects: { file: string; object: Json }[]) {
  return objects.filter(({ object }) =>
    ["StatefulSet", "Deployment"].includes(object.kind as string)
  )
    .map(({ file, object }) => ({
      file,
      object,
      name: get(object, "metadata", "name") as string,
      labels: (get(object, "spec", "template", "metadata", "labels") ?? {}) as Json,
      pod: get(object, "spec", "template", "spec") as Json,
      containers: (get(object, "spec", "template", "spec", "containers") ?? []) as Json[],
    }));
}

/** The `.ts` program a command runs (relative to the repository root) and the flags it passes. */
function program(command: unknown): { file: string; flags: string[] } | undefined {
  const args = Array.isArray(command) ? command.map(String) : String(command ?? "").split(/\s+/);
  const index = args.findIndex((a) => a.endsWith(".ts"));
  if (index < 0) return undefined;
  const flags = args.slice(index + 1).filter((a) => a.startsWith("--")).map((a) => a.slice(2));
  return { file: args[index]!.replace(/^\/app\//, ""), flags };
}

/** Whether a program reads a flag: `name:` in a parseArgs table or the literal `--name`. */
function readsFlag(source: string, flag: string): boolean {
  return source.includes(`"${flag}":`) || new RegExp(`\\b${flag}:\\s*\\{`).test(source) ||
    source.includes(`"--${flag}"`);
}

function checkProgram(where: string, command: unknown, problems: string[]): void {
  const run = program(command);
  if (!run) return;
  if (!exists(run.file)) {
    problems.push(`${where}: runs ${run.file}, which does not exist`);
    return;
  }
  const source = read(run.file);
  for (const flag of run.flags) {
    if (!readsFlag(source, flag)) problems.push(`${where}: ${run.file} reads no --${flag}`);
  }
}

Deno.test("every YAML file in deploy/ and every yaml block in the docs parses", () => {
  const files = yamlFiles();
  assert.ok(files.includes("deploy/compose.yaml"));
  assert.ok(files.length >= 5, `found ${files.join(", ")}`);
  for (const file of files) parseYaml(file);
  for (const block of markdownFiles().flatMap(codeBlocks)) {
    if (block.info !== "yaml") continue;
    const errors = parseAllDocuments(block.code).flatMap((d) => d.errors.map((e) => e.message));
    assert.deepEqual(errors, [], `${block.file}:${block.line}`);
  }
});

Deno.test("Compose services run programs that exist, with flags they read", () => {
  const [compose] = parseYaml("deploy/compose.yaml");
  const services = compose!.services as Record<string, Json>;
  const withCommand = Object.entries(services).filter(([, s]) => s.command !== undefined);
  assert.ok(withCommand.length >= 4, "nats and three workers have commands");
  const problems: string[] = [];
  for (const [name, service] of withCommand) {
    checkProgram(`compose service ${name}`, service.command, problems);
  }
  const workers = withCommand.filter(([, s]) =>
    (s.command as string[]).includes("run") && program(s.command)?.file.startsWith("examples/")
  );
  assert.equal(workers.length, 3, "three workers run an example");
  // The topology page: a dashboard on the workers' group, its port published.
  const [, dashboard] = withCommand.find(([, s]) =>
    program(s.command)?.file === "deploy/dashboard.ts"
  )!;
  const args = (dashboard.command as string[]).map(String);
  const flag = (name: string) => args[args.indexOf(`--${name}`) + 1];
  assert.ok(
    (dashboard.ports as string[]).some((p) => String(p).endsWith(`:${flag("port")}`)),
    "the dashboard's --port is published",
  );
  for (const [name, service] of workers) {
    const group = (service.command as string[]).includes("--group")
      ? (service.command as string[])[(service.command as string[]).indexOf("--group") + 1]
      : "graceful"; // the example's default
    assert.equal(flag("group"), group, `the dashboard shows the group ${name} is in`);
  }
  for (const [name, service] of workers) {
    assert.ok(service.stop_grace_period, `${name} sets stop_grace_period`);
    assert.ok(
      (service.depends_on as Json | undefined)?.nats,
      `${name} depends on the nats service`,
    );
  }
  assert.deepEqual(problems, []);
});

Deno.test("Kubernetes objects have apiVersion, kind, metadata.name and spec", () => {
  const objects = kubernetesObjects();
  assert.ok(objects.length >= 8);
  for (const { file, object } of objects) {
    const what = `${file}: ${object.kind ?? "?"} ${get(object, "metadata", "name") ?? "?"}`;
    assert.ok(typeof object.apiVersion === "string", `${what}: apiVersion`);
    assert.ok(typeof object.kind === "string", `${what}: kind`);
    assert.ok(typeof get(object, "metadata", "name") === "string", `${what}: metadata.name`);
    if (object.kind === "ConfigMap") assert.ok(object.data, `${what}: data`);
    else assert.ok(typeof object.spec === "object" && object.spec !== null, `${what}: spec`);
  }
});

Deno.test("workloads: serviceName, commands, selectors, grace periods and PDBs fit together", () => {
  const objects = kubernetesObjects();
  const services = new Set(
    objects.filter(({ object }) => object.kind === "Service")
      .map(({ object }) => get(object, "metadata", "name")),
  );
  const loads = workloads(objects);
  assert.deepEqual(loads.map((w) => w.object.kind).sort(), [
    "Deployment",
    "StatefulSet",
    "StatefulSet",
  ]);
  const problems: string[] = [];
  for (const w of loads) {
    const what = `${w.file}: ${w.object.kind} ${w.name}`;
    const selector = (get(w.object, "spec", "selector", "matchLabels") ?? {}) as Json;
    for (const [key, value] of Object.entries(selector)) {
      if (w.labels[key] !== value) problems.push(`${what}: selector ${key} not on its pods`);
    }
    if (typeof w.pod.terminationGracePeriodSeconds !== "number") {
      problems.push(`${what}: no terminationGracePeriodSeconds`);
    }
    if (w.object.kind === "StatefulSet") {
      const serviceName = get(w.object, "spec", "serviceName");
      if (typeof serviceName !== "string") problems.push(`${what}: no serviceName`);
      else if (!services.has(serviceName)) problems.push(`${what}: no Service '${serviceName}'`);
    }
    for (const c of w.containers) {
      const command = [...((c.command ?? []) as string[]), ...((c.args ?? []) as string[])];
      if (w.object.kind === "StatefulSet" && command.length === 0) {
        problems.push(`${what}: container ${c.name} has no command`);
      }
      checkProgram(`${what} container ${c.name}`, command, problems);
    }
  }
  const pdbs = objects.filter(({ object }) => object.kind === "PodDisruptionBudget");
  assert.ok(pdbs.length >= 3, "a PDB for each worker set and for NATS");
  const matches = (selector: Json, labels: Json) =>
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels[k] === v);
  for (const { file, object } of pdbs) {
    const selector = (get(object, "spec", "selector", "matchLabels") ?? {}) as Json;
    if (!loads.some((w) => matches(selector, w.labels))) {
      problems.push(`${file}: PDB ${get(object, "metadata", "name")} selects no workload's pods`);
    }
  }
  for (const w of loads) {
    const covered = pdbs.some(({ object }) =>
      matches((get(object, "spec", "selector", "matchLabels") ?? {}) as Json, w.labels)
    );
    if (!covered) problems.push(`${w.file}: ${w.name} has no PodDisruptionBudget`);
  }
  assert.deepEqual(problems, []);
});

Deno.test("worker manifests: PARTI_OPTIONS is valid and the grace period covers the stop", () => {
  const loads = workloads(kubernetesObjects()).filter((w) =>
    w.containers.some((c) => program(c.command)?.file === "deploy/worker.ts")
  );
  assert.equal(loads.length, 2, "the StatefulSet and the Deployment run deploy/worker.ts");
  const worker = read("deploy/worker.ts");
  for (const w of loads) {
    const container = w.containers.find((c) => program(c.command)?.file === "deploy/worker.ts")!;
    const env = new Map(
      ((container.env ?? []) as Json[]).map((e) => [e.name as string, e.value as string]),
    );
    for (const name of env.keys()) {
      assert.ok(worker.includes(`"${name}"`), `${w.name}: deploy/worker.ts reads no ${name}`);
    }
    const options = JSON.parse(env.get("PARTI_OPTIONS") ?? "{}") as TuningOptions;
    // As deploy/worker.ts builds it: the constructor validates every option.
    new Manager({
      ...presets.production,
      startupTimeoutMs: 120_000,
      ...options,
      store: memoryStore(),
      group: env.get("PARTI_GROUP") ?? "orders",
      source: [],
    });
    const shutdownMs = options.shutdownTimeoutMs ?? presets.production.shutdownTimeoutMs ?? 10_000;
    const drainMs = env.get("PARTI_DRAIN_ON_STOP") === "true"
      ? Number(env.get("PARTI_DRAIN_TIMEOUT_MS") ?? 30_000)
      : 0;
    const graceMs = (w.pod.terminationGracePeriodSeconds as number) * 1000;
    assert.ok(
      graceMs > shutdownMs + drainMs,
      `${w.name}: terminationGracePeriodSeconds ${
        graceMs / 1000
      } s must exceed drain ${drainMs} ms + shutdownTimeoutMs ${shutdownMs} ms`,
    );
    // The probes ask the health handler deploy/worker.ts serves on PORT (8080 by default).
    assert.ok(worker.includes('number("PORT", "8080"'), "deploy/worker.ts listens on PORT");
    const port = Number(env.get("PORT") ?? 8080);
    const ports = (container.ports ?? []) as Json[];
    for (const [kind, path] of [["livenessProbe", "/livez"], ["readinessProbe", "/readyz"]]) {
      const probe = get(container, kind!) as Json | undefined;
      assert.ok(probe, `${w.name}: a ${kind}`);
      assert.equal(probe.exec, undefined, `${w.name}: ${kind} is not an exec probe`);
      assert.equal(get(probe, "httpGet", "path"), path, `${w.name}: ${kind} asks ${path}`);
      const named = get(probe, "httpGet", "port");
      const target = typeof named === "number"
        ? named
        : ports.find((p) => p.name === named)?.containerPort;
      assert.equal(target, port, `${w.name}: ${kind} asks the port the worker listens on`);
    }
    const pdbLabels = w.labels["app.kubernetes.io/name"];
    assert.ok(pdbLabels, `${w.name}: pods carry app.kubernetes.io/name`);
  }
  // The StatefulSet passes the pod name as the instance; the Deployment passes none.
  const byKind = new Map(loads.map((w) => [w.object.kind as string, w]));
  const instanceEnv = (kind: string) =>
    ((byKind.get(kind)!.containers[0]!.env ?? []) as Json[]).find((e) =>
      e.name === "PARTI_INSTANCE"
    );
  assert.equal(
    get(instanceEnv("StatefulSet"), "valueFrom", "fieldRef", "fieldPath"),
    "metadata.name",
  );
  assert.equal(instanceEnv("Deployment"), undefined);
});

Deno.test("the Dockerfile runs and caches a program that exists", () => {
  const dockerfile = read("deploy/Dockerfile");
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(dockerfile);
  assert.ok(cmd, "a CMD in exec form");
  const problems: string[] = [];
  checkProgram("deploy/Dockerfile CMD", JSON.parse(cmd[1]!), problems);
  for (const match of dockerfile.matchAll(/--entrypoint\s+(\S+)/g)) {
    if (!exists(match[1]!)) {
      problems.push(`deploy/Dockerfile caches ${match[1]}, which does not exist`);
    }
  }
  assert.match(
    dockerfile,
    /^WORKDIR \/app$/m,
    "the repository is at /app, as the manifests expect",
  );
  assert.deepEqual(problems, []);
});

Deno.test("the NATS config is the one docs/deployment.md shows, and nats-server accepts it", async () => {
  const configMap = kubernetesObjects().find(({ object }) => object.kind === "ConfigMap")!;
  const config = (configMap.object.data as Record<string, string>)["nats.conf"]!;
  const shown = codeBlocks("docs/deployment.md").find((b) => b.code.includes("server_name:"));
  assert.ok(shown, "docs/deployment.md shows the cluster config");
  assert.equal(shown.code.trim(), config.trim());
  const binary = findNatsServer();
  if (!binary) {
    console.log("no nats-server binary: skipping `nats-server -t`");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "parti-nats-conf-" });
  try {
    await Deno.writeTextFile(`${dir}/nats.conf`, config);
    const result = await new Deno.Command(binary, {
      args: ["-t", "-c", `${dir}/nats.conf`],
      env: { POD_NAME: "nats-0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(result.stderr) +
      new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 0, output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// -------------------------------------------------------------------------------------------------
// deploy/worker.ts and deploy/dashboard.ts on a real server

/** One `deploy/` program's process and the JSON lines it printed. */
class ProgramRun {
  readonly events: Json[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #read: Promise<void>;

  constructor(program: string, args: string[], env: Record<string, string>) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path(program), ...args],
      env: { ...env, PARTI_LOG_LEVEL: "warn", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const stdout = this.#child.stdout;
    this.#read = (async () => {
      let rest = "";
      for await (const chunk of stdout.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith("{")) this.events.push(JSON.parse(line));
        }
      }
    })();
  }

  event(name: string): Json | undefined {
    return this.events.find((e) => e.event === name);
  }

  /** Where its health handler listens, once it printed its `listening` line. */
  async origin(): Promise<string> {
    const listening = await waitFor(() => this.event("listening"), {
      timeoutMs: 30_000,
      message: "a listening line",
    });
    return `http://127.0.0.1:${listening.port}`;
  }

  async terminate(): Promise<number> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const { code } = await this.#child.status;
    await this.#read;
    return code;
  }
}

/** GETs a path: its status and body. */
async function fetchText(url: string): Promise<{ status: number; type: string; body: string }> {
  const response = await fetch(url);
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    body: await response.text(),
  };
}

Deno.test("deploy/worker.ts starts, serves its probes, metrics and topology page, stops on SIGTERM and keeps its ID by instance", async () => {
  // `deno task check` does not cover deploy/, and `deno run` does not type-check.
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", path("deploy/worker.ts"), path("deploy/dashboard.ts")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
  await using server = await NatsServer.start();
  const runs: ProgramRun[] = [];
  const env = (extra: Record<string, string> = {}) => ({
    NATS_URL: server.url,
    PARTI_GROUP: "deploy",
    PARTI_PARTITIONS: "12",
    PARTI_OPTIONS: JSON.stringify(presets.fastTest),
    PORT: "0",
    ...extra,
  });
  const start = async (name: string, extra: Record<string, string> = {}) => {
    const run = new ProgramRun("deploy/worker.ts", [], env(extra));
    runs.push(run);
    await waitFor(() => run.event("started") ?? run.event("failed"), {
      timeoutMs: 30_000,
      message: `${name} started`,
    });
    assert.ok(run.event("started"), JSON.stringify(run.events));
    return run;
  };
  try {
    const a = await start("a", { PARTI_INSTANCE: "parti-worker-0" });
    const b = await start("b", { PARTI_DRAIN_ON_STOP: "true", PARTI_DRAIN_TIMEOUT_MS: "10000" });
    const idOfA = a.event("started")!.workerId;
    const origin = await a.origin();
    assert.deepEqual(await fetchText(`${origin}/livez`), {
      status: 200,
      type: "text/plain; charset=utf-8",
      body: "live\n",
    });
    assert.equal((await fetchText(`${origin}/readyz`)).status, 200);
    const status = JSON.parse((await fetchText(`${origin}/status`)).body);
    assert.equal(status.workerId, idOfA);
    assert.match((await fetchText(`${origin}/metrics`)).body, /^parti_state\{/m);
    const page = await fetchText(`${origin}/`);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    await waitFor(async () => {
      const t = JSON.parse((await fetchText(`${origin}/topology.json`)).body);
      return t.cells.length === 12 && t.workers.length === 2;
    }, { timeoutMs: 10_000, message: "the page's data shows both workers and every partition" });

    // SIGTERM with a drain first: the partitions are handed over, then the worker stops.
    assert.equal(await b.terminate(), 0);
    assert.ok(b.event("drained"), JSON.stringify(b.events));
    assert.ok(b.event("stopped"));

    // A plain SIGTERM, and a restart under the same instance name: the same worker ID.
    assert.equal(await a.terminate(), 0);
    assert.ok(a.event("stopped"));
    const again = await start("a", { PARTI_INSTANCE: "parti-worker-0" });
    assert.equal(again.event("started")!.workerId, idOfA);
    assert.equal(await again.terminate(), 0);
  } finally {
    await Promise.all(runs.map((r) => r.terminate()));
  }
});

Deno.test("deploy/dashboard.ts answers 503 until the group exists, then serves its topology page", async () => {
  await using server = await NatsServer.start();
  const dashboard = new ProgramRun(
    "deploy/dashboard.ts",
    ["--nats", server.url, "--group", "shown", "--port", "0"],
    {},
  );
  let worker: ProgramRun | undefined;
  try {
    const origin = await dashboard.origin();
    await waitFor(() => dashboard.event("waiting"), { timeoutMs: 10_000, message: "waiting" });
    const before = await fetchText(`${origin}/readyz`);
    assert.equal(before.status, 503);
    assert.match(before.body, /waiting for group 'shown'/);
    worker = new ProgramRun("deploy/worker.ts", [], {
      NATS_URL: server.url,
      PARTI_GROUP: "shown",
      PARTI_PARTITIONS: "6",
      PARTI_OPTIONS: JSON.stringify(presets.fastTest),
      PORT: "0",
    });
    await waitFor(() => dashboard.event("serving"), { timeoutMs: 30_000, message: "serving" });
    const workerId = (await waitFor(() => worker!.event("started"), { timeoutMs: 30_000 }))
      .workerId;
    await waitFor(async () => {
      const t = JSON.parse((await fetchText(`${origin}/topology.json`)).body);
      return t.view === "admin" && t.cells.length === 6 &&
        t.cells.every((c: { owner: string }) => c.owner === workerId);
    }, { timeoutMs: 10_000, message: "the dashboard shows the worker owning every partition" });
    assert.equal((await fetchText(`${origin}/readyz`)).status, 200);
    assert.match((await fetchText(`${origin}/`)).body, /<title>Parti topology: shown<\/title>/);
    assert.equal(await dashboard.terminate(), 0);
    assert.ok(dashboard.event("stopped"));
  } finally {
    await dashboard.terminate();
    await worker?.terminate();
  }
});
