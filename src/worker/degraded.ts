/**
 * Degraded-mode detection: a worker is degraded after `enterAfterMs` of failing coordination
 * operations in a row, or after `kvErrorThreshold` failures within `kvErrorWindowMs`; it recovers
 * after `exitAfterMs` of uninterrupted success. While degraded, alerts escalate info → warn →
 * error → critical as the time spent degraded crosses each threshold.
 *
 * @module
 */
import type { Clock } from "../runtime/clock.ts";
import type { ResolvedDegradedOptions } from "../config.ts";
import type { DegradedAlertLevel } from "../types.ts";

/** Options of {@link DegradedMonitor}. */
export interface DegradedMonitorOptions {
  /** Thresholds. */
  readonly settings: ResolvedDegradedOptions;
  /** Monotonic clock. */
  readonly clock: Clock;
  /** Entered degraded mode. */
  readonly onEnter: () => void;
  /** Left degraded mode after `durationMs`. */
  readonly onExit: (durationMs: number) => void;
  /** Time spent degraded reached an alert level. */
  readonly onAlert: (level: DegradedAlertLevel, durationMs: number) => void;
}

const LEVELS: readonly DegradedAlertLevel[] = ["info", "warn", "error", "critical"];

/** Tracks the health of coordination operations. */
export class DegradedMonitor {
  readonly #o: DegradedMonitorOptions;
  #failingSince: number | undefined;
  #healthySince: number | undefined;
  #errors: number[] = [];
  #enteredAt: number | undefined;
  #alerted = 0;

  /** @param options Thresholds and callbacks. */
  constructor(options: DegradedMonitorOptions) {
    this.#o = options;
  }

  /** Whether coordination is currently considered degraded. */
  get degraded(): boolean {
    return this.#enteredAt !== undefined;
  }

  /** A coordination operation succeeded. */
  success(): void {
    const now = this.#o.clock.now();
    this.#failingSince = undefined;
    this.#healthySince ??= now;
    this.tick();
  }

  /** A coordination operation failed. */
  failure(): void {
    const now = this.#o.clock.now();
    this.#failingSince ??= now;
    this.#healthySince = undefined;
    this.#errors.push(now);
    this.tick();
  }

  /** Re-evaluates entry, exit and alerts; call it periodically. */
  tick(): void {
    const s = this.#o.settings;
    const now = this.#o.clock.now();
    this.#errors = this.#errors.filter((t) => now - t <= s.kvErrorWindowMs);
    if (this.#enteredAt === undefined) {
      const streak = this.#failingSince !== undefined && now - this.#failingSince >= s.enterAfterMs;
      if (streak || this.#errors.length >= s.kvErrorThreshold) {
        this.#enteredAt = now;
        this.#alerted = 0;
        this.#o.onEnter();
      }
      return;
    }
    if (this.#healthySince !== undefined && now - this.#healthySince >= s.exitAfterMs) {
      const duration = now - this.#enteredAt;
      this.#enteredAt = undefined;
      this.#errors = [];
      this.#o.onExit(duration);
      return;
    }
    const duration = now - this.#enteredAt;
    while (
      this.#alerted < LEVELS.length &&
      duration >= s.alertThresholdsMs[LEVELS[this.#alerted]!]
    ) {
      this.#o.onAlert(LEVELS[this.#alerted]!, duration);
      this.#alerted++;
    }
  }
}
