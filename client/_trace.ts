// Copyright the pow authors. MIT license.
/**
 * The active OpenTelemetry span's W3C trace context, found without depending on
 * `@opentelemetry/api`: that package (and Deno's built-in OpenTelemetry, `OTEL_DENO=true`)
 * registers its API object on `globalThis` under `Symbol.for("opentelemetry.js.api.1")`; the
 * active context holds the current span under `Symbol.for("OpenTelemetry Context Key SPAN")`.
 * Both keys are part of the OpenTelemetry JS API's stable contract. Nothing here is
 * runtime-specific: in a browser without OpenTelemetry it finds nothing.
 *
 * @module
 */

const API_KEY = Symbol.for("opentelemetry.js.api.1");
const SPAN_KEY = Symbol.for("OpenTelemetry Context Key SPAN");

interface SpanContextLike {
  traceId?: unknown;
  spanId?: unknown;
  traceFlags?: unknown;
  traceState?: { serialize?(): string };
}

interface OtelApiLike {
  context?: {
    active?(): { getValue?(key: symbol): { spanContext?(): SpanContextLike } | undefined };
  };
}

/** A W3C trace context. */
export interface TraceContext {
  /** The `traceparent` value. */
  traceparent: string;
  /** The `tracestate` value, if any. */
  tracestate?: string;
}

/**
 * The trace context of the span active where this is called, if OpenTelemetry is set up.
 *
 * @returns The context, or `undefined`.
 */
export function activeTraceContext(): TraceContext | undefined {
  try {
    const api = (globalThis as Record<symbol, OtelApiLike | undefined>)[API_KEY];
    const span = api?.context?.active?.()?.getValue?.(SPAN_KEY);
    const context = span?.spanContext?.();
    if (context === undefined) return undefined;
    const { traceId, spanId, traceFlags } = context;
    if (
      typeof traceId !== "string" || !/^[0-9a-f]{32}$/.test(traceId) || /^0+$/.test(traceId) ||
      typeof spanId !== "string" || !/^[0-9a-f]{16}$/.test(spanId) || /^0+$/.test(spanId)
    ) {
      return undefined;
    }
    const flags = (typeof traceFlags === "number" ? traceFlags & 0xff : 0)
      .toString(16).padStart(2, "0");
    const traceparent = `00-${traceId}-${spanId}-${flags}`;
    const tracestate = context.traceState?.serialize?.();
    return tracestate ? { traceparent, tracestate } : { traceparent };
  } catch {
    return undefined;
  }
}
