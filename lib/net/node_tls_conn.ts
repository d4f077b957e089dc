/**
 * A `node:tls` socket seen through the part of `Deno.Conn` Ferry uses, for the two places where
 * the runtime's own TLS cannot go:
 * - the client's `-k/--insecure` (`Deno.startTls` cannot skip verification; `node:tls` offers
 *   `rejectUnauthorized: false`);
 * - the server's TLS after a PROXY header (`--proxy-protocol` with TLS): the header arrives in
 *   clear before the handshake, and `Deno.listenTls` would take it for a ClientHello, while
 *   `Deno.startTls` is client-side only. The server reads the header from a plain `Deno.TcpConn`,
 *   then runs the server side of the handshake over the same socket with
 *   {@linkcode serverTlsOver}.
 *
 * @example
 * ```ts ignore
 * import { createSecureContext } from "node:tls";
 * import { serverTlsOver } from "./node_tls_conn.ts";
 * const context = createSecureContext({ cert, key });
 * const tls = serverTlsOver(tcpConn, context, ["http/1.1"]);
 * const { alpnProtocol } = await tls.handshake();
 * ```
 * @module
 */

import type * as nodeNet from "node:net";
import * as nodeTls from "node:tls";
import { Duplex } from "node:stream";

/** Chunks a {@linkcode NodeTlsConn} buffers before it pauses the socket. */
const NODE_READ_HIGH_WATER = 16;
/** Bytes per read from the TCP socket under a server-side TLS socket: one TLS record at most
 * (RFC 8446 §5.1: 2^14 bytes of plaintext plus overhead). */
const RAW_READ_BYTES = 17 * 1024;

/** What a {@linkcode NodeTlsConn} takes from the socket under it. */
export interface UnderTls {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  setNoDelay(on?: boolean): void;
}

/**
 * A `node:tls` socket seen through `read`, `write`, `close`, `setNoDelay`, `handshake`,
 * `remoteAddr`, `localAddr`. Reads come from a small queue of the socket's chunks; past
 * {@linkcode NODE_READ_HIGH_WATER} chunks the socket is paused, so a slow consumer bounds memory
 * as the runtime's own sockets do.
 */
export class NodeTlsConn {
  #sock: nodeTls.TLSSocket;
  #under: UnderTls;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #secure: Promise<{ alpnProtocol: string | null }>;
  /** The peer's address (of the TCP socket under TLS). */
  readonly remoteAddr: Deno.NetAddr;
  /** This end's address. */
  readonly localAddr: Deno.NetAddr;

  /** `secured`: the handshake is already done (the client's `secureConnect` has fired). */
  constructor(sock: nodeTls.TLSSocket, under: UnderTls, secured = false) {
    this.#sock = sock;
    this.#under = under;
    this.remoteAddr = under.remoteAddr;
    this.localAddr = under.localAddr;
    const alpn = () => ({
      alpnProtocol: typeof sock.alpnProtocol === "string" ? sock.alpnProtocol : null,
    });
    this.#secure = secured ? Promise.resolve(alpn()) : new Promise((resolve, reject) => {
      sock.once("secure", () => resolve(alpn()));
      sock.once("error", reject);
      sock.once("close", () => reject(new Deno.errors.ConnectionReset("closed in the handshake")));
    });
    this.#secure.catch(() => {}); // a handshake nobody awaited (closed early) is no error
    sock.on("data", (d: Uint8Array) => {
      this.#chunks.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      if (this.#chunks.length >= NODE_READ_HIGH_WATER) sock.pause();
      this.#notify();
    });
    sock.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    sock.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    sock.on("error", (e: Error) => {
      this.#error = e;
      this.#notify();
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Resolves when the handshake is done, with the protocol ALPN chose (as
   * `Deno.TlsConn.handshake()`); rejects when it failed or the connection closed first. */
  handshake(): Promise<{ alpnProtocol: string | null }> {
    return this.#secure;
  }

  /** Reads into `p`; null at the end of the stream. */
  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
    }
    const c = this.#chunks[0];
    const n = Math.min(c.length, p.length);
    p.set(c.subarray(0, n));
    if (n === c.length) this.#chunks.shift();
    else this.#chunks[0] = c.subarray(n);
    if (this.#chunks.length < NODE_READ_HIGH_WATER / 2 && this.#sock.isPaused()) {
      this.#sock.resume();
    }
    return n;
  }

  /** Writes all of `p` (resolves once the socket has taken it). */
  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#sock.destroyed) return reject(new Deno.errors.BrokenPipe("connection closed"));
      this.#sock.write(p.slice(), (e?: Error | null) => e ? reject(e) : resolve(p.length));
    });
  }

  /** Sets TCP_NODELAY on the socket under TLS. */
  setNoDelay(on = true): void {
    this.#under.setNoDelay(on);
  }

  /** Closes the connection (the socket under it too). */
  close(): void {
    this.#sock.destroy();
  }
}

/** A `node:net` socket's endpoints and TCP_NODELAY, as {@linkcode UnderTls}. */
export function underNodeSocket(raw: nodeNet.Socket): UnderTls {
  const addr = (hostname: string | undefined, port: number | undefined): Deno.NetAddr => ({
    transport: "tcp",
    hostname: hostname ?? "",
    port: port ?? 0,
  });
  return {
    remoteAddr: addr(raw.remoteAddress, raw.remotePort),
    localAddr: addr(raw.localAddress, raw.localPort),
    setNoDelay: (on = true) => void raw.setNoDelay(on),
  };
}

/** A `Deno.Conn` as a Node duplex stream (bytes both ways; destroy closes it). */
function duplexOf(conn: Deno.Conn): Duplex {
  return new Duplex({
    read() {
      // A fresh buffer per read: the pushed chunk is kept by the TLS socket until decrypted.
      const buf = new Uint8Array(RAW_READ_BYTES);
      conn.read(buf).then(
        (n) => this.push(n === null ? null : buf.subarray(0, n)),
        (e) => this.destroy(e),
      );
    },
    write(chunk: Uint8Array, _enc, cb) {
      (async () => {
        for (let p = chunk; p.length > 0;) p = p.subarray(await conn.write(p));
      })().then(() => cb(), (e) => cb(e));
    },
    final(cb) {
      (conn as Deno.TcpConn).closeWrite().then(() => cb(), () => cb());
    },
    destroy(err, cb) {
      try {
        conn.close();
      } catch { /* closed */ }
      cb(err);
    },
  });
}

/**
 * Starts the server side of TLS over an accepted TCP connection whose next byte is the
 * client's first handshake byte (nothing of it read yet). Await `handshake()` before reading;
 * closing the result closes `conn`.
 */
export function serverTlsOver(
  conn: Deno.TcpConn,
  context: nodeTls.SecureContext,
  alpnProtocols: string[],
): NodeTlsConn {
  const sock = new nodeTls.TLSSocket(duplexOf(conn) as unknown as nodeNet.Socket, {
    isServer: true,
    secureContext: context,
    ALPNProtocols: alpnProtocols,
  });
  return new NodeTlsConn(sock, conn);
}
