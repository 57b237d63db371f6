/**
 * Graceful shutdown of a worker process: on SIGTERM (or Ctrl-C) it stops pulling new work,
 * finishes and acknowledges the items in hand, and only then calls `manager.stop()`, which
 * releases its partitions so that the other workers take them over with nothing lost and
 * nothing done twice. Work items are JetStream messages on the stream `<group>_jobs` (subject
 * `<group>.jobs.<partition>`, one durable pull consumer per partition, explicit acks), and each
 * processed item is recorded in the KV bucket `<group>_done` with a create-if-absent write, so a
 * second processing of an item would show up as a failed create. Every copy enqueues the same
 * `--items` items with message IDs, which JetStream deduplicates, so any copy can start first.
 * This example is a single worker and needs a NATS server shared by its copies: run it in two
 * terminals with the same `--nats`, then press Ctrl-C in the first; the second finishes the
 * work. On its way out each copy prints what it processed, what it drained after the signal, and
 * what is left in the stream and the ledger. Use another `--group` for a fresh run.
 *
 * Run: `deno run -A examples/graceful_shutdown.ts --nats nats://127.0.0.1:4222 [--items 300]
 * [--partitions 6] [--work-ms 40] [--group graceful]`.
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { nanos } from "@nats-io/nats-core";
import {
  AckPolicy,
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Manager, type Partition, presets, recommendedConnectionOptions } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string" },
    items: { type: "string", default: "300" },
    partitions: { type: "string", default: "6" },
    "work-ms": { type: "string", default: "40" },
    group: { type: "string", default: "graceful" },
  },
});
if (!values.nats) {
  console.error(
    "graceful_shutdown.ts needs the server its copies share: --nats nats://127.0.0.1:4222",
  );
  Deno.exit(2);
}
const itemCount = positiveInt("items", values.items);
const partitionCount = positiveInt("partitions", values.partitions);
const workMs = positiveInt("work-ms", values["work-ms"], 0);
const group = values.group!;
if (!/^[A-Za-z0-9_-]+$/.test(group)) {
  console.error(`--group needs letters, digits, '_' or '-', got '${group}'`);
  Deno.exit(2);
}

const STREAM = `${group}_jobs`;
const partitions: Partition[] = Array.from(
  { length: partitionCount },
  (_, i) => ({ keys: [group, "jobs", String(i)] }),
);
const subjectOf = (p: Partition) => p.keys.join(".");
const consumerOf = (p: Partition) => `part-${p.keys[2]}`;

const nc = await connect({ servers: values.nats, ...recommendedConnectionOptions });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
// Every copy declares the same stream, consumers and bucket; identical declarations are no-ops.
await jsm.streams.add({ name: STREAM, subjects: [`${group}.jobs.*`] });
for (const p of partitions) {
  await jsm.consumers.add(STREAM, {
    durable_name: consumerOf(p),
    filter_subject: subjectOf(p),
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(10_000),
  });
}
const ledger = await new Kvm(js).create(`${group}_done`, { history: 1 });
for (let i = 0; i < itemCount; i++) {
  const item = `item-${i}`;
  await js.publish(subjectOf(partitions[i % partitionCount]!), item, { msgID: item });
}

let processed = 0;
let duplicates = 0;
let inFlight = 0;
let draining = false;
const loops = new Map<string, { stop(): Promise<void> }>();

/** Pulls one partition's items until stopped; `stop()` resolves once the item in hand is acked. */
function consume(worker: string, p: Partition) {
  let stopping = false;
  const done = (async () => {
    const consumer = await js.consumers.get(STREAM, consumerOf(p));
    while (!stopping) {
      try {
        // One message per pull: nothing waits in a client buffer when the partition moves.
        const msg = await consumer.next({ expires: 1_000 });
        if (msg) await handle(worker, msg);
      } catch (error) {
        if (stopping) break;
        console.error(`${worker}: ${subjectOf(p)}: ${String(error)}; retrying`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  })();
  return {
    stop() {
      stopping = true;
      return done;
    },
  };
}

/** Works on one item; `inFlight` counts items taken and not yet recorded in the ledger. */
async function handle(worker: string, msg: JsMsg): Promise<void> {
  inFlight++;
  let recorded = false;
  try {
    await new Promise((r) => setTimeout(r, workMs)); // the work itself
    try {
      await ledger.create(msg.string(), worker);
      processed++;
    } catch (error) {
      if (
        !(error instanceof JetStreamApiError) ||
        error.code !== JetStreamApiCodes.StreamWrongLastSequence
      ) {
        throw error;
      }
      duplicates++; // someone had done this item already
      console.error(`${worker}: ${msg.string()} was processed before`);
    }
    recorded = true;
    inFlight--;
    await msg.ackAck();
  } finally {
    if (!recorded) inFlight--;
  }
}

const manager: Manager = new Manager({
  ...presets.fastTest,
  connection: nc,
  group,
  source: partitions,
  hooks: {
    async onAssignmentChanged({ added, removed, assignment }) {
      await Promise.all(removed.map(async (p) => {
        await loops.get(consumerOf(p))?.stop();
        loops.delete(consumerOf(p));
      }));
      if (!draining) {
        for (const p of added) loops.set(consumerOf(p), consume(manager.workerId!, p));
      }
      const owned = assignment.partitions.map((p) => p.keys[2]);
      console.log(`ASSIGNMENT ${JSON.stringify({ worker: manager.workerId, partitions: owned })}`);
    },
  },
});

const signalled = Promise.withResolvers<Deno.Signal>();
const onSigterm = () => signalled.resolve("SIGTERM");
const onSigint = () => signalled.resolve("SIGINT");
Deno.addSignalListener("SIGTERM", onSigterm);
Deno.addSignalListener("SIGINT", onSigint);

try {
  await manager.start();
  const worker = manager.workerId!;
  console.log(`READY ${JSON.stringify({ worker, leader: manager.isLeader })}`);
  const signal = await signalled.promise;
  const inFlightAtSignal = inFlight;
  const processedAtSignal = processed;
  const partitionsAtSignal = manager.assignment.partitions.length;
  console.log(`${worker}: ${signal}: draining ${inFlightAtSignal} items in flight`);
  // 1. Stop taking work and finish what is in hand; the partitions are still ours meanwhile.
  draining = true;
  await Promise.all([...loops.values()].map((l) => l.stop()));
  const drainedAt = performance.now();
  // 2. Hand the partitions back: stop() revokes them (nothing left to stop) and leaves the group.
  await manager.stop();
  const stopMs = performance.now() - drainedAt;
  let backlog = 0;
  for (const p of partitions) {
    const info = await jsm.consumers.info(STREAM, consumerOf(p));
    backlog += info.num_pending + info.num_ack_pending;
  }
  const result = {
    worker,
    signal,
    processed,
    duplicates,
    inFlightAtSignal,
    drained: processed - processedAtSignal,
    partitionsAtSignal,
    stopMs: Math.round(stopMs),
    ledger: (await ledger.status()).values,
    backlog,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  Deno.removeSignalListener("SIGTERM", onSigterm);
  Deno.removeSignalListener("SIGINT", onSigint);
  await manager.stop();
  await nc.close();
}

function positiveInt(name: string, text: string | undefined, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} needs an integer of at least ${min}, got '${text}'`);
    Deno.exit(2);
  }
  return n;
}
