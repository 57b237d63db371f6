/**
 * The leader's pre-write phase in isolation: the steps `Controller.#decide` runs between deciding
 * to rebalance and the first KV write, timed one by one on the real code (no server), for a cold
 * start (N members that own nothing, nothing published), a join (N published, one more member) and
 * a crash of 10 % of the workers. Each step is the same call the controller makes, with the inputs
 * the controller builds. (`plan()` indexes the holds once since issue 14; before, it was
 * O(partitions × members), see bench/README.md.)
 *
 * Run: deno run -A bench/scale_prewrite.ts [--workers 1000] [--partitions 100000] [--runs 3]
 */
import { createAssignmentEngine, weightedConsistentHash } from "../src/engine/mod.ts";
import {
  gainsNothing,
  type HoldState,
  plan,
  previousOwners,
  refreshHold,
  skipsBelowThreshold,
} from "../src/leader/handoff.ts";
import { keyChanges } from "../src/leader/publisher.ts";
import { computeTarget } from "../src/leader/target.ts";
import { placementInfo } from "../src/leader/placement_inputs.ts";
import type { MemberView } from "../src/leader/membership.ts";
import { type Partition, partitionId } from "../src/partition.ts";
import { digestIds, encode, type HeartbeatRecord } from "../src/protocol/records.ts";

const args = Deno.args;
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const N = flag("workers", 1000);
const P = flag("partitions", 100_000);
const runs = flag("runs", 3);

const engine = await createAssignmentEngine();
const strategy = weightedConsistentHash();
const template: Partition[] = Array.from({ length: P }, (_, i) => ({
  keys: ["p", String(i)],
  weight: 1 + (i % 5),
}));

interface Published {
  epoch: number;
  version: number;
  ids: ReadonlySet<string>;
  partitions: readonly Partition[];
  chunks: number;
  incarnation: string;
}

function heartbeat(owned: readonly string[], version: number): HeartbeatRecord {
  return {
    instance: "bench",
    nonce: "n",
    state: "stable",
    appliedVersion: version,
    owned: owned.length,
    ownedDigest: digestIds(owned),
    incarnation: "i",
  };
}

type Scenario =
  | "cold"
  | "join +1"
  | "crash 10 %"
  | "join +1, same leader"
  | "crash 10 %, same leader";

// Fresh objects on every run, as a new leader has: its partition list, and the published keys it
// decoded, are objects no earlier round has seen (so nothing cached per object or per list, such
// as the engine's partition IDs, carries over from the previous run). The "same leader" scenarios
// are a later round of a leader that published the list itself: its keys hold the list's own
// objects, and the engine has seen the list before.
const fresh = () => template.map((p) => ({ keys: [...p.keys], weight: p.weight! }));
let kept: Partition[] | undefined;

function inputs(scenario: Scenario) {
  const same = scenario.endsWith("same leader");
  const partitions = same ? (kept ??= fresh()) : fresh();
  const ids = Array.from({ length: N }, (_, i) => `worker-${i}`);
  const published = new Map<string, Published>();
  let memberIds = ids;
  if (scenario !== "cold") {
    const { owners } = engine.assign({ workers: ids.slice().sort(), partitions, strategy });
    const per = new Map<string, Partition[]>(ids.map((id) => [id, []]));
    const decoded = same ? partitions : fresh();
    owners.forEach((o, i) => per.get(o)!.push(decoded[i]!));
    for (const [id, list] of per) {
      published.set(id, {
        epoch: 1,
        version: 1,
        ids: new Set(list.map(partitionId)),
        partitions: list,
        chunks: 0,
        incarnation: "i",
      });
    }
    if (scenario.startsWith("join +1")) memberIds = [...ids, `worker-${N}`];
    else memberIds = ids.filter((_, i) => i % 10 !== 0);
  }
  const members: MemberView[] = memberIds.map((id) => {
    const key = published.get(id);
    const owned = key ? [...key.ids] : [];
    return { workerId: id, heartbeat: heartbeat(owned, key?.version ?? 0), observedAt: 0 };
  });
  const holds = new Map<string, HoldState>();
  for (const m of members) {
    holds.set(m.workerId, refreshHold(undefined, m.heartbeat, published.get(m.workerId)));
  }
  return { partitions, members, published, holds };
}

const time = <T>(into: Map<string, number[]>, name: string, f: () => T): T => {
  const t = performance.now();
  const out = f();
  into.set(name, [...(into.get(name) ?? []), performance.now() - t]);
  return out;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`${N} workers × ${P} partitions, engine ${engine.backend}, ${runs} runs (median ms)`);
const scenarios: Scenario[] = [
  "cold",
  "join +1",
  "crash 10 %",
  "join +1, same leader",
  "crash 10 %, same leader",
];
for (const scenario of scenarios) {
  const steps = new Map<string, number[]>();
  for (let run = 0; run < runs; run++) {
    const { partitions, members, published, holds } = inputs(scenario);
    const total = performance.now();
    const live = time(steps, "live list", () => members.map((m) => m.workerId).sort());
    const memberIds = new Set(live);
    const previous = time(steps, "previousOwners", () => previousOwners(published, memberIds));
    const info = time(steps, "placementInfo", () => placementInfo(members));
    const balance = {
      live,
      partitions,
      published,
      previous,
      threshold: 0.15,
      manual: false,
      forced: false,
      handingOff: false,
      capacity: (id: string) => info.get(id)?.capacity ?? 1,
    };
    time(steps, "skipsBelowThreshold", () => skipsBelowThreshold(balance));
    const target = time(steps, "computeTarget (engine)", () =>
      computeTarget({
        engine,
        strategy,
        live,
        partitions,
        weighted: partitions,
        previous,
        info,
        maxMoves: undefined,
        cap: undefined,
        refine: false,
      }));
    time(
      steps,
      "gainsNothing",
      () => gainsNothing({ ...balance, desired: target.desired, listChanged: false }),
    );
    const result = time(
      steps,
      "plan (hand-off)",
      () => plan({ desired: target.desired, published, members: memberIds, holds }),
    );
    const changes = time(
      steps,
      "publisher diff (keyChanges)",
      () => keyChanges(published, result.next, new Set(), new Map()),
    );
    const encodeOne = (c: { partitions: readonly Partition[] }) =>
      encode({ epoch: 1, version: 2, partitions: c.partitions });
    // The controller encodes each key as its write starts, so only the first encode comes before
    // the first write; the rest overlap the writes in flight.
    time(steps, "encode the first key (JSON)", () => changes[0] && encodeOne(changes[0]));
    steps.set("TO FIRST WRITE", [
      ...(steps.get("TO FIRST WRITE") ?? []),
      performance.now() - total,
    ]);
    time(steps, "encode the other keys (during the writes)", () => {
      for (const c of changes.slice(1)) encodeOne(c);
    });
    steps.set("WHOLE ROUND (CPU)", [
      ...(steps.get("WHOLE ROUND (CPU)") ?? []),
      performance.now() - total,
    ]);
  }
  console.log(`\n${scenario}\n| step | ms |\n| --- | ---: |`);
  for (const [name, xs] of steps) console.log(`| ${name} | ${median(xs).toFixed(1)} |`);
}
