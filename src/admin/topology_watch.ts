/**
 * The loop behind `GroupAdmin.watch()`: a fresh topology snapshot after every change of the
 * heartbeat, leader or assignment bucket. Changes only mark the view dirty; one read then covers
 * all of them, so a burst of changes (or a slow consumer) costs one snapshot, not one per change.
 *
 * @module
 */
import { toError } from "../errors.ts";
import { LEADER_KEY } from "../protocol/keys.ts";
import type { KvWatch } from "../store/store.ts";
import type { HeartbeatObserver } from "./heartbeat_ages.ts";
import type { AdminBuckets } from "./open.ts";
import { type AdminTopology, readAdminTopology } from "./topology.ts";

/** Options of {@link GroupAdmin.watch}. */
export interface GroupAdminWatchOptions {
  /** Ends the iteration when aborted (the loop then simply finishes). */
  readonly signal?: AbortSignal;
}

/** What {@link watchTopology} reads and follows: the parts of an open `GroupAdmin`. */
export interface TopologyWatchSources {
  /** The group's buckets. */
  readonly buckets: AdminBuckets;
  /** The admin's heartbeat watch; its changes count as topology changes. */
  readonly heartbeats: HeartbeatObserver;
  /** Receives failed reads and watch problems. */
  readonly onError: (error: Error) => void;
  /** Aborted when the admin closes; ends the iteration. */
  readonly closing: AbortSignal;
}

/** After a failed read inside `watch()`, how long to wait before reading again. */
const WATCH_RETRY_MS = 1_000;

/**
 * Yields a snapshot once the watches have taken in the current values, then one per change
 * (see `GroupAdmin.watch()`), until `options.signal` or `sources.closing` aborts or the consumer
 * leaves the loop.
 */
export async function* watchTopology(
  sources: TopologyWatchSources,
  options: GroupAdminWatchOptions,
): AsyncGenerator<AdminTopology, void, undefined> {
  const { buckets, heartbeats, onError } = sources;
  const stop = new AbortController();
  const signal = AbortSignal.any([
    stop.signal,
    sources.closing,
    ...(options.signal ? [options.signal] : []),
  ]);
  let dirty = true;
  let wake: (() => void) | undefined;
  const notify = () => {
    dirty = true;
    wake?.();
  };
  const unsubscribe = heartbeats.onChange(notify);
  const watches: KvWatch[] = [];
  const pumps: Promise<void>[] = [];
  const follow = (watch: KvWatch) => {
    watches.push(watch);
    pumps.push(
      (async () => {
        for await (const _ of watch) notify();
      })().catch((error) => onError(toError(error))),
    );
  };
  const watchOptions = { signal, onError, onRecreated: notify };
  let retry: ReturnType<typeof setTimeout> | undefined;
  try {
    follow(buckets.leader.watch({ ...watchOptions, key: LEADER_KEY }));
    follow(buckets.assignments.watch(watchOptions));
    await untilAborted(Promise.all(watches.map((w) => w.initialized)), signal);
    while (!signal.aborted) {
      if (!dirty) {
        await untilAborted(new Promise<void>((resolve) => (wake = resolve)), signal);
        wake = undefined;
        continue;
      }
      dirty = false;
      let snapshot: AdminTopology;
      try {
        snapshot = await readAdminTopology(buckets, heartbeats, onError);
      } catch (error) {
        if (signal.aborted) break;
        onError(toError(error));
        clearTimeout(retry);
        retry = setTimeout(notify, WATCH_RETRY_MS);
        continue;
      }
      if (signal.aborted) break;
      yield snapshot;
    }
  } finally {
    clearTimeout(retry);
    unsubscribe();
    stop.abort();
    for (const watch of watches) watch.stop();
    await Promise.allSettled(pumps);
  }
}

/** Resolves when `promise` settles or `signal` aborts, whichever is first. */
async function untilAborted(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      promise,
      new Promise<void>((resolve) => {
        onAbort = resolve;
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}
