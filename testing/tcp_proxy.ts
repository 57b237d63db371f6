/**
 * A TCP fault-injection proxy placed between one client and a server: pass traffic, cut it
 * silently, reset it, or delay it, switchable at run time.
 *
 * @module
 */

/**
 * How the proxy treats traffic.
 *
 * - `"pass"`: forwards bytes both ways.
 * - `"blackhole"`: a silent partition. Bytes already read are held, nothing more is read, and new
 *   connections are accepted but not forwarded. No connection is reset or closed, so peers see
 *   only silence. Switching back to `"pass"` (or a delay) resumes every held connection and
 *   delivers the held bytes.
 * - `"reject"`: closes every connection (both sides) and closes new ones at once.
 * - `{ delayMs, jitterMs? }`: forwards each chunk `delayMs` milliseconds after it was read, plus a
 *   random `0..jitterMs` more (a gray failure: slow, uneven, but working). Order is kept in each
 *   direction: a chunk is never written before the one read ahead of it, so with jitter a chunk
 *   waits at least until the previous one of its direction has gone.
 */
export type FaultMode = "pass" | "blackhole" | "reject" | {
  /** Delay added to every chunk, in milliseconds (>= 0). */
  readonly delayMs: number;
  /**
   * Extra random delay per chunk, drawn uniformly from `0..jitterMs` (>= 0).
   *
   * @default {0}
   */
  readonly jitterMs?: number;
};

/** Where the proxy forwards to: `"host:port"` or `{ hostname, port }`. */
export type FaultProxyTarget = string | { readonly hostname: string; readonly port: number };

/** Options for {@linkcode FaultProxy.start}. */
export interface FaultProxyOptions {
  /** The server to forward to, such as `"127.0.0.1:4222"` or `{ hostname, port }`. */
  target: FaultProxyTarget;
  /**
   * The mode to start in.
   *
   * @default {"pass"}
   */
  mode?: FaultMode;
  /**
   * Random numbers in [0, 1) for the jitter of `{ delayMs, jitterMs }`; give a seeded PRNG to
   * replay a run's delays.
   *
   * @default {Math.random}
   */
  random?: () => number;
}

function parseTarget(target: FaultProxyTarget): { hostname: string; port: number } {
  if (typeof target !== "string") return { hostname: target.hostname, port: target.port };
  const match = /^(.*):(\d+)$/.exec(target.replace(/^[a-z]+:\/\//, ""));
  const port = match ? Number(match[2]) : NaN;
  if (!match || !match[1] || port < 1 || port > 65535) {
    throw new TypeError(
      `Cannot start a proxy: target must look like '127.0.0.1:4222', got '${target}'`,
    );
  }
  return { hostname: match[1], port };
}

function checkMode(mode: FaultMode): FaultMode {
  if (mode === "pass" || mode === "blackhole" || mode === "reject") return mode;
  if (
    typeof mode === "object" && mode !== null && Number.isFinite(mode.delayMs) &&
    mode.delayMs >= 0 &&
    (mode.jitterMs === undefined || (Number.isFinite(mode.jitterMs) && mode.jitterMs >= 0))
  ) {
    return mode.jitterMs === undefined || mode.jitterMs === 0
      ? { delayMs: mode.delayMs }
      : { delayMs: mode.delayMs, jitterMs: mode.jitterMs };
  }
  throw new TypeError(
    `Invalid proxy mode '${JSON.stringify(mode)}': use "pass", "blackhole", "reject" or ` +
      "{ delayMs: number >= 0, jitterMs?: number >= 0 }",
  );
}

/** The private pieces of FaultProxy that ProxiedConnection uses; set by FaultProxy's static block. */
interface ProxyInternals {
  gate(proxy: FaultProxy): Promise<boolean>;
  pause(proxy: FaultProxy, ms: number): Promise<void>;
  delayMs(proxy: FaultProxy): number;
  forget(proxy: FaultProxy, conn: ProxiedConnection): void;
}

let proxyInternals: ProxyInternals;

/** One chunk read from a socket, with the time it may be written. */
interface Chunk {
  data: Uint8Array;
  due: number;
}

/**
 * One proxied connection: the accepted client socket and, once forwarding started, the upstream
 * socket, with one pump per direction.
 */
class ProxiedConnection {
  readonly #proxy: FaultProxy;
  readonly #client: Deno.Conn;
  #upstream: Deno.Conn | undefined;
  #closed = false;
  readonly done: Promise<void>;

  constructor(proxy: FaultProxy, client: Deno.Conn, target: Deno.ConnectOptions) {
    this.#proxy = proxy;
    this.#client = client;
    this.done = this.#run(target);
  }

  async #run(target: Deno.ConnectOptions): Promise<void> {
    try {
      // A new connection in blackhole mode is held, unforwarded, until the mode changes.
      if (!(await proxyInternals.gate(this.#proxy))) return;
      const upstream = await Deno.connect(target);
      this.#upstream = upstream;
      if (this.#closed) {
        upstream.close();
        return;
      }
      await Promise.all([this.#pump(this.#client, upstream), this.#pump(upstream, this.#client)]);
    } catch {
      // Any socket error ends the pair; the peers see the close.
    } finally {
      this.close();
    }
  }

  /** Copies src to dst. Reads run ahead of writes so a delay shifts chunks, not throughput. */
  async #pump(src: Deno.Conn, dst: Deno.Conn): Promise<void> {
    const queue: Chunk[] = [];
    /** The latest due time so far: a chunk is never due before the one read ahead of it. */
    let lastDue = 0;
    let readerDone = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const reader = (async () => {
      try {
        while (!this.#closed) {
          if (!(await proxyInternals.gate(this.#proxy))) break;
          const buf = new Uint8Array(64 * 1024);
          const n = await src.read(buf);
          if (n === null) break;
          lastDue = Math.max(lastDue, performance.now() + proxyInternals.delayMs(this.#proxy));
          queue.push({ data: buf.subarray(0, n), due: lastDue });
          notify();
        }
      } finally {
        readerDone = true;
        notify();
      }
    })();
    const writer = (async () => {
      while (!this.#closed) {
        const chunk = queue.shift();
        if (chunk === undefined) {
          if (readerDone) break;
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const wait = chunk.due - performance.now();
        if (wait > 0) await proxyInternals.pause(this.#proxy, wait);
        // Bytes read before a blackhole started are held, not delivered, until it ends.
        if (!(await proxyInternals.gate(this.#proxy))) break;
        let off = 0;
        while (off < chunk.data.length) off += await dst.write(chunk.data.subarray(off));
      }
    })();
    try {
      await Promise.all([reader, writer]);
    } finally {
      // One side finished: end the pair so the other side sees it too.
      this.close();
      notify();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of [this.#client, this.#upstream]) {
      try {
        conn?.close();
      } catch {
        // already closed
      }
    }
    proxyInternals.forget(this.#proxy, this);
  }
}

/**
 * A TCP proxy on a free 127.0.0.1 port that forwards to one target and injects faults: silent
 * partitions, resets and delays, switchable with {@linkcode FaultProxy.setMode}.
 *
 * Point one client at {@linkcode FaultProxy.url} instead of the server to cut that client off
 * while others stay connected. Close it with {@linkcode FaultProxy.close} or `await using`.
 *
 * @example Cut one client off silently, then heal
 * ```ts ignore
 * import { FaultProxy, NatsServer } from "@parti/core/testing";
 * import { connect } from "@nats-io/transport-node";
 *
 * await using server = await NatsServer.start();
 * await using proxy = await FaultProxy.start({ target: `127.0.0.1:${server.port}` });
 * const nc = await connect({ servers: proxy.url, pingInterval: 1000, maxPingOut: 2 });
 * proxy.setMode("blackhole"); // requests now time out; the socket stays open
 * proxy.setMode("pass"); // held bytes are delivered and traffic resumes
 * await nc.close();
 * ```
 */
export class FaultProxy {
  static {
    // Let ProxiedConnection reach the few private pieces it needs without making them public.
    proxyInternals = {
      gate: (proxy) => proxy.#gate(),
      pause: (proxy, ms) => proxy.#pause(ms),
      delayMs: (proxy) => proxy.#delayMs(),
      forget: (proxy, conn) => {
        proxy.#connections.delete(conn);
      },
    };
  }

  readonly #listener: Deno.TcpListener;
  readonly #target: Deno.ConnectOptions;
  readonly #connections = new Set<ProxiedConnection>();
  readonly #timers = new Map<ReturnType<typeof setTimeout>, () => void>();
  #mode: FaultMode;
  readonly #random: () => number;
  #modeChanged: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #acceptLoop: Promise<void>;

  private constructor(
    listener: Deno.TcpListener,
    target: Deno.ConnectOptions,
    mode: FaultMode,
    random: () => number,
  ) {
    this.#listener = listener;
    this.#target = target;
    this.#mode = mode;
    this.#random = random;
    this.#acceptLoop = this.#accept();
  }

  /**
   * Starts a proxy on a free port of 127.0.0.1 that forwards to `options.target`.
   *
   * @param options The target, and the mode to start in.
   * @returns The listening proxy.
   * @throws {TypeError} When the target or mode is malformed.
   *
   * @example Put a proxy in front of a server
   * ```ts ignore
   * import { FaultProxy, NatsServer } from "@parti/core/testing";
   *
   * await using server = await NatsServer.start();
   * await using proxy = await FaultProxy.start({ target: { hostname: "127.0.0.1", port: server.port } });
   * console.log(proxy.url); // give this URL to the client under test
   * ```
   */
  static start(options: FaultProxyOptions): Promise<FaultProxy> {
    const target = parseTarget(options.target);
    const mode = checkMode(options.mode ?? "pass");
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, transport: "tcp" });
    return Promise.resolve(
      new FaultProxy(
        listener,
        { hostname: target.hostname, port: target.port },
        mode,
        options.random ?? Math.random,
      ),
    );
  }

  /** The port the proxy listens on (127.0.0.1). */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** `nats://127.0.0.1:<port>`: the URL to give the client under test. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The current mode. */
  get mode(): FaultMode {
    return this.#mode;
  }

  /** How many client connections the proxy currently holds open. */
  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Switches the mode for existing and new connections.
   *
   * Leaving `"blackhole"` resumes held connections and delivers held bytes. Entering `"reject"`
   * closes every connection at once.
   *
   * @param mode The new mode.
   * @throws {TypeError} When the mode is malformed.
   *
   * @example Partition and heal
   * ```ts ignore
   * import { FaultProxy } from "@parti/core/testing";
   *
   * await using proxy = await FaultProxy.start({ target: "127.0.0.1:4222" });
   * proxy.setMode("blackhole");
   * proxy.setMode({ delayMs: 300 });
   * proxy.setMode({ delayMs: 300, jitterMs: 500 }); // 300-800 ms per chunk, order kept
   * proxy.setMode("pass");
   * ```
   */
  setMode(mode: FaultMode): void {
    this.#mode = checkMode(mode);
    if (this.#mode === "reject") {
      for (const conn of [...this.#connections]) conn.close();
    }
    const changed = this.#modeChanged;
    this.#modeChanged = Promise.withResolvers<void>();
    changed.resolve();
  }

  /**
   * Closes the listener and every connection.
   *
   * @returns When all sockets are closed and every internal task has ended.
   *
   * @example Close explicitly
   * ```ts ignore
   * import { FaultProxy } from "@parti/core/testing";
   *
   * const proxy = await FaultProxy.start({ target: "127.0.0.1:4222" });
   * await proxy.close();
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch {
        // already closed
      }
      const conns = [...this.#connections];
      for (const conn of conns) conn.close();
      for (const [timer, resolve] of this.#timers) {
        clearTimeout(timer);
        resolve();
      }
      this.#timers.clear();
      this.#modeChanged.resolve();
      await this.#acceptLoop;
      await Promise.all(conns.map((c) => c.done));
    })();
    return this.#closing;
  }

  /**
   * Same as {@linkcode FaultProxy.close}, for `await using`.
   *
   * @returns When the proxy is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        break; // listener closed
      }
      if (this.#closed || this.#mode === "reject") {
        client.close();
        continue;
      }
      this.#connections.add(new ProxiedConnection(this, client, this.#target));
    }
  }

  /**
   * Waits while the proxy is in blackhole mode. Resolves true when traffic may flow, false when
   * the connection must end (reject mode or proxy closed).
   */
  async #gate(): Promise<boolean> {
    while (true) {
      if (this.#closed || this.#mode === "reject") return false;
      if (this.#mode !== "blackhole") return true;
      await this.#modeChanged.promise;
    }
  }

  /** A timer that close() can cut short, so no timer outlives the proxy. */
  #pause(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.set(timer, resolve);
    });
  }

  /** The delay of the next chunk: the mode's delay plus its random jitter. */
  #delayMs(): number {
    if (typeof this.#mode !== "object") return 0;
    const jitter = this.#mode.jitterMs ?? 0;
    return this.#mode.delayMs + (jitter > 0 ? this.#random() * jitter : 0);
  }
}
