/**
 * Connecting the client commands (`call`, `list`, `sessions`, `attach`, `cancel`) to a server,
 * with a diagnosis of what went wrong. Apart from `_common.ts` so that `serve`, which shares
 * that file's parsing, does not load the client (docs/benchmarks.md, "Round twelve").
 *
 * @module
 */

import { ConnectionError, PowClient, type PowClientOptions } from "../client/mod.ts";
import { CliError, EXIT_AUTH, EXIT_CONNECTION } from "./_common.ts";

/**
 * Connects to a pow server and waits for the connection, or explains why it failed.
 *
 * @param url The WebSocket URL.
 * @param token The token.
 * @param options More client options (callbacks, reconnect policy).
 * @returns The connected client.
 * @throws {CliError} 77 when authentication is required or refused; 69 when the server cannot
 * be reached or is not a pow server.
 */
export async function connect(
  url: URL,
  token: string | undefined,
  options: PowClientOptions = {},
): Promise<PowClient> {
  const client = new PowClient(url, { token, retryFirstConnect: false, ...options });
  try {
    await client.ready();
    return client;
  } catch (error) {
    await client.close();
    throw await diagnose(url, token, error);
  }
}

async function diagnose(url: URL, token: string | undefined, error: unknown): Promise<CliError> {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof ConnectionError)) return new CliError(message, EXIT_CONNECTION);
  const status = /Invalid status code: (\d{3})/.exec(message)?.[1];
  if (status === "401") {
    return new CliError(
      token === undefined
        ? "authentication required: use --token or POW_TOKEN"
        : "authentication failed: the server refused the token (--token or POW_TOKEN)",
      EXIT_AUTH,
    );
  }
  if (/chose subprotocol/.test(message)) {
    return new CliError(
      `${url.href} is not a pow server: it does not speak the pow.v2 protocol`,
      EXIT_CONNECTION,
    );
  }
  if (status !== undefined) {
    // Ask over plain HTTP: a pow server explains itself, anything else is not one.
    const http = new URL(url);
    http.protocol = url.protocol === "wss:" ? "https:" : "http:";
    let body = "";
    try {
      const response = await fetch(http, { signal: AbortSignal.timeout(5000) });
      body = (await response.text()).slice(0, 200);
    } catch { /* the body is only a hint */ }
    if (/this endpoint speaks pow|subprotocol/.test(body)) {
      return new CliError(
        `the server refused the connection: HTTP ${status}: ${body.trim()}`,
        EXIT_CONNECTION,
      );
    }
    return new CliError(
      `${url.href} is not a pow server: it answered the WebSocket handshake with HTTP ${status}`,
      EXIT_CONNECTION,
    );
  }
  return new CliError(message, EXIT_CONNECTION);
}
