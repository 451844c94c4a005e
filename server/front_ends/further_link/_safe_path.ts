/**
 * Writing inside a directory that others can write to (the further-link work directory, where
 * uploaded code runs) without ever leaving it.
 *
 * - Every component below the root is checked with `lstat`, which does not follow symlinks: a
 *   symlink anywhere in the path is refused, whether it points inside, outside or nowhere (a
 *   dangling link would otherwise be created through).
 * - Directories are made one component at a time, each checked before the next, so `mkdir`
 *   never goes through a symlink; the ones made for a refused or failed request are removed.
 * - Files are written to a temporary file in the target directory, created exclusively
 *   (`O_CREAT | O_EXCL`, which refuses a symlink even as the last component), and renamed over
 *   the target only when complete: a full disk leaves no partial file behind.
 * - Error texts name paths relative to the root, never the server's absolute paths.
 *
 * What remains: a process that writes the work directory at the same moment can swap a checked
 * directory for a symlink between the check and the next step (Deno has no `openat`). Keep
 * processes that run untrusted code out of the work directory's parent, or give them their own
 * user (`user:` in the config).
 *
 * @module
 */

import { dirname, relative, resolve, SEP as sep } from "../../_posix_path.ts";

/** A path that must not be written: reported as 400 with its message. */
export class UnsafePathError extends RangeError {
  /** The error name. */
  override name = "UnsafePathError";
}

/**
 * Checks each existing component of `path` below `root` with `lstat`, refusing symlinks and
 * non-directories in the middle.
 *
 * @param root The trusted root (absolute, existing).
 * @param path An absolute path inside it.
 * @returns The components, and the index of the first missing one (-1 when all exist).
 */
async function walk(root: string, path: string): Promise<{ parts: string[]; missing: number }> {
  const parts = relative(root, path).split(sep).filter((p) => p !== "");
  let current = root;
  for (let i = 0; i < parts.length; i++) {
    current = resolve(current, parts[i]);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(current);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { parts, missing: i };
      throw error;
    }
    const shown = parts.slice(0, i + 1).join("/");
    if (info.isSymlink) throw new UnsafePathError(`Path "${shown}" is a symbolic link`);
    if (i < parts.length - 1 && !info.isDirectory) {
      throw new UnsafePathError(`Path "${shown}" is not a directory`);
    }
  }
  return { parts, missing: -1 };
}

/**
 * Checks that no component of `path` below `root` is a symlink (missing ones are fine).
 *
 * @param root The trusted root.
 * @param path An absolute path inside it.
 * @throws {UnsafePathError} On a symlink or a file where a directory is needed.
 */
export async function checkNoSymlink(root: string, path: string): Promise<void> {
  await walk(root, path);
}

/**
 * Makes a directory below `root` one component at a time, never through a symlink.
 *
 * @param root The trusted root.
 * @param path The directory (absolute, inside root).
 * @param created Directories made are appended here, outermost first, for {@linkcode undo}.
 * @throws {UnsafePathError} On a symlink or a file in the way.
 */
export async function makeDirectory(root: string, path: string, created: string[]): Promise<void> {
  const { parts, missing } = await walk(root, path);
  if (missing === -1) {
    if (parts.length > 0 && !(await Deno.lstat(path)).isDirectory) {
      throw new UnsafePathError(`Path "${parts.join("/")}" is not a directory`);
    }
    return;
  }
  let current = resolve(root, ...parts.slice(0, missing));
  for (let i = missing; i < parts.length; i++) {
    current = resolve(current, parts[i]);
    try {
      await Deno.mkdir(current);
      created.push(current);
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    // Someone may have put something else there meanwhile: check what was made.
    const info = await Deno.lstat(current);
    if (info.isSymlink || !info.isDirectory) {
      throw new UnsafePathError(`Path "${parts.slice(0, i + 1).join("/")}" is not a directory`);
    }
  }
}

/**
 * Writes a file completely or not at all: a temporary file beside it, created exclusively,
 * renamed over it when written.
 *
 * @param root The trusted root.
 * @param path The file (absolute, inside root; its directory exists).
 * @param content The text.
 * @throws {UnsafePathError} When the file is a symlink or a directory.
 */
export async function writeWhole(root: string, path: string, content: string): Promise<void> {
  await walk(root, path);
  try {
    if ((await Deno.lstat(path)).isDirectory) {
      throw new UnsafePathError(`Path "${relative(root, path)}" is a directory`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const temp = resolve(dirname(path), `.pow-upload-${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeTextFile(temp, content, { createNew: true });
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
}

/**
 * Removes what a failed request made: files, then the directories it created (innermost first,
 * only while empty).
 *
 * @param files Files written.
 * @param directories Directories made, outermost first.
 */
export async function undo(files: string[], directories: string[]): Promise<void> {
  for (const file of files) await Deno.remove(file).catch(() => {});
  for (const directory of [...directories].reverse()) {
    await Deno.remove(directory).catch(() => {});
  }
}

/**
 * Describes a file system error without the server's absolute paths: the OS error's text
 * before any path, and its code.
 *
 * @param error The error.
 * @returns A message such as `cannot write "demo/a.py": no space left on device (ENOSPC)`.
 */
export function describeFsError(error: unknown): string {
  if (error instanceof RangeError) return error.message;
  const code = (error as { code?: string }).code;
  const name = (error as Error)?.name ?? "Error";
  const text = String((error as Error)?.message ?? error)
    .replace(/\s*\(os error \d+\)/, "")
    .replace(/:\s.*$/s, "")
    .toLowerCase();
  return `${text || name}${code ? ` (${code})` : ""}`;
}
