/**
 * Health probes for a worker, as a fetch-style handler: `(Request) => Response`. It uses no
 * runtime API, so it serves from `Deno.serve`, `deno serve`, an edge worker's `fetch`, or Node
 * through a fetch adapter.
 *
 * - `GET /livez` — 200 while the process should be kept: every state but a shutdown that was not
 *   asked for. 503 once the manager stopped by itself (its worker ID was lost) or stopped at all
 *   when `liveAfterStop` is false. A restart is the fix for neither, so an orchestrator that
 *   restarts on a failing liveness probe does the right thing.
 * - `GET /readyz` — 200 once the first assignment was applied and the worker is working
 *   (`stable`, `scaling`, `rebalancing`, `emergency`); 503 before that, while `degraded` (unless
 *   `readyWhenDegraded`), and after stop. Route traffic by it.
 * - `GET /status` — JSON: worker ID, state, leadership, the assignment's epoch, version and
 *   partition IDs, and the two verdicts above.
 * - `GET /metrics` — when `metrics` is given (e.g. a `PrometheusRegistry`), its exposition.
 *
 * @module
 */
import { partitionId } from "../partition.ts";
import { type Assignment, State } from "../types.ts";

/** What the handler reads from a worker; a `Manager` has it all. */
export interface HealthSource {
  /** The worker ID once claimed. */
  readonly workerId: string | undefined;
  /** The manager's state. */
  readonly state: State;
  /** Whether this worker leads. */
  readonly isLeader: boolean;
  /** The assignment applied. */
  readonly assignment: Assignment;
}

/** Something that renders metrics, such as `PrometheusRegistry`. */
export interface MetricsSource {
  /** The exposition text. */
  render(): string;
}

/** Options of {@link healthHandler}. */
export interface HealthOptions {
  /** Prefix of every route, e.g. `"/health"` for `/health/livez`. @default {""} */
  readonly basePath?: string;
  /** Report ready while degraded (the worker keeps serving in `onCoordinationLoss: "keep"`). */
  readonly readyWhenDegraded?: boolean;
  /**
   * Whether `/livez` stays 200 after a `stop()` the application asked for (it is shutting down on
   * purpose; a restart would only race it). A stop the manager made itself is always 503.
   * @default {true}
   */
  readonly liveAfterStop?: boolean;
  /**
   * Whether the application asked for the stop: return `true` once your shutdown path called
   * `Manager.stop()`. With it, a stop the manager made by itself (its worker ID was taken over)
   * fails `/livez`; without it every stop is taken as asked for.
   */
  readonly stopRequested?: () => boolean;
  /** Served at `/metrics` when given. */
  readonly metrics?: MetricsSource;
  /** Content type of `/metrics`. @default {"text/plain; version=0.0.4; charset=utf-8"} */
  readonly metricsContentType?: string;
}

/** The verdicts of the probes, as `/status` reports them. */
export interface HealthStatus {
  /** Worker ID, or `null` before the claim. */
  readonly workerId: string | null;
  /** The manager's state. */
  readonly state: State;
  /** Whether this worker leads. */
  readonly isLeader: boolean;
  /** Epoch of the applied assignment. */
  readonly epoch: number;
  /** Version of the applied assignment. */
  readonly version: number;
  /** IDs of the partitions owned. */
  readonly partitions: readonly string[];
  /** The `/livez` verdict. */
  readonly live: boolean;
  /** The `/readyz` verdict. */
  readonly ready: boolean;
  /** Why not ready (or not live), when so. */
  readonly reason?: string;
}

const WORKING: ReadonlySet<State> = new Set([
  State.Stable,
  State.Scaling,
  State.Rebalancing,
  State.Emergency,
]);

/**
 * Judges a worker the way the probes do.
 *
 * @param source The worker.
 * @param options `readyWhenDegraded`, `liveAfterStop`.
 * @param stoppedByItself Whether the manager stopped without being asked to (see
 *   {@link HealthOptions.stopRequested}).
 * @returns The status `/status` serves.
 */
export function healthStatus(
  source: HealthSource,
  options: Pick<HealthOptions, "readyWhenDegraded" | "liveAfterStop"> = {},
  stoppedByItself = false,
): HealthStatus {
  const state = source.state;
  const stopped = state === State.Shutdown;
  const live = !stopped || (!stoppedByItself && (options.liveAfterStop ?? true));
  let ready = false;
  let reason: string | undefined;
  if (stopped) reason = stoppedByItself ? "stopped by itself" : "stopped";
  else if (WORKING.has(state)) ready = true;
  else if (state === State.Degraded) {
    ready = options.readyWhenDegraded === true && source.assignment.version > 0;
    if (!ready) reason = "degraded";
  } else reason = `waiting for the first assignment (${state})`;
  const a = source.assignment;
  return {
    workerId: source.workerId ?? null,
    state,
    isLeader: source.isLeader,
    epoch: a.epoch,
    version: a.version,
    partitions: a.partitions.map(partitionId),
    live,
    ready,
    ...(reason ? { reason } : {}),
  };
}

/**
 * Makes the probe handler of one worker.
 *
 * @param source The worker, e.g. a `Manager`.
 * @param options Routes, verdict tuning and the metrics to serve.
 * @returns `(request) => Response`.
 *
 * @example Serve the probes and metrics next to the worker
 * ```ts
 * import { healthHandler, Manager, memoryStore } from "@parti/core";
 *
 * const manager = new Manager({ store: memoryStore(), group: "g", source: [{ keys: ["a"] }] });
 * const probes = healthHandler(manager);
 * const response = await probes(new Request("http://localhost/readyz"));
 * console.assert(response.status === 503); // not started yet
 * // Deno.serve({ port: 8080 }, probes);
 * ```
 */
export function healthHandler(
  source: HealthSource,
  options: HealthOptions = {},
): (request: Request) => Response {
  const base = (options.basePath ?? "").replace(/\/+$/, "");
  const metricsType = options.metricsContentType ?? "text/plain; version=0.0.4; charset=utf-8";
  return (request) => {
    const headers = new Headers({ "cache-control": "no-store" });
    const reply = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      headers.set("content-type", type);
      return new Response(request.method === "HEAD" ? null : body, { status, headers });
    };
    let path: string;
    try {
      path = new URL(request.url).pathname;
    } catch {
      return reply(400, "bad request URL\n");
    }
    if (!path.startsWith(base + "/")) return reply(404, "not found\n");
    const route = path.slice(base.length);
    const known = ["/livez", "/readyz", "/status", ...(options.metrics ? ["/metrics"] : [])];
    if (!known.includes(route)) return reply(404, "not found\n");
    if (request.method !== "GET" && request.method !== "HEAD") {
      headers.set("allow", "GET, HEAD");
      return reply(405, "method not allowed\n");
    }
    try {
      if (route === "/metrics") return reply(200, options.metrics!.render(), metricsType);
      const stoppedByItself = options.stopRequested ? !options.stopRequested() : false;
      const status = healthStatus(source, options, stoppedByItself);
      if (route === "/status") {
        return reply(200, JSON.stringify(status), "application/json; charset=utf-8");
      }
      const ok = route === "/livez" ? status.live : status.ready;
      const what = route === "/livez" ? "live" : "ready";
      return reply(
        ok ? 200 : 503,
        ok ? `${what}\n` : `not ${what}: ${status.reason ?? status.state}\n`,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return reply(500, `health check failed: ${message}\n`);
    }
  };
}
