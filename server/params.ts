/**
 * Parameter declarations and their validation.
 *
 * @module
 */

import { CallError } from "./errors.ts";

/** Declares one parameter of a process. */
export interface ParamSpec {
  /** The parameter's name, used in error messages and listings. */
  name: string;
  /** What the parameter means, shown in listings. */
  description?: string;
  /** A regular expression the whole value must match (it is anchored for you). */
  pattern?: string;
  /** The only values allowed. */
  enum?: string[];
  /** The parameter may be left out (only trailing parameters can be optional). */
  optional?: boolean;
  /** The last parameter may take any number of values (zero or more), each validated alike. */
  variadic?: boolean;
}

/** Limits applied to every call, whatever its process declares. */
export interface ParamLimits {
  /** The most params a call may pass. @default {64} */
  maxCount?: number;
  /** The longest a single param may be, in UTF-16 code units. @default {4096} */
  maxLength?: number;
}

const compiled = new WeakMap<ParamSpec, RegExp>();

/**
 * Compiles a param's pattern into an anchored regular expression.
 *
 * @param spec The param declaration.
 * @returns The anchored expression, or `undefined` when the param has no pattern.
 * @throws {SyntaxError} When the pattern is not a valid regular expression.
 */
export function paramPattern(spec: ParamSpec): RegExp | undefined {
  if (spec.pattern === undefined) return undefined;
  let regexp = compiled.get(spec);
  if (!regexp) {
    regexp = new RegExp(`^(?:${spec.pattern})$`, "u");
    compiled.set(spec, regexp);
  }
  return regexp;
}

/**
 * Validates the params of a call against a process's declarations.
 *
 * @example Validate a call
 * ```ts
 * import { validateParams } from "./params.ts";
 * import assert from "node:assert/strict";
 *
 * const specs = [{ name: "n", pattern: "[0-9]+" }];
 * assert.deepEqual(validateParams("count", specs, ["10"]), ["10"]);
 * assert.throws(
 *   () => validateParams("count", specs, ["ten"]),
 *   { message: 'Cannot start process "count": parameter 1 ("n") does not match /^(?:[0-9]+)$/u' },
 * );
 * ```
 *
 * @param name The process name, for error messages.
 * @param specs The declared params.
 * @param params The params of the call.
 * @param limits Limits applied to every call.
 * @returns The params, unchanged, when they are valid.
 * @throws {CallError} With code `bad_params` naming the param and the rule it broke.
 */
export function validateParams(
  name: string,
  specs: readonly ParamSpec[],
  params: unknown,
  limits: ParamLimits = {},
): string[] {
  const { maxCount = 64, maxLength = 4096 } = limits;
  const fail = (message: string): never => {
    throw new CallError("bad_params", `Cannot start process "${name}": ${message}`);
  };
  if (params === undefined || params === null) params = []; // a call without params
  if (!Array.isArray(params)) fail("params must be an array of strings");
  const values = params as unknown[];
  if (values.length > maxCount) {
    fail(`too many parameters: ${values.length} given, at most ${maxCount} allowed`);
  }
  const variadic = specs.at(-1)?.variadic === true;
  const required = specs.filter((s) => !s.optional && !s.variadic).length;
  const max = variadic ? Infinity : specs.length;
  if (values.length < required || values.length > max) {
    const expected = required === max
      ? `${required} parameter${required === 1 ? "" : "s"}`
      : max === Infinity
      ? `at least ${required} parameter${required === 1 ? "" : "s"}`
      : `${required} to ${max} parameters`;
    fail(`expected ${expected}, got ${values.length}`);
  }
  values.forEach((value, i) => {
    const spec = specs[Math.min(i, specs.length - 1)];
    const label = `parameter ${i + 1} ("${spec.name}")`;
    if (typeof value !== "string") fail(`${label} must be a string, got ${typeof value}`);
    const text = value as string;
    if (text.length > maxLength) {
      fail(`${label} is too long: ${text.length} characters, at most ${maxLength} allowed`);
    }
    if (spec.enum && !spec.enum.includes(text)) {
      fail(`${label} must be one of ${spec.enum.map((e) => JSON.stringify(e)).join(", ")}`);
    }
    const pattern = paramPattern(spec);
    if (pattern && !pattern.test(text)) fail(`${label} does not match ${pattern}`);
  });
  return values as string[];
}

/**
 * Substitutes params into a command template. `{1}`, `{2}`, ... stand for whole params and
 * `{*}` for every param after the highest numbered placeholder; a param is never split or
 * interpreted, and no shell is involved.
 *
 * @example Build an argument vector
 * ```ts
 * import { expandTemplate } from "./params.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   expandTemplate(["grep", "-e", "{1}", "--", "{*}"], ["a b", "x.txt", "y.txt"]),
 *   ["grep", "-e", "a b", "--", "x.txt", "y.txt"],
 * );
 * ```
 *
 * @param template The program and its argument template.
 * @param params The validated params.
 * @returns The argument vector, program first.
 */
export function expandTemplate(template: readonly string[], params: readonly string[]): string[] {
  const rest = highestPlaceholder(template);
  const out: string[] = [];
  for (const part of template) {
    if (part === "{*}") {
      out.push(...params.slice(rest));
      continue;
    }
    const match = /^\{(\d+)\}$/.exec(part);
    if (match) {
      const value = params[Number(match[1]) - 1];
      if (value !== undefined) out.push(value);
    } else {
      out.push(part);
    }
  }
  return out;
}

/**
 * Finds the highest `{n}` placeholder in a command template.
 *
 * @param template The program and its argument template.
 * @returns The highest `n` used, or 0 when there is none.
 */
export function highestPlaceholder(template: readonly string[]): number {
  let highest = 0;
  for (const part of template) {
    const match = /^\{(\d+)\}$/.exec(part);
    if (match) highest = Math.max(highest, Number(match[1]));
  }
  return highest;
}
