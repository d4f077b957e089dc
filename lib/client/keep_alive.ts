/**
 * Keep-alive connections to one origin, reused across requests (the mirror's workers each hold
 * one at a time, so there are never more than `--parallel` of them). A request that fails on a
 * reused connection before any byte of the answer arrived — the server closed it while idle, as
 * RFC 9112 §9.3.1 lets it — is sent once more on a fresh one; nothing else is retried here.
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

  /** `onFirst` is called with the first connection opened (to show its parameters). */
  constructor(
    origin: Location,
    options: { timeoutMs: number; onFirst?: (c: Connected) => void },
  ) {
    this.#origin = origin;
    this.#timeoutMs = options.timeoutMs;
    this.#onFirst = options.onFirst;
  }

  async #open(): Promise<PooledConn> {
    const connected = await openConnection(this.#origin, { timeoutMs: this.#timeoutMs });
    this.opened++;
    if (this.first === null) {
      this.first = connected;
      this.#onFirst?.(connected);
    }
    return {
      connected,
      reader: new ConnReader(connected.source, { readTimeoutMs: this.#timeoutMs }),
    };
  }

  /** Sends `method path` (with `extra` fields) and reads the response head. */
  async exchange(
    method: "GET" | "HEAD",
    path: string,
    extra: Array<[string, string]> = [],
  ): Promise<Exchange> {
    const to = { ...this.#origin, path };
    const request = buildRequest({ method, to, keepAlive: true, extra });
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      try {
        return {
          conn: idle,
          request,
          to,
          result: await sendAndReadHead(idle.connected, idle.reader, request),
        };
      } catch {
        // Most likely closed while idle; GET and HEAD are idempotent (RFC 9110 §9.2.2), so
        // once more on a fresh connection, below.
        idle.connected.source.close();
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
      conn.connected.source.close();
      throw e;
    }
  }

  /** Gives `conn` back: kept for the next request when `reusable`, else closed. */
  release(conn: PooledConn, reusable: boolean): void {
    if (reusable) this.#idle.push(conn);
    else conn.connected.source.close();
  }

  /** Closes every idle connection. */
  close(): void {
    for (const c of this.#idle) c.connected.source.close();
    this.#idle = [];
  }
}
