/**
 * The HTML of the topology page: one self-contained document with inline CSS and script, and the
 * Content-Security-Policy (a per-response nonce) it is served with. Every value shown is user
 * data: the markup escapes what it embeds, and the script writes only through `textContent` and
 * `dataset`, never HTML.
 *
 * @module
 */

/** A fresh random nonce (16 bytes, base64) for the inline style and script of one response. */
export function makeNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

/**
 * The `Content-Security-Policy` of the page: nothing but its own nonced style and script, and
 * connections to its own origin.
 */
export function contentSecurityPolicy(nonce: string): string {
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
