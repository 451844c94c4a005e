/**
 * Measures the web console's page load in headless Chromium: time to interactive (the
 * catalogue rendered over a live pow.v2 connection) and the bytes sent, for several fresh
 * browser contexts (empty caches) against a running server, through the in-repo Chromium driver
 * (tests/_chromium.ts).
 *
 * ```sh
 * deno run -A main.ts &          # the demo config, anonymous
 * deno run -A tools/console_load.ts http://127.0.0.1:8028/console/ [runs]
 * ```
 *
 * @module
 */

import { chromium } from "../tests/_chromium.ts";

const url = Deno.args[0] ?? "http://127.0.0.1:8028/console/";
const runs = Number(Deno.args[1] ?? "8");
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
const results: Record<string, number>[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    await page.locator("#catalogue a").first().waitFor();
    results.push(
      await page.evaluate<Record<string, number>>(`(() => {
        const mark = (name) => Math.round(performance.getEntriesByName(name)[0].startTime);
        const nav = performance.getEntriesByType("navigation")[0];
        const resources = performance.getEntriesByType("resource");
        const js = resources.filter((e) => /\\.m?js(\\?|$)/.test(e.name));
        return {
          domContentLoaded: Math.round(nav.domContentLoadedEventEnd),
          ticket: mark("pow:ticket"),
          connected: mark("pow:connected"),
          interactive: mark("pow:interactive"),
          jsFiles: js.length,
          jsBytes: js.reduce((n, e) => n + e.encodedBodySize, 0),
          jsDecodedBytes: js.reduce((n, e) => n + e.decodedBodySize, 0),
          allBytes: resources.reduce((n, e) => n + e.encodedBodySize, 0) + nav.encodedBodySize,
        };
      })()`),
    );
    await context.close();
  }
} finally {
  await browser.close();
}
for (const result of results) console.log(JSON.stringify(result));
const sorted = results.map((r) => r.interactive).sort((a, b) => a - b);
console.log(
  `interactive: median ${sorted[Math.floor(sorted.length / 2)]} ms, min ${sorted[0]} ms, ` +
    `max ${sorted.at(-1)} ms over ${runs} fresh contexts`,
);
