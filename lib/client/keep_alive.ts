/**
 * Keep-alive connections to one origin, reused across requests (the mirror's workers each hold
 * one at a time, so there are never more than `--parallel` of them). A request that fails on a
 * reused connection before any byte of the answer arrived — the server closed it while idle, as
 * RFC 9112 §9.3.1 lets it — is sent once more on a fresh one; nothing else is retried here.
 * With a `signal` (the run's Stop: --max-time, Ctrl-C), a pending connect ends when it fires and
 * every connection of the pool, idle or in use, is closed, so each pending read fails at once.
 * For an https origin every connection is TLS (`tls`: the run's trust), and the credentials given
 * for the origin (`authorization`) go with every request — the pool never leaves its origin.
 *
 * @example
 * ```ts ignore
 * import { KeepAlivePool } from "./keep_alive.ts";
 * const pool = new KeepAlivePool({ host: "127.0.0.1", port: 8000, path: "/" }, { timeoutMs: 30000 });
 * const ex = await pool.exchange("HEAD", "/a.txt");
 * pool.release(ex.conn, true);
 * pool.close();
 * ```
 * @module
 */

import { ConnReader } from "../net/head_reader.ts";
import { type Connected, openConnection } from "./connect.ts";
import { buildRequest, type HeadResult, type Request, sendAndReadHead } from "./exchange.ts";
import type { Location } from "./names.ts";
import type { TlsTrust } from "./tls_connect.ts";

/** A connection of the pool with its reader. */
export interface PooledConn {
  connected: Connected;
  reader: ConnReader;
}

/** One exchange's outcome: the connection (positioned at the body) and the head. */
export interface Exchange {
  conn: PooledConn;
  request: Request;
  result: HeadResult;
  to: Location;
}

/** See the module doc. */
export class KeepAlivePool {
  #origin: Location;
  #timeoutMs: number;
  #idle: PooledConn[] = [];
  /** Connections opened so far. */
  opened = 0;
  /** The first connection opened (for the report's connection parameters). */
  first: Connected | null = null;

  #onFirst: ((c: Connected) => void) | undefined;
  #signal: AbortSignal | undefined;
  #tls: TlsTrust | undefined;
  #authorization: [string, string] | null;
  /** Every connection not yet closed (idle or in use), to close them all when stopped. */
  #live = new Set<PooledConn>();
  #onAbort = () => this.closeAll();

  /** `onFirst` is called with the first connection opened (to show its parameters); `signal`
   * stops the pool (see the module doc); `tls`: how an https origin's certificate is checked;
   * `authorization`: the Authorization field for this origin, sent with every request. */
  constructor(
    origin: Location,
    options: {
      timeoutMs: number;
      onFirst?: (c: Connected) => void;
      signal?: AbortSignal;
      tls?: TlsTrust;
      authorization?: [string, string] | null;
    },
  ) {
    this.#origin = origin;
    this.#timeoutMs = options.timeoutMs;
    this.#onFirst = options.onFirst;
    this.#signal = options.signal;
    this.#tls = options.tls;
    this.#authorization = options.authorization ?? null;
    this.#signal?.addEventListener("abort", this.#onAbort);
  }

  async #open(): Promise<PooledConn> {
    this.#signal?.throwIfAborted();
    const connected = await openConnection(this.#origin, {
      timeoutMs: this.#timeoutMs,
      signal: this.#signal,
      tls: this.#tls,
    });
    if (this.#signal?.aborted) {
      connected.source.close();
      this.#signal.throwIfAborted();
    }
    this.opened++;
    if (this.first === null) {
      this.first = connected;
      this.#onFirst?.(connected);
    }
    const conn = {
      connected,
      reader: new ConnReader(connected.source, { readTimeoutMs: this.#timeoutMs }),
    };
    this.#live.add(conn);
    return conn;
  }

  #closeOne(conn: PooledConn): void {
    this.#live.delete(conn);
    try {
      conn.connected.source.close();
    } catch { /* already closed */ }
  }

  /** Sends `method path` (with `extra` fields) and reads the response head. */
  async exchange(
    method: "GET" | "HEAD",
    path: string,
    extra: Array<[string, string]> = [],
  ): Promise<Exchange> {
    const to = { ...this.#origin, path };
    const auth = this.#authorization;
    const request = buildRequest({
      method,
      to,
      keepAlive: true,
      extra: auth === null ? extra : [auth, ...extra],
    });
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      try {
        return {
          conn: idle,
          request,
          to,
          result: await sendAndReadHead(idle.connected, idle.reader, request),
        };
      } catch (e) {
        // Most likely closed while idle; GET and HEAD are idempotent (RFC 9110 §9.2.2), so
        // once more on a fresh connection, below (not when stopped).
        this.#closeOne(idle);
        if (this.#signal?.aborted) throw e;
      }
    }
    const conn = await this.#open();
    try {
      return {
        conn,
        request,
        to,
        result: await sendAndReadHead(conn.connected, conn.reader, request),
      };
    } catch (e) {
      this.#closeOne(conn);
      throw e;
    }
  }

  /** Gives `conn` back: kept for the next request when `reusable`, else closed. */
  release(conn: PooledConn, reusable: boolean): void {
    if (reusable && !this.#signal?.aborted) this.#idle.push(conn);
    else this.#closeOne(conn);
  }

  /** Closes every idle connection (connections in use are closed by their release). */
  close(): void {
    for (const c of this.#idle) this.#closeOne(c);
    this.#idle = [];
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }

  /** Closes every connection, idle or in use: a pending read on one fails at once. */
  closeAll(): void {
    for (const c of [...this.#live]) this.#closeOne(c);
    this.#idle = [];
  }
}
