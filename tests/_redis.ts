/**
 * A real Redis server for tests: `redis-server` on a free loopback port, without persistence,
 * stopped (and its data gone) when the test is done.
 *
 * @module
 */

/** A running Redis server. */
export interface TestRedis {
  /** Its URL, e.g. `redis://127.0.0.1:41234`. */
  readonly url: string;
  /** Its port. */
  readonly port: number;
  /** Stops it (SIGKILL; waits until it has exited). */
  stop(): Promise<void>;
  /** Starts it again on the same port (after `stop`). */
  restart(): Promise<void>;
  /** Runs a `redis-cli` command and returns its output. */
  cli(...args: string[]): Promise<string>;
}

/** Whether `redis-server` is installed. */
export const hasRedis: boolean = (() => {
  try {
    return Deno.statSync("/usr/bin/redis-server").isFile;
  } catch {
    return false;
  }
})();

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function ping(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    conn.close();
    return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  }
}

/**
 * Starts `redis-server` on a free port.
 *
 * @returns The running server.
 */
export async function startRedis(): Promise<TestRedis> {
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command("redis-server", {
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 500 && !(await ping(port)); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (!child) return;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      child = undefined;
    },
    restart: start,
    async cli(...args: string[]) {
      const out = await new Deno.Command("redis-cli", {
        args: ["-p", String(port), ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout).trim();
    },
  };
}
