/**
 * A fast path for the commonest request: a plain `GET` or `HEAD` whose answer depends on the
 * target alone, in canonical form (CRLF line ends, ASCII only, well-known field names). Read in
 * place from the bytes — no decoded text, no field Map, no head object — so that a request the
 * small-file cache answers costs no more than finding its target.
 *
 * It only ever says yes or "not sure": anything it does not recognise (another method, a bare
 * LF, a byte ≥ 0x80, an unknown or conditional field, a malformed line, two Host fields, ...)
 * gets `false`, and the full parser ({@linkcode parseRequestHead}) decides, errors included.
 * The property that makes this safe, checked by a differential test over a fuzzed corpus:
 * whenever {@linkcode readPlainHead} returns true, `parseRequestHead` accepts the same bytes
 * with the same method, target, version and keep-alive, no body, and none of the fields that
 * make a response depend on more than its target.
 *
 * @example
 * ```ts
 * import { plain, readPlainHead } from "./plain_head.ts";
 * const bytes = new TextEncoder().encode("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
 * if (readPlainHead(bytes, 0, bytes.length)) console.log(plain.method, plain.target); // GET /a.txt
 * ```
 * @module
 */

import { MAX_FIELDS, MAX_HEAD_BYTES, MAX_REQUEST_LINE_BYTES, TCHAR } from "./request.ts";
import type { RequestHead } from "./request.ts";

/** What the last successful {@linkcode readPlainHead} found (module state, not an object per
 * request: the read is synchronous and these are used right after it). */
export const plain = {
  method: "GET" as "GET" | "HEAD",
  target: "",
  version: "HTTP/1.1" as RequestHead["version"],
  keepAlive: true,
  /** Where the User-Agent value is in the bytes read (for the access log); equal if none. */
  uaStart: 0,
  uaEnd: 0,
};

const encoder = new TextEncoder();

/** What a field name means here. */
const OTHER = 0; // not known to be harmless: the full parser decides
const HARMLESS = 1; // has no effect on the answer to a plain GET/HEAD
const HOST = 2;
const CONNECTION = 3;
const USER_AGENT = 4; // harmless too; where its value is, is noted for the access log

/** Field names with no effect on a plain GET/HEAD's answer (the listing's Accept is not cached,
 * and a listing is never answered by this path's caller), by length. Every name that changes
 * an answer or the framing (Range, If-*, Want-Repr-Digest, Content-Length, Transfer-Encoding,
 * Expect, ...) is absent and so sends the request to the full parser. */
const NAMES: Array<Array<[Uint8Array, number]>> = [];
for (
  const [name, kind] of [
    ["host", HOST],
    ["connection", CONNECTION],
    ["user-agent", USER_AGENT],
    ["accept", HARMLESS],
    ["accept-encoding", HARMLESS],
    ["accept-language", HARMLESS],
    ["cookie", HARMLESS],
    ["referer", HARMLESS],
    ["cache-control", HARMLESS],
    ["pragma", HARMLESS],
    ["upgrade-insecure-requests", HARMLESS],
    ["sec-fetch-site", HARMLESS],
    ["sec-fetch-mode", HARMLESS],
    ["sec-fetch-dest", HARMLESS],
    ["sec-fetch-user", HARMLESS],
    ["priority", HARMLESS],
    ["dnt", HARMLESS],
    ["te", HARMLESS],
    ["sec-ch-ua", HARMLESS],
    ["sec-ch-ua-mobile", HARMLESS],
    ["sec-ch-ua-platform", HARMLESS],
  ] as const
) {
  while (NAMES.length <= name.length) NAMES.push([]); // packed: no holes to look up
  NAMES[name.length].push([encoder.encode(name), kind]);
}

/** The kind of the field name `b[s, e)` (already known to be tchars), case-insensitively. */
function nameKind(b: Uint8Array, s: number, e: number): number {
  if (e - s >= NAMES.length) return OTHER;
  const candidates = NAMES[e - s];
  outer: for (let c = 0; c < candidates.length; c++) {
    const name = candidates[c][0];
    for (let k = 0; k < name.length; k++) {
      // Known names hold lower-case letters and "-" only: `| 0x20` folds A–Z, and can turn no
      // other tchar into one of them ("-" | 0x20 is itself; "\r" is not a tchar).
      if ((b[s + k] | 0x20) !== name[k]) continue outer;
    }
    return candidates[c][1];
  }
  return OTHER;
}

const CLOSE = encoder.encode("close");
const KEEP_ALIVE = encoder.encode("keep-alive");

/** Whether `b[s, e)` is `token`, ASCII case-insensitively. */
function isToken(b: Uint8Array, s: number, e: number, token: Uint8Array): boolean {
  if (e - s !== token.length) return false;
  for (let k = 0; k < token.length; k++) {
    const c = b[s + k];
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== token[k]) return false;
  }
  return true;
}

// Tokens seen in Connection fields by the current call.
let sawClose = false;
let sawKeepAlive = false;

/** Records the comma-separated tokens of the Connection value `b[s, e)`. */
function connectionTokens(b: Uint8Array, s: number, e: number): void {
  let ts = s;
  for (let i = s; i <= e; i++) {
    if (i < e && b[i] !== 0x2c) continue;
    let a = ts;
    let z = i;
    while (a < z && (b[a] === 0x20 || b[a] === 0x09)) a++;
    while (z > a && (b[z - 1] === 0x20 || b[z - 1] === 0x09)) z--;
    if (isToken(b, a, z, CLOSE)) sawClose = true;
    else if (isToken(b, a, z, KEEP_ALIVE)) sawKeepAlive = true;
    ts = i + 1;
  }
}

/** Whether the Host value `b[s, e)` is one the full parser accepts: no whitespace, `/`, `\`,
 * `@`, `?` or `#` (the value is ASCII here, so no NBSP either). */
function isHostValue(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (
      c === 0x2f || c === 0x5c || c === 0x40 || c === 0x3f || c === 0x23 || c === 0x20 ||
      c === 0x09
    ) return false;
  }
  return true;
}

const utf8 = new TextDecoder();

/** Decodes ASCII bytes (already checked to be visible ASCII) to a string. Short ones char by
 * char (3 chars: ~20 ns); from ~20 chars on the decoder's one call is cheaper (~170 ns flat, 8
 * ns a char for the loop). On ASCII, UTF-8 and ISO-8859-1 give the same string. */
function ascii(b: Uint8Array, s: number, e: number): string {
  if (e - s > 20) return utf8.decode(b.subarray(s, e));
  let out = "";
  for (let i = s; i < e; i++) out += String.fromCharCode(b[i]);
  return out;
}

/**
 * Reads the complete head `b[s, e)` (as delimited by `findHeadEnd`, leading empty lines already
 * skipped) if it is a plain GET/HEAD in canonical form, into {@linkcode plain}. Returns false
 * for anything else, which the full parser must then handle; never throws.
 */
export function readPlainHead(b: Uint8Array, s: number, e: number): boolean {
  if (e - s > MAX_HEAD_BYTES || e - s < 4) return false;
  // Every line ends in CRLF, so the head ends in CRLF CRLF.
  if (b[e - 4] !== 13 || b[e - 3] !== 10 || b[e - 2] !== 13 || b[e - 1] !== 10) return false;
  let i = s;
  let method: "GET" | "HEAD";
  if (b[i] === 0x47 && b[i + 1] === 0x45 && b[i + 2] === 0x54 && b[i + 3] === 0x20) {
    method = "GET";
    i += 4;
  } else if (
    b[i] === 0x48 && b[i + 1] === 0x45 && b[i + 2] === 0x41 && b[i + 3] === 0x44 &&
    b[i + 4] === 0x20
  ) {
    method = "HEAD";
    i += 5;
  } else return false;
  // request-target: visible ASCII up to the one space (a CR of the terminator stops it at last).
  const ts = i;
  for (let c = b[i]; c > 0x20 && c < 0x7f; c = b[++i]);
  const te = i;
  // " HTTP/1.x" CRLF, then at least the empty line.
  if (te === ts || te + 13 > e || b[te] !== 0x20) return false;
  if (
    b[te + 1] !== 0x48 || b[te + 2] !== 0x54 || b[te + 3] !== 0x54 || b[te + 4] !== 0x50 ||
    b[te + 5] !== 0x2f || b[te + 6] !== 0x31 || b[te + 7] !== 0x2e || b[te + 10] !== 10 ||
    b[te + 9] !== 13
  ) return false;
  const minor = b[te + 8];
  if (minor !== 0x31 && minor !== 0x30) return false;
  if (te + 9 - s > MAX_REQUEST_LINE_BYTES) return false;
  i = te + 11;

  sawClose = false;
  sawKeepAlive = false;
  let hosts = 0;
  let fields = 0;
  let uaStart = 0;
  let uaEnd = 0;
  // Each field line: name ":" OWS value OWS CRLF. The CR LF at e - 2 ends the head.
  while (i < e - 2) {
    if (++fields > MAX_FIELDS) return false;
    const ns = i;
    for (let c = b[i]; c < 128 && TCHAR[c] === 1; c = b[++i]);
    if (i === ns || b[i] !== 0x3a) return false;
    const kind = nameKind(b, ns, i);
    if (kind === OTHER) return false;
    i++;
    while (b[i] === 0x20 || b[i] === 0x09) i++;
    const vs = i;
    // Up to the CR: visible ASCII, SP and HTAB only (no controls, no obs-text). The CR LF CR LF
    // at the end bounds the scan.
    for (let c = b[i]; c !== 13; c = b[++i]) {
      if ((c < 0x20 && c !== 0x09) || c >= 0x7f) return false;
    }
    if (b[i + 1] !== 10) return false;
    let ve = i;
    while (ve > vs && (b[ve - 1] === 0x20 || b[ve - 1] === 0x09)) ve--;
    if (kind === HOST) {
      if (++hosts > 1 || !isHostValue(b, vs, ve)) return false;
    } else if (kind === CONNECTION) connectionTokens(b, vs, ve);
    else if (kind === USER_AGENT) {
      uaStart = vs;
      uaEnd = ve;
    }
    i += 2;
  }
  if (i !== e - 2) return false;
  const http11 = minor === 0x31;
  if (http11 && hosts === 0) return false;
  plain.method = method;
  plain.target = ascii(b, ts, te);
  plain.version = http11 ? "HTTP/1.1" : "HTTP/1.0";
  plain.keepAlive = http11 ? !sawClose : sawKeepAlive && !sawClose;
  plain.uaStart = uaStart;
  plain.uaEnd = uaEnd;
  return true;
}
