/**
 * The worker process the Kubernetes manifests in `deploy/k8s/` run: one Manager over NATS,
 * configured from the environment, that prints one JSON line per change of what it owns and shuts
 * down cleanly on SIGTERM. Replace the hooks with your own work; keep the rest.
 *
 * Environment:
 * - `NATS_URL`: server URLs, comma-separated (default `nats://127.0.0.1:4222`).
 * - `PARTI_GROUP`: the group (default `orders`).
 * - `PARTI_PARTITIONS`: the number of partitions `["orders", "<i>"]` (default 64).
 * - `PARTI_INSTANCE`: a stable instance name (a StatefulSet passes the pod name): a restarted pod
 *   takes its worker ID back. Leave it unset for elastic pools (a Deployment).
 * - `PARTI_OPTIONS`: JSON of `TuningOptions` applied over `presets.production` and a
 *   `startupTimeoutMs` of 120000 (the first start of a group waits out `coldStartWindowMs`), e.g.
 *   `{"kv":{"replicas":3}}`. The Manager validates it; a bad value exits with the error.
 * - `PARTI_DRAIN_ON_STOP`: `true` to hand the partitions over before stopping: the worker drains
 *   itself and waits until nothing is pending, so the others own everything before it leaves
 *   (a plain `stop()` leaves its partitions unowned until the leader's planned window closes).
 * - `PARTI_DRAIN_TIMEOUT_MS`: the most that drain may take (default 30000).
 * - `PORT`: where `healthHandler()` listens (default 8080; `0` takes a free port, printed in the
 *   `listening` line): `/livez` and `/readyz` for the probes (`/readyz` answers 503 from the
 *   moment a shutdown begins), `/status`, `/metrics` (Prometheus) and the live topology page at `/`.
 * - `PARTI_READY_WHEN_DEGRADED_MS`: stay ready while degraded for less than this many milliseconds
 *   (`readyWhenDegradedForMs`, default 0: not ready while degraded).
 * - `PARTI_LOG_LEVEL`: `debug`, `info` (default), `warn` or `error`.
 *
 * Exit codes: 0 after a clean stop, 1 when the worker could not start (its error is printed), 2
 * for a bad environment value.
 *
 * Run: `deno run -A deploy/worker.ts` (with the environment above).
 */
import { connect } from "@nats-io/transport-node";
import {
  consoleLogger,
  healthHandler,
  type LogLevel,
  Manager,
  partitionId,
  presets,
  recommendedConnectionOptions,
  type TuningOptions,
} from "../mod.ts";
import { PrometheusRegistry } from "../src/observability/metrics_mod.ts";

const env = (name: string, fallback: string) => Deno.env.get(name) || fallback;
const servers = env("NATS_URL", "nats://127.0.0.1:4222").split(",").map((s) => s.trim());
const group = env("PARTI_GROUP", "orders");
const partitionCount = Number(env("PARTI_PARTITIONS", "64"));
const instance = Deno.env.get("PARTI_INSTANCE") || undefined;
const drainOnStop = env("PARTI_DRAIN_ON_STOP", "false") === "true";
const drainTimeoutMs = Number(env("PARTI_DRAIN_TIMEOUT_MS", "30000"));
const port = number("PORT", "8080", (n) => Number.isInteger(n) && n >= 0 && n <= 65_535);
const readyWhenDegradedForMs = number("PARTI_READY_WHEN_DEGRADED_MS", "0", (n) => n >= 0);
const options = JSON.parse(env("PARTI_OPTIONS", "{}")) as TuningOptions;

function number(name: string, fallback: string, valid: (n: number) => boolean): number {
  const value = Number(env(name, fallback));
  if (Number.isNaN(value) || !valid(value)) {
    console.error(`${name} is '${Deno.env.get(name)}'; set it to a number such as ${fallback}`);
    Deno.exit(2);
  }
  return value;
}

const emit = (event: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ event, workerId: manager.workerId, ...fields }));

const metrics = new PrometheusRegistry();
const nc = await connect({ servers, ...recommendedConnectionOptions });
const manager: Manager = new Manager({
  ...presets.production,
  startupTimeoutMs: 120_000,
  ...options,
  connection: nc,
  group,
  source: Array.from({ length: partitionCount }, (_, i) => ({ keys: ["orders", String(i)] })),
  ...(instance ? { instance } : {}),
  logger: consoleLogger({ level: env("PARTI_LOG_LEVEL", "info") as LogLevel }),
  metrics,
  hooks: {
    // Your work goes here: start consuming `added`, stop `removed` and resolve only once stopped.
    onAssignmentChanged({ added, removed, reason, assignment }) {
      emit("assignment", {
        version: assignment.version,
        reason,
        added: added.map(partitionId),
        removed: removed.map(partitionId),
        owned: assignment.partitions.length,
      });
    },
    onLeadershipChanged(isLeader, epoch) {
      emit("leadership", { isLeader, epoch });
    },
    onError(error) {
      emit("error", { code: (error as { code?: string }).code, message: error.message });
    },
  },
});

let stopping: Promise<void> | undefined;
// Served from before start() (liveness holds through a long first start) until after stop().
const streams = new AbortController();
const probes = healthHandler(manager, {
  metrics,
  readyWhenDegradedForMs,
  // A stop this process did not ask for (its worker ID was taken over) fails /livez: restart it.
  stopRequested: () => stopping !== undefined,
  signal: streams.signal,
});
const server = Deno.serve({
  port,
  hostname: "0.0.0.0",
  onListen: ({ port }) => emit("listening", { port }),
}, (request) =>
  // Out of rotation (and of the PDB's count) as soon as the shutdown begins, drain included.
  stopping && new URL(request.url).pathname === "/readyz"
    ? new Response("not ready: shutting down\n", { status: 503 })
    : probes(request));

const shutdown = (signal: string) =>
  stopping ??= (async () => {
    emit("stopping", { signal });
    if (drainOnStop && manager.workerId !== undefined && manager.state !== "shutdown") {
      await drainSelf().catch((error) => emit("error", { message: String(error) }));
    }
    await manager.stop();
    await nc.close();
    streams.abort(); // open topology pages: the graceful shutdown waits for their streams
    await server.shutdown();
    emit("stopped");
  })();

/** Drains this worker and waits until it owns nothing and no hand-off is pending. */
async function drainSelf(): Promise<void> {
  const id = manager.workerId!;
  await manager.drainWorker(id);
  const deadline = performance.now() + drainTimeoutMs;
  while (performance.now() < deadline) {
    if (manager.assignment.partitions.length === 0) {
      const topology = await manager.getTopology();
      if (topology.pending === 0) return emit("drained");
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  emit("drain-timeout", { ms: drainTimeoutMs });
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => void shutdown(signal).then(() => Deno.exit(0)));
}

try {
  await manager.start();
} catch (error) {
  if (stopping) {
    await stopping;
    Deno.exit(0);
  }
  emit("failed", { message: String(error) });
  await manager.stop();
  await nc.close();
  streams.abort();
  await server.shutdown();
  Deno.exit(1);
}
if (!stopping) {
  // An ID drained by an earlier process that held it (see PARTI_DRAIN_ON_STOP) is ours now.
  await manager.undrainWorker(manager.workerId!).catch((error) =>
    emit("error", { message: String(error) })
  );
  emit("started", { instance: instance ?? null, leader: manager.isLeader });
}
