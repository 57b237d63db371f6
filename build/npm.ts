/**
 * The npm build of `@parti/core`: the same sources as the JSR package, compiled by the TypeScript
 * compiler to ESM `.js` with `.d.ts` declarations, for Node.js, Bun, workerd and bundlers.
 *
 * - Entry points: every `exports` entry of deno.json except `./testing` (Deno only: it starts
 *   processes and opens sockets with `Deno.*`), at the same subpaths in package.json.
 * - Dependencies: the npm packages the compiled sources import, at the version ranges deno.json's
 *   import map gives them.
 * - `parti_kernel.wasm` (subpath `@parti/core/kernel.wasm`): the WebAssembly kernel as a file, for
 *   runtimes that forbid compiling WebAssembly from bytes (workerd): import it as a module there and
 *   pass the `WebAssembly.Module` as the Manager's `engine` option.
 *
 * The build installs the dependencies into the output directory (`npm install`), which the
 * declarations are checked against; `--no-install` skips that (and the type check) when they are
 * already there.
 *
 * Run: deno run -A build/npm.ts [outDir] [--no-install]   (default outDir: dist/npm)
 *
 * @module
 */
import ts from "npm:typescript@5.9.3";
import { assignmentKernelBytes } from "../src/engine/mod.ts";

/** The subpaths of deno.json's exports that need Deno and are left out of the npm build. */
export const DENO_ONLY_EXPORTS: readonly string[] = ["./testing"];

/** The file name of the WebAssembly kernel in the build, and its package subpath. */
export const KERNEL_FILE = "parti_kernel.wasm";
/** The package subpath of {@link KERNEL_FILE}. */
export const KERNEL_EXPORT = "./kernel.wasm";

interface DenoJson {
  name: string;
  version: string;
  license?: string;
  exports: Record<string, string>;
  imports: Record<string, string>;
  compilerOptions?: Record<string, unknown>;
}

/** What {@link buildNpm} produced. */
export interface NpmBuild {
  /** Absolute output directory. */
  readonly outDir: string;
  /** The package.json written. */
  readonly packageJson: Record<string, unknown>;
  /** Files emitted by the compiler (relative to `outDir`). */
  readonly files: readonly string[];
}

/** Options of {@link buildNpm}. */
export interface NpmBuildOptions {
  /** Output directory (relative to the working directory or absolute). */
  readonly outDir?: string;
  /** Run `npm install` of the dependencies into `outDir` (needed for the type check). */
  readonly install?: boolean;
  /** Print progress. */
  readonly quiet?: boolean;
}

const root = new URL("..", import.meta.url);
const rootPath = decodeURIComponent(root.pathname).replace(/\/$/, "");

/** An absolute, normalized path (no `.`, `..` or trailing `/`). */
function absolute(path: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${Deno.cwd()}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** `npm:@nats-io/kv@^3.4.0` → `["@nats-io/kv", "^3.4.0"]`. */
function npmTarget(target: string): [string, string] | undefined {
  const m = /^npm:((?:@[^/@]+\/)?[^/@]+)@([^/]+)(?:\/.*)?$/.exec(target);
  return m ? [m[1]!, m[2]!] : undefined;
}

/** A relative `.ts` module specifier after `from` or in `import(…)`. */
const RELATIVE_TS = /(from\s*|import\s*\(\s*)(["'])(\.{1,2}\/[^"']*)\.ts\2/;

/** Rewrites every relative `.ts` module specifier to `.js`. */
function rewriteSpecifiers(text: string): string {
  return text.replace(new RegExp(RELATIVE_TS.source, "g"), "$1$2$3.js$2");
}

function jsPath(tsPath: string): string {
  return tsPath.replace(/\.ts$/, ".js");
}

function dtsPath(tsPath: string): string {
  return tsPath.replace(/\.ts$/, ".d.ts");
}

async function run(cmd: string, args: string[], cwd: string, quiet: boolean): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: quiet ? "piped" : "inherit",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/**
 * Removes everything in `dir` but the installed dependencies (kept to make rebuilds quick). Refuses
 * a directory that holds the sources, or anything but an earlier build of this package.
 */
async function clean(dir: string, name: string): Promise<void> {
  if (`${rootPath}/`.startsWith(`${dir}/`) || dir === "/") {
    throw new Error(`Refusing to build into ${dir}: it holds the sources`);
  }
  await Deno.mkdir(dir, { recursive: true });
  const entries = [];
  for await (const entry of Deno.readDir(dir)) entries.push(entry.name);
  if (entries.length > 0) {
    const previous = await Deno.readTextFile(`${dir}/package.json`).then(
      (text) => (JSON.parse(text) as { name?: string }).name,
      () => undefined,
    );
    if (previous !== name) {
      throw new Error(
        `Refusing to build into ${dir}: not empty and not an earlier build of ${name}`,
      );
    }
  }
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name === "node_modules" || entry.name === "package-lock.json") continue;
    await Deno.remove(`${dir}/${entry.name}`, { recursive: true });
  }
}

/**
 * Builds the npm package.
 *
 * @param options Output directory, whether to install dependencies, verbosity.
 * @returns Where it was written, the package.json and the emitted files.
 */
export async function buildNpm(options: NpmBuildOptions = {}): Promise<NpmBuild> {
  const outDir = absolute(options.outDir ?? `${rootPath}/dist/npm`);
  const install = options.install ?? true;
  const quiet = options.quiet ?? false;
  const log = (message: string) => quiet || console.log(message);
  const deno = JSON.parse(await Deno.readTextFile(`${rootPath}/deno.json`)) as DenoJson;

  const entries = Object.entries(deno.exports).filter(([sub]) => !DENO_ONLY_EXPORTS.includes(sub));
  const rootNames = entries.map(([, file]) => `${rootPath}/${file.replace(/^\.\//, "")}`);

  const compilerOptions: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2022.d.ts", "lib.esnext.disposable.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
    types: [],
    rewriteRelativeImportExtensions: true,
    allowImportingTsExtensions: true,
    declaration: true,
    sourceMap: false,
    rootDir: rootPath,
    outDir,
    skipLibCheck: true,
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noImplicitOverride: true,
    noImplicitReturns: true,
    noFallthroughCasesInSwitch: true,
    useDefineForClassFields: true,
    verbatimModuleSyntax: false,
    newLine: ts.NewLineKind.LineFeed,
    noEmitOnError: install,
  };

  // Bare specifiers resolve as the package's consumers resolve them: from outDir/node_modules.
  const host = ts.createCompilerHost(compilerOptions);
  const bareFrom = `${outDir}/index.ts`;
  const bare = new Set<string>();
  host.resolveModuleNameLiterals = (literals, containingFile, _redirect, opts) =>
    literals.map((literal) => {
      const name = literal.text;
      const isBare = !name.startsWith(".") && !name.startsWith("/") && !name.includes(":");
      if (isBare && !containingFile.includes("/node_modules/")) bare.add(name);
      const from = isBare && !containingFile.includes("/node_modules/") ? bareFrom : containingFile;
      return ts.resolveModuleName(name, from, opts, host);
    });

  // 1. Dependencies: a first pass over the sources records their bare imports (which need not
  //    resolve yet: nothing is installed on a first build).
  const scan = ts.createProgram({ rootNames, options: { ...compilerOptions, noEmit: true }, host });
  scan.getSourceFiles(); // resolution ran: `bare` is filled
  const dependencies: Record<string, string> = {};
  for (const specifier of [...bare].sort()) {
    if (specifier.startsWith("node:")) continue;
    const name = packageName(specifier);
    const target = deno.imports[specifier] ?? deno.imports[name];
    const npm = target === undefined ? undefined : npmTarget(target);
    if (npm === undefined) {
      throw new Error(`'${specifier}' is imported but deno.json maps it to no npm package`);
    }
    dependencies[npm[0]] = npm[1];
  }

  const exportsMap: Record<string, unknown> = {};
  for (const [sub, file] of entries) {
    exportsMap[sub] = { types: dtsPath(file), default: jsPath(file) };
  }
  exportsMap[KERNEL_EXPORT] = `./${KERNEL_FILE}`;
  exportsMap["./package.json"] = "./package.json";
  const packageJson: Record<string, unknown> = {
    name: deno.name,
    version: deno.version,
    description:
      "Kafka-consumer-group-style partition ownership for a pool of workers, coordinated through NATS JetStream KV",
    license: deno.license ?? "MIT",
    type: "module",
    main: jsPath(deno.exports["."]!),
    types: dtsPath(deno.exports["."]!),
    exports: exportsMap,
    engines: { node: ">=20" },
    dependencies,
  };

  log(`npm build of ${deno.name}@${deno.version} → ${outDir}`);
  await clean(outDir, deno.name);
  await Deno.writeTextFile(`${outDir}/package.json`, JSON.stringify(packageJson, null, 2) + "\n");
  await Deno.copyFile(`${rootPath}/LICENSE`, `${outDir}/LICENSE`);
  await Deno.writeTextFile(
    `${outDir}/README.md`,
    `# ${deno.name} (npm build)\n\nBuilt from the Deno sources by \`deno task build:npm\`; see the ` +
      `project README for the documentation.\n\nThe npm build has every entry point of the JSR ` +
      `package except \`${deno.name}/testing\`, which needs Deno (it starts \`nats-server\` ` +
      `processes and opens sockets through \`Deno.*\`).\n\n` +
      `\`${deno.name}${KERNEL_EXPORT.slice(1)}\` is the WebAssembly kernel as a file: on a ` +
      `runtime that forbids compiling WebAssembly from bytes (workerd), import it as a module and ` +
      `pass the \`WebAssembly.Module\` as the Manager's \`engine\` option (or ` +
      `\`createAssignmentEngine({ module })\`).\n`,
  );
  await Deno.writeFile(`${outDir}/${KERNEL_FILE}`, assignmentKernelBytes());

  // 2. Install the dependencies, so the declarations are checked against them.
  if (install) {
    log("npm install (dependencies)");
    await run(
      "npm",
      ["install", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
      outDir,
      quiet,
    );
  }

  // 3. Compile.
  const program = ts.createProgram({ rootNames, options: compilerOptions, host });
  const files: string[] = [];
  const writeFile: ts.WriteFileCallback = (fileName, text) => {
    if (!fileName.startsWith(`${outDir}/`)) throw new Error(`Refusing to write ${fileName}`);
    const dir = fileName.slice(0, fileName.lastIndexOf("/"));
    Deno.mkdirSync(dir, { recursive: true });
    // The compiler rewrites `.ts` specifiers in `.js` output only: do the same in declarations.
    Deno.writeTextFileSync(fileName, fileName.endsWith(".d.ts") ? rewriteSpecifiers(text) : text);
    files.push(fileName.slice(outDir.length + 1));
  };
  const diagnostics = [...ts.getPreEmitDiagnostics(program)];
  const emitted = program.emit(undefined, writeFile);
  diagnostics.push(...emitted.diagnostics);
  if (diagnostics.length > 0) {
    const text = ts.formatDiagnosticsWithColorAndContext(diagnostics, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => rootPath,
      getNewLine: () => "\n",
    });
    if (install) throw new Error(`The npm build does not type-check:\n${text}`);
    log(`(no dependencies installed: ${diagnostics.length} diagnostics ignored)`);
  }
  if (emitted.emitSkipped) throw new Error("The TypeScript compiler emitted nothing");

  // Every entry point is there, and no output still names a `.ts` module.
  for (const [sub, file] of entries) {
    for (const path of [jsPath(file), dtsPath(file)]) {
      await Deno.stat(`${outDir}/${path.replace(/^\.\//, "")}`).catch(() => {
        throw new Error(`Entry point ${sub}: ${path} was not emitted`);
      });
    }
  }
  for (const file of files) {
    const text = await Deno.readTextFile(`${outDir}/${file}`);
    for (const line of text.split("\n")) {
      if (/^\s*(\*|\/\/)/.test(line)) continue; // documentation
      const m = RELATIVE_TS.exec(line);
      if (m) throw new Error(`${file} still imports '${m[3]}.ts': ${line.trim()}`);
    }
  }
  log(`${files.length} files, dependencies: ${JSON.stringify(dependencies)}`);
  return { outDir, packageJson, files: files.sort() };
}

if (import.meta.main) {
  const args = Deno.args.filter((a) => !a.startsWith("--"));
  const install = !Deno.args.includes("--no-install");
  await buildNpm({ ...(args[0] ? { outDir: args[0] } : {}), install });
}
