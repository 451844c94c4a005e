/**
 * The web console: a page at `/console/` that runs, watches and shares processes from a browser.
 *
 * It is a front end like any other, except that it serves no protocol of its own: the page talks
 * to the server only through the public `pow.v2` WebSocket (with `@pow/client`, bundled for
 * browsers into `pow-client.js` by `deno task bundle:console`) and `POST /tickets`. This module
 * only serves the files, all from this server (no CDN): the page, its script and styles, the
 * client bundle and xterm.js from the `@xterm/xterm` and `@xterm/addon-fit` npm packages.
 *
 * Every file is a text import (in `files.ts`, loaded on the first request for a console file), so
 * it is part of the module graph: `deno run -A main.ts` on a fresh clone and a `deno compile`d
 * binary serve the same bytes, with no build step and no file reads.
 *
 * Caching: every response has a strong `ETag` (SHA-256 of the bytes) and answers a matching
 * `If-None-Match` with 304. The page links its assets with `?v=<hash>`; such a URL never changes
 * content, so it is served `immutable` for a year, while the page itself and unversioned URLs are
 * `no-cache` (revalidated with the ETag). Text is sent gzip-compressed to clients that accept it.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import type { FrontEnd, FrontEndContext, PowEnv } from "../../front_end.ts";

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** A file ready to serve. */
interface Asset {
  body: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
  version: string;
}

/** The npm packages leave a `sourceMappingURL` to a map this server does not serve. */
function withoutSourceMap(text: string): string {
  return text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");
}

async function asset(text: string, type: string): Promise<Asset> {
  const body = new TextEncoder().encode(text);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const gzip = new Uint8Array(
    await new Response(new Blob([body]).stream().pipeThrough(new CompressionStream("gzip")))
      .arrayBuffer(),
  );
  return { body, gzip, type, etag: `"${hex.slice(0, 32)}"`, version: hex.slice(0, 12) };
}

async function buildAssets(): Promise<Map<string, Asset>> {
  // The files (about 0.5 MB of text) are loaded with the first request for one of them: a
  // server nobody opens the console of does not hold them, nor their module sources.
  const { indexHtml, appJs, styleCss, powClientJs, xtermJs, xtermCss, fitJs } = await import(
    "./files.ts"
  );
  /** The files under `/console/`, by name: content and type. */
  const files: Record<string, { text: string; type: string }> = {
    "app.js": { text: appJs, type: JS },
    "style.css": { text: styleCss, type: CSS },
    "pow-client.js": { text: powClientJs, type: JS },
    "xterm.mjs": { text: withoutSourceMap(xtermJs), type: JS },
    "xterm.css": { text: xtermCss, type: CSS },
    "addon-fit.mjs": { text: withoutSourceMap(fitJs), type: JS },
  };
  const assets = new Map<string, Asset>();
  for (const [name, file] of Object.entries(files)) {
    assets.set(name, await asset(file.text, file.type));
  }
  // The page names every asset by its content hash, so browsers may cache those for good.
  const v = (name: string) => `./${name}?v=${assets.get(name)!.version}`;
  const importMap = JSON.stringify({
    imports: {
      "@pow/client": v("pow-client.js"),
      "@xterm/xterm": v("xterm.mjs"),
      "@xterm/addon-fit": v("addon-fit.mjs"),
    },
  });
  const page = indexHtml
    .replace("<!-- {{importmap}} -->", `<script type="importmap">${importMap}</script>`)
    .replace("{{style.css}}", v("style.css"))
    .replace("{{xterm.css}}", v("xterm.css"))
    .replace("{{pow-client.js}}", v("pow-client.js"))
    .replaceAll("{{app.js}}", v("app.js"));
  assets.set("", await asset(page, "text/html; charset=utf-8"));
  return assets;
}

function serve(c: Context<PowEnv>, asset: Asset, versioned: boolean): Response {
  const headers = new Headers({
    "content-type": asset.type,
    etag: asset.etag,
    "cache-control": versioned ? "public, max-age=31536000, immutable" : "no-cache",
    vary: "Accept-Encoding",
    "x-content-type-options": "nosniff",
  });
  if (asset.type.startsWith("text/html")) {
    // The page runs only its own scripts and talks only to this server.
    headers.set(
      "content-security-policy",
      "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
        "connect-src 'self' ws: wss:; img-src 'self' data: blob:; frame-ancestors 'none'",
    );
    headers.set("referrer-policy", "no-referrer");
  }
  const match = c.req.header("if-none-match");
  if (match !== undefined && match.split(",").some((tag) => tag.trim() === asset.etag)) {
    return new Response(null, { status: 304, headers });
  }
  const gzip = /\bgzip\b/.test(c.req.header("accept-encoding") ?? "");
  if (gzip) headers.set("content-encoding", "gzip");
  const body = gzip ? asset.gzip : asset.body;
  headers.set("content-length", String(body.byteLength));
  return new Response(c.req.method === "HEAD" ? null : body, { headers });
}

/**
 * The console front end. With `console.enabled: false` it serves nothing.
 *
 * @example
 * ```ts
 * import { createServer, defaultConfig } from "../../../mod.ts";
 * import { webConsole } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig(), { frontEnds: [webConsole] });
 * const response = await server.fetch(new Request("http://localhost/console/"));
 * assert.equal(response.status, 200);
 * assert.match(await response.text(), /<title>pow console<\/title>/);
 * await server.close();
 * ```
 *
 * @param context The server's shared services (only the config is used).
 * @returns The front end.
 */
export { type ConsoleConfig, consoleConfigSection } from "./config.ts";
import { consoleConfigSection } from "./config.ts";

export function webConsole(context: FrontEndContext): FrontEnd {
  if (!context.config.console.enabled) return { name: "console" };
  let assets: Promise<Map<string, Asset>> | undefined;
  const load = () => assets ??= buildAssets();
  return {
    name: "console",
    homePage: "console/",
    publicPaths: /^console(\/[A-Za-z0-9._-]*)?$/,
    routes(app: Hono<PowEnv>) {
      const handler = async (c: Context<PowEnv>) => {
        const name = c.req.param("name") ?? "";
        // The page's relative links need the trailing slash (routes ignore it otherwise).
        const path = new URL(c.req.url).pathname;
        if (name === "" && !path.endsWith("/")) return c.redirect(`${path}/`, 301);
        const found = (await load()).get(name);
        if (found === undefined) return c.text("Not found", 404);
        const v = c.req.query("v");
        return serve(c, found, name !== "" && v === found.version);
      };
      app.get("/console", handler);
      app.get("/console/:name{[A-Za-z0-9._-]+}", handler);
    },
  };
}

webConsole.config = consoleConfigSection;
