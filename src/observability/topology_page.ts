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
import {
  describe,
  formatEvent,
  type PageSource,
  readSnapshot,
  TopologyFeed,
  type TopologySnapshot,
} from "./topology_feed.ts";
import { contentSecurityPolicy, makeNonce, renderPage } from "./topology_html.ts";

/** Tuning of a {@link TopologyPage}. */
export interface TopologyPageOptions {
  /** How often a source without `watch()` is read while a page is open. */
  readonly pollMs: number;
  /** How long the page highlights a partition that changed owner. */
  readonly movedHighlightMs: number;
  /** Ends every event stream and the feed. */
  readonly signal: AbortSignal | undefined;
}

const encoder = new TextEncoder();
/** Comment lines that keep idle proxies from closing an event stream. */
const KEEP_ALIVE_MS = 15_000;

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
