/**
 * The call-latency floor server: the least a Deno server can do to answer a pow-1 call of
 * `echo hello` with a connection per call. It upgrades any request offering `pow-1`, and on the
 * first binary frame spawns `echo hello` with `Deno.Command` (piped stdout), sends what it
 * printed in one text frame, the result `{"status":"fulfilled","value":null}` in a binary
 * frame, and closes with 1000. No config, no sessions, no output log, no permission checks.
 *
 * The path chooses how the child is started, so the bench can show what a process group costs:
 * `/` plain, `/setsid` through `/usr/bin/setsid` (pow's spawn when it may run setsid),
 * `/detached` with `detached: true` (pow's spawn otherwise).
 *
 * Run as `deno run -A bench/floor_server.ts`; it prints `Listening on http://127.0.0.1:PORT/`
 * like pow, so `startPow`'s line matching finds it.
 *
 * @module
 */

const encoder = new TextEncoder();
const RESULT = encoder.encode('{"status":"fulfilled","value":null}');

async function answer(socket: WebSocket, mode: string): Promise<void> {
  const command = mode === "setsid"
    ? new Deno.Command("/usr/bin/setsid", { args: ["/usr/bin/echo", "hello"], stdout: "piped" })
    : new Deno.Command("echo", {
      args: ["hello"],
      stdout: "piped",
      detached: mode === "detached",
    });
  const out = await command.output();
  socket.send(new TextDecoder().decode(out.stdout));
  socket.send(RESULT);
  socket.close(1000, "");
}

if (import.meta.main) {
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`Listening on http://127.0.0.1:${port}/`),
  }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol: "pow-1" });
    const mode = new URL(request.url).pathname.slice(1);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      socket.onmessage = null;
      if (typeof event.data !== "string") answer(socket, mode).catch(() => socket.close(1011));
    };
    return response;
  });
}
