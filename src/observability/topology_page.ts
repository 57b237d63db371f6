/**
 * The live topology page the health handler serves at `/`: which worker owns which partition, who
 * leads, who is drained, and what just moved. Three routes, all runtime-agnostic (web `Response`,
 * `ReadableStream`, timers):
 *
 * - `GET /` — one self-contained HTML page (inline CSS and script, no CDN, nothing fetched but the
 *   two routes below). Every value shown is user data (worker and partition IDs, the group name):
 *   the server escapes what it writes into the markup, and the script writes only through
 *   `textContent` and `dataset`, never HTML. A strict Content-Security-Policy with a per-response
 *   nonce backs that up.
 * - `GET /topology.json` — a {@link TopologySnapshot} read now.
 * - `GET /events` — server-sent events: an `event: topology` with a snapshot at once and after every
 *   change (`event: unavailable` while the group cannot be read). A source with `watch()` (a
 *   `GroupAdmin`) drives it by its watch; any other (a `Manager`) is polled.
 *
 * @module
 */
import { partitionId } from "../partition.ts";
import type { Topology } from "../protocol/group_view.ts";
import { compareVersions } from "../protocol/records.ts";
import type { Assignment } from "../types.ts";

/**
 * What the topology page reads a group from. A `GroupAdmin` is one (the outside view: it follows
 * the group with a watch); a `Manager` is adapted to one by the health handler (the member view:
 * its `getTopology()` and `getAssignments()`, polled).
 *
 * @example A reader of your own, served as a dashboard
 * ```ts
 * import { healthHandler, type TopologyReader } from "@parti/core";
 *
 * const reader: TopologyReader = {
 *   group: "orders",
 *   topology: () =>
 *     Promise.resolve({
 *       leader: undefined,
 *       epoch: 0,
 *       version: 0,
 *       partitionCount: 0,
 *       pending: 0,
 *       workers: [],
 *     }),
 *   assignments: () => Promise.resolve(new Map()),
 * };
 * const dashboard = healthHandler(reader);
 * const response = await dashboard(new Request("http://localhost/topology.json"));
 * console.assert(response.status === 200);
 * ```
 */
export interface TopologyReader {
  /** The group's name, shown in the page's title when given. */
  readonly group?: string;
  /**
   * Reads the topology: workers, leader, versions, drained flags.
   *
   * @returns A snapshot of the group.
   */
  topology(): Promise<Topology>;
  /**
   * Reads every worker's published assignment.
   *
   * @returns Worker ID → its assignment.
   */
  assignments(): Promise<Map<string, Assignment>>;
  /**
   * Snapshots of the topology, one after every change, until `signal` aborts. Without it the page
   * polls {@link TopologyReader.topology}.
   *
   * @param options The signal that ends the iteration.
   * @returns An async iterable of topologies.
   */
  watch?(options?: { readonly signal?: AbortSignal }): AsyncIterable<Topology>;
}

/** One worker of a {@link TopologySnapshot}. */
export interface TopologySnapshotWorker {
  /** Worker ID. */
  readonly workerId: string;
  /** State it last reported, `null` when its heartbeat is gone. */
  readonly state: string | null;
  /** Whether it leads. */
  readonly isLeader: boolean;
  /** Whether it is drained. */
  readonly drained: boolean;
  /** Partitions published for it. */
  readonly partitions: number;
  /** Their total weight. */
  readonly load: number;
}

/**
 * What `/topology.json` and every `/events` message carry.
 *
 * @example Who owns what, from a worker's health port
 * ```ts ignore
 * import type { TopologySnapshot } from "@parti/core";
 *
 * const response = await fetch("http://parti-worker-0.parti-worker:8080/topology.json");
 * const snapshot: TopologySnapshot = await response.json();
 * for (const { partition, owner } of snapshot.cells) console.log(partition, owner);
 * ```
 */
export interface TopologySnapshot {
  /** The group, when the source names it. */
  readonly group: string | null;
  /** `"member"` for a worker's own view, `"admin"` for a `GroupAdmin`'s. */
  readonly view: "member" | "admin";
  /** The worker whose view this is (member view), else `null`. */
  readonly observer: string | null;
  /** The leader's worker ID, `null` while none leads. */
  readonly leader: string | null;
  /** Epoch of the latest publication. */
  readonly epoch: number;
  /** Version of the latest publication. */
  readonly version: number;
  /** Partitions held back in a hand-off (in nobody's assignment right now). */
  readonly pending: number;
  /** The workers, sorted by ID. */
  readonly workers: readonly TopologySnapshotWorker[];
  /** Every published partition with its owner, in natural order of the IDs. */
  readonly cells: readonly { readonly partition: string; readonly owner: string }[];
}

/** Where a page reads from and how it calls itself. */
export interface PageSource {
  /** The reader. */
  readonly reader: TopologyReader;
  /** Whose view. */
  readonly view: "member" | "admin";
  /** The observing worker's ID (read at every snapshot: it is claimed after start). */
  readonly observer: () => string | undefined;
}

/** The parts of a worker (a `Manager`) the member view reads. */
export interface MemberView {
  /** The worker's ID once claimed. */
  readonly workerId: string | undefined;
  /** `Manager.getTopology()`. */
  getTopology?(): Promise<Topology>;
  /** `Manager.getAssignments()`. */
  getAssignments?(): Promise<Map<string, Assignment>>;
}

function isReader(value: unknown): value is TopologyReader {
  const v = value as Partial<TopologyReader> | null;
  return typeof v?.topology === "function" && typeof v.assignments === "function";
}

/**
 * Where the page of a health handler reads from: the `topology` option (a `GroupAdmin`: the admin
 * view), else the handler's source, a reader itself (a dashboard) or a worker that can read the
 * group (the member view); `undefined` when none can.
 *
 * @throws {TypeError} When `option`, or a source that is not a worker, is not a reader.
 */
export function pageSourceFor(
  source: object,
  worker: MemberView | undefined,
  option: TopologyReader | false | undefined,
): PageSource | undefined {
  const observer = () => worker?.workerId;
  if (option !== undefined && option !== false) {
    if (!isReader(option)) {
      throw new TypeError(
        "healthHandler() option 'topology' must be a GroupAdmin (with topology() and assignments()) or false",
      );
    }
    return { reader: option, view: "admin", observer };
  }
  if (!worker) {
    if (!isReader(source)) {
      throw new TypeError(
        "healthHandler() needs a Manager (state, assignment) or a GroupAdmin (topology(), assignments()) as its source",
      );
    }
    return { reader: source, view: "admin", observer };
  }
  const { getTopology, getAssignments } = worker;
  if (typeof getTopology !== "function" || typeof getAssignments !== "function") return undefined;
  return {
    reader: {
      topology: () => getTopology.call(worker),
      assignments: () => getAssignments.call(worker),
    },
    view: "member",
    observer,
  };
}

/** Tuning of a {@link TopologyPage}. */
export interface TopologyPageOptions {
  /** How often a source without `watch()` is read while a page is open. */
  readonly pollMs: number;
  /** How long the page highlights a partition that changed owner. */
  readonly movedHighlightMs: number;
  /** Ends every event stream and the feed. */
  readonly signal: AbortSignal | undefined;
}

type FeedEvent =
  | { readonly kind: "topology"; readonly snapshot: TopologySnapshot }
  | { readonly kind: "unavailable"; readonly reason: string };

const collator = new Intl.Collator("en", { numeric: true });
const encoder = new TextEncoder();
/** Comment lines that keep idle proxies from closing an event stream. */
const KEEP_ALIVE_MS = 15_000;
/** After a failed read or an ended watch, how long before the feed reads again. */
const RETRY_MS = 1_000;

/** Reads the assignments again only when a worker's published version moved. */
class AssignmentCache {
  #key = "";
  #value: Map<string, Assignment> | undefined;

  async read(reader: TopologyReader, topology: Topology): Promise<Map<string, Assignment>> {
    const key = [
      topology.epoch,
      topology.version,
      ...topology.workers.map((w) => `${w.workerId}@${w.publishedVersion}:${w.partitions}`),
    ].join(" ");
    if (this.#value === undefined || key !== this.#key) {
      this.#value = await reader.assignments();
      this.#key = key;
    }
    return this.#value;
  }
}

/** How often a snapshot re-reads the topology when the assignments were newer than it. */
const CONSISTENCY_RETRIES = 2;

/**
 * Reads a snapshot: the topology (given, or read now) and who owns each partition. When stale keys
 * list a partition twice, the newer publication (epoch, version) owns it, as `ownerOf()` decides.
 *
 * The two reads are not atomic. A leader writes the worker keys of a publication before its
 * summary, so assignments newer than the topology's version mean the summary (and its `pending`
 * count) is from the publication before: the topology is read again, and the snapshot reports
 * `consistent: false` when it is still behind (the feed then waits for the next change instead
 * of drawing a hand-off's partitions as gone).
 */
async function readSnapshot(
  source: PageSource,
  topology?: Topology,
  cache: AssignmentCache = new AssignmentCache(),
): Promise<{ snapshot: TopologySnapshot; consistent: boolean }> {
  let t = topology ?? await source.reader.topology();
  let assignments = await cache.read(source.reader, t);
  const behind = () => [...assignments.values()].some((a) => compareVersions(a, t) > 0);
  for (let i = 0; i < CONSISTENCY_RETRIES && behind(); i++) {
    t = await source.reader.topology();
    assignments = await cache.read(source.reader, t);
  }
  const owners = new Map<string, { owner: string; epoch: number; version: number }>();
  for (const [workerId, assignment] of assignments) {
    for (const p of assignment.partitions) {
      const id = partitionId(p);
      const best = owners.get(id);
      if (best === undefined || compareVersions(assignment, best) > 0) {
        owners.set(id, { owner: workerId, epoch: assignment.epoch, version: assignment.version });
      }
    }
  }
  const snapshot: TopologySnapshot = {
    group: source.reader.group ?? null,
    view: source.view,
    observer: source.observer() ?? null,
    leader: t.leader?.workerId ?? null,
    epoch: t.epoch,
    version: t.version,
    pending: t.pending,
    workers: t.workers.map((w) => ({
      workerId: w.workerId,
      state: w.state ?? null,
      isLeader: w.isLeader,
      drained: w.drained,
      partitions: w.partitions,
      load: w.load,
    })),
    cells: [...owners].sort(([a], [b]) => collator.compare(a, b))
      .map(([partition, { owner }]) => ({ partition, owner })),
  };
  return { snapshot, consistent: !behind() };
}

/**
 * One reading loop shared by every open event stream: it runs while at least one listens, and
 * passes on an event only when it differs from the previous one.
 */
class TopologyFeed {
  readonly #source: PageSource;
  readonly #pollMs: number;
  readonly #listeners = new Set<(event: FeedEvent) => void>();
  #latest: FeedEvent | undefined;
  #running: AbortController | undefined;

  constructor(source: PageSource, pollMs: number) {
    this.#source = source;
    this.#pollMs = pollMs;
  }

  /** Adds a listener (told the latest event at once); returns the function that removes it. */
  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    if (this.#latest) listener(this.#latest);
    if (!this.#running) {
      const running = new AbortController();
      this.#running = running;
      void this.#run(running.signal);
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.stop();
    };
  }

  /** Ends the loop (a later subscriber starts a new one). */
  stop(): void {
    this.#running?.abort();
    this.#running = undefined;
    this.#latest = undefined;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const cache = new AssignmentCache();
    const reader = this.#source.reader;
    let last = "";
    const publish = (event: FeedEvent) => {
      const key = JSON.stringify(event);
      if (signal.aborted || key === last) return;
      last = key;
      this.#latest = event;
      for (const listener of [...this.#listeners]) listener(event);
    };
    const draw = async (topology?: Topology) => {
      const { snapshot, consistent } = await readSnapshot(this.#source, topology, cache);
      if (consistent) publish({ kind: "topology", snapshot });
    };
    while (!signal.aborted) {
      try {
        if (reader.watch) {
          // The summary written after an inconsistent read is a change of its own: it comes.
          for await (const topology of reader.watch({ signal })) await draw(topology);
        } else {
          await draw();
        }
      } catch (error) {
        publish({ kind: "unavailable", reason: describe(error) });
      }
      await delay(reader.watch ? RETRY_MS : this.#pollMs, signal);
    }
  }
}

/** The three routes of the page for one source. */
export class TopologyPage {
  /** The routes this serves, relative to the handler's base path. */
  static readonly routes: readonly string[] = ["/", "/topology.json", "/events"];
  readonly #source: PageSource;
  readonly #options: TopologyPageOptions;
  readonly #feed: TopologyFeed;

  /**
   * @param source What to read and whose view it is.
   * @param options Poll period, highlight time and the signal that ends the streams.
   */
  constructor(source: PageSource, options: TopologyPageOptions) {
    this.#source = source;
    this.#options = options;
    this.#feed = new TopologyFeed(source, options.pollMs);
    options.signal?.addEventListener("abort", () => this.#feed.stop(), { once: true });
  }

  /** Reads a snapshot now. */
  async snapshot(): Promise<TopologySnapshot> {
    return (await readSnapshot(this.#source)).snapshot;
  }

  /**
   * Answers one of {@link TopologyPage.routes}.
   *
   * @param route The route, e.g. `"/events"`.
   * @param request The request (its method).
   * @param base The handler's base path, for the page's own links.
   * @returns The response.
   */
  async respond(route: string, request: Request, base: string): Promise<Response> {
    const head = request.method === "HEAD";
    const headers = new Headers({
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    });
    if (route === "/") {
      const nonce = makeNonce();
      headers.set("content-type", "text/html; charset=utf-8");
      headers.set("content-security-policy", contentSecurityPolicy(nonce));
      headers.set("referrer-policy", "no-referrer");
      const html = renderPage({
        title: this.#source.reader.group ?? null,
        nonce,
        eventsUrl: `${base}/events`,
        jsonUrl: `${base}/topology.json`,
        movedHighlightMs: this.#options.movedHighlightMs,
      });
      return new Response(head ? null : html, { status: 200, headers });
    }
    if (route === "/topology.json") {
      headers.set("content-type", "application/json; charset=utf-8");
      try {
        const body = JSON.stringify(await this.snapshot());
        return new Response(head ? null : body, { status: 200, headers });
      } catch (error) {
        const body = JSON.stringify({ error: describe(error) });
        return new Response(head ? null : body, { status: 503, headers });
      }
    }
    headers.set("content-type", "text/event-stream; charset=utf-8");
    headers.set("x-accel-buffering", "no"); // nginx: pass each event on at once
    if (this.#options.signal?.aborted) {
      headers.set("content-type", "text/plain; charset=utf-8");
      return new Response(head ? null : "shutting down\n", { status: 503, headers });
    }
    if (head) return new Response(null, { status: 200, headers });
    return new Response(this.#stream(), { status: 200, headers });
  }

  // Not `request.signal`: Deno.serve aborts it once a response is under way. A client that goes
  // away cancels the body stream (at the latest when the next keep-alive cannot be written).
  #stream(): ReadableStream<Uint8Array> {
    const ended = this.#options.signal;
    let cleanup = () => {};
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        let open = true;
        const send = (text: string) => {
          if (!open) return;
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            cleanup();
          }
        };
        const unsubscribe = this.#feed.subscribe((event) => send(formatEvent(event)));
        const keepAlive = setInterval(() => send(": keep-alive\n\n"), KEEP_ALIVE_MS);
        const onEnd = () => {
          cleanup();
          try {
            controller.close();
          } catch {
            // already closed or errored by the reader
          }
        };
        cleanup = () => {
          if (!open) return;
          open = false;
          clearInterval(keepAlive);
          unsubscribe();
          ended?.removeEventListener("abort", onEnd);
        };
        send("retry: 2000\n\n");
        if (ended?.aborted) onEnd();
        else ended?.addEventListener("abort", onEnd, { once: true });
      },
      cancel: () => cleanup(),
    });
  }
}

function formatEvent(event: FeedEvent): string {
  const data = event.kind === "topology" ? event.snapshot : { reason: event.reason };
  // JSON.stringify escapes line breaks inside strings, so the data is one line.
  return `event: ${event.kind}\ndata: ${JSON.stringify(data)}\n\n`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function makeNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that is safe inside a `<script>` element: no `<`, so no `</script>` and no `<!--`. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** What {@link renderPage} puts into the page. */
export interface PageParameters {
  /** The group, shown in the title (escaped), or `null`. */
  readonly title: string | null;
  /** The nonce of the inline style and script. */
  readonly nonce: string;
  /** Where the event stream is. */
  readonly eventsUrl: string;
  /** Where the snapshot is (polled when the browser has no `EventSource`). */
  readonly jsonUrl: string;
  /** How long a moved partition stays highlighted. */
  readonly movedHighlightMs: number;
}

/**
 * The page. Stable hooks for tests and scripts: `body[data-version]`, `body[data-snapshots]`
 * (snapshots drawn since load), `body[data-connection]` (`connecting`, `live`, `polling`,
 * `reconnecting`); `#legend li[data-worker]` with `data-leader`, `data-drained`,
 * `data-partitions`; `#grid [data-partition]` with `data-owner` (empty while unowned) and
 * `data-moved` while highlighted.
 */
export function renderPage(p: PageParameters): string {
  const title = p.title === null ? "Parti topology" : `Parti topology: ${p.title}`;
  const config = scriptJson({
    eventsUrl: p.eventsUrl,
    jsonUrl: p.jsonUrl,
    movedHighlightMs: p.movedHighlightMs,
  });
  const nonce = escapeHtml(p.nonce);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${PAGE_CSS}</style>
</head>
<body data-connection="connecting" data-snapshots="0" data-version="">
<header>
<h1>${escapeHtml(title)}</h1>
<p id="summary" aria-live="polite">connecting…</p>
<p id="problem" hidden></p>
</header>
<main>
<section aria-label="Workers"><h2>Workers</h2><ul id="legend"></ul></section>
<section aria-label="Partitions"><h2>Partitions <span id="count"></span></h2>
<div id="grid" role="list"></div></section>
</main>
<footer id="footer"></footer>
<script type="application/json" id="parti-config">${config}</script>
<script nonce="${nonce}">${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

const PAGE_CSS = `
:root { color-scheme: light; font: 14px/1.4 system-ui, sans-serif; color: #1d2330; }
body { margin: 0; padding: 16px 24px; background: #f6f7f9; }
h1 { font-size: 20px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: #5a6270; margin: 16px 0 8px; }
#summary { margin: 0; color: #3a4250; }
body[data-connection="reconnecting"] #summary::before, body[data-connection="connecting"] #summary::before { content: "○ "; color: #b06000; }
body[data-connection="live"] #summary::before, body[data-connection="polling"] #summary::before { content: "● "; color: #1a7f37; }
#problem { margin: 8px 0 0; padding: 6px 10px; background: #fff4e5; border: 1px solid #f0b46a; border-radius: 4px; }
#legend { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 8px; }
#legend li { display: flex; align-items: center; gap: 6px; padding: 4px 10px; background: #fff; border: 1px solid #d8dce3; border-radius: 14px; }
#legend li[data-drained="true"] { border-style: dashed; color: #6a7280; }
.swatch { width: 12px; height: 12px; border-radius: 3px; background: var(--owner, #ccc); border: 1px solid rgba(0,0,0,.2); }
.tag { font-size: 11px; padding: 0 6px; border-radius: 8px; background: #e8eaef; }
.tag.leader { background: #1d2330; color: #fff; }
.tag.drained { background: #fde2e1; color: #8a1c17; }
.meta { color: #5a6270; font-size: 12px; }
#grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(78px, 1fr)); gap: 6px; }
.cell { position: relative; min-height: 44px; padding: 4px 6px; border-radius: 5px; background: var(--owner, #ccc); border: 1px solid rgba(0,0,0,.15); font-size: 11px; overflow: hidden; transition: background-color .4s; }
.cell .pid { display: block; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.cell .own { display: block; opacity: .75; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.cell[data-owner=""] { background: repeating-linear-gradient(45deg, #e4e6ea, #e4e6ea 6px, #f3f4f6 6px, #f3f4f6 12px); }
.cell[data-moved] { outline: 3px solid #d4380d; outline-offset: 1px; animation: moved 1s ease-in-out 3; }
@keyframes moved { 50% { outline-color: #ffb38a; } }
footer { margin-top: 20px; color: #6a7280; font-size: 12px; }
`;

// Runs in the browser. It writes user data only through textContent and dataset.
const PAGE_SCRIPT = `
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("parti-config").textContent);
  const body = document.body;
  const legend = document.getElementById("legend");
  const grid = document.getElementById("grid");
  const summary = document.getElementById("summary");
  const problem = document.getElementById("problem");
  const footer = document.getElementById("footer");
  const cells = new Map();
  const owners = new Map();
  const movedUntil = new Map();
  let snapshots = 0;

  const hue = (id) => {
    const n = /(\\d+)$/.exec(id);
    if (n) return (Number(n[1]) * 137.508 + 200) % 360;
    let h = 2166136261;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
    return (h >>> 0) % 360;
  };
  const colour = (id) => "hsl(" + hue(id).toFixed(1) + " 70% 72%)";
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const unmark = (id) => {
    const until = movedUntil.get(id);
    if (until === undefined || until > performance.now()) return;
    movedUntil.delete(id);
    const cell = cells.get(id);
    if (cell) delete cell.dataset.moved;
  };
  const mark = (id) => {
    movedUntil.set(id, performance.now() + config.movedHighlightMs);
    cells.get(id).dataset.moved = "true";
    setTimeout(() => unmark(id), config.movedHighlightMs + 20);
  };

  const drawLegend = (s) => {
    legend.replaceChildren(...s.workers.map((w) => {
      const li = el("li");
      li.dataset.worker = w.workerId;
      li.dataset.leader = String(w.isLeader);
      li.dataset.drained = String(w.drained);
      li.dataset.partitions = String(w.partitions);
      const swatch = el("span", "swatch");
      swatch.style.setProperty("--owner", colour(w.workerId));
      li.append(swatch, el("strong", "id", w.workerId));
      if (w.isLeader) li.append(el("span", "tag leader", "★ leader"));
      if (w.drained) li.append(el("span", "tag drained", "drained"));
      const what = w.partitions + (w.partitions === 1 ? " partition" : " partitions") +
        " · load " + w.load + (w.state ? " · " + w.state : " · no heartbeat");
      li.append(el("span", "meta", what));
      return li;
    }));
  };

  const drawGrid = (s) => {
    const seen = new Set();
    const order = [];
    for (const c of s.cells) {
      seen.add(c.partition);
      order.push([c.partition, c.owner]);
    }
    // A partition between the two steps of a hand-off is in nobody's assignment: keep its cell,
    // unowned, until no hand-off is pending.
    if (s.pending > 0) {
      for (const id of cells.keys()) if (!seen.has(id)) order.push([id, ""]);
    }
    const keep = new Set(order.map(([id]) => id));
    for (const [id, cell] of cells) {
      if (!keep.has(id)) {
        cell.remove();
        cells.delete(id);
        owners.delete(id);
      }
    }
    for (const [id, owner] of order) {
      let cell = cells.get(id);
      const before = owners.get(id);
      if (!cell) {
        cell = el("div", "cell");
        cell.setAttribute("role", "listitem");
        cell.dataset.partition = id;
        cell.append(el("span", "pid"), el("span", "own"));
        cells.set(id, cell);
      }
      cell.dataset.owner = owner;
      cell.querySelector(".pid").textContent = id;
      cell.querySelector(".own").textContent = owner || "unowned";
      cell.title = id + " → " + (owner || "unowned");
      if (owner) cell.style.setProperty("--owner", colour(owner));
      else cell.style.removeProperty("--owner");
      owners.set(id, owner);
      grid.append(cell);
      if (before !== undefined && before !== owner) mark(id);
    }
    document.getElementById("count").textContent = "(" + s.cells.length + ")";
  };

  const draw = (s) => {
    problem.hidden = true;
    drawLegend(s);
    drawGrid(s);
    snapshots += 1;
    body.dataset.snapshots = String(snapshots);
    body.dataset.version = String(s.version);
    summary.textContent = "version " + s.version + " · epoch " + s.epoch + " · leader " +
      (s.leader ?? "none") + " · " + s.workers.length + " workers · " + s.cells.length +
      " partitions" + (s.pending > 0 ? " · " + s.pending + " in hand-off" : "");
    footer.textContent = (s.view === "member" ? "As seen by " + (s.observer ?? "a worker") +
      " (member view)." : "As seen from outside the group (admin view).") +
      " Partitions that changed owner are outlined for " + Math.round(config.movedHighlightMs / 1000) + " s.";
  };
  const unavailable = (reason) => {
    problem.hidden = false;
    problem.textContent = "The group cannot be read right now: " + reason;
  };

  if (typeof EventSource === "function") {
    const events = new EventSource(config.eventsUrl);
    events.addEventListener("open", () => (body.dataset.connection = "live"));
    events.addEventListener("error", () => (body.dataset.connection = "reconnecting"));
    events.addEventListener("topology", (e) => draw(JSON.parse(e.data)));
    events.addEventListener("unavailable", (e) => unavailable(JSON.parse(e.data).reason));
  } else {
    const poll = async () => {
      try {
        const response = await fetch(config.jsonUrl, { cache: "no-store" });
        const data = await response.json();
        if (response.ok) draw(data);
        else unavailable(data.error);
        body.dataset.connection = "polling";
      } catch (error) {
        body.dataset.connection = "reconnecting";
      }
      setTimeout(poll, 2000);
    };
    poll();
  }
})();
`;
