/**
 * Tracing without a dependency: the manager takes any tracer shaped like OpenTelemetry's (pass
 * `trace.getTracer("my-service")` from `npm:@opentelemetry/api`; with no provider installed that is
 * a no-op) and opens spans for rebalance decisions, publications, hand-offs and hook invocations.
 *
 * @module
 */

/** Span attribute values, as OpenTelemetry accepts them. */
export type SpanAttributes = Record<string, string | number | boolean>;

/** The part of an OpenTelemetry `Span` the manager uses. */
export interface SpanLike {
  /** Adds attributes. */
  setAttributes(attributes: SpanAttributes): unknown;
  /** Records an exception event. */
  recordException(exception: Error): unknown;
  /** Sets the status; `code` 2 is OpenTelemetry's `SpanStatusCode.ERROR`. */
  setStatus(status: { code: number; message?: string }): unknown;
  /** Ends the span. */
  end(): void;
}

/** The part of an OpenTelemetry `Tracer` the manager uses. */
export interface TracerLike {
  /** Starts a span (not made active: the manager's spans are leaves or explicit parents). */
  startSpan(name: string, options?: { attributes?: SpanAttributes }): SpanLike;
}

const noopSpan: SpanLike = Object.freeze({
  setAttributes: () => noopSpan,
  recordException: () => {},
  setStatus: () => noopSpan,
  end: () => {},
});

/** A tracer that records nothing (the default). */
export const noopTracer: TracerLike = Object.freeze({ startSpan: () => noopSpan });

/** OpenTelemetry's `SpanStatusCode.ERROR`. */
const STATUS_ERROR = 2;

/**
 * Runs `work` inside a span: the span ends when it settles, with the error recorded if it threw.
 *
 * @param tracer The tracer.
 * @param name The span name.
 * @param attributes Attributes known at the start.
 * @param work The traced work; it may add attributes to the span.
 * @returns What `work` returns.
 */
export async function traced<T>(
  tracer: TracerLike,
  name: string,
  attributes: SpanAttributes,
  work: (span: SpanLike) => Promise<T> | T,
): Promise<T> {
  const span = tracer.startSpan(name, { attributes });
  try {
    return await work(span);
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Marks a span failed with `error`. */
export function failSpan(span: SpanLike, error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  span.recordException(e);
  span.setStatus({ code: STATUS_ERROR, message: e.message });
}
