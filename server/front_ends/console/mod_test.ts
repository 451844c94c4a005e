// Copyright the pow authors. MIT license.
import assert from "node:assert/strict";
import { createServer, defaultConfig } from "../../../mod.ts";
import { frontEnds } from "../../front_ends.ts";
import { webConsole } from "./mod.ts";

const ROOT = new URL("../../../", import.meta.url);

function serve(configure?: (config: ReturnType<typeof defaultConfig>) => void) {
  const config = defaultConfig();
  configure?.(config);
  return createServer(config, { frontEnds });
}

async function get(
  server: ReturnType<typeof serve>,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ response: Response; body: string }> {
  const response = await server.fetch(new Request(`http://127.0.0.1:8028${path}`, { headers }));
  return { response, body: await response.text() };
}

Deno.test("console: the page and every asset it names are served from this server", async () => {
  const server = serve();
  try {
    const { response, body } = await get(server, "/console/");
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(response.headers.get("cache-control"), "no-cache");
    assert.match(response.headers.get("etag") ?? "", /^"[0-9a-f]{32}"$/);
    const urls = [
      ...new Set(
        [...body.matchAll(/(?:src|href|content)="(\.\/[^"]+)"|": ?"(\.\/[^"]+)"/g)]
          .map((m) => m[1] ?? m[2]),
      ),
    ];
    assert.deepEqual(urls.map((u) => u.replace(/\?v=[0-9a-f]{12}$/, "")).sort(), [
      "./addon-fit.mjs",
      "./app.js",
      "./pow-client.js",
      "./style.css",
      "./xterm.css",
      "./xterm.mjs",
    ]);
    assert.doesNotMatch(body, /https?:\/\//, "the page loads nothing from elsewhere");
    for (const url of urls) {
      const asset = await get(server, `/console/${url.slice(2)}`);
      assert.equal(asset.response.status, 200, url);
      assert.equal(
        asset.response.headers.get("cache-control"),
        "public, max-age=31536000, immutable",
        `${url}: a versioned URL never changes`,
      );
      assert.doesNotMatch(asset.body, /sourceMappingURL/, `${url}: no map that is not served`);
      assert.doesNotMatch(asset.body, /import\s*["'(]https?:|from\s*["']https?:/, url);
    }
  } finally {
    await server.close();
  }
});

Deno.test("console: ETags make a revalidation a 304, and text is gzipped when accepted", async () => {
  const server = serve();
  try {
    const first = await get(server, "/console/app.js");
    assert.equal(first.response.headers.get("cache-control"), "no-cache");
    const etag = first.response.headers.get("etag")!;
    const again = await get(server, "/console/app.js", { "if-none-match": etag });
    assert.equal(again.response.status, 304);
    assert.equal(again.body, "");
    assert.equal(again.response.headers.get("etag"), etag);
    const stale = await get(server, "/console/app.js", { "if-none-match": '"0000"' });
    assert.equal(stale.response.status, 200);

    const response = await server.fetch(
      new Request("http://127.0.0.1:8028/console/pow-client.js", {
        headers: { "accept-encoding": "gzip, br" },
      }),
    );
    assert.equal(response.headers.get("content-encoding"), "gzip");
    assert.equal(response.headers.get("vary"), "Accept-Encoding");
    const zipped = new Uint8Array(await response.arrayBuffer());
    const plain = await new Response(
      new Blob([zipped]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).text();
    assert.equal(plain, (await get(server, "/console/pow-client.js")).body);
    assert.ok(zipped.byteLength < plain.length / 2);
  } finally {
    await server.close();
  }
});

Deno.test("console: /console redirects to /console/, unknown files are 404, no token needed", async () => {
  const server = serve((config) => {
    config.auth.tokens = [{ name: "alice", hash: `sha256:${"0".repeat(64)}` }];
  });
  try {
    const redirect = await get(server, "/console");
    assert.equal(redirect.response.status, 301);
    assert.equal(redirect.response.headers.get("location"), "/console/");
    assert.equal((await get(server, "/console/")).response.status, 200);
    assert.equal((await get(server, "/console/nope.js")).response.status, 404);
    // The page is public; everything it does afterwards needs the token.
    assert.equal((await get(server, "/sessions")).response.status, 401);
  } finally {
    await server.close();
  }
});

Deno.test("console: under a base path the page is served there", async () => {
  const server = serve((config) => config.server.basePath = "/pow/");
  try {
    assert.equal((await get(server, "/pow/console/")).response.status, 200);
    assert.equal((await get(server, "/console/")).response.status, 404);
  } finally {
    await server.close();
  }
});

Deno.test("console: console.enabled false serves nothing", async () => {
  const config = defaultConfig();
  config.console.enabled = false;
  assert.equal(webConsole({ config } as never).routes, undefined);
  const server = serve((config) => config.console.enabled = false);
  try {
    assert.equal((await get(server, "/console/")).response.status, 404);
    assert.equal((await get(server, "/console/app.js")).response.status, 404);
  } finally {
    await server.close();
  }
});

Deno.test("console: the committed client bundle is what deno task bundle:console makes now", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/pow-client.js`;
    const task = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks[
      "bundle:console"
    ] as string;
    const args = task.replace(/^deno /, "").split(" ");
    args[args.indexOf("-o") + 1] = out;
    const bundle = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT.pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));
    const fresh = await Deno.readTextFile(out);
    const committed = await Deno.readTextFile(new URL("pow-client.js", import.meta.url));
    assert.ok(
      fresh === committed,
      "server/front_ends/console/pow-client.js is stale: run deno task bundle:console",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
