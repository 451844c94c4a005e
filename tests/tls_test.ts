/**
 * End-to-end tests of TLS: `server.tls` (and `main.ts --cert/--key`) serve HTTPS and WSS on one
 * port. A self-signed certificate for 127.0.0.1 is made with `openssl` at test time; without
 * `openssl` the tests are skipped with a message.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hashToken } from "../mod.ts";
import { startServer } from "./_helpers.ts";

const hasOpenssl = await new Deno.Command("openssl", { args: ["version"], stdout: "null" })
  .output().then((o) => o.success, () => false);
if (!hasOpenssl) console.warn("openssl not found: skipping the TLS tests");

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A self-signed certificate for localhost and 127.0.0.1 in a temporary directory. */
async function selfSigned(): Promise<{ dir: string; cert: string; key: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "pow-tls-" });
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const made = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      // A leaf, not a CA: rustls refuses a CA certificate as the server's own (CaUsedAsEndEntity).
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-days",
      "1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
  return {
    dir,
    cert,
    key,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A subprocess that opens a WSS connection trusting `cert`, and prints what it got. */
const WSS_CLIENT = `
const [url, token] = Deno.args;
const ws = new WebSocket(url, { protocols: ["pow.v2"], headers: { authorization: "Bearer " + token } });
const got = [];
ws.onmessage = ({ data }) => {
  if (typeof data !== "string") return got.at(-1) === "data" || got.push("data");
  const message = JSON.parse(data);
  got.push(message.type);
  if (message.type === "hello") ws.send(JSON.stringify({ type: "start", id: 1, name: "count", params: ["3"] }));
  if (message.type === "exit") ws.close();
};
ws.onclose = () => console.log(JSON.stringify({ protocol: ws.protocol, got }));
`;

async function wssClient(cert: string, url: string, token: string): Promise<unknown> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--cert", cert, WSS_CLIENT, url, token],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test({
  name: "server.tls serves HTTPS and WSS on the same port",
  ignore: !hasOpenssl,
  async fn() {
    await using files = await selfSigned();
    await using server = await startServer({
      configure(config) {
        config.server.tls = { cert: files.cert, key: files.key };
        config.auth.tokens = [{ name: "alice", hash: hashToken("alice-token") }];
      },
    });
    assert.equal(server.url.protocol, "https:");
    const certPem = await Deno.readTextFile(files.cert);
    using client = Deno.createHttpClient({ caCerts: [certPem] });
    const response = await fetch(new URL("api/v2/processes", server.url), {
      client,
      headers: { authorization: "Bearer alice-token" },
    });
    assert.equal(response.status, 200);
    const names = (await response.json()).processes.map((p: { name: string }) => p.name);
    assert.ok(names.includes("count"));
    // Without trusting the certificate, nothing is served.
    await assert.rejects(fetch(new URL("openapi.json", server.url)));
    // WSS on the same port, the pow.v2 front end end to end.
    const wss = server.url.href.replace(/^https/, "wss");
    assert.deepEqual(await wssClient(files.cert, wss, "alice-token"), {
      protocol: "pow.v2",
      got: ["hello", "started", "data", "exit"],
    });
  },
});

Deno.test({
  name:
    "main.ts --cert and --key serve HTTPS; one without the other or an unreadable file is an error",
  ignore: !hasOpenssl,
  async fn() {
    await using files = await selfSigned();
    const alone = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--port", "0", "--cert", files.cert],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(alone.code, 2);
    assert.match(new TextDecoder().decode(alone.stderr), /--cert and --key go together/);
    const missing = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "--port",
        "0",
        "--cert",
        `${files.dir}/nope.pem`,
        "--key",
        files.key,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(missing.code, 2);
    assert.match(
      new TextDecoder().decode(missing.stderr),
      /^pow: TLS cert ".*\/nope\.pem" cannot be read: No such file or directory/,
    );

    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--port", "0", "--cert", files.cert, "--key", files.key],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const match = /^Listening on (https:\/\/127\.0\.0\.1:\d+\/)\n$/.exec(text);
    assert.ok(match, `unexpected first output ${JSON.stringify(text)}`);
    using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(files.cert)] });
    const response = await fetch(new URL("api/v2/processes", match[1]), { client });
    assert.equal(response.status, 200);
    assert.ok((await response.json()).processes.length > 0);
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await reader.cancel();
    await child.stderr.cancel();
  },
});
