/**
 * The structured logger interface Parti writes its diagnostics to, and two ready-made loggers:
 * {@link consoleLogger} for development and simple deployments, and {@link silentLogger} (what a
 * manager uses when no logger is given). Adapt any logging library by implementing {@link Logger}.
 *
 * @module
 */

/** Structured fields of one log record, e.g. `{ workerId: "worker-0", version: 7 }`. */
export type LogFields = Record<string, unknown>;

/** Severity of a log record, from most to least verbose. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * A structured logger. Parti is silent by default; pass {@link consoleLogger} or an adapter for
 * your own logging library. Methods must not throw and should return quickly.
 *
 * @example An adapter that collects records
 * ```ts
 * import type { LogFields, Logger } from "@parti/core";
 *
 * const records: Array<[string, string, LogFields | undefined]> = [];
 * const logger: Logger = {
 *   debug: (message, fields) => records.push(["debug", message, fields]),
 *   info: (message, fields) => records.push(["info", message, fields]),
 *   warn: (message, fields) => records.push(["warn", message, fields]),
 *   error: (message, fields) => records.push(["error", message, fields]),
 * };
 * logger.info("Claimed worker ID", { workerId: "worker-0" });
 * console.assert(records.length === 1);
 * ```
 */
export interface Logger {
  /**
   * Verbose diagnostics: individual coordination steps.
   *
   * @param message What happened, sentence case.
   * @param fields Structured context.
   */
  debug(message: string, fields?: LogFields): void;
  /**
   * Normal lifecycle events: ID claimed, leadership gained, assignment published.
   *
   * @param message What happened, sentence case.
   * @param fields Structured context.
   */
  info(message: string, fields?: LogFields): void;
  /**
   * Something unexpected that Parti recovers from by itself.
   *
   * @param message What happened, sentence case.
   * @param fields Structured context.
   */
  warn(message: string, fields?: LogFields): void;
  /**
   * A condition Parti cannot recover from by itself and that needs an operator.
   *
   * @param message What happened, sentence case.
   * @param fields Structured context.
   */
  error(message: string, fields?: LogFields): void;
}

/** Options of {@link consoleLogger}. */
export interface ConsoleLoggerOptions {
  /**
   * The least severe level written; records below it are dropped.
   * @default {"info"}
   */
  readonly level?: LogLevel;
  /**
   * Text at the start of every line, to tell Parti's lines apart (e.g. `"[parti orders]"`); `""`
   * writes none.
   * @default {"[parti]"}
   */
  readonly prefix?: string;
}

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

function noop(): void {}

/** Makes fields JSON-safe: errors keep their name, code, message and cause; bigints become text. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined) out.cause = value.cause;
    return out;
  }
  return value;
}

function formatFields(fields: LogFields | undefined): string {
  if (fields === undefined || Object.keys(fields).length === 0) return "";
  try {
    return ` ${JSON.stringify(fields, replacer)}`;
  } catch {
    // A circular structure must not turn a log call into a crash.
    return ` {"fields":"unserializable"}`;
  }
}

/**
 * A logger that writes one line per record to the console: the prefix, the level, the message and
 * the fields as JSON, through `console.debug`, `console.info`, `console.warn` or `console.error`.
 *
 * @param options Minimum level and line prefix.
 * @returns The logger.
 * @throws {RangeError} When `level` is not one of `"debug"`, `"info"`, `"warn"`, `"error"`.
 *
 * @example Log lifecycle events of a manager
 * ```ts ignore
 * import { consoleLogger, Manager } from "@parti/core";
 *
 * const manager = new Manager({
 *   connection: nc,
 *   group: "orders",
 *   source: partitions,
 *   logger: consoleLogger({ level: "debug", prefix: "[parti orders]" }),
 * });
 * // [parti orders] info Claimed worker ID {"workerId":"worker-0"}
 * ```
 */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const threshold = LEVELS.indexOf(level);
  if (threshold < 0) {
    throw new RangeError(
      `Invalid log level '${String(level)}': use "debug", "info", "warn" or "error"`,
    );
  }
  const prefix = options.prefix ?? "[parti]";
  if (typeof prefix !== "string") {
    throw new TypeError(`Invalid prefix: expected a string, got ${typeof prefix}`);
  }
  const head = prefix === "" ? "" : `${prefix} `;
  const writer = (at: LogLevel): (message: string, fields?: LogFields) => void => {
    if (LEVELS.indexOf(at) < threshold) return noop;
    // The one place library code writes to the console: this logger exists to do exactly that.
    // `console` is read per call so that a console replaced later (tests, log shippers) is used.
    return (message, fields) => console[at](`${head}${at} ${message}${formatFields(fields)}`);
  };
  return Object.freeze({
    debug: writer("debug"),
    info: writer("info"),
    warn: writer("warn"),
    error: writer("error"),
  });
}

/**
 * A logger that discards every record; what a manager uses when no `logger` is given.
 *
 * @example Silence a component explicitly
 * ```ts
 * import { silentLogger } from "@parti/core";
 * silentLogger.warn("Dropped");
 * ```
 */
export const silentLogger: Logger = Object.freeze({
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
});
