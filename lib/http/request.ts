/**
 * Parse and validate an HTTP/1.1 request head (RFC 9112), strictly and within fixed bounds.
 * Pure: bytes in, a {@linkcode RequestHead} or an {@linkcode HttpError} out.
 *
 * @example
 * ```ts
 * import { parseRequestHead } from "./request.ts";
 * const bytes = new TextEncoder().encode("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
 * const head = parseRequestHead(bytes);
 * console.log(head.method, head.target, head.keepAlive); // GET /a.txt true
 * ```
 * @module
 */

import { HttpError, STATUS } from "./status.ts";
import { trimOws } from "./ows.ts";

/** Longest request line accepted; longer → 414. Real URLs stay far below; bounds memory. */
export const MAX_REQUEST_LINE_BYTES = 8 * 1024;
/** Largest whole head accepted; larger → 431. Browsers with big cookies stay under 16 KiB. */
export const MAX_HEAD_BYTES = 32 * 1024;
/** Most header fields accepted; more → 431. Keeps per-request work bounded. */
export const MAX_FIELDS = 100;

/** The `Allow` field value sent with 405 and OPTIONS. */
export const ALLOW = "GET, HEAD, OPTIONS";
/** Methods registered for HTTP that Ferry refuses with 405 rather than 501 (RFC 9110 §9). */
const KNOWN_METHODS = new Set(["POST", "PUT", "DELETE", "CONNECT", "TRACE", "PATCH"]);

/** One parsed request head. Field names are lower-cased; repeated fields are joined by ", ". */
export interface RequestHead {
  /** The method, case-sensitive (RFC 9110 §9.1). */
  method: string;
  /** The request target exactly as sent. */
  target: string;
  /** "HTTP/1.0" or "HTTP/1.1". */
  version: "HTTP/1.0" | "HTTP/1.1";
  /** Header fields by lower-case name. */
  headers: Map<string, string>;
  /** Whether the connection may stay open after the response (RFC 9112 §9.3). */
  keepAlive: boolean;
  /** Whether a message body follows the head (Content-Length > 0 or chunked). */
  hasBody: boolean;
}

// WHATWG's "latin1" is windows-1252: bytes 0x80–0x9F come out as other characters (€, Ÿ, ...).
// It is native, so it decodes heads with non-ASCII bytes; the rare one where that changed a
// character is decoded again, byte for byte, as true ISO-8859-1. All-ASCII heads (nearly all)
// take the UTF-8 decoder, V8's fastest path: on ASCII, UTF-8 and ISO-8859-1 agree, and a
// 42-byte head decodes in ~150 ns instead of ~540 (1M decodes of each kind in one process).
const windows1252 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** Decodes bytes as ISO-8859-1: every byte is the code point of the same value. */
export function decodeLatin1(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) return decodeNonAscii(bytes);
  }
  return utf8.decode(bytes);
}

function decodeNonAscii(bytes: Uint8Array): string {
  const fast = windows1252.decode(bytes);
  if (!/[\u0100-\uffff]/.test(fast)) return fast;
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return s;
}

/** 1 for the ASCII codes of tchar (RFC 9110 §5.6.2): "!" / "#" / "$" / "%" / "&" / "'" / "*" /
 * "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA; 0 otherwise. Built once. */
export const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = TCHAR[c + 32] = 1;

function bad(reason: string): HttpError {
  return new HttpError(STATUS.BadRequest, `Bad Request: ${reason}`);
}

/**
 * Finds the end of a head in `buf[start, end)`: the index just past the empty line that ends it
 * (CRLF CRLF, or LF LF as RFC 9112 §2.2 allows), or -1 when the head is not complete yet.
 */
export function findHeadEnd(buf: Uint8Array, start = 0, end = buf.length): number {
  let i = buf.indexOf(10, start);
  while (i !== -1 && i < end) {
    // LF followed by LF, or by CR LF.
    if (i + 1 < end && buf[i + 1] === 10) return i + 2;
    if (i + 2 < end && buf[i + 1] === 13 && buf[i + 2] === 10) return i + 3;
    i = buf.indexOf(10, i + 1);
  }
  return -1;
}

/**
 * Line boundaries of the head being parsed: line k is `text.slice(starts[k], ends[k])`, its
 * LF and one CR before it excluded. Reused across calls (parsing is synchronous), grown when a
 * head has more lines than ever before.
 */
let starts = new Int32Array(64);
let ends = new Int32Array(64);

/** Finds the lines of `text` into starts/ends, refusing a bare CR (RFC 9112 §2.2) anywhere, and
 * returns their count without the empty lines at the end (the terminator and what follows). */
function splitLines(text: string): number {
  let n = 0;
  let pos = 0;
  let cr = text.indexOf("\r");
  for (;;) {
    const nl = text.indexOf("\n", pos);
    const segEnd = nl === -1 ? text.length : nl;
    let le = segEnd;
    if (le > pos && text.charCodeAt(le - 1) === 13) le--;
    // `cr` is the first CR at or after `pos`: one before `le` is not part of a line end.
    if (cr !== -1 && cr < le) throw bad("bare CR");
    if (cr !== -1 && cr <= segEnd) cr = text.indexOf("\r", segEnd + 1);
    if (n === starts.length) {
      const s2 = new Int32Array(n * 2);
      const e2 = new Int32Array(n * 2);
      s2.set(starts);
      e2.set(ends);
      starts = s2;
      ends = e2;
    }
    starts[n] = pos;
    ends[n] = le;
    n++;
    if (nl === -1) break;
    pos = nl + 1;
  }
  // The head ends with an empty line; drop it and the empty lines after it.
  while (n > 0 && ends[n - 1] === starts[n - 1]) n--;
  return n;
}

// parseRequestLine's results (module state rather than an array per request: parsing is
// synchronous, and these are read right after the call).
let lineMethod = "";
let lineTarget = "";
let lineVersion: RequestHead["version"] = "HTTP/1.1";

/** Parses the request line `text[ls, le)` into lineMethod, lineTarget and lineVersion. */
function parseRequestLine(text: string, ls: number, le: number): void {
  if (le - ls > MAX_REQUEST_LINE_BYTES) {
    throw new HttpError(STATUS.URITooLong, "URI Too Long");
  }
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces only.
  const sp1 = text.indexOf(" ", ls);
  if (sp1 <= ls || sp1 >= le) throw bad("malformed request line");
  const sp2 = text.lastIndexOf(" ", le - 1);
  if (sp2 === sp1) throw bad("malformed request line");
  for (let i = ls; i < sp1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) throw bad("invalid method");
  }
  if (sp2 === sp1 + 1) throw bad("empty request target");
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = text.charCodeAt(i);
    // Visible ASCII, and raw bytes >= 0x80 as nginx, Apache, lighttpd and Caddy accept them
    // (busybox wget sends UTF-8 names unencoded; parseTarget refuses them unless valid UTF-8).
    // Whitespace, controls and DEL are not a target.
    if (c <= 0x20 || c === 0x7f) throw bad("invalid character in request target");
  }
  if (le - sp2 === 9 && text.startsWith("HTTP/1.", sp2 + 1)) {
    const minor = text.charCodeAt(le - 1);
    if (minor === 0x31 || minor === 0x30) {
      lineMethod = text.slice(ls, sp1);
      lineTarget = text.slice(sp1 + 1, sp2);
      lineVersion = minor === 0x31 ? "HTTP/1.1" : "HTTP/1.0";
      return;
    }
  }
  if (/^HTTP\/\d\.\d$/.test(text.slice(sp2 + 1, le))) {
    throw new HttpError(STATUS.HTTPVersionNotSupported, "HTTP Version Not Supported");
  }
  throw bad("invalid HTTP version");
}

/** Field names most requests carry, by length: matched in place, they cost no string. */
const KNOWN_NAMES: string[][] = [];
for (
  const n of [
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "connection",
    "cookie",
    "referer",
    "range",
    "if-range",
    "if-none-match",
    "if-modified-since",
    "cache-control",
    "pragma",
    "upgrade-insecure-requests",
    "sec-fetch-site",
    "sec-fetch-mode",
    "sec-fetch-dest",
    "sec-fetch-user",
    "priority",
    "dnt",
    "te",
    "content-length",
    "transfer-encoding",
    "want-repr-digest",
  ]
) (KNOWN_NAMES[n.length] ??= []).push(n);

/**
 * The lower-case constant for the field name `text[ls, le)` if it is a known one, compared
 * case-insensitively in place (the name is already checked to be a token: `c | 0x20` can only
 * turn its letters to lower case, and the known names hold only letters and "-"), else null.
 */
function knownName(text: string, ls: number, le: number): string | null {
  const candidates = KNOWN_NAMES[le - ls];
  if (candidates === undefined) return null;
  outer: for (const cand of candidates) {
    for (let k = 0; k < cand.length; k++) {
      if ((text.charCodeAt(ls + k) | 0x20) !== cand.charCodeAt(k)) continue outer;
    }
    return cand;
  }
  return null;
}

/** A Host value without whitespace, `/`, `\\`, `@`, `?` or `#` (a regex's \\s class, spelled out:
 * NBSP, the one other space a Latin-1 byte decodes to, counts too). */
function isHostValue(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (
      c === 0x2f || c === 0x5c || c === 0x40 || c === 0x3f || c === 0x23 ||
      (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0
    ) return false;
  }
  return true;
}

function hasToken(list: string | undefined, token: string): boolean {
  if (list === undefined) return false;
  for (const part of list.split(",")) {
    if (trimOws(part).toLowerCase() === token) return true;
  }
  return false;
}

/**
 * Parses a complete request head (as delimited by {@linkcode findHeadEnd}) and validates it.
 * Leading empty lines before the request line are skipped (RFC 9112 §2.2).
 *
 * @throws {HttpError} 400, 414, 431 or 505 for a malformed head; 405 or 501 for a method Ferry
 * does not serve (thrown after the head is known to be well-formed).
 */
export function parseRequestHead(buf: Uint8Array, start = 0, end = buf.length): RequestHead {
  if (end - start > MAX_HEAD_BYTES) {
    throw new HttpError(STATUS.RequestHeaderFieldsTooLarge, "Request Header Fields Too Large");
  }
  const text = decodeLatin1(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
  const count = splitLines(text);
  let first = 0;
  while (first < count && ends[first] === starts[first]) first++;
  if (first >= count) throw bad("empty request");
  parseRequestLine(text, starts[first], ends[first]);
  const method = lineMethod;
  const target = lineTarget;
  const version = lineVersion;
  if (count - first - 1 > MAX_FIELDS) {
    throw new HttpError(STATUS.RequestHeaderFieldsTooLarge, "Request Header Fields Too Large");
  }

  const headers = new Map<string, string>();
  let hostCount = 0;
  let contentLengthCount = 0;
  for (let i = first + 1; i < count; i++) {
    const ls = starts[i];
    const le = ends[i];
    if (le === ls) throw bad("empty line inside head");
    // obs-fold is refused (RFC 9112 §5.2).
    const c0 = text.charCodeAt(ls);
    if (c0 === 0x20 || c0 === 0x09) throw bad("obsolete line folding");
    const colon = text.indexOf(":", ls);
    if (colon <= ls || colon >= le) throw bad("header field without a name");
    // No whitespace between field name and colon (RFC 9112 §5.1): not a tchar.
    let upper = false;
    for (let j = ls; j < colon; j++) {
      const c = text.charCodeAt(j);
      if (c >= 128 || TCHAR[c] === 0) throw bad("invalid header field name");
      if (c >= 65 && c <= 90) upper = true;
    }
    // OWS around the value is not part of it (RFC 9110 §5.5).
    let vs = colon + 1;
    let ve = le;
    while (vs < ve && (text.charCodeAt(vs) === 0x20 || text.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 0x20 || text.charCodeAt(ve - 1) === 0x09)) ve--;
    for (let j = vs; j < ve; j++) {
      const c = text.charCodeAt(j);
      // field-vchar = VCHAR / obs-text, with SP / HTAB inside (RFC 9110 §5.5).
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) throw bad("control character in header field");
    }
    const value = text.slice(vs, ve);
    const key = knownName(text, ls, colon) ??
      (upper ? text.slice(ls, colon).toLowerCase() : text.slice(ls, colon));
    if (key === "host") hostCount++;
    else if (key === "content-length") contentLengthCount++;
    const prev = headers.get(key);
    headers.set(key, prev === undefined ? value : `${prev}, ${value}`);
  }

  // Host (RFC 9112 §3.2): exactly one on HTTP/1.1; never more than one.
  if (hostCount > 1) throw bad("more than one Host field");
  if (version === "HTTP/1.1" && hostCount === 0) throw bad("missing Host field");
  const host = headers.get("host");
  if (host !== undefined && !isHostValue(host)) throw bad("invalid Host field");

  // Framing (RFC 9112 §6): the defences against request smuggling.
  const te = headers.get("transfer-encoding");
  const cl = headers.get("content-length");
  let hasBody = false;
  if (te !== undefined) {
    if (cl !== undefined) throw bad("both Content-Length and Transfer-Encoding");
    if (version === "HTTP/1.0") throw bad("Transfer-Encoding in an HTTP/1.0 request");
    const codings = te.split(",").map((s) => trimOws(s).toLowerCase());
    // §6.3 rule 4: chunked must be the final coding, and only once; we know no other coding.
    if (codings.length !== 1 || codings[0] !== "chunked") {
      throw bad("unsupported Transfer-Encoding");
    }
    hasBody = true;
  } else if (cl !== undefined) {
    // §6.3 rule 5: one Content-Length, decimal digits only.
    if (contentLengthCount > 1 || !/^\d{1,15}$/.test(cl)) throw bad("invalid Content-Length");
    hasBody = Number(cl) > 0;
  }

  const conn = headers.get("connection");
  const keepAlive = version === "HTTP/1.1"
    ? !hasToken(conn, "close")
    : hasToken(conn, "keep-alive") && !hasToken(conn, "close");

  if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") {
    if (KNOWN_METHODS.has(method)) {
      throw new HttpError(STATUS.MethodNotAllowed, "Method Not Allowed", {
        close: hasBody || !keepAlive,
        fields: [["Allow", ALLOW]],
      });
    }
    throw new HttpError(STATUS.NotImplemented, "Not Implemented", {
      close: hasBody || !keepAlive,
    });
  }
  return { method, target, version, headers, keepAlive, hasBody };
}
