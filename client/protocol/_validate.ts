// Copyright the pow authors. MIT license.
// Field validators shared by the message parsers. Private to this folder.

import { type ErrorCode, MAX_CHANNEL_ID, MAX_OFFSET } from "./constants.ts";
import type { Ref } from "./messages.ts";

/** A JSON object as parsed. */
export type Obj = Record<string, unknown>;

/** Thrown by validators; turned into a structured error by the parsers. */
export class Invalid extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function has(o: Obj, key: string): boolean {
  return Object.hasOwn(o, key) && o[key] !== undefined;
}

function bad(message: string): Invalid {
  return new Invalid("bad_message", message);
}

export function isChannelId(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 &&
    (value as number) <= MAX_CHANNEL_ID;
}

export function isRef(value: unknown): value is Ref {
  return (typeof value === "string" && value.length <= 128) ||
    (Number.isSafeInteger(value) && (value as number) >= 0);
}

export function ref(o: Obj): Ref | undefined {
  if (!has(o, "ref")) return undefined;
  if (!isRef(o.ref)) {
    throw bad('"ref" must be a string of at most 128 characters or a non-negative integer');
  }
  return o.ref;
}

export function id(o: Obj): number {
  if (!has(o, "id")) throw bad('"id" is missing');
  if (!isChannelId(o.id)) throw bad(`"id" must be an integer from 1 to ${MAX_CHANNEL_ID}`);
  return o.id;
}

export function str(o: Obj, key: string, max = 4096): string {
  if (!has(o, key)) throw bad(`"${key}" is missing`);
  return strValue(o[key], key, max);
}

export function optStr(o: Obj, key: string, max = 4096): string | undefined {
  return has(o, key) ? strValue(o[key], key, max) : undefined;
}

function strValue(value: unknown, key: string, max: number): string {
  if (typeof value !== "string") throw bad(`"${key}" is not a string`);
  if (value.length === 0) throw bad(`"${key}" is empty`);
  if (value.length > max) throw bad(`"${key}" is longer than ${max} characters`);
  return value;
}

export function int(o: Obj, key: string, min: number, max: number = MAX_OFFSET): number {
  if (!has(o, key)) throw bad(`"${key}" is missing`);
  return intValue(o[key], key, min, max);
}

export function optInt(
  o: Obj,
  key: string,
  min: number,
  max: number = MAX_OFFSET,
): number | undefined {
  return has(o, key) ? intValue(o[key], key, min, max) : undefined;
}

function intValue(value: unknown, key: string, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw bad(`"${key}" must be an integer from ${min} to ${max}`);
  }
  return value as number;
}

export function bool(o: Obj, key: string): boolean {
  if (!has(o, key)) throw bad(`"${key}" is missing`);
  return boolValue(o[key], key);
}

export function optBool(o: Obj, key: string): boolean | undefined {
  return has(o, key) ? boolValue(o[key], key) : undefined;
}

function boolValue(value: unknown, key: string): boolean {
  if (typeof value !== "boolean") throw bad(`"${key}" is not a boolean`);
  return value;
}

export function oneOf<T extends string>(o: Obj, key: string, values: readonly T[]): T {
  if (!has(o, key)) throw bad(`"${key}" is missing`);
  const value = o[key];
  if (typeof value !== "string" || !(values as readonly string[]).includes(value)) {
    throw bad(`"${key}" must be one of ${values.map((v) => `"${v}"`).join(", ")}`);
  }
  return value as T;
}

export function strArray(o: Obj, key: string): string[] {
  const value = o[key];
  if (!Array.isArray(value)) throw bad(`"${key}" is not an array`);
  value.forEach((item, i) => {
    if (typeof item !== "string") throw bad(`"${key}[${i}]" is not a string`);
  });
  return value;
}

export function objArray<T>(o: Obj, key: string, parse: (item: Obj, path: string) => T): T[] {
  if (!has(o, key)) throw bad(`"${key}" is missing`);
  const value = o[key];
  if (!Array.isArray(value)) throw bad(`"${key}" is not an array`);
  return value.map((item, i) => {
    const path = `${key}[${i}]`;
    if (!isObject(item)) throw bad(`"${path}" is not an object`);
    return parse(item, path);
  });
}

export function obj(o: Obj, key: string): Obj {
  if (!has(o, key)) throw bad(`"${key}" is missing`);
  const value = o[key];
  if (!isObject(value)) throw bad(`"${key}" is not an object`);
  return value;
}

/** Prefixes the field name of a nested validation error with its path. */
export function nested<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Invalid) {
      throw new Invalid(e.code, e.message.replace(/^"/, `"${path}.`));
    }
    throw e;
  }
}

/** Copies the entries whose value is not `undefined`. */
export function defined<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const k in value) {
    const v = value[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}
