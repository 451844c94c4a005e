/**
 * Running pow for real (docs/deploy.md): the example config is valid and serves its processes to
 * a token holder once its hash is put in, and the `deno compile` recipe makes a binary that
 * serves and runs processes.
 */
import assert from "node:assert/strict";
import { hashToken, loadConfig } from "../mod.ts";
import { startServerProcess } from "./_helpers.ts";

const root = new URL("..", import.meta.url).pathname;
const MAIN = `${root}main.ts`;
const EXAMPLE = `${root}examples/pow.yaml`;

/** Starts a server command in the repository's root. */
function start(command: string, args: string[]) {
  return startServerProcess(command, args, { cwd: root });
}

/** Runs a process over the native REST API and returns its final SessionInfo with output. */
async function runProcess(url: URL, name: string, params: string[], token?: string) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const started = await fetch(new URL("api/v2/sessions", url), {
    method: "POST",
    headers,
    body: JSON.stringify({ name, params }),
  });
  const body = await started.json();
  assert.equal(started.status, 201, JSON.stringify(body));
  while (true) {
    const response = await fetch(new URL(`api/v2/sessions/${body.session}?offset=0`, url), {
      headers,
    });
    const info = await response.json();
    if (info.state === "fulfilled" || info.state === "rejected") return info;
  }
}

Deno.test("examples/pow.yaml is valid and serves its processes once a token hash is put in", async () => {
  const config = await loadConfig(EXAMPLE);
  assert.deepEqual(Object.keys(config.processes), ["disk", "count", "bytes", "restart"]);
  assert.equal(config.auth.tokens.length, 1);

  // As it is: it starts, and nobody gets in (the placeholder hash matches no token).
  const asIs = await start(Deno.execPath(), [
    "run",
    "-A",
    MAIN,
    "--config",
    EXAMPLE,
    "--port",
    "0",
  ]);
  const refused = await fetch(new URL("api/v2/processes", asIs.url));
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  assert.equal((await asIs.stop()).code, 0);

  // With a real token's hash in place of the placeholder, as the file says.
  const token = "a-token-for-the-deploy-test";
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  const yaml = await Deno.readTextFile(EXAMPLE);
  await Deno.writeTextFile(file, yaml.replace(/sha256:0{64}/, hashToken(token)));
  const server = await start(Deno.execPath(), ["run", "-A", MAIN, "--config", file, "--port", "0"]);
  try {
    const count = await runProcess(server.url, "count", ["3"], token);
    assert.equal(count.state, "fulfilled");
    assert.deepEqual(count.output.chunks, [{ stream: "stdout", offset: 0, data: "1\n2\n3\n" }]);
    const restart = await runProcess(server.url, "restart", ["web"], token);
    assert.deepEqual(restart.output.chunks[0].data, "would restart web\n");
  } finally {
    assert.equal((await server.stop()).code, 0);
    await Deno.remove(file);
  }
});

/** Where `deno compile` finds its runtime, if it can without the network. */
function denortAvailable(): boolean {
  if (Deno.env.get("DENORT_BIN")) return true;
  const next = Deno.execPath().replace(/deno$/, "denort");
  const info = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .outputSync();
  const denoDir: string = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
  const cached = `${denoDir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  for (const file of [next, cached]) {
    try {
      Deno.statSync(file);
      return true;
    } catch {
      // not there
    }
  }
  return false;
}

Deno.test({
  name: "deno compile makes a single binary that serves and runs processes (docs/deploy.md)",
  // Compiling needs denort: cached in DENO_DIR after one online compile, or DENORT_BIN.
  ignore: !denortAvailable(),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const compiled = await new Deno.Command(Deno.execPath(), {
        args: ["compile", "-A", "--output", `${dir}/pow`, "main.ts"],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(compiled.code, 0, new TextDecoder().decode(compiled.stderr));
      const server = await start(`${dir}/pow`, ["--config", EXAMPLE, "--port", "0"]);
      try {
        assert.equal((await fetch(new URL("api/v2/processes", server.url))).status, 401);
        const css = await fetch(new URL("docs/swagger-ui.css", server.url));
        assert.equal(css.status, 200, "Swagger UI is in the binary");
        await css.body?.cancel();
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
      const demo = await start(`${dir}/pow`, ["--port", "0"]);
      try {
        const exit = await runProcess(demo.url, "exit", ["3"]);
        assert.deepEqual([exit.state, exit.result.exitCode], ["rejected", 3]);
        const count = await runProcess(demo.url, "count", ["2"]);
        assert.equal(count.output.chunks[0].data, "1\n2\n");
      } finally {
        assert.equal((await demo.stop()).code, 0);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
