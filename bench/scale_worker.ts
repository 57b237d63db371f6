/**
 * A worker process of the scale benchmarks: hosts several Managers (each on its own NATS
 * connection, or all on one) and reports on stdout as JSON lines. Driven over stdin: `go` starts
 * the managers (all at once), `add <k>` creates and starts k more, `remove <k>` stops the k
 * oldest gracefully (churn), `stop` stops them gracefully and exits; end of stdin (the parent
 * died) exits at once, so no process outlives its benchmark.
 *
 * With `startSpacingMs` the managers start one after another at that spacing.
 *
 * Reports (`t` is `Date.now()`): `ready` (connected, waiting for `go`; with the process's RSS and
 * heap before its first connection and Manager); `a` per assignment change
 * (worker, version, count, digest of the owned IDs, reason); `s` per state change; `l` per
 * leadership change; `pub` per publication written by a leader of this process (decision start,
 * publish start, first and last assignment-bucket write, moved/pending/workers, `durationMs` from
 * `onPublished` via the logger); `mem` every second (RSS, heap, managers); `err` error counts by
 * code, every second when there were any.
 *
 * Usage: deno run -A bench/scale_worker.ts '<json config>' (see {@link WorkerConfig})
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type Logger,
  Manager,
  type ManagerOptions,
  type Partition,
  partitionId,
  presets,
  recommendedConnectionOptions,
} from "../mod.ts";
import { natsKvStore } from "../src/store/nats_kv/mod.ts";
import type { Bucket, CoordinationStore } from "../src/store/store.ts";
import type { SpanAttributes, SpanLike, TracerLike } from "../src/observability/tracing.ts";
import { digestIds } from "../src/protocol/records.ts";

/** What the parent passes (one JSON argument). */
export interface WorkerConfig {
  readonly url: string;
  readonly group: string;
  readonly partitions: number;
  readonly managers: number;
  /** Process index, used in worker ID prefixes. */
  readonly index: number;
  /** `own`: a connection per manager; `shared`: one for the process. */
  readonly conn: "own" | "shared";
  /**
   * `disjoint`: each manager claims from its own one-ID range (`p<index>m<j>-0`), so ID claims
   * never contend; `shared`: every manager claims the lowest free `worker-<n>` (the library's
   * default).
   */
  readonly ids: "disjoint" | "shared";
  /** Options merged over `presets.fastTest`. */
  readonly timing: Partial<ManagerOptions>;
  /** Hook delay on removal (ms), 0 = none. */
  readonly hookMs?: number;
  /** Delay between two managers' `start()` calls in this process (ms), 0 = all at once. */
  readonly startSpacingMs?: number;
  /** Report the owned IDs' digest with every assignment (exact coverage check). */
  readonly digests?: boolean;
}

const config = JSON.parse(Deno.args[0]!) as WorkerConfig;
const enc = new TextEncoder();
const out = (event: Record<string, unknown>) => {
  Deno.stdout.writeSync(enc.encode(JSON.stringify({ ...event, t: Date.now() }) + "\n"));
};
const partitions: Partition[] = Array.from({ length: config.partitions }, (_, i) => ({
  keys: ["p", String(i)],
  weight: 1 + (i % 5),
}));

// The process's own memory before any connection or Manager exists: Deno, the loaded modules and
// the partition list (shared by the process's Managers). `ready` reports it, so the parent can
// tell what each Manager adds from what the process costs anyway.
const base = Deno.memoryUsage();

const errors = new Map<string, number>();
const seenCodes = new Set<string>();
const countError = (code: string, message?: string) => {
  errors.set(code, (errors.get(code) ?? 0) + 1);
  // The first message of each code, to stderr (the parent shows it).
  if (message !== undefined && !seenCodes.has(code)) {
    seenCodes.add(code);
    console.error(`[worker process ${config.index}] ${code}: ${message.slice(0, 400)}`);
  }
};

/** Per manager: the timestamps of the publication in progress (its leader only). */
interface PubTiming {
  decideStart?: number;
  publishStart?: number;
  firstWrite?: number;
  lastWrite?: number;
  writes: number;
  attrs: SpanAttributes;
}

/** A tracer that times `parti.rebalance` → `parti.publish` → end, per manager. */
function tracer(state: { pub: PubTiming | undefined; worker: () => string | undefined }) {
  const t: TracerLike = {
    startSpan(name: string, options?: { attributes?: SpanAttributes }): SpanLike {
      const now = performance.now();
      if (name === "parti.rebalance") {
        state.pub = { decideStart: now, writes: 0, attrs: { ...options?.attributes } };
      } else if (name === "parti.publish" && state.pub) {
        state.pub.publishStart = now;
        Object.assign(state.pub.attrs, options?.attributes);
      }
      const span: SpanLike = {
        setAttributes(a) {
          if (state.pub) Object.assign(state.pub.attrs, a);
          return span;
        },
        recordException() {},
        setStatus() {
          return span;
        },
        end() {
          const pub = state.pub;
          if (name !== "parti.rebalance" || !pub) return;
          state.pub = undefined;
          if (pub.publishStart === undefined) return; // skipped round
          const d = pub.decideStart!;
          out({
            e: "pub",
            w: state.worker(),
            preDecideMs: pub.publishStart - d,
            firstWriteMs: pub.firstWrite === undefined ? null : pub.firstWrite - d,
            lastWriteMs: pub.lastWrite === undefined ? null : pub.lastWrite - d,
            endMs: performance.now() - d,
            writes: pub.writes,
            ...pub.attrs,
          });
        },
      };
      return span;
    },
  };
  return t;
}

/** Wraps the assignment bucket's writes to time the first and last write of a publication. */
function tapStore(store: CoordinationStore, state: { pub: PubTiming | undefined }) {
  const tapWrite = <A extends unknown[]>(f: (...a: A) => Promise<number>) => async (...a: A) => {
    const pub = state.pub;
    if (pub?.publishStart !== undefined && pub.firstWrite === undefined) {
      pub.firstWrite = performance.now();
    }
    const r = await f(...a);
    if (pub?.publishStart !== undefined) {
      pub.lastWrite = performance.now();
      pub.writes++;
    }
    return r;
  };
  const wrapped: CoordinationStore = {
    kind: store.kind,
    deleteBucket: (name) => store.deleteBucket(name),
    async bucket(name, options) {
      const b = await store.bucket(name, options);
      if (!name.endsWith("_assign")) return b;
      const w: Bucket = Object.create(b);
      Object.defineProperty(w, "name", { value: b.name });
      w.put = tapWrite((k: string, v: Uint8Array) => b.put(k, v));
      w.create = tapWrite((k: string, v: Uint8Array) => b.create(k, v));
      w.update = tapWrite((k: string, v: Uint8Array, r: number) => b.update(k, v, r));
      w.get = (k) => b.get(k);
      w.delete = (k, o) => b.delete(k, o);
      w.keys = () => b.keys();
      w.watch = (o) => b.watch(o);
      w.status = () => b.status();
      return w;
    },
  };
  return wrapped;
}

const connections: NatsConnection[] = [];
const open = () => connect({ servers: config.url, ...recommendedConnectionOptions });
let shared: NatsConnection | undefined;
if (config.conn === "shared") connections.push(shared = await open());

const managers: Manager[] = [];
const ownConnection = new Map<Manager, NatsConnection>();
let created = 0;
for (let j = 0; j < config.managers; j++) await create();

/** Creates one manager (not started). */
async function create(): Promise<Manager> {
  const j = created++;
  const nc = shared ?? await open();
  if (!shared) connections.push(nc);
  const state: { pub: PubTiming | undefined; worker: () => string | undefined } = {
    pub: undefined,
    worker: () => manager.workerId,
  };
  const operationTimeoutMs = config.timing.operationTimeoutMs ??
    presets.fastTest.operationTimeoutMs!;
  const logger: Logger = {
    debug() {},
    info(message, fields) {
      if (message === "Assignment published") {
        out({ e: "published", w: manager.workerId, ...fields });
      }
    },
    warn(message) {
      if (message.startsWith("Self-fencing")) countError("fence");
    },
    error() {},
  };
  const ids = config.ids === "disjoint"
    ? { workerIdPrefix: `p${config.index}m${j}`, workerIdMin: 0, workerIdMax: 0 }
    : {};
  const hookMs = config.hookMs ?? 0;
  const manager: Manager = new Manager({
    ...presets.fastTest,
    ...config.timing,
    ...ids,
    store: tapStore(natsKvStore(nc, { operationTimeoutMs }), state),
    group: config.group,
    source: partitions,
    tracer: tracer(state),
    logger,
    hooks: {
      async onAssignmentChanged({ assignment, reason, removed }) {
        if (hookMs > 0 && removed.length > 0) await new Promise((r) => setTimeout(r, hookMs));
        const owned = assignment.partitions.map(partitionId);
        out({
          e: "a",
          w: manager.workerId,
          v: assignment.version,
          ep: assignment.epoch,
          n: owned.length,
          ...(config.digests !== false ? { d: digestIds(owned) } : {}),
          r: reason,
        });
      },
      onLeadershipChanged(isLeader, epoch) {
        out({ e: "l", w: manager.workerId, leader: isLeader, epoch });
      },
      onStateChanged(_from, to) {
        out({ e: "s", w: manager.workerId, s: to });
      },
      onError(error) {
        const code = (error as { code?: unknown }).code;
        countError(typeof code === "string" ? code : error.name, error.message);
      },
    },
  });
  managers.push(manager);
  if (!shared) ownConnection.set(manager, nc);
  return manager;
}

/** Starts a manager, counting a failure. */
function startOne(m: Manager): void {
  m.start().catch((error) => {
    countError(`start:${error?.code ?? error?.name}`, String(error?.message ?? error));
  });
}

/** Stops the oldest manager gracefully and closes its connection (churn). */
async function removeOne(): Promise<void> {
  const m = managers.shift();
  if (!m) return;
  const id = m.workerId;
  await m.stop().catch(() => {});
  const nc = ownConnection.get(m);
  if (nc) {
    ownConnection.delete(m);
    connections.splice(connections.indexOf(nc), 1);
    await nc.close().catch(() => {});
  }
  out({ e: "removed", w: id });
}

const memTimer = setInterval(() => {
  // With --v8-flags=--expose-gc (memory_churn.ts) the sample is taken after a full collection.
  (globalThis as { gc?: () => void }).gc?.();
  const m = Deno.memoryUsage();
  out({ e: "mem", rss: m.rss, heap: m.heapUsed, managers: managers.length });
  if (errors.size > 0) {
    out({ e: "err", counts: Object.fromEntries(errors) });
    errors.clear();
  }
}, 1_000);

let stopping = false;
async function stopAll(): Promise<never> {
  if (!stopping) {
    stopping = true;
    clearInterval(memTimer);
    await Promise.allSettled(managers.map((m) => m.stop()));
    await Promise.allSettled(connections.map((nc) => nc.close()));
    out({ e: "stopped" });
  }
  Deno.exit(0);
}
Deno.addSignalListener("SIGTERM", () => void stopAll());

out({
  e: "ready",
  managers: managers.length,
  pid: Deno.pid,
  baseRss: base.rss,
  baseHeap: base.heapUsed,
});
const decoder = new TextDecoder();
let buffer = "";
for await (const chunk of Deno.stdin.readable) {
  buffer += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = buffer.indexOf("\n")) >= 0) {
    const line = buffer.slice(0, nl).trim();
    buffer = buffer.slice(nl + 1);
    if (line === "go") {
      const spacing = config.startSpacingMs ?? 0;
      for (const [j, m] of managers.entries()) {
        if (j > 0 && spacing > 0) await new Promise((r) => setTimeout(r, spacing));
        startOne(m);
      }
    } else if (line.startsWith("add ")) {
      for (let k = Number(line.slice(4)); k > 0; k--) startOne(await create());
    } else if (line.startsWith("remove ")) {
      for (let k = Number(line.slice(7)); k > 0; k--) await removeOne();
    } else if (line === "stop") {
      await stopAll();
    }
  }
}
// stdin closed: the parent is gone.
Deno.exit(0);
