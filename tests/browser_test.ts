// Copyright the pow authors. MIT license.
/**
 * `@pow/client` in a real browser: headless Chromium loads a page the server serves, which
 * imports the client (bundled for browsers with `deno bundle` at test time) and runs processes
 * over pow.v2 and pow-1.
 */

import { deepStrictEqual, equal } from "node:assert/strict";
import type { FrontEndFactory } from "../server/front_end.ts";
import { frontEnds } from "../server/front_ends.ts";
import { nativeWebSocket } from "../server/front_ends/v2/mod.ts";
import { chromium } from "./_chromium.ts";
import { startServer } from "./_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!hasChromium) {
  console.warn(
    `Skipping the browser test: ${CHROMIUM} is not installed (apt-get install chromium)`,
  );
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>pow client test</title>
<script type="module">
import { PowClient, Pow1WebSocketSession } from "./pow-client.js";
const wsUrl = location.origin.replace(/^http/, "ws") + "/";
try {
  const client = new PowClient(wsUrl);
  const proc = client.start("cat");
  await proc.write("hello from the browser\\n");
  await proc.closeInput();
  const stdout = await new Response(proc.stdout).text();
  const result = await proc.result;
  const count = await client.start("count", ["3"]).output();
  const names = (await client.processes()).map((p) => p.name).sort();
  await client.close();

  const lines = [];
  const pow1 = new Pow1WebSocketSession(wsUrl, {
    call: "echo",
    params: ["random", "params"],
    onLogLine: (line) => lines.push(line),
  });
  await pow1.connect();
  pow1.sendText("hello");
  pow1.sendText("world");
  pow1.closeInput();
  const pow1Result = (await pow1.wait()).result;

  window.outcome = {
    stdout,
    result,
    count: new TextDecoder().decode(count.stdout),
    hasCat: names.includes("cat"),
    pow1: { text: lines.join(""), result: pow1Result },
  };
} catch (error) {
  window.outcome = { error: String(error) };
}
</script>`;

async function launchChromium() {
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

async function bundleClient(): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/pow-client.js`;
    const bundle = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform", "browser", "--format", "esm", "-o", out, "client/mod.ts"],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!bundle.success) throw new Error(new TextDecoder().decode(bundle.stderr));
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "the client runs processes from a page in headless Chromium",
  ignore: !hasChromium,
  async fn() {
    const script = await bundleClient();
    const testPage: FrontEndFactory = () => ({
      name: "browser-test-page",
      routes(app) {
        app.get("/test/page.html", (c) => c.html(PAGE));
        app.get(
          "/test/pow-client.js",
          (c) => c.body(script, 200, { "content-type": "text/javascript; charset=utf-8" }),
        );
      },
    });
    const base = frontEnds.includes(nativeWebSocket) ? frontEnds : [nativeWebSocket, ...frontEnds];
    await using server = await startServer({ frontEnds: [...base, testPage] });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      const logs: string[] = [];
      page.on("console", (message) => logs.push(message.text()));
      await page.goto(new URL("test/page.html", server.url).href);
      await page.waitForFunction(() => "outcome" in globalThis, undefined, { timeout: 20_000 })
        .catch((error) => {
          throw new Error(
            `${error.message}\npage errors: ${errors.join("\n")}\nconsole: ${logs.join("\n")}`,
          );
        });
      const outcome = await page.evaluate(() => (globalThis as { outcome?: unknown }).outcome);
      deepStrictEqual(errors, []);
      deepStrictEqual(outcome, {
        stdout: "hello from the browser\n",
        result: { status: "fulfilled", value: null, exitCode: 0 },
        count: "1\n2\n3\n",
        hasCat: true,
        pow1: { text: "helloworld", result: { status: "fulfilled", value: ["random", "params"] } },
      });
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name: "examples/client_browser.html runs as documented: served by examples/client_browser.ts",
  ignore: !hasChromium,
  async fn() {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "examples/client_browser.ts", "--port", "0"],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const browser = await launchChromium();
    try {
      let line = "";
      while (!line.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        line += value;
      }
      const url = /^Open (http:\/\/127\.0\.0\.1:\d+\/examples\/client_browser\.html)\n$/.exec(line)
        ?.[1];
      if (url === undefined) throw new Error(`unexpected output ${JSON.stringify(line)}`);
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      await page.goto(url);
      await page.waitForSelector("body[data-done]", { timeout: 20_000 });
      const text = await page.textContent("#out");
      deepStrictEqual(errors, []);
      equal(
        text,
        "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n\n" +
          JSON.stringify({ status: "fulfilled", value: null, exitCode: 0 }),
      );
    } finally {
      await browser.close();
      child.kill("SIGTERM");
      await child.status;
      await reader.cancel();
      await child.stderr.cancel();
    }
  },
});
