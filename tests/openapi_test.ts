import assert from "node:assert/strict";
import { openApi } from "../server/front_ends/openapi/mod.ts";
import { pow1Rest, pow1WebSocket } from "../server/front_ends/pow1/mod.ts";
import { startServer } from "./_helpers.ts";

const frontEnds = [pow1WebSocket, pow1Rest, openApi];
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

Deno.test("openapi.json is an OpenAPI 3.1 document of every route, with the server's own URL", async () => {
  await using server = await startServer({
    frontEnds,
    configure(config) {
      config.server.basePath = "/pow/";
    },
  });
  const response = await fetch(new URL("openapi.json", server.url));
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
  const doc = await response.json();
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(typeof doc.info.title, "string");
  assert.equal(typeof doc.info.version, "string");
  assert.deepEqual(doc.servers, [{ url: "/pow/" }]);
  assert.match(server.url.href, /\/pow\/$/);
  const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap((
    [path, item],
  ) =>
    Object.keys(item).filter((m) => METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`)
  );
  assert.deepEqual(routes.sort(), [
    "GET /",
    "GET /docs/",
    "GET /docs/{file}",
    "GET /openapi.json",
    "GET /status/{id}",
    "POST /cancel/{id}",
    "POST /closeInput/{id}",
    "POST /input/{id}",
    "POST /new",
    "POST /tickets",
  ]);
  // Structural validity: every operation has responses, every templated segment is declared.
  interface Operation {
    responses: Record<string, unknown>;
    parameters?: { in: string; name: string }[];
  }
  for (
    const [path, item] of Object.entries(doc.paths as Record<string, Record<string, Operation>>)
  ) {
    assert.ok(path.startsWith("/"), path);
    for (const method of Object.keys(item)) {
      const operation = item[method];
      assert.ok(operation.responses && Object.keys(operation.responses).length > 0, path);
      for (const [code, value] of Object.entries(operation.responses)) {
        assert.match(code, /^[1-5]\d\d$/);
        assert.equal(typeof (value as { description: unknown }).description, "string");
      }
      const declared = (operation.parameters ?? []).filter((p) => p.in === "path")
        .map((p) => p.name).sort();
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      assert.deepEqual(declared, templated, `${method} ${path}`);
    }
  }
  assert.deepEqual(Object.keys(doc.paths["/"].get.responses).sort(), ["101", "403"]);
});

Deno.test("docs serves Swagger UI offline, pointing at openapi.json", async () => {
  await using server = await startServer({ frontEnds });
  const redirect = await fetch(new URL("docs", server.url), { redirect: "manual" });
  await redirect.body?.cancel();
  assert.equal(redirect.status, 301);
  assert.equal(new URL(redirect.headers.get("location")!, server.url).pathname, "/docs/");

  const page = await fetch(new URL("docs/", server.url));
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  const html = await page.text();
  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(assets.length >= 5, html);
  for (const asset of assets) {
    assert.ok(asset.startsWith("./"), `no CDN: ${asset}`);
    const response = await fetch(new URL(asset, page.url));
    const body = new Uint8Array(await response.arrayBuffer());
    assert.equal(response.status, 200, asset);
    assert.ok(body.length > 0, asset);
  }
  const bundle = await fetch(new URL("docs/swagger-ui-bundle.js", server.url));
  assert.match(bundle.headers.get("content-type") ?? "", /javascript/);
  assert.match(await bundle.text(), /SwaggerUIBundle/);
  const init = await (await fetch(new URL("docs/swagger-initializer.js", server.url))).text();
  const specUrl = /new URL\("([^"]+)", window\.location\.href\)/.exec(init)?.[1];
  assert.equal(
    new URL(specUrl!, new URL("docs/", server.url)).href,
    new URL("openapi.json", server.url).href,
  );
  const missing = await fetch(new URL("docs/../../etc/passwd", server.url));
  await missing.body?.cancel();
  assert.equal(missing.status, 404);
  const unknown = await fetch(new URL("docs/package.json", server.url));
  await unknown.body?.cancel();
  assert.equal(unknown.status, 404);
});
