/**
 * Hostile data written straight into a running group's KV buckets by a raw NATS KV client (not
 * through Parti): forged leases and assignments with extreme epochs and versions, junk keys and
 * values in every bucket. The pool must end with every partition owned by exactly one live manager,
 * nobody shut down, and each bad value reported through `onError` a bounded number of times.
 *
 * The rule for epochs and versions (`MAX_COUNTER` in `src/protocol/records.ts`): every epoch and
 * version a record carries (lease epoch, worker key and chunk epoch and version, `_meta` epoch and
 * version, heartbeat applied version) is an integer from 0 to 2^52. No honest count gets near 2^52
 * (one per takeover or publication), and successors up to it stay exact JSON numbers. A record
 * carrying more is malformed: every reader rejects and reports it, so no worker takes it and no
 * leader counts from it; the leader writes a key it cannot read over by compare-and-set (a fresh
 * record addressed to the worker's current incarnation), and a forged lease is taken over after a
 * lease like any foreign value. A value of exactly 2^52 has no successor: writers report it once
 * and number from the highest value below it; nothing above 2^52 is ever written. Every value
 * below the ceiling is counted, so a new epoch or version is always above what a worker holds
 * (fencing and hand-off acknowledgements stay sound), unless the worker took a key forged at or
 * just below the ceiling, which, like any well-formed forgery, can mislead it.
 */
import assert from "node:assert/strict";
import type { NatsConnection } from "@nats-io/nats-core";
import { type KV, Kvm } from "@nats-io/kv";
import { type Manager, type Partition, presets } from "../../mod.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import {
  connectTo,
  duplicates,
  fullyCovered,
  makePartitions,
  type NatsPool,
  natsPool,
  waitForSettled,
} from "../helpers/pool.ts";

const PARTITIONS = 30;
const LEASE_MS = presets.fastTest.electionLeaseMs!;
/** Most reports one manager may make of one injected value (one kind: code and message). */
const MAX_REPORTS_PER_VALUE = 3;
const enc = new TextEncoder();

/** Errors each manager reported, counted per kind (code and message). */
class ErrorLog {
  readonly #counts: Map<string, number>[];
  constructor(size: number) {
    this.#counts = Array.from({ length: size }, () => new Map());
  }
  hook(i: number): (error: Error) => void {
    return (error) => {
      const code = (error as { code?: string }).code ?? error.name;
      const kind = `${code}: ${error.message}`;
      const counts = this.#counts[i]!;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    };
  }
  /** Total number of reports matching `code` over all managers. */
  total(code?: string): number {
    let n = 0;
    for (const counts of this.#counts) {
      for (const [kind, c] of counts) if (code === undefined || kind.startsWith(`${code}:`)) n += c;
    }
    return n;
  }
  /** Whether manager `i` reported a kind with this code whose message contains `text`. */
  reported(i: number, code: string, text: string): boolean {
    return [...this.#counts[i]!.keys()].some((k) => k.startsWith(`${code}:`) && k.includes(text));
  }
  /** Kinds reported more than `max` times by one manager, with their counts. */
  over(max: number, code?: string): string[] {
    const out: string[] = [];
    this.#counts.forEach((counts, i) => {
      for (const [kind, c] of counts) {
        if ((code === undefined || kind.startsWith(`${code}:`)) && c > max) {
          out.push(`manager ${i}: ${c} × ${kind}`);
        }
      }
    });
    return out;
  }
  /** A readable summary for the test log. */
  summary(): string {
    const merged = new Map<string, number[]>();
    this.#counts.forEach((counts, i) => {
      for (const [kind, c] of counts) {
        const row = merged.get(kind) ?? this.#counts.map(() => 0);
        row[i] = c;
        merged.set(kind, row);
      }
    });
    if (merged.size === 0) return "  (no errors reported)";
    return [...merged].map(([kind, row]) => `  [${row.join(",")}] ${kind.slice(0, 200)}`).join(
      "\n",
    );
  }
}

interface Harness {
  readonly server: NatsServer;
  readonly pool: NatsPool;
  readonly managers: Manager[];
  readonly partitions: Partition[];
  readonly errors: ErrorLog;
  readonly raw: NatsConnection;
  readonly kv: { ids: KV; hb: KV; leader: KV; assign: KV };
  /** Duplicate owners seen by the 5 ms probe since the pool first settled. */
  readonly doubles: () => number;
  dispose(): Promise<void>;
}

async function startHarness(group: string): Promise<Harness> {
  const server = await NatsServer.start();
  const partitions = makePartitions(PARTITIONS);
  const errors = new ErrorLog(3);
  const pool = await natsPool(server.url, 3, (i) => ({
    group,
    source: partitions,
    hooks: { onError: errors.hook(i) },
  }));
  const { managers } = pool;
  await Promise.all(managers.map((m) => m.start()));
  await waitForSettled(managers, partitions);
  let doubles = 0;
  const probe = setInterval(() => {
    doubles += duplicates(managers.filter((m) => m.state !== "shutdown")).length;
  }, 5);
  const raw = await connectTo(server.url);
  const kvm = new Kvm(raw);
  const open = (b: string) => kvm.open(`parti_${group}_${b}`, { allow_direct: true });
  const [ids, hb, leader, assign] = await Promise.all(["ids", "hb", "leader", "assign"].map(open));
  return {
    server,
    pool,
    managers,
    partitions,
    errors,
    raw,
    kv: { ids: ids!, hb: hb!, leader: leader!, assign: assign! },
    doubles: () => doubles,
    async dispose() {
      clearInterval(probe);
      await raw.close().catch(() => {});
      await pool[Symbol.asyncDispose]();
      await server.stop();
    },
  };
}

/** Every partition owned by exactly one manager, exactly one leader, nobody shut down. */
function correct(managers: readonly Manager[], partitions: Partition[]): boolean {
  return managers.every((m) => m.state !== "shutdown") &&
    fullyCovered(managers, partitions) &&
    managers.filter((m) => m.isLeader).length === 1;
}

/**
 * Forces two publications after an injection, with all three managers kept running: a follower
 * (not in `keep`) is drained, so its partitions must move to the others, then undrained, so some
 * must come back. Each step waits (bounded) for full, exclusive coverage.
 */
async function forceRepublish(
  h: Harness,
  label: string,
  keep: readonly Manager[] = [],
): Promise<void> {
  const leader = await waitFor(() => {
    const leaders = h.managers.filter((m) => m.isLeader);
    return leaders.length === 1 ? leaders[0] : undefined;
  }, { timeoutMs: 10 * LEASE_MS, message: `${label}: one leader` });
  const victim = h.managers.find((m) => m !== leader && !keep.includes(m))!;
  assert.ok(await leader.drainWorker(victim.workerId!), "drain accepted");
  await waitFor(
    () => victim.assignment.partitions.length === 0 && correct(h.managers, h.partitions),
    { timeoutMs: 20_000, message: `${label}: coverage with ${victim.workerId} drained` },
  );
  assert.ok(await leader.undrainWorker(victim.workerId!), "undrain accepted");
  await waitFor(
    () => victim.assignment.partitions.length > 0 && correct(h.managers, h.partitions),
    { timeoutMs: 20_000, message: `${label}: coverage with ${victim.workerId} undrained` },
  );
}

/**
 * After recovery, watches the pool for three leases (an observation window, not a
 * synchronisation): it must stay correct, and the error counts must not keep growing.
 */
async function observeQuiet(h: Harness, label: string): Promise<void> {
  const before = h.errors.total();
  const end = performance.now() + 3 * LEASE_MS;
  let incorrect = 0;
  while (performance.now() < end) {
    if (!correct(h.managers, h.partitions)) incorrect++;
    await new Promise((r) => setTimeout(r, 20));
  }
  const grown = h.errors.total() - before;
  console.log(
    `[${label}] quiet window: ${grown} new error reports, ${incorrect} incorrect samples`,
  );
  assert.ok(grown <= 3, `${label}: errors keep coming after recovery (${grown} in 3 leases)`);
}

function logCase(h: Harness, label: string, recoveredMs: number): void {
  const who = h.managers.map((m, i) =>
    `${i}=${m.workerId}${m.isLeader ? "(leader)" : ""} v${m.assignment.version}`
  );
  console.log(
    `[${label}] managers ${who.join(" ")}; recovered in ${
      Math.round(recoveredMs)
    } ms; duplicate-owner samples: ${h.doubles()}` +
      `; errors per kind [manager 0,1,2]:\n${h.errors.summary()}`,
  );
}

function logFailure(h: Harness, label: string): void {
  const who = h.managers.map((m, i) =>
    `${i}=${m.workerId}/${m.state}${m.isLeader ? "(leader)" : ""}` +
    ` e${m.assignment.epoch}v${m.assignment.version} owns ${m.assignment.partitions.length}`
  );
  console.log(
    `[${label}] FAILED; managers ${who.join(" ")}; duplicate-owner samples: ${h.doubles()}` +
      `; errors per kind [manager 0,1,2]:\n${h.errors.summary()}`,
  );
}

function assertBounded(h: Harness, label: string): void {
  assert.deepEqual(
    h.errors.over(MAX_REPORTS_PER_VALUE, "MALFORMED_DATA"),
    [],
    `${label}: a malformed value was reported once per retry`,
  );
  // Other kinds (conflicts, lost leadership while re-reading) are bounded too, more loosely.
  assert.deepEqual(h.errors.over(10), [], `${label}: an error flood`);
}

// The forged lease `{ workerId: "worker-999", epoch: Number.MAX_SAFE_INTEGER }` (never renewed) is
// above 2^52: each manager reports it once as malformed and treats it as a foreign lease. After
// one lease a real manager takes it over by compare-and-set, numbered from the highest epoch known
// below the ceiling (so epoch 2 here, not 2^53, which no reader would accept), and publishes.
// (Before the rule: the term was numbered 2^53, rejected everywhere, ≈40 reports per manager in
// 20 s and no publication ever took effect.)
Deno.test({
  name: "a forged lease with epoch MAX_SAFE_INTEGER from a non-existent worker does not wedge",
  fn: async () => {
    const h = await startHarness("hostile_lease");
    const label = "case 1: forged lease epoch";
    try {
      const t0 = performance.now();
      await h.kv.leader.put(
        "leader",
        JSON.stringify({
          workerId: "worker-999",
          instance: "forged-instance",
          nonce: "forged-nonce",
          epoch: Number.MAX_SAFE_INTEGER,
          leaseMs: LEASE_MS,
        }),
      );
      // The forged lease is reported, and leadership recovers (it is never renewed, so it is
      // taken over after a lease). Both are awaited: right after the put the old leader may still
      // count itself leader, before any manager has read the forged value.
      await waitFor(() => h.errors.total("MALFORMED_DATA") > 0, {
        timeoutMs: 10 * LEASE_MS,
        message: `${label}: the forged lease is reported`,
      });
      await waitFor(() => h.managers.filter((m) => m.isLeader).length === 1, {
        timeoutMs: 10 * LEASE_MS,
        message: `${label}: a real leader`,
      });
      // And that leader can publish: a drained follower's partitions must move.
      await forceRepublish(h, label);
      logCase(h, label, performance.now() - t0);
      await observeQuiet(h, label);
      // The new term is numbered just above the honest one, far below the ceiling.
      const epochs = h.managers.map((m) => m.assignment.epoch);
      assert.ok(epochs.every((e) => e >= 2 && e < 100), `${label}: epochs ${epochs}`);
      assert.equal(h.doubles(), 0);
      assertBounded(h, label);
    } catch (error) {
      logFailure(h, label);
      throw error;
    } finally {
      await h.dispose();
    }
  },
});

// The forged key `{ epoch: <current>, version: 2**53 - 1, incarnation: <from its heartbeat>,
// partitions: <what it holds> }` is above 2^52: its worker reports it once and keeps what it
// holds (it never takes a version nobody could follow). On the next publication (here: drain a
// follower) the leader's compare-and-set on that key conflicts once (LEADERSHIP_LOST), it
// re-adopts, reports the key once, and writes it over by compare-and-set on the forged revision,
// numbered from the highest version below the ceiling, which the worker takes. (Before the rule:
// the worker took 2^53 - 1, the leader continued with 2^53, which every worker rejected, and 4 of
// 30 partitions stayed unowned.)
Deno.test({
  name: "a forged assignment with version MAX_SAFE_INTEGER for a live worker does not wedge",
  fn: async () => {
    const h = await startHarness("hostile_version");
    const label = "case 2: forged assignment version";
    try {
      const target = h.managers.find((m) => !m.isLeader)!;
      const workerId = target.workerId!;
      const hbEntry = await h.kv.hb.get(workerId);
      assert.ok(hbEntry, "target heartbeat");
      const incarnation = (hbEntry.json() as { incarnation: string }).incarnation;
      const held = target.assignment;
      const t0 = performance.now();
      // Exactly what the worker holds already (so the forgery itself creates no double owner),
      // under the current epoch and the largest safe version.
      await h.kv.assign.put(
        `w.${workerId}`,
        JSON.stringify({
          epoch: held.epoch,
          version: 2 ** 53 - 1,
          phase: "assign",
          incarnation,
          partitions: held.partitions,
        }),
      );
      const targetIndex = h.managers.indexOf(target);
      await waitFor(() => h.errors.reported(targetIndex, "MALFORMED_DATA", `w.${workerId}'`), {
        timeoutMs: 5_000,
        message: `${label}: forged key reported by its worker`,
      });
      assert.equal(target.assignment.version, held.version, `${label}: forged key not taken`);
      await forceRepublish(h, label, [target]);
      logCase(h, label, performance.now() - t0);
      await observeQuiet(h, label);
      const versions = h.managers.map((m) => m.assignment.version);
      assert.ok(versions.every((v) => v < 1_000), `${label}: versions ${versions}`);
      assert.ok(target.assignment.version > held.version, `${label}: the target took a new key`);
      assert.equal(h.doubles(), 0);
      assertBounded(h, label);
    } catch (error) {
      logFailure(h, label);
      throw error;
    } finally {
      await h.dispose();
    }
  },
});

Deno.test("junk keys and values in every bucket are reported a bounded number of times", async () => {
  const h = await startHarness("hostile_junk");
  const label = "case 3: junk keys";
  try {
    const status = await h.kv.assign.status();
    const maxValue = status.maxValueSize; // -1: unlimited
    const maxPayload = h.raw.info?.max_payload ?? 1024 * 1024;
    // A 1 MB value when the bucket allows it; the server's max_payload (1 MB by default) also
    // bounds a message, headers included, so stay a little below it.
    let bigSize = 1024 * 1024;
    if (maxValue > 0) bigSize = Math.min(bigSize, maxValue);
    bigSize = Math.min(bigSize, maxPayload - 4096);
    console.log(
      `[${label}] assign bucket max_value_size=${maxValue}, server max_payload=${maxPayload}; ` +
        `big value ${bigSize} bytes`,
    );
    const big = enc.encode(JSON.stringify({ pad: "x".repeat(bigSize - 20) }).slice(0, bigSize));
    const values: Record<string, Uint8Array> = {
      notJson: enc.encode("\u0000\u00ff not json {"),
      badUtf8: new Uint8Array([0xff, 0xfe, 0xfd]),
      array: enc.encode("[1,2,3]"),
      scalar: enc.encode("42"),
      nul: enc.encode("null"),
      wrongTypes: enc.encode(
        JSON.stringify({
          instance: 1,
          nonce: [],
          state: {},
          appliedVersion: "7",
          owned: -1,
          ownedDigest: null,
          incarnation: 3,
          workerId: 5,
          epoch: "1",
          leaseMs: 1.5,
          version: -4,
          phase: "assign",
          partitions: "all",
          workers: "everyone",
          partitionCount: "x",
        }),
      ),
      big,
    };
    const kinds = Object.keys(values);
    const names = ["garbage", "worker-abc", "worker-9999", "w.", "w.ghost", "w..x", "ctl.bogus"];
    const injected: string[] = [];
    const t0 = performance.now();
    for (const [bucket, kv] of Object.entries(h.kv)) {
      for (const [kind, value] of Object.entries(values)) {
        for (const name of names) {
          const key = `${name}.${kind}`.replace(/\.\./g, ".x.");
          await kv.put(key, value);
          injected.push(`${bucket}/${key}`);
        }
        // Keys the protocol reads, one junk value each (never a live worker's own key).
        const readKey = bucket === "assign"
          ? `w.worker-${kind}`
          : `worker-${80 + kinds.indexOf(kind)}`;
        if (bucket !== "leader") {
          await kv.put(readKey, value);
          injected.push(`${bucket}/${readKey}`);
        }
      }
    }
    // Control keys and the lease key, one junk value each.
    for (
      const [key, kind] of [["ctl.drain", "wrongTypes"], ["ctl.refresh", "notJson"], [
        "ctl.rebalance",
        "array",
      ]] as const
    ) {
      await h.kv.assign.put(key, values[kind]!);
      injected.push(`assign/${key}`);
    }
    // The lease key itself once (a foreign lease: replaced after one lease).
    await h.kv.leader.put("leader", values.wrongTypes!);
    injected.push("leader/leader");
    console.log(`[${label}] injected ${injected.length} values`);
    await waitFor(() => h.errors.total("MALFORMED_DATA") > 0, {
      timeoutMs: 10_000,
      message: `${label}: junk reported`,
    });
    // Then force publications (each leader write re-reads what is published).
    await forceRepublish(h, label);
    logCase(h, label, performance.now() - t0);
    await observeQuiet(h, label);
    assert.equal(h.doubles(), 0);
    assertBounded(h, label);
  } catch (error) {
    logFailure(h, label);
    throw error;
  } finally {
    await h.dispose();
  }
});

// `_meta` rewritten with `version: 2**53 - 1` (current epoch, otherwise unchanged) is above
// 2^52. The next publication (drain a follower) writes the worker keys, then its compare-and-set
// on `_meta` conflicts once (LEADERSHIP_LOST); the leader re-adopts, reports `_meta` once, counts
// on from the worker keys and writes `_meta` over by compare-and-set on the forged revision.
// (Before the rule: the leader continued with 2^53, every worker rejected it, and 9 of 30
// partitions stayed unowned.)
Deno.test({
  name: "a _meta record with a huge version does not wedge the pool",
  fn: async () => {
    const h = await startHarness("hostile_meta");
    const label = "case 4: huge _meta version";
    try {
      const metaEntry = await h.kv.assign.get("_meta");
      assert.ok(metaEntry, "meta exists");
      const meta = metaEntry.json() as Record<string, unknown>;
      const t0 = performance.now();
      await h.kv.assign.put(
        "_meta",
        JSON.stringify({ ...meta, version: Number.MAX_SAFE_INTEGER, at: new Date().toISOString() }),
      );
      await forceRepublish(h, label);
      logCase(h, label, performance.now() - t0);
      await observeQuiet(h, label);
      const after = (await h.kv.assign.get("_meta"))?.json() as { version: number } | undefined;
      assert.ok(after && after.version < 1_000, `${label}: _meta rewritten (${after?.version})`);
      assert.equal(h.doubles(), 0);
      assertBounded(h, label);
    } catch (error) {
      logFailure(h, label);
      throw error;
    } finally {
      await h.dispose();
    }
  },
});
