/**
 * A pool of audited worker processes for the fault tests of gray failures, clock skew, error
 * floods and clusters: every worker appends to one O_APPEND ownership log, the harness marks the
 * phases in it, reads what the leader published straight from the buckets (never through a
 * faulty proxy) and counts, per phase, what would show flapping: publications, leadership terms,
 * self-fences, degraded entries and reported errors. The audit replays the log offline; on a
 * violation (or with `PARTI_AUDIT_KEEP=1`) the log and every worker's reports stay on disk.
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { recommendedConnectionOptions } from "../../mod.ts";
import {
  checkOwnershipLog,
  type OwnershipEvent,
  OwnershipLog,
  readOwnershipLog,
} from "../../testing/mod.ts";
import { covered, WorkerProcess } from "./worker_process.ts";

/** What was published last: the `_meta` summary of the assignment bucket. */
export interface Published {
  readonly epoch: number;
  readonly version: number;
}

/** Counts of one phase of a run (between two {@link AuditedPool.snapshot}s). */
export interface PhaseCounts {
  /** Publications (versions written to `_meta`). */
  readonly publications: number;
  /** New leadership terms (`LEADER_START` in the log). */
  readonly leaderStarts: number;
  /** Self-fences: `onAssignmentChanged` with reason `"fenced"`, per worker ID. */
  readonly fences: Readonly<Record<string, number>>;
  /** Entries into the `degraded` state, per worker ID. */
  readonly degraded: Readonly<Record<string, number>>;
  /** `onError` reports, per worker ID. */
  readonly errors: Readonly<Record<string, number>>;
  /** `onError` reports by worker ID, then by `code` (or error name). */
  readonly errorsByCause: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Partitions released by a worker (RELEASE in the log), per worker ID. */
  readonly releases: Readonly<Record<string, number>>;
  /** How long the phase lasted, in ms. */
  readonly ms: number;
}

/** A point of a run that {@link AuditedPool.counts} measures from. */
export interface Snapshot {
  readonly at: number;
  readonly label: string;
  readonly published: Published;
  readonly events: ReadonlyMap<WorkerProcess, number>;
}

/** Options of {@link AuditedPool.open}. */
export interface AuditedPoolOptions {
  /** Group name (also the prefix of the temp files). */
  readonly group: string;
  /** Number of partitions. */
  readonly count: number;
  /** Where the harness reads the buckets from: a direct URL, or a cluster's URLs. */
  readonly probeServers: string | readonly string[];
  /** Seed of the hook delays (worker i uses seed + i); random when absent. */
  readonly seed?: number;
}

/** Options of {@link AuditedPool.spawn}. */
export interface SpawnOptions {
  /** The URL(s) the worker connects to. */
  readonly url: string | readonly string[];
  /** Extra fixture arguments (timing, hook delays, ...). */
  readonly args?: readonly string[];
  /** Extra environment (e.g. libfaketime's). */
  readonly env?: Readonly<Record<string, string>>;
  /** Instance name; `<group>-<n>` when absent. */
  readonly instance?: string;
}

/** See the module doc. */
export class AuditedPool implements AsyncDisposable {
  readonly group: string;
  readonly count: number;
  readonly path: string;
  readonly seed: number;
  readonly log: OwnershipLog;
  readonly probe: NatsConnection;
  readonly workers: WorkerProcess[] = [];
  /** Set once the run passed: the log is removed on disposal. */
  passed = false;
  #assign: Promise<KV> | undefined;
  #spawned = 0;

  private constructor(
    options: AuditedPoolOptions,
    path: string,
    log: OwnershipLog,
    probe: NatsConnection,
    seed: number,
  ) {
    this.group = options.group;
    this.count = options.count;
    this.path = path;
    this.log = log;
    this.probe = probe;
    this.seed = seed;
  }

  /** Opens the log and the harness's own connection. */
  static async open(options: AuditedPoolOptions): Promise<AuditedPool> {
    const seed = options.seed ?? Math.floor(Math.random() * 1e6);
    const path = await Deno.makeTempFile({ prefix: `parti-${options.group}-`, suffix: ".jsonl" });
    const log = await OwnershipLog.open(path);
    const servers = typeof options.probeServers === "string"
      ? options.probeServers
      : [...options.probeServers];
    const probe = await connect({ servers, ...recommendedConnectionOptions });
    console.log(`${options.group}: seed ${seed}, log ${path}`);
    return new AuditedPool(options, path, log, probe, seed);
  }

  /** Partition IDs `p/0..p/<count-1>`. */
  get ids(): string[] {
    return Array.from({ length: this.count }, (_, i) => `p/${i}`);
  }

  /** Live workers (not exited). */
  get live(): WorkerProcess[] {
    return this.workers.filter((w) => !w.exited);
  }

  /** Spawns one fixture process that appends to the shared log. */
  spawn(options: SpawnOptions): WorkerProcess {
    const n = this.#spawned++;
    const url = typeof options.url === "string" ? options.url : options.url.join(",");
    const worker = WorkerProcess.spawn(url, this.group, this.count, [
      "--log",
      this.path,
      "--instance",
      options.instance ?? `${this.group}-${n}`,
      "--seed",
      String(this.seed + n),
      ...(options.args ?? []),
    ], options.env ? { env: options.env } : {});
    this.workers.push(worker);
    return worker;
  }

  /** Appends a MARK to the log. */
  mark(label: string): void {
    this.log.append({ type: "MARK", label });
  }

  /** Every partition owned once by a live worker, one leader, every live worker stable. */
  settled(): boolean {
    const live = this.live;
    return covered(live, this.count) && live.filter((w) => w.isLeader).length === 1 &&
      live.every((w) => w.state === "stable");
  }

  /** The leader among the live workers, if exactly one reports leading. */
  get leader(): WorkerProcess | undefined {
    const leaders = this.live.filter((w) => w.isLeader);
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  /** The `_meta` summary, read straight from the server (0/0 before the first publication). */
  async published(): Promise<Published> {
    this.#assign ??= new Kvm(jetstream(this.probe, { timeout: 2_000 })).open(
      `parti_${this.group}_assign`,
    );
    const entry = await (await this.#assign).get("_meta");
    if (!entry || entry.operation !== "PUT") return { epoch: 0, version: 0 };
    const meta = entry.json<{ epoch: number; version: number }>();
    return { epoch: meta.epoch, version: meta.version };
  }

  /** Marks the log and remembers where every worker's reports stand. */
  async snapshot(label: string): Promise<Snapshot> {
    this.mark(label);
    return {
      at: performance.now(),
      label,
      published: await this.published(),
      events: new Map(this.workers.map((w) => [w, w.events.length])),
    };
  }

  /** What happened between `from` and now (and `to`, when given, as the end mark). */
  async counts(from: Snapshot): Promise<PhaseCounts> {
    const published = await this.published();
    const log = await readOwnershipLog(this.path);
    const start = log.findIndex((e) => e.type === "MARK" && e.label === from.label);
    assert.ok(start >= 0, `mark '${from.label}' is in the log`);
    const phase = log.slice(start + 1);
    const fences: Record<string, number> = {};
    const degraded: Record<string, number> = {};
    const errors: Record<string, number> = {};
    const errorsByCause: Record<string, Record<string, number>> = {};
    const releases: Record<string, number> = {};
    for (const w of this.workers) {
      const id = w.workerId ?? `pid ${w.pid}`;
      const events = w.events.slice(from.events.get(w) ?? 0);
      fences[id] = (fences[id] ?? 0) +
        events.filter((e) => e.event === "assignment" && e.reason === "fenced").length;
      degraded[id] = (degraded[id] ?? 0) +
        events.filter((e) => e.event === "state" && e.state === "degraded").length;
      const errs = events.filter((e) => e.event === "error");
      errors[id] = (errors[id] ?? 0) + errs.length;
      const byCause = errorsByCause[id] ??= {};
      for (const e of errs) {
        const cause = String(e.code ?? e.name ?? "Error");
        byCause[cause] = (byCause[cause] ?? 0) + 1;
      }
    }
    for (const e of phase) {
      if (e.type === "RELEASE") releases[e.workerId] = (releases[e.workerId] ?? 0) + 1;
    }
    return {
      // Versions increase by one per publication, across terms too.
      publications: published.version - from.published.version,
      leaderStarts: phase.filter((e) => e.type === "LEADER_START").length,
      fences,
      degraded,
      errors,
      errorsByCause,
      releases,
      ms: performance.now() - from.at,
    };
  }

  /**
   * Replays the log and asserts no violation (I1-I3) and, with `coverage`, full coverage at its
   * end. On a violation the partition's recent history is printed and the evidence is kept.
   */
  async audit(label: string, coverage = true): Promise<OwnershipEvent[]> {
    const events = await readOwnershipLog(this.path);
    const result = checkOwnershipLog(events, coverage ? { expectCoverage: this.ids } : {});
    console.log(
      `${label}: ${JSON.stringify(result.counts)}; violations: ${result.violations.length}`,
    );
    for (const v of result.violations.slice(0, 5)) {
      console.log(`  ${v}`);
      const match = /^event (\d+): .* acquired (\S+) while/.exec(v);
      if (!match) continue;
      const [, at, partition] = match;
      const history = events.slice(0, Number(at)).flatMap((e, i) =>
        e.type === "MARK" || ("partition" in e && e.partition === partition)
          ? [`    #${i + 1} ${JSON.stringify(e)}`]
          : []
      );
      console.log(history.slice(-8).join("\n"));
    }
    if (result.violations.length > 0) await this.keepEvidence();
    assert.deepEqual(result.violations, []);
    return events;
  }

  /** Writes every worker's reports next to the log and keeps both. */
  async keepEvidence(): Promise<void> {
    this.passed = false;
    const reports = `${this.path}.workers.jsonl`;
    await Deno.writeTextFile(
      reports,
      this.workers.flatMap((w) => w.events.map((e) => JSON.stringify({ ...e, pid: w.pid })))
        .join("\n") + "\n",
    );
    console.log(`evidence kept: ${this.path} and ${reports}`);
  }

  /** SIGKILLs every worker (recording KILLED), closes the log and the probe. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.kill("SIGKILL")));
    await this.probe.close().catch(() => {});
    this.log.close();
    if (this.passed && !Deno.env.get("PARTI_AUDIT_KEEP")) {
      await Deno.remove(this.path).catch(() => {});
    } else if (!this.passed) {
      await this.keepEvidence();
    }
  }

  /** Same as {@link AuditedPool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** SIGKILLs one worker and records KILLED once it has exited. */
  async kill(worker: WorkerProcess): Promise<void> {
    worker.stopping = true;
    await worker.kill("SIGKILL");
    this.log.append({ type: "KILLED", owner: String(worker.pid) });
  }
}

/** Formats counts per worker as `worker-0:1 worker-1:0`. */
export function perWorker(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts).map(([k, v]) => `${k}:${v}`).join(" ") || "-";
}

/** The sum of a per-worker count. */
export function total(counts: Readonly<Record<string, number>>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
