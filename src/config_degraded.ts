/**
 * Resolving the `degraded` and `kv` options: defaults applied, every value checked, each error
 * naming its option (for example `degraded.alertThresholdsMs.warn`).
 *
 * @module
 */
import { duration, integer, show } from "./config_checks.ts";
import { InvalidConfigError } from "./errors.ts";
import type { DegradedOptions, KvOptions } from "./options.ts";

/** Degraded settings with every default applied. */
export interface ResolvedDegradedOptions {
  /** See {@link DegradedOptions.enterAfterMs}. */
  readonly enterAfterMs: number;
  /** See {@link DegradedOptions.exitAfterMs}. */
  readonly exitAfterMs: number;
  /** See {@link DegradedOptions.kvErrorThreshold}. */
  readonly kvErrorThreshold: number;
  /** See {@link DegradedOptions.kvErrorWindowMs}. */
  readonly kvErrorWindowMs: number;
  /** See {@link DegradedOptions.recoveryGraceMs}. */
  readonly recoveryGraceMs: number;
  /** See {@link DegradedOptions.alertThresholdsMs}. */
  readonly alertThresholdsMs: {
    readonly info: number;
    readonly warn: number;
    readonly error: number;
    readonly critical: number;
  };
}

/** Store settings with every default applied. */
export interface ResolvedKv {
  /** See {@link KvOptions.replicas}. */
  readonly replicas: number;
  /** See {@link KvOptions.storage}. */
  readonly storage: "file" | "memory";
}

/**
 * Resolves the `degraded` option.
 *
 * @throws {InvalidConfigError} Naming the first invalid field.
 */
export function resolveDegraded(
  options: DegradedOptions | undefined,
  dd: ResolvedDegradedOptions,
): ResolvedDegradedOptions {
  const d = options ?? {};
  const da = d.alertThresholdsMs ?? {};
  const alertThresholdsMs = {
    info: duration("degraded.alertThresholdsMs.info", da.info, dd.alertThresholdsMs.info),
    warn: duration("degraded.alertThresholdsMs.warn", da.warn, dd.alertThresholdsMs.warn),
    error: duration("degraded.alertThresholdsMs.error", da.error, dd.alertThresholdsMs.error),
    critical: duration(
      "degraded.alertThresholdsMs.critical",
      da.critical,
      dd.alertThresholdsMs.critical,
    ),
  };
  const levels = ["info", "warn", "error", "critical"] as const;
  for (let i = 1; i < levels.length; i++) {
    const level = levels[i]!;
    const previous = levels[i - 1]!;
    if (alertThresholdsMs[level] < alertThresholdsMs[previous]) {
      throw new InvalidConfigError(
        `degraded.alertThresholdsMs.${level}`,
        `must be at least the '${previous}' threshold (${alertThresholdsMs[previous]}), got ${
          alertThresholdsMs[level]
        }`,
      );
    }
  }
  return {
    enterAfterMs: duration("degraded.enterAfterMs", d.enterAfterMs, dd.enterAfterMs),
    exitAfterMs: duration("degraded.exitAfterMs", d.exitAfterMs, dd.exitAfterMs),
    kvErrorThreshold: integer(
      "degraded.kvErrorThreshold",
      d.kvErrorThreshold,
      dd.kvErrorThreshold,
      1,
    ),
    kvErrorWindowMs: duration(
      "degraded.kvErrorWindowMs",
      d.kvErrorWindowMs,
      dd.kvErrorWindowMs,
      true,
    ),
    recoveryGraceMs: duration("degraded.recoveryGraceMs", d.recoveryGraceMs, dd.recoveryGraceMs),
    alertThresholdsMs,
  };
}

/**
 * Resolves the `kv` option.
 *
 * @throws {InvalidConfigError} Naming the first invalid field.
 */
export function resolveKv(o: KvOptions | undefined, dk: ResolvedKv): ResolvedKv {
  const kv = {
    replicas: integer("kv.replicas", o?.replicas, dk.replicas, 1),
    storage: o?.storage ?? dk.storage,
  };
  if (kv.replicas > 5) {
    throw new InvalidConfigError("kv.replicas", `must be between 1 and 5, got ${kv.replicas}`);
  }
  if (kv.storage !== "file" && kv.storage !== "memory") {
    throw new InvalidConfigError(
      "kv.storage",
      `must be 'file' or 'memory', got ${show(kv.storage)}`,
    );
  }
  return kv;
}
