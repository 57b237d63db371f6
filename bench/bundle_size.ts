/**
 * Bundle sizes of what three kinds of users import, minified, with code splitting (what a bundler
 * ships up front; code behind a dynamic import is counted separately): the engine alone, a Manager
 * on the memory store, and a Manager on NATS. Uses `deno bundle` (esbuild inside).
 *
 * Run: deno run -A bench/bundle_size.ts
 */
const root = new URL("..", import.meta.url);
const cases: Record<string, string> = {
  "engine only (@parti/core/engine)":
    `import { createAssignmentEngine } from "${root}src/engine/mod.ts"; console.log(createAssignmentEngine);`,
  "Manager + memoryStore (@parti/core)":
    `import { Manager, memoryStore } from "${root}mod.ts"; console.log(Manager, memoryStore);`,
  "Manager + natsKvStore (@parti/core, @parti/core/nats)":
    `import { Manager } from "${root}mod.ts"; import { natsKvStore } from "${root}src/store/nats_kv/mod.ts"; console.log(Manager, natsKvStore);`,
};
const work = await Deno.makeTempDir({ prefix: "parti-bundle-" });
try {
  console.log("| what is imported | loaded up front | behind a dynamic import |");
  console.log("| --- | ---: | ---: |");
  for (const [name, source] of Object.entries(cases)) {
    const dir = `${work}/${Object.keys(cases).indexOf(name)}`;
    await Deno.mkdir(`${dir}/out`, { recursive: true });
    await Deno.writeTextFile(`${dir}/entry.ts`, source);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--minify",
        "--code-splitting",
        "--config",
        new URL("deno.json", root).pathname,
        "--outdir",
        `${dir}/out`,
        `${dir}/entry.ts`,
      ],
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    // Files reachable from the entry through static imports are "up front"; the rest is lazy.
    const files = new Map<string, string>();
    for await (const f of Deno.readDir(`${dir}/out`)) {
      files.set(f.name, await Deno.readTextFile(`${dir}/out/${f.name}`));
    }
    const eager = new Set<string>();
    const visit = (file: string) => {
      if (eager.has(file)) return;
      eager.add(file);
      for (const m of files.get(file)!.matchAll(/(?:import|export)[^"();]*?from"\.\/([^"]+)"/g)) {
        if (files.has(m[1]!)) visit(m[1]!);
      }
      for (const m of files.get(file)!.matchAll(/import"\.\/([^"]+)"/g)) {
        if (files.has(m[1]!)) visit(m[1]!);
      }
    };
    visit("entry.js");
    let upFront = 0;
    let lazy = 0;
    for (const [file, text] of files) {
      const size = new TextEncoder().encode(text).length;
      if (eager.has(file)) upFront += size;
      else lazy += size;
    }
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
    console.log(`| ${name} | ${kb(upFront)} | ${lazy ? kb(lazy) : "—"} |`);
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
