/**
 * A small headless-Chromium driver over the DevTools protocol, with the part of Playwright's API
 * the browser tests use. It needs nothing but Deno's WebSocket, so no test-only npm package ends
 * up in the lockfile, in `node_modules` or in what `deno run main.ts` installs.
 *
 * - `chromium.launch`, `browser.newPage`, `browser.newContext({ viewport, colorScheme })` (an
 *   isolated browser context: its own cookies, storage, cache and downloads), `context.route`,
 *   `context.setDefaultTimeout`, `context.close`;
 * - `page.goto` (a change of the fragment only is a same-document navigation, as in Playwright),
 *   `reload`, `url`, `waitForURL`, `evaluate` (a function with one argument, or an expression),
 *   `waitForFunction`, `waitForSelector`, `textContent`, `isVisible`, `getAttribute`, `route`,
 *   `waitForLoadState("networkidle")`, `setViewportSize`, `screenshot({ path })`,
 *   `waitForEvent("download")`, and the events `pageerror`, `console`, `request`, `websocket`;
 * - `page.click`, `page.fill`, `page.press` and locators (`locator(selector, { hasText })`,
 *   `filter`, `first`, `count`, `waitFor`, `innerText`, `click`), which wait for their element
 *   as Playwright's do and are strict (more than one match is an error);
 * - `page.keyboard.type` and `press` (`"Enter"`, `"Control+C"`, …) as real key events.
 *
 * Selectors are CSS only; `hasText` matches a case-insensitive substring of the element's text
 * with whitespace collapsed, as Playwright's does. Clicks are real mouse events at the element's
 * centre, once it is visible, enabled, not moving and not covered by another element.
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

/** Options for {@linkcode Browser.newContext}. */
export interface ContextOptions {
  /** The viewport of its pages, in CSS pixels. @default {the window's size} */
  viewport?: { width: number; height: number };
  /** What `prefers-color-scheme` matches in its pages. @default {"light"} */
  colorScheme?: "light" | "dark";
}

/** A console message. */
export interface ConsoleMessage {
  /** The message's text. */
  text(): string;
}

/** A request a page makes (`request` event), or a WebSocket it opens (`websocket` event). */
export interface Request {
  /** Its URL. */
  url(): string;
}

/** A file a page downloaded. */
export interface Download {
  /** The name the page gave it. */
  suggestedFilename(): string;
  /** Waits until it is complete. @returns The downloaded file's path. */
  path(): Promise<string>;
}

/** How long to wait. */
export interface TimeoutOptions {
  /** Milliseconds. @default {the context's default: 30000 unless set} */
  timeout?: number;
}

/** Elements matching a CSS selector (and texts), found anew each time it is used. */
export interface Locator {
  /**
   * Narrows to the elements that also contain a text.
   *
   * @param options The text.
   */
  filter(options: { hasText: string }): Locator;
  /** Narrows to the first match. */
  first(): Locator;
  /** How many elements match now. */
  count(): Promise<number>;
  /**
   * Waits until the element is visible.
   *
   * @param options How long to wait.
   */
  waitFor(options?: TimeoutOptions): Promise<void>;
  /**
   * Waits for the element and returns its `innerText`.
   *
   * @param options How long to wait.
   */
  innerText(options?: TimeoutOptions): Promise<string>;
  /**
   * Waits until the element can be clicked, then clicks its centre with the mouse.
   *
   * @param options How long to wait.
   */
  click(options?: TimeoutOptions): Promise<void>;
}

/** The keyboard of a page: key events go to its focused element. */
export interface Keyboard {
  /**
   * Types text key by key; characters without a key on a US keyboard are inserted as text.
   *
   * @param text The text.
   */
  type(text: string): Promise<void>;
  /**
   * Presses and releases a key, with modifiers: `"Enter"`, `"a"`, `"Control+C"`.
   *
   * @param key The key.
   */
  press(key: string): Promise<void>;
}

/** A page (tab). */
export interface Page {
  /**
   * Listens for uncaught errors (`pageerror`), console messages (`console`), the page's requests
   * (`request`) or the WebSockets it opens (`websocket`).
   *
   * @param event The event.
   * @param listener Called with the error, the message or the request.
   */
  on(event: "pageerror", listener: (error: Error) => void): void;
  on(event: "console", listener: (message: ConsoleMessage) => void): void;
  on(event: "request" | "websocket", listener: (request: Request) => void): void;
  /** The keyboard. */
  readonly keyboard: Keyboard;
  /**
   * Loads a URL and waits for its load event; a URL that differs only in its fragment is a
   * same-document navigation, which has none.
   *
   * @param url The URL.
   */
  goto(url: string): Promise<void>;
  /** Reloads the page and waits for its load event. */
  reload(): Promise<void>;
  /** The page's URL, as of its last navigation (fragment included). */
  url(): string;
  /**
   * Waits until the page's URL matches.
   *
   * @param pattern What it must match.
   * @param options How long to wait.
   */
  waitForURL(pattern: RegExp, options?: TimeoutOptions): Promise<void>;
  /**
   * Evaluates an expression, or a function with one argument, in the page and returns its (JSON)
   * value.
   *
   * @param fn The expression, or the function: it is serialized, so it cannot close over anything.
   * @param arg The function's argument (JSON).
   */
  evaluate<T>(fn: string | (() => T | Promise<T>)): Promise<T>;
  evaluate<T, A>(fn: (arg: A) => T | Promise<T>, arg: A): Promise<T>;
  /**
   * Waits until a function evaluated in the page returns a truthy value.
   *
   * @param fn The function.
   * @param arg Unused (Playwright compatibility).
   * @param options How long to wait.
   */
  waitForFunction(fn: () => unknown, arg?: unknown, options?: TimeoutOptions): Promise<void>;
  /**
   * Waits until an element matches a CSS selector.
   *
   * @param selector The selector.
   * @param options How long to wait.
   */
  waitForSelector(selector: string, options?: TimeoutOptions): Promise<void>;
  /**
   * The text content of the first element matching a CSS selector.
   *
   * @param selector The selector.
   * @returns Its text, or `null` when nothing matches.
   */
  textContent(selector: string): Promise<string | null>;
  /**
   * Whether the element matching a selector is visible now (no waiting).
   *
   * @param selector The selector.
   */
  isVisible(selector: string): Promise<boolean>;
  /**
   * Waits for the element matching a selector and returns one of its attributes.
   *
   * @param selector The selector.
   * @param name The attribute.
   * @returns Its value, or `null` when it has none.
   */
  getAttribute(selector: string, name: string): Promise<string | null>;
  /**
   * Clicks the element matching a selector ({@linkcode Locator.click}).
   *
   * @param selector The selector.
   */
  click(selector: string, options?: TimeoutOptions): Promise<void>;
  /**
   * Waits for an editable element, focuses it, and replaces its value by typing a text into it
   * as one insertion (`input` events as from a keyboard).
   *
   * @param selector The selector.
   * @param value The new value.
   */
  fill(selector: string, value: string, options?: TimeoutOptions): Promise<void>;
  /**
   * Focuses the element matching a selector and presses a key ({@linkcode Keyboard.press}).
   *
   * @param selector The selector.
   * @param key The key.
   */
  press(selector: string, key: string, options?: TimeoutOptions): Promise<void>;
  /**
   * The elements matching a CSS selector and, optionally, containing a text.
   *
   * @param selector The selector.
   * @param options The text.
   */
  locator(selector: string, options?: { hasText?: string }): Locator;
  /**
   * Intercepts every request of the page: the handler continues or aborts each one.
   *
   * @param pattern Only `"**\/*"` (everything) is supported.
   * @param handler Decides about each request.
   */
  route(pattern: "**/*", handler: RouteHandler): Promise<void>;
  /**
   * Waits until no request of the page has started for 500 ms (with {@linkcode Page.route}).
   *
   * @param state Only `"networkidle"`.
   */
  waitForLoadState(state: "networkidle"): Promise<void>;
  /**
   * Resizes the viewport (the page sees a `resize`).
   *
   * @param size In CSS pixels.
   */
  setViewportSize(size: { width: number; height: number }): Promise<void>;
  /**
   * Saves what the viewport shows as a PNG file.
   *
   * @param options Where.
   */
  screenshot(options: { path: string }): Promise<void>;
  /**
   * Waits for the page's next download to begin.
   *
   * @param event Only `"download"`.
   * @param options How long to wait.
   */
  waitForEvent(event: "download", options?: TimeoutOptions): Promise<Download>;
}

/** A request stopped by {@linkcode Page.route} or {@linkcode BrowserContext.route}. */
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

/** Decides about one intercepted request. */
export type RouteHandler = (route: Route) => void | Promise<void>;

/** An isolated browser context (like a fresh browser profile) and its pages. */
export interface BrowserContext {
  /** Opens a new page in it. */
  newPage(): Promise<Page>;
  /**
   * Intercepts every request of its pages, those open and those to come.
   *
   * @param pattern Only `"**\/*"` (everything) is supported.
   * @param handler Decides about each request.
   */
  route(pattern: "**/*", handler: RouteHandler): Promise<void>;
  /**
   * Sets how long its pages' waits and actions wait by default.
   *
   * @param timeout Milliseconds.
   */
  setDefaultTimeout(timeout: number): void;
  /** Closes its pages and discards it. */
  close(): Promise<void>;
}

/** A running browser. */
export interface Browser {
  /** Opens a new page in the default context. */
  newPage(): Promise<Page>;
  /**
   * Creates an isolated browser context.
   *
   * @param options Its viewport and colour scheme.
   */
  newContext(options?: ContextOptions): Promise<BrowserContext>;
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An evaluation that failed because the page navigated meanwhile: worth trying again. */
const NAVIGATED = /Execution context was destroyed|Cannot find context|Inspected target navigated/;

// Runs in the page: the elements a locator matches.
const FIND = `(selector, texts, first) => {
  const norm = (s) => (s ?? "").replace(/\\s+/g, " ").trim().toLowerCase();
  const found = [...document.querySelectorAll(selector)]
    .filter((el) => texts.every((text) => norm(el.textContent).includes(norm(text))));
  return first ? found.slice(0, 1) : found;
}`;

// Runs in the page: whether an element is visible (a box of some size, not visibility: hidden).
const VISIBLE = `(el) => {
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden";
}`;

/** What a locator's step in the page answers: wait on, a value, or an error. */
type Step<T> = { wait: string } | { value: T } | { error: string };

/** A key of a US keyboard: what Chromium needs to send it as a real key. */
interface Key {
  key: string;
  code: string;
  keyCode: number;
  text?: string;
  location?: number;
}

const NAMED_KEYS: Record<string, Key> = {
  Enter: { key: "Enter", code: "Enter", keyCode: 13, text: "\r" },
  Tab: { key: "Tab", code: "Tab", keyCode: 9 },
  Backspace: { key: "Backspace", code: "Backspace", keyCode: 8 },
  Escape: { key: "Escape", code: "Escape", keyCode: 27 },
  Delete: { key: "Delete", code: "Delete", keyCode: 46 },
  ArrowLeft: { key: "ArrowLeft", code: "ArrowLeft", keyCode: 37 },
  ArrowUp: { key: "ArrowUp", code: "ArrowUp", keyCode: 38 },
  ArrowRight: { key: "ArrowRight", code: "ArrowRight", keyCode: 39 },
  ArrowDown: { key: "ArrowDown", code: "ArrowDown", keyCode: 40 },
  Shift: { key: "Shift", code: "ShiftLeft", keyCode: 16, location: 1 },
  Control: { key: "Control", code: "ControlLeft", keyCode: 17, location: 1 },
  Alt: { key: "Alt", code: "AltLeft", keyCode: 18, location: 1 },
  Meta: { key: "Meta", code: "MetaLeft", keyCode: 91, location: 1 },
};

/** The DevTools protocol's modifier bits. */
const MODIFIERS: Record<string, number> = { Alt: 1, Control: 2, Meta: 4, Shift: 8 };

/** A key by name (`"Enter"`) or by the single character it types (`"a"`, `"C"`, `"5"`, `" "`). */
function keyFor(name: string): Key | undefined {
  if (NAMED_KEYS[name]) return NAMED_KEYS[name];
  if (name === " ") return { key: " ", code: "Space", keyCode: 32, text: " " };
  if (/^[a-zA-Z]$/.test(name)) {
    const upper = name.toUpperCase();
    return { key: name, code: `Key${upper}`, keyCode: upper.charCodeAt(0), text: name };
  }
  if (/^[0-9]$/.test(name)) {
    return { key: name, code: `Digit${name}`, keyCode: name.charCodeAt(0), text: name };
  }
  return undefined;
}

/** What a page shares with its context. */
interface ContextState {
  id?: string;
  timeout: number;
  routes: RouteHandler[];
  downloads?: string;
}

class PageImpl implements Page {
  readonly #connection: Connection;
  readonly #sessionId: string;
  readonly #targetId: string;
  readonly #context: ContextState;
  readonly #offs: (() => void)[] = [];
  #url = "about:blank";
  #lastRequest = Date.now();
  #routes: RouteHandler[] = [];
  #fetching = false;
  #network = false;
  readonly keyboard: Keyboard;

  constructor(connection: Connection, sessionId: string, targetId: string, context: ContextState) {
    this.#connection = connection;
    this.#sessionId = sessionId;
    this.#targetId = targetId;
    this.#context = context;
    this.#listen("Page.frameNavigated", (params) => {
      const frame = params.frame as { id: string; url: string; urlFragment?: string };
      if (frame.id === targetId) this.#url = frame.url + (frame.urlFragment ?? "");
    });
    this.#listen("Page.navigatedWithinDocument", (params) => {
      if (params.frameId === targetId) this.#url = params.url as string;
    });
    this.keyboard = {
      type: async (text) => {
        for (const char of text) {
          if (keyFor(char)) await this.#press([], keyFor(char)!);
          else await this.#send("Input.insertText", { text: char });
        }
      },
      press: async (combination) => {
        const names = combination === "+" ? ["+"] : combination.split("+");
        const key = keyFor(names.at(-1)!);
        const modifiers = names.slice(0, -1);
        if (!key || modifiers.some((m) => !(m in MODIFIERS))) {
          throw new Error(`Unknown key: ${combination}`);
        }
        await this.#press(modifiers, key);
      },
    };
  }

  #send(method: string, params: Record<string, unknown> = {}) {
    return this.#connection.send(method, params, this.#sessionId);
  }

  #listen(method: string, listener: (params: Record<string, unknown>) => void) {
    this.#offs.push(this.#connection.on(method, (params, session) => {
      if (session === this.#sessionId) listener(params);
    }));
  }

  /** Stops listening (the page is gone). */
  dispose() {
    for (const off of this.#offs.splice(0)) off();
  }

  async #press(modifiers: string[], key: Key) {
    let bits = 0;
    for (const name of modifiers) {
      bits |= MODIFIERS[name];
      await this.#keyEvent("rawKeyDown", NAMED_KEYS[name], bits);
    }
    // With a modifier other than Shift held, a key types nothing (Playwright does the same).
    const types = key.text !== undefined && (bits & ~MODIFIERS.Shift) === 0;
    await this.#keyEvent(
      types ? "keyDown" : "rawKeyDown",
      types ? key : { ...key, text: "" },
      bits,
    );
    await this.#keyEvent("keyUp", key, bits);
    for (const name of modifiers.toReversed()) {
      bits &= ~MODIFIERS[name];
      await this.#keyEvent("keyUp", NAMED_KEYS[name], bits);
    }
  }

  async #keyEvent(type: string, key: Key, modifiers: number) {
    const text = type === "keyDown" ? key.text : undefined;
    await this.#send("Input.dispatchKeyEvent", {
      type,
      modifiers,
      key: key.key,
      code: key.code,
      windowsVirtualKeyCode: key.keyCode,
      nativeVirtualKeyCode: key.keyCode,
      location: key.location ?? 0,
      ...(text ? { text, unmodifiedText: text } : {}),
    });
  }

  /** Evaluates an expression; a page that navigated meanwhile is tried again. */
  async #evaluate<T>(expression: string, retry = false): Promise<T> {
    while (true) {
      const reply = await this.#send("Runtime.evaluate", {
        expression,
        returnByValue: true,
        awaitPromise: true,
      }).catch((error: Error) => {
        if (retry && NAVIGATED.test(error.message)) return undefined;
        throw error;
      }) as {
        result: { value?: T };
        exceptionDetails?: { text: string; exception?: { description?: string } };
      } | undefined;
      if (!reply) {
        await sleep(50);
        continue;
      }
      if (reply.exceptionDetails) {
        const details = reply.exceptionDetails;
        const message = details.exception?.description ?? details.text;
        if (retry && NAVIGATED.test(message)) {
          await sleep(50);
          continue;
        }
        throw new Error(message);
      }
      return reply.result.value as T;
    }
  }

  /** Polls a step in the page until it has a value (or an error, or the time is up). */
  async #poll<T>(expression: string, what: string, timeout?: number): Promise<T> {
    const limit = timeout ?? this.#context.timeout;
    const deadline = Date.now() + limit;
    let waiting = "";
    while (true) {
      const step = await this.#evaluate<Step<T>>(expression, true);
      if ("value" in step) return step.value;
      if ("error" in step) throw new Error(`${what}: ${step.error}`);
      waiting = step.wait;
      if (Date.now() > deadline) {
        throw new Error(`Timeout ${limit}ms exceeded: ${what} (${waiting})`);
      }
      await sleep(50);
    }
  }

  /**
   * A step on the one element a locator matches: waits while there is none, errors on several
   * (strictness), and otherwise runs `body` (async, with `el`), which answers a {@linkcode Step}.
   */
  #onElement<T>(
    selector: string,
    texts: string[],
    first: boolean,
    body: string,
    what: string,
    timeout?: number,
  ): Promise<T> {
    const expression = `(async () => {
      const found = (${FIND})(${JSON.stringify(selector)}, ${JSON.stringify(texts)}, ${first});
      if (found.length === 0) return { wait: "no element matches" };
      if (found.length > 1) return { error: found.length + " elements match (strict mode)" };
      const el = found[0];
      const visible = ${VISIBLE};
      ${body}
    })()`;
    return this.#poll<T>(expression, `${what} ${describe(selector, texts, first)}`, timeout);
  }

  locator(selector: string, options: { hasText?: string } = {}): Locator {
    return this.#locator(selector, options.hasText === undefined ? [] : [options.hasText], false);
  }

  #locator(selector: string, texts: string[], first: boolean): Locator {
    return {
      filter: (options) => this.#locator(selector, [...texts, options.hasText], first),
      first: () => this.#locator(selector, texts, true),
      count: () =>
        this.#evaluate<number>(
          `(${FIND})(${JSON.stringify(selector)}, ${JSON.stringify(texts)}, ${first}).length`,
          true,
        ),
      waitFor: (options = {}) =>
        this.#poll<void>(
          `(() => {
            const found = (${FIND})(${JSON.stringify(selector)}, ${
            JSON.stringify(texts)
          }, ${first});
            if (found.length > 1) return { error: found.length + " elements match (strict mode)" };
            return found.length === 1 && (${VISIBLE})(found[0])
              ? { value: null }
              : { wait: found.length ? "not visible" : "no element matches" };
          })()`,
          `waiting for ${describe(selector, texts, first)} to be visible`,
          options.timeout,
        ),
      innerText: (options = {}) =>
        this.#onElement<string>(
          selector,
          texts,
          first,
          "return { value: el.innerText };",
          "innerText of",
          options.timeout,
        ),
      click: (options = {}) => this.#click(selector, texts, first, options.timeout),
    };
  }

  async #click(selector: string, texts: string[], first: boolean, timeout?: number) {
    // Visible, enabled, in view, still for a frame, and the element (or one inside it) is what
    // the mouse would hit: then the centre of its box.
    const point = await this.#onElement<{ x: number; y: number }>(
      selector,
      texts,
      first,
      `if (!visible(el)) return { wait: "not visible" };
      if (el.disabled) return { wait: "disabled" };
      el.scrollIntoView({ block: "nearest", inline: "nearest" });
      const before = el.getBoundingClientRect();
      await new Promise((resolve) => {
        requestAnimationFrame(resolve);
        setTimeout(resolve, 100);
      });
      const box = el.getBoundingClientRect();
      if (["x", "y", "width", "height"].some((k) => box[k] !== before[k])) {
        return { wait: "moving" };
      }
      const x = box.x + box.width / 2, y = box.y + box.height / 2;
      const hit = document.elementFromPoint(x, y);
      if (!hit || (hit !== el && !el.contains(hit))) {
        return { wait: "covered by " + (hit?.outerHTML.slice(0, 80) ?? "nothing") };
      }
      return { value: { x, y } };`,
      "clicking",
      timeout,
    );
    const mouse = { x: point.x, y: point.y, button: "left", clickCount: 1 };
    await this.#send("Input.dispatchMouseEvent", { type: "mouseMoved", x: point.x, y: point.y });
    await this.#send("Input.dispatchMouseEvent", { type: "mousePressed", buttons: 1, ...mouse });
    await this.#send("Input.dispatchMouseEvent", { type: "mouseReleased", buttons: 0, ...mouse });
  }

  click(selector: string, options: TimeoutOptions = {}): Promise<void> {
    return this.#click(selector, [], false, options.timeout);
  }

  async fill(selector: string, value: string, options: TimeoutOptions = {}): Promise<void> {
    await this.#onElement<null>(
      selector,
      [],
      false,
      `if (!visible(el)) return { wait: "not visible" };
      if (el.disabled || el.readOnly) return { wait: "not editable" };
      if (!("value" in el)) return { error: "not an input, textarea or select" };
      el.focus();
      el.value = "";
      ${value === "" ? `el.dispatchEvent(new InputEvent("input", { bubbles: true }));` : ""}
      return { value: null };`,
      "filling",
      options.timeout,
    );
    if (value !== "") await this.#send("Input.insertText", { text: value });
  }

  async press(selector: string, key: string, options: TimeoutOptions = {}): Promise<void> {
    await this.#onElement<null>(
      selector,
      [],
      false,
      `el.focus();
      return { value: null };`,
      "focusing",
      options.timeout,
    );
    await this.keyboard.press(key);
  }

  async isVisible(selector: string): Promise<boolean> {
    const found = await this.#evaluate<boolean[]>(
      `(${FIND})(${JSON.stringify(selector)}, [], false).map(${VISIBLE})`,
      true,
    );
    if (found.length > 1) throw new Error(`${found.length} elements match ${selector} (strict)`);
    return found[0] ?? false;
  }

  getAttribute(selector: string, name: string): Promise<string | null> {
    return this.#onElement<string | null>(
      selector,
      [],
      false,
      `return { value: el.getAttribute(${JSON.stringify(name)}) };`,
      `attribute ${name} of`,
    );
  }

  route(_pattern: "**/*", handler: RouteHandler): Promise<void> {
    this.#routes.push(handler);
    return this.intercept();
  }

  /** Sends every request of the page to the page's routes, then its context's. */
  async intercept(): Promise<void> {
    if (this.#fetching) return;
    this.#fetching = true;
    this.#listen("Fetch.requestPaused", (params) => {
      this.#lastRequest = Date.now();
      const requestId = params.requestId as string;
      const url = (params.request as { url: string }).url;
      const handler = this.#routes[0] ?? this.#context.routes[0];
      const route: Route = {
        request: () => ({ url: () => url }),
        continue: async () => {
          await this.#send("Fetch.continueRequest", { requestId });
        },
        abort: async () => {
          await this.#send("Fetch.failRequest", { requestId, errorReason: "BlockedByClient" });
        },
      };
      void (async () => {
        if (handler) await handler(route);
        else await route.continue();
      })().catch(() => {/* the page went away */});
    });
    await this.#send("Fetch.enable", { patterns: [{ urlPattern: "*" }] });
  }

  async waitForLoadState(_state: "networkidle"): Promise<void> {
    while (Date.now() - this.#lastRequest < 500) await sleep(100);
  }

  on(event: "pageerror" | "console" | "request" | "websocket", listener: (value: never) => void) {
    if (event === "pageerror") {
      this.#listen("Runtime.exceptionThrown", (params) => {
        const details = params.exceptionDetails as {
          text: string;
          exception?: { description?: string };
        };
        (listener as (error: Error) => void)(
          new Error(details.exception?.description ?? details.text),
        );
      });
    } else if (event === "console") {
      this.#listen("Runtime.consoleAPICalled", (params) => {
        const args = params.args as { value?: unknown; description?: string }[];
        const text = args.map((a) => a.value !== undefined ? String(a.value) : a.description)
          .join(" ");
        (listener as (message: ConsoleMessage) => void)({ text: () => text });
      });
    } else {
      const method = event === "request" ? "Network.requestWillBeSent" : "Network.webSocketCreated";
      this.#listen(method, (params) => {
        const url = event === "request"
          ? (params.request as { url: string }).url
          : params.url as string;
        (listener as (request: Request) => void)({ url: () => url });
      });
      if (!this.#network) {
        this.#network = true;
        void this.#send("Network.enable").catch(() => {});
      }
    }
  }

  async goto(url: string): Promise<void> {
    const reply = await this.#navigate(() => this.#send("Page.navigate", { url }));
    if (reply.errorText) throw new Error(`Cannot load ${url}: ${reply.errorText}`);
  }

  async reload(): Promise<void> {
    await this.#navigate(() => this.#send("Page.reload"));
  }

  /** Starts a navigation and, unless it stays in the document, waits for the load event. */
  async #navigate(start: () => Promise<Record<string, unknown>>) {
    const loaded = Promise.withResolvers<void>();
    const off = this.#connection.on("Page.loadEventFired", (_, session) => {
      if (session === this.#sessionId) loaded.resolve();
    });
    try {
      const reply = await start();
      // Page.navigate has no loaderId for a same-document (fragment) navigation.
      if (!reply.errorText && (reply.loaderId !== undefined || !("frameId" in reply))) {
        await loaded.promise;
      }
      this.#url = await this.#evaluate<string>("location.href", true);
      return reply;
    } finally {
      off();
    }
  }

  url(): string {
    return this.#url;
  }

  async waitForURL(pattern: RegExp, options: TimeoutOptions = {}): Promise<void> {
    this.#url = await this.#poll<string>(
      `(() => {
        const url = location.href;
        return new RegExp(${JSON.stringify(pattern.source)}, ${JSON.stringify(pattern.flags)})
            .test(url)
          ? { value: url }
          : { wait: url };
      })()`,
      `waiting for the URL to match ${pattern}`,
      options.timeout,
    );
  }

  evaluate<T, A = undefined>(fn: string | ((arg: A) => T | Promise<T>), arg?: A): Promise<T> {
    const expression = typeof fn === "string"
      ? fn
      : `(${fn.toString()})(${arg === undefined ? "" : JSON.stringify(arg)})`;
    return this.#evaluate<T>(expression);
  }

  waitForFunction(fn: () => unknown, _arg?: unknown, options: TimeoutOptions = {}) {
    return this.#poll<void>(
      `(async () => (await (${fn.toString()})()) ? { value: null } : { wait: "falsy" })()`,
      `waiting for ${fn.toString()}`,
      options.timeout ?? 30_000,
    );
  }

  waitForSelector(selector: string, options: TimeoutOptions = {}) {
    return this.#poll<void>(
      `document.querySelector(${JSON.stringify(selector)}) ? { value: null } : { wait: "none" }`,
      `waiting for ${selector}`,
      options.timeout ?? 30_000,
    );
  }

  textContent(selector: string) {
    return this.#evaluate<string | null>(
      `document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`,
    );
  }

  async setViewportSize(size: { width: number; height: number }): Promise<void> {
    await this.#send("Emulation.setDeviceMetricsOverride", {
      width: size.width,
      height: size.height,
      deviceScaleFactor: 1,
      mobile: false,
      screenWidth: size.width,
      screenHeight: size.height,
    });
  }

  async screenshot(options: { path: string }): Promise<void> {
    const { data } = await this.#send("Page.captureScreenshot", { format: "png" }) as {
      data: string;
    };
    await Deno.writeFile(options.path, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
  }

  waitForEvent(_event: "download", options: TimeoutOptions = {}): Promise<Download> {
    const directory = this.#context.downloads;
    if (!directory) {
      return Promise.reject(new Error("downloads need a context from browser.newContext()"));
    }
    const limit = options.timeout ?? this.#context.timeout;
    const begun = Promise.withResolvers<Download>();
    const timer = setTimeout(
      () => begun.reject(new Error(`Timeout ${limit}ms exceeded waiting for a download`)),
      limit,
    );
    const off = this.#connection.on("Browser.downloadWillBegin", (params) => {
      if (params.frameId !== this.#targetId) return;
      off();
      clearTimeout(timer);
      const guid = params.guid as string;
      const done = Promise.withResolvers<string>();
      // Listened for at once, in the same message loop turn: no progress event is missed.
      const offProgress = this.#connection.on("Browser.downloadProgress", (progress) => {
        if (progress.guid !== guid) return;
        if (progress.state === "completed") done.resolve(`${directory}/${guid}`);
        else if (progress.state === "canceled") done.reject(new Error("download canceled"));
        else return;
        offProgress();
      });
      begun.resolve({
        suggestedFilename: () => params.suggestedFilename as string,
        path: () => done.promise,
      });
    });
    return begun.promise.finally(() => {
      off();
      clearTimeout(timer);
    });
  }
}

function describe(selector: string, texts: string[], first: boolean): string {
  return selector + texts.map((text) => ` with text ${JSON.stringify(text)}`).join("") +
    (first ? " (first)" : "");
}

/** Opens a page in a context and applies the context's settings to it. */
async function openPage(
  connection: Connection,
  context: ContextState,
  options: ContextOptions,
): Promise<PageImpl> {
  const { targetId } = await connection.send("Target.createTarget", {
    url: "about:blank",
    ...(context.id ? { browserContextId: context.id } : {}),
  }) as { targetId: string };
  const { sessionId } = await connection.send("Target.attachToTarget", {
    targetId,
    flatten: true,
  }) as { sessionId: string };
  const page = new PageImpl(connection, sessionId, targetId, context);
  await connection.send("Runtime.enable", {}, sessionId);
  await connection.send("Page.enable", {}, sessionId);
  // Every page behaves as the focused one (focus, key events), as in Playwright.
  await connection.send("Emulation.setFocusEmulationEnabled", { enabled: true }, sessionId);
  if (options.viewport) await page.setViewportSize(options.viewport);
  await connection.send("Emulation.setEmulatedMedia", {
    features: [{ name: "prefers-color-scheme", value: options.colorScheme ?? "light" }],
  }, sessionId);
  if (context.routes.length > 0) await page.intercept();
  return page;
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
    const defaultContext: ContextState = { timeout: 30_000, routes: [] };
    return {
      async newPage() {
        return await openPage(connection, defaultContext, {});
      },
      async newContext(options = {}) {
        const { browserContextId } = await connection.send("Target.createBrowserContext", {
          disposeOnDetach: true,
        }) as { browserContextId: string };
        const downloads = `${profile}/downloads/${browserContextId}`;
        await Deno.mkdir(downloads, { recursive: true });
        await connection.send("Browser.setDownloadBehavior", {
          behavior: "allowAndName",
          browserContextId,
          downloadPath: downloads,
          eventsEnabled: true,
        });
        const state: ContextState = {
          id: browserContextId,
          timeout: 30_000,
          routes: [],
          downloads,
        };
        const pages: PageImpl[] = [];
        return {
          async newPage() {
            const page = await openPage(connection, state, options);
            pages.push(page);
            return page;
          },
          async route(_pattern, handler) {
            state.routes.push(handler);
            for (const page of pages) await page.intercept();
          },
          setDefaultTimeout(timeout) {
            state.timeout = timeout;
          },
          async close() {
            for (const page of pages.splice(0)) page.dispose();
            await connection.send("Target.disposeBrowserContext", { browserContextId });
          },
        };
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
