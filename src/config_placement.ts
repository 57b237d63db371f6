/**
 * Resolution and validation of the placement options: worker labels and capacity, movement
 * throttling and load-aware rebalancing.
 *
 * @module
 */
import { InvalidConfigError } from "./errors.ts";
import { describeLabelsProblem, type Labels } from "./labels.ts";
import type { LoadAwareOptions } from "./options.ts";
import { duration, show } from "./config_checks.ts";

/** Load-aware rebalancing with defaults applied. */
export interface ResolvedLoadAware {
  /** See {@link LoadAwareOptions.halfLifeMs}. */ readonly halfLifeMs: number;
  /** See {@link LoadAwareOptions.blend}. */ readonly blend: number;
  /** See {@link LoadAwareOptions.sustainMs}. */ readonly sustainMs: number;
  /** See {@link LoadAwareOptions.digestSize}. */ readonly digestSize: number;
}

/** The placement options with defaults applied. */
export interface ResolvedPlacement {
  /** This worker's labels. */
  readonly labels: Labels;
  /** This worker's capacity. */
  readonly capacity: number;
  /** Planned moves per rebalance (count ≥ 1 or fraction < 1), or undefined for no cap. */
  readonly maxMovesPerRebalance: number | undefined;
  /** Load-aware rebalancing, or undefined when off. */
  readonly loadAware: ResolvedLoadAware | undefined;
}

/** Defaults of {@link LoadAwareOptions}. */
export const LOAD_AWARE_DEFAULTS: ResolvedLoadAware = Object.freeze({
  halfLifeMs: 60_000,
  blend: 1,
  sustainMs: 30_000,
  digestSize: 64,
});

/** Most partitions one heartbeat's load digest may carry. */
export const MAX_DIGEST_SIZE = 1_000;

interface PlacementInput {
  readonly labels?: unknown;
  readonly capacity?: unknown;
  readonly maxMovesPerRebalance?: unknown;
  readonly loadAware?: unknown;
}

/** Validates and resolves the placement options; throws `InvalidConfigError` naming the field. */
export function resolvePlacement(o: PlacementInput): ResolvedPlacement {
  const labels = (o.labels ?? {}) as Labels;
  const problem = describeLabelsProblem(labels);
  if (problem !== undefined) throw new InvalidConfigError("labels", problem);
  const capacity = o.capacity ?? 1;
  if (typeof capacity !== "number" || !Number.isFinite(capacity) || capacity <= 0) {
    throw new InvalidConfigError(
      "capacity",
      `must be a finite number greater than 0, got ${show(capacity)}`,
    );
  }
  const m = o.maxMovesPerRebalance;
  if (
    m !== undefined &&
    (typeof m !== "number" || !Number.isFinite(m) || m <= 0 || (m >= 1 && !Number.isInteger(m)))
  ) {
    throw new InvalidConfigError(
      "maxMovesPerRebalance",
      `must be an integer of at least 1 (partitions) or a fraction in (0, 1) of the total ` +
        `weight, got ${show(m)}`,
    );
  }
  return {
    labels: Object.freeze({ ...labels }),
    capacity,
    maxMovesPerRebalance: m as number | undefined,
    loadAware: resolveLoadAware(o.loadAware),
  };
}

function resolveLoadAware(value: unknown): ResolvedLoadAware | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return LOAD_AWARE_DEFAULTS;
  if (typeof value !== "object" || value === null) {
    throw new InvalidConfigError(
      "loadAware",
      `must be true, false or an object, got ${show(value)}`,
    );
  }
  const o = value as LoadAwareOptions;
  const d = LOAD_AWARE_DEFAULTS;
  const halfLifeMs = duration("loadAware.halfLifeMs", o.halfLifeMs, d.halfLifeMs, true);
  const sustainMs = duration("loadAware.sustainMs", o.sustainMs, d.sustainMs);
  const blend = o.blend ?? d.blend;
  if (typeof blend !== "number" || !(blend > 0) || blend > 1) {
    throw new InvalidConfigError(
      "loadAware.blend",
      `must be a number in (0, 1], got ${show(blend)}`,
    );
  }
  const digestSize = o.digestSize ?? d.digestSize;
  if (!Number.isInteger(digestSize) || digestSize < 1 || digestSize > MAX_DIGEST_SIZE) {
    throw new InvalidConfigError(
      "loadAware.digestSize",
      `must be an integer from 1 to ${MAX_DIGEST_SIZE}, got ${show(digestSize)}`,
    );
  }
  return Object.freeze({ halfLifeMs, blend, sustainMs, digestSize });
}
