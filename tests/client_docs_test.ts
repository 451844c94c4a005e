// Copyright the pow authors. MIT license.
/**
 * The client as a new user meets it: docs/client.md's first snippet runs as written against the
 * demo server (`deno run -A main.ts`), and `client/mod.ts` can be imported from a folder outside
 * the repository, by path or `file:` URL, with no import map or config.
 */

import { deepStrictEqual, equal, match } from "node:assert/strict";

const root = new URL("..", import.meta.url);
const MAIN = new URL("main.ts", root).pathname;
const CLIENT = new URL("client/mod.ts", root);

/** Starts `deno run -A main.ts --port 0` and returns its port. */
async function startDemo() {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--port", "0"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const port = /Listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(text)?.[1];
  if (port === undefined) throw new Error(`unexpected output ${JSON.stringify(text)}`);
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await reader.cancel();
    },
  };
}

/** Runs `source` as a file in a fresh folder outside the repository, without any config. */
async function runOutside(
  source: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "pow-outside-" });
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, source);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", "main.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The first TypeScript snippet of docs/client.md. */
async function firstSnippet(): Promise<string> {
  const doc = await Deno.readTextFile(new URL("docs/client.md", root));
  const snippet = /```ts[^\n]*\n([\s\S]*?)```/.exec(doc)?.[1];
  if (snippet === undefined) throw new Error("docs/client.md has no ts snippet");
  return snippet;
}

Deno.test("docs/client.md's first snippet runs as written against the demo server", async () => {
  await using demo = await startDemo();
  const snippet = (await firstSnippet())
    .replace('from "@pow/client"', `from "${CLIENT.href}"`)
    .replace("ws://127.0.0.1:8028/", `ws://127.0.0.1:${demo.port}/`);
  const { code, stdout, stderr } = await runOutside(snippet);
  equal(code, 0, stderr);
  deepStrictEqual(stdout.split("\n").filter(Boolean), [
    "1",
    "2",
    "3",
    '{ status: "fulfilled", value: null, exitCode: 0 }',
  ]);
});

Deno.test("client/mod.ts imports from a folder outside the repository by path and by file: URL", async () => {
  for (const specifier of [CLIENT.pathname, CLIENT.href]) {
    const { code, stdout, stderr } = await runOutside(`
import { handshakeFor, PowClient } from "${specifier}";
import { FakeServer } from "${new URL("client/testing.ts", root).href}";
const server = new FakeServer();
const client = new PowClient("ws://pow.test/", { WebSocket: server.WebSocket });
await client.ready();
console.log(client.state, handshakeFor("pow.v2", "t", "subprotocol").protocols.join(" "));
await client.close();
`);
    equal(code, 0, `${specifier}: ${stderr}`);
    equal(stdout, "open pow.v2 pow.token.dA\n");
  }
});

Deno.test("a placeholder token is named as the cause, not a closed connection", async () => {
  await using demo = await startDemo();
  const { stdout, stderr } = await runOutside(`
import { PowClient } from "${CLIENT.href}";
const client = new PowClient("ws://127.0.0.1:${demo.port}/", { token: "…" });
console.log(await client.ready().then(() => "open", (error) => error.message));
`);
  match(stdout, /the token is not a valid HTTP header value/, stderr);
});
