/**
 * The servers under test — Ferry and its peers — started once per run on 127.0.0.1, health-
 * checked, and stopped (SIGTERM, then SIGKILL) at the end.
 *
 * @module
 */

import { drain, sleep, spawn, stop } from "./proc.ts";

/** How long a server gets from spawn to answering `GET /4k` (Ferry's first start compiles). */
const START_TIMEOUT_MS = 30_000;
/** Time limit of one health-check request. */
const PROBE_TIMEOUT_MS = 2_000;
/** A health-check response bigger than this is not our 4 KiB file. */
const PROBE_MAX_BYTES = 64 * 1024;

/** Which program a server is. */
export type Kind = "ferry" | "nginx" | "lighttpd" | "python" | "floor";

/** One server configuration under test. */
export interface ServerSpec {
  /** Key for `--only` and JSON: `ferry`, `ferry-log-text`, `nginx-nosendfile`, ... */
  id: string;
  /** Row name in the tables. */
  label: string;
  kind: Kind;
  /** Ferry `--workers`. @default 1 */
  workers?: number;
  /** Ferry `--log`. @default "none" */
  log?: "none" | "text";
  /** nginx `sendfile`. */
  sendfile?: boolean;
  /** Bytes per write of the floor's large bodies (bench/floor.ts `CHUNK`). */
  floorChunk?: number;
}

/** Every configuration the benchmark knows; Ferry's plain one is the reference row. */
export const SPECS: readonly ServerSpec[] = [
  { id: "ferry", label: "ferry", kind: "ferry" },
  { id: "ferry-log-text", label: "ferry --log text", kind: "ferry", log: "text" },
  { id: "ferry-w2", label: "ferry --workers 2", kind: "ferry", workers: 2 },
  { id: "nginx", label: "nginx (sendfile on)", kind: "nginx", sendfile: true },
  { id: "nginx-nosendfile", label: "nginx (sendfile off)", kind: "nginx", sendfile: false },
  { id: "lighttpd", label: "lighttpd", kind: "lighttpd" },
  { id: "python", label: "python http.server", kind: "python" },
  { id: "deno-floor", label: "deno floor (bench/floor.ts)", kind: "floor" },
];

/** What every server start needs to know. */
export interface ServerContext {
  /** The repository (where server.ts lives). */
  repo: string;
  /** Document root: the generated files. */
  root: string;
  /** A private temp dir for configs, pid files and logs. */
  tmp: string;
  /** Open-file limit to give each server. */
  nofile: number;
  /** Connections each server must accept at once (idle workload + a few). */
  maxConnections: number;
}

/** A server that answered its health check. */
export interface RunningServer {
  spec: ServerSpec;
  port: number;
  /** Pid of the server process itself (for /proc/PID/status). */
  pid: number;
  /** The command line, for the report. */
  command: string;
  /** `http://127.0.0.1:PORT` + path. */
  url(path: string): string;
  stop(): Promise<void>;
  /** Why the server is gone when it exited before {@linkcode RunningServer.stop}. */
  exitReason(): string | undefined;
}

/** A server that could not be started, with the reason. */
export interface FailedServer {
  spec: ServerSpec;
  unavailable: string;
}

/** The outcome of {@linkcode startServer}. */
export type StartedServer = RunningServer | FailedServer;

/** Whether a start succeeded. */
export function isRunning(s: StartedServer | undefined): s is RunningServer {
  return s !== undefined && "port" in s;
}

/** A port that was free a moment ago: listen on port 0, note the port, close. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * One `GET path` with `Connection: close` on a new connection; the status code and the number
 * of bytes after the head. Never throws: a failure gives status 0.
 */
export async function httpGet(
  port: number,
  path: string,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<{ status: number; bodyBytes: number }> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const req = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(req));
    const buf = new Uint8Array(PROBE_MAX_BYTES + 1);
    let n = 0;
    while (n < buf.length) { // bounded: the buffer fills or EOF / timeout ends it
      const r = await conn.read(buf.subarray(n));
      if (r === null) break;
      n += r;
    }
    const text = new TextDecoder("latin1").decode(buf.subarray(0, n));
    const end = text.indexOf("\r\n\r\n");
    const status = Number(text.match(/^HTTP\/1\.[01] (\d{3})/)?.[1] ?? 0);
    return { status, bodyBytes: end < 0 ? 0 : n - end - 4 };
  } catch {
    return { status: 0, bodyBytes: 0 };
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed by the timer */ }
  }
}

/** Polls `GET /4k` until it gives 200 and 4096 bytes, the process exits, or the deadline. */
async function waitHealthy(port: number, exited: () => boolean): Promise<string | undefined> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = "no answer";
  while (Date.now() < deadline) { // bounded by the deadline
    if (exited()) return "exited during start-up";
    const r = await httpGet(port, "/4k");
    if (r.status === 200 && r.bodyBytes === 4096) return undefined;
    last = r.status ? `GET /4k gave ${r.status} with ${r.bodyBytes} bytes` : "no answer";
    await sleep(100);
  }
  return `not healthy after ${START_TIMEOUT_MS / 1000} s (${last})`;
}

function nginxConf(ctx: ServerContext, spec: ServerSpec, port: number): string {
  const t = `${ctx.tmp}/${spec.id}`;
  return `daemon off;
master_process off;
worker_processes 1;
pid ${t}.pid;
error_log ${t}.error.log;
events { worker_connections ${ctx.nofile}; }
http {
  access_log off;
  sendfile ${spec.sendfile ? "on" : "off"};
  tcp_nopush on;
  keepalive_timeout 120s;
  keepalive_requests 100000;
  server { listen 127.0.0.1:${port}; root "${ctx.root}"; }
}
`;
}

function lighttpdConf(ctx: ServerContext, spec: ServerSpec, port: number): string {
  const t = `${ctx.tmp}/${spec.id}`;
  return `server.document-root = "${ctx.root}"
server.port = ${port}
server.bind = "127.0.0.1"
server.pid-file = "${t}.pid"
server.errorlog = "${t}.error.log"
mimetype.assign = ( "" => "application/octet-stream" )
server.max-keep-alive-requests = 100000
server.max-keep-alive-idle = 120
# Not in a minimal config, but without them lighttpd caps connections far below the idle
# workload (its default max-fds is 4096): the same limits as given to nginx and Ferry, except
# that lighttpd allows at most max-fds / 2 connections.
server.max-fds = ${ctx.nofile}
server.max-connections = ${Math.min(ctx.maxConnections, Math.floor(ctx.nofile / 2))}
`;
}

/** Program and arguments of a server; Ferry with port 0 unless a port is given. */
function commandOf(spec: ServerSpec, ctx: ServerContext, port: number): [string, string[]] {
  switch (spec.kind) {
    case "ferry":
      return ["deno", [
        "run",
        "-A",
        `${ctx.repo}/server.ts`,
        "--log",
        spec.log ?? "none",
        "--host",
        "127.0.0.1",
        ...(spec.workers ? ["--workers", String(spec.workers)] : []),
        // Same limits as the peers' configs (keepalive_timeout 120s, keepalive_requests
        // 100000, worker_connections) — Ferry's defaults (30 s, 1,000, 10,000) are lower.
        "--idle-timeout",
        "120",
        "--max-requests",
        "100000",
        "--max-connections",
        String(ctx.maxConnections),
        // Every load generator here connects from 127.0.0.1; the peers have no such cap.
        "--max-connections-per-ip",
        "0",
        String(port),
        ctx.root,
      ]];
    case "nginx":
      return ["nginx", [
        "-e",
        `${ctx.tmp}/${spec.id}.error.log`,
        "-c",
        `${ctx.tmp}/${spec.id}.conf`,
        "-p",
        `${ctx.tmp}/`,
      ]];
    case "lighttpd":
      return ["lighttpd", ["-D", "-f", `${ctx.tmp}/${spec.id}.conf`]];
    case "floor":
      return ["deno", [
        "run",
        "-A",
        `${ctx.repo}/bench/floor.ts`,
        String(port),
        ...(spec.floorChunk ? [String(spec.floorChunk)] : []),
      ]];
    case "python":
      return ["python3", [
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        String(port),
        "--directory",
        ctx.root,
      ]];
  }
}

/** Last line of a log file or text, for an "unavailable" reason. */
function lastLine(text: string): string {
  const lines = text.trim().split("\n").map((l) => l.trim()).filter(Boolean);
  return (lines.at(-1) ?? "").slice(0, 200);
}

/**
 * Starts one server, waits until it serves `/4k`, and returns it — or the reason it failed
 * (after stopping whatever was started). Ferry gets port 0 and its printed URL is parsed, except
 * `--log text`, whose stdout goes to /dev/null: that one gets a free port and is polled.
 */
export async function startServer(spec: ServerSpec, ctx: ServerContext): Promise<StartedServer> {
  const parsePort = spec.kind === "ferry" && spec.log !== "text";
  const port = parsePort ? 0 : freePort();
  if (spec.kind === "nginx") {
    await Deno.writeTextFile(`${ctx.tmp}/${spec.id}.conf`, nginxConf(ctx, spec, port));
  }
  if (spec.kind === "lighttpd") {
    await Deno.writeTextFile(`${ctx.tmp}/${spec.id}.conf`, lighttpdConf(ctx, spec, port));
  }
  const [cmd, args] = commandOf(spec, ctx, port);
  const logFile = spec.kind === "ferry" ? undefined : `${ctx.tmp}/${spec.id}.out.log`;
  let child: Deno.ChildProcess;
  try {
    child = spawn(cmd, args, {
      nofile: ctx.nofile,
      logFile,
      stdout: spec.kind === "ferry" && parsePort ? "piped" : "null",
      stderr: spec.kind === "ferry" ? "piped" : "null",
    });
  } catch (e) {
    return { spec, unavailable: `cannot start ${cmd}: ${(e as Error).message}` };
  }
  let exited: Deno.CommandStatus | undefined;
  let stopping = false;
  child.status.then((st) => exited = st);
  let out = "", err = "";
  const urlSeen = Promise.withResolvers<number>();
  if (spec.kind === "ferry") {
    if (parsePort) {
      drain(child.stdout, 4096, (t) => {
        out = (out + t).slice(-4096);
        const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
        if (m) urlSeen.resolve(Number(m[1]));
      }).catch(() => {});
    }
    drain(child.stderr, 4096, (t) => err = (err + t).slice(-4096)).catch(() => {});
  }
  const fail = async (why: string) => {
    await stop(child);
    const log = logFile ? await Deno.readTextFile(logFile).catch(() => "") : err || out;
    const tail = lastLine(log);
    return { spec, unavailable: tail ? `${why}: ${tail}` : why };
  };
  let actualPort = port;
  if (parsePort) {
    const timeout = sleep(START_TIMEOUT_MS).then(() => -1);
    const gone = child.status.then(() => -2);
    actualPort = await Promise.race([urlSeen.promise, timeout, gone]);
    if (actualPort === -1) {
      return await fail(`printed no http://127.0.0.1:PORT/ line in ${START_TIMEOUT_MS / 1000} s`);
    }
    if (actualPort === -2) return await fail(`exited (code ${(await child.status).code})`);
  }
  const unhealthy = await waitHealthy(actualPort, () => exited !== undefined);
  if (unhealthy) return await fail(unhealthy);
  return {
    spec,
    port: actualPort,
    pid: child.pid,
    command: [cmd, ...args].join(" "),
    url: (path: string) => `http://127.0.0.1:${actualPort}${path}`,
    stop: () => {
      stopping = true;
      return stop(child);
    },
    exitReason: () => {
      if (!exited || stopping) return undefined;
      const how = exited.signal ? `killed by ${exited.signal}` : `exited with code ${exited.code}`;
      let log = err || out;
      try {
        if (logFile) log = Deno.readTextFileSync(logFile).slice(-4096);
      } catch { /* no log */ }
      const tail = lastLine(log);
      return `server ${how} during the run${tail ? ` (${tail})` : ""}`;
    },
  };
}
