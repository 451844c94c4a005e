// Copyright the pow authors. MIT license.
/**
 * OpenTelemetry spans for process sessions. When the runtime provides OpenTelemetry (Deno with
 * `OTEL_DENO=true`, or an `@opentelemetry/api` SDK), every session gets a span that joins the
 * caller's trace (the W3C trace context the session was started with):
 *
 * - `pow session NAME` (kind server), from the start request until the process ended, with the
 *   attributes `pow.process`, `pow.session`, `pow.caller`, `pow.front_end`, then
 *   `process.pid`, `process.exit.code`, `pow.result.status` and `pow.result.kind`; an `exit`
 *   event when the process ended; status error when it was rejected (other than a cancel);
 * - `pow start NAME`, its child, until the process was spawned (or failed to);
 * - `pow run NAME`, its child, from the spawn until the process ended.
 *
 * The API is found through its global (`Symbol.for("opentelemetry.js.api.1")`, registered by
 * Deno's built-in OpenTelemetry and by `@opentelemetry/api`), so pow depends on no
 * OpenTelemetry package and does nothing when none is set up.
 *
 * @module
 */

import type { Session } from "./session.ts";

const API_KEY = Symbol.for("opentelemetry.js.api.1");
const SPAN_KEY = Symbol.for("OpenTelemetry Context Key SPAN");
const SPAN_KIND_SERVER = 1;
const STATUS_ERROR = 2;

type Attributes = Record<string, string | number>;

interface ContextLike {
  setValue(key: symbol, value: unknown): ContextLike;
}

interface SpanLike {
  setAttribute(key: string, value: string | number): unknown;
  addEvent(name: string, attributes?: Attributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

interface OtelApiLike {
  trace?: {
    getTracer?(name: string): {
      startSpan(
        name: string,
        options: { kind?: number; attributes?: Attributes },
        context?: ContextLike,
      ): SpanLike;
    };
  };
  context?: { active?(): ContextLike };
  propagation?: {
    extract?(
      context: ContextLike,
      carrier: Record<string, string>,
      getter: {
        get(carrier: Record<string, string>, key: string): string | undefined;
        keys(carrier: Record<string, string>): string[];
      },
    ): ContextLike;
  };
}

const getter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};

/**
 * Starts the spans of a session that is about to start (does nothing without OpenTelemetry).
 *
 * @param session The session, before `start()`.
 */
export function traceSession(session: Session): void {
  try {
    const api = (globalThis as Record<symbol, OtelApiLike | undefined>)[API_KEY];
    const tracer = api?.trace?.getTracer?.("pow");
    const active = api?.context?.active?.();
    if (tracer === undefined || active === undefined) return;
    let parent = active;
    if (session.trace !== undefined && api?.propagation?.extract !== undefined) {
      const carrier: Record<string, string> = { traceparent: session.trace.traceparent };
      if (session.trace.tracestate) carrier.tracestate = session.trace.tracestate;
      parent = api.propagation.extract(active, carrier, getter);
    }
    const name = session.name;
    const span = tracer.startSpan(`pow session ${name}`, {
      kind: SPAN_KIND_SERVER,
      attributes: {
        "pow.process": name,
        "pow.session": session.id,
        "pow.caller": session.caller.id,
        "pow.front_end": session.caller.via ?? "",
      },
    }, parent);
    const inside = parent.setValue(SPAN_KEY, span);
    const starting = tracer.startSpan(`pow start ${name}`, {}, inside);
    let running: SpanLike | undefined;
    const onState = () => {
      if (session.state === "starting") return;
      session.removeEventListener("state", onState);
      if (session.pid !== undefined) span.setAttribute("process.pid", session.pid);
      starting.end();
      if (session.state === "running") running = tracer.startSpan(`pow run ${name}`, {}, inside);
    };
    session.addEventListener("state", onState);
    session.result.then((result) => {
      onState();
      running?.end();
      const attributes: Attributes = { "pow.result.status": result.status };
      if (result.exitCode !== undefined) attributes["process.exit.code"] = result.exitCode;
      if (result.status === "rejected") {
        attributes["pow.result.kind"] = result.kind ?? "";
        if (result.signal) attributes["process.signal"] = result.signal;
        if (result.kind !== "cancelled") {
          span.setStatus({ code: STATUS_ERROR, message: result.reason });
        }
      }
      for (const [key, value] of Object.entries(attributes)) span.setAttribute(key, value);
      span.addEvent("exit", attributes);
      span.end();
    }, () => span.end());
  } catch {
    // Tracing must never break a session.
  }
}
