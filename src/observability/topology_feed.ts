/**
 * What the topology page shows and how it follows the group: the {@link TopologyReader} it reads
 * from, the {@link TopologySnapshot} it serves, a consistent snapshot read from the two (not
 * atomic) reads of topology and assignments, and the {@link TopologyFeed} that turns a watch or a
 * poll into the server-sent events of `/events`.
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

/** What the feed passes on: a snapshot, or why the group cannot be read. */
export type FeedEvent =
  | { readonly kind: "topology"; readonly snapshot: TopologySnapshot }
  | { readonly kind: "unavailable"; readonly reason: string };

const collator = new Intl.Collator("en", { numeric: true });
/** After a failed read or an ended watch, how long before the feed reads again. */
const RETRY_MS = 1_000;

/** Reads the assignments again only when a worker's published version moved. */
export class AssignmentCache {
  #key = "";
  #value: Map<string, Assignment> | undefined;

  /**
   * The assignments for `topology`: the cached ones while its versions are those of the last read.
   *
   * @param reader Where to read them from.
   * @param topology The topology they are read for.
   * @returns Worker ID → its assignment.
   */
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
 *
 * @param source What to read and whose view it is.
 * @param topology The topology, when the caller has it (from a watch); else it is read.
 * @param cache The assignments read before, to read them again only after a change.
 * @returns The snapshot, and whether its topology caught up with its assignments.
 */
export async function readSnapshot(
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
export class TopologyFeed {
  readonly #source: PageSource;
  readonly #pollMs: number;
  readonly #listeners = new Set<(event: FeedEvent) => void>();
  #latest: FeedEvent | undefined;
  #running: AbortController | undefined;

  /**
   * @param source What to read and whose view it is.
   * @param pollMs How often a source without `watch()` is read while someone listens.
   */
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

/** One server-sent event: `event: topology` or `event: unavailable`, its data on one line. */
export function formatEvent(event: FeedEvent): string {
  const data = event.kind === "topology" ? event.snapshot : { reason: event.reason };
  // JSON.stringify escapes line breaks inside strings, so the data is one line.
  return `event: ${event.kind}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The message of a thrown value, for an `unavailable` event or a 503 body. */
export function describe(error: unknown): string {
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
