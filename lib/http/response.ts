/**
 * Response heads: serialize one (server side); parse a status line and fields (client side).
 * Pure: strings and bytes only.
 *
 * @example
 * ```ts
 * import { parseResponseHead, serializeHead } from "./response.ts";
 * const text = serializeHead(200, [["Content-Length", "0"]]);
 * const head = parseResponseHead(new TextEncoder().encode(text));
 * console.log(head.status, head.headers.get("content-length")); // 200 0
 * ```
 * @module
 */

import { reasonPhrase } from "./status.ts";
import { trimOws } from "./ows.ts";
import { parseHttpDateStrict } from "./http_date.ts";

/** A response field list: [name, value] pairs in the order they go on the wire. */
export type Fields = ReadonlyArray<readonly [string, string]>;

/** Serializes a status line and fields into the text of a response head, final CRLF included. */
export function serializeHead(status: number, fields: Fields): string {
  let s = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  for (const [name, value] of fields) s += `${name}: ${value}\r\n`;
  return s + "\r\n";
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Formats an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function httpDate(ms: number): string {
  // toUTCString already yields IMF-fixdate in V8; built by hand so it never depends on that.
  const d = new Date(ms);
  const p2 = (n: number) => (n < 10 ? "0" + n : String(n));
  return `${DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${
    String(d.getUTCFullYear()).padStart(4, "0")
  } ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} GMT`;
}

/**
 * Parses an HTTP date in any of the three forms a recipient must accept (RFC 9110 §5.6.7).
 * Returns milliseconds since the epoch, or NaN when the value is not a date.
 */
export function parseHttpDate(value: string): number {
  // Strictly: every field range-checked (lib/http/http_date.ts), so 31 Feb or hour 24 is not
  // a date (Date.parse would roll them over).
  return parseHttpDateStrict(trimOws(value));
}

/** A parsed response head. */
export interface ResponseHead {
  /** "HTTP/1.0" or "HTTP/1.1". */
  version: "HTTP/1.0" | "HTTP/1.1";
  /** The three-digit status code. */
  status: number;
  /** The reason phrase as sent (may be empty). */
  reason: string;
  /** Fields in wire order, names as sent. */
  fields: Array<[string, string]>;
  /** Fields by lower-case name; repeated fields joined by ", " (Set-Cookie aside, never needed). */
  headers: Map<string, string>;
  /** How many times each lower-case name occurred (to detect conflicting Content-Length). */
  counts: Map<string, number>;
}

/** A malformed response head; the client maps it to its protocol-error exit code. */
export class ResponseHeadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ResponseHeadError";
  }
}

const latin1 = new TextDecoder("latin1");

/**
 * Parses a response head (status line + fields + empty line).
 * @throws {ResponseHeadError} when the status line or a field is malformed.
 */
export function parseResponseHead(buf: Uint8Array): ResponseHead {
  const lines = latin1.decode(buf).split("\n").map((l) => l.endsWith("\r") ? l.slice(0, -1) : l);
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const statusLine = lines[0] ?? "";
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4); the reason
  // phrase must not carry control characters.
  // deno-lint-ignore no-control-regex
  const m = /^(HTTP\/1\.[01]) (\d{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$/.exec(statusLine);
  if (m === null) {
    throw new ResponseHeadError(
      `malformed status line: ${JSON.stringify(statusLine.slice(0, 80))}`,
    );
  }
  const fields: Array<[string, string]> = [];
  const headers = new Map<string, string>();
  const counts = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.includes("\r")) throw new ResponseHeadError("bare CR in response head");
    if (line[0] === " " || line[0] === "\t") {
      throw new ResponseHeadError("obsolete line folding in response head");
    }
    const colon = line.indexOf(":");
    if (colon <= 0 || /[\s]/.test(line.slice(0, colon))) {
      throw new ResponseHeadError(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    }
    const name = line.slice(0, colon);
    const value = trimOws(line.slice(colon + 1));
    fields.push([name, value]);
    const key = name.toLowerCase();
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const prev = headers.get(key);
    headers.set(key, prev === undefined ? value : `${prev}, ${value}`);
  }
  return {
    version: m[1] as ResponseHead["version"],
    status: Number(m[2]),
    reason: m[3] ?? "",
    fields,
    headers,
    counts,
  };
}
