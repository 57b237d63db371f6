/**
 * Health probes and the live topology page of a worker, as a fetch-style handler:
 * `(Request) => Response | Promise<Response>`. It uses no runtime API, so it serves from
 * `Deno.serve`, `deno serve`, an edge worker's `fetch`, or Node through a fetch adapter.
 *
 * - `GET /livez` — 200 while the process should be kept: every state but a shutdown that was not
 *   asked for. 503 once the manager stopped by itself (its worker ID was lost) or stopped at all
 *   when `liveAfterStop` is false. A restart is the fix for neither, so an orchestrator that
 *   restarts on a failing liveness probe does the right thing.
 * - `GET /readyz` — 200 once the first assignment was applied and the worker is working
 *   (`stable`, `scaling`, `rebalancing`, `emergency`); 503 before that, after stop, and while
 *   `degraded` (unless `readyWhenDegraded`, or for at most `readyWhenDegradedForMs`). Route
 *   traffic by it.
 * - `GET /status` — JSON: worker ID, state, leadership, the assignment's epoch, version and
 *   partition IDs, the last heartbeat's age, how long it has been degraded, and the two verdicts.
 * - `GET /metrics` — when `metrics` is given (e.g. a `PrometheusRegistry`), its exposition.
 * - `GET /`, `/topology.json`, `/events` — the live topology page (`topology_page.ts`): the
 *   partition → worker map from the manager's view, or from a `GroupAdmin`'s.
 *
 * Given a `GroupAdmin` instead of a manager, the handler is a dashboard for the whole group: the
 * page and its data, `/livez` (always 200), `/readyz` and `/status` (whether the group can be read).
 *
 * @module
 */
import { partitionId } from "../partition.ts";
import type { Topology } from "../protocol/group_view.ts";
import { type Clock, systemClock } from "../runtime/clock.ts";
import { type Assignment, State } from "../types.ts";
import { pageSourceFor, type TopologyReader } from "./topology_feed.ts";
import { TopologyPage } from "./topology_page.ts";

export type { TopologyReader, TopologySnapshot, TopologySnapshotWorker } from "./topology_feed.ts";

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
  /**
   * Milliseconds since this worker's last successful heartbeat, for sources that measure it.
   * Without it `/status` takes the age a `GroupAdmin` given as `topology` observed.
   */
  readonly heartbeatAgeMs?: number | undefined;
  /**
   * Reads the group's topology (`Manager.getTopology()`); with {@link HealthSource.getAssignments} it makes
   * the topology page show this worker's view of the group.
   */
  getTopology?(): Promise<Topology>;
  /** Reads every worker's published assignment (`Manager.getAssignments()`). */
  getAssignments?(): Promise<Map<string, Assignment>>;
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
  /**
   * Report ready while degraded, however long (the worker keeps serving in
   * `onCoordinationLoss: "keep"`). Same as `readyWhenDegradedForMs: Infinity`.
   * @default {false}
   */
  readonly readyWhenDegraded?: boolean;
  /**
   * Report ready while degraded for less than this many milliseconds, then not ready: a short
   * loss of coordination does not take the worker out of rotation, a long one does. The time is
   * measured from the first request to this handler that saw the worker degraded, so it can be up
   * to one probe period short. Takes precedence over `readyWhenDegraded`.
   * @default {0} (`Infinity` with `readyWhenDegraded: true`)
   */
  readonly readyWhenDegradedForMs?: number;
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
  /**
   * Where the topology page (`/`, `/topology.json`, `/events`) reads the group from: a
   * `GroupAdmin` (the outside view, updated by its watch; it also gives `/status` the heartbeat
   * age it observed), or `false` to serve no page. By default the source itself: a `Manager`'s
   * own view, polled every `topologyPollMs` while a page is open.
   * @default {source}
   */
  readonly topology?: TopologyReader | false;
  /** How often a topology source without `watch()` is read while a page is open. @default {1000} */
  readonly topologyPollMs?: number;
  /** How long the page highlights a partition that changed owner. @default {5000} */
  readonly movedHighlightMs?: number;
  /**
   * Ends every open `/events` stream when aborted (abort it before a server's graceful shutdown,
   * which waits for open responses); later requests for `/events` get 503.
   */
  readonly signal?: AbortSignal;
  /** The clock that measures how long the worker has been degraded. @default {systemClock} */
  readonly clock?: Clock;
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
  /** Milliseconds since the last successful heartbeat, `null` when not known. */
  readonly heartbeatAgeMs: number | null;
  /** Milliseconds the worker has been degraded, `null` when it is not. */
  readonly degradedForMs: number | null;
  /** The `/livez` verdict. */
  readonly live: boolean;
  /** The `/readyz` verdict. */
  readonly ready: boolean;
  /** Why not ready (or not live), when so. */
  readonly reason?: string;
}

/**
 * What a caller measured for {@link healthStatus}: ages the source does not carry (its example
 * passes `degradedForMs`).
 */
export interface HealthMeasurements {
  /** How long the worker has been degraded (taken as 0 when it is degraded and this is absent). */
  readonly degradedForMs?: number | undefined;
  /** Milliseconds since the last heartbeat, when the source does not report it. */
  readonly heartbeatAgeMs?: number | undefined;
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
 * @param options `readyWhenDegraded`, `readyWhenDegradedForMs`, `liveAfterStop`, and the
 *   measured `degradedForMs` and `heartbeatAgeMs`.
 * @param stoppedByItself Whether the manager stopped without being asked to (see
 *   {@link HealthOptions.stopRequested}).
 * @returns The status `/status` serves.
 *
 * @example Degraded for longer than the allowed age is not ready
 * ```ts
 * import { healthStatus, State } from "@parti/core";
 *
 * const worker = {
 *   workerId: "worker-1",
 *   state: State.Degraded,
 *   isLeader: false,
 *   assignment: { epoch: 1, version: 4, partitions: [] },
 * };
 * const options = { readyWhenDegradedForMs: 30_000 };
 * console.assert(healthStatus(worker, { ...options, degradedForMs: 5_000 }).ready);
 * console.assert(!healthStatus(worker, { ...options, degradedForMs: 45_000 }).ready);
 * ```
 */
export function healthStatus(
  source: HealthSource,
  options:
    & Pick<HealthOptions, "readyWhenDegraded" | "readyWhenDegradedForMs" | "liveAfterStop">
    & HealthMeasurements = {},
  stoppedByItself = false,
): HealthStatus {
  const state = source.state;
  const stopped = state === State.Shutdown;
  const live = !stopped || (!stoppedByItself && (options.liveAfterStop ?? true));
  let ready = false;
  let reason: string | undefined;
  let degradedForMs: number | null = null;
  if (stopped) reason = stoppedByItself ? "stopped by itself" : "stopped";
  else if (WORKING.has(state)) ready = true;
  else if (state === State.Degraded) {
    const grace = options.readyWhenDegradedForMs ?? (options.readyWhenDegraded ? Infinity : 0);
    degradedForMs = Math.max(0, options.degradedForMs ?? 0);
    ready = source.assignment.version > 0 && degradedForMs < grace;
    if (!ready) {
      reason = grace > 0 && source.assignment.version > 0
        ? `degraded for ${
          Math.round(degradedForMs)
        } ms, longer than readyWhenDegradedForMs (${grace})`
        : "degraded";
    }
  } else reason = `waiting for the first assignment (${state})`;
  const a = source.assignment;
  const heartbeatAgeMs = source.heartbeatAgeMs ?? options.heartbeatAgeMs;
  return {
    workerId: source.workerId ?? null,
    state,
    isLeader: source.isLeader,
    epoch: a.epoch,
    version: a.version,
    partitions: a.partitions.map(partitionId),
    heartbeatAgeMs: heartbeatAgeMs === undefined ? null : Math.max(0, Math.round(heartbeatAgeMs)),
    degradedForMs: degradedForMs === null ? null : Math.round(degradedForMs),
    live,
    ready,
    ...(reason ? { reason } : {}),
  };
}

/**
 * Makes the probe handler of one worker, with the live topology page; or, given a `GroupAdmin`,
 * a dashboard of the group.
 *
 * @param source The worker (e.g. a `Manager`), or a `GroupAdmin` for a dashboard of the group.
 * @param options Routes, verdict tuning, the metrics to serve and where the page reads from.
 * @returns `(request) => Response | Promise<Response>`.
 * @throws {TypeError} When `source` or `topology` is not what they must be.
 * @throws {RangeError} When a duration option is negative or not a number.
 *
 * @example Serve the probes, the metrics and the topology page next to the worker
 * ```ts
 * import { healthHandler, Manager, memoryStore } from "@parti/core";
 *
 * const manager = new Manager({ store: memoryStore(), group: "g", source: [{ keys: ["a"] }] });
 * const probes = healthHandler(manager);
 * const response = await probes(new Request("http://localhost/readyz"));
 * console.assert(response.status === 503); // not started yet
 * // Deno.serve({ port: 8080 }, probes); then open http://localhost:8080/
 * ```
 *
 * @example A dashboard of the whole group, from outside it
 * ```ts ignore
 * import { GroupAdmin, healthHandler } from "@parti/core";
 *
 * const admin = await GroupAdmin.open({ connection: nc, group: "orders" });
 * Deno.serve({ port: 8080 }, healthHandler(admin)); // the page at /, its data at /events
 * ```
 */
export function healthHandler(
  source: HealthSource | TopologyReader,
  options: HealthOptions = {},
): (request: Request) => Response | Promise<Response> {
  if (typeof source !== "object" || source === null) {
    throw new TypeError("healthHandler() needs a Manager (or a GroupAdmin) as its source");
  }
  const base = (options.basePath ?? "").replace(/\/+$/, "");
  const metricsType = options.metricsContentType ?? "text/plain; version=0.0.4; charset=utf-8";
  checkMs("readyWhenDegradedForMs", options.readyWhenDegradedForMs, { infinite: true });
  checkMs("topologyPollMs", options.topologyPollMs, { positive: true });
  checkMs("movedHighlightMs", options.movedHighlightMs, {});
  const clock = options.clock ?? systemClock;
  const worker = isWorker(source) ? source : undefined;
  const pageSource = pageSourceFor(source, worker, options.topology);
  const page = pageSource &&
    new TopologyPage(pageSource, {
      pollMs: options.topologyPollMs ?? 1_000,
      movedHighlightMs: options.movedHighlightMs ?? 5_000,
      signal: options.signal,
    });
  const known = [
    "/livez",
    "/readyz",
    "/status",
    ...(options.metrics ? ["/metrics"] : []),
    ...(page && options.topology !== false ? TopologyPage.routes : []),
  ];
  // Observed by this handler: the source does not say when it became degraded.
  let degradedSince: number | undefined;
  const degradedFor = (state: State): number | undefined => {
    if (state !== State.Degraded) return (degradedSince = undefined);
    const now = clock.now();
    degradedSince ??= now;
    return now - degradedSince;
  };
  // A GroupAdmin given as `topology` sees this worker's heartbeats arrive: /status shows the age it
  // measured when the source does not measure its own.
  const ageReader = worker && pageSource?.view === "admin" ? pageSource.reader : undefined;
  const observedAge = async (reader: TopologyReader): Promise<number | undefined> => {
    try {
      const topology = await reader.topology();
      const self = topology.workers.find((w) => w.workerId === worker?.workerId);
      const age = (self as { heartbeatAgeMs?: unknown } | undefined)?.heartbeatAgeMs;
      return typeof age === "number" ? age : undefined;
    } catch {
      return undefined; // the age is a detail of /status: it must not fail the request
    }
  };

  return (request) => {
    const headers = new Headers({ "cache-control": "no-store" });
    const reply = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      headers.set("content-type", type);
      return new Response(request.method === "HEAD" ? null : body, { status, headers });
    };
    const json = (status: number, value: unknown) =>
      reply(status, JSON.stringify(value), "application/json; charset=utf-8");
    let path: string;
    try {
      path = new URL(request.url).pathname;
    } catch {
      return reply(400, "bad request URL\n");
    }
    if (path !== base && !path.startsWith(base + "/")) return reply(404, "not found\n");
    const route = path.slice(base.length) || "/";
    if (!known.includes(route)) return reply(404, "not found\n");
    if (request.method !== "GET" && request.method !== "HEAD") {
      headers.set("allow", "GET, HEAD");
      return reply(405, "method not allowed\n");
    }
    const failed = (error: unknown) =>
      reply(500, `health check failed: ${error instanceof Error ? error.message : error}\n`);
    try {
      if (route === "/metrics") return reply(200, options.metrics!.render(), metricsType);
      if (TopologyPage.routes.includes(route)) return page!.respond(route, request, base);
      if (!worker) return groupProbe(route, page!, reply, json).catch(failed);
      const stoppedByItself = options.stopRequested ? !options.stopRequested() : false;
      const judge = (heartbeatAgeMs?: number) =>
        healthStatus(
          worker,
          { ...options, degradedForMs: degradedFor(worker.state), heartbeatAgeMs },
          stoppedByItself,
        );
      if (route === "/status") {
        if (!ageReader || worker.heartbeatAgeMs !== undefined) return json(200, judge());
        return observedAge(ageReader).then((age) => json(200, judge(age))).catch(failed);
      }
      const status = judge();
      const ok = route === "/livez" ? status.live : status.ready;
      const what = route === "/livez" ? "live" : "ready";
      return reply(
        ok ? 200 : 503,
        ok ? `${what}\n` : `not ${what}: ${status.reason ?? status.state}\n`,
      );
    } catch (error) {
      return failed(error);
    }
  };
}

/** The probes of a dashboard: live while it answers, ready while the group can be read. */
async function groupProbe(
  route: string,
  page: TopologyPage,
  reply: (status: number, body: string) => Response,
  json: (status: number, value: unknown) => Response,
): Promise<Response> {
  if (route === "/livez") return reply(200, "live\n");
  let snapshot: object | undefined;
  let reason: string | undefined;
  try {
    snapshot = await page.snapshot();
  } catch (error) {
    reason = `cannot read the group: ${error instanceof Error ? error.message : error}`;
  }
  if (route === "/status") return json(200, { live: true, ready: !reason, reason, ...snapshot });
  return snapshot ? reply(200, "ready\n") : reply(503, `not ready: ${reason}\n`);
}

function isWorker(source: object): source is HealthSource {
  return "state" in source && "assignment" in source;
}

function checkMs(
  name: string,
  value: number | undefined,
  { infinite = false, positive = false }: { infinite?: boolean; positive?: boolean },
): void {
  if (value === undefined) return;
  const ok = typeof value === "number" && !Number.isNaN(value) &&
    (infinite || Number.isFinite(value)) && (positive ? value > 0 : value >= 0);
  if (!ok) {
    const want = positive ? "above 0" : "of 0 or more";
    throw new RangeError(
      `healthHandler() option '${name}' must be a number of milliseconds ${want}, got '${value}'`,
    );
  }
}
