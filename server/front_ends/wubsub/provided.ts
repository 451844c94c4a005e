/**
 * Client-provided processes: a method a wubsub client registers is a process in pow's catalogue
 * named `<channel>/<method>`, callable from every front end.
 *
 * The request data is the call's params as a list of strings when there are any; with no
 * params, the process reads stdin to its end and sends it parsed as JSON (or as text when it is
 * not JSON; nothing when it is empty). The owner's answer is the result value (which
 * `main.ts call` prints as one line of JSON).
 *
 * @module
 */

import type { FunctionProcess } from "../../process.ts";
import { defineProcess } from "../../process.ts";
import type { WubsubHub } from "./hub.ts";

/** Options for {@linkcode providedProcess}. */
export interface ProvidedProcessOptions {
  /** The channel's description. */
  description?: string;
  /** Token names or roles that may call it; unset means everyone. */
  allow?: readonly string[];
  /** Who provides it (shown in the description). */
  owner?: string;
}

/**
 * Turns stdin text into request data: JSON when it parses, else the text, nothing when empty.
 *
 * @example
 * ```ts
 * import { requestData } from "./provided.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(requestData('{"a":1}'), { a: 1 });
 * assert.equal(requestData("hello\n"), "hello\n");
 * assert.equal(requestData(""), undefined);
 * ```
 *
 * @param text What the caller wrote to stdin.
 * @returns The request data.
 */
export function requestData(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Makes the process that forwards calls to a channel's method.
 *
 * @example
 * ```ts
 * import { MemoryEventBus } from "../../bus.ts";
 * import { WubsubHub } from "./hub.ts";
 * import { providedProcess } from "./provided.ts";
 * import assert from "node:assert/strict";
 *
 * const hub = new WubsubHub({ bus: new MemoryEventBus() });
 * const process = providedProcess(hub, "clock", "now");
 * assert.equal(process.kind, "function");
 * assert.deepEqual(process.params, [{ name: "data", variadic: true }]);
 * ```
 *
 * @param hub The hub the channel is registered in.
 * @param channel The channel.
 * @param method The method.
 * @param options Description and authorization.
 * @returns The process definition.
 */
export function providedProcess(
  hub: WubsubHub,
  channel: string,
  method: string,
  options: ProvidedProcessOptions = {},
): FunctionProcess {
  const by = options.owner ? ` by "${options.owner}"` : "";
  return defineProcess({
    description: `Method "${method}" of wubsub channel "${channel}" (provided${by})${
      options.description ? `: ${options.description}` : ""
    }`,
    params: [{ name: "data", variadic: true }],
    allow: options.allow ? [...options.allow] : undefined,
    async run({ params, stdin, caller, signal }) {
      const data = params.length > 0 ? [...params] : requestData(await new Response(stdin).text());
      const value = await hub.request(channel, method, data, caller, signal);
      return value ?? null;
    },
  });
}
