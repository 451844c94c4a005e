/**
 * The floor server: the least a Deno server does for what the bench asks of pow, so every pow
 * row can be set against what Deno itself allows. No config, no sessions, no output log, no
 * permission checks. The path chooses the mode:
 *
 * - `/`, `/setsid`, `/detached`: a pow-1 call of `echo hello` with a connection per call. It
 *   upgrades any request offering `pow-1`, and on the first binary frame spawns `echo hello`
 *   with `Deno.Command` (piped stdout), sends what it printed in one text frame, the result
 *   `{"status":"fulfilled","value":null}` in a binary frame, and closes with 1000. `/` spawns
 *   plainly, `/setsid` through `/usr/bin/setsid` (pow's spawn when it may run setsid: a process
 *   group), `/detached` with `detached: true` (pow's spawn otherwise).
 * - `/setsid-quiet`: as `/setsid`, but the close frame waits until the client has been quiet
 *   for 100 ms, as pow-1 must (pow-1's `CLOSE_QUIET_MS`: a `Deno.serve` WebSocket that gets a
 *   data frame after its close frame drops the connection), so the next call of a client that
 *   waits for the close starts on a server that has been idle that long.
 * - `/open-setsid`: the connection stays open; every binary frame spawns `setsid echo hello`
 *   and is answered by the output text frame and the result binary frame: the floor of a pow.v2
 *   call on an open connection.
 * - `/open-frames?n=N`: the connection stays open; every binary frame is answered at once with N
 *   frames and no process: N−1 text frames, then a binary one (1 is a ping's pong; 3 is the
 *   shape of a pow.v2 answer without `inline`: `started`, the output, `exit`).
 * - `/cat?file=PATH` and `/cat-text?file=PATH`: like `websocketd [--binary] cat PATH`, the
 *   connection starts `cat PATH` and its output goes out as it is read, in binary frames (`cat`)
 *   or decoded into text frames (`cat-text`, what pow-1 sends), with the socket's send buffer
 *   kept under 4 MiB (pow's high-water mark); then a close with 1000. The floor of bulk output
 *   through a Deno WebSocket.
 * - `/live`: a pow-1 call of `cat` on the connection's first binary frame, kept alive: the
 *   server spawns `setsid cat` (stdin, stdout and stderr piped, as pow runs a command), writes
 *   every text frame to its stdin, sends what it prints on either stream in text frames (read
 *   256 bytes at a time, pow's smallest read, so a quiet session holds no large buffer), closes
 *   its stdin on any later binary frame (pow-1's `{"signal":"close"}`), and sends the result
 *   frame and closes once it exits. A connection that sends nothing stays an idle upgraded
 *   socket. The floor of the scale workload's memory.
 *
 * Run as `deno run -A bench/floor_server.ts`; it prints `Listening on http://127.0.0.1:PORT/`
 * like pow, so `startPow`'s line matching finds it. With `--with-pow-modules` it first loads
 * pow's code (`main.ts` and everything it imports, not run) and parses `bench/pow.yaml`, then
 * serves the same way: the floor of what pow's module graph alone costs in memory, for the
 * scale workload.
 *
 * @module
 */

const encoder = new TextEncoder();
const RESULT = encoder.encode('{"status":"fulfilled","value":null}');
/** pow-1's `CLOSE_QUIET_MS`. */
const QUIET_MS = 100;
/** pow's `SOCKET_HIGH_WATER`. */
const HIGH_WATER = 4 * 1024 * 1024;

function echo(mode: string): Deno.Command {
  return mode.endsWith("setsid") || mode === "setsid-quiet"
    ? new Deno.Command("/usr/bin/setsid", { args: ["/usr/bin/echo", "hello"], stdout: "piped" })
    : new Deno.Command("echo", {
      args: ["hello"],
      stdout: "piped",
      detached: mode === "detached",
    });
}

async function answer(socket: WebSocket, mode: string): Promise<void> {
  const out = await echo(mode).output();
  socket.send(new TextDecoder().decode(out.stdout));
  socket.send(RESULT);
}

async function drained(socket: WebSocket): Promise<void> {
  for (let i = 0; socket.readyState === WebSocket.OPEN && socket.bufferedAmount > HIGH_WATER; i++) {
    await new Promise((resolve) => setTimeout(resolve, i < 4 ? 0 : 1));
  }
}

async function cat(socket: WebSocket, file: string, text: boolean): Promise<void> {
  const child = new Deno.Command("cat", { args: [file], stdout: "piped" }).spawn();
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    if (socket.readyState !== WebSocket.OPEN) break;
    socket.send(text ? decoder.decode(chunk, { stream: true }) : chunk);
    await drained(socket);
  }
  const status = await child.status;
  socket.close(status.success ? 1000 : 1011, "");
}

/** A pow-1 `cat` session on one connection, as small as Deno allows (see `/live`). */
function live(socket: WebSocket): void {
  let child: Deno.ChildProcess | undefined;
  let stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  socket.onmessage = (event) => {
    if (typeof event.data === "string") {
      stdin?.write(encoder.encode(event.data)).catch(() => {});
      return;
    }
    if (child !== undefined) {
      stdin?.close().catch(() => {});
      return;
    }
    const running = new Deno.Command("/usr/bin/setsid", {
      args: ["/usr/bin/cat"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    child = running;
    stdin = running.stdin.getWriter();
    // Both streams, as pow-1 sends both as text frames.
    const forward = async (stream: ReadableStream<Uint8Array>) => {
      const reader = stream.getReader({ mode: "byob" });
      const decoder = new TextDecoder();
      let buffer = new ArrayBuffer(256);
      while (true) {
        const { value, done } = await reader.read(new Uint8Array(buffer));
        if (done || value === undefined) break;
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(decoder.decode(value, { stream: true }));
        }
        buffer = value.buffer as ArrayBuffer;
      }
    };
    (async () => {
      await Promise.all([forward(running.stdout), forward(running.stderr)]);
      const status = await running.status;
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(status.success ? RESULT : encoder.encode('{"status":"rejected"}'));
      socket.close(1000, "");
    })().catch(() => socket.close(1011));
  };
  socket.onclose = () => {
    try {
      child?.kill("SIGKILL");
    } catch {
      // already gone
    }
  };
}

function serve(request: Request): Response {
  const url = new URL(request.url);
  const mode = url.pathname.slice(1);
  if (mode === "cat" || mode === "cat-text") {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onopen = () => {
      cat(socket, url.searchParams.get("file") ?? "", mode === "cat-text")
        .catch(() => socket.close(1011));
    };
    return response;
  }
  const { socket, response } = Deno.upgradeWebSocket(request, { protocol: "pow-1" });
  socket.binaryType = "arraybuffer";
  if (mode === "live") {
    live(socket);
    return response;
  }
  if (mode === "open-frames") {
    const n = Math.min(Math.max(Number(url.searchParams.get("n")) || 1, 1), 16);
    socket.onmessage = (event) => {
      if (typeof event.data === "string") return;
      for (let i = 1; i < n; i++) socket.send('{"type":"started","id":1}');
      socket.send(RESULT);
    };
    return response;
  }
  if (mode === "open-setsid") {
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") answer(socket, mode).catch(() => socket.close(1011));
    };
    return response;
  }
  let lastFrameAt = 0;
  let answered = false;
  socket.onmessage = (event) => {
    lastFrameAt = Date.now();
    if (answered || typeof event.data === "string") return;
    answered = true;
    answer(socket, mode).then(() => {
      if (mode !== "setsid-quiet") return socket.close(1000, "");
      const tick = () => {
        const quiet = Date.now() - lastFrameAt;
        if (quiet >= QUIET_MS) socket.close(1000, "");
        else setTimeout(tick, QUIET_MS - quiet);
      };
      tick();
    }).catch(() => socket.close(1011));
  };
  return response;
}

if (import.meta.main) {
  if (Deno.args.includes("--with-pow-modules")) {
    await import("../main.ts");
    const { loadConfig } = await import("../server/config.ts");
    await loadConfig(new URL("pow.yaml", import.meta.url).pathname);
  }
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`Listening on http://127.0.0.1:${port}/`),
  }, serve);
}
