/**
 * The pow server for the bench's TypeScript-function rows and the watchers workload: the
 * embedded demo config (its function process `ticker`), served like
 * `deno run -A main.ts --port 0`, with the session limits lifted. Every bench client is the
 * anonymous caller and a finished session lingers (`sessions.linger`): at the default of 500
 * (`sessions.maxPerCaller`) every call after the 500th would remove the oldest delivered one
 * first, which the rows of earlier rounds did not do. Every bench client also
 * connects from 127.0.0.1: the connection limits are lifted as in `bench/pow.yaml` (the
 * watchers workload holds 1,000 watcher connections, plus those that start sessions, against a
 * default of 1,000 per address). It prints the same `Listening on` line as `main.ts`.
 *
 * Run as `deno run -A bench/demo_server.ts`.
 *
 * @module
 */

import { createServer, defaultConfig, listen } from "../mod.ts";
import { frontEnds } from "../server/front_ends.ts";

if (import.meta.main) {
  const config = defaultConfig();
  config.server.host = "127.0.0.1";
  config.server.port = 0;
  config.sessions.max = 100_000;
  config.sessions.maxPerCaller = 100_000;
  config.limits.startsPerMinute = 100_000;
  config.limits.connections = 20_000;
  config.limits.connectionsPerAddress = 20_000;
  const server = await listen(createServer(config, { frontEnds }));
  Deno.addSignalListener("SIGTERM", () => server.shutdown().then(() => Deno.exit(0)));
}
