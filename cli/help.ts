/**
 * `pow help` (or `--help`): the overview of every command.
 *
 * @module
 */

/** The overview printed by `help`. */
export const HELP = `pow: Process Over WebSocket

Usage:
  deno run -A main.ts [serve] [options]    Serve the configured processes
  deno run -A main.ts permissions [options] Print the Deno permission flags a config needs
  deno run -A main.ts hash-token [TOKEN]    Print the config hash of a token (a new random
                                           token when none is given, or "-" to read stdin)
  deno run -A main.ts call --url URL NAME [PARAMS...]
                                           Run a process of a pow server like a local
                                           command (see "call --help")
  deno run -A main.ts list --url URL        List a pow server's processes (see "list --help")
  deno run -A main.ts sessions --url URL    List your sessions on a pow server
  deno run -A main.ts attach --url URL ID   Follow a session's output from the start
  deno run -A main.ts cancel --url URL ID   Cancel a session
  deno run -A main.ts version               Print the version (also --version)
  deno run -A main.ts help                  Show this help (also --help)

Options:
  -c, --config FILE     YAML configuration (default: the embedded demo config)
      --host HOST       Address to listen on (default: 127.0.0.1)
  -p, --port PORT       Port to listen on; 0 picks a free one (default: 8028)
      --base-path PATH  Path to serve under (default: /)
      --cert FILE       TLS certificate (PEM); with --key, serve HTTPS and WSS
      --key FILE        TLS private key (PEM); with --cert
  -h, --help            Show this help

Once listening, serve prints one line: "Listening on http://HOST:PORT/".
SIGINT or SIGTERM stops it: running sessions are cancelled and their processes end.
`;

/**
 * Runs `help`.
 *
 * @returns The exit code, 0.
 */
export function helpCommand(): number {
  console.log(HELP);
  return 0;
}
