/**
 * Runs processes of a pow server with `@pow/client` (Deno, Node 22+, Bun).
 *
 * ```sh
 * deno run -A main.ts &                       # the demo server on 127.0.0.1:8028
 * deno run -A examples/client_deno.ts ws://127.0.0.1:8028/
 * ```
 *
 * @module
 */

import { PowClient, RemoteError } from "../client/mod.ts";

const url = Deno.args[0] ?? "ws://127.0.0.1:8028/";
await using client = new PowClient(url, {
  onClose: ({ code, reconnecting }) =>
    console.error(`(connection closed ${code}, ${reconnecting ? "reconnecting" : "for good"})`),
});

// What can I run?
for (const p of await client.processes()) console.log(`${p.name}: ${p.description ?? ""}`);

// Output streamed as it comes, then the exit code.
const count = client.start("count", ["5"]);
for await (const chunk of count.stdout) await Deno.stdout.write(chunk);
console.log("count:", await count.result);

// stdin, half-close, stdout and stderr apart.
const cat = client.start("cat");
await cat.write("written to stdin\n");
await cat.closeInput();
const { stdout, result } = await cat.output();
console.log("cat said:", new TextDecoder().decode(stdout).trim(), result);

// Refusals are RemoteErrors with a code.
try {
  await client.start("count", ["not a number"]).result;
} catch (error) {
  if (error instanceof RemoteError) console.log(`refused: ${error.code}: ${error.message}`);
}
