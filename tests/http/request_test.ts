/**
 * Request heads: the parser (`parseRequestHead`), the terminator search (`findHeadEnd`) and the
 * buffered reader (`ConnReader`) that feeds them from a socket.
 *
 * The tables are generated the darkhttpd way: each case is written once as a list of lines with
 * `{V}` for the version, then sent across HTTP/1.0 × HTTP/1.1 (where the version matters) and
 * LF × CRLF line ends, so one line of table is two to four tests.
 */

import assert from "node:assert/strict";
import {
  ALLOW,
  findHeadEnd,
  MAX_FIELDS,
  MAX_HEAD_BYTES,
  MAX_REQUEST_LINE_BYTES,
  parseRequestHead,
  type RequestHead,
} from "../../lib/http/request.ts";
import { HttpError } from "../../lib/http/status.ts";
import {
  ConnReader,
  ReadTimeoutError,
  type Source,
  UnexpectedEofError,
} from "../../lib/net/head_reader.ts";

type Version = "HTTP/1.0" | "HTTP/1.1";
const VERSIONS: Version[] = ["HTTP/1.0", "HTTP/1.1"];
const EOLS = [["CRLF", "\r\n"], ["LF", "\n"]] as const;

/** Text → bytes, one byte per char code (so "\xe9" is the byte 0xE9, as on the wire). */
function bytesOf(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new Error(`test bug: char ${c} is not a byte`);
    b[i] = c;
  }
  return b;
}

/** Lines (with `{V}`) → a whole head ending with the empty line. */
function head(lines: string[], v: string, eol: string): string {
  return lines.map((l) => l.replaceAll("{V}", v) + eol).join("") + eol;
}

/** Parses and returns the HttpError it must throw. */
function parseError(bytes: Uint8Array): HttpError {
  try {
    parseRequestHead(bytes);
  } catch (e) {
    if (e instanceof HttpError) return e;
    throw new Error(`threw a ${(e as Error)?.name} instead of an HttpError: ${e}`);
  }
  throw new Error("parsed a head that must be refused");
}

const show = (s: string) => JSON.stringify(s.length > 120 ? s.slice(0, 120) + "…" : s);

// ---------------------------------------------------------------------------------------------
// Valid heads
// ---------------------------------------------------------------------------------------------

interface ValidCase {
  name: string;
  lines: string[];
  /** Versions to generate for; default both. */
  versions?: Version[];
  method?: string;
  target?: string;
  /** keepAlive per version (a function) or the same for all. */
  keepAlive: boolean | ((v: Version) => boolean);
  hasBody?: boolean;
  /** Field values that must come out (lower-case names). */
  fields?: Record<string, string>;
}

/** HTTP/1.1 stays open unless told; HTTP/1.0 closes unless told (RFC 9112 §9.3). */
const DEFAULT_KEEP = (v: Version) => v === "HTTP/1.1";

const LONGEST_LINE = "GET /" + "a".repeat(MAX_REQUEST_LINE_BYTES - "GET / HTTP/1.1".length) +
  " {V}";

const VALID: ValidCase[] = [
  { name: "plain GET", lines: ["GET / {V}", "Host: x"], keepAlive: DEFAULT_KEEP },
  {
    name: "HTTP/1.0 without Host",
    lines: ["GET /a.txt {V}"],
    versions: ["HTTP/1.0"],
    target: "/a.txt",
    keepAlive: false,
  },
  { name: "HEAD", lines: ["HEAD /a {V}", "Host: x"], method: "HEAD", keepAlive: DEFAULT_KEEP },
  {
    name: "leading empty line before the request line (RFC 9112 §2.2)",
    lines: ["", "GET / {V}", "Host: x"],
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: "absolute-form target kept as sent",
    lines: ["GET http://example.com/a%20b?q=1 {V}", "Host: example.com"],
    target: "http://example.com/a%20b?q=1",
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: "OPTIONS * (asterisk-form)",
    lines: ["OPTIONS * {V}", "Host: x"],
    method: "OPTIONS",
    target: "*",
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: "Connection: keep-alive keeps HTTP/1.0 open",
    lines: ["GET / {V}", "Host: x", "Connection: keep-alive"],
    keepAlive: true,
  },
  {
    name: "Connection token in odd case: Keep-ALIVE",
    lines: ["GET / {V}", "Host: x", "Connection: Keep-ALIVE"],
    keepAlive: true,
  },
  {
    name: "Connection: CLOSE in capitals closes",
    lines: ["GET / {V}", "Host: x", "Connection: CLOSE"],
    keepAlive: false,
  },
  {
    name: "Connection list with close among other tokens closes",
    lines: ["GET / {V}", "Host: x", "Connection: TE,  Close ,upgrade"],
    keepAlive: false,
  },
  {
    name: "keep-alive and close together: close wins",
    lines: ["GET / {V}", "Host: x", "Connection: keep-alive, close"],
    keepAlive: false,
  },
  {
    name: "close in a second Connection field still closes",
    lines: ["GET / {V}", "Host: x", "Connection: upgrade", "connection: close"],
    keepAlive: false,
    fields: { connection: "upgrade, close" },
  },
  {
    name: "Connection: closed is not the token close",
    lines: ["GET / {V}", "Host: x", "Connection: closed"],
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: "field names in any case come out lower-case, known ones and near misses alike",
    lines: [
      "GET / {V}",
      "HOST: x",
      "User-AGENT: ua",
      "aCCEPT-eNCODING: identity",
      "Accept-Encodin: near",
      "X-Sec-Fetch-Site: other",
      "Ho_t: t",
      "Cookie: a",
      "COOKIE: b",
    ],
    keepAlive: DEFAULT_KEEP,
    fields: {
      host: "x",
      "user-agent": "ua",
      "accept-encoding": "identity",
      "accept-encodin": "near",
      "x-sec-fetch-site": "other",
      "ho_t": "t",
      cookie: "a, b",
    },
  },
  {
    // OWS is SP / HTAB only: String.prototype.trim would also strip NBSP (found by the fuzzer).
    name: "Connection: close + NBSP (0xA0) is not the token close",
    lines: ["GET / {V}", "Host: x", "Connection: close\xa0"],
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: "Content-Length: 0 is no body and keeps alive",
    lines: ["GET / {V}", "Host: x", "Content-Length: 0"],
    keepAlive: DEFAULT_KEEP,
    hasBody: false,
  },
  {
    name: "Content-Length with leading zeros is still zero",
    lines: ["GET / {V}", "Host: x", "Content-Length: 000"],
    keepAlive: DEFAULT_KEEP,
    hasBody: false,
  },
  {
    name: "Content-Length with OWS around the digits",
    lines: ["GET / {V}", "Host: x", "Content-Length: \t 5 \t"],
    keepAlive: DEFAULT_KEEP,
    hasBody: true,
    fields: { "content-length": "5" },
  },
  {
    name: "Transfer-Encoding: chunked on HTTP/1.1 is a body",
    lines: ["GET / {V}", "Host: x", "Transfer-Encoding: chunked"],
    versions: ["HTTP/1.1"],
    keepAlive: true,
    hasBody: true,
  },
  {
    name: "coding names are case-insensitive: CHUNKED (RFC 9112 §7)",
    lines: ["GET / {V}", "Host: x", "Transfer-encoding: CHUNKED"],
    versions: ["HTTP/1.1"],
    keepAlive: true,
    hasBody: true,
  },
  {
    name: "obs-text in a field value is accepted",
    lines: ["GET / {V}", "Host: x", "X-Name: caf\xe9 \xff\x80"],
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: "tabs and spaces around a value are trimmed, inside kept",
    lines: ["GET / {V}", "Host: x", "X-Pad:\t  a \t b\t "],
    keepAlive: DEFAULT_KEEP,
    fields: { "x-pad": "a \t b" },
  },
  {
    name: "empty field value",
    lines: ["GET / {V}", "Host: x", "X-Empty:"],
    keepAlive: DEFAULT_KEEP,
    fields: { "x-empty": "" },
  },
  {
    name: "a value may hold colons",
    lines: ["GET / {V}", "Host: x", "X-Time: 12:34:56"],
    keepAlive: DEFAULT_KEEP,
    fields: { "x-time": "12:34:56" },
  },
  {
    name: "repeated fields are joined with a comma",
    lines: ["GET / {V}", "Host: x", "Accept: a/b", "ACCEPT: c/d"],
    keepAlive: DEFAULT_KEEP,
    fields: { accept: "a/b, c/d" },
  },
  {
    name: "field names are case-insensitive",
    lines: ["GET / {V}", "hOsT: example.org:8080"],
    keepAlive: DEFAULT_KEEP,
    fields: { host: "example.org:8080" },
  },
  {
    name: "Host with an IPv6 literal and port",
    lines: ["GET / {V}", "Host: [::1]:8080"],
    keepAlive: DEFAULT_KEEP,
    fields: { host: "[::1]:8080" },
  },
  {
    name: "empty Host is allowed (RFC 9112 §3.2)",
    lines: ["GET / {V}", "Host:"],
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: "every tchar in a field name",
    lines: ["GET / {V}", "Host: x", "!#$%&'*+-.^_`|~09azAZ: v"],
    keepAlive: DEFAULT_KEEP,
    fields: { "!#$%&'*+-.^_`|~09azaz": "v" },
  },
  {
    name: "target with query and escapes kept as sent",
    lines: ["GET /a%20b/c?x=1&y=%2F#frag {V}", "Host: x"],
    target: "/a%20b/c?x=1&y=%2F#frag",
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: `request line of exactly MAX_REQUEST_LINE_BYTES (${MAX_REQUEST_LINE_BYTES})`,
    lines: [LONGEST_LINE, "Host: x"],
    keepAlive: DEFAULT_KEEP,
  },
  {
    name: `exactly MAX_FIELDS (${MAX_FIELDS}) fields`,
    lines: [
      "GET / {V}",
      "Host: x",
      ...Array.from({ length: MAX_FIELDS - 1 }, (_, i) => `X-${i}: v`),
    ],
    keepAlive: DEFAULT_KEEP,
  },
];

Deno.test("parseRequestHead accepts well-formed heads (HTTP/1.0 × 1.1 × LF × CRLF)", async (t) => {
  let count = 0;
  for (const c of VALID) {
    for (const v of c.versions ?? VERSIONS) {
      for (const [eolName, eol] of EOLS) {
        const text = head(c.lines, v, eol);
        await t.step(`${c.name} [${v} ${eolName}]`, () => {
          const h: RequestHead = parseRequestHead(bytesOf(text));
          const reqLine = c.lines.find((l) => l !== "")!.replaceAll("{V}", v);
          assert.deepEqual(h.method, c.method ?? reqLine.split(" ")[0]);
          assert.deepEqual(h.target, c.target ?? reqLine.split(" ")[1]);
          assert.deepEqual(h.version, v);
          const keep = typeof c.keepAlive === "function" ? c.keepAlive(v) : c.keepAlive;
          assert.deepEqual(h.keepAlive, keep, "keepAlive");
          assert.deepEqual(h.hasBody, c.hasBody ?? false, "hasBody");
          for (const [k, want] of Object.entries(c.fields ?? {})) {
            assert.deepEqual(h.headers.get(k), want, `field ${k}`);
          }
          // The parser keeps no path separators or controls in the target.
          assert.ok(
            [...h.target].every((ch) => ch > " " && ch < "\x7f"),
            show(h.target),
          );
        });
        count++;
      }
    }
  }
  assert.ok(count >= 2 * 15, `only ${count} valid cases`);
});

Deno.test("parseRequestHead accepts a head of exactly MAX_HEAD_BYTES and refuses one more byte", () => {
  for (const [, eol] of EOLS) {
    const bare = head(["GET / HTTP/1.1", "Host: x", "X-Pad: "], "HTTP/1.1", eol).length;
    const exact = head(
      ["GET / HTTP/1.1", "Host: x", "X-Pad: " + "v".repeat(MAX_HEAD_BYTES - bare)],
      "HTTP/1.1",
      eol,
    );
    assert.deepEqual(exact.length, MAX_HEAD_BYTES);
    assert.deepEqual(parseRequestHead(bytesOf(exact)).headers.get("host"), "x");
    const over = exact.replace("X-Pad: ", "X-Pad: v");
    assert.deepEqual(over.length, MAX_HEAD_BYTES + 1);
    const e = parseError(bytesOf(over));
    assert.deepEqual([e.status, e.close], [431, true]);
  }
});

// ---------------------------------------------------------------------------------------------
// Malformed heads
// ---------------------------------------------------------------------------------------------

interface BadCase {
  name: string;
  lines: string[];
  versions?: Version[];
  /** Expected status; a list when two answers are both reasonable. */
  status: number | number[];
  /** Expected close flag; a function of the version for 405/501 (depends on keep-alive). */
  close: boolean | ((v: Version) => boolean);
}

/** 405/501 close the connection exactly when it would not be kept alive anyway. */
const CLOSE_UNLESS_KEEP = (v: Version) => v === "HTTP/1.0";
const HOSTED = (first: string, ...rest: string[]) => [first, "Host: x", ...rest];

const BAD: BadCase[] = [
  // The request line.
  { name: "only the terminator", lines: [], status: 400, close: true },
  { name: "method alone", lines: ["GET"], status: 400, close: true },
  { name: "no version", lines: HOSTED("GET /"), status: 400, close: true },
  { name: "two spaces after the method", lines: HOSTED("GET  / {V}"), status: 400, close: true },
  { name: "two spaces before the version", lines: HOSTED("GET /  {V}"), status: 400, close: true },
  {
    name: "trailing space after the version",
    lines: HOSTED("GET / {V} "),
    status: 400,
    close: true,
  },
  {
    name: "leading space before the method",
    lines: HOSTED(" GET / {V}"),
    status: 400,
    close: true,
  },
  { name: "tabs instead of spaces", lines: HOSTED("GET\t/\t{V}"), status: 400, close: true },
  { name: "space inside the target", lines: HOSTED("GET /a b {V}"), status: 400, close: true },
  { name: "separator in the method", lines: HOSTED("GE(T / {V}"), status: 400, close: true },
  { name: "non-ASCII byte in the method", lines: HOSTED("G\xc9T / {V}"), status: 400, close: true },
  { name: "NUL in the target", lines: HOSTED("GET /a\x00b {V}"), status: 400, close: true },
  { name: "DEL in the target", lines: HOSTED("GET /a\x7fb {V}"), status: 400, close: true },
  { name: "SOH in the target", lines: HOSTED("GET /\x01 {V}"), status: 400, close: true },
  {
    name: "bare CR inside the request line",
    lines: HOSTED("GET /\r {V}"),
    status: 400,
    close: true,
  },
  { name: "bare CR between the parts", lines: HOSTED("GET\r/ {V}"), status: 400, close: true },
  { name: "NUL after the version", lines: HOSTED("GET / {V}\x00"), status: 400, close: true },
  { name: "lower-case http version", lines: HOSTED("GET / http/1.1"), status: 400, close: true },
  { name: "unknown protocol name", lines: HOSTED("GET / FOO/1.1"), status: 400, close: true },
  { name: "version without minor", lines: HOSTED("GET / HTTP/1"), status: 400, close: true },
  {
    name: "version with two-digit major",
    lines: HOSTED("GET / HTTP/11.1"),
    status: 400,
    close: true,
  },
  { name: "HTTP/2.0", lines: HOSTED("GET / HTTP/2.0"), status: 505, close: true },
  { name: "HTTP/0.9", lines: HOSTED("GET / HTTP/0.9"), status: 505, close: true },
  { name: "HTTP/1.2", lines: HOSTED("GET / HTTP/1.2"), status: 505, close: true },
  { name: "HTTP/3.0", lines: HOSTED("GET / HTTP/3.0"), status: 505, close: true },
  { name: "HTTP/2 preface (PRI * HTTP/2.0)", lines: ["PRI * HTTP/2.0"], status: 505, close: true },
  {
    name: `request line of MAX_REQUEST_LINE_BYTES + 1`,
    lines: HOSTED(
      "GET /" + "a".repeat(MAX_REQUEST_LINE_BYTES + 1 - "GET / HTTP/1.1".length) + " {V}",
    ),
    status: 414,
    close: true,
  },
  {
    name: "request line of 16 KiB",
    lines: HOSTED("GET /" + "a".repeat(16 * 1024) + " {V}"),
    status: 414,
    close: true,
  },
  // Methods.
  { name: "POST", lines: HOSTED("POST / {V}"), status: 405, close: CLOSE_UNLESS_KEEP },
  { name: "PUT", lines: HOSTED("PUT /a {V}"), status: 405, close: CLOSE_UNLESS_KEEP },
  { name: "DELETE", lines: HOSTED("DELETE /a {V}"), status: 405, close: CLOSE_UNLESS_KEEP },
  { name: "TRACE", lines: HOSTED("TRACE / {V}"), status: 405, close: CLOSE_UNLESS_KEEP },
  { name: "CONNECT", lines: HOSTED("CONNECT x:443 {V}"), status: 405, close: CLOSE_UNLESS_KEEP },
  { name: "PATCH", lines: HOSTED("PATCH / {V}"), status: 405, close: CLOSE_UNLESS_KEEP },
  {
    name: "unknown method BREW",
    lines: HOSTED("BREW / {V}"),
    status: 501,
    close: CLOSE_UNLESS_KEEP,
  },
  {
    name: "methods are case-sensitive: get",
    lines: HOSTED("get / {V}"),
    status: 501,
    close: CLOSE_UNLESS_KEEP,
  },
  {
    name: "POST with a body closes",
    lines: HOSTED("POST / {V}", "Content-Length: 5", "Connection: keep-alive"),
    status: 405,
    close: true,
  },
  {
    name: "unknown method with Connection: close closes",
    lines: HOSTED("BREW / {V}", "Connection: close"),
    status: 501,
    close: true,
  },
  {
    name: "PUT on a kept-alive HTTP/1.0 stays open",
    lines: HOSTED("PUT / {V}", "Connection: keep-alive"),
    status: 405,
    close: false,
  },
  // Field lines.
  { name: "space before the colon", lines: ["GET / {V}", "Host : x"], status: 400, close: true },
  {
    name: "tab before the colon",
    lines: HOSTED("GET / {V}", "X-A\t: b"),
    status: 400,
    close: true,
  },
  {
    name: "obs-fold with a space",
    lines: HOSTED("GET / {V}", "X-A: b", " c"),
    status: 400,
    close: true,
  },
  {
    name: "obs-fold with a tab",
    lines: HOSTED("GET / {V}", "X-A: b", "\tc"),
    status: 400,
    close: true,
  },
  {
    name: "field line without a colon",
    lines: HOSTED("GET / {V}", "NoColon"),
    status: 400,
    close: true,
  },
  { name: "field with an empty name", lines: HOSTED("GET / {V}", ": v"), status: 400, close: true },
  {
    name: "separator in a field name",
    lines: HOSTED("GET / {V}", "X(A): v"),
    status: 400,
    close: true,
  },
  {
    name: "NUL in a field name",
    lines: HOSTED("GET / {V}", "X\x00A: v"),
    status: 400,
    close: true,
  },
  {
    name: "non-ASCII in a field name",
    lines: HOSTED("GET / {V}", "X\xe9: v"),
    status: 400,
    close: true,
  },
  {
    name: "NUL in a field value",
    lines: HOSTED("GET / {V}", "X-A: a\x00b"),
    status: 400,
    close: true,
  },
  {
    name: "DEL in a field value",
    lines: HOSTED("GET / {V}", "X-A: a\x7fb"),
    status: 400,
    close: true,
  },
  {
    name: "VT in a field value",
    lines: HOSTED("GET / {V}", "X-A: a\x0bb"),
    status: 400,
    close: true,
  },
  {
    name: "ESC in a field value",
    lines: HOSTED("GET / {V}", "X-A: \x1b[31m"),
    status: 400,
    close: true,
  },
  {
    name: "bare CR inside a value",
    lines: HOSTED("GET / {V}", "X-A: a\rb"),
    status: 400,
    close: true,
  },
  {
    name: "bare CR smuggling a field",
    lines: HOSTED("GET / {V}", "X-A: a\rHost: y"),
    status: 400,
    close: true,
  },
  // Host (RFC 9112 §3.2).
  {
    name: "missing Host on HTTP/1.1",
    lines: ["GET / {V}"],
    versions: ["HTTP/1.1"],
    status: 400,
    close: true,
  },
  { name: "two Host fields", lines: ["GET / {V}", "Host: a", "Host: a"], status: 400, close: true },
  {
    name: "two Host fields in different case",
    lines: ["GET / {V}", "Host: a", "hOST: b"],
    status: 400,
    close: true,
  },
  { name: "Host with a space", lines: ["GET / {V}", "Host: a b"], status: 400, close: true },
  {
    name: "Host with an NBSP (0xA0)",
    lines: ["GET / {V}", "Host: a\xa0b"],
    status: 400,
    close: true,
  },
  { name: "Host with a tab", lines: ["GET / {V}", "Host: a\tb"], status: 400, close: true },
  ...["/", "\\", "@", "?", "#"].map((c) => ({
    name: `Host with ${JSON.stringify(c)}`,
    lines: ["GET / {V}", `Host: a${c}b`],
    status: 400,
    close: true,
  })),
  { name: "Host with a slash", lines: ["GET / {V}", "Host: a/b"], status: 400, close: true },
  { name: "Host with userinfo", lines: ["GET / {V}", "Host: u@a"], status: 400, close: true },
  { name: "Host with a backslash", lines: ["GET / {V}", "Host: a\\b"], status: 400, close: true },
  // Framing (RFC 9112 §6): smuggling defences.
  {
    name: "Content-Length and Transfer-Encoding together",
    lines: HOSTED("GET / {V}", "Content-Length: 5", "Transfer-Encoding: chunked"),
    status: 400,
    close: true,
  },
  {
    name: "Transfer-Encoding before Content-Length",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: chunked", "Content-Length: 0"),
    status: 400,
    close: true,
  },
  {
    name: "two equal Content-Length fields",
    lines: HOSTED("GET / {V}", "Content-Length: 5", "Content-Length: 5"),
    status: 400,
    close: true,
  },
  {
    name: "two differing Content-Length fields",
    lines: HOSTED("GET / {V}", "Content-Length: 5", "Content-Length: 6"),
    status: 400,
    close: true,
  },
  {
    name: "Content-Length as a list",
    lines: HOSTED("GET / {V}", "Content-Length: 5, 5"),
    status: 400,
    close: true,
  },
  {
    name: "Content-Length not a number",
    lines: HOSTED("GET / {V}", "Content-Length: abc"),
    status: 400,
    close: true,
  },
  {
    name: "negative Content-Length",
    lines: HOSTED("GET / {V}", "Content-Length: -1"),
    status: 400,
    close: true,
  },
  {
    name: "Content-Length with a plus sign",
    lines: HOSTED("GET / {V}", "Content-Length: +5"),
    status: 400,
    close: true,
  },
  {
    name: "hexadecimal Content-Length",
    lines: HOSTED("GET / {V}", "Content-Length: 0x10"),
    status: 400,
    close: true,
  },
  {
    name: "empty Content-Length",
    lines: HOSTED("GET / {V}", "Content-Length:"),
    status: 400,
    close: true,
  },
  {
    name: "Content-Length with inner space",
    lines: HOSTED("GET / {V}", "Content-Length: 1 2"),
    status: 400,
    close: true,
  },
  {
    name: "Content-Length with a fraction",
    lines: HOSTED("GET / {V}", "Content-Length: 5.0"),
    status: 400,
    close: true,
  },
  {
    name: "Content-Length of 16 digits (past 2^53)",
    lines: HOSTED("GET / {V}", "Content-Length: 9999999999999999"),
    status: 400,
    close: true,
  },
  {
    name: "space before the colon of Content-Length",
    lines: HOSTED("GET / {V}", "Content-Length : 5"),
    status: 400,
    close: true,
  },
  {
    name: "Transfer-Encoding: chunked, identity",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: chunked, identity"),
    status: 400,
    close: true,
  },
  {
    name: "Transfer-Encoding: identity",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: identity"),
    status: 400,
    close: true,
  },
  {
    // A peer that trims only SP / HTAB (as RFC 9110 §5.6.3 says) reads no chunked here.
    name: "Transfer-Encoding: chunked + NBSP (0xA0) is not chunked",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: chunked\xa0"),
    status: 400,
    close: true,
  },
  {
    name: "Transfer-Encoding: gzip",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: gzip"),
    status: 400,
    close: true,
  },
  {
    // RFC 9112 §6.1 would allow 501 for an unknown coding before chunked; either refuses it.
    name: "Transfer-Encoding: gzip, chunked (a coding Ferry does not know)",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: gzip, chunked"),
    status: [400, 501],
    close: true,
  },
  {
    name: "Transfer-Encoding: chunked, chunked",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: chunked, chunked"),
    status: 400,
    close: true,
  },
  {
    name: "two Transfer-Encoding: chunked fields",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
    status: 400,
    close: true,
  },
  {
    name: "empty Transfer-Encoding",
    lines: HOSTED("GET / {V}", "Transfer-Encoding:"),
    status: 400,
    close: true,
  },
  {
    name: "Transfer-Encoding: chunked with a trailing comma",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: chunked,"),
    status: 400,
    close: true,
  },
  {
    name: "Transfer-Encoding: xchunked",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: xchunked"),
    status: 400,
    close: true,
  },
  {
    name: "space before the colon of Transfer-Encoding",
    lines: HOSTED("GET / {V}", "Transfer-Encoding : chunked"),
    status: 400,
    close: true,
  },
  {
    name: "Transfer-Encoding in an HTTP/1.0 request",
    lines: HOSTED("GET / {V}", "Transfer-Encoding: chunked"),
    versions: ["HTTP/1.0"],
    status: 400,
    close: true,
  },
  // Limits.
  {
    name: `MAX_FIELDS + 1 (${MAX_FIELDS + 1}) fields`,
    lines: HOSTED("GET / {V}", ...Array.from({ length: MAX_FIELDS }, (_, i) => `X-${i}: v`)),
    status: 431,
    close: true,
  },
  {
    name: "one field of 40 KiB",
    lines: HOSTED("GET / {V}", "X-Big: " + "b".repeat(40 * 1024)),
    status: 431,
    close: true,
  },
  {
    name: "1000 small fields",
    lines: HOSTED("GET / {V}", ...Array.from({ length: 1000 }, (_, i) => `X-${i}: v`)),
    status: 431,
    close: true,
  },
  {
    // Both limits are broken; either answer is right.
    name: "request line of 40 KiB (past both limits)",
    lines: HOSTED("GET /" + "a".repeat(40 * 1024) + " {V}"),
    status: [414, 431],
    close: true,
  },
];

Deno.test("parseRequestHead refuses malformed heads with the right status and close flag", async (t) => {
  let count = 0;
  for (const c of BAD) {
    // A case whose first line has no {V} is version-independent: generate it once per EOL.
    const versions = c.versions ??
      (c.lines.some((l) => l.includes("{V}")) ? VERSIONS : ["HTTP/1.1" as Version]);
    for (const v of versions) {
      for (const [eolName, eol] of EOLS) {
        const text = head(c.lines, v, eol);
        await t.step(`${c.name} [${v} ${eolName}]`, () => {
          const e = parseError(bytesOf(text));
          const want = Array.isArray(c.status) ? c.status : [c.status];
          assert.ok(want.includes(e.status), `status ${e.status}, want ${want} for ${show(text)}`);
          const close = typeof c.close === "function" ? c.close(v) : c.close;
          assert.deepEqual(e.close, close, `close for ${show(text)}`);
          if (e.status === 405) {
            assert.deepEqual(e.fields, [["Allow", ALLOW]], "405 carries Allow");
            assert.deepEqual(ALLOW, "GET, HEAD, OPTIONS");
          }
          // The public message never echoes the request.
          assert.ok(!e.message.includes("/a"), e.message);
        });
        count++;
      }
    }
  }
  assert.ok(BAD.length >= 45, `only ${BAD.length} malformed templates`);
  assert.ok(count >= 150, `only ${count} generated cases`);
});

Deno.test("parseRequestHead refuses an empty line inside the head it is given", () => {
  const e = parseError(bytesOf("GET / HTTP/1.1\r\nHost: x\r\n\r\nX-After: y\r\n\r\n"));
  assert.deepEqual([e.status, e.close], [400, true]);
});

Deno.test("parseRequestHead keeps obs-text bytes as sent (Latin-1), not as windows-1252", () => {
  // RFC 9110 §5.5: field values may hold obs-text (%x80-FF), opaque bytes. The parser decodes
  // the head with `new TextDecoder("latin1")`, but the Encoding Standard maps the "latin1" label
  // to windows-1252, so 0x80 comes out as U+20AC "€" and 0x9F as U+0178 "Ÿ": the value no longer
  // says which bytes were sent (0xA0–0xFF happen to survive).
  const h = parseRequestHead(bytesOf("GET / HTTP/1.1\r\nHost: x\r\nX-Raw: a\x80\x9f\xe9b\r\n\r\n"));
  const got = [...h.headers.get("x-raw")!].map((c) => c.charCodeAt(0).toString(16));
  assert.deepEqual(got, ["61", "80", "9f", "e9", "62"]);
});

Deno.test("parseRequestHead honours start and end offsets into a larger buffer", () => {
  const a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const b = "HEAD /b HTTP/1.0\r\n\r\n";
  const buf = bytesOf("JUNK" + a + b + "JUNK");
  const ha = parseRequestHead(buf, 4, 4 + a.length);
  assert.deepEqual([ha.method, ha.target, ha.version], ["GET", "/a", "HTTP/1.1"]);
  const hb = parseRequestHead(buf, 4 + a.length, 4 + a.length + b.length);
  assert.deepEqual([hb.method, hb.target, hb.version, hb.keepAlive], [
    "HEAD",
    "/b",
    "HTTP/1.0",
    false,
  ]);
});

// ---------------------------------------------------------------------------------------------
// findHeadEnd
// ---------------------------------------------------------------------------------------------

Deno.test("findHeadEnd finds the empty line that ends a head, and only that", () => {
  const H = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const cases: Array<{ name: string; buf: string; start?: number; end?: number; want: number }> = [
    { name: "CRLF head", buf: H, want: H.length },
    { name: "LF-only head", buf: "GET / HTTP/1.1\nHost: x\n\n", want: 24 },
    { name: "LF then CRLF", buf: "GET / HTTP/1.1\nHost: x\n\r\n", want: 25 },
    { name: "CRLF then LF", buf: "GET / HTTP/1.1\r\nHost: x\r\n\n", want: 26 },
    { name: "body after the head is not part of it", buf: H + "hello", want: H.length },
    { name: "no terminator yet", buf: "GET / HTTP/1.1\r\nHost: x\r\n", want: -1 },
    { name: "half a terminator", buf: "GET / HTTP/1.1\r\nHost: x\r\n\r", want: -1 },
    { name: "CR CR LF is not an empty line", buf: "GET / HTTP/1.1\r\n\r\r\n", want: -1 },
    { name: "empty buffer", buf: "", want: -1 },
    { name: "just LF LF", buf: "\n\n", want: 2 },
    { name: "just CRLF CRLF", buf: "\r\n\r\n", want: 4 },
    {
      name: "start skips a first head (pipelining)",
      buf: H + H,
      start: H.length,
      want: 2 * H.length,
    },
    { name: "end cuts before the terminator", buf: H, end: H.length - 1, want: -1 },
    { name: "end exactly at the terminator", buf: H, end: H.length, want: H.length },
    { name: "LF at end-1 does not peek past end", buf: H + "\n", end: H.length - 2, want: -1 },
  ];
  for (const c of cases) {
    assert.deepEqual(findHeadEnd(bytesOf(c.buf), c.start, c.end), c.want, c.name);
  }
});

// ---------------------------------------------------------------------------------------------
// ConnReader over a fake source
// ---------------------------------------------------------------------------------------------

/**
 * A Source that delivers `data` as packets: `sizes` (cycled) cut it into packets, and one read
 * returns bytes of one packet only (fewer if `p` is smaller), like a socket. Then EOF.
 */
class FakeSource implements Source {
  #packets: Uint8Array[] = [];
  #at = 0;
  reads = 0;
  closed = false;
  constructor(data: Uint8Array, sizes: number[] = [data.length]) {
    for (let off = 0, i = 0; off < data.length; i++) {
      const n = Math.max(1, sizes[i % sizes.length]);
      this.#packets.push(data.subarray(off, off + n));
      off += n;
    }
  }
  read(p: Uint8Array): Promise<number | null> {
    this.reads++;
    if (this.reads > 1_000_000) throw new Error("test bug: runaway reader");
    while (this.#at < this.#packets.length && this.#packets[this.#at].length === 0) this.#at++;
    if (this.#at >= this.#packets.length) return Promise.resolve(null);
    const packet = this.#packets[this.#at];
    const n = Math.min(p.length, packet.length);
    p.set(packet.subarray(0, n));
    this.#packets[this.#at] = packet.subarray(n);
    return Promise.resolve(n);
  }
  close(): void {
    this.closed = true;
  }
}

/** A source that produces `unit` forever (up to a safety cap): a peer that never stops. */
class EndlessSource implements Source {
  #prefix: Uint8Array;
  #unit: Uint8Array;
  #at = 0;
  sent = 0;
  constructor(prefix: string, unit: string, readonly chunk = 1024) {
    this.#prefix = bytesOf(prefix);
    this.#unit = bytesOf(unit);
  }
  read(p: Uint8Array): Promise<number | null> {
    if (this.sent > 4 * 1024 * 1024) return Promise.resolve(null); // the reader failed to stop
    const n = Math.min(p.length, this.chunk);
    for (let i = 0; i < n; i++, this.#at++) {
      p[i] = this.#at < this.#prefix.length
        ? this.#prefix[this.#at]
        : this.#unit[(this.#at - this.#prefix.length) % this.#unit.length];
    }
    this.sent += n;
    return Promise.resolve(n);
  }
  close(): void {}
}

const LIMITS = { maxHeadBytes: MAX_HEAD_BYTES, maxFirstLineBytes: MAX_REQUEST_LINE_BYTES };
const HEADS = [
  "GET /a.txt HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
  "GET /a.txt HTTP/1.1\nHost: x\n\n",
  "\r\nGET / HTTP/1.0\r\n\r\n",
  "HEAD /b HTTP/1.1\nHost: x\r\nX: y\n\r\n",
];

async function readError(reader: ConnReader, limits = LIMITS): Promise<unknown> {
  try {
    await reader.readHead(limits);
  } catch (e) {
    return e;
  }
  throw new Error("readHead returned where it must throw");
}

Deno.test("ConnReader assembles a head dribbled one byte per read", async () => {
  for (const h of HEADS) {
    const src = new FakeSource(bytesOf(h + "BODY"), [1]);
    const reader = new ConnReader(src);
    const got = await reader.readHead(LIMITS);
    // Empty lines before the request line are skipped (RFC 9112 §2.2), not part of the head.
    assert.deepEqual(got, bytesOf(h.replace(/^[\r\n]+/, "")), show(h));
    // The byte after the head is still there for the body reader.
    const rest = new Uint8Array(8);
    const n = await reader.read(rest);
    assert.deepEqual(rest.subarray(0, n!), bytesOf("B"));
  }
});

Deno.test("ConnReader returns the same head wherever the stream is split in two", async () => {
  for (const h of HEADS) {
    for (let k = 1; k < h.length; k++) {
      const src = new FakeSource(bytesOf(h), [k, h.length]);
      const got = await new ConnReader(src).readHead(LIMITS);
      assert.deepEqual(got, bytesOf(h.replace(/^[\r\n]+/, "")), `${show(h)} split at ${k}`);
    }
  }
});

Deno.test("ConnReader returns each of several pipelined heads from one read, then null at EOF", async () => {
  const body = "hello";
  const stream = HEADS[0] + HEADS[1] + HEADS[3].replace("HEAD", "GET") + body + HEADS[0];
  // A small initial buffer forces compaction and growth between the heads.
  const reader = new ConnReader(new FakeSource(bytesOf(stream)), { initialBytes: 16 });
  assert.deepEqual(await reader.readHead(LIMITS), bytesOf(HEADS[0]));
  assert.deepEqual(await reader.readHead(LIMITS), bytesOf(HEADS[1]));
  const third = await reader.readHead(LIMITS);
  assert.deepEqual(parseRequestHead(third!).target, "/b");
  // Body bytes come out of the same buffer (a read may return fewer than asked).
  const p = new Uint8Array(body.length);
  for (let got = 0; got < p.length;) {
    const n = await reader.read(p.subarray(got));
    assert.ok(n !== null && n > 0, "body bytes");
    got += n;
  }
  assert.deepEqual(new TextDecoder().decode(p), body);
  assert.deepEqual(await reader.readHead(LIMITS), bytesOf(HEADS[0]));
  assert.deepEqual(await reader.readHead(LIMITS), null, "clean EOF between heads");
});

Deno.test("ConnReader skips empty lines before a head instead of returning them as one", async () => {
  // parseRequestHead documents that leading empty lines are skipped (RFC 9112 §2.2: a server
  // SHOULD ignore at least one). But readHead delimits with findHeadEnd, which takes an empty
  // line at the very start for the end of a head: with two CRLFs before the request line it
  // returns "\r\n\r\n" alone, which parses to 400 "empty request", and the real request after
  // it is never answered (the connection is closed).
  for (const lead of ["\r\n\r\n", "\n\n", "\r\n\r\n\r\n"]) {
    const h = lead + "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const got = await new ConnReader(new FakeSource(bytesOf(h))).readHead(LIMITS);
    let parsed: string;
    try {
      parsed = parseRequestHead(got!).target;
    } catch (e) {
      parsed = `refused with ${(e as HttpError).status}`;
    }
    assert.deepEqual(parsed, "/a", `${JSON.stringify(lead)} before the request line`);
  }
});

Deno.test("ConnReader reports EOF in the middle of a head as UnexpectedEofError", async () => {
  const reader = new ConnReader(new FakeSource(bytesOf("GET / HTTP/1.1\r\nHost: x\r\n"), [3]));
  assert.ok(await readError(reader) instanceof UnexpectedEofError);
});

Deno.test("ConnReader answers 414 to a request line with no LF beyond 8 KiB, without reading on", async () => {
  const src = new EndlessSource("GET /", "a");
  const e = await readError(new ConnReader(src));
  assert.ok(e instanceof HttpError, String(e));
  assert.deepEqual([e.status, e.close], [414, true]);
  assert.ok(src.sent <= MAX_REQUEST_LINE_BYTES + 2048, `read ${src.sent} bytes before refusing`);
});

Deno.test("ConnReader answers 414 to a long request line that arrives with its LF", async () => {
  const line = "GET /" + "a".repeat(MAX_REQUEST_LINE_BYTES) + " HTTP/1.1\r\n";
  // The fields never arrive: the reader must decide on the line alone.
  const e = await readError(
    new ConnReader(new FakeSource(bytesOf(line + "Host: x\r\n"), [line.length])),
  );
  assert.ok(e instanceof HttpError, String(e));
  assert.deepEqual(e.status, 414);
});

Deno.test("ConnReader answers 431 to an endless head, reading at most about MAX_HEAD_BYTES", async () => {
  for (
    const unit of [
      "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
      "X: " + "y".repeat(5000) + "\n",
    ]
  ) {
    const src = new EndlessSource("GET / HTTP/1.1\r\nHost: x\r\n", unit);
    const e = await readError(new ConnReader(src));
    assert.ok(e instanceof HttpError, String(e));
    assert.deepEqual([e.status, e.close], [431, true]);
    assert.ok(src.sent <= MAX_HEAD_BYTES + 2048, `read ${src.sent} bytes before refusing`);
  }
});

Deno.test("ConnReader answers 431 to a complete head one byte over MAX_HEAD_BYTES", async () => {
  const pad = MAX_HEAD_BYTES + 1 - "GET / HTTP/1.1\r\nHost: x\r\nX: \r\n\r\n".length;
  const h = `GET / HTTP/1.1\r\nHost: x\r\nX: ${"v".repeat(pad)}\r\n\r\n`;
  assert.deepEqual(h.length, MAX_HEAD_BYTES + 1);
  const e = await readError(new ConnReader(new FakeSource(bytesOf(h))));
  assert.ok(e instanceof HttpError && e.status === 431, String(e));
  const ok = h.replace("vv", "v");
  const got = await new ConnReader(new FakeSource(bytesOf(ok), [1000])).readHead(LIMITS);
  assert.deepEqual(got?.length, MAX_HEAD_BYTES);
});

Deno.test("ConnReader and parseRequestHead agree on the longest request line, however it arrives", async () => {
  // A request line of exactly MAX_REQUEST_LINE_BYTES is within the limit ("≤ 8 KiB"), and
  // parseRequestHead accepts it. The reader must not refuse it just because the head came in
  // more than one read: its CR is part of the terminator, not of the line.
  for (const [eolName, eol] of EOLS) {
    const h = head([LONGEST_LINE, "Host: x"], "HTTP/1.1", eol);
    assert.deepEqual(parseRequestHead(bytesOf(h)).version, "HTTP/1.1");
    const lineEnd = h.indexOf("\n") + 1;
    const splits: Array<[string, number[]]> = [
      ["in one packet", [h.length]],
      ["split after the request line", [lineEnd, h.length]],
      ["split inside the line terminator", [lineEnd - 1, h.length]],
      ["4 KiB reads", [4096]],
      ["one byte per read", [1]],
    ];
    const refused: string[] = [];
    for (const [how, sizes] of splits) {
      try {
        const got = await new ConnReader(new FakeSource(bytesOf(h), sizes)).readHead(LIMITS);
        if (got?.length !== h.length) refused.push(`${how}: returned ${got?.length} bytes`);
      } catch (e) {
        refused.push(`${how}: ${e instanceof HttpError ? `refused with ${e.status}` : e}`);
      }
    }
    assert.deepEqual(refused, [], `${eolName} line ends`);
  }
});

Deno.test("ConnReader with readTimeoutMs closes a silent source and throws ReadTimeoutError", async () => {
  let closed = false;
  const silent: Source = {
    read: () => new Promise<number | null>(() => {}),
    close: () => {
      closed = true;
    },
  };
  const t0 = performance.now();
  const e = await readError(new ConnReader(silent, { readTimeoutMs: 50 }));
  assert.ok(e instanceof ReadTimeoutError, String(e));
  assert.ok(closed, "the source is closed on timeout");
  assert.ok(performance.now() - t0 < 2000);
});

Deno.test("parseRequestHead accepts raw bytes >= 0x80 in the target, one char per byte", () => {
  // busybox wget sends UTF-8 names unencoded; nginx, Apache, lighttpd and Caddy answer them.
  // Whether the bytes form valid UTF-8 is parseTarget's check (400 there, not here).
  for (const raw of ["/\xc3\xa9.txt", "/\xe9", "/d/\xe2\x9c\x93?q=\xc3\xa9"]) {
    const h = parseRequestHead(bytesOf(`GET ${raw} HTTP/1.1\r\nHost: x\r\n\r\n`));
    assert.deepEqual(h.target, raw);
  }
  for (const raw of ["/a\x7fb", "/a\x00b", "/a\x1fb"]) {
    assert.throws(
      () => parseRequestHead(bytesOf(`GET ${raw} HTTP/1.1\r\nHost: x\r\n\r\n`)),
      (e: unknown) => e instanceof HttpError && e.status === 400,
      JSON.stringify(raw),
    );
  }
});
