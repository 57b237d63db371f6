/**
 * The live topology page in a real headless Chromium (Debian's package, driven by
 * `playwright-core`): against a pool of three workers on a real nats-server it shows every worker
 * and every partition as the workers hold them, in a worker's own view and in a `GroupAdmin`'s,
 * and a drain redraws the picture in the open page (no reload): the drained worker owns no cell,
 * and the cells that moved are highlighted. Hostile IDs are drawn as text.
 *
 * Every wait is on a condition (the DOM with `waitForFunction`, the pool with `waitFor`), never a
 * sleep. With `PARTI_SCREENSHOT=1` (`deno task screenshot`) the first test saves the admin view
 * after the drain to `docs/images/topology.png`. Skipped, saying why, when Chromium is absent.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  type Assignment,
  GroupAdmin,
  healthHandler,
  type Manager,
  partitionId,
  type Topology,
  type TopologyReader,
} from "../../mod.ts";
import { NatsServer, waitFor } from "../../testing/mod.ts";
import { connectTo, fullyCovered, natsPool, waitForSettled } from "../helpers/pool.ts";
import { chromiumMissing, launchChromium } from "./chromium.ts";

// The callbacks given to page.evaluate() and waitForFunction() run in the page. Deno's types have
// no DOM, and `lib.dom` would change the stream and fetch types of every file `deno check` takes
// along with this one: the little of the DOM they use is declared here, for this module only.
interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly textContent: string | null;
  readonly hidden: boolean;
}
interface PageDocument {
  readonly body: PageElement;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  querySelector(selector: string): PageElement | null;
  getElementById(id: string): PageElement | null;
}
declare const document: PageDocument;
declare const CSS: { escape(value: string): string };

const missing = chromiumMissing();
if (missing) console.warn(`tests/browser: skipping the browser tests: ${missing}`);

const SCREENSHOT = new URL("../../docs/images/topology.png", import.meta.url).pathname;
/** Long enough that no highlight expires while a test looks at it. */
const HIGHLIGHT_MS = 120_000;
const WAIT = { timeout: 20_000 };

/** Partition ID → owner, as the managers hold them. */
function ownersOf(managers: readonly Manager[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of managers) {
    for (const p of m.assignment.partitions) out[partitionId(p)] = m.workerId!;
  }
  return out;
}

/** What the page shows, read from its DOM hooks. */
interface Picture {
  readonly workers: { id: string; leader: boolean; drained: boolean; partitions: number }[];
  readonly cells: Record<string, string>;
  readonly moved: string[];
  readonly snapshots: number;
}

function picture(page: Page): Promise<Picture> {
  return page.evaluate(() => {
    const cells = [...document.querySelectorAll("#grid [data-partition]")];
    return {
      workers: [...document.querySelectorAll("#legend li[data-worker]")].map((li) => ({
        id: li.dataset.worker!,
        leader: li.dataset.leader === "true",
        drained: li.dataset.drained === "true",
        partitions: Number(li.dataset.partitions),
      })),
      cells: Object.fromEntries(cells.map((c) => [c.dataset.partition!, c.dataset.owner!])),
      moved: cells.filter((c) => c.dataset.moved !== undefined).map((c) => c.dataset.partition!),
      snapshots: Number(document.body.dataset.snapshots),
    };
  });
}

/** Waits until the page's cells show exactly `owners`. */
async function waitForCells(page: Page, owners: Record<string, string>): Promise<void> {
  await page.waitForFunction(
    (expected: Record<string, string>) => {
      const cells = [...document.querySelectorAll("#grid [data-partition]")];
      const shown = Object.fromEntries(cells.map((c) => [c.dataset.partition!, c.dataset.owner!]));
      const keys = Object.keys(expected);
      return cells.length === keys.length && keys.every((k) => shown[k] === expected[k]);
    },
    owners,
    WAIT,
  );
}

Deno.test({
  name:
    "the topology page shows every worker and partition of a 3-worker pool, and a drain changes the picture without a reload",
  ignore: missing !== undefined,
  async fn() {
    await using server = await NatsServer.start();
    const partitions = Array.from({ length: 24 }, (_, i) => ({ keys: ["orders", String(i)] }));
    await using pool = await natsPool(server.url, 3, { group: "orders", source: partitions });
    const { managers } = pool;
    await Promise.all(managers.map((m) => m.start()));
    await waitForSettled(managers, partitions);
    const nc = await connectTo(server.url);
    const streams = new AbortController();
    let http: Deno.HttpServer<Deno.NetAddr> | undefined;
    try {
      await using admin = await GroupAdmin.open({ connection: nc, group: "orders" });
      const member = healthHandler(managers[0]!, {
        basePath: "/member",
        topologyPollMs: 100,
        movedHighlightMs: HIGHLIGHT_MS,
        signal: streams.signal,
      });
      const outside = healthHandler(admin, {
        basePath: "/admin",
        movedHighlightMs: HIGHLIGHT_MS,
        signal: streams.signal,
      });
      http = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        (request) =>
          new URL(request.url).pathname.startsWith("/admin") ? outside(request) : member(request),
      );
      const origin = `http://127.0.0.1:${http.addr.port}`;
      await using browser = await launchChromium();
      const context = await browser.newContext({ viewport: { width: 1000, height: 560 } });
      const pages = { member: await context.newPage(), admin: await context.newPage() };
      const before = ownersOf(managers);
      const leader = managers.find((m) => m.isLeader)!.workerId!;
      const ids = managers.map((m) => m.workerId!).sort();
      for (const [view, page] of Object.entries(pages)) {
        const response = await page.goto(`${origin}/${view}/`);
        assert.equal(response?.status(), 200);
        await waitForCells(page, before);
        const shown = await picture(page);
        assert.deepEqual(shown.workers.map((w) => w.id), ids, `${view}: every worker listed`);
        assert.deepEqual(shown.workers.filter((w) => w.leader).map((w) => w.id), [leader]);
        assert.deepEqual(shown.workers.filter((w) => w.drained), []);
        for (const w of shown.workers) {
          const owned = Object.values(before).filter((o) => o === w.id).length;
          assert.equal(w.partitions, owned, `${view}: ${w.id}'s count`);
        }
        assert.deepEqual(shown.moved, [], `${view}: nothing moved yet`);
        assert.equal(
          await page.title(),
          view === "admin" ? "Parti topology: orders" : "Parti topology",
        );
        await page.evaluate(() => ((globalThis as { partiMarker?: string }).partiMarker = "kept"));
      }

      // Drain a follower that is not the member view's own worker.
      const victim = managers.slice(1).find((m) => !m.isLeader)!;
      const victimId = victim.workerId!;
      const victimCells = Object.keys(before).filter((p) => before[p] === victimId);
      assert.ok(victimCells.length > 0);
      assert.equal(await admin.drain(victimId), true);
      await waitFor(
        () => victim.assignment.partitions.length === 0 && fullyCovered(managers, partitions),
        { timeoutMs: 15_000, message: "the drained worker owns nothing" },
      );
      const after = ownersOf(managers);
      const changed = Object.keys(after).filter((p) => after[p] !== before[p]).sort();
      for (const [view, page] of Object.entries(pages)) {
        await waitForCells(page, after);
        await page.waitForFunction(
          (id: string) => {
            const li = document.querySelector(
              `#legend li[data-worker="${CSS.escape(id)}"]`,
            );
            return li?.dataset.drained === "true" && li.dataset.partitions === "0";
          },
          victimId,
          WAIT,
        );
        const shown = await picture(page);
        assert.equal(
          await page.evaluate(() => (globalThis as { partiMarker?: string }).partiMarker),
          "kept",
          `${view}: the same document (no reload)`,
        );
        assert.ok(
          !Object.values(shown.cells).includes(victimId),
          `${view}: no cell is the victim's`,
        );
        for (const p of victimCells) {
          assert.ok(shown.moved.includes(p), `${view}: ${p} highlighted`);
        }
        assert.deepEqual(
          shown.moved.sort(),
          changed,
          `${view}: exactly the moved cells highlighted`,
        );
        assert.ok(shown.snapshots > 1, `${view}: redrawn from the event stream`);
        assert.deepEqual(shown.workers.find((w) => w.id === victimId)?.drained, true);
      }
      if (Deno.env.get("PARTI_SCREENSHOT") === "1") {
        await Deno.mkdir(new URL(".", `file://${SCREENSHOT}`), { recursive: true });
        await pages.admin.screenshot({ path: SCREENSHOT, fullPage: true });
        console.log(`wrote ${SCREENSHOT}`);
      }
    } finally {
      streams.abort();
      await http?.shutdown();
      await nc.close();
    }
  },
});

/** A reader over fixed data, with a watch that yields when `push()` is called. */
class FakeReader implements TopologyReader {
  readonly group: string;
  #topology: Topology;
  #assignments: Map<string, Assignment>;
  #wake: (() => void) | undefined;

  constructor(group: string, topology: Topology, assignments: Map<string, Assignment>) {
    this.group = group;
    this.#topology = topology;
    this.#assignments = assignments;
  }

  #failure: string | undefined;

  topology(): Promise<Topology> {
    if (this.#failure) return Promise.reject(new Error(this.#failure));
    return Promise.resolve(this.#topology);
  }

  assignments(): Promise<Map<string, Assignment>> {
    if (this.#failure) return Promise.reject(new Error(this.#failure));
    return Promise.resolve(this.#assignments);
  }

  /** A change: the next reads return these. */
  push(topology: Topology, assignments: Map<string, Assignment>): void {
    this.#topology = topology;
    this.#assignments = assignments;
    this.#wake?.();
  }

  /** From now on every read, and the watch, fail with `message`. */
  fail(message: string): void {
    this.#failure = message;
    this.#wake?.();
  }

  async *watch(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<Topology> {
    const signal = options.signal;
    while (!signal?.aborted) {
      if (this.#failure) throw new Error(this.#failure);
      yield this.#topology;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        signal?.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }
}

Deno.test({
  name: "hostile worker IDs, partition IDs and group names are drawn as text, never as markup",
  ignore: missing !== undefined,
  async fn() {
    const group = `</title><script>globalThis.pwned = "group"</script>`;
    const workerId = `"><img src=x onerror="globalThis.pwned='worker'">`;
    const partition = { keys: ["<svg onload=globalThis.pwned='cell'>", "</div><b>bold</b>"] };
    const topology: Topology = {
      leader: { workerId, epoch: 1 },
      epoch: 1,
      version: 1,
      partitionCount: 1,
      pending: 0,
      workers: [{
        workerId,
        state: "stable<script>",
        isLeader: true,
        drained: false,
        publishedVersion: 1,
        appliedVersion: 1,
        partitions: 1,
        load: 1,
      }],
    };
    const reader = new FakeReader(
      group,
      topology,
      new Map([[workerId, { epoch: 1, version: 1, partitions: [partition] }]]),
    );
    const streams = new AbortController();
    const http = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      healthHandler(reader, { signal: streams.signal }),
    );
    try {
      await using browser = await launchChromium();
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`http://127.0.0.1:${http.addr.port}/`);
      await page.waitForFunction(() => document.querySelectorAll("[data-partition]").length === 1);
      const shown = await picture(page);
      assert.deepEqual(shown.workers.map((w) => w.id), [workerId]);
      assert.deepEqual(shown.cells, { [partitionId(partition)]: workerId });
      assert.equal(await page.title(), `Parti topology: ${group}`);
      const injected = await page.evaluate(() => ({
        pwned: (globalThis as { pwned?: string }).pwned,
        elements: document.querySelectorAll("img, svg, b, main script").length,
        legend: document.querySelector("#legend li strong")?.textContent,
      }));
      assert.deepEqual(injected, { pwned: undefined, elements: 0, legend: workerId });
      assert.deepEqual(errors, [], "the page's script ran without errors");
    } finally {
      streams.abort();
      await http.shutdown();
    }
  },
});

/** A topology of workers owning the given partition IDs (one key each), at `version`. */
function state(version: number, owned: Record<string, string[]>, pending = 0) {
  const assignments = new Map<string, Assignment>(
    Object.entries(owned).map(([id, keys]) => [id, {
      epoch: 1,
      version,
      partitions: keys.map((k) => ({ keys: [k] })),
    }]),
  );
  const topology: Topology = {
    leader: { workerId: "w-1", epoch: 1 },
    epoch: 1,
    version,
    partitionCount: Object.values(owned).flat().length,
    pending,
    workers: Object.entries(owned).map(([workerId, keys]) => ({
      workerId,
      state: "stable",
      isLeader: workerId === "w-1",
      drained: false,
      publishedVersion: version,
      appliedVersion: version,
      partitions: keys.length,
      load: keys.length,
    })),
  };
  return [topology, assignments] as const;
}

Deno.test({
  name:
    "a partition between the two steps of a hand-off stays drawn, unowned, and is highlighted where it lands; a failed read shows why",
  ignore: missing !== undefined,
  async fn() {
    const reader = new FakeReader("handoff", ...state(1, { "w-1": ["a", "b"], "w-2": ["c"] }));
    const streams = new AbortController();
    const http = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      healthHandler(reader, { signal: streams.signal, movedHighlightMs: HIGHLIGHT_MS }),
    );
    try {
      await using browser = await launchChromium();
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${http.addr.port}/`);
      await waitForCells(page, { a: "w-1", b: "w-1", c: "w-2" });

      // The revoke step: b is in nobody's assignment while the hand-off is pending.
      reader.push(...state(2, { "w-1": ["a"], "w-2": ["c"] }, 1));
      await waitForCells(page, { a: "w-1", b: "", c: "w-2" });
      assert.deepEqual((await picture(page)).moved, ["b"]);

      // The assign step: b lands on w-2.
      reader.push(...state(3, { "w-1": ["a"], "w-2": ["b", "c"] }));
      await waitForCells(page, { a: "w-1", b: "w-2", c: "w-2" });
      assert.deepEqual((await picture(page)).moved, ["b"]);

      // a leaves the source (no hand-off pending): its cell goes.
      reader.push(...state(4, { "w-1": [], "w-2": ["b", "c"] }));
      await waitForCells(page, { b: "w-2", c: "w-2" });

      reader.fail("the server is away");
      await page.waitForFunction(
        () => {
          const problem = document.getElementById("problem")!;
          return !problem.hidden && problem.textContent!.includes("the server is away");
        },
        undefined,
        WAIT,
      );
      assert.deepEqual(
        Object.keys((await picture(page)).cells),
        ["b", "c"],
        "the last picture stays",
      );
    } finally {
      streams.abort();
      await http.shutdown();
    }
  },
});
