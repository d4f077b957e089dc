/**
 * Real servers for the client's end-to-end tests — nginx, `python3 -m http.server`, Ferry's own
 * server.ts — each started on a free 127.0.0.1 port in a temp prefix and stopped (killed and
 * awaited) by its disposer. A test whose peer is missing fails when CI=true (where .ci/run
 * installs every peer) and is skipped with a printed reason elsewhere.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { havePeer, peerPath } from "../e2e/peers.ts";

/** The one peer finder of the test suite, re-exported for the client's tests. */
export { havePeer, peerPath };

/** A port that was free a moment ago (listen on 0, close). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Waits until 127.0.0.1:port accepts a connection: at most `ms`, polling every 50 ms. */
export async function waitForPort(port: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

/** A running peer server. */
export interface Peer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  port: number;
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
  await child.status;
}

async function started(child: Deno.ChildProcess, port: number, what: string): Promise<Peer> {
  try {
    await waitForPort(port);
  } catch (e) {
    await stop(child);
    throw new Error(`${what} did not start: ${(e as Error).message}`);
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    [Symbol.asyncDispose]: () => stop(child),
  };
}

/** Starts nginx (single process, no daemon) serving `root` from a temp prefix; `extra`:
 * directives added to its server block. */
export async function startNginx(root: string, prefix: string, extra = ""): Promise<Peer> {
  const port = freePort();
  const conf = join(prefix, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    `daemon off; master_process off; worker_processes 1;
pid ${prefix}/nginx.pid; error_log ${prefix}/err.log;
events {}
http { access_log off; server { listen 127.0.0.1:${port}; root ${root}; ${extra} } }
`,
  );
  const child = new Deno.Command(peerPath("nginx")!, {
    args: ["-c", conf, "-p", prefix, "-e", join(prefix, "err.log")],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return await started(child, port, "nginx");
}

/** Starts `python3 -m http.server` on 127.0.0.1 serving `root`. */
export async function startPython(root: string): Promise<Peer> {
  const port = freePort();
  const child = new Deno.Command(peerPath("python3")!, {
    args: ["-m", "http.server", "--bind", "127.0.0.1", "--directory", root, String(port)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return await started(child, port, "python3 -m http.server");
}

/** Path of Ferry's server.ts, or null while it does not exist. */
export function ferryServerPath(): string | null {
  const p = fileURLToPath(new URL("../../server.ts", import.meta.url));
  try {
    return Deno.statSync(p).isFile ? p : null;
  } catch {
    return null;
  }
}

/** Starts Ferry's own `server.ts --log none 0 root` and reads its URL from stdout. */
export async function startFerry(root: string): Promise<Peer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ferryServerPath()!, "--log", "none", "0", root],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let port = 0;
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  try {
    for (let i = 0; i < 100 && port === 0; i++) {
      const r = await reader.read();
      if (r.done) break;
      text += r.value;
      port = Number(/http:\/\/127\.0\.0\.1:(\d+)\//.exec(text)?.[1] ?? 0);
    }
  } finally {
    clearTimeout(timer);
  }
  // Keep draining stdout so the server never blocks on a full pipe; ends when it exits.
  const drain = (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* cancelled */ }
  })();
  const dispose = async () => {
    await stop(child);
    await drain;
  };
  if (port === 0) {
    await dispose();
    throw new Error(`server.ts printed no URL: ${JSON.stringify(text.slice(0, 300))}`);
  }
  return { origin: `http://127.0.0.1:${port}`, port, [Symbol.asyncDispose]: dispose };
}
