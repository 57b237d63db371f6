/**
 * Distributed task processing by tenant. Every tenant is a partition, weighted by its number of
 * tasks; a producer enqueues tasks on a JetStream stream `TASKS` (subject `tasks.<tenant>`, one
 * durable pull consumer per tenant), and a pool of workers grows while the tasks arrive. Each
 * worker starts consuming a tenant when Parti assigns it and stops (finishing and acknowledging
 * the task in hand) before its `onAssignmentChanged` resolves, so a tenant that moves is never
 * consumed by two workers at once and its tasks stay in order. The workers run in this process,
 * each with its own connection, and they check the claim directly: every task is processed once,
 * no tenant ever has two active consumers, and tasks of a tenant come in enqueue order.
 *
 * Run: `deno run -A examples/task_queue.ts [--nats nats://127.0.0.1:4222] [--tasks 200]
 * [--tenants 8] [--workers 3] [--rate 100] [--task-ms 5]`. Without `--nats` it starts a local
 * `nats-server` (it must be installed). It deletes and recreates the stream `TASKS`.
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import {
  AckPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { Manager, type Partition, presets, recommendedConnectionOptions } from "../mod.ts";
import { NatsServer, waitFor } from "../testing/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string" },
    tasks: { type: "string", default: "200" },
    tenants: { type: "string", default: "8" },
    workers: { type: "string", default: "3" },
    rate: { type: "string", default: "100" },
    "task-ms": { type: "string", default: "5" },
  },
});
const taskCount = positiveInt("tasks", values.tasks);
const tenantCount = positiveInt("tenants", values.tenants);
const workerCount = positiveInt("workers", values.workers);
const rate = positiveInt("rate", values.rate);
const taskMs = positiveInt("task-ms", values["task-ms"], 0);

const STREAM = "TASKS";

// Tenant i is `tenantCount - i` times as large as the smallest: the producer deals tasks from a
// deck in which each tenant appears that many times, interleaved, and a tenant's weight is its
// number of tasks.
const tenants = Array.from({ length: tenantCount }, (_, i) => `tenant-${i}`);
const deck = tenants.flatMap((_, round) => tenants.filter((_, i) => tenantCount - i > round));
const sizes = new Map<string, number>();
const plan = Array.from({ length: taskCount }, (_, i) => {
  const tenant = deck[i % deck.length]!;
  const seq = (sizes.get(tenant) ?? 0) + 1;
  sizes.set(tenant, seq);
  return { tenant, seq, id: `${tenant}:${seq}` };
});
const partitions: Partition[] = tenants
  .filter((t) => sizes.has(t))
  .map((t) => ({ keys: ["tenant", t], weight: sizes.get(t)! }));

/** What the workers observed, shared because they all run in this process. */
const begun = new Set<string>(); // task IDs whose processing started
const seen = new Map<string, string>(); // task ID → worker that processed it
const perWorker: Record<string, number> = {};
const lastSeq = new Map<string, number>();
const active = new Map<string, Set<string>>(); // tenant → workers with a running consumer
let duplicates = 0;
let outOfOrder = 0;
let overlaps = 0;
let moves = 0;
let finishing = false;

interface Worker {
  readonly manager: Manager;
  readonly nc: NatsConnection;
}

/** A running consumer of one tenant's tasks; `stop()` resolves once the task in hand is acked. */
function consumeTenant(js: JetStreamClient, worker: string, tenant: string) {
  let stopping = false;
  const workers = active.get(tenant) ?? new Set<string>();
  active.set(tenant, workers);
  if (workers.size > 0) overlaps++;
  workers.add(worker);
  const done = (async () => {
    try {
      const consumer = await js.consumers.get(STREAM, tenant);
      while (!stopping) {
        try {
          // One message per pull: nothing sits in a client buffer when ownership moves.
          const msg = await consumer.next({ expires: 1_000 });
          if (msg) await processTask(worker, tenant, msg);
        } catch (error) {
          if (stopping) break;
          console.error(`${worker}: ${tenant}: ${String(error)}; retrying`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      workers.delete(worker);
    }
  })();
  return {
    stop: () => {
      stopping = true;
      return done;
    },
  };
}

async function processTask(worker: string, tenant: string, msg: JsMsg): Promise<void> {
  const task = msg.json<{ id: string; seq: number }>();
  if (begun.has(task.id)) duplicates++;
  begun.add(task.id);
  if (task.seq <= (lastSeq.get(tenant) ?? 0)) outOfOrder++;
  lastSeq.set(tenant, task.seq);
  await new Promise((r) => setTimeout(r, taskMs)); // the work itself
  seen.set(task.id, worker);
  perWorker[worker] = (perWorker[worker] ?? 0) + 1;
  await msg.ackAck();
}

async function startWorker(url: string): Promise<Worker> {
  const nc = await connect({ servers: url, ...recommendedConnectionOptions });
  const js = jetstream(nc);
  const loops = new Map<string, ReturnType<typeof consumeTenant>>();
  const manager: Manager = new Manager({
    ...presets.fastTest,
    connection: nc,
    group: "task-queue",
    source: partitions,
    hooks: {
      async onAssignmentChanged({ added, removed }) {
        if (!finishing) moves += removed.length;
        await Promise.all(removed.map(async (p) => {
          await loops.get(p.keys[1]!)?.stop();
          loops.delete(p.keys[1]!);
        }));
        for (const p of added) {
          loops.set(p.keys[1]!, consumeTenant(js, manager.workerId!, p.keys[1]!));
        }
      },
    },
  });
  await manager.start();
  console.log(`${manager.workerId} joined${manager.isLeader ? " (leader)" : ""}`);
  return { manager, nc };
}

async function setUpStream(url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, ...recommendedConnectionOptions });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(STREAM).catch((error) => {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) {
      throw error;
    }
  });
  await jsm.streams.add({ name: STREAM, subjects: ["tasks.>"] });
  for (const t of tenants) {
    await jsm.consumers.add(STREAM, {
      durable_name: t,
      filter_subject: `tasks.${t}`,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(5_000),
    });
  }
  return nc;
}

/** Publishes the tasks at `rate` per second; worker k joins once k/workers of them are out. */
async function produce(producer: NatsConnection, url: string, workers: Worker[]): Promise<void> {
  const js = jetstream(producer);
  const joins: Promise<void>[] = [];
  let started = workers.length;
  const startedAt = performance.now();
  for (let i = 0; i < plan.length; i++) {
    if (started < workerCount && i >= (started * taskCount) / workerCount) {
      started++;
      joins.push(startWorker(url).then((w) => void workers.push(w)));
    }
    const { tenant, seq, id } = plan[i]!;
    await js.publish(`tasks.${tenant}`, JSON.stringify({ id, seq }), { msgID: id });
    const ahead = startedAt + ((i + 1) * 1_000) / rate - performance.now();
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead)); // the producer's pace
  }
  await Promise.all(joins);
}

const server = values.nats ? undefined : await NatsServer.start();
const url = values.nats ?? server!.url;
const workers: Worker[] = [];
let producer: NatsConnection | undefined;
try {
  console.log(
    `task queue: ${taskCount} tasks of ${partitions.length} tenants, ${workerCount} workers, ` +
      `NATS at ${url}`,
  );
  producer = await setUpStream(url);
  workers.push(await startWorker(url));
  await produce(producer, url, workers);
  await waitFor(() => seen.size >= taskCount, {
    timeoutMs: 30_000,
    intervalMs: 20,
    message: "every task processed",
  });
  finishing = true;
  await Promise.all(workers.map((w) => w.manager.stop()));
  for (const [worker, n] of Object.entries(perWorker).sort()) {
    console.log(`${worker} processed ${n} tasks`);
  }
  const result = {
    tasks: taskCount,
    processed: seen.size,
    duplicates,
    missing: plan.filter((t) => !seen.has(t.id)).length,
    tenants: partitions.length,
    workers: workers.length,
    perWorker,
    moves,
    overlaps,
    outOfOrder,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  await Promise.all(workers.map((w) => w.manager.stop().catch(() => {})));
  await Promise.all([...workers.map((w) => w.nc.close()), producer?.close()]);
  await server?.stop();
}

function positiveInt(name: string, text: string | undefined, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} needs an integer of at least ${min}, got '${text}'`);
    Deno.exit(2);
  }
  return n;
}
