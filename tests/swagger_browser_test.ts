// Copyright the pow authors. MIT license.
/**
 * Swagger UI at `/docs/` is offline: served on a loopback address other than `localhost`
 * (where Swagger UI would ask validator.swagger.io for a badge), it renders the document in
 * headless Chromium without a single request leaving the server.
 */

import assert from "node:assert/strict";
import { startServer } from "./_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
const hasLoopback2 = (() => {
  try {
    Deno.listen({ hostname: "127.0.0.2", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "Swagger UI on 127.0.0.2 renders the document without any request to another host",
  ignore: !hasChromium || !hasLoopback2,
  async fn() {
    await using server = await startServer({
      configure(config) {
        config.server.host = "127.0.0.2";
      },
    });
    assert.equal(server.url.hostname, "127.0.0.2");
    const { chromium } = await import("./_chromium.ts");
    const browser = await chromium.launch({
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
    try {
      const page = await browser.newPage();
      const external: string[] = [];
      const local: string[] = [];
      // Every request goes through here: the server's own are let through, others refused.
      await page.route("**/*", (route) => {
        const url = new URL(route.request().url());
        if (url.host === server.url.host) {
          local.push(url.pathname);
          return route.continue();
        }
        external.push(url.href);
        return route.abort("blockedbyclient");
      });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(String(error)));
      await page.goto(new URL("docs/", server.url).href);
      // The document is rendered once its operations are on the page.
      await page.waitForSelector(".opblock", { timeout: 20_000 });
      await page.waitForLoadState("networkidle");
      const validatorBadges = await page.locator('img[src*="validator"]').count();
      assert.deepEqual(
        { external, errors, validatorBadges },
        { external: [], errors: [], validatorBadges: 0 },
      );
      assert.ok(local.includes("/openapi.json"), local.join(" "));
    } finally {
      await browser.close();
    }
  },
});
