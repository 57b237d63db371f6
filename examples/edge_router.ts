/**
 * An edge router: a `Deno.serve` handler that sends each request to the worker owning the
 * request's partition, reading the group with `GroupAdmin` — it never joins the group (no worker
 * ID, no heartbeat, no lease) and touches no file: it talks to NATS over a WebSocket connection
 * (`wsconnect`), as it would in an edge runtime. Items are spread over `--partitions` shards by a
 * hash of their ID; the router keeps a shard → owner table, refreshed from `admin.assignments()`
 * whenever `admin.watch()` shows a new publication, and proxies `GET /item/<id>` to the owner's
 * HTTP server. The workers are Parti managers in this process, each with its own small HTTP
 * server that answers only for shards it owns (421 otherwise); their addresses come from a
 * directory map, standing in for DNS names like `worker-3.orders.svc`. Halfway through, a worker
 * joins and the routes follow the new assignment. Result: every request reached the owner, and
 * the router's owner agreed with `admin.ownerOf()` for every one.
 *
 * Run: `deno run -A examples/edge_router.ts [--nats ws://127.0.0.1:8080] [--requests 200]
 * [--workers 3] [--partitions 16]`. Without `--nats` it starts a local `nats-server` with a
 * WebSocket listener (it must be installed).
 */
import { parseArgs } from "node:util";
import { type NatsConnection, wsconnect } from "@nats-io/nats-core";
import {
  GroupAdmin,
  Manager,
  type Partition,
  partitionId,
  presets,
  recommendedConnectionOptions,
} from "../mod.ts";
import { NatsServer, waitFor } from "../testing/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string" },
    requests: { type: "string", default: "200" },
    workers: { type: "string", default: "3" },
    partitions: { type: "string", default: "16" },
  },
});
const requestCount = positiveInt("requests", values.requests, 2);
const workerCount = positiveInt("workers", values.workers);
const shardCount = positiveInt("partitions", values.partitions);
const GROUP = "edge";
const shards: Partition[] = Array.from({ length: shardCount }, (_, i) => ({
  keys: ["shard", String(i)],
}));

/** The shard an item belongs to: FNV-1a of its ID, modulo the shard count. */
function shardOf(itemId: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < itemId.length; i++) {
    h ^= itemId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return partitionId(shards[h % shardCount]!);
}

/** A worker: a manager and the HTTP server that answers for the shards it owns. */
interface Worker {
  readonly manager: Manager;
  readonly nc: NatsConnection;
  readonly http: Deno.HttpServer<Deno.NetAddr>;
}

/** Where each worker's HTTP server is (a DNS stand-in); filled as workers start. */
const directory = new Map<string, string>();

async function startWorker(servers: string): Promise<Worker> {
  const nc = await wsconnect({ servers, ...recommendedConnectionOptions });
  const manager = new Manager({
    ...presets.fastTest,
    connection: nc,
    group: GROUP,
    source: shards,
  });
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const shard = req.headers.get("x-partition") ?? "";
    const owned = manager.assignment.partitions.some((p) => partitionId(p) === shard);
    if (!owned) return new Response(`not the owner of '${shard}'`, { status: 421 });
    return Response.json({ worker: manager.workerId, shard, path: new URL(req.url).pathname });
  });
  await manager.start();
  directory.set(manager.workerId!, `http://127.0.0.1:${http.addr.port}`);
  return { manager, nc, http };
}

/** The router's shard → owner table, kept current from the admin's watch. */
class OwnerTable {
  readonly #admin: GroupAdmin;
  #owners = new Map<string, string>();
  /** Version of the publication the table was built from. */
  version = -1;

  constructor(admin: GroupAdmin) {
    this.#admin = admin;
  }

  /** Follows the group until `signal` aborts. */
  async follow(signal: AbortSignal): Promise<void> {
    for await (const topology of this.#admin.watch({ signal })) {
      if (topology.version === this.version) continue;
      const owners = new Map<string, string>();
      for (const [workerId, a] of await this.#admin.assignments()) {
        for (const p of a.partitions) owners.set(partitionId(p), workerId);
      }
      this.#owners = owners;
      this.version = topology.version;
    }
  }

  ownerOf(shard: string): string | undefined {
    return this.#owners.get(shard);
  }
}

/** The edge handler: `GET /item/<id>` → the owner of the item's shard. */
function router(table: OwnerTable): (req: Request) => Promise<Response> {
  return async (req) => {
    const match = new URL(req.url).pathname.match(/^\/item\/([^/]+)$/);
    if (req.method !== "GET" || !match) return new Response("not found", { status: 404 });
    const shard = shardOf(decodeURIComponent(match[1]!));
    const owner = table.ownerOf(shard);
    const origin = owner === undefined ? undefined : directory.get(owner);
    if (owner === undefined || origin === undefined) {
      return new Response(`no owner for '${shard}' yet`, {
        status: 503,
        headers: { "retry-after": "1" },
      });
    }
    const upstream = await fetch(`${origin}${new URL(req.url).pathname}`, {
      headers: { "x-partition": shard },
    });
    return new Response(upstream.body, {
      status: upstream.status,
      headers: { "x-routed-to": owner, "x-partition": shard },
    });
  };
}

const server = values.nats ? undefined : await NatsServer.start({ websocket: true });
const servers = values.nats ?? server!.wsUrl!;
const workers: Worker[] = [];
const abort = new AbortController();
let edgeNc: NatsConnection | undefined;
let admin: GroupAdmin | undefined;
let edge: Deno.HttpServer<Deno.NetAddr> | undefined;
let following: Promise<void> | undefined;
try {
  for (let i = 0; i < workerCount; i++) workers.push(await startWorker(servers));
  await waitForStable(workers);

  edgeNc = await wsconnect({ servers, ...recommendedConnectionOptions });
  admin = await GroupAdmin.open({ connection: edgeNc, group: GROUP });
  const table = new OwnerTable(admin);
  following = table.follow(abort.signal);
  edge = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, router(table));
  const edgeOrigin = `http://127.0.0.1:${edge.addr.port}`;

  const stats = { routed: 0, ownerMatches: 0, mismatches: 0, misdirected: 0, failed: 0 };
  const perWorker: Record<string, number> = {};
  const request = async (i: number) => {
    const response = await fetch(`${edgeOrigin}/item/item-${i}`);
    const body = await response.text();
    const routedTo = response.headers.get("x-routed-to");
    const shard = response.headers.get("x-partition");
    if (response.status === 421) stats.misdirected++;
    else if (response.status !== 200 || routedTo === null || shard === null) stats.failed++;
    else {
      stats.routed++;
      perWorker[routedTo] = (perWorker[routedTo] ?? 0) + 1;
      const answered = (JSON.parse(body) as { worker: string }).worker;
      // The check, not the router, asks ownerOf(): it reads every published assignment, which
      // is why the router itself keeps a table.
      const published = await admin!.ownerOf(shard);
      if (answered === routedTo && published === routedTo) stats.ownerMatches++;
      else stats.mismatches++;
    }
  };
  const send = async (count: number, offset: number) => {
    await waitForTable(admin!, table);
    const concurrency = 10;
    for (let start = offset; start < offset + count; start += concurrency) {
      const end = Math.min(offset + count, start + concurrency);
      await Promise.all(Array.from({ length: end - start }, (_, k) => request(start + k)));
    }
  };

  const half = Math.floor(requestCount / 2);
  await send(half, 0);
  const versionBefore = table.version;
  const joined = await startWorker(servers);
  workers.push(joined);
  await waitForStable(workers);
  await waitFor(() => joined.manager.assignment.partitions.length > 0, {
    timeoutMs: 10_000,
    message: "the new worker got shards",
  });
  await send(requestCount - half, half);

  for (const [id, n] of Object.entries(perWorker).sort()) console.log(`${id} served ${n}`);
  const result = {
    requests: requestCount,
    ...stats,
    workers: workers.length,
    perWorker,
    joinedWorker: joined.manager.workerId,
    joinedServed: perWorker[joined.manager.workerId!] ?? 0,
    versionBefore,
    versionAfter: table.version,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  abort.abort();
  await following?.catch(() => {});
  await edge?.shutdown();
  await admin?.close();
  await edgeNc?.close();
  await Promise.all(workers.map((w) => w.manager.stop().catch(() => {})));
  await Promise.all(workers.map((w) => w.http.shutdown()));
  await Promise.all(workers.map((w) => w.nc.close()));
  await server?.stop();
}

/** Waits until every worker is stable and each shard has exactly one owner among them. */
async function waitForStable(list: readonly Worker[]): Promise<void> {
  await waitFor(() => {
    if (!list.every((w) => w.manager.state === "stable")) return false;
    const owned = list.flatMap((w) => w.manager.assignment.partitions.map(partitionId));
    return owned.length === shardCount && new Set(owned).size === shardCount;
  }, { timeoutMs: 15_000, message: "every shard owned once by a stable worker" });
}

/** Waits until the router's table was built from the latest publication. */
async function waitForTable(admin: GroupAdmin, table: OwnerTable): Promise<void> {
  await waitFor(async () => table.version === (await admin.topology()).version, {
    timeoutMs: 10_000,
    message: "the router's table is current",
  });
}

function positiveInt(name: string, text: string | undefined, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} needs an integer of at least ${min}, got '${text}'`);
    Deno.exit(2);
  }
  return n;
}
