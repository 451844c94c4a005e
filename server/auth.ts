/**
 * Authentication and origin checks, shared by every front end.
 *
 * Tokens are declared in the config by their SHA-256 hash only (`main.ts hash-token` prints
 * one). A client presents its token as `Authorization: Bearer <token>`; browsers, which cannot
 * set headers on a WebSocket, offer the subprotocol entry `pow.token.<base64url token>` or a
 * short-lived single-use ticket from `POST /tickets`, passed as `?ticket=`.
 *
 * @module
 */

import { hostnameOf } from "./_remote.ts";
import { equalStrings, sha256Hex } from "./_sha256.ts";
import type { Caller } from "./process.ts";

/** A token declared in the config. */
export interface TokenSpec {
  /** The caller's identity: sessions belong to it, `allow` lists name it. */
  name: string;
  /** `sha256:` followed by the hex SHA-256 of the token. */
  hash: string;
  /** Roles, for `allow` lists. */
  roles?: string[];
}

/** Authentication settings. */
export interface AuthConfig {
  /** The accepted tokens. With none, every caller is `anonymous`. */
  tokens: TokenSpec[];
  /** Whether callers without a token are let in as `anonymous` even though tokens exist. */
  anonymous: boolean;
  /** Milliseconds a ticket from `POST /tickets` stays valid. @default {30000} */
  ticketTtl: number;
  /** Unused, unexpired tickets one caller may hold at a time. @default {100} */
  ticketsPerCaller?: number;
}

/** Options for {@linkcode Authenticator.authenticate}. */
export interface AuthenticateOptions {
  /**
   * Whether a `?ticket=` is accepted: only for WebSocket upgrades and server-sent event
   * streams, which browsers cannot give headers. @default {false}
   */
  ticket?: boolean;
  /** The current time in milliseconds, for tests. @default {Date.now()} */
  now?: number;
}

/** Where a cluster keeps its tickets, so that any node redeems a ticket any node issued. */
export interface SharedTickets {
  /**
   * Records a ticket.
   *
   * @param ticket The ticket.
   * @param caller Who it stands for.
   * @param ttl Milliseconds it stays valid.
   */
  put(ticket: string, caller: Caller, ttl: number): Promise<void>;
  /**
   * Takes a ticket: returns its caller once, atomically across the cluster.
   *
   * @param ticket The ticket.
   * @returns Its caller, or `undefined` when it is unknown, used or expired.
   */
  take(ticket: string): Promise<Caller | undefined>;
}

/** Options for {@linkcode Authenticator}. */
export interface AuthenticatorOptions {
  /** Tickets shared by the nodes of a cluster. @default {tickets are this node's own} */
  sharedTickets?: SharedTickets;
}

/** Options for {@linkcode Authenticator.issueTicket}. */
export interface IssueTicketOptions {
  /** The current time in milliseconds, for tests. @default {Date.now()} */
  now?: number;
}

const TOKEN_PROTOCOL = "pow.token.";

/**
 * The longest token accepted, in characters. Every token shown is hashed before it is compared,
 * so a longer one is refused unhashed: a stranger's 400 KB header would otherwise cost the
 * server milliseconds of hashing per request.
 */
export const MAX_TOKEN_LENGTH = 1024;

/**
 * Hashes a token the way the config stores it.
 *
 * @example
 * ```ts
 * import { hashToken } from "./auth.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   hashToken("s3cret"),
 *   "sha256:1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0",
 * );
 * ```
 *
 * @param token The token.
 * @returns `sha256:<hex>`.
 */
export function hashToken(token: string): string {
  return `sha256:${sha256Hex(token)}`;
}

/**
 * Makes a random token: 32 URL-safe characters (192 bits).
 *
 * @returns The token.
 */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

/**
 * Decides who is calling, from a request's token, subprotocol token or ticket.
 *
 * @example
 * ```ts
 * import { Authenticator, hashToken } from "./auth.ts";
 * import assert from "node:assert/strict";
 *
 * const auth = new Authenticator({
 *   tokens: [{ name: "alice", hash: hashToken("t0k"), roles: ["ops"] }],
 *   anonymous: false,
 *   ticketTtl: 30_000,
 * });
 * const caller = auth.authenticate(
 *   new Request("http://x/", { headers: { authorization: "Bearer t0k" } }),
 * );
 * assert.deepEqual(caller, { id: "alice", roles: ["ops"], address: undefined });
 * const refused = auth.authenticate(new Request("http://x/"));
 * assert.ok(refused instanceof Response && refused.status === 401);
 * ```
 */
export class Authenticator {
  #config: AuthConfig;
  #shared: SharedTickets | undefined;
  /** Outstanding tickets in the order they were issued, so also in order of expiry. */
  #tickets = new Map<string, { caller: Caller; expires: number }>();
  /** Outstanding tickets per caller id. */
  #perCaller = new Map<string, number>();

  /**
   * Creates an authenticator.
   *
   * @param config Tokens and policy.
   */
  constructor(config: AuthConfig, options: AuthenticatorOptions = {}) {
    this.#config = config;
    this.#shared = options.sharedTickets;
  }

  /**
   * Like {@linkcode Authenticator.authenticate}, and with shared tickets (a cluster) a ticket
   * issued by any node is redeemed here, once across the whole cluster.
   *
   * @param request The request.
   * @param info Connection info, for the remote address.
   * @param options Whether a ticket is accepted here.
   * @returns The caller, or a 401 (or 503 when the shared store cannot be reached) response.
   */
  async authenticateShared(
    request: Request,
    info?: Deno.ServeHandlerInfo,
    options: AuthenticateOptions = {},
  ): Promise<Caller | Response> {
    const ticket = ticketOf(request.url);
    if (ticket === null || !this.#shared || !options.ticket) {
      return this.authenticate(request, info, options);
    }
    let caller: Caller | undefined;
    try {
      caller = await this.#shared.take(ticket);
    } catch (error) {
      return new Response(
        `cannot check the ticket: the cluster store is unavailable (${(error as Error).message})`,
        { status: 503, headers: { "content-type": "text/plain; charset=utf-8" } },
      );
    }
    // Issued here too: forget the local copy, which only counts against the caller's bound.
    const entry = this.#tickets.get(ticket);
    if (entry) this.#forget(ticket, entry.caller.id);
    if (!caller) return unauthorized("invalid or expired ticket");
    const address = hostnameOf(info);
    return { ...caller, address };
  }

  /**
   * Like {@linkcode Authenticator.issueTicket}, and with shared tickets also records the ticket
   * where every node of the cluster can redeem it.
   *
   * @param caller Who the ticket stands for.
   * @returns The ticket and its lifetime in seconds.
   * @throws {RangeError} When the caller already holds `ticketsPerCaller` unused tickets.
   * @throws {Error} When the shared store cannot be reached.
   */
  async issueTicketShared(caller: Caller): Promise<{ ticket: string; expiresIn: number }> {
    const issued = this.issueTicket(caller);
    if (!this.#shared) return issued;
    try {
      const { id, roles } = caller;
      await this.#shared.put(issued.ticket, roles ? { id, roles } : { id }, this.#config.ticketTtl);
    } catch (error) {
      this.#forget(issued.ticket, caller.id);
      throw error;
    }
    return issued;
  }

  /** Whether any token is required. */
  get required(): boolean {
    return this.#config.tokens.length > 0 && !this.#config.anonymous;
  }

  /** Tickets issued and neither used nor swept away yet. */
  get outstandingTickets(): number {
    return this.#tickets.size;
  }

  /**
   * Establishes the caller of a request.
   *
   * @param request The request.
   * @param info Connection info, for the remote address.
   * @param options Whether a ticket is accepted here.
   * @returns The caller, or a 401 response.
   */
  authenticate(
    request: Request,
    info?: Deno.ServeHandlerInfo,
    options: AuthenticateOptions = {},
  ): Caller | Response {
    const address = hostnameOf(info);
    const ticket = ticketOf(request.url);
    if (ticket !== null) {
      const now = options.now ?? Date.now();
      this.#sweep(now);
      // A ticket is used up by any request that shows it, refused or not.
      const entry = this.#tickets.get(ticket);
      if (entry) this.#forget(ticket, entry.caller.id);
      if (!options.ticket) {
        return unauthorized("tickets are accepted only for WebSocket upgrades and event streams");
      }
      if (entry && entry.expires > now) return { ...entry.caller, address };
      return unauthorized("invalid or expired ticket");
    }
    const token = bearer(request) ?? subprotocolToken(request);
    if (token !== undefined) {
      if (token.length > MAX_TOKEN_LENGTH) {
        return unauthorized(`invalid token: longer than ${MAX_TOKEN_LENGTH} characters`);
      }
      const hash = hashToken(token);
      for (const spec of this.#config.tokens) {
        if (equalStrings(spec.hash, hash)) {
          return { id: spec.name, roles: spec.roles ?? [], address };
        }
      }
      return unauthorized("invalid token");
    }
    if (!this.required) return { id: "anonymous", address };
    return unauthorized(
      "authentication required: send Authorization: Bearer <token>, a pow.token.* subprotocol or a ticket",
    );
  }

  /**
   * Issues a single-use ticket for a caller, for browsers opening a WebSocket.
   *
   * Expired tickets are swept from the front of the issue-ordered map, so issuing costs O(1)
   * amortized however many tickets are outstanding.
   *
   * @param caller Who the ticket stands for.
   * @param options The clock, for tests.
   * @returns The ticket and its lifetime in seconds.
   * @throws {RangeError} When the caller already holds `ticketsPerCaller` unused tickets.
   */
  issueTicket(
    caller: Caller,
    options: IssueTicketOptions = {},
  ): { ticket: string; expiresIn: number } {
    const now = options.now ?? Date.now();
    this.#sweep(now);
    const max = this.#config.ticketsPerCaller ?? 100;
    const held = this.#perCaller.get(caller.id) ?? 0;
    if (held >= max) {
      throw new RangeError(
        `Cannot issue a ticket to "${caller.id}": ${max} unused tickets are outstanding`,
      );
    }
    const ticket = newToken();
    this.#tickets.set(ticket, { caller, expires: now + this.#config.ticketTtl });
    this.#perCaller.set(caller.id, held + 1);
    return { ticket, expiresIn: this.#config.ticketTtl / 1000 };
  }

  /** Drops expired tickets from the front; the map is in order of expiry (one fixed TTL). */
  #sweep(now: number): void {
    for (const [key, entry] of this.#tickets) {
      if (entry.expires > now) break;
      this.#forget(key, entry.caller.id);
    }
  }

  #forget(ticket: string, callerId: string): void {
    this.#tickets.delete(ticket);
    const left = (this.#perCaller.get(callerId) ?? 1) - 1;
    if (left > 0) this.#perCaller.set(callerId, left);
    else this.#perCaller.delete(callerId);
  }
}

/**
 * Checks the `Origin` of a request (a WebSocket upgrade or a REST call): allowed when absent,
 * when its host equals `Host`, or when it is in the allow list (`"*"` allows every origin).
 *
 * @example
 * ```ts
 * import { checkOrigin } from "./auth.ts";
 * import assert from "node:assert/strict";
 *
 * const request = (origin: string) =>
 *   new Request("http://pow.local/", { headers: { origin, host: "pow.local" } });
 * assert.equal(checkOrigin(request("http://pow.local"), []), undefined);
 * assert.equal(checkOrigin(request("https://evil.example"), [])?.status, 403);
 * assert.equal(checkOrigin(request("https://app.example"), ["https://app.example"]), undefined);
 * ```
 *
 * @param request The request.
 * @param allowed Origins allowed besides same-origin requests.
 * @returns `undefined` when allowed, else a 403 response.
 */
export function checkOrigin(request: Request, allowed: readonly string[]): Response | undefined {
  const origin = request.headers.get("origin");
  if (origin === null) return undefined;
  if (allowed.includes(origin) || allowed.includes("*")) return undefined;
  let host: string | undefined;
  try {
    host = new URL(origin).host;
  } catch {
    host = undefined;
  }
  // Host names are case-insensitive; the URL parser lower-cases the origin's.
  if (host !== undefined && host === request.headers.get("host")?.toLowerCase()) return undefined;
  return new Response(`origin not allowed: ${origin}`, {
    status: 403,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * Guards anonymous servers against DNS rebinding: a page on another site that makes its own
 * domain name resolve to the server's address would pass the same-origin check. Without
 * tokens, pow therefore serves only requests whose `Host` is an IP address, `localhost`, or a
 * name listed in `server.hosts`.
 *
 * @example
 * ```ts
 * import { checkHost } from "./auth.ts";
 * import assert from "node:assert/strict";
 *
 * const request = (host: string) => new Request(`http://${host}/`, { headers: { host } });
 * assert.equal(checkHost(request("127.0.0.1:8028"), []), undefined);
 * assert.equal(checkHost(request("localhost:8028"), []), undefined);
 * assert.equal(checkHost(request("[::1]:8028"), []), undefined);
 * assert.equal(checkHost(request("evil.example:8028"), [])?.status, 403);
 * assert.equal(checkHost(request("pow.internal"), ["pow.internal"]), undefined);
 * ```
 *
 * @param request The request.
 * @param allowed Host names allowed besides IP addresses and `localhost`.
 * @returns `undefined` when allowed, else a 403 response.
 */
export function checkHost(request: Request, allowed: readonly string[]): Response | undefined {
  const header = request.headers.get("host") ?? new URL(request.url).host;
  let hostname = hostnames.get(header);
  if (hostname === undefined) {
    try {
      hostname = new URL(`http://${header}`).hostname;
    } catch {
      hostname = header.toLowerCase();
    }
    // Clients send the same few Host values: each is parsed once (a URL parse per request
    // otherwise), and the cache stays small whatever strangers send.
    if (hostnames.size >= 256) hostnames.clear();
    hostnames.set(header, hostname);
  }
  if (
    hostname === "localhost" || hostname.endsWith(".localhost") ||
    /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) || hostname.startsWith("[") ||
    allowed.some((name) => name === "*" || name.toLowerCase() === hostname)
  ) return undefined;
  return new Response(
    `host not allowed: ${hostname} (without tokens, pow serves only IP addresses, localhost and the names in server.hosts)`,
    { status: 403, headers: { "content-type": "text/plain; charset=utf-8" } },
  );
}

function bearer(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

function subprotocolToken(request: Request): string | undefined {
  const offered = request.headers.get("sec-websocket-protocol");
  if (!offered) return undefined;
  for (const entry of offered.split(",")) {
    const value = entry.trim();
    if (!value.startsWith(TOKEN_PROTOCOL)) continue;
    const b64 = value.slice(TOKEN_PROTOCOL.length).replaceAll("-", "+").replaceAll("_", "/");
    try {
      const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
      return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    } catch {
      return "";
    }
  }
  return undefined;
}

function unauthorized(problem: string): Response {
  return new Response(problem, {
    status: 401,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "www-authenticate": 'Bearer realm="pow"',
    },
  });
}

/** Host header values and their host names, for {@linkcode checkHost}. */
const hostnames = new Map<string, string>();

/**
 * The `ticket` query parameter of a request URL, without parsing a URL that has no query (most
 * requests, every plain WebSocket upgrade).
 */
function ticketOf(url: string): string | null {
  return url.includes("?") ? new URL(url).searchParams.get("ticket") : null;
}
