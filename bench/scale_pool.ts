/**
 * Shared parts of the scale benchmarks: one nats-server with its monitoring port, worker
 * processes (`bench/scale_worker.ts`, several Managers each) followed through their JSON lines,
 * the coverage check (every partition owned by exactly one live worker, from the published
 * assignment and from the workers' own reports), the server's counters, and clean-up of every
 * process on exit, error or Ctrl-C.
 *
 * @module
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm } from "@nats-io/kv";
import { NatsServer } from "../testing/mod.ts";
import { freePorts } from "../testing/free_port.ts";
import { bucketNames } from "../src/protocol/keys.ts";
import {
  decodeChunk,
  decodeMeta,
  decodeWorkerAssignment,
  digestIds,
} from "../src/protocol/records.ts";
import { partitionId } from "../src/partition.ts";
import type { WorkerConfig } from "./scale_worker.ts";

const WORKER = new URL("./scale_worker.ts", import.meta.url).pathname;

/** What the leader of a process reported about one publication (ms from the decision). */
export interface PubReport {
  readonly t: number;
  readonly w: string;
  readonly preDecideMs: number;
  readonly firstWriteMs: number | null;
  readonly lastWriteMs: number | null;
  readonly endMs: number;
  readonly writes: number;
  readonly phase?: string;
  readonly moved?: number;
  readonly pending?: number;
  readonly workers?: number;
  readonly partitions?: number;
}

/** The latest report of one manager. */
export interface WorkerView {
  v: number;
  ep: number;
  n: number;
  d: string | undefined;
  state: string;
  leader: boolean;
  /** Time of its latest assignment or state report (Date.now()). */
  at: number;
  proc: WorkerProc;
}

/** One worker process. */
export class WorkerProc {
  readonly child: Deno.ChildProcess;
  readonly config: WorkerConfig;
  readonly workers = new Map<string, WorkerView>();
  readonly pubs: PubReport[] = [];
  readonly published: Record<string, unknown>[] = [];
  readonly errors = new Map<string, number>();
  /** Leadership changes of its managers. */
  readonly leadership: { t: number; w: string; leader: boolean; epoch: number }[] = [];
  mem: { rss: number; heap: number; managers: number; t: number } | undefined;
  /** RSS and heap of the process before its first connection and Manager (from `ready`). */
  base: { rss: number; heap: number } | undefined;
  readonly memSamples: { rss: number; heap: number; t: number }[] = [];
  exited = false;
  killed = false;
  stopped = false;
  readonly ready: Promise<void>;
  readonly done: Promise<void>;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #onReady!: () => void;
  /** Called with every parsed line (after the built-in handling). */
  onEvent: ((event: Record<string, unknown>, proc: WorkerProc) => void) | undefined;

  constructor(config: WorkerConfig, options: { v8Flags?: string[]; cpuProfDir?: string } = {}) {
    this.config = config;
    const args = ["run", "-A"];
    if (options.v8Flags?.length) args.push(`--v8-flags=${options.v8Flags.join(",")}`);
    if (options.cpuProfDir) args.push("--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`);
    this.child = new Deno.Command(Deno.execPath(), {
      args: [...args, WORKER, JSON.stringify(config)],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    live.add(this);
    this.#writer = this.child.stdin.getWriter();
    this.ready = new Promise((resolve) => (this.#onReady = resolve));
    this.done = this.#follow();
  }

  async #follow(): Promise<void> {
    let buffer = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let ev: Record<string, unknown>;
        try {
          ev = JSON.parse(line);
        } catch {
          continue;
        }
        this.#handle(ev);
      }
    }
    await this.child.status;
    this.exited = true;
    live.delete(this);
    this.#onReady();
  }

  #view(id: string, t: number): WorkerView {
    let w = this.workers.get(id);
    if (!w) {
      w = { v: 0, ep: 0, n: 0, d: undefined, state: "init", leader: false, at: t, proc: this };
      this.workers.set(id, w);
    }
    return w;
  }

  #handle(ev: Record<string, unknown>): void {
    const t = ev.t as number;
    const id = ev.w as string | undefined;
    switch (ev.e) {
      case "ready":
        if (typeof ev.baseRss === "number") {
          this.base = { rss: ev.baseRss, heap: ev.baseHeap as number };
        }
        this.#onReady();
        break;
      case "a": {
        if (!id) break;
        const w = this.#view(id, t);
        w.v = ev.v as number;
        w.ep = ev.ep as number;
        w.n = ev.n as number;
        w.d = ev.d as string | undefined;
        w.at = t;
        break;
      }
      case "s": {
        if (!id) break;
        const w = this.#view(id, t);
        w.state = ev.s as string;
        w.at = t;
        break;
      }
      case "l":
        if (!id) break;
        this.#view(id, t).leader = ev.leader as boolean;
        this.leadership.push({ t, w: id, leader: ev.leader as boolean, epoch: ev.epoch as number });
        break;
      case "removed":
        if (id) this.workers.delete(id);
        break;
      case "pub":
        this.pubs.push(ev as unknown as PubReport);
        break;
      case "published":
        this.published.push(ev);
        break;
      case "mem":
        this.mem = ev as unknown as WorkerProc["mem"];
        this.memSamples.push({ rss: ev.rss as number, heap: ev.heap as number, t });
        break;
      case "err":
        for (const [k, n] of Object.entries(ev.counts as Record<string, number>)) {
          this.errors.set(k, (this.errors.get(k) ?? 0) + n);
        }
        break;
    }
    this.onEvent?.(ev, this);
  }

  /** Sends a command line (`go`, `stop`). */
  async send(line: string): Promise<void> {
    if (this.exited) return;
    await this.#writer.write(new TextEncoder().encode(line + "\n")).catch(() => {});
  }

  /** SIGKILL: a crash of every manager in it. */
  async kill(): Promise<void> {
    this.killed = true;
    try {
      this.child.kill("SIGKILL");
    } catch {
      // gone
    }
    await this.done;
  }

  /** Graceful: every manager stops, then the process exits (SIGKILL after `timeoutMs`). */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopped = true;
    await this.send("stop");
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await this.done;
    clearTimeout(timer);
  }

  /** Whether its managers count as alive. */
  get alive(): boolean {
    return !this.exited && !this.killed && !this.stopped;
  }
}

const live = new Set<WorkerProc>();
let server: NatsServer | undefined;

/** Kills every worker process still running and stops the server. */
export async function cleanup(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
  if (server) {
    const s = server;
    server = undefined;
    await s.stop().catch(() => {});
  }
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      console.error(`\n${sig}: cleaning up`);
      void cleanup().finally(() => Deno.exit(130));
    });
  }
  globalThis.addEventListener("unhandledrejection", (e) => {
    console.error("unhandled rejection:", e.reason);
    e.preventDefault();
    void cleanup().finally(() => Deno.exit(1));
  });
}

/** The server and a connection of the benchmark's own. */
export interface Bench {
  readonly server: NatsServer;
  readonly nc: NatsConnection;
  readonly monitor: string;
}

/** Starts one nats-server with the monitoring port on and connects to it. */
export async function startServer(extraConfig = ""): Promise<Bench> {
  installHandlers();
  const [httpPort] = freePorts(1) as [number];
  server = await NatsServer.start({
    config: `http_port: ${httpPort}\nmax_payload: 1048576\n${extraConfig}`,
  });
  const nc = await connect({ servers: server.url });
  return { server, nc, monitor: `http://127.0.0.1:${httpPort}` };
}

/** Server counters from /varz and /jsz. */
export interface ServerCounters {
  readonly at: number;
  readonly inMsgs: number;
  readonly outMsgs: number;
  readonly inBytes: number;
  readonly outBytes: number;
  readonly apiTotal: number;
  /** Sum of every stream's last sequence: KV writes (puts, deletes, creates) so far. */
  readonly streamSeq: number;
  readonly cpu: number;
  readonly mem: number;
  readonly connections: number;
}

/** Reads the server's counters. */
export async function counters(monitor: string): Promise<ServerCounters> {
  const [varz, jsz] = await Promise.all([
    fetch(`${monitor}/varz`).then((r) => r.json()),
    fetch(`${monitor}/jsz?streams=true`).then((r) => r.json()),
  ]);
  let streamSeq = 0;
  for (const account of jsz.account_details ?? []) {
    for (const stream of account.stream_detail ?? []) streamSeq += stream.state?.last_seq ?? 0;
  }
  return {
    at: performance.now(),
    inMsgs: varz.in_msgs,
    outMsgs: varz.out_msgs,
    inBytes: varz.in_bytes,
    outBytes: varz.out_bytes,
    apiTotal: jsz.api?.total ?? 0,
    streamSeq,
    cpu: varz.cpu,
    mem: varz.mem,
    connections: varz.connections,
  };
}

/** Rates between two counter readings, per second. */
export function rates(a: ServerCounters, b: ServerCounters) {
  const s = (b.at - a.at) / 1000;
  return {
    inMsgs: (b.inMsgs - a.inMsgs) / s,
    outMsgs: (b.outMsgs - a.outMsgs) / s,
    inBytes: (b.inBytes - a.inBytes) / s,
    outBytes: (b.outBytes - a.outBytes) / s,
    api: (b.apiTotal - a.apiTotal) / s,
    kvWrites: (b.streamSeq - a.streamSeq) / s,
    cpu: b.cpu,
  };
}

/** Every manager of the processes that are alive. */
export function liveWorkers(procs: readonly WorkerProc[]): Map<string, WorkerView> {
  const out = new Map<string, WorkerView>();
  for (const p of procs) {
    if (!p.alive) continue;
    for (const [id, w] of p.workers) out.set(id, w);
  }
  return out;
}

/**
 * From the workers' reports: `expected` live managers, all stable, exactly one leader, owning
 * `partitions` in total. Returns the time of the latest report, or undefined.
 */
export function reportsSettled(
  procs: readonly WorkerProc[],
  expected: number,
  partitions: number,
): number | undefined {
  const workers = liveWorkers(procs);
  if (workers.size !== expected) return undefined;
  let owned = 0;
  let leaders = 0;
  let at = 0;
  for (const w of workers.values()) {
    if (w.state !== "stable") return undefined;
    owned += w.n;
    if (w.leader) leaders++;
    at = Math.max(at, w.at);
  }
  return owned === partitions && leaders === 1 ? at : undefined;
}

/** The published assignment, read raw from the bucket. */
export interface PublishedView {
  readonly version: number;
  readonly pending: number;
  /** Worker → owned IDs. */
  readonly owners: Map<string, { version: number; ids: string[] }>;
  /** Bytes of each worker's main key plus its chunks. */
  readonly bytes: Map<string, number>;
  readonly chunkKeys: number;
  readonly metaBytes: number;
}

/** Reads every key of the assignment bucket. */
export async function readPublished(nc: NatsConnection, group: string): Promise<PublishedView> {
  const name = bucketNames(group).assignments;
  const kv = await new Kvm(nc).open(name);
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  const entries = new Map<string, Uint8Array>();
  for (let i = 0; i < keys.length; i += 64) {
    await Promise.all(
      keys.slice(i, i + 64).map(async (k) => {
        const e = await kv.get(k);
        if (e && e.operation === "PUT") entries.set(k, e.value);
      }),
    );
  }
  const meta = entries.get("_meta");
  const m = meta ? decodeMeta(name, "_meta", meta) : { version: 0, pending: 0 };
  const owners = new Map<string, { version: number; ids: string[] }>();
  const bytes = new Map<string, number>();
  let chunkKeys = 0;
  for (const [key, value] of entries) {
    if (!key.startsWith("w.")) continue;
    const rest = key.slice(2);
    if (rest.includes(".")) {
      chunkKeys++;
      continue;
    }
    const rec = decodeWorkerAssignment(name, key, value);
    let size = value.byteLength;
    let ids: string[];
    if (rec.partitions) ids = rec.partitions.map(partitionId);
    else {
      ids = [];
      for (let i = 0; i < (rec.chunks ?? 0); i++) {
        const ck = `w.${rest}.e${rec.epoch}v${rec.version}.c${i}`;
        const cv = entries.get(ck);
        if (!cv) throw new Error(`chunk ${ck} missing`);
        size += cv.byteLength;
        ids.push(...decodeChunk(name, ck, cv).partitions.map(partitionId));
      }
    }
    owners.set(rest, { version: rec.version, ids });
    bytes.set(rest, size);
  }
  return {
    version: m.version,
    pending: m.pending,
    owners,
    bytes,
    chunkKeys,
    metaBytes: meta?.byteLength ?? 0,
  };
}

/**
 * Exactly-once coverage from the published assignment, and agreement of every live worker's
 * report with its key. Returns a problem, or undefined when all is well.
 */
export function coverageProblem(
  view: PublishedView,
  workers: ReadonlyMap<string, WorkerView>,
  partitions: number,
  digests = true,
): string | undefined {
  if (view.pending !== 0) return `${view.pending} pending`;
  const seen = new Set<string>();
  for (const [id, key] of view.owners) {
    if (key.ids.length > 0 && !workers.has(id)) return `${id} is dead but owns ${key.ids.length}`;
    for (const p of key.ids) {
      if (seen.has(p)) return `${p} owned twice`;
      seen.add(p);
    }
  }
  if (seen.size !== partitions) return `${seen.size}/${partitions} covered`;
  for (const [id, w] of workers) {
    const key = view.owners.get(id);
    const n = key?.ids.length ?? 0;
    if (w.n !== n) return `${id} reports ${w.n}, key has ${n}`;
    if (key && w.v !== key.version) return `${id} applied v${w.v}, key v${key.version}`;
    if (digests && key && w.d !== undefined && w.d !== digestIds(key.ids)) {
      return `${id} holds other partitions than its key`;
    }
  }
  return undefined;
}

/** Waits until the reports settle and the bucket confirms it; returns the settle time. */
export async function waitCovered(
  nc: NatsConnection,
  group: string,
  procs: readonly WorkerProc[],
  expected: number,
  partitions: number,
  timeoutMs: number,
  progress?: (text: string) => void,
): Promise<{ at: number; view: PublishedView }> {
  const deadline = performance.now() + timeoutMs;
  let lastProgress = 0;
  let problem = "no reports yet";
  while (performance.now() < deadline) {
    const at = reportsSettled(procs, expected, partitions);
    if (at !== undefined) {
      const view = await readPublished(nc, group);
      const p = coverageProblem(view, liveWorkers(procs), partitions);
      // Re-check the reports: they must not have moved while the bucket was read.
      if (p === undefined && reportsSettled(procs, expected, partitions) === at) {
        return { at, view };
      }
      problem = p ?? "reports moved";
    } else {
      const workers = liveWorkers(procs);
      const stable = [...workers.values()].filter((w) => w.state === "stable").length;
      const owned = [...workers.values()].reduce((s, w) => s + w.n, 0);
      problem =
        `${workers.size}/${expected} workers seen, ${stable} stable, ${owned}/${partitions} owned`;
    }
    if (progress && performance.now() - lastProgress > 5_000) {
      lastProgress = performance.now();
      progress(problem);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not covered after ${timeoutMs} ms: ${problem}`);
}

/** Median, p90, max of a list. */
export function stats(xs: readonly number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
  return { p50: q(0.5), p90: q(0.9), max: s[s.length - 1]!, min: s[0]!, n: s.length };
}

/** `1234567` → `"1.18 MB"`. */
export function fmtBytes(b: number): string {
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(2)} MB`;
  if (b >= 1 << 10) return `${(b / 1024).toFixed(1)} KB`;
  return `${b.toFixed(0)} B`;
}

/** Parses `--name value` flags. */
export function flags(args: readonly string[]) {
  const get = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  return {
    get,
    has: (name: string) => args.includes(`--${name}`),
    num: (name: string, fallback: number) => {
      const v = get(name);
      return v === undefined ? fallback : Number(v);
    },
    list: (name: string, fallback: number[]) => {
      const v = get(name);
      return v === undefined ? fallback : v.split(",").map((x) => Number(x.replace(/k$/, "000")));
    },
  };
}
