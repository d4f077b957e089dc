/**
 * Holds N idle keep-alive connections to a server, for the idle-connections workload. Run as its
 * own process (so that its sockets count against its own open-file limit, raised by the bench):
 *
 * `deno run -A bench/idle_holder.ts PORT COUNT [BATCH] [DEADLINE_S] [STALL_PATH]`
 *
 * Opens COUNT connections, BATCH at a time; on each sends one `GET /4k HTTP/1.1` and reads the
 * whole response, then leaves the socket open and idle. With STALL_PATH, sends `GET STALL_PATH`
 * instead and reads nothing at all (a stalled reader); `count` then reports every connection. Prints one JSON line
 * `{"held":N,"failed":N,"error":"…","ms":N}` when done, then answers each stdin line:
 * `count` → `{"open":N}` (connections the server has not closed), `close` (or EOF) → closes all
 * and exits. Exits on its own after DEADLINE_S seconds whatever happens.
 *
 * @module
 */

/** Per-connection limit for connect + request + response. */
const CONN_TIMEOUT_MS = 10_000;
/** A response head longer than this is not a server's answer to `GET /4k`. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");

interface Held {
  conn: Deno.TcpConn;
  open: boolean;
}

/** Connects, sends one request, reads the full response (Content-Length framed). */
async function openOne(port: number, stallPath?: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (stallPath !== undefined) {
    await conn.write(enc.encode(`GET ${stallPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    return conn;
  }
  const timer = setTimeout(() => conn.close(), CONN_TIMEOUT_MS);
  try {
    await conn.write(enc.encode(`GET /4k HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    const buf = new Uint8Array(MAX_RESPONSE_BYTES);
    let n = 0;
    let want = -1; // total bytes of head + body, once the head is known
    while (n < buf.length && (want < 0 || n < want)) { // bounded by the buffer size
      const r = await conn.read(buf.subarray(n));
      if (r === null) throw new Error("closed before the response ended");
      n += r;
      if (want < 0) {
        const text = dec.decode(buf.subarray(0, n));
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) continue;
        const status = text.match(/^HTTP\/1\.[01] (\d{3})/)?.[1];
        if (status !== "200") throw new Error(`status ${status ?? "?"}`);
        const len = text.slice(0, end).match(/\r\ncontent-length:\s*(\d+)/i)?.[1];
        if (len === undefined) throw new Error("no Content-Length");
        want = end + 4 + Number(len);
      }
    }
    if (want < 0 || n < want) throw new Error("response too long");
    return conn;
  } catch (e) {
    try {
      conn.close();
    } catch { /* closed by the timer */ }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Opens the connections and serves the stdin protocol; returns the exit code. */
async function main(args: string[]): Promise<number> {
  const [port, count, batch = 200, deadlineS = 300] = args.slice(0, 4).map(Number);
  const stallPath = args[4];
  if (!(port > 0) || !(count > 0) || !(batch > 0)) {
    console.error("usage: idle_holder.ts PORT COUNT [BATCH] [DEADLINE_S]");
    return 2;
  }
  setTimeout(() => Deno.exit(3), deadlineS * 1000); // never outlive the bench
  const held: Held[] = [];
  let failed = 0;
  let error = "";
  const t0 = performance.now();
  for (let i = 0; i < count; i += batch) { // bounded by count
    const n = Math.min(batch, count - i);
    const results = await Promise.allSettled(
      Array.from({ length: n }, () => openOne(port, stallPath)),
    );
    for (const r of results) {
      if (r.status === "fulfilled") held.push({ conn: r.value, open: true });
      else {
        failed++;
        error ||= (r.reason as Error).message ?? String(r.reason);
      }
    }
  }
  // A pending read resolves when the server closes the socket (or sends something).
  for (const h of stallPath === undefined ? held : []) {
    h.conn.read(new Uint8Array(1)).then(() => h.open = false, () => h.open = false);
  }
  const ms = Math.round(performance.now() - t0);
  console.log(JSON.stringify({ held: held.length, failed, error, ms }));
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of lines) { // ends at EOF: the bench closed our stdin
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const cmd = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (cmd === "count") console.log(JSON.stringify({ open: held.filter((h) => h.open).length }));
      if (cmd === "close") return closeAll(held);
    }
  }
  return closeAll(held);
}

function closeAll(held: Held[]): number {
  for (const h of held) {
    try {
      h.conn.close();
    } catch { /* closed already */ }
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
