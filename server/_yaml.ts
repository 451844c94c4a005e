/**
 * The `yaml` package, loaded from its ES module build when it can be.
 *
 * `yaml`'s `exports` give Deno (which always resolves with the `node` condition) its CommonJS
 * build, and the first CommonJS module a Deno process loads boots Node compatibility: about
 * 7 MiB of resident memory for the server's whole life, to parse one file at startup (measured:
 * importing `main.ts`, 59.5 against 55.6 MiB; docs/benchmarks.md, "Round eleven"). The package
 * ships the same code as ES modules for browsers (`browser/index.js`), which its `exports` do
 * not list: this module finds it next to the package's `package.json` and imports it, and falls
 * back to the package's own entry point wherever that file cannot be reached (a `deno compile`d
 * binary, or an npm cache that is not a folder of files).
 *
 * @module
 */

import type * as Yaml from "yaml";

/** Which of the package's builds was loaded. */
export let yamlBuild: "esm" | "commonjs" = "commonjs";

/**
 * Loads the package: its ES module build when the file is there, else its entry point.
 *
 * @param packageJson Where the package's `package.json` is (a URL); for tests.
 * @returns The module, and which build it is.
 */
export async function loadYaml(
  packageJson: () => string = () => import.meta.resolve("yaml/package.json"),
): Promise<{ module: typeof Yaml; build: "esm" | "commonjs" }> {
  try {
    const entry = new URL("./browser/index.js", packageJson());
    if (entry.protocol === "file:") return { module: await import(entry.href), build: "esm" };
  } catch {
    // not a folder of files (or not readable): use the package's entry point
  }
  return { module: await import("yaml"), build: "commonjs" };
}

const loaded = await loadYaml();
yamlBuild = loaded.build;
const yaml: typeof Yaml = loaded.module;

/** `yaml`'s `LineCounter`. */
export const LineCounter: typeof Yaml.LineCounter = yaml.LineCounter;
/** `yaml`'s `parseDocument`. */
export const parseDocument: typeof Yaml.parseDocument = yaml.parseDocument;
