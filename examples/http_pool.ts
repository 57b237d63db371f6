/**
 * A crawler-style HTTP worker pool. URLs are bucketed by host and every host is a partition,
 * weighted by its number of pages; a worker crawls only the hosts Parti assigns it, politely (one
 * request at a time per host), and stops a host (finishing the request in flight) before its
 * `onAssignmentChanged` resolves. A local `Deno.serve` on a free port stands in for the web: its
 * virtual hosts live under a path prefix (`/<host>/<page>`), each page links to two more pages
 * of its host and to one of the next host, and the server itself counts requests and concurrent
 * requests per host. The workers run in this process and share the URL frontier (one queue per
 * host, as a shared store would hold it); halfway through, the crawl pauses before its next fetch,
 * the worker with the most queued work stops, as in a scale-in, and its hosts move. Result: every
 * URL fetched once, and the web never saw two requests to one host at a time.
 *
 * Run: `deno run -A examples/http_pool.ts [--nats nats://127.0.0.1:4222] [--hosts 6]
 * [--pages 120] [--workers 3] [--latency-ms 20]`. Without `--nats` it starts a local
 * `nats-server` (it must be installed).
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { Manager, type Partition, presets, recommendedConnectionOptions } from "../mod.ts";
import { NatsServer, waitFor } from "../testing/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nats: { type: "string" },
    hosts: { type: "string", default: "6" },
    pages: { type: "string", default: "120" },
    workers: { type: "string", default: "3" },
    "latency-ms": { type: "string", default: "20" },
  },
});
const hostCount = positiveInt("hosts", values.hosts);
const pageCount = positiveInt("pages", values.pages, hostCount);
const workerCount = positiveInt("workers", values.workers);
const latencyMs = positiveInt("latency-ms", values["latency-ms"], 0);

// Host i has a share `hostCount - i` of the pages (at least one); the first host takes the rest.
const hosts = Array.from({ length: hostCount }, (_, i) => `host-${i}.test`);
const shares = hosts.map((_, i) => hostCount - i);
const totalShare = shares.reduce((a, b) => a + b, 0);
const sizes = shares.map((s) => Math.max(1, Math.floor((pageCount * s) / totalShare)));
sizes[0]! += pageCount - sizes.reduce((a, b) => a + b, 0);
const sizeOf = new Map(hosts.map((h, i) => [h, sizes[i]!]));
const partitions: Partition[] = hosts.map((h) => ({ keys: ["host", h], weight: sizeOf.get(h)! }));

/** The stand-in web: serves the pages and watches how it is crawled. */
function startWeb() {
  const hits = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const lastCrawler = new Map<string, string>();
  const stats = { requests: 0, notFound: 0, maxConcurrentPerHost: 0, hostHandoffs: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const [, host = "", page = ""] = new URL(req.url).pathname.split("/");
    const n = Number(page);
    const size = sizeOf.get(host);
    stats.requests++;
    if (size === undefined || !Number.isInteger(n) || n < 0 || n >= size) {
      stats.notFound++;
      return new Response("not found", { status: 404 });
    }
    const crawler = req.headers.get("x-crawler") ?? "?";
    if (lastCrawler.has(host) && lastCrawler.get(host) !== crawler) stats.hostHandoffs++;
    lastCrawler.set(host, crawler);
    const path = `/${host}/${n}`;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const concurrent = (inFlight.get(host) ?? 0) + 1;
    inFlight.set(host, concurrent);
    stats.maxConcurrentPerHost = Math.max(stats.maxConcurrentPerHost, concurrent);
    try {
      await new Promise((r) => setTimeout(r, latencyMs)); // a slow origin
      const next = hosts[(hosts.indexOf(host) + 1) % hosts.length]!;
      const links = [`/${host}/${2 * n + 1}`, `/${host}/${2 * n + 2}`, `/${next}/${n}`]
        .filter((l) => {
          const [, h = "", p = ""] = l.split("/");
          return Number(p) < sizeOf.get(h)!;
        });
      const body = links.map((l) => `<a href="${l}">${l}</a>`).join("\n");
      return new Response(`<html><body>\n${body}\n</body></html>`, {
        headers: { "content-type": "text/html" },
      });
    } finally {
      inFlight.set(host, inFlight.get(host)! - 1);
    }
  });
  const duplicates = () => [...hits.values()].filter((n) => n > 1).length;
  return { server, stats, hits, duplicates, origin: `http://127.0.0.1:${server.addr.port}` };
}

/** Resolves on the next `wakeAll()` or when `signal` aborts. */
class Waiters {
  readonly #waiters = new Set<() => void>();

  wait(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        signal.removeEventListener("abort", wake);
        this.#waiters.delete(wake);
        resolve();
      };
      this.#waiters.add(wake);
      signal.addEventListener("abort", wake);
    });
  }

  wakeAll(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** The URLs still to fetch for one host; only the host's owner takes from it. */
class HostQueue {
  readonly #urls: string[] = [];
  readonly #waiters = new Waiters();

  get size(): number {
    return this.#urls.length;
  }

  push(url: string): void {
    this.#urls.push(url);
    this.#waiters.wakeAll();
  }

  /** The next URL, waiting for one; `undefined` once `signal` aborts. */
  async take(signal: AbortSignal): Promise<string | undefined> {
    while (!signal.aborted) {
      const url = this.#urls.shift();
      if (url !== undefined) return url;
      await this.#waiters.wait(signal);
    }
    return undefined;
  }
}

/**
 * Holds the crawl halfway, before its next fetch, so that the scale-in below happens while URLs
 * are queued (left running, a fast crawl can finish before anyone looks).
 */
const pause = { half: 0, closed: true, opened: new Waiters() };

const web = startWeb();
const frontier = new Map(hosts.map((h) => [h, new HostQueue()]));
const queued = new Set<string>();
const perWorker: Record<string, number> = {};
let fetched = 0;
let fetching = 0;

function enqueue(path: string): void {
  if (queued.has(path)) return;
  queued.add(path);
  frontier.get(path.split("/")[1]!)?.push(path);
}

/** Crawls one host until `signal` aborts; resolves after the request in flight has finished. */
async function crawlHost(worker: string, host: string, signal: AbortSignal): Promise<void> {
  const queue = frontier.get(host)!;
  while (!signal.aborted) {
    while (pause.closed && fetched >= pause.half && !signal.aborted) {
      await pause.opened.wait(signal);
    }
    const path = await queue.take(signal);
    if (path === undefined) break;
    fetching++;
    try {
      const res = await fetch(web.origin + path, { headers: { "x-crawler": worker } });
      const html = await res.text();
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
      for (const [, link] of html.matchAll(/href="([^"]+)"/g)) enqueue(link!);
      fetched++;
      perWorker[worker] = (perWorker[worker] ?? 0) + 1;
    } catch (error) {
      console.error(`${worker}: ${String(error)}`);
    } finally {
      fetching--;
    }
  }
}

interface Worker {
  readonly manager: Manager;
  readonly nc: NatsConnection;
  readonly crawls: Map<string, { abort: AbortController; done: Promise<void> }>;
}

async function startWorker(url: string): Promise<Worker> {
  const nc = await connect({ servers: url, ...recommendedConnectionOptions });
  const crawls: Worker["crawls"] = new Map();
  const manager: Manager = new Manager({
    ...presets.fastTest,
    connection: nc,
    group: "http-pool",
    source: partitions,
    hooks: {
      async onAssignmentChanged({ added, removed }) {
        await Promise.all(removed.map(async ({ keys: [, host] }) => {
          const crawl = crawls.get(host!);
          crawls.delete(host!);
          crawl?.abort.abort();
          await crawl?.done;
        }));
        for (const { keys: [, host] } of added) {
          const abort = new AbortController();
          crawls.set(host!, { abort, done: crawlHost(manager.workerId!, host!, abort.signal) });
        }
      },
    },
  });
  return { manager, nc, crawls };
}

const server = values.nats ? undefined : await NatsServer.start();
const url = values.nats ?? server!.url;
const workers: Worker[] = [];
try {
  console.log(
    `http pool: ${pageCount} pages on ${hostCount} hosts at ${web.origin}, ${workerCount} ` +
      `workers, NATS at ${url}`,
  );
  for (const h of hosts) enqueue(`/${h}/0`);
  pause.half = workerCount > 1 ? Math.ceil(pageCount / 2) : Infinity;
  for (let i = 0; i < workerCount; i++) workers.push(await startWorker(url));
  await Promise.all(workers.map((w) => w.manager.start()));

  let left: string | undefined;
  let leftWithQueued = 0;
  if (workerCount > 1) {
    const backlog = (w: Worker) =>
      [...w.crawls.keys()].reduce((n, h) => n + frontier.get(h)!.size, 0);
    // Half crawled and every fetch in flight finished: the crawl waits at the pause.
    await waitFor(() => fetched >= pause.half && fetching === 0, {
      timeoutMs: 30_000,
      intervalMs: 5,
      message: "half crawled",
    });
    const victim = workers.reduce((a, b) => (backlog(b) > backlog(a) ? b : a));
    left = victim.manager.workerId;
    leftWithQueued = backlog(victim);
    console.log(`${left} stops with ${leftWithQueued} URLs queued for its hosts`);
    await victim.manager.stop();
  }
  pause.closed = false;
  pause.opened.wakeAll();
  await waitFor(() => fetching === 0 && [...frontier.values()].every((q) => q.size === 0), {
    timeoutMs: 30_000,
    intervalMs: 10,
    message: "frontier empty",
  });
  await Promise.all(workers.map((w) => w.manager.stop()));
  for (const [worker, n] of Object.entries(perWorker).sort()) {
    console.log(`${worker} fetched ${n} pages`);
  }
  const result = {
    hosts: hostCount,
    urls: pageCount,
    fetched,
    requests: web.stats.requests,
    uniqueUrls: web.hits.size,
    duplicates: web.duplicates(),
    notFound: web.stats.notFound,
    maxConcurrentPerHost: web.stats.maxConcurrentPerHost,
    hostHandoffs: web.stats.hostHandoffs,
    left,
    leftWithQueued,
    perWorker,
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  await Promise.all(workers.map((w) => w.manager.stop().catch(() => {})));
  await Promise.all(workers.map((w) => w.nc.close()));
  await web.server.shutdown();
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
