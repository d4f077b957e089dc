/**
 * End-to-end helpers: start the real `server.ts` as a child process, and speak to it over a raw
 * `Deno.connect` socket — for the requests a polite client (fetch, curl) would refuse to send.
 *
 * Everything here is bounded: the server must announce its URL within
 * {@linkcode START_TIMEOUT_MS}, every raw exchange ends after its `timeoutMs` (default
 * {@linkcode RAW_TIMEOUT_MS}), and every socket, stream and child is closed or awaited before a
 * function returns, so Deno's resource and op sanitizers stay green.
 *
 * @example
 * ```ts ignore
 * import { rawRequest, startServer } from "./raw.ts";
 * const server = await startServer("/tmp/site", ["--log", "none"]);
 * try {
 *   const r = await rawRequest(server.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
 *   console.log(r.status, r.closed); // 200 true
 * } finally {
 *   await server.stop();
 * }
 * ```
 * @module
 */

/** How long `server.ts` may take to print its URL (first run compiles; CI machines are slow). */
export const START_TIMEOUT_MS = 30_000;
/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
export const STOP_TIMEOUT_MS = 15_000;
/** Default bound of one raw exchange: the hostile corpus promises an answer within 3 s. */
export const RAW_TIMEOUT_MS = 3_000;
/** Most output kept per stream of the child; older text is dropped (a chatty log is fine). */
const MAX_OUTPUT_CHARS = 1 << 20;
/** Read size of a raw exchange. */
const READ_BYTES = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `server.ts` at the root of the repository, found from this file's location. */
export const SERVER_TS = new URL("../../server.ts", import.meta.url).pathname;
const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** A running `server.ts`. */
export interface RunningServer extends AsyncDisposable {
  /** The port it listens on. */
  port: number;
  /** The hostname of the announced URL (`127.0.0.1`, or `::1` without brackets). */
  hostname: string;
  /** The announced base URL, with its trailing slash: `http://127.0.0.1:<port>/`. */
  url: string;
  /** The child process (send it signals, await its `status`). */
  proc: Deno.ChildProcess;
  /**
   * Stops the server: SIGTERM, then SIGKILL after {@linkcode STOP_TIMEOUT_MS}; waits for the
   * process and its output streams. Safe to call more than once, or after the child exited.
   * Resolves to the exit status.
   */
  stop(): Promise<Deno.CommandStatus>;
  /** Everything the server has written to stdout so far (the last MiB of it). */
  stdout(): string;
  /** Everything the server has written to stderr so far (the last MiB of it). */
  stderr(): string;
}

/** Drains a child's stream into a bounded string, so that a chatty server never blocks on a
 * full pipe; resolves when the stream ends. */
async function drain(stream: ReadableStream<Uint8Array>, sink: { text: string }): Promise<void> {
  const dec = new TextDecoder();
  try {
    for await (const chunk of stream) {
      sink.text += dec.decode(chunk, { stream: true });
      if (sink.text.length > MAX_OUTPUT_CHARS) sink.text = sink.text.slice(-MAX_OUTPUT_CHARS);
    }
  } catch { /* the child is gone */ }
}

/** Matches the ready line: `http://127.0.0.1:<port>/` or `http://[::1]:<port>/`. */
const READY = /(https?):\/\/(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):(\d{1,5})\//;

/**
 * Starts `deno run -A server.ts [...extraArgs] 0 DIR` and resolves once it has printed the URL it
 * serves. Throws (after killing the child) if it exits first or stays silent for
 * {@linkcode START_TIMEOUT_MS}; the error carries the child's stderr.
 *
 * @param dir the directory to serve
 * @param extraArgs options placed before `0 DIR`, e.g. `["--log", "none", "--dotfiles"]`
 * @param options `port`: a fixed port instead of 0 (to restart a server where it was);
 * `launch`: another way to start it (an installed or bundled server): the program and its
 * whole argument list, and where to run it; `permissions`: Deno's permission flags instead of
 * `-A`; `env`: variables added to the child's environment
 */
export async function startServer(
  dir: string,
  extraArgs: string[] = [],
  options: {
    port?: number;
    permissions?: string[];
    launch?: { cmd: string; args: string[]; cwd?: string };
    env?: Record<string, string>;
  } = {},
): Promise<RunningServer> {
  const perms = options.permissions ?? ["-A"];
  const launch = options.launch ?? {
    cmd: Deno.execPath(),
    args: ["run", ...perms, SERVER_TS, ...extraArgs, String(options.port ?? 0), dir],
  };
  const proc = new Deno.Command(launch.cmd, {
    args: launch.args,
    cwd: launch.cwd ?? REPO_ROOT,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = { text: "" };
  const err = { text: "" };
  const drained = Promise.all([drain(proc.stdout, out), drain(proc.stderr, err)]);
  let exited = false;
  const status = proc.status.then((s) => {
    exited = true;
    return s;
  });

  let stopping: Promise<Deno.CommandStatus> | undefined;
  const stop = (): Promise<Deno.CommandStatus> => {
    stopping ??= (async () => {
      if (!exited) {
        try {
          proc.kill("SIGTERM");
        } catch { /* exited meanwhile */ }
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killer = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          try {
            proc.kill("SIGKILL");
          } catch { /* exited meanwhile */ }
          resolve();
        }, STOP_TIMEOUT_MS);
      });
      const s = await Promise.race([status, killer.then(() => status)]);
      clearTimeout(timer);
      await drained;
      return s;
    })();
    return stopping;
  };

  // Wait for the ready line, the child's exit, or the start deadline, whichever comes first.
  const deadline = Date.now() + START_TIMEOUT_MS;
  let m: RegExpExecArray | null = null;
  while ((m = READY.exec(out.text)) === null) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(
        `server.ts did not announce its URL (${exited ? "it exited" : "timed out"}); ` +
          `stdout: ${out.text.slice(0, 2000)} stderr: ${err.text.slice(0, 2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const rawHost = m[2];
  const port = Number(m[3]);
  return {
    port,
    hostname: rawHost.replace(/^\[(.*)\]$/, "$1"),
    url: `${m[1]}://${rawHost}:${port}/`,
    proc,
    stop,
    stdout: () => out.text,
    stderr: () => err.text,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/** Options of one raw exchange. */
export interface RawOptions {
  /** The whole exchange (connect, write, read) ends after this. @default RAW_TIMEOUT_MS */
  timeoutMs?: number;
  /** Host to connect to. @default "127.0.0.1" */
  hostname?: string;
  /**
   * Once a complete response (head + Content-Length body) has arrived, wait at most this long
   * for more bytes or the close, then return with `closed: false`. Use it for exchanges where
   * the server may rightly keep the connection open. @default wait until close or timeout
   */
  lingerMs?: number;
  /** Send the request in pieces of this many bytes, one write each. @default one write */
  chunkBytes?: number;
  /** After sending everything, shut down the sending side (a half-close, as `curl` and
   * `nc -N` do): the server must still answer. @default false */
  halfClose?: boolean;
  /** Pause between two pieces (with `chunkBytes`), so that each arrives in a read of its own.
   * @default 0 */
  chunkDelayMs?: number;
}

/** What came back from a raw exchange. */
export interface RawResult {
  /** Every byte received. */
  bytes: Uint8Array;
  /** `bytes` decoded as UTF-8 (invalid sequences replaced). */
  text: string;
  /** The status code of the first response, or 0 if no status line arrived. */
  status: number;
  /** Whether the server closed (EOF or reset) before the exchange ended. */
  closed: boolean;
  /** Whether the server reset the connection (ECONNRESET / EPIPE) rather than closing cleanly. */
  reset: boolean;
  /** Whether the timeout ended the exchange. */
  timedOut: boolean;
  /** How long the exchange took, in ms. */
  ms: number;
}

/** One response cut out of raw bytes. */
export interface RawResponse {
  /** Status code. */
  status: number;
  /** The head, as text (status line and fields, without the final empty line). */
  head: string;
  /** Body bytes (as many as Content-Length says, or the rest when it says nothing). */
  body: Uint8Array;
}

function headEnd(b: Uint8Array, from: number): number {
  for (let i = from; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i + 4;
  }
  return -1;
}

/**
 * Splits raw bytes into the responses they hold, using Content-Length to find each body (a
 * response without one takes the rest). Stops at an incomplete response.
 *
 * @param bytes what a raw exchange received
 * @param options `headOnly`: the requests were HEAD, so no response carries a body
 */
export function splitResponses(
  bytes: Uint8Array,
  options: { headOnly?: boolean } = {},
): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = headEnd(bytes, at);
    if (end === -1) break;
    const head = decoder.decode(bytes.subarray(at, end - 4));
    const m = /^HTTP\/\d\.\d (\d{3})/.exec(head);
    if (m === null) break;
    const status = Number(m[1]);
    const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    const noBody = options.headOnly || status === 204 || status === 304 ||
      (status >= 100 && status < 200);
    const length = noBody ? 0 : cl === null ? bytes.length - end : Number(cl[1]);
    if (end + length > bytes.length) break;
    out.push({ status, head, body: bytes.subarray(end, end + length) });
    at = end + length;
  }
  return out;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const all = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return all;
}

function isReset(e: unknown): boolean {
  return e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionAborted;
}

/**
 * Sends `request` (bytes, or text encoded as UTF-8 — use bytes for anything else) on a new
 * connection to `127.0.0.1:port`, then reads until the server closes, the timeout passes, or
 * (with `lingerMs`) a complete response has been followed by silence. Never throws for what
 * the server does (a reset is reported as `closed` and `reset`); throws only if it cannot
 * connect. The socket is always closed and no read is left pending.
 *
 * @param port the server's port
 * @param request the raw bytes to send, exactly as given
 * @param options timeout, host, linger and chunking
 */
export async function rawRequest(
  port: number,
  request: Uint8Array | string,
  options: RawOptions = {},
): Promise<RawResult> {
  const timeoutMs = options.timeoutMs ?? RAW_TIMEOUT_MS;
  const started = performance.now();
  const data = typeof request === "string" ? encoder.encode(request) : request;
  const conn = await Deno.connect({ hostname: options.hostname ?? "127.0.0.1", port });
  const parts: Uint8Array[] = [];
  let total = 0;
  let closed = false;
  let reset = false;
  let timedOut = false;

  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  // Ops left in flight when the exchange ends; awaited after the socket is closed.
  const pending: Promise<unknown>[] = [];
  const race = async <T>(p: Promise<T>, extra?: Promise<"linger">) => {
    pending.push(p.catch(() => undefined));
    return await Promise.race(extra === undefined ? [p, expired] : [p, expired, extra]);
  };

  try {
    // Writer: runs beside the reader, so a server that answers before reading everything (414,
    // 431) is heard even while the rest of the request is still being pushed.
    const step = options.chunkBytes ?? data.length;
    const writer = (async () => {
      try {
        for (let off = 0; off < data.length; off += step) {
          if (off > 0 && options.chunkDelayMs) {
            await new Promise((r) => setTimeout(r, options.chunkDelayMs));
          }
          const piece = data.subarray(off, Math.min(data.length, off + step));
          let w = 0;
          while (w < piece.length) w += await conn.write(piece.subarray(w));
        }
        if (options.halfClose) await conn.closeWrite();
      } catch (e) {
        if (isReset(e)) reset = true;
      }
    })();
    pending.push(writer);

    const buf = new Uint8Array(READ_BYTES);
    for (;;) {
      let linger: Promise<"linger"> | undefined;
      let lingerTimer: ReturnType<typeof setTimeout> | undefined;
      if (options.lingerMs !== undefined && total > 0) {
        const got = concat(parts, total);
        if (splitResponses(got).length > 0) {
          linger = new Promise((resolve) => {
            lingerTimer = setTimeout(() => resolve("linger"), options.lingerMs);
          });
        }
      }
      let r: number | null | "timeout" | "linger";
      try {
        r = await race(conn.read(buf), linger);
      } catch (e) {
        if (isReset(e)) {
          closed = reset = true;
          break;
        }
        throw e;
      } finally {
        clearTimeout(lingerTimer);
      }
      if (r === "timeout") {
        timedOut = true;
        break;
      }
      if (r === "linger") break;
      if (r === null) {
        closed = true;
        break;
      }
      parts.push(buf.slice(0, r));
      total += r;
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* already closed */ }
    await Promise.all(pending);
  }
  const bytes = concat(parts, total);
  const text = decoder.decode(bytes);
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(text);
  return {
    bytes,
    text,
    status: m === null ? 0 : Number(m[1]),
    closed,
    reset,
    timedOut,
    ms: performance.now() - started,
  };
}

/**
 * A plain `GET path` with `Connection: close` on a new connection: the probe that proves the
 * server is still serving after something hostile.
 */
export async function plainGet(port: number, path: string, options: RawOptions = {}) {
  return await rawRequest(
    port,
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    options,
  );
}
