/**
 * A scripted fake HTTP server for client tests: raw `Deno.listen` on 127.0.0.1:0, reads each
 * request head and runs a script that writes whatever bytes a test wants — including the ones
 * a polite server would never send. Every connection and the listener are closed by
 * {@linkcode FakeServer.close}, which also waits for the scripts, so Deno's sanitizers stay
 * green.
 *
 * @example
 * ```ts ignore
 * import { startFake, reply } from "./fake_server.ts";
 * await using srv = startFake(reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"));
 * ```
 * @module
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Longest request head a fake server reads (the client's are a few hundred bytes). */
const MAX_REQUEST_HEAD = 16 * 1024;

/** One accepted connection, as a script sees it. */
export interface FakeConn {
  /** The socket. */
  conn: Deno.Conn;
  /** Writes text or bytes; resolves false once the peer has gone (instead of throwing). */
  write(data: string | Uint8Array): Promise<boolean>;
  /** Reads the next request head (text), or null when the peer closed. */
  readRequest(): Promise<string | null>;
  /** Waits until the peer closes its end (or the server is closed). */
  waitClosed(): Promise<void>;
}

/** A script: handles one connection whose first request head is `request`. `index` counts the
 * connections, from 0. */
export type Script = (c: FakeConn, request: string, index: number) => Promise<void>;

/** A running fake server. */
export interface FakeServer extends AsyncDisposable {
  /** The port it listens on. */
  port: number;
  /** `http://127.0.0.1:<port>` (`http://[::1]:<port>` on IPv6). */
  origin: string;
  /** Every request head received, in order. */
  requests: string[];
  /** Closes the listener and all connections and waits for the scripts. */
  close(): Promise<void>;
}

/** Starts a fake server that runs `script` for every connection, on 127.0.0.1 unless told. */
export function startFake(script: Script, options: { hostname?: string } = {}): FakeServer {
  const hostname = options.hostname ?? "127.0.0.1";
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const requests: string[] = [];
  let closed = false;

  const serve = async (conn: Deno.Conn, index: number) => {
    let buf = new Uint8Array(0);
    const readRequest = async (): Promise<string | null> => {
      const chunk = new Uint8Array(4096);
      for (;;) {
        const text = dec.decode(buf);
        const end = text.indexOf("\r\n\r\n");
        if (end !== -1) {
          buf = buf.subarray(enc.encode(text.slice(0, end + 4)).length);
          requests.push(text.slice(0, end + 4));
          return text.slice(0, end + 4);
        }
        if (buf.length > MAX_REQUEST_HEAD) return null;
        const n = await conn.read(chunk).catch(() => null);
        if (n === null) return null;
        const next = new Uint8Array(buf.length + n);
        next.set(buf);
        next.set(chunk.subarray(0, n), buf.length);
        buf = next;
      }
    };
    const fc: FakeConn = {
      conn,
      write: async (data) => {
        const bytes = typeof data === "string" ? enc.encode(data) : data;
        try {
          for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
          return true;
        } catch {
          return false;
        }
      },
      readRequest,
      waitClosed: async () => {
        const sink = new Uint8Array(4096);
        for (let i = 0; i < 1e6; i++) {
          if ((await conn.read(sink).catch(() => null)) === null) return;
        }
      },
    };
    try {
      const req = await readRequest();
      if (req !== null) await script(fc, req, index);
    } catch {
      /* a script's peer went away: fine for a fake */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed by close() */ }
    }
  };

  const accept = (async () => {
    for (let index = 0;; index++) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      if (closed) {
        conn.close();
        return;
      }
      conns.add(conn);
      const t = serve(conn, index);
      tasks.add(t);
      t.finally(() => tasks.delete(t));
    }
  })();

  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      listener.close();
    } catch { /* already */ }
    for (const c of conns) {
      try {
        c.close();
      } catch { /* already */ }
    }
    await accept;
    await Promise.allSettled([...tasks]);
  };
  return {
    port,
    origin: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A script that answers with `bytes` and closes. */
export function reply(bytes: string | Uint8Array): Script {
  return async (c) => {
    await c.write(bytes);
  };
}

/** A complete 200 response with Content-Length. */
export function ok(body: string | Uint8Array, fields: string[] = []): string | Uint8Array {
  const b = typeof body === "string" ? enc.encode(body) : body;
  const head = enc.encode(
    `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n${
      fields.map((f) => f + "\r\n").join("")
    }Connection: close\r\n\r\n`,
  );
  const out = new Uint8Array(head.length + b.length);
  out.set(head);
  out.set(b, head.length);
  return out;
}
