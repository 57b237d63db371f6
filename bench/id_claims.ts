/**
 * Worker-ID claims at a concurrent start (issue 14): N claimants call `StableId.claim()` at once
 * on one memory-store bucket; prints the KV creates they make in all (the old walk from the lowest
 * ID cost N(N + 1)/2) and the highest ID won (compactness). The memory store answers every create
 * in turn, so this counts work, not time.
 *
 * Run: `deno run -A bench/id_claims.ts [--sizes 100,500,1000] [--runs 2]`
 *
 * @module
 */
import { memoryStore } from "../src/store/memory.ts";
import { StableId } from "../src/worker/stable_id.ts";
import { forwarding } from "../tests/helpers/forwarding_bucket.ts";

function arg(name: string, fallback: string): string {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 && Deno.args[at + 1] !== undefined ? Deno.args[at + 1]! : fallback;
}

const sizes = arg("sizes", "100,500,1000").split(",").map(Number);
const runs = Number(arg("runs", "2"));

console.log("| claimants | run | creates | walk from the lowest ID | highest ID |");
console.log("|--:|--:|--:|--:|--:|");
for (const n of sizes) {
  for (let run = 1; run <= runs; run++) {
    const inner = await memoryStore().bucket("ids", { ttlMs: 0 });
    let creates = 0;
    const bucket = forwarding(inner, {
      create: (k, v) => {
        creates++;
        return inner.create(k, v);
      },
    });
    const won = await Promise.all(Array.from({ length: n }, (_, i) =>
      new StableId(bucket, {
        prefix: "worker",
        min: 0,
        max: 9_999,
        claim: { instance: `host-${i}`, nonce: `nonce-${i}` },
        stableInstance: false,
        onError: () => {},
      }).claim()));
    const highest = Math.max(...won.map((id) => Number(id.slice("worker-".length))));
    console.log(`| ${n} | ${run} | ${creates} | ${n * (n + 1) / 2} | ${highest} |`);
  }
}
