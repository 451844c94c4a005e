// Copyright the pow authors. MIT license.
/**
 * The web console in headless Chromium (/usr/bin/chromium, driven over the DevTools protocol by
 * tests/_chromium.ts): sign in, start processes, a pty in xterm.js, signals, reload and replay, a
 * second browser that sees new sessions live, topics (subscribe, publish, a refusal), refused
 * params. Every request that does not go to the test server is aborted
 * and recorded, as is any WebSocket opened elsewhere; the test asserts there were none. Screenshots go to `$POW_CONSOLE_ARTIFACTS` (default: a temp directory,
 * printed).
 */

import assert from "node:assert/strict";
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
} from "../../../tests/_chromium.ts";
import { PowClient } from "../../../client/mod.ts";
import { defineCommand, hashToken } from "../../../mod.ts";
import { startServer, type TestServer } from "../../../tests/_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "console-test-token-1";
const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

interface Harness {
  server: TestServer;
  browser: Browser;
  blocked: string[];
  artifacts: string;
}

async function newContext(
  h: Harness,
  options: { colorScheme?: "light" | "dark"; viewport?: { width: number; height: number } } = {},
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await h.browser.newContext({
    viewport: options.viewport ?? { width: 1100, height: 760 },
    colorScheme: options.colorScheme ?? "light",
  });
  const origin = h.server.url.origin;
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    h.blocked.push(url);
    return route.abort("blockedbyclient");
  });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  // WebSockets are not routed: one to another origin is recorded as attempted.
  page.on("websocket", (socket) => {
    if (new URL(socket.url()).host !== h.server.url.host) h.blocked.push(socket.url());
  });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  return { context, page, errors };
}

async function signIn(h: Harness, page: Page): Promise<void> {
  await page.goto(new URL("console/", h.server.url).href);
  await page.locator("#token").waitFor();
  await page.fill("#token", TOKEN);
  await page.press("#token", "Enter");
  await page.locator("#status", { hasText: "connected" }).waitFor();
  await page.locator('#catalogue a[data-process="count"]').waitFor();
}

async function startFromForm(page: Page, name: string, values: string[]): Promise<string> {
  await page.click(`#catalogue a[data-process="${name}"]`);
  await page.locator(".start-form h1", { hasText: name }).waitFor();
  for (const [i, value] of values.entries()) await page.fill(`#param-${i}`, value);
  await page.click('.start-form button[type="submit"]');
  await page.waitForURL(/#\/session\/[A-Za-z0-9_-]+$/);
  return new URL(page.url()).hash.slice("#/session/".length);
}

/** Opens a session's URL (a new page or a hash change) and waits until its view shows. */
async function openSession(page: Page, id: string): Promise<void> {
  const url = new URL(page.url());
  url.hash = `#/session/${id}`;
  await page.goto(url.href);
  await page.locator("#view .meta", { hasText: `session ${id}` }).waitFor();
}

function output(page: Page) {
  return page.locator("#view .output");
}

async function terminalText(page: Page, session: string): Promise<string> {
  return await page.evaluate((id) => {
    // deno-lint-ignore no-explicit-any
    const view = (globalThis as any).powConsole.views.get(id);
    const buffer = view?.terminal?.buffer.active;
    if (!buffer) return "";
    const lines = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
    return lines.join("\n");
  }, session);
}

async function terminalSize(page: Page, session: string): Promise<{ cols: number; rows: number }> {
  return await page.evaluate((id) => {
    // deno-lint-ignore no-explicit-any
    const terminal = (globalThis as any).powConsole.views.get(id)?.terminal;
    return { cols: terminal?.cols ?? 0, rows: terminal?.rows ?? 0 };
  }, session);
}

async function waitFor(check: () => Promise<boolean>, what: string, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name: "the web console works in headless Chromium with nothing loaded from elsewhere",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const server = await startServer({
      configure(config) {
        config.auth.tokens = [{ name: "alice", hash: hashToken(TOKEN) }];
        // A value the page's pattern check lets through but the server refuses.
        config.sessions.maxParamLength = 4;
        // Output that outgrows what the server retains: a late viewer is told what it missed.
        config.processes.spew = defineCommand(["seq", "1", "20000"], {
          description: "Print 1..20000 (108894 bytes), retaining only 4 KiB",
          retention: 4096,
        });
      },
    });
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
    const artifacts = Deno.env.get("POW_CONSOLE_ARTIFACTS") ??
      await Deno.makeTempDir({ prefix: "pow-console-" });
    await Deno.mkdir(artifacts, { recursive: true });
    const h: Harness = { server, browser, blocked: [], artifacts };
    const shot = (page: Page, name: string) =>
      page.screenshot({ path: `${artifacts}/${name}.png` });
    try {
      const { page, errors } = await newContext(h);
      const requests: string[] = [];
      page.on("request", (request) => requests.push(request.url()));
      page.on("websocket", (socket) => requests.push(socket.url()));

      await t.step(
        "signing in exchanges the token for tickets; it never appears in a URL",
        async () => {
          await page.goto(new URL("console/", server.url).href);
          await page.locator("#sign-in-form").waitFor();
          assert.equal(await page.isVisible("#app"), false);
          await shot(page, "sign-in");
          await page.fill("#token", "wrong-token");
          await page.press("#token", "Enter");
          await page.locator("#sign-in-error", { hasText: "The token was refused" }).waitFor();
          await signIn(h, page);
          const stored = await page.evaluate(() => sessionStorage.getItem("pow.console.token"));
          assert.equal(stored, TOKEN);
          assert.equal(await page.evaluate(() => localStorage.length), 0);
          assert.match(
            await page.locator('#catalogue a[data-process="count"]').innerText(),
            /Print the numbers 1\.\.N/,
          );
          assert.ok(requests.every((url) => !url.includes(TOKEN)), requests.join("\n"));
        },
      );

      let countSession = "";
      await t.step("count 5 shows five lines and the exit", async () => {
        countSession = await startFromForm(page, "count", ["5"]);
        await page.locator("#view .result", { hasText: "exited with code 0" }).waitFor();
        assert.equal(await output(page).innerText(), "1\n2\n3\n4\n5\n");
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          page.locator("#view button", { hasText: "Download output" }).click(),
        ]);
        assert.equal(download.suggestedFilename(), `count-${countSession}.log`);
        assert.equal(await Deno.readTextFile((await download.path())!), "1\n2\n3\n4\n5\n");
        await shot(page, "session-count");
      });

      await t.step(
        "stdout and stderr are told apart, and a failure shows its exit code",
        async () => {
          await startFromForm(page, "greet", ["web"]);
          await page.locator("#view .result", { hasText: "exit status 3" }).waitFor();
          assert.equal(await page.locator("#view .output .stdout").innerText(), "hello web\n");
          assert.equal(await page.locator("#view .output .stderr").innerText(), "to stderr\n");
          assert.match(await page.locator("#view .result").innerText(), /exit code 3/);
        },
      );

      await t.step("stdin lines and end-of-input reach the process", async () => {
        await startFromForm(page, "wc", []);
        await page.locator("#view .badge", { hasText: "running" }).waitFor();
        await page.fill("#view .stdin input", "four");
        await page.press("#view .stdin input", "Enter");
        await page.locator("#view button", { hasText: "End input" }).click();
        await page.locator("#view .result", { hasText: "exited with code 0" }).waitFor();
        assert.equal((await output(page).innerText()).trim(), "5");
      });

      await t.step(
        "a param is checked before sending, and a server refusal shows at its field",
        async () => {
          await page.click('#catalogue a[data-process="count"]');
          await page.fill("#param-0", "abc");
          await page.click('.start-form button[type="submit"]');
          assert.equal(await page.locator("#param-0-error").innerText(), "must match /[0-9]{1,7}/");
          assert.equal(await page.getAttribute("#param-0", "aria-invalid"), "true");
          assert.match(page.url(), /#\/start\/count$/);
          await page.fill("#param-0", "12345");
          await page.click('.start-form button[type="submit"]');
          await page.locator("#param-0-error", { hasText: "too long" }).waitFor();
          assert.equal(
            await page.locator("#param-0-error").innerText(),
            'Cannot start process "count": parameter 1 ("n") is too long: 5 characters, at most 4 allowed',
          );
          await shot(page, "refused-param");
        },
      );

      await t.step("a pty process runs in xterm.js: typing, echo, resize, Ctrl-C", async () => {
        const id = await startFromForm(page, "terminal", []);
        // The process starts at 80x24; the terminal fits the page and tells the pty, which the
        // process reports (as its first size, or as a resize, depending on which came first).
        await waitFor(async () => {
          const { cols, rows } = await terminalSize(page, id);
          return cols > 0 && new RegExp(`(terminal size|resized to) ${rows} ${cols} `)
            .test(await terminalText(page, id));
        }, "the fitted size to reach the process");
        const first = await terminalSize(page, id);
        assert.notDeepEqual(first, { cols: 80, rows: 24 });
        await page.keyboard.type("hello pty");
        await page.keyboard.press("Enter");
        await waitFor(
          async () => (await terminalText(page, id)).includes("you typed hello pty"),
          "the echo",
        );
        // The typed line itself comes back from the terminal's echo.
        assert.match(await terminalText(page, id), /^hello pty$/m);
        const colours = await page.evaluate<number>(
          `document.querySelectorAll(".xterm-rows [class*='xterm-fg-']").length`,
        );
        assert.ok(colours > 0, "ANSI colours are rendered");
        await shot(page, "terminal");
        await page.setViewportSize({ width: 800, height: 560 });
        await waitFor(async () => {
          const size = await terminalSize(page, id);
          return size.cols !== first.cols &&
            (await terminalText(page, id)).includes(`resized to ${size.rows} ${size.cols} `);
        }, "the new size to reach the process");
        await page.keyboard.press("Control+C");
        await page.locator("#view .result", { hasText: "SIGINT" }).waitFor();
        await page.setViewportSize({ width: 1100, height: 760 });
      });

      await t.step("cancel ends a running process", async () => {
        await startFromForm(page, "sleep", ["30"]);
        await page.locator("#view .badge", { hasText: "running" }).waitFor();
        await page.click('#view button[data-signal="cancel"]');
        await page.locator("#view .result", { hasText: "cancelled" }).waitFor();
      });

      await t.step("endless output stays within the page's limits", async () => {
        await page.evaluate(
          `Object.assign(powConsole.limits, { shown: 20000, lines: 1000, kept: 100000 })`,
        );
        await startFromForm(page, "yes", ["y"]);
        const notices = page.locator("#view .notices");
        await notices.filter({ hasText: "Older output was removed from this page" }).waitFor();
        await notices.filter({ hasText: "Download output keeps the last 100000 bytes" }).waitFor();
        await page.click('#view button[data-signal="cancel"]');
        await page.locator("#view .result", { hasText: "cancelled" }).waitFor();
        const shown = await output(page).innerText();
        assert.ok(shown.split("\n").length - 1 <= 1000, `${shown.length} characters on the page`);
        assert.match(shown, /^(y\n)+$/);
        await page.evaluate(
          `Object.assign(powConsole.limits, { shown: 1e6, lines: 5000, kept: 32 << 20 })`,
        );
      });

      await t.step("a reload replays the same session from the server", async () => {
        await openSession(page, countSession);
        await page.reload();
        await page.locator("#view .result", { hasText: "exited with code 0" }).waitFor();
        assert.equal(await output(page).innerText(), "1\n2\n3\n4\n5\n");
        assert.ok(page.url().endsWith(`#/session/${countSession}`));
        assert.match(await page.locator("#view .meta").innerText(), /viewing/);
      });

      await t.step(
        "a dropped connection reconnects and reattaches: no byte lost or doubled",
        async () => {
          const id = await startFromForm(page, "ticker", ["30", "60"]);
          await output(page).filter({ hasText: "tick 5" }).waitFor();
          await page.evaluate(`powConsole.socket.close(4000, "dropped by the test")`);
          await page.locator("#view .notices li", { hasText: "Connection lost at byte" }).waitFor();
          await page.locator("#view .notices li", {
            hasText: "Reconnected and reattached from byte",
          })
            .waitFor();
          assert.match(
            await page.locator("#view .notices").innerText(),
            /Reconnected and reattached from byte \d+: no bytes skipped/,
          );
          await page.locator("#view .result", { hasText: "result 30" }).waitFor();
          const expected = Array.from({ length: 30 }, (_, i) => `tick ${i + 1}`).join("\n");
          assert.equal((await output(page).innerText()).trim(), expected);
          assert.ok(page.url().endsWith(`#/session/${id}`));
          await page.locator("#status", { hasText: "connected" }).waitFor();
        },
      );

      await t.step(
        "a shared session URL shows what is retained and says what was skipped",
        async () => {
          // Another client of the same identity runs it with a small window, so the server may
          // drop what that client confirmed beyond the 4 KiB retention.
          let id = "";
          {
            await using other = new PowClient(server.wsUrl, { token: TOKEN });
            const proc = other.start("spew", [], { credit: 4096 });
            assert.equal((await proc.output()).stdout.length, 108894);
            id = proc.session!;
          }
          await openSession(page, id);
          await page.locator("#view .result", { hasText: "exited with code 0" }).waitFor();
          const notice = await page.locator("#view .notices li.warn").innerText();
          const skipped = Number(/^(\d+) bytes of output were skipped/.exec(notice)?.[1]);
          assert.ok(skipped > 0 && skipped < 108894, notice);
          assert.match(notice, new RegExp(`output resumes at byte ${skipped}\\)$`));
          // The page keeps the last 5000 lines; the download has every byte received.
          assert.ok((await output(page).innerText()).endsWith("\n19999\n20000\n"));
          const [download] = await Promise.all([
            page.waitForEvent("download"),
            page.locator("#view button", { hasText: "Download output" }).click(),
          ]);
          const replayed = await Deno.readTextFile((await download.path())!);
          assert.equal(replayed.length, 108894 - skipped);
          assert.ok(replayed.endsWith("\n19999\n20000\n"));
          await shot(page, "skipped");
        },
      );

      await t.step(
        "the session list follows the server's watch and resumes after a drop",
        async () => {
          await page.locator("#sessions-live", { hasText: "live" }).waitFor();
          assert.equal(await page.locator("#refresh").count(), 0, "no refresh button: it is live");
          await page.evaluate(`globalThis.notReloaded = true`);
          const rail = await page.evaluate<string>(`powConsole.sessionsRail.id`);
          const resumed = await page.evaluate<number>(`powConsole.resumed`);
          await page.evaluate(`powConsole.sessionsRail.wsConn.close(4000, "dropped by the test")`);
          // Meanwhile another client (same identity) runs a session: the resumed watch reports it.
          let id = "";
          {
            await using other = new PowClient(server.wsUrl, { token: TOKEN });
            const proc = other.start("count", ["2"]);
            await proc.output();
            id = proc.session!;
          }
          const row = page.locator(`#sessions tr[data-session="${id}"]`);
          await row.filter({ hasText: "fulfilled" }).waitFor();
          assert.match(await row.innerText(), /count\s+2\s+fulfilled\s+alice/);
          await waitFor(
            async () => (await page.evaluate<number>(`powConsole.resumed`)) > resumed,
            "the watch to resume",
          );
          assert.equal(await page.evaluate<string>(`powConsole.sessionsRail.id`), rail);
          await page.locator("#sessions-live", { hasText: "live" }).waitFor();
          assert.equal(await page.evaluate(`globalThis.notReloaded`), true);
        },
      );

      await t.step("a second browser sees a new session appear live and watches it", async () => {
        const second = await newContext(h, { colorScheme: "dark" });
        await signIn(h, second.page);
        await second.page.locator("#sessions-live", { hasText: "live" }).waitFor();
        await second.page.evaluate(`globalThis.notReloaded = true`);
        const ticker = await startFromForm(page, "ticker", ["40", "100"]);
        // No reload, no click: the row arrives over /events/sessions.
        const row = second.page.locator(`#sessions tr[data-session="${ticker}"]`);
        await row.waitFor();
        assert.equal(await second.page.evaluate(`globalThis.notReloaded`), true);
        await row.click();
        await second.page.locator("#view .output", { hasText: "tick 3" }).waitFor();
        assert.match(await second.page.locator("#view .meta").innerText(), /viewing/);
        assert.match(await row.innerText(), /ticker\s+40 100\s+running\s+alice\s+\d+s/);
        // Both follow the same session to its end.
        await second.page.locator("#view .result", { hasText: "result 40" })
          .waitFor({ timeout: 15_000 });
        await page.locator("#view .result", { hasText: "result 40" }).waitFor();
        const lines = (await second.page.locator("#view .output").innerText()).trim().split("\n");
        assert.equal(lines.length, 40);
        const background = await second.page.evaluate<string>(
          "getComputedStyle(document.body).backgroundColor",
        );
        assert.equal(background, "rgb(22, 24, 26)", "dark colours with prefers-color-scheme");
        await shot(second.page, "second-browser-dark");
        assert.deepEqual(second.errors, []);
        await second.context.close();
      });

      await t.step(
        "topics: subscribe, see messages live, publish, a refusal shows its message",
        async () => {
          // Subscribing with the keyboard: type a name, Enter.
          await page.fill("#topic-name", "news");
          await page.press("#topic-name", "Enter");
          await page.waitForURL(/#\/topic\/news$/);
          await page.locator("#view .topic .live", { hasText: "live" }).waitFor();
          const messages = page.locator("#view .topic .messages li");
          const before = await messages.count();

          // A publisher elsewhere (REST, the token as a Bearer header): the message arrives live.
          const posted = await fetch(new URL("wubsub/topics/news", server.url), {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}` },
            body: '{"headline":"from the test"}',
          });
          assert.equal(posted.status, 200);
          await posted.body?.cancel();
          await messages.filter({ hasText: '{"headline":"from the test"}' }).waitFor();

          // A second browser subscribes too and publishes from its form; both see it.
          const second = await newContext(h);
          await signIn(h, second.page);
          await second.page.fill("#topic-name", "news");
          await second.page.press("#topic-name", "Enter");
          await second.page.locator("#view .topic .live", { hasText: "live" }).waitFor();
          await second.page.locator("#view .topic .messages li", {
            hasText: '{"headline":"from the test"}',
          }).waitFor();
          await second.page.fill("#publish-data", '{"n": 2}');
          await second.page.press("#publish-data", "Control+Enter");
          await second.page.locator("#view .topic [role=status]", { hasText: "Published as event" })
            .waitFor();
          await messages.filter({ hasText: '{"n":2}' }).waitFor();
          await second.page.locator("#view .topic .messages li", { hasText: '{"n":2}' }).waitFor();
          assert.equal(await messages.count(), before + 2);
          assert.equal(await page.evaluate(`globalThis.notReloaded`), true);
          await shot(page, "topic");

          // Not JSON: the server's 400 message.
          await second.page.fill("#publish-data", "{");
          await second.page.click('#view .topic button[type="submit"]');
          await second.page.locator("#view .topic .error", { hasText: "Invalid body" }).waitFor();
          assert.equal(
            await second.page.locator("#view .topic .error").innerText(),
            "Invalid body: not valid JSON",
          );
          assert.deepEqual(second.errors, []);
          await second.context.close();

          // A wubsub client registers channel "weather": only it may publish to weather.today.
          const { ticket } = await (await fetch(new URL("tickets", server.url), {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}` },
          })).json();
          const owner = new WebSocket(new URL(`wubsub?ticket=${ticket}`, server.wsUrl));
          const replies: { type: string; data: string }[] = [];
          owner.onmessage = (event) => replies.push(JSON.parse(event.data));
          await new Promise((resolve, reject) => {
            owner.onopen = resolve;
            owner.onerror = reject;
          });
          owner.send(JSON.stringify({
            type: "register",
            channel: "weather",
            data: { name: "weather", pubsub: { topics: ["today"] }, restpie: { methods: [] } },
          }));
          // Messages are handled in order: the answer to an unknown type means it is registered.
          owner.send(JSON.stringify({ type: "barrier" }));
          await waitFor(() => Promise.resolve(replies.length > 0), "the registration");
          assert.match(replies[0].data, /^Unknown message type "barrier"/);
          await page.fill("#topic-name", "weather.today");
          await page.press("#topic-name", "Enter");
          await page.locator("#view .topic h1", { hasText: "weather.today" }).waitFor();
          await page.click('#view .topic button[type="submit"]');
          await page.locator("#view .topic .error", { hasText: "Cannot publish" }).waitFor();
          assert.equal(
            await page.locator("#view .topic .error").innerText(),
            'Cannot publish to "weather.today": channel "weather" belongs to a wubsub client, which is its only publisher',
          );
          await shot(page, "topic-refused");
          // The sidebar lists both subscriptions; Unsubscribe ends one.
          const subscribed = () =>
            page.evaluate<string[]>(
              `[...document.querySelectorAll("#topics a")].map((a) => a.textContent)`,
            );
          assert.deepEqual(await subscribed(), ["news", "weather.today"]);
          await page.locator("#view .topic button", { hasText: "Unsubscribe" }).click();
          await page.waitForURL(/#\/$/);
          assert.deepEqual(await subscribed(), ["news"]);
          const closed = new Promise((resolve) => owner.onclose = resolve);
          owner.close();
          await closed;
        },
      );

      await t.step("a narrow window has no horizontal scrolling", async () => {
        await page.setViewportSize({ width: 380, height: 800 });
        await openSession(page, countSession);
        await page.locator("#view .result").waitFor();
        const overflow = await page.evaluate<number>(
          "document.documentElement.scrollWidth - document.documentElement.clientWidth",
        );
        assert.equal(overflow, 0);
        await shot(page, "narrow");
      });

      assert.deepEqual(errors, []);
      assert.deepEqual(h.blocked, [], "no request left the test server");
      console.log(`screenshots: ${artifacts}`);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

interface Measurement {
  /** Milliseconds since navigation start. */
  marks: Record<string, number>;
  /** Encoded (on the wire) bytes of each script. */
  js: number[];
  /** Encoded bytes of everything loaded. */
  all: number;
}

async function measure(page: Page): Promise<Measurement> {
  return await page.evaluate<Measurement>(`(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const mark = (name) => Math.round(performance.getEntriesByName(name)[0]?.startTime ?? -1);
    const resources = performance.getEntriesByType("resource");
    return {
      marks: {
        domContentLoaded: Math.round(nav.domContentLoadedEventEnd),
        boot: mark("pow:boot"),
        ticket: mark("pow:ticket"),
        connected: mark("pow:connected"),
        interactive: mark("pow:interactive"),
      },
      js: resources.filter((e) => /\\.m?js(\\?|$)/.test(e.name)).map((e) => e.encodedBodySize),
      all: resources.reduce((n, e) => n + e.encodedBodySize, 0) + nav.encodedBodySize,
    };
  })()`);
}

Deno.test({
  name: "the web console on an anonymous server: no sign-in, load time and bytes measured",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    const h: Harness = { server, browser, blocked: [], artifacts: "" };
    try {
      const { page, errors } = await newContext(h);
      await page.goto(new URL("console/", server.url).href);
      await page.locator('#catalogue a[data-process="count"]').waitFor();
      assert.equal(await page.isVisible("#sign-in"), false);
      assert.equal(await page.isVisible("#sign-in-link"), true, "signing in stays possible");
      assert.equal(await page.locator("#status").innerText(), "connected");
      const first = await measure(page);
      // A warm browser, a fresh context (empty cache): what a user opening the page gets.
      const warm = await newContext(h);
      await warm.page.goto(new URL("console/", server.url).href);
      await warm.page.locator('#catalogue a[data-process="count"]').waitFor();
      const measured = await measure(warm.page);
      await warm.context.close();
      // A pty session loads xterm.js on demand.
      await page.click('#catalogue a[data-process="terminal"]');
      await page.click('.start-form button[type="submit"]');
      await page.locator(".xterm-rows").waitFor();
      const withTerminal = await page.evaluate<number>(`performance.getEntriesByType("resource")
        .filter((e) => /\\.(m?js)(\\?|$)/.test(e.name))
        .reduce((n, e) => n + e.encodedBodySize, 0)`);
      // A ^C written to the pty before the shell holds it as its controlling terminal raises no
      // signal (the line discipline drops it), so it is sent once the shell has printed its size.
      await page.waitForURL(/#\/session\/[A-Za-z0-9_-]+$/);
      const id = new URL(page.url()).hash.slice("#/session/".length);
      await waitFor(
        async () => (await terminalText(page, id)).includes("terminal size"),
        "the shell to start",
      );
      await page.keyboard.press("Control+C");
      await page.locator("#view .result", { hasText: "SIGINT" }).waitFor();
      const js = measured.js.reduce((a, b) => a + b, 0);
      console.log(
        `console load: first page in a new browser: ${JSON.stringify(first.marks)}; ` +
          `fresh context: ${JSON.stringify(measured.marks)} (ms since navigation start); ` +
          `JavaScript ${js} bytes (gzip) in ${measured.js.length} files, ${measured.all} bytes ` +
          `in all; with a terminal open: ${withTerminal} bytes of JavaScript`,
      );
      assert.equal(measured.js.length, 2, "the page script and the client bundle, no more");
      assert.ok(js < 30_000, `JavaScript before a terminal is needed: ${js} bytes`);
      assert.ok(
        measured.marks.interactive < 3000,
        `interactive after ${measured.marks.interactive} ms`,
      );
      // The server's root sends a browser to the console.
      await page.goto(server.url.href);
      assert.equal(page.url(), new URL("console/", server.url).href);
      await page.locator('#catalogue a[data-process="count"]').waitFor();
      assert.deepEqual(errors, []);
      assert.deepEqual(h.blocked, []);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
