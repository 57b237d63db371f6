/**
 * The field-level checks behind `resolveConfig()`: durations, integers, ratios, names, hook names
 * and the shape of a NATS connection. A failure is an {@link InvalidConfigError} naming the option.
 *
 * @module
 */
import { InvalidConfigError } from "./errors.ts";
import type { PartitionSource } from "./types.ts";

/** Group names and worker ID prefixes: they name KV buckets and keys. */
export const NAME: RegExp = /^[A-Za-z0-9_-]+$/;
/** Every callback of `Hooks`; any that is given must be a function. */
export const HOOK_NAMES = [
  "onAssignmentChanged",
  "onPartitionAdded",
  "onPartitionRemoved",
  "onStateChanged",
  "onLeadershipChanged",
  "onWorkerJoined",
  "onWorkerLeft",
  "onDegradedAlert",
  "onError",
] as const;

/** A duration in ms, or `fallback` when absent: finite, not negative (above 0 if `positive`). */
export function duration(
  field: string,
  value: unknown,
  fallback: number,
  positive = false,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new InvalidConfigError(
      field,
      `must be a finite number of milliseconds, got ${show(value)}`,
    );
  }
  if (value < 0 || (positive && value === 0)) {
    throw new InvalidConfigError(
      field,
      `must be ${positive ? "greater than 0" : "0 or more"} milliseconds, got ${value}`,
    );
  }
  return value;
}

/** An integer of at least `min`, or `fallback` when absent. */
export function integer(field: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new InvalidConfigError(
      field,
      `must be an integer of at least ${min}, got ${show(value)}`,
    );
  }
  return value;
}

/** A ratio in (0, 1], or `fallback` when absent. */
export function ratio(field: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new InvalidConfigError(field, `must be a ratio in (0, 1], got ${show(value)}`);
  }
  return value;
}

/** How an offending value appears in an error message: strings quoted, objects by their type. */
export function show(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (typeof value === "number" || typeof value === "boolean" || value == null) {
    return String(value);
  }
  return typeof value;
}

/** What to pass as `connection`; ends every connection error. */
const CONNECTION_HINT = "pass what 'await connect()' of @nats-io/transport-deno or " +
  "@nats-io/transport-node, or 'await wsconnect()' of @nats-io/nats-core returns " +
  "(or give 'store' instead)";

/**
 * Checks, without any I/O, that `connection` has what the NATS KV store uses: `jetstream()` reads
 * `options.inboxPrefix` and sends through `request`/`subscribe`/`publish`, `Kvm` asks
 * `features.get()` whether the server supports KV, and the store follows `status()`, `isClosed()`
 * and `closed()`. A stand-in that lacks any of them would otherwise only fail inside `start()`
 * with a bare TypeError from nats.js.
 */
export function checkConnection(connection: unknown): void {
  if (typeof connection !== "object" || connection === null) {
    throw new InvalidConfigError(
      "connection",
      `must be a NatsConnection, got ${show(connection)}; ${CONNECTION_HINT}`,
    );
  }
  const c = connection as Record<string, unknown>;
  if (typeof c.then === "function") {
    throw new InvalidConfigError(
      "connection",
      "is a Promise, not a NatsConnection; await connect() before passing its result",
    );
  }
  const missing: string[] = [];
  for (const method of ["request", "subscribe", "publish", "status", "isClosed", "closed"]) {
    if (typeof c[method] !== "function") missing.push(`${method}()`);
  }
  const options = c.options as { inboxPrefix?: unknown } | null | undefined;
  if (typeof options !== "object" || options === null) missing.push("options");
  const features = c.features as { get?: unknown } | null | undefined;
  if (typeof features !== "object" || features === null || typeof features.get !== "function") {
    missing.push("features.get()");
  }
  if (missing.length > 0) {
    throw new InvalidConfigError(
      "connection",
      `must be a NatsConnection from nats.js v3; this object has no ${
        missing.map((m) => `'${m}'`).join(", ")
      }; ${CONNECTION_HINT}`,
    );
  }
  if ((c.isClosed as () => unknown).call(connection) === true) {
    throw new InvalidConfigError(
      "connection",
      "is closed; pass an open connection (a closed NatsConnection cannot reconnect)",
    );
  }
}

/** Whether `value` is a {@link PartitionSource} rather than a list of partitions. */
export function isSource(value: unknown): value is PartitionSource {
  return typeof value === "object" && value !== null &&
    typeof (value as PartitionSource).listPartitions === "function";
}

/** An engine from `createAssignmentEngine()` or a precompiled kernel module. */
export function checkEngine(engine: unknown): void {
  const isModule = typeof WebAssembly !== "undefined" && engine instanceof WebAssembly.Module;
  if (!isModule && typeof (engine as { assign?: unknown } | null)?.assign !== "function") {
    throw new InvalidConfigError(
      "engine",
      "must be an engine from createAssignmentEngine() or a precompiled WebAssembly.Module",
    );
  }
}
