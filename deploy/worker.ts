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
 * - `PARTI_READY_FILE`: a file written once the worker holds its first assignment and removed when
 *   it starts shutting down, for an exec readiness probe (default `/tmp/parti-ready`).
 * - `PARTI_LOG_LEVEL`: `debug`, `info` (default), `warn` or `error`.
 *
 * Exit codes: 0 after a clean stop, 1 when the worker could not start (its error is printed).
 *
 * Run: `deno run -A deploy/worker.ts` (with the environment above).
 */
import { connect } from "@nats-io/transport-node";
import {
  consoleLogger,
  type LogLevel,
  Manager,
  partitionId,
  presets,
  recommendedConnectionOptions,
  type TuningOptions,
} from "../mod.ts";

const env = (name: string, fallback: string) => Deno.env.get(name) || fallback;
const servers = env("NATS_URL", "nats://127.0.0.1:4222").split(",").map((s) => s.trim());
const group = env("PARTI_GROUP", "orders");
const partitionCount = Number(env("PARTI_PARTITIONS", "64"));
const instance = Deno.env.get("PARTI_INSTANCE") || undefined;
const drainOnStop = env("PARTI_DRAIN_ON_STOP", "false") === "true";
const drainTimeoutMs = Number(env("PARTI_DRAIN_TIMEOUT_MS", "30000"));
const readyFile = env("PARTI_READY_FILE", "/tmp/parti-ready");
const options = JSON.parse(env("PARTI_OPTIONS", "{}")) as TuningOptions;

const emit = (event: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ event, workerId: manager.workerId, ...fields }));

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
const shutdown = (signal: string) =>
  stopping ??= (async () => {
    emit("stopping", { signal });
    await Deno.remove(readyFile).catch(() => {});
    if (drainOnStop && manager.workerId !== undefined && manager.state !== "shutdown") {
      await drainSelf().catch((error) => emit("error", { message: String(error) }));
    }
    await manager.stop();
    await nc.close();
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
  Deno.exit(1);
}
if (!stopping) {
  // An ID drained by an earlier process that held it (see PARTI_DRAIN_ON_STOP) is ours now.
  await manager.undrainWorker(manager.workerId!).catch((error) =>
    emit("error", { message: String(error) })
  );
  await Deno.writeTextFile(readyFile, `${manager.workerId}\n`);
  emit("started", { instance: instance ?? null, leader: manager.isLeader });
}
