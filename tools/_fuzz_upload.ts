/**
 * The fuzzer's upload lane: further-link `POST /upload` with paths built from `..`, `.`, empty
 * components, absolute paths (inside and outside the work directory), plain names, and names of
 * symlinks the lane planted in the work directory (one to a directory outside, one dangling, one
 * to a directory inside). A model of the work directory predicts each answer exactly: 200 `OK`,
 * or 400 with the path that is outside, a symbolic link, not a directory, or a directory. After
 * every batch the directory outside must still be empty and nothing may exist where the
 * dangling link points.
 *
 * @module
 */

import { dirname, isAbsolute, relative, resolve } from "node:path";
import { count, type FuzzContext, type Lane, violationRecorder } from "./_fuzz_common.ts";
import type { Rng } from "./_rng.ts";

const LINKS = ["out", "dangle", "in"];

interface Plan {
  cls: string;
  name: string;
  files: string[];
  status: number;
  body: string;
  /** What the model records when the upload succeeds. */
  creates: string[];
}

/**
 * Creates the upload lane.
 *
 * @param context The run.
 * @param rng The lane's generator.
 * @returns The lane.
 */
export function uploadLane(context: FuzzContext, rng: Rng): Lane {
  const name = "upload";
  const workDir = context.workDir;
  const outside = `${dirname(workDir)}/outside`;
  const violation = violationRecorder(context, name);
  let frameNo = 0;
  // The model: what exists below the work directory (relative paths).
  const links = new Set<string>();
  const files = new Set<string>();
  const dirs = new Set<string>();

  const component = () =>
    rng.chance(0.05) ? ".." : rng.pick([
      () => ".",
      () => "",
      () => rng.pick(LINKS),
      () => `d${rng.int(4)}`,
      () => `f${rng.int(4)}.txt`,
      () => rng.pick(["a b", "ü", "-", "x".repeat(rng.range(1, 40))]),
    ])();
  const randomPath = () => {
    const path = Array.from({ length: rng.range(1, 4) }, component).join("/").replace(/^\/+/, "");
    if (rng.chance(0.1)) return `${workDir}/${path}`;
    if (rng.chance(0.05)) return `${outside}/${path}`;
    return path || ".";
  };

  /** The server's answer for a name and its files, by the rules of docs/further-link.md. */
  function predict(uploadName: string, paths: string[]): Omit<Plan, "cls"> {
    const fail = (problem: string) => ({
      name: uploadName,
      files: paths,
      status: 400,
      body: `Cannot upload "${uploadName}": ${problem}`,
      creates: [],
    });
    const inside = (root: string, target: string) => {
      const rel = relative(root, target);
      return !(rel === ".." || rel.startsWith("../") || isAbsolute(rel));
    };
    const directory = resolve(workDir, uploadName);
    if (!inside(workDir, directory)) {
      return fail(`Path "${uploadName}" is outside the work directory`);
    }
    const targets: string[] = [];
    for (const path of paths) {
      const target = resolve(directory, path);
      if (!inside(directory, target)) return fail(`Path "${path}" is outside the work directory`);
      targets.push(relative(workDir, target));
    }
    if (directory === workDir) return fail(`Path "${uploadName}" is the work directory itself`);
    // Every path is checked (no symlink, no file in the middle) before anything is written.
    const walk = (rel: string, created: Set<string>, createdFiles: Set<string>) => {
      const parts = rel.split("/");
      for (let i = 0; i < parts.length; i++) {
        const sub = parts.slice(0, i + 1).join("/");
        if (links.has(sub)) return `Path "${sub}" is a symbolic link`;
        const isFile = files.has(sub) || createdFiles.has(sub);
        if (i < parts.length - 1 && isFile) return `Path "${sub}" is not a directory`;
        if (!isFile && !dirs.has(sub) && !created.has(sub)) return undefined;
      }
      return undefined;
    };
    for (const rel of targets) {
      const problem = walk(rel, new Set(), new Set());
      if (problem) return fail(problem);
    }
    // Then written in order: directories made, files written (a later file may find an earlier
    // one in its way).
    const createdDirs = new Set<string>();
    const createdFiles = new Set<string>();
    for (const rel of targets) {
      const problem = walk(rel, createdDirs, createdFiles);
      if (problem) return fail(problem);
      const parts = rel.split("/");
      for (let i = 1; i < parts.length; i++) createdDirs.add(parts.slice(0, i).join("/"));
      if (dirs.has(rel) || createdDirs.has(rel)) return fail(`Path "${rel}" is a directory`);
      createdFiles.add(rel);
    }
    return {
      name: uploadName,
      files: paths,
      status: 200,
      body: "OK",
      creates: [
        ...[...createdDirs].map((d) => `d:${d}`),
        ...[...createdFiles].map((f) => `f:${f}`),
      ],
    };
  }

  function plan(): Plan {
    const uploadName = rng.chance(0.7)
      ? rng.pick(["fz", "fz/d1", "in", "out", "dangle"])
      : randomPath();
    const paths = [...new Set(Array.from({ length: rng.range(1, 3) }, randomPath))];
    const predicted = predict(uploadName, paths);
    const cls = predicted.status === 200
      ? "written"
      : /symbolic link/.test(predicted.body)
      ? "symlink"
      : /outside/.test(predicted.body)
      ? "outside"
      : "refused";
    return { cls, ...predicted };
  }

  async function send(p: Plan, frame: number): Promise<void> {
    count(context, name, p.cls);
    const body = JSON.stringify({
      name: p.name,
      files: Object.fromEntries(p.files.map((f) => [f, { type: "text", content: `${frame}` }])),
    });
    let got: string;
    try {
      const response = await fetch(new URL("upload", context.server.url), {
        method: "POST",
        body,
      });
      const text = await response.text();
      if (response.status === p.status && text === p.body) {
        for (const entry of p.creates) {
          if (entry.startsWith("d:")) dirs.add(entry.slice(2));
          else files.add(entry.slice(2));
        }
        return;
      }
      got = `${response.status} ${JSON.stringify(text)}`;
    } catch (error) {
      got = `error: ${(error as Error).message}`;
    }
    violation(frame, p.cls, body.slice(0, 300), `${p.status} ${JSON.stringify(p.body)}`, got);
    // Resynchronize the model with the disk.
    scan();
  }

  function scan(): void {
    links.clear();
    files.clear();
    dirs.clear();
    const visit = (rel: string) => {
      for (const entry of Deno.readDirSync(rel ? `${workDir}/${rel}` : workDir)) {
        const sub = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isSymlink) links.add(sub);
        else if (entry.isDirectory) {
          dirs.add(sub);
          visit(sub);
        } else files.add(sub);
      }
    };
    visit("");
  }

  return {
    name,
    get controlBytes() {
      return 0;
    },
    async open() {
      await Deno.mkdir(`${workDir}/fz`, { recursive: true });
      await Deno.mkdir(outside, { recursive: true });
      await Deno.mkdir(`${workDir}/inner`, { recursive: true });
      const plant = async (target: string, path: string) => {
        await Deno.remove(path).catch(() => {});
        await Deno.symlink(target, path);
      };
      for (const dir of ["", "fz/"]) {
        await plant(outside, `${workDir}/${dir}out`);
        await plant(`${outside}/nothing-here`, `${workDir}/${dir}dangle`);
        await plant(`${workDir}/inner`, `${workDir}/${dir}in`);
      }
      scan();
    },
    async batch(frames: number) {
      for (let i = 0; i < frames; i++) {
        if (context.signal.aborted) return;
        await send(plan(), frameNo++);
      }
    },
    check() {
      const left = [...Deno.readDirSync(outside)].map((e) => e.name);
      if (left.length > 0) {
        violation(
          frameNo,
          "outside",
          "(directory listing)",
          "outside stays empty",
          left.join(", "),
        );
      }
      return Promise.resolve();
    },
    close() {
      return Promise.resolve();
    },
  };
}
