/**
 * Helpers for the tests with the real HAProxy: the configuration (the one README's "Running
 * several instances" shows), HAProxy started and stopped by PID, replicas copied with `cp -p`,
 * and a throttling TCP relay that slows a download enough to act in the middle of it.
 *
 * @module
 */

import { join } from "node:path";
import { peerPath } from "./peers.ts";

/** How long HAProxy gets to accept connections, and to stop. */
const HAPROXY_START_MS = 10_000;
const HAPROXY_STOP_MS = 5_000;

/** The source address HAProxy connects to the instances from: the client (127.0.0.1) and the
 * proxy then differ in the logs, and `--trusted-proxy 127.0.0.2` trusts the proxy only. */
export const PROXY_SOURCE = "127.0.0.2";

/** A port free right now (bound and released: HAProxy cannot report one it picked). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The HAProxy configuration: TCP mode with send-proxy-v2, or HTTP mode with X-Forwarded-For;
 * health checks on /healthz every 200 ms, down after 2 failures. */
export function haproxyConfig(o: {
  mode: "tcp" | "http";
  port: number;
  servers: number[];
  balance?: "roundrobin" | "first";
}): string {
  const proxy = o.mode === "tcp" ? " send-proxy-v2" : "";
  return `global
    maxconn 256

defaults
    mode ${o.mode}
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch${o.mode === "http" ? "\n    option forwardfor" : ""}

frontend ferry_front
    bind 127.0.0.1:${o.port}
    default_backend ferry

backend ferry
    balance ${o.balance ?? "roundrobin"}
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host ferry
    http-check expect status 200
    default-server check inter 200ms fall 2 rise 2 source ${PROXY_SOURCE}${proxy}
${o.servers.map((p, i) => `    server ferry${i + 1} 127.0.0.1:${p}`).join("\n")}
`;
}

/** A running HAProxy. */
export interface RunningHaproxy {
  port: number;
  proc: Deno.ChildProcess;
  /** What it wrote to stderr so far (server state changes: "Server ferry/ferry1 is DOWN"). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `haproxy -db -f <config in dir>` and waits until its port accepts connections. */
export async function startHaproxy(dir: string, config: string, port: number) {
  const file = join(dir, "haproxy.cfg");
  await Deno.writeTextFile(file, config);
  const bin = peerPath("haproxy")!;
  // -db: foreground, no daemon, so the PID is the child's; checked first with -c.
  const check = await new Deno.Command(bin, { args: ["-c", "-f", file], stderr: "piped" })
    .output();
  if (check.code !== 0) {
    throw new Error(`haproxy -c: ${new TextDecoder().decode(check.stderr)}\n${config}`);
  }
  const proc = new Deno.Command(bin, {
    args: ["-db", "-f", file],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const err = { text: "" };
  const reading = (async () => {
    const dec = new TextDecoder();
    try {
      for await (const c of proc.stderr) err.text = (err.text + dec.decode(c)).slice(-100_000);
    } catch { /* gone */ }
  })();
  let exited = false;
  const status = proc.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        proc.kill("SIGTERM");
      } catch { /* gone */ }
    }
    const timer = setTimeout(() => {
      try {
        proc.kill("SIGKILL");
      } catch { /* gone */ }
    }, HAPROXY_STOP_MS);
    await status;
    clearTimeout(timer);
    await reading;
  };
  const until = Date.now() + HAPROXY_START_MS;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (exited || Date.now() > until) {
        await stop();
        throw new Error(`haproxy did not listen on ${port}: ${err.text}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return { port, proc, stderr: () => err.text, stop } satisfies RunningHaproxy;
}

/** Copies `src` to a new temp dir with `cp -p -R` (size and mtime preserved, as rsync -a). */
export async function replica(src: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-replica-" });
  const r = await new Deno.Command("cp", { args: ["-p", "-R", `${src}/.`, dir] }).output();
  if (r.code !== 0) throw new Error(`cp -p failed: ${new TextDecoder().decode(r.stderr)}`);
  return dir;
}

/** Writes `size` random bytes to `path`; resolves to their sha-256 (hex). */
export async function randomFile(path: string, size: number): Promise<string> {
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = new Uint8Array(1 << 20);
  for (let done = 0; done < size; done += block.length) {
    const b = block.subarray(0, Math.min(block.length, size - done));
    for (let j = 0; j < b.length; j += 65536) crypto.getRandomValues(b.subarray(j, j + 65536));
    hash.update(b);
    for (let off = 0; off < b.length;) off += await f.write(b.subarray(off));
  }
  return hash.digest("hex");
}

/**
 * A TCP relay on a free port to `127.0.0.1:target` that passes at most `bytesPerSecond`
 * downstream (upstream unthrottled): a slow link, so that a test can act mid-download.
 */
export function throttledRelay(target: number, bytesPerSecond: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks: Promise<void>[] = [];
  const closeAll = (...cs: Deno.Conn[]) => {
    for (const c of cs) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  const pipe = async (from: Deno.Conn, to: Deno.Conn, rate: number) => {
    const buf = new Uint8Array(64 * 1024);
    const started = performance.now();
    let sent = 0;
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
        sent += n;
        if (rate > 0) {
          const ahead = sent / rate * 1000 - (performance.now() - started);
          if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
        }
      }
    } catch { /* either side gone */ }
    closeAll(from, to);
  };
  const accepting = (async () => {
    for await (const c of listener) {
      conns.add(c);
      tasks.push((async () => {
        let up: Deno.Conn;
        try {
          up = await Deno.connect({ hostname: "127.0.0.1", port: target });
        } catch {
          closeAll(c);
          return;
        }
        conns.add(up);
        await Promise.all([pipe(c, up, 0), pipe(up, c, bytesPerSecond)]);
        conns.delete(c);
        conns.delete(up);
      })());
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      try {
        listener.close();
      } catch { /* closed */ }
      closeAll(...conns);
      await accepting;
      await Promise.all(tasks);
    },
  };
}
