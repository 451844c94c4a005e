/**
 * The POSIX path functions the server uses (`resolve`, `relative`, `dirname`, `join`,
 * `isAbsolute`), with `node:path`'s results.
 *
 * Deno's `node:path` boots part of Node compatibility when imported (about 1 MiB of resident
 * memory for the server's whole life; docs/benchmarks.md, "Round eleven"), and Deno's standard
 * library is not reachable here (no `jsr:` imports). `_posix_path_test.ts` checks every function
 * against `node:path` on thousands of generated paths.
 *
 * @module
 */

/** The path separator. */
export const SEP = "/";

/** The segments of `path` with `.`, empty segments and resolvable `..` removed. */
function segments(path: string, absolute: boolean): string[] {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(part);
  }
  return out;
}

/**
 * Whether a path is absolute.
 *
 * @param path The path.
 * @returns Whether it starts with `/`.
 */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/**
 * Resolves paths right to left into an absolute, normalized path (the current directory when
 * none is absolute), as `node:path`'s `resolve` does.
 *
 * @example
 * ```ts
 * import { resolve } from "./_posix_path.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resolve("/srv/work", "../etc", "./x/"), "/srv/etc/x");
 * ```
 *
 * @param paths The paths.
 * @returns The absolute path, without a trailing slash (unless it is `/`).
 */
export function resolve(...paths: string[]): string {
  let joined = "";
  let absolute = false;
  for (let i = paths.length - 1; i >= -1 && !absolute; i--) {
    const path = i >= 0 ? paths[i] : Deno.cwd();
    if (path.length === 0) continue;
    joined = `${path}/${joined}`;
    absolute = isAbsolute(path);
  }
  const parts = segments(joined, absolute);
  if (absolute) return `/${parts.join("/")}`;
  return parts.length > 0 ? parts.join("/") : ".";
}

/**
 * The relative path from one path to another (both resolved first), as `node:path`'s
 * `relative` does: `""` when they are the same.
 *
 * @example
 * ```ts
 * import { relative } from "./_posix_path.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(relative("/srv/work", "/srv/work/a/b"), "a/b");
 * assert.equal(relative("/srv/work", "/etc"), "../../etc");
 * ```
 *
 * @param from The starting point.
 * @param to The destination.
 * @returns The relative path.
 */
export function relative(from: string, to: string): string {
  const a = segments(resolve(from), true);
  const b = segments(resolve(to), true);
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...Array(a.length - common).fill(".."), ...b.slice(common)].join("/");
}

/**
 * The directory part of a path, as `node:path`'s `dirname` returns it.
 *
 * @example
 * ```ts
 * import { dirname } from "./_posix_path.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(dirname("/srv/work/a.txt"), "/srv/work");
 * assert.equal(dirname("a.txt"), ".");
 * ```
 *
 * @param path The path.
 * @returns Everything before its last segment.
 */
export function dirname(path: string): string {
  if (path.length === 0) return ".";
  const rooted = isAbsolute(path);
  let end = -1;
  let trailing = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!trailing) {
        end = i;
        break;
      }
    } else {
      trailing = false;
    }
  }
  if (end === -1) return rooted ? "/" : ".";
  if (rooted && end === 1) return "//";
  return path.slice(0, end);
}

/**
 * Joins paths with `/` and normalizes the result, as `node:path`'s `join` does.
 *
 * @example
 * ```ts
 * import { join } from "./_posix_path.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(join("/var/lib/pow/", "123.ledger"), "/var/lib/pow/123.ledger");
 * ```
 *
 * @param paths The paths.
 * @returns The joined path (`.` when empty).
 */
export function join(...paths: string[]): string {
  const joined = paths.filter((path) => path.length > 0).join("/");
  if (joined.length === 0) return ".";
  const absolute = isAbsolute(joined);
  const parts = segments(joined, absolute);
  let result = (absolute ? "/" : "") + parts.join("/");
  if (result.length === 0) result = absolute ? "/" : ".";
  if (joined.endsWith("/") && !result.endsWith("/")) result += "/";
  return result;
}
