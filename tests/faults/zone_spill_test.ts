/**
 * Preferred locality with spill, on real NATS with worker processes, under the ownership auditor:
 * a pool in two zones whose workers have different capacities holds 40 partitions, half preferring
 * zone "a" and half zone "b". Every zone holds its own partitions while it is up; when all of zone
 * "a" is SIGKILLed its partitions spill to zone "b" (capacity-proportionally); when zone "a" comes
 * back (new processes, same labels and instance names) they return to it. The revoke hooks take
 * 100–200 ms, so every hand-off has a gap the exclusive hand-off must cover, and the offline audit
 * of the shared ownership log must find no partition owned by two processes at once.
 */
import assert from "node:assert/strict";
import { GroupAdmin, partitionId } from "../../mod.ts";
import {
  checkOwnershipLog,
  NatsServer,
  OwnershipLog,
  readOwnershipLog,
  waitFor,
} from "../../testing/mod.ts";
import { connectTo } from "../helpers/pool.ts";
import { covered, WorkerProcess } from "../helpers/worker_process.ts";

const GROUP = "zones";
const COUNT = 40;
/** Partition `p/i` prefers zone "a" for even `i`, zone "b" for odd `i`; every weight is 1. */
const localityOf = (id: string): string => Number(id.split("/")[1]) % 2 === 0 ? "a" : "b";
const META = JSON.stringify(
  Array.from({ length: COUNT }, (_, i) => ({ weight: 1, locality: i % 2 === 0 ? "a" : "b" })),
);
const ALL = Array.from({ length: COUNT }, (_, i) => `p/${i}`);

/**
 * The pool: zone "a" has two workers of capacity 2, zone "b" one of capacity 1 and one of 3. Each
 * zone's capacity (4 of 8) is exactly its half of the weight, so with every worker up each zone's
 * partitions fit in it (shares 10, 10, 5 and 15) and none has to spill.
 */
const ZONES = [
  { instance: "a-0", zone: "a", capacity: 2 },
  { instance: "a-1", zone: "a", capacity: 2 },
  { instance: "b-0", zone: "b", capacity: 1 },
  { instance: "b-1", zone: "b", capacity: 3 },
] as const;
type Spec = (typeof ZONES)[number];

function spawn(url: string, log: string, spec: Spec): WorkerProcess {
  return WorkerProcess.spawn(url, GROUP, COUNT, [
    "--log",
    log,
    "--instance",
    spec.instance,
    "--labels",
    `zone=${spec.zone}`,
    "--capacity",
    String(spec.capacity),
    "--partition-meta",
    META,
    "--hook-delay-min-ms",
    "100",
    "--hook-delay-ms",
    "200",
  ]);
}

/** What the published assignment says: owner of each partition and each owner's zone. */
interface PublishedView {
  readonly owners: Map<string, string[]>;
  readonly zoneOf: Map<string, string | undefined>;
  readonly pending: number;
  readonly versions: Map<string, number>;
}

async function published(admin: GroupAdmin): Promise<PublishedView> {
  const topology = await admin.topology();
  const zoneOf = new Map(topology.workers.map((w) => [w.workerId, w.labels?.zone]));
  const owners = new Map<string, string[]>();
  const versions = new Map<string, number>();
  for (const [workerId, a] of await admin.assignments()) {
    versions.set(workerId, a.version);
    for (const p of a.partitions) {
      const id = partitionId(p);
      owners.set(id, [...(owners.get(id) ?? []), workerId]);
    }
  }
  return { owners, zoneOf, pending: topology.pending, versions };
}

/** Partitions held (as each live process reports) by a process outside `zoneFor(partition)`. */
function misplaced(
  live: readonly WorkerProcess[],
  zones: ReadonlyMap<WorkerProcess, string>,
  zoneFor: (partition: string) => string,
): string[] {
  return live.flatMap((w) =>
    w.partitions.filter((p) => zoneFor(p) !== zones.get(w)).map((p) => `${p}@${w.workerId}`)
  );
}

/**
 * Whether the pool is settled with every partition in the zone `zoneFor` names: every live process
 * started, one live leader, full coverage by the live processes, no hand-off pending, every live
 * worker has applied its published key, the published assignment names only live workers, and
 * both what is published (by the labels in the heartbeats) and what the processes hold put each
 * partition in its expected zone.
 */
async function settledIn(
  admin: GroupAdmin,
  live: readonly WorkerProcess[],
  zones: ReadonlyMap<WorkerProcess, string>,
  zoneFor: (partition: string) => string,
): Promise<boolean> {
  if (!live.every((w) => w.started && !w.exited)) return false;
  if (live.filter((w) => w.isLeader).length !== 1 || !covered(live, COUNT)) return false;
  if (misplaced(live, zones, zoneFor).length > 0) return false;
  const view = await published(admin);
  if (view.pending !== 0) return false;
  const liveIds = new Set(live.map((w) => w.workerId));
  for (const w of live) if (view.versions.get(w.workerId!) !== w.version) return false;
  for (const id of ALL) {
    const owners = view.owners.get(id) ?? [];
    if (owners.length !== 1 || !liveIds.has(owners[0])) return false;
    if (view.zoneOf.get(owners[0]!) !== zoneFor(id)) return false;
  }
  return view.owners.size === COUNT;
}

/** One line per live process: instance, zone, capacity, leader mark and partition count. */
function describe(live: readonly WorkerProcess[], zones: ReadonlyMap<WorkerProcess, string>) {
  return live.map((w) =>
    `${w.workerId}(${zones.get(w)}, cap ${w.capacity ?? 1}${w.isLeader ? ", leader" : ""}): ` +
    `${w.partitions.length}`
  ).join("; ");
}

Deno.test("zone partitions spill to the other zone when their zone dies and return when it is back", async () => {
  await using server = await NatsServer.start();
  const path = await Deno.makeTempFile({ prefix: "parti-zones-", suffix: ".jsonl" });
  const log = await OwnershipLog.open(path);
  const zones = new Map<WorkerProcess, string>();
  const all: WorkerProcess[] = [];
  const start = (spec: Spec) => {
    const w = spawn(server.url, path, spec);
    zones.set(w, spec.zone);
    all.push(w);
    return w;
  };
  const nc = await connectTo(server.url);
  let admin: GroupAdmin | undefined;
  let passed = false;
  try {
    let live = ZONES.map(start);
    await waitFor(() => live.every((w) => w.started), { timeoutMs: 30_000, message: "started" });
    admin = await GroupAdmin.open({ connection: nc, group: GROUP });
    const a = admin;

    // 1. Every zone holds its own partitions, in capacity-proportional shares.
    await waitFor(() => settledIn(a, live, zones, localityOf), {
      timeoutMs: 20_000,
      message: "settled with every partition in its preferred zone",
    });
    console.log(`in zone: ${describe(live, zones)}`);
    for (const w of live) {
      assert.equal(w.partitions.length, 5 * w.capacity!, `${w.workerId}'s share of capacity`);
    }
    const zoneB = live.filter((w) => zones.get(w) === "b");
    const heldByB = new Map(zoneB.map((w) => [w, [...w.partitions].sort()]));

    // 2. Zone "a" dies at once: its partitions spill to zone "b", zone b's own stay where they are.
    log.append({ type: "MARK", label: "kill zone a" });
    for (const w of live.filter((w) => zones.get(w) === "a")) {
      w.stopping = true;
      await w.kill("SIGKILL");
      log.append({ type: "KILLED", owner: String(w.pid) });
    }
    live = zoneB;
    await waitFor(() => settledIn(a, live, zones, () => "b"), {
      timeoutMs: 20_000,
      message: "every partition spilled to zone b",
    });
    console.log(`spilled: ${describe(live, zones)}`);
    for (const w of zoneB) {
      for (const p of heldByB.get(w)!) {
        assert.ok(w.partitions.includes(p), `${w.workerId} kept ${p}`);
      }
      assert.equal(w.partitions.length, 10 * w.capacity!, `${w.workerId}'s share of capacity`);
    }

    // 3. Zone "a" is back (new processes, same labels and instance names): its partitions return.
    log.append({ type: "MARK", label: "restart zone a" });
    live = [...zoneB, ...ZONES.filter((s) => s.zone === "a").map(start)];
    await waitFor(() => settledIn(a, live, zones, localityOf), {
      timeoutMs: 25_000,
      message: "zone a's partitions back in zone a",
    });
    console.log(`returned: ${describe(live, zones)}`);
    for (const w of zoneB) {
      assert.deepEqual(
        [...w.partitions].sort(),
        heldByB.get(w),
        `${w.workerId} is back to its own`,
      );
    }

    // 4. The whole run, replayed offline: never two owners at once, full coverage at the end.
    log.append({ type: "MARK", label: "done" });
    const result = checkOwnershipLog(await readOwnershipLog(path), { expectCoverage: ALL });
    console.log(
      `zone spill audit: ${JSON.stringify(result.counts)}; violations: ` +
        `${result.violations.length}`,
    );
    for (const v of result.violations.slice(0, 10)) console.log(`  ${v}`);
    assert.deepEqual(result.violations, []);
    assert.ok(result.counts.handovers >= COUNT / 2, "zone a's partitions did move");
    passed = true;
  } finally {
    if (!passed) {
      for (const w of all.filter((w) => !w.exited)) {
        console.log(`${w.workerId} (${zones.get(w)}): ${[...w.partitions].sort().join(" ")}`);
      }
      if (admin) {
        const view = await published(admin).catch(() => undefined);
        if (view) {
          console.log(
            `published (pending ${view.pending}): ` +
              JSON.stringify([...view.owners].map(([p, o]) => `${p}@${o.join("+")}`)),
          );
        }
      }
    }
    await admin?.close();
    await nc.close();
    await Promise.all(all.map((w) => w.kill("SIGKILL")));
    log.close();
    if (passed) await Deno.remove(path).catch(() => {});
    else {
      const lines = all.flatMap((w) => w.events.map((e) => JSON.stringify(e)));
      await Deno.writeTextFile(`${path}.workers.jsonl`, lines.join("\n") + "\n");
      console.log(`evidence kept: ${path} and ${path}.workers.jsonl`);
    }
  }
});
