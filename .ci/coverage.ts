/**
 * The coverage gate of `.ci/run`: reads the coverage profile the test run wrote (`deno test
 * --coverage=DIR`), prints line coverage per directory of `src/` and in all, and fails when the
 * total is under the threshold or when a file of `src/` was never loaded by any test (such a file
 * has no profile at all, so it would otherwise be missing from the total instead of counting as
 * uncovered), or when the README's coverage badge claims more than was measured. Modules with
 * only types in them are erased at run time and skipped.
 *
 * Usage: `deno run -A .ci/coverage.ts DIR [--min 90]`
 */
const args = [...Deno.args];
const dir = args.shift();
const minAt = args.indexOf("--min");
const min = minAt >= 0 ? Number(args[minAt + 1]) : 90;
if (!dir || !Number.isFinite(min)) {
  console.error("usage: deno run -A .ci/coverage.ts DIR [--min PERCENT]");
  Deno.exit(2);
}
const root = new URL("../", import.meta.url).pathname;
const src = `${root}src/`;
/** Generated data, not code: the inlined WebAssembly bytes. */
const EXCLUDED = [/\.generated\.ts$/];

const lcovPath = await Deno.makeTempFile({ suffix: ".lcov" });
const run = await new Deno.Command(Deno.execPath(), {
  args: ["coverage", "--lcov", `--output=${lcovPath}`, `--include=^file://${src}`, dir],
  stdout: "null",
  stderr: "piped",
}).output();
const warnings = new TextDecoder().decode(run.stderr);
if (!run.success) {
  console.error(warnings);
  Deno.exit(run.code || 1);
}
/**
 * Files `deno coverage` has a profile of but cannot map back to source ("Missing transpiled source
 * code"): they were loaded, their lines just cannot be counted. Listed, not failed.
 */
const unmapped = new Set(
  [...warnings.matchAll(/Missing transpiled source code for: "file:\/\/([^"]+)"/g)].map((m) =>
    m[1]!
  ),
);

/** A module with only types in it is erased at run time: it has nothing to cover. */
const RUNTIME_CODE = /^(export\s+)?(default\s+)?(async\s+)?(function|class|const|let|var|enum)\b/m;

/** Lines found and hit per file, from the LCOV records. */
const files = new Map<string, { found: number; hit: number }>();
let current = "";
for (const line of (await Deno.readTextFile(lcovPath)).split("\n")) {
  if (line.startsWith("SF:")) current = line.slice(3);
  else if (line.startsWith("LF:")) {
    files.set(current, { found: Number(line.slice(3)), hit: files.get(current)?.hit ?? 0 });
  } else if (line.startsWith("LH:")) {
    files.set(current, { found: files.get(current)?.found ?? 0, hit: Number(line.slice(3)) });
  }
}
await Deno.remove(lcovPath);

const sources: string[] = [];
async function walk(path: string): Promise<void> {
  for await (const entry of Deno.readDir(path)) {
    const full = `${path}${entry.name}`;
    if (entry.isDirectory) await walk(`${full}/`);
    else if (entry.name.endsWith(".ts") && !EXCLUDED.some((re) => re.test(full))) {
      sources.push(full);
    }
  }
}
await walk(src);
sources.sort();

const byDir = new Map<string, { found: number; hit: number }>();
let found = 0;
let hit = 0;
const unloaded: string[] = [];
for (const file of sources) {
  const c = files.get(file);
  if (c === undefined) {
    if (unmapped.has(file)) continue;
    if (RUNTIME_CODE.test(await Deno.readTextFile(file))) unloaded.push(file.slice(root.length));
    continue;
  }
  const key = file.slice(src.length).includes("/")
    ? `src/${file.slice(src.length).split("/")[0]}/`
    : "src/";
  const d = byDir.get(key) ?? { found: 0, hit: 0 };
  d.found += c.found;
  d.hit += c.hit;
  byDir.set(key, d);
  found += c.found;
  hit += c.hit;
}
const pct = (h: number, f: number) => (f === 0 ? 100 : (100 * h) / f);
console.log("\n| lines of            | covered |  total |      % |");
console.log("| ------------------- | ------: | -----: | -----: |");
for (const [key, d] of [...byDir].sort()) {
  console.log(
    `| ${key.padEnd(19)} | ${String(d.hit).padStart(7)} | ${String(d.found).padStart(6)} | ${
      pct(d.hit, d.found).toFixed(1).padStart(6)
    } |`,
  );
}
const total = pct(hit, found);
console.log(
  `| ${"all of src/".padEnd(19)} | ${String(hit).padStart(7)} | ${String(found).padStart(6)} | ${
    total.toFixed(1).padStart(6)
  } |\n`,
);
if (unmapped.size > 0) {
  const names = [...unmapped].map((f) => f.slice(root.length)).join(", ");
  console.log(`Loaded but not countable (deno coverage lacks their transpiled source): ${names}`);
}
let failed = false;
if (unloaded.length > 0) {
  console.error(`No test loads ${unloaded.length} file(s) of src/: ${unloaded.join(", ")}`);
  failed = true;
}
if (total < min) {
  console.error(
    `Line coverage of src/ is ${total.toFixed(1)} %, under the ${min} % the gate holds`,
  );
  failed = true;
} else {
  console.log(`Line coverage of src/: ${total.toFixed(1)} % (gate: ${min} %)`);
}
// The README's coverage badge must not claim more than was measured.
const readme = await Deno.readTextFile(`${root}README.md`);
// `coverage-%E2%89%A590%25` reads "coverage ≥90%": the gate itself, true whenever CI is green.
const badge = readme.match(/badge\/coverage-(?:%E2%89%A5)?(\d+)%25/);
if (badge === null) {
  console.error("README.md has no coverage badge (img.shields.io/badge/coverage-<n>%25)");
  failed = true;
} else if (Number(badge[1]) > Math.floor(total)) {
  console.error(`README.md's badge says ${badge[1]} %, measured ${total.toFixed(1)} %: lower it`);
  failed = true;
}
if (failed) Deno.exit(1);
