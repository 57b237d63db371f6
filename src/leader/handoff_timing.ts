/**
 * Timing of one exclusive hand-off on the leader, by step: **revoke** (from the decision to the
 * revoke being written), **ack** (from the revoke being written until the round that saw the old
 * owners' acknowledgements decided), **assign** (from that decision until the new owners' keys are
 * written). The three add up to the whole hand-off. It also owns the `parti.handoff` span.
 *
 * @module
 */
import type { SpanLike, TracerLike } from "../observability/tracing.ts";

/** A finished hand-off's duration by step, in milliseconds of the manager's clock. */
export interface HandoffSteps {
  /** From the decision that started the hand-off to its first revoke written. */
  readonly revokeMs: number;
  /** From the first revoke written to the decision of the round that completed it. */
  readonly ackMs: number;
  /** From that decision to the assign written (the new owners told). */
  readonly assignMs: number;
}

/** Follows the hand-off in progress, if any (one per leadership term). */
export class HandoffTiming {
  readonly #tracer: TracerLike;
  readonly #epoch: number;
  #span: SpanLike | undefined;
  #decidedAt = 0;
  #revokedAt = 0;

  /**
   * @param tracer Where the `parti.handoff` span goes.
   * @param epoch The leader's epoch (a span attribute).
   */
  constructor(tracer: TracerLike, epoch: number) {
    this.#tracer = tracer;
    this.#epoch = epoch;
  }

  /**
   * A round decided at `decidedAt` wrote a publication at `writtenAt`. A revoke starts a hand-off
   * (unless one is in progress); an assign completes the one in progress and returns its steps.
   */
  written(
    phase: "revoke" | "assign",
    version: number,
    decidedAt: number,
    writtenAt: number,
  ): HandoffSteps | undefined {
    if (phase === "revoke") {
      if (this.#span) return undefined;
      this.#span = this.#tracer.startSpan("parti.handoff", { attributes: { epoch: this.#epoch } });
      this.#decidedAt = decidedAt;
      this.#revokedAt = writtenAt;
      return undefined;
    }
    if (!this.#span) return undefined;
    this.#span.setAttributes({ version });
    this.#span.end();
    this.#span = undefined;
    return {
      revokeMs: this.#revokedAt - this.#decidedAt,
      ackMs: Math.max(0, decidedAt - this.#revokedAt),
      assignMs: writtenAt - Math.max(decidedAt, this.#revokedAt),
    };
  }

  /** The term ended with a hand-off in progress: its span ends, marked unfinished. */
  abandon(): void {
    this.#span?.setAttributes({ unfinished: true });
    this.#span?.end();
    this.#span = undefined;
  }
}
