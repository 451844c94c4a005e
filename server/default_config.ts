/**
 * The embedded default configuration: a small, safe demo set served by `deno run -A main.ts`
 * when no `--config` is given. No demo process runs code given by the client.
 *
 * @module
 */

import { parseConfig, type PowConfig } from "./config.ts";
import { defineProcess, type ProcessDefinition } from "./process.ts";

/** The YAML part of the default configuration (commands). */
export const DEFAULT_CONFIG_YAML: string = `# pow's embedded demo configuration
server:
  host: 127.0.0.1
  port: 8028
  basePath: /
processes:
  count:
    description: Print the numbers 1..N
    command: [seq, "1", "{1}"]
    params:
      - { name: n, description: How far to count, pattern: "[0-9]{1,7}" }
    timeout: 30s
  greet:
    description: Greet someone on stdout, complain on stderr, and exit with status 3
    command: [sh, -c, 'echo "hello $1"; echo "to stderr" >&2; exit 3', sh, "{1}"]
    params: [{ name: who, pattern: "[A-Za-z0-9 ._-]{1,64}" }]
    cwd: /tmp
    env: { GREETING: hi }
  cat:
    description: Copy stdin to stdout until stdin closes
    command: [cat]
  wc:
    description: Count the bytes of stdin once it closes
    command: [wc, -c]
  yes:
    description: Print a word over and over (long output; cancel it or let it time out)
    command: [yes, "{1}"]
    params: [{ name: word, pattern: "[A-Za-z0-9]{1,32}" }]
    timeout: 1m
  sleep:
    description: Sleep for a number of seconds, then exit 0
    command: [sleep, "{1}"]
    params: [{ name: seconds, pattern: "[0-9]{1,3}(\\\\.[0-9]{1,3})?" }]
  exit:
    description: Exit with the given status, after a line on stderr
    command: [sh, -c, 'echo "exiting with status $1" >&2; exit "$1"', sh, "{1}"]
    params: [{ name: status, pattern: "[0-9]{1,3}" }]
  terminal:
    description: >-
      A line reader for a terminal: echoes each line, reports the terminal size when it
      changes (it never runs what you type); Ctrl-C or Ctrl-D ends it
    command:
      - sh
      - -c
      - |
        trap 'r=1; echo "resized to $(stty size 2>/dev/null) (rows cols)"' WINCH
        printf '\\033[1;32mpow terminal\\033[0m: type a line and press Enter; Ctrl-C or Ctrl-D ends\\n'
        echo "terminal size $(stty size 2>/dev/null) (rows cols)"
        while :; do
          r=
          if IFS= read -r line; then
            printf 'you typed \\033[1;36m%s\\033[0m\\n' "$line"
          elif [ -z "$r" ]; then
            break
          fi
        done
    pty: true
    timeout: 10m
  date:
    description: Print the date, in UTC or local time
    command: [date, "{1}"]
    params: [{ name: zone, enum: ["-u", "-R"] }]
`;

/**
 * The TypeScript processes of the default configuration: `echo` (the pow-1 example server's
 * process: copies stdin to stdout, and its result is the params) and `ticker`.
 *
 * @returns The processes by name.
 */
export function defaultFunctionProcesses(): Record<string, ProcessDefinition> {
  return {
    echo: defineProcess({
      description: "Copy stdin to stdout until stdin closes; the result is the params",
      params: [{ name: "params", variadic: true }],
      async run({ params, paramsOmitted, stdin, stdout }) {
        await stdin.pipeTo(stdout, { preventClose: true });
        // Like the original example server: a call without params echoes null.
        return paramsOmitted ? null : params;
      },
    }),
    ticker: defineProcess({
      description: "Print a numbered line every interval, N times; the result is N",
      params: [
        { name: "n", pattern: "[0-9]{1,4}" },
        { name: "ms", pattern: "[0-9]{1,5}", optional: true },
      ],
      async run(context) {
        const { params, write } = context;
        const n = Number(params[0]);
        const ms = Number(params[1] ?? "1000");
        for (let i = 1; i <= n; i++) {
          await write(`tick ${i}\n`);
          if (i < n) {
            // The signal is made when first read: a one-line call does without it.
            const { signal } = context;
            signal.throwIfAborted();
            await new Promise((resolve, reject) => {
              const timer = setTimeout(resolve, ms);
              signal.addEventListener("abort", () => {
                clearTimeout(timer);
                reject(signal.reason);
              }, { once: true });
            });
          }
        }
        return n;
      },
    }),
  };
}

/**
 * The whole default configuration.
 *
 * @example
 * ```ts
 * import { defaultConfig } from "./default_config.ts";
 * import assert from "node:assert/strict";
 *
 * const config = defaultConfig();
 * assert.equal(config.server.port, 8028);
 * assert.ok("echo" in config.processes && "count" in config.processes);
 * ```
 *
 * @returns The configuration `deno run -A main.ts` serves.
 */
export function defaultConfig(): PowConfig {
  const config = parseConfig(DEFAULT_CONFIG_YAML, { file: "<default config>" });
  config.processes = { ...defaultFunctionProcesses(), ...config.processes };
  return config;
}
