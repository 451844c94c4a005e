import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { type CliError, parseCommandLine, serverUrl } from "./_common.ts";

const SPEC = {
  url: { type: "string" },
  pty: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

Deno.test("parseCommandLine stops at the first positional: the rest are params, dashes included", () => {
  deepStrictEqual(parseCommandLine(["--url", "ws://x/", "date", "-u", "--pty"], SPEC, true), {
    values: { url: "ws://x/" },
    positionals: ["date", "-u", "--pty"],
  });
  deepStrictEqual(parseCommandLine(["--url=ws://x/", "--pty", "--", "-n"], SPEC, true), {
    values: { url: "ws://x/", pty: true },
    positionals: ["-n"],
  });
  deepStrictEqual(parseCommandLine(["a", "-h", "b"], SPEC), {
    values: { help: true },
    positionals: ["a", "b"],
  });
});

Deno.test("parseCommandLine names a bad option in balanced quotes, with exit code 2", () => {
  for (
    const [args, message] of [
      [["-u"], 'unknown option "-u"'],
      [["--url"], 'option "--url" needs a value'],
      [["--pty=yes"], 'option "--pty" takes no value'],
    ] as const
  ) {
    throws(() => parseCommandLine([...args], SPEC), (error: CliError) => {
      deepStrictEqual([error.message, error.exitCode], [message, 2]);
      return true;
    });
  }
});

Deno.test("serverUrl accepts ws, wss, http and https URLs and refuses the rest", () => {
  equal(serverUrl("ws://127.0.0.1:8028/").href, "ws://127.0.0.1:8028/");
  equal(serverUrl("https://pow.example/base/").href, "wss://pow.example/base/");
  throws(() => serverUrl("ftp://x/"), /expected a ws:, wss:, http: or https: URL/);
  throws(() => serverUrl("127.0.0.1:8028"), /expected a URL such as ws:\/\/127\.0\.0\.1:8028\//);
  throws(() => serverUrl(undefined), /--url is required/);
});
