/**
 * A small headless-Chromium driver over the DevTools protocol, with the part of Playwright's API
 * the browser tests use (`chromium.launch`, `newPage`, `goto`, `waitForFunction`,
 * `waitForSelector`, `textContent`, `evaluate`, `route`, `waitForLoadState`, `locator().count()`,
 * `pageerror` and `console` events). It needs nothing but Deno's WebSocket, so no test-only npm
 * package ends up in the lockfile, in `node_modules` or in what `deno run main.ts` installs.
 *
 * @module
 */

/** Options for {@linkcode chromium.launch}. */
export interface LaunchOptions {
  /** The Chromium executable. */
  executablePath: string;
  /** Extra command-line flags. */
  args?: string[];
}

/** A console message. */
export interface ConsoleMessage {
  /** The message's text. */
  text(): string;
}

/** A page (tab). */
export interface Page {
  /**
   * Listens for uncaught errors (`pageerror`) or console messages (`console`).
   *
   * @param event The event.
   * @param listener Called with the error or the message.
   */
  on(event: "pageerror", listener: (error: Error) => void): void;
  on(event: "console", listener: (message: ConsoleMessage) => void): void;
  /**
   * Loads a URL and waits for its load event.
   *
   * @param url The URL.
   */
  goto(url: string): Promise<void>;
  /**
   * Evaluates a function in the page and returns its (JSON) value.
   *
   * @param fn The function; it is serialized, so it cannot close over anything.
   */
  evaluate<T>(fn: () => T | Promise<T>): Promise<T>;
  /**
   * Waits until a function evaluated in the page returns a truthy value.
   *
   * @param fn The function.
   * @param arg Unused (Playwright compatibility).
   * @param options How long to wait. @default {{ timeout: 30000 }}
   */
  waitForFunction(fn: () => unknown, arg?: unknown, options?: { timeout?: number }): Promise<void>;
  /**
   * Waits until an element matches a CSS selector.
   *
   * @param selector The selector.
   * @param options How long to wait. @default {{ timeout: 30000 }}
   */
  waitForSelector(selector: string, options?: { timeout?: number }): Promise<void>;
  /**
   * The text content of the first element matching a CSS selector.
   *
   * @param selector The selector.
   * @returns Its text, or `null` when nothing matches.
   */
  textContent(selector: string): Promise<string | null>;
  /**
   * Intercepts every request of the page: the handler continues or aborts each one.
   *
   * @param pattern Only `"**\/*"` (everything) is supported.
   * @param handler Decides about each request.
   */
  route(pattern: "**/*", handler: (route: Route) => void | Promise<void>): Promise<void>;
  /**
   * Waits until no request of the page has started for 500 ms (with {@linkcode Page.route}).
   *
   * @param state Only `"networkidle"`.
   */
  waitForLoadState(state: "networkidle"): Promise<void>;
  /**
   * The elements matching a CSS selector.
   *
   * @param selector The selector.
   * @returns Something that counts them.
   */
  locator(selector: string): { count(): Promise<number> };
}

/** A request stopped by {@linkcode Page.route}. */
export interface Route {
  /** The request. */
  request(): { url(): string };
  /** Lets it through. */
  continue(): Promise<void>;
  /**
   * Fails it.
   *
   * @param reason Ignored: the request fails as blocked by the client.
   */
  abort(reason?: string): Promise<void>;
}

/** A running browser. */
export interface Browser {
  /** Opens a new page. */
  newPage(): Promise<Page>;
  /** Closes the browser and waits until its process has ended. */
  close(): Promise<void>;
}

type Listener = (params: Record<string, unknown>, sessionId?: string) => void;

class Connection {
  #socket: WebSocket;
  #next = 1;
  #pending = new Map<number, PromiseWithResolvers<Record<string, unknown>>>();
  #listeners = new Map<string, Set<Listener>>();
  readonly closed: Promise<void>;

  constructor(socket: WebSocket) {
    this.#socket = socket;
    const closed = Promise.withResolvers<void>();
    this.closed = closed.promise;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data as string);
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(message.error.message));
        else pending?.resolve(message.result);
      } else {
        for (const listener of this.#listeners.get(message.method) ?? []) {
          listener(message.params, message.sessionId);
        }
      }
    };
    socket.onclose = () => {
      for (const pending of this.#pending.values()) pending.reject(new Error("browser closed"));
      this.#pending.clear();
      closed.resolve();
    };
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const pending = Promise.withResolvers<Record<string, unknown>>();
    this.#pending.set(id, pending);
    this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    return pending.promise;
  }

  on(method: string, listener: Listener): () => void {
    let set = this.#listeners.get(method);
    if (!set) this.#listeners.set(method, set = new Set());
    set.add(listener);
    return () => set.delete(listener);
  }

  close(): void {
    this.#socket.close();
  }
}

async function evaluateIn<T>(connection: Connection, sessionId: string, source: string) {
  const reply = await connection.send("Runtime.evaluate", {
    expression: `(${source})()`,
    returnByValue: true,
    awaitPromise: true,
  }, sessionId) as {
    result: { value?: T };
    exceptionDetails?: { text: string; exception?: { description?: string } };
  };
  if (reply.exceptionDetails) {
    const details = reply.exceptionDetails;
    throw new Error(details.exception?.description ?? details.text);
  }
  return reply.result.value as T;
}

function newPage(connection: Connection, sessionId: string): Page {
  let lastRequest = Date.now();
  return {
    async route(_pattern, handler) {
      connection.on("Fetch.requestPaused", (params, session) => {
        if (session !== sessionId) return;
        lastRequest = Date.now();
        const requestId = params.requestId as string;
        const url = (params.request as { url: string }).url;
        void handler({
          request: () => ({ url: () => url }),
          continue: async () => {
            await connection.send("Fetch.continueRequest", { requestId }, sessionId);
          },
          abort: async () => {
            await connection.send(
              "Fetch.failRequest",
              { requestId, errorReason: "BlockedByClient" },
              sessionId,
            );
          },
        });
      });
      await connection.send("Fetch.enable", { patterns: [{ urlPattern: "*" }] }, sessionId);
    },
    async waitForLoadState() {
      while (Date.now() - lastRequest < 500) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    locator(selector) {
      return {
        count: () =>
          evaluateIn<number>(
            connection,
            sessionId,
            `() => document.querySelectorAll(${JSON.stringify(selector)}).length`,
          ),
      };
    },
    on(event: "pageerror" | "console", listener: (value: never) => void): void {
      if (event === "pageerror") {
        connection.on("Runtime.exceptionThrown", (params, session) => {
          if (session !== sessionId) return;
          const details = params.exceptionDetails as {
            text: string;
            exception?: { description?: string };
          };
          (listener as (error: Error) => void)(
            new Error(details.exception?.description ?? details.text),
          );
        });
      } else {
        connection.on("Runtime.consoleAPICalled", (params, session) => {
          if (session !== sessionId) return;
          const args = params.args as { value?: unknown; description?: string }[];
          const text = args.map((a) => a.value !== undefined ? String(a.value) : a.description)
            .join(" ");
          (listener as (message: ConsoleMessage) => void)({ text: () => text });
        });
      }
    },
    async goto(url) {
      const loaded = Promise.withResolvers<void>();
      const off = connection.on("Page.loadEventFired", (_, session) => {
        if (session === sessionId) loaded.resolve();
      });
      try {
        const reply = await connection.send("Page.navigate", { url }, sessionId);
        if (reply.errorText) throw new Error(`Cannot load ${url}: ${reply.errorText}`);
        await loaded.promise;
      } finally {
        off();
      }
    },
    evaluate<T>(fn: () => T | Promise<T>): Promise<T> {
      return evaluateIn<T>(connection, sessionId, fn.toString());
    },
    waitForFunction(fn, _arg, options = {}) {
      return waitFor(fn.toString(), options.timeout);
    },
    waitForSelector(selector, options = {}) {
      return waitFor(
        `() => document.querySelector(${JSON.stringify(selector)}) !== null`,
        options.timeout,
      );
    },
    textContent(selector) {
      return evaluateIn<string | null>(
        connection,
        sessionId,
        `() => document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`,
      );
    },
  };

  async function waitFor(source: string, timeout = 30_000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!(await evaluateIn(connection, sessionId, source))) {
      if (Date.now() > deadline) {
        throw new Error(`Timeout ${timeout}ms exceeded waiting for ${source}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Launches headless Chromium. */
export const chromium = {
  /**
   * Starts Chromium with remote debugging on a free port and connects to it.
   *
   * @param options The executable and its flags.
   * @returns The browser.
   */
  async launch(options: LaunchOptions): Promise<Browser> {
    const profile = await Deno.makeTempDir({ prefix: "pow-chromium-" });
    const child = new Deno.Command(options.executablePath, {
      args: [
        ...(options.args ?? ["--headless"]),
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const status = child.status;
    // Chromium announces its DevTools endpoint on stderr; the rest of stderr is drained.
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let endpoint: string | undefined;
    while (!endpoint) {
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
      endpoint = /DevTools listening on (ws:\/\/\S+)/.exec(text)?.[1];
    }
    const drained = (async () => {
      while (!(await lines.read()).done) { /* discard */ }
    })();
    const cleanup = async () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await status;
      await drained;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    };
    if (!endpoint) {
      await cleanup();
      throw new Error(`Chromium did not start: ${text}`);
    }
    const socket = new WebSocket(endpoint);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`Cannot connect to ${endpoint}`));
    }).catch(async (error) => {
      await cleanup();
      throw error;
    });
    const connection = new Connection(socket);
    return {
      async newPage() {
        const { targetId } = await connection.send("Target.createTarget", { url: "about:blank" });
        const { sessionId } = await connection.send("Target.attachToTarget", {
          targetId,
          flatten: true,
        }) as { sessionId: string };
        await connection.send("Runtime.enable", {}, sessionId);
        await connection.send("Page.enable", {}, sessionId);
        return newPage(connection, sessionId);
      },
      async close() {
        await connection.send("Browser.close").catch(() => {});
        connection.close();
        await connection.closed;
        await cleanup();
      },
    };
  },
};
