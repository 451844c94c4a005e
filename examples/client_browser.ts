// Copyright the pow authors. MIT license.
/**
 * Serves examples/client_browser.html with the demo processes, on one origin:
 *
 *     deno run -A examples/client_browser.ts [--port 8028]
 *
 * then open the URL it prints. It runs a pow server (the default config, every built-in front
 * end) that also serves the page and the client bundled for browsers
 * (`deno bundle --platform browser`, done in memory at startup: nothing is written to the
 * repository). `tests/browser_test.ts` runs it in Chromium.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createServer, defaultConfig, type FrontEndFactory, listen } from "../mod.ts";
import { frontEnds } from "../server/front_ends.ts";

const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string" } } });

async function bundleClient(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "pow-example-" });
  try {
    const out = `${dir}/pow-client.js`;
    const bundle = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "--format", "esm", "-o", out, "mod.ts"],
      cwd: new URL("../client/", import.meta.url).pathname,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!bundle.success) throw new Error(new TextDecoder().decode(bundle.stderr));
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const page = await Deno.readTextFile(new URL("client_browser.html", import.meta.url));
const script = await bundleClient();
const example: FrontEndFactory = () => ({
  name: "browser-example",
  routes(app) {
    app.get("/examples/client_browser.html", (c) => c.html(page));
    app.get(
      "/examples/pow-client.js",
      (c) => c.body(script, 200, { "content-type": "text/javascript; charset=utf-8" }),
    );
  },
});

const config = defaultConfig();
config.server.port = values.port === undefined ? 8028 : Number(values.port);
await listen(createServer(config, { frontEnds: [...frontEnds, example] }), {
  onListen: (url) => console.log(`Open ${new URL("examples/client_browser.html", url)}`),
});
