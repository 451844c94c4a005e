/**
 * `pow hash-token`: prints the config hash of a token (a new random token when none is given,
 * or the token read from stdin with `-`).
 *
 * ```sh
 * deno run -A main.ts hash-token [TOKEN | -]
 * ```
 *
 * @module
 */

import { hashToken, MAX_TOKEN_LENGTH, newToken } from "../mod.ts";
import { EXIT_USAGE } from "./_common.ts";

/**
 * Runs `hash-token`.
 *
 * @param args The arguments after `hash-token`.
 * @returns The exit code.
 */
export async function hashTokenCommand(args: string[]): Promise<number> {
  if (args.length > 1) {
    console.error("pow: hash-token takes at most one token\nRun with --help for usage.");
    return EXIT_USAGE;
  }
  let token = args[0];
  if (token === "-") {
    token = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
  }
  if (token === undefined) {
    token = newToken();
    console.log(`token: ${token}`);
  }
  if (token.length < 16) {
    console.error("pow: a token must be at least 16 characters long");
    return EXIT_USAGE;
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    console.error(`pow: a token must be at most ${MAX_TOKEN_LENGTH} characters long`);
    return EXIT_USAGE;
  }
  console.log(`hash:  ${hashToken(token)}`);
  return 0;
}
