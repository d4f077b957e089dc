/**
 * One request/response exchange on an open connection, up to the end of the response head:
 * build the request head, send it, read the head within {@linkcode MAX_RESPONSE_HEAD_BYTES}
 * (skipping interim 1xx responses), and turn every way that can fail into a
 * {@linkcode ClientError} with the right exit code.
 *
 * @example
 * ```ts ignore
 * import { buildRequest, sendAndReadHead } from "./exchange.ts";
 * const req = buildRequest({ method: "GET", to: { host: "h", port: 80, path: "/" }, keepAlive: false });
 * const r = await sendAndReadHead(connected, reader, req);
 * console.log(r.head.status);
 * ```
 * @module
 */

import { parseResponseHead, type ResponseHead, ResponseHeadError } from "../http/response.ts";
import { HttpError } from "../http/status.ts";
import { type ConnReader, ReadTimeoutError, UnexpectedEofError } from "../net/head_reader.ts";
import { VERSION } from "../version.ts";
import type { Connected } from "./connect.ts";
import { ClientError, EXIT, reasonOf } from "./errors.ts";
import { defaultPort, formatUrl, hostHeader, type Location } from "./names.ts";

/** Largest response head accepted. Real heads are a few hundred bytes; 64 KiB leaves room for
 * long cookies and bounds what a hostile server can make us buffer. */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Interim (1xx) responses skipped at most before the final one (RFC 9110 §15.2). */
export const MAX_INTERIM_RESPONSES = 16;

/** RFC 9110 §5.5 field-value: visible ASCII, space, tab, obs-text; no CR, LF, NUL or other
 * control. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A request head ready to send. */
export interface Request {
  /** "GET" or "HEAD". */
  method: "GET" | "HEAD";
  /** Where it goes. */
  to: Location;
  /** The request line, e.g. `GET /a%20b HTTP/1.1`. */
  line: string;
  /** Fields in wire order. */
  fields: Array<[string, string]>;
  /** The bytes on the wire. */
  bytes: Uint8Array;
}

/**
 * Builds a request head: Host (port unless 80, IPv6 in brackets), User-Agent, Accept,
 * Accept-Encoding identity (we save bytes as sent, never decoded), Want-Repr-Digest (so a
 * server that can send a sha-256 does, RFC 9530 §4), Connection, then `extra` (Range, If-Range).
 */
export function buildRequest(
  r: {
    method: "GET" | "HEAD";
    to: Location;
    keepAlive: boolean;
    extra?: Array<[string, string]>;
  },
): Request {
  const line = `${r.method} ${r.to.path} HTTP/1.1`;
  const extra = r.extra ?? [];
  for (const [k, v] of extra) {
    // A value from disk (the resume meta) or elsewhere must never add a line to the head.
    if (!FIELD_VALUE.test(v)) {
      throw new ClientError(
        EXIT.protocol,
        `refusing to send ${k}: its value ${JSON.stringify(v.slice(0, 80))} is not header-safe`,
      );
    }
  }
  const fields: Array<[string, string]> = [
    ["Host", hostHeader(r.to.host, r.to.port, defaultPort(r.to))],
    ["User-Agent", `ferry/${VERSION}`],
    ["Accept", "*/*"],
    ["Accept-Encoding", "identity"],
    ["Want-Repr-Digest", "sha-256=10"],
    ["Connection", r.keepAlive ? "keep-alive" : "close"],
  ];
  // A field in `extra` replaces the default of the same name (an Accept for listings).
  for (const [k, v] of extra) {
    const i = fields.findIndex(([f]) => f.toLowerCase() === k.toLowerCase());
    if (i >= 0) fields[i] = [fields[i][0], v];
    else fields.push([k, v]);
  }
  const text = `${line}\r\n${fields.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  return { method: r.method, to: r.to, line, fields, bytes: new TextEncoder().encode(text) };
}

/** Whether the server will close the connection after this response (RFC 9112 §9.3). */
export function willClose(head: ResponseHead): boolean {
  const tokens = (head.headers.get("connection") ?? "").toLowerCase().split(",").map((t) =>
    t.trim()
  );
  if (tokens.includes("close")) return true;
  return head.version === "HTTP/1.0" && !tokens.includes("keep-alive");
}

/** A response head and its timing. */
export interface HeadResult {
  /** The final (non-1xx) response head. */
  head: ResponseHead;
  /** The status line as received (reason phrase included). */
  statusLine: string;
  /** `performance.now()` when the request had been written. */
  sentAt: number;
  /** Request written → first response byte, ms. */
  firstByteMs: number;
  /** `performance.now()` when the whole head had been read. */
  headAt: number;
}

/** Writes all of `bytes` (a loop: write may be short). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/**
 * Sends `req` and reads the final response head.
 * @throws {ClientError} protocol (5), timeout (8) or connect (3, when the write fails).
 */
export async function sendAndReadHead(
  c: Connected,
  reader: ConnReader,
  req: Request,
): Promise<HeadResult> {
  const where = `${req.method} ${formatUrl(req.to)}`;
  try {
    await writeAll(c.conn, req.bytes);
  } catch (e) {
    throw new ClientError(EXIT.protocol, `sending ${where} failed: ${reasonOf(e)}`, {
      transient: "reset",
    });
  }
  const sentAt = performance.now();
  c.source.mark();
  for (let interim = 0;; interim++) {
    const head = await readHead(reader, where);
    const statusLine = `${head.version} ${head.status}${head.reason ? " " + head.reason : ""}`;
    // RFC 9110 §15.2: 1xx responses are interim; the final response follows. 101 would switch
    // protocols, which we never asked for.
    if (head.status >= 100 && head.status < 200) {
      if (head.status === 101 || interim >= MAX_INTERIM_RESPONSES) {
        throw new ClientError(EXIT.protocol, `${where}: unexpected ${statusLine}`);
      }
      continue;
    }
    const firstByteMs = c.source.firstByteAt > 0 ? c.source.firstByteAt - sentAt : 0;
    return { head, statusLine, sentAt, firstByteMs, headAt: performance.now() };
  }
}

async function readHead(reader: ConnReader, where: string): Promise<ResponseHead> {
  let bytes: Uint8Array | null;
  try {
    bytes = await reader.readHead({ maxHeadBytes: MAX_RESPONSE_HEAD_BYTES });
  } catch (e) {
    throw headError(e, where);
  }
  if (bytes === null) {
    throw new ClientError(
      EXIT.protocol,
      `${where}: the server closed the connection without answering`,
      { transient: "reset" },
    );
  }
  try {
    return parseResponseHead(bytes);
  } catch (e) {
    if (e instanceof ResponseHeadError) {
      throw new ClientError(
        EXIT.protocol,
        `${where}: not an HTTP/1.x response (${e.message}); is this an HTTP server?`,
      );
    }
    throw e;
  }
}

/** Maps a failure while reading a response (head or body) to a ClientError. */
export function readError(e: unknown, where: string, what: string): ClientError {
  if (e instanceof ClientError) return e;
  if (e instanceof ReadTimeoutError) {
    return new ClientError(
      EXIT.timeout,
      `${where}: timed out waiting for ${what} (${e.message}); the server stalled — retry, or ` +
        `raise --timeout`,
      { transient: "timeout" },
    );
  }
  return new ClientError(EXIT.protocol, `${where}: reading ${what} failed: ${reasonOf(e)}`, {
    transient: "reset",
  });
}

function headError(e: unknown, where: string): ClientError {
  if (e instanceof HttpError) {
    return new ClientError(
      EXIT.protocol,
      `${where}: response head larger than ${MAX_RESPONSE_HEAD_BYTES / 1024} KiB; refusing it`,
    );
  }
  if (e instanceof UnexpectedEofError) {
    return new ClientError(
      EXIT.protocol,
      `${where}: the connection closed in the middle of the response head`,
      { transient: "reset" },
    );
  }
  return readError(e, where, "the response head");
}
