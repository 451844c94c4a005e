/**
 * The OpenAPI 3.1 document of everything the server serves over HTTP, at `GET /openapi.json`,
 * and Swagger UI for it at `/docs/`, served offline from the `swagger-ui-dist` package.
 *
 * Every {@linkcode FrontEnd} contributes its own path items through its `openapi` member; this
 * module only merges them and adds its own routes.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import type { FrontEnd, FrontEndContext, FrontEndFactory, PowEnv } from "../../front_end.ts";

/** Options for {@linkcode openApiDocument}. */
export interface OpenApiDocumentOptions {
  /** The document's title. @default {"pow: Process Over WebSocket"} */
  title?: string;
  /** The API version. @default {"1.0.0"} */
  version?: string;
}

/** An OpenAPI 3.1 document (only the parts pow fills in are typed). */
export interface OpenApiDocument {
  /** The OpenAPI version, `3.1.0`. */
  openapi: "3.1.0";
  /** Title, version and description. */
  info: { title: string; version: string; description: string };
  /** The server's own base URL. */
  servers: { url: string }[];
  /** Path items by path, relative to the server URL. */
  paths: Record<string, Record<string, unknown>>;
}

/**
 * Builds the OpenAPI document from the front ends' path items.
 *
 * @example
 * ```ts
 * import { openApiDocument } from "./front_end.ts";
 * import assert from "node:assert/strict";
 *
 * const doc = openApiDocument([
 *   { name: "hello", openapi: { "/hello": { get: { responses: { "200": { description: "hi" } } } } } },
 * ], "/");
 * assert.equal(doc.openapi, "3.1.0");
 * assert.deepEqual(doc.servers, [{ url: "/" }]);
 * assert.ok("/hello" in doc.paths);
 * ```
 *
 * @param frontEnds The front ends whose paths are described.
 * @param serverUrl The server's base URL, or its base path: a relative `servers` URL is resolved
 *   against where the document was fetched, so it never echoes a request's `Host`.
 * @param options Title and version.
 * @returns The document.
 */
export function openApiDocument(
  frontEnds: readonly FrontEnd[],
  serverUrl: URL | string,
  options: OpenApiDocumentOptions = {},
): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  // Front ends whose subprotocols the server prefers come first: where two describe the same
  // operation (WebSocket upgrades on one path), theirs leads the merged description.
  const ordered = [...frontEnds].sort((a, b) => (a.preference ?? 100) - (b.preference ?? 100));
  for (const frontEnd of ordered) {
    for (const [path, item] of Object.entries(frontEnd.openapi ?? {})) {
      const merged: Record<string, unknown> = { ...paths[path] };
      for (const [method, operation] of Object.entries(item as Record<string, unknown>)) {
        merged[method] = merged[method]
          ? mergeOperations(merged[method] as Operation, operation as Operation)
          : operation;
      }
      paths[path] = merged;
    }
  }
  return {
    openapi: "3.1.0",
    info: {
      title: options.title ?? "pow: Process Over WebSocket",
      version: options.version ?? "1.0.0",
      description:
        "Run server-defined processes over WebSocket (subprotocol `pow-1`) or REST. Paths are " +
        "relative to the server URL, which includes the configured base path.",
    },
    servers: [{ url: typeof serverUrl === "string" ? serverUrl : serverUrl.href }],
    paths,
  };
}

/** An OpenAPI operation object (only the parts merged here). */
interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: ({ name: string; description?: string } & Record<string, unknown>)[];
  responses?: Record<string, unknown>;
}

/** Two front ends' descriptions of one operation (e.g. upgrades to either subprotocol). */
function mergeOperations(first: Operation, second: Operation): Operation {
  const either = (a?: string, b?: string) => a && b && a !== b ? `${a}; or: ${b}` : a ?? b;
  const parameters = [...(first.parameters ?? [])].map((p) => {
    const other = second.parameters?.find((q) => q.name === p.name);
    return other ? { ...p, description: either(p.description, other.description) } : p;
  });
  for (const q of second.parameters ?? []) {
    if (!parameters.some((p) => p.name === q.name)) parameters.push(q);
  }
  return {
    ...second,
    ...first,
    summary: either(first.summary, second.summary),
    description: [first.description, second.description].filter(Boolean).join("\n\n"),
    tags: [...new Set([...(first.tags ?? []), ...(second.tags ?? [])])],
    parameters,
    responses: { ...second.responses, ...first.responses },
  };
}

/** The Swagger UI files served from `swagger-ui-dist`, with their content types. */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "index.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
  "favicon-16x16.png": "image/png",
  "favicon-32x32.png": "image/png",
  "oauth2-redirect.html": "text/html; charset=utf-8",
  "oauth2-redirect.js": "text/javascript; charset=utf-8",
};

const INDEX_HTML = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>pow API</title>
    <link rel="stylesheet" type="text/css" href="./swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="./index.css">
    <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="./favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
`;

// The document lives beside docs/, at the base path: ../openapi.json from /docs/.
const INITIALIZER_JS = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: new URL("../openapi.json", window.location.href).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    // Off: the default sends the document to validator.swagger.io from any host but localhost.
    validatorUrl: null,
  });
};
`;

const assetCache = new Map<string, Promise<Uint8Array>>();

function readAsset(name: string): Promise<Uint8Array> {
  let data = assetCache.get(name);
  if (!data) {
    const dir = new URL(".", import.meta.resolve("swagger-ui-dist/package.json"));
    data = Deno.readFile(new URL(name, dir));
    data.catch(() => assetCache.delete(name));
    assetCache.set(name, data);
  }
  return data;
}

/**
 * The OpenAPI front end: `GET /openapi.json` describing every front end's routes, with
 * `servers` set to the base path (relative: whatever `Host` a request names is never echoed),
 * and Swagger UI at `/docs/`.
 *
 * @example
 * ```ts
 * import { createServer, defaultConfig } from "../../../mod.ts";
 * import { openApi } from "./front_end.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig(), { frontEnds: [openApi] });
 * const response = await server.fetch(new Request("http://localhost:8028/openapi.json"));
 * const doc = await response.json();
 * assert.deepEqual(doc.servers, [{ url: "/" }]);
 * await server.close();
 * ```
 *
 * @param context The server's shared services.
 * @returns The front end.
 */
export const openApi: FrontEndFactory = (context: FrontEndContext): FrontEnd => {
  const docs = async (c: Context<PowEnv>) => {
    const path = new URL(c.req.url).pathname;
    if (!path.endsWith("/")) return c.redirect(`${path}/`, 301);
    return await c.html(INDEX_HTML);
  };
  return {
    name: "openapi",
    publicPaths: /^(openapi\.json|docs(\/.*)?)$/,
    documentation: { page: "docs/", openapi: "openapi.json" },
    routes(app: Hono<PowEnv>): void {
      app.get("/openapi.json", (c) => {
        return c.json(openApiDocument(context.frontEnds, context.config.server.basePath));
      });
      app.get("/docs", docs);
      app.get("/docs/index.html", (c) => c.html(INDEX_HTML));
      app.get(
        "/docs/swagger-initializer.js",
        (c) => c.body(INITIALIZER_JS, 200, { "content-type": "text/javascript; charset=utf-8" }),
      );
      app.get("/docs/:file", async (c) => {
        const file = c.req.param("file");
        const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
        if (!type) return c.text("not found", 404);
        const data = await readAsset(file);
        return c.body(data.slice().buffer, 200, {
          "content-type": type,
          "cache-control": "public, max-age=3600",
        });
      });
    },
    openapi: {
      // Served by the server itself (server/server.ts), documented here with the other
      // server-wide routes.
      "/tickets": {
        post: {
          summary: "Get a single-use ticket for opening a WebSocket from a browser",
          description:
            "Browsers cannot set headers on a WebSocket: open it with `?ticket=...` instead. The " +
            "ticket stands for the caller of this request, works once, and expires after " +
            "`auth.ticketTtl` (default 30 s). See docs/security.md.",
          tags: ["authentication"],
          responses: {
            "200": {
              description: "The ticket and its lifetime in seconds",
              content: {
                "application/json": {
                  schema: {
                    type: "object",
                    required: ["ticket", "expiresIn"],
                    properties: {
                      ticket: { type: "string" },
                      expiresIn: { type: "number", examples: [30] },
                    },
                  },
                },
              },
            },
            "401": {
              description: "No valid token (`Authorization: Bearer <token>`)",
              content: { "text/plain": { schema: { type: "string" } } },
            },
          },
        },
      },
      "/openapi.json": {
        get: {
          summary: "This OpenAPI document",
          tags: ["documentation"],
          responses: {
            "200": {
              description: "The OpenAPI 3.1 document; `servers` is the server's own base URL",
              content: { "application/json": { schema: { type: "object" } } },
            },
          },
        },
      },
      "/docs/": {
        get: {
          summary: "Swagger UI for this document (served offline)",
          tags: ["documentation"],
          responses: {
            "200": { description: "The Swagger UI page", content: { "text/html": {} } },
          },
        },
      },
      "/docs/{file}": {
        get: {
          summary: "A Swagger UI asset",
          tags: ["documentation"],
          parameters: [{
            name: "file",
            in: "path",
            required: true,
            schema: {
              type: "string",
              enum: ["index.html", "swagger-initializer.js", ...Object.keys(ASSETS)],
            },
          }],
          responses: {
            "200": { description: "The file" },
            "404": {
              description: "No such file",
              content: { "text/plain": { schema: { type: "string" } } },
            },
          },
        },
      },
    },
  };
};
