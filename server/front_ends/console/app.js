// Copyright the pow authors. MIT license.
// The pow web console. It talks to the server only through the public pieces: `POST /tickets`,
// the `pow.v2` WebSocket, the MonoRail channels `/events/sessions` and `/events/topics/<name>`
// and `POST /wubsub/topics/<name>`, with `@pow/client` (the import map of index.html names the
// bundle). Routes live in the URL fragment: `#/`, `#/start/<process>`, `#/session/<id>`
// (shareable), `#/topic/<name>`.

import { MonoRailConnection, PowClient, RemoteError } from "@pow/client";

const TOKEN_KEY = "pow.console.token";
/** The server's base URL: the console is served at `<base>console/`. */
const BASE = new URL("../", location.href);
const WS_URL = BASE.href.replace(/^http/, "ws");

const $ = (id) => document.getElementById(id);

/**
 * Makes an element: `h("p", {class: "x"}, "text", child)`.
 *
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child !== undefined && child !== null && child !== false) element.append(child);
  }
  return element;
}

const state = {
  /** @type {PowClient | undefined} */
  client: undefined,
  /** The token of this tab, when the server wants one. */
  token: sessionStorage.getItem(TOKEN_KEY) ?? undefined,
  /** A ticket for the next WebSocket connection (tickets are single-use). */
  spare: undefined,
  refilling: undefined,
  processes: [],
  /** The sessions the caller may see, by id, as the `/events/sessions` watch reports them. */
  sessions: new Map(),
  /** @type {MonoRailConnection | undefined} The watch of `/events/sessions`. */
  sessionsRail: undefined,
  /** How often the sessions watch resumed its previous connection after a drop. */
  resumed: 0,
  /** Subscribed topics, by name: they keep collecting messages while another view shows. */
  topics: new Map(),
  /** Session views of this page, by session id: they keep following their session. */
  views: new Map(),
  current: undefined,
  everConnected: false,
  /** What a session view keeps, so that endless output never exhausts the tab. */
  limits: {
    /** Characters of output on the page; older ones are removed (a long page is slow). */
    shown: 1_000_000,
    /** Lines of output on the page, likewise. */
    lines: 5000,
    /** Bytes kept for "Download output"; older ones are dropped. */
    kept: 32 << 20,
  },
};

// ---------------------------------------------------------------------------------------------
// Signing in: POST /tickets answers 401 when the server wants a token, a ticket otherwise.

async function fetchTicket(token, request) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const response = await (request ?? fetch(new URL("tickets", BASE), { method: "POST", headers }));
  if (!response.ok) {
    const error = new Error((await response.text()) || `POST /tickets: ${response.status}`);
    error.status = response.status;
    throw error;
  }
  const { ticket, expiresIn } = await response.json();
  return { ticket, expires: Date.now() + expiresIn * 1000 - 1000 };
}

function refillTicket() {
  if (state.token === undefined || state.refilling) return;
  state.refilling = fetchTicket(state.token).then(
    (ticket) => state.spare = ticket,
    (error) => {
      if (error.status === 401) signOut("The server no longer accepts this token");
    },
  ).finally(() => state.refilling = undefined);
}

/** Opens the WebSocket with a fresh ticket in the URL (never the token). */
function openSocket(request) {
  let url = request.url;
  if (state.token !== undefined) {
    const spare = state.spare;
    state.spare = undefined;
    // Without a valid ticket the attempt fails with 401 and the client retries after a backoff,
    // by when the next ticket has arrived.
    if (spare && spare.expires > Date.now()) {
      url += `${url.includes("?") ? "&" : "?"}ticket=${encodeURIComponent(spare.ticket)}`;
    }
    refillTicket();
  }
  // Kept for the browser test, which drops the connection to see the page reattach.
  state.socket = new WebSocket(url, request.protocols);
  return state.socket;
}

async function boot() {
  try {
    performance.mark("pow:boot");
    // index.html asked already, with the same token (or none).
    const ticket = await fetchTicket(state.token, globalThis.powFirstTicket);
    performance.mark("pow:ticket");
    if (state.token !== undefined) state.spare = ticket;
    else $("sign-in-link").hidden = false; // anonymous server: signing in is optional
    connect();
  } catch (error) {
    if (error.status === 401) {
      const hadToken = state.token !== undefined;
      sessionStorage.removeItem(TOKEN_KEY);
      state.token = undefined;
      showSignIn(hadToken ? `The token was refused: ${error.message}` : "");
    } else {
      setStatus(`Cannot reach the server: ${error.message}`, true);
    }
  }
}

function showSignIn(message) {
  $("app").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-link").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in-error").textContent = message;
  setStatus("not signed in");
  $("token").focus();
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("token").value;
  $("sign-in-error").textContent = "";
  try {
    state.spare = await fetchTicket(token);
  } catch (error) {
    $("sign-in-error").textContent = error.status === 401
      ? `The token was refused: ${error.message}`
      : `Cannot sign in: ${error.message}`;
    return;
  }
  $("token").value = "";
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  if (state.client) {
    await state.client.close();
    state.client = undefined;
  }
  connect();
});

$("sign-in-link").addEventListener("click", () => showSignIn(""));

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = undefined;
  state.spare = undefined;
  state.client?.close();
  state.client = undefined;
  state.views.clear();
  state.sessionsRail?.disconnect();
  state.sessionsRail = undefined;
  for (const topic of state.topics.values()) topic.rail.disconnect();
  state.topics.clear();
  renderTopics();
  showSignIn(message);
}
$("sign-out").addEventListener("click", () => signOut());

// ---------------------------------------------------------------------------------------------
// The connection

function setStatus(text, bad = false) {
  $("status").textContent = text;
  $("status").classList.toggle("bad", bad);
}

function connect() {
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = state.token === undefined;
  setStatus("connecting…");
  const client = new PowClient(WS_URL, {
    WebSocket: openSocket,
    retryFirstConnect: true,
    reconnect: { initialDelay: 300, maxDelay: 5000 },
    onStateChange(connection) {
      if (client !== state.client) return;
      if (connection === "open") {
        if (!state.everConnected) performance.mark("pow:connected");
        setStatus("connected");
        if (state.everConnected) {
          for (const view of state.views.values()) view.reconnected();
        }
        state.everConnected = true;
        void loadCatalogue();
      } else if (connection === "reconnecting") {
        setStatus("connection lost: reconnecting…", true);
        for (const view of state.views.values()) view.disconnected();
      } else if (connection === "closed") {
        setStatus("disconnected", true);
      }
    },
  });
  state.client = client;
  watchSessions();
  client.closed.then((info) => {
    if (client !== state.client) return;
    setStatus(
      `disconnected (close code ${info.code}${info.reason ? `: ${info.reason}` : ""})`,
      true,
    );
  });
  route();
}

// ---------------------------------------------------------------------------------------------
// Catalogue and sessions

async function loadCatalogue() {
  try {
    state.processes = await state.client.processes();
  } catch {
    return;
  }
  const list = $("catalogue");
  list.replaceChildren(
    ...state.processes.map((p) =>
      h(
        "li",
        {},
        h(
          "a",
          {
            href: `#/start/${encodeURIComponent(p.name)}`,
            "data-process": p.name,
            title: p.description,
          },
          h("span", { class: "name" }, p.name),
          p.pty ? h("span", { class: "meta" }, " · terminal") : null,
          p.description ? h("span", { class: "description" }, p.description) : null,
        ),
      )
    ),
  );
  markCurrent();
  if (performance.getEntriesByName("pow:interactive").length === 0) {
    performance.mark("pow:interactive");
  }
  // A start form that waited for the catalogue.
  if (location.hash.startsWith("#/start/")) route();
}

/**
 * The MonoRail URL of a channel, with a fresh single-use ticket when the server wants a token
 * (asked for on every connection attempt: the token itself is only ever in a header).
 *
 * @param {string} channel `sessions` or `topics/<name>`
 * @returns {Promise<string>}
 */
async function railUrl(channel) {
  const url = new URL(`events/${channel}`, WS_URL);
  if (state.token !== undefined) {
    try {
      url.searchParams.set("ticket", (await fetchTicket(state.token)).ticket);
    } catch (error) {
      if (error.status === 401) signOut("The server no longer accepts this token");
      throw error;
    }
  }
  return url.href;
}

/**
 * Opens a MonoRail watch of one channel that reconnects with backoff and resumes (the server
 * replays what happened meanwhile, or sends a fresh `list`).
 *
 * @param {string} channel
 * @param {{list: (items: any[]) => void, item: (data: any) => void, remove?: (params: any) => void, live?: (open: boolean) => void}} on
 * @returns {MonoRailConnection}
 */
function watchChannel(channel, on) {
  const rail = new MonoRailConnection(() => railUrl(channel), {
    backoff: { initialDelay: 300, maxDelay: 5000 },
  });
  rail.events.on("list", (m) => on.list(m.items));
  rail.events.on("item", (m) => on.item(m.data));
  rail.events.on("remove", (m) => on.remove?.(m.params));
  rail.events.on("open", () => on.live?.(true));
  rail.events.on("close", () => on.live?.(false));
  rail.connect();
  void rail.init();
  rail.watch({});
  return rail;
}

/** Keeps the list of sessions current: a watch of `/events/sessions` (no polling). */
function watchSessions() {
  state.sessionsRail?.disconnect();
  state.sessions.clear();
  state.sessionsRail = watchChannel("sessions", {
    list(items) {
      state.sessions = new Map(items.map((s) => [s.id, s]));
      renderSessions();
    },
    item(data) {
      state.sessions.set(data.id, data);
      renderSessions();
    },
    remove(params) {
      state.sessions.delete(params.id);
      renderSessions();
    },
    live(open) {
      const badge = $("sessions-live");
      badge.textContent = open ? "live" : "reconnecting…";
      badge.classList.toggle("bad", !open);
    },
  });
  state.sessionsRail.events.on("session", (m) => {
    if (m.resumed) state.resumed++;
  });
}

function age(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function renderSessions() {
  const now = Date.now();
  const sessions = [...state.sessions.values()].sort((a, b) => b.createdAt - a.createdAt);
  const rows = sessions.map((s) =>
    h(
      "tr",
      {
        "data-session": s.id,
        onclick: () => location.hash = `#/session/${s.id}`,
      },
      h(
        "td",
        {},
        h("a", { href: `#/session/${s.id}`, title: s.id }, s.name),
        s.params.length ? h("span", { class: "meta" }, ` ${s.params.join(" ")}`) : null,
      ),
      h("td", {}, h("span", { class: `badge ${s.state}` }, s.state)),
      h("td", {}, s.owner ?? "—"),
      h("td", { title: new Date(s.createdAt).toISOString() }, age(now - s.createdAt)),
    )
  );
  if (rows.length === 0) {
    rows.push(h("tr", {}, h("td", { colspan: 4, class: "hint" }, "No sessions yet")));
  }
  $("sessions").tBodies[0].replaceChildren(...rows);
  markCurrent();
}

function markCurrent() {
  for (const a of $("catalogue").querySelectorAll("a")) {
    a.toggleAttribute("aria-current", a.getAttribute("href") === location.hash);
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  for (const a of $("topics").querySelectorAll("a")) {
    if (a.getAttribute("href") === location.hash) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const tr of $("sessions").querySelectorAll("tr[data-session]")) {
    const current = location.hash === `#/session/${tr.dataset.session}`;
    if (current) tr.setAttribute("aria-current", "page");
    else tr.removeAttribute("aria-current");
  }
}

// Ages move on by themselves (this re-renders; it asks the server nothing).
setInterval(() => state.sessions.size && renderSessions(), 15_000);

// ---------------------------------------------------------------------------------------------
// Topics: a watch of `/events/topics/<name>` per subscribed topic; publishing is
// `POST /wubsub/topics/<name>` with the token in the Authorization header.

/** Messages a topic view keeps on the page. */
const TOPIC_MESSAGES = 500;

function subscribeTopic(name) {
  let topic = state.topics.get(name);
  if (topic) return topic;
  const messages = h("ol", { class: "messages", "aria-label": `Messages of ${name}` });
  const live = h("span", { class: "live" }, "connecting…");
  const add = (item) => {
    const time = new Date(item.time);
    const from = String(item.topic).replace(/^topic\./, "");
    messages.append(
      h(
        "li",
        {},
        h("time", { datetime: time.toISOString() }, time.toLocaleTimeString()),
        " ",
        from !== name ? h("span", { class: "meta" }, `${from} `) : null,
        h("code", {}, JSON.stringify(item.data)),
      ),
    );
    while (messages.childElementCount > TOPIC_MESSAGES) messages.firstElementChild.remove();
    messages.scrollTop = messages.scrollHeight;
  };
  topic = { name, messages, live };
  topic.rail = watchChannel(`topics/${encodeURIComponent(name)}`, {
    list(items) {
      messages.replaceChildren();
      items.forEach(add);
    },
    item: add,
    live(open) {
      live.textContent = open ? "live" : "reconnecting…";
      live.classList.toggle("bad", !open);
    },
  });
  topic.element = topicView(topic);
  state.topics.set(name, topic);
  renderTopics();
  return topic;
}

function unsubscribeTopic(name) {
  state.topics.get(name)?.rail.disconnect();
  state.topics.delete(name);
  renderTopics();
  if (location.hash === `#/topic/${encodeURIComponent(name)}`) location.hash = "#/";
}

function renderTopics() {
  $("topics").replaceChildren(
    ...[...state.topics.keys()].map((name) =>
      h("li", {}, h("a", { href: `#/topic/${encodeURIComponent(name)}`, "data-topic": name }, name))
    ),
  );
  markCurrent();
}

/**
 * Publishes `body` (JSON text) to a topic; the server checks it and says why when it refuses.
 *
 * @param {string} name
 * @param {string} body
 * @returns {Promise<{id: number, topic: string}>}
 */
async function publishTopic(name, body) {
  const headers = { "content-type": "application/json" };
  if (state.token !== undefined) headers.authorization = `Bearer ${state.token}`;
  const url = new URL(`wubsub/topics/${encodeURIComponent(name)}`, BASE);
  const response = await fetch(url, { method: "POST", headers, body });
  if (!response.ok) {
    throw new Error((await response.text()) || `Publishing failed: status ${response.status}`);
  }
  return await response.json();
}

function topicView(topic) {
  const data = h("textarea", { id: "publish-data", rows: 3, spellcheck: "false" });
  data.value = '{"text": "hello"}';
  const error = h("p", { class: "error", role: "alert" });
  const done = h("p", { class: "hint", role: "status" });
  const form = h(
    "form",
    {
      class: "publish",
      async onsubmit(event) {
        event.preventDefault();
        error.textContent = done.textContent = "";
        try {
          const { id } = await publishTopic(topic.name, data.value);
          done.textContent = `Published as event ${id}`;
        } catch (e) {
          error.textContent = e.message;
        }
      },
    },
    h("label", { for: "publish-data" }, "Publish (JSON)"),
    data,
    h("div", {}, h("button", { type: "submit", class: "primary" }, "Publish")),
    error,
    done,
  );
  // Ctrl+Enter publishes from the text area.
  data.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  return h(
    "div",
    { class: "topic" },
    h("h1", {}, `topic ${topic.name} `, topic.live),
    h(
      "p",
      { class: "meta" },
      "Messages published to this topic, live (the server's recent history first). ",
      h("button", { type: "button", onclick: () => unsubscribeTopic(topic.name) }, "Unsubscribe"),
    ),
    topic.messages,
    form,
  );
}

$("topic-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("topic-name").value.trim();
  if (!name) return;
  subscribeTopic(name);
  $("topic-name").value = "";
  location.hash = `#/topic/${encodeURIComponent(name)}`;
});

// ---------------------------------------------------------------------------------------------
// Routing

function route() {
  if (!state.client) return;
  const hash = location.hash || "#/";
  state.current?.hide?.();
  state.current = undefined;
  const view = $("view");
  let match;
  if ((match = /^#\/start\/(.+)$/.exec(hash))) {
    const name = decodeURIComponent(match[1]);
    const info = state.processes.find((p) => p.name === name);
    view.replaceChildren(info ? startForm(info) : h("p", { class: "hint" }, "Loading…"));
  } else if ((match = /^#\/session\/([A-Za-z0-9_-]+)$/.exec(hash))) {
    const id = match[1];
    let session = state.views.get(id);
    if (!session) {
      session = SessionView.attach(id);
      state.views.set(id, session);
    }
    state.current = session;
    view.replaceChildren(session.element);
    session.shown();
  } else if ((match = /^#\/topic\/(.+)$/.exec(hash))) {
    const topic = subscribeTopic(decodeURIComponent(match[1]));
    view.replaceChildren(topic.element);
    topic.element.querySelector("textarea").focus();
  } else {
    view.replaceChildren(
      h("p", { class: "hint" }, "Pick a process to start, or a session to watch."),
    );
  }
  markCurrent();
}
addEventListener("hashchange", route);

// ---------------------------------------------------------------------------------------------
// The start form, built from the process's params

function paramRegExp(pattern) {
  return new RegExp(`^(?:${pattern})$`, "u");
}

/** Checks one value against a param; returns a message, or "" when it is fine. */
function checkValue(param, value) {
  if (param.enum && !param.enum.includes(value)) {
    return `must be one of ${param.enum.map((e) => `"${e}"`).join(", ")}`;
  }
  if (param.pattern && !paramRegExp(param.pattern).test(value)) {
    return `must match /${param.pattern}/`;
  }
  return "";
}

function startForm(info) {
  const fields = info.params.map((param, i) => {
    const id = `param-${i}`;
    const described = [];
    let input;
    if (param.enum && !param.variadic) {
      input = h(
        "select",
        { id, name: param.name },
        param.optional ? h("option", { value: "" }, "(none)") : null,
        ...param.enum.map((e) => h("option", { value: e }, e)),
      );
    } else if (param.variadic) {
      input = h("textarea", { id, name: param.name, rows: 3 });
      described.push("one value per line");
    } else {
      input = h("input", {
        id,
        name: param.name,
        type: "text",
        autocomplete: "off",
        spellcheck: "false",
      });
    }
    if (param.pattern) described.push(`pattern /${param.pattern}/`);
    if (param.optional) described.push("optional");
    const error = h("p", { class: "field-error", id: `${id}-error`, role: "alert" });
    input.setAttribute("aria-describedby", `${id}-hint ${id}-error`);
    return {
      param,
      input,
      error,
      element: h(
        "div",
        { class: "field" },
        h("label", { for: id }, param.name),
        param.description ? h("span", { class: "hint" }, param.description) : null,
        input,
        h("span", { class: "hint", id: `${id}-hint` }, described.join(" · ")),
        error,
      ),
    };
  });
  const ptyBox = info.pty
    ? h("input", { type: "checkbox", id: "use-pty", checked: true })
    : undefined;
  const formError = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "start-form", novalidate: true },
    h("h1", {}, info.name),
    info.description ? h("p", {}, info.description) : null,
    ...fields.map((f) => f.element),
    ptyBox ? h("label", { for: "use-pty" }, ptyBox, " Run in a terminal (pty)") : null,
    h("div", {}, h("button", { type: "submit", class: "primary" }, "Start")),
    formError,
  );
  const showError = (field, message) => {
    field.error.textContent = message;
    field.input.setAttribute("aria-invalid", message ? "true" : "false");
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    const params = [];
    let firstBad;
    for (const field of fields) {
      const { param, input } = field;
      const values = param.variadic
        ? input.value.split("\n").filter((v) => v !== "")
        : input.value === "" && param.optional
        ? []
        : [input.value];
      let message = "";
      if (!param.variadic && !param.optional && input.value === "") message = "required";
      for (const value of values) message ||= checkValue(param, value);
      showError(field, message);
      if (message) firstBad ??= field;
      params.push(...values);
    }
    if (firstBad) {
      firstBad.input.focus();
      return;
    }
    const pty = ptyBox?.checked ?? false;
    const view = SessionView.start(info, params, pty);
    try {
      const started = await view.proc.started;
      state.views.set(started.session, view);
      location.hash = `#/session/${started.session}`;
    } catch (error) {
      // The server's refusal, next to the field it names when it names one.
      const message = error instanceof RemoteError
        ? error.message
        : String(error?.message ?? error);
      const index = /parameter (\d+)/.exec(message);
      const field = index ? fields[Number(index[1]) - 1] : undefined;
      if (field) {
        showError(field, message);
        field.input.focus();
      } else {
        formError.textContent = message;
      }
    }
  });
  queueMicrotask(() => (fields[0]?.input ?? form.querySelector("button")).focus());
  return form;
}

// ---------------------------------------------------------------------------------------------
// A session: output, stdin, signals, result, download; pty sessions in xterm.js

function countLines(text) {
  let lines = 0;
  for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) lines++;
  return lines;
}

/** Resolves in a later task (a message, so that background tabs do not throttle it). */
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

let xterm;
function loadXterm() {
  if (!xterm) {
    const css = document.querySelector('meta[name="xterm-css"]').content;
    document.head.append(h("link", { rel: "stylesheet", href: css }));
    xterm = Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]);
  }
  return xterm;
}

function describeResult(result) {
  if (result.status === "fulfilled") {
    const value = result.value === null || result.value === undefined
      ? ""
      : `, result ${JSON.stringify(result.value)}`;
    return `exited with code ${result.exitCode ?? 0}${value}`;
  }
  const parts = [result.reason];
  if (result.exitCode !== undefined) parts.push(`exit code ${result.exitCode}`);
  if (result.signal) parts.push(`signal ${result.signal}`);
  if (result.kind) parts.push(result.kind);
  return `failed: ${parts.join(", ")}`;
}

class SessionView {
  /** Starts a process and shows it. */
  static start(info, params, pty) {
    const view = new SessionView({ name: info.name, params, pty });
    view.proc = state.client.start(info.name, params, {
      pty,
      cols: pty ? 80 : undefined,
      rows: pty ? 24 : undefined,
      onGap: (gap) => view.gap(gap),
    });
    view.follow();
    return view;
  }

  /** Follows an existing session (reload, shared link, click in the list) from its first byte. */
  static attach(session) {
    const known = state.sessions.get(session);
    const view = new SessionView({
      name: known?.name,
      params: known?.params ?? [],
      pty: known?.pty,
      session,
    });
    view.viewer = true;
    view.proc = state.client.attach(session, { offset: 0, onGap: (gap) => view.gap(gap) });
    view.follow();
    return view;
  }

  constructor({ name, params, pty, session }) {
    this.name = name;
    this.params = params;
    this.pty = pty;
    this.session = session;
    this.chunks = [];
    this.received = 0;
    this.decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    this.title = h("h1", {}, this.label());
    this.badge = h("span", { class: "badge starting" }, "starting");
    this.meta = h("span", { class: "meta" });
    this.notices = h("ul", { class: "notices", "aria-live": "polite" });
    this.output = h("pre", {
      class: "output",
      tabindex: 0,
      "aria-label": "output",
      "data-testid": "output",
    });
    this.terminalBox = h("div", { class: "terminal-box", hidden: true });
    this.result = h("p", { class: "result", role: "status" });
    const line = h("input", {
      type: "text",
      "aria-label": "A line for stdin",
      placeholder: "stdin: type a line, Enter sends it",
      autocomplete: "off",
    });
    this.line = line;
    this.stdinForm = h(
      "form",
      {
        class: "stdin",
        onsubmit: (event) => {
          event.preventDefault();
          this.send(`${line.value}\n`);
          line.value = "";
        },
      },
      line,
      h("button", { type: "submit" }, "Send"),
    );
    const signal = (name, label, title) =>
      h("button", {
        type: "button",
        title,
        "data-signal": name,
        onclick: () => this.signal(name),
      }, label);
    this.controls = h(
      "div",
      { class: "controls" },
      this.stdinForm,
      h("button", {
        type: "button",
        title: "Close stdin (end of input)",
        onclick: () => this.closeInput(),
      }, "End input"),
      signal("interrupt", "Interrupt", "SIGINT"),
      signal("terminate", "Terminate", "SIGTERM"),
      signal("kill", "Kill", "SIGKILL"),
      signal("cancel", "Cancel", "SIGTERM, then SIGKILL after the grace period"),
    );
    this.download = h(
      "button",
      { type: "button", onclick: () => this.saveOutput() },
      "Download output",
    );
    this.copy = h("button", {
      type: "button",
      title: "Copy the link to this session",
      onclick: () => navigator.clipboard?.writeText(location.href).catch(() => {}),
    }, "Copy link");
    this.element = h(
      "article",
      { class: "session" },
      this.title,
      h("div", { class: "controls" }, this.badge, this.meta, this.download, this.copy),
      this.notices,
      this.output,
      this.terminalBox,
      this.controls,
      this.result,
    );
  }

  label() {
    if (!this.name) return this.session ?? "session";
    return [this.name, ...this.params].join(" ");
  }

  setState(name) {
    this.badge.className = `badge ${name}`;
    this.badge.textContent = name;
  }

  notice(text, warn = false) {
    this.notices.append(h("li", { class: warn ? "warn" : "" }, text));
  }

  async follow() {
    const proc = this.proc;
    proc.started.then(async (started) => {
      this.session = started.session;
      this.name ??= proc.name;
      this.pty = started.pty;
      this.title.textContent = this.label();
      this.meta.textContent = `session ${started.session}${
        started.pid ? ` · pid ${started.pid}` : ""
      }${this.viewer ? " · viewing" : ""}`;
      this.setState("running");
      if (this.pty) await this.openTerminal();
      else this.flushText(false);
    }, () => {});
    try {
      // Output is taken as fast as the page can show it: after every 256 KiB the loop lets the
      // page handle input and paint, and the server's flow control slows the process meanwhile.
      let sinceYield = 0;
      for await (const chunk of proc) {
        this.write(chunk);
        sinceYield += chunk.data.byteLength;
        if (sinceYield >= 256 * 1024) {
          sinceYield = 0;
          await nextTask();
        }
      }
    } catch (error) {
      this.notice(`Output stopped: ${error?.message ?? error}`, true);
    }
    // The end is shown after the last byte of output.
    try {
      const result = await proc.result;
      this.flushText();
      this.ended = true;
      this.controls.hidden = true;
      this.setState(result.status);
      this.result.className = `result ${result.status}`;
      this.result.textContent = describeResult(result);
    } catch (error) {
      this.flushText();
      this.ended = true;
      this.controls.hidden = true;
      this.setState("lost");
      this.result.className = "result rejected";
      this.result.textContent = error?.message ?? String(error);
    }
  }

  write({ stream, data }) {
    this.chunks.push(data);
    this.received += data.byteLength;
    this.kept = (this.kept ?? 0) + data.byteLength;
    while (this.kept > state.limits.kept && this.chunks.length > 1) {
      this.kept -= this.chunks.shift().byteLength;
      if (!this.downloadTrimmed) {
        this.downloadTrimmed = true;
        this.notice(
          `Download output keeps the last ${state.limits.kept} bytes received, not all of them`,
        );
      }
    }
    if (this.terminal) {
      this.terminal.write(data);
      return;
    }
    if (this.pty === undefined || this.pty) {
      // The kind of session is not known yet (an attach in flight), or its terminal is still
      // loading: keep the bytes until it is.
      (this.early ??= []).push({ stream, data });
      return;
    }
    this.appendText(stream, this.decoders[stream].decode(data, { stream: true }));
  }

  /** Queues text for the page; what arrives in one task is shown at once, in order. */
  appendText(stream, text) {
    if (!text) return;
    const pending = (this.pending ??= []);
    const last = pending.at(-1);
    if (last && last.stream === stream) last.text += text;
    else pending.push({ stream, text });
    if (!this.flushing) {
      this.flushing = true;
      void nextTask().then(() => this.showPending());
    }
  }

  showPending() {
    this.flushing = false;
    const out = this.output;
    const atBottom = out.scrollHeight - out.scrollTop - out.clientHeight < 8;
    for (const { stream, text } of this.pending.splice(0)) {
      const last = out.lastElementChild;
      if (last && last.dataset.stream === stream) last.append(text);
      else out.append(h("span", { class: stream, "data-stream": stream }, text));
      this.shownChars = (this.shownChars ?? 0) + text.length;
      this.shownLines = (this.shownLines ?? 0) + countLines(text);
    }
    if (this.shownChars > state.limits.shown || this.shownLines > state.limits.lines) {
      this.trimShown();
    }
    if (atBottom) out.scrollTop = out.scrollHeight;
  }

  /** Removes the oldest output from the page (whole lines), down to 3/4 of the limits. */
  trimShown() {
    const maxLines = state.limits.lines * 0.75;
    const maxChars = state.limits.shown * 0.75;
    while (this.shownLines > maxLines || this.shownChars > maxChars) {
      const span = this.output.firstElementChild;
      const node = span?.firstChild;
      if (!node) {
        if (!span) break;
        span.remove();
        continue;
      }
      const text = node.data;
      const needLines = this.shownLines - maxLines;
      const needChars = this.shownChars - maxChars;
      let cut = 0;
      let lines = 0;
      while (cut < text.length && (lines < needLines || cut < needChars)) {
        const newline = text.indexOf("\n", cut);
        if (newline === -1) {
          cut = text.length;
        } else {
          cut = newline + 1;
          lines++;
        }
      }
      if (cut === text.length) node.remove();
      else node.deleteData(0, cut);
      this.shownLines -= lines;
      this.shownChars -= cut;
      if (!span.firstChild) span.remove();
    }
    if (!this.pageTrimmed) {
      this.pageTrimmed = true;
      this.notice(
        "Older output was removed from this page to keep it responsive; Download output has it",
      );
    }
  }

  /** Shows output kept back while the kind of session was unknown; at the end, the rest. */
  flushText(end = true) {
    if (this.pty) return;
    for (const { stream, data } of this.early?.splice(0) ?? []) {
      this.appendText(stream, this.decoders[stream].decode(data, { stream: true }));
    }
    if (!end) return;
    for (const stream of ["stdout", "stderr"]) {
      this.appendText(stream, this.decoders[stream].decode());
    }
    if (this.pending?.length) this.showPending();
  }

  async openTerminal() {
    const [{ Terminal }, { FitAddon }] = await loadXterm();
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    const terminal = new Terminal({
      fontFamily: "ui-monospace, monospace",
      fontSize: 14,
      cursorBlink: true,
      theme: dark ? {} : { background: "#ffffff", foreground: "#1d1f21", cursor: "#1d1f21" },
    });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    this.output.hidden = true;
    this.stdinForm.hidden = true;
    this.terminalBox.hidden = false;
    terminal.open(this.terminalBox);
    this.terminal = terminal;
    this.fit = fit;
    for (const { data } of this.early?.splice(0) ?? []) terminal.write(data);
    // The page that started the process sets the terminal's size. A viewer only watches at its
    // own size until it types: then it takes over, so several viewers never fight over it.
    let controlling = !this.viewer;
    const resize = () => {
      if (controlling && !this.ended) {
        this.proc.resize(terminal.cols, terminal.rows).catch(() => {});
      }
    };
    terminal.onData((data) => {
      if (!controlling) {
        controlling = true;
        resize();
      }
      this.send(data);
    });
    terminal.onResize(resize);
    // The terminal follows the window: the fit addon measures, pow.v2 `resize` tells the pty.
    let pending;
    new ResizeObserver(() => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => {
        if (!this.terminalBox.hidden && this.terminalBox.isConnected) fit.fit();
      });
    }).observe(this.terminalBox);
    fit.fit();
    resize();
    terminal.focus();
  }

  send(text) {
    if (this.ended) return;
    this.proc.write(text).catch((error) => this.notice(`Cannot send: ${error.message}`, true));
  }

  closeInput() {
    this.proc.closeInput().then(
      () => this.notice("Input closed (end of file sent)"),
      (error) => this.notice(`Cannot close input: ${error.message}`, true),
    );
  }

  signal(name) {
    this.proc.signal(name).then(
      () => this.notice(`Sent ${name}`),
      (error) => this.notice(`Cannot send ${name}: ${error.message}`, true),
    );
  }

  gap({ offset, skipped }) {
    this.notice(
      `${skipped} bytes of output were skipped: the server no longer retains them (output resumes at byte ${offset})`,
      true,
    );
  }

  disconnected() {
    if (!this.ended) {
      this.notice(`Connection lost at byte ${this.proc.offset}; reconnecting…`, true);
    }
  }

  reconnected() {
    if (this.ended) return;
    const skipped = this.proc.skipped;
    this.notice(
      `Reconnected and reattached from byte ${this.proc.offset}: ${
        skipped ? `${skipped} bytes skipped in total` : "no bytes skipped"
      }`,
    );
  }

  shown() {
    if (this.terminal) {
      requestAnimationFrame(() => {
        this.fit.fit();
        this.terminal.focus();
      });
    } else if (!this.ended) {
      this.line.focus();
    }
  }

  saveOutput() {
    const blob = new Blob(this.chunks, { type: "application/octet-stream" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `${this.name ?? "session"}-${this.session}.log` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}

globalThis.powConsole = state;
boot();
