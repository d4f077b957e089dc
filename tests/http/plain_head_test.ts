/**
 * The plain-head fast path: what it takes (and that the full parser reads those heads the same
 * way), and what it must leave to the full parser. The fuzzed differential check is in
 * tests/fuzz (`readPlainHead fuzz`).
 */

import assert from "node:assert/strict";
import { plain, readPlainHead } from "../../lib/http/plain_head.ts";
import { MAX_FIELDS, MAX_REQUEST_LINE_BYTES, parseRequestHead } from "../../lib/http/request.ts";

/** Text → bytes, one byte per char code. */
function bytesOf(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function take(text: string): boolean {
  const b = bytesOf(text);
  return readPlainHead(b, 0, b.length);
}

const BROWSER = [
  "GET /docs/index.html HTTP/1.1",
  "Host: localhost:8000",
  "Connection: keep-alive",
  'sec-ch-ua: "Chromium";v="156", "Not)A;Brand";v="24"',
  "sec-ch-ua-mobile: ?0",
  'sec-ch-ua-platform: "Linux"',
  "Upgrade-Insecure-Requests: 1",
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
  "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "Sec-Fetch-Site: none",
  "Sec-Fetch-Mode: navigate",
  "Sec-Fetch-User: ?1",
  "Sec-Fetch-Dest: document",
  "Accept-Encoding: gzip, deflate, br, zstd",
  "Accept-Language: en-US,en;q=0.9",
  "Cookie: a=1; b=2",
  "Priority: u=0, i",
].join("\r\n") + "\r\n\r\n";

const TAKEN: Array<[string, string, { method: string; target: string; keep: boolean }]> = [
  ["wrk", "GET /4k HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", {
    method: "GET",
    target: "/4k",
    keep: true,
  }],
  [
    "curl",
    "GET /a%20b.txt?x=1 HTTP/1.1\r\nHost: [::1]:80\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    { method: "GET", target: "/a%20b.txt?x=1", keep: true },
  ],
  ["a browser", BROWSER, { method: "GET", target: "/docs/index.html", keep: true }],
  ["HEAD", "HEAD / HTTP/1.1\r\nhost: x\r\n\r\n", { method: "HEAD", target: "/", keep: true }],
  ["HTTP/1.0 closes", "GET / HTTP/1.0\r\n\r\n", { method: "GET", target: "/", keep: false }],
  [
    "HTTP/1.0 keep-alive",
    "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    { method: "GET", target: "/", keep: true },
  ],
  [
    "close among tokens, any case, OWS",
    "GET / HTTP/1.1\r\nHost: x\r\nCONNECTION:\t upgrade ,CLOSE \t\r\n\r\n",
    { method: "GET", target: "/", keep: false },
  ],
  [
    "close in a second Connection field",
    "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nconnection: close\r\n\r\n",
    { method: "GET", target: "/", keep: false },
  ],
  [
    "HTTP/1.0 keep-alive and close",
    "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
    { method: "GET", target: "/", keep: false },
  ],
  [
    "absolute form, empty Host",
    "GET http://example.com/x HTTP/1.1\r\nHost:\r\n\r\n",
    { method: "GET", target: "http://example.com/x", keep: true },
  ],
  [
    "a long target",
    `GET /${"a".repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    { method: "GET", target: "/" + "a".repeat(300), keep: true },
  ],
];

Deno.test("readPlainHead takes plain GET/HEAD heads, and the full parser reads them the same", () => {
  for (const [name, text, want] of TAKEN) {
    assert.ok(take(text), name);
    const got = { ...plain };
    const h = parseRequestHead(bytesOf(text));
    assert.deepEqual(
      [got.method, got.target, got.version, got.keepAlive],
      [want.method, want.target, h.version, want.keep],
      name,
    );
    assert.deepEqual([h.method, h.target, h.keepAlive, h.hasBody], [
      want.method,
      want.target,
      want.keep,
      false,
    ], name);
  }
});

const LEFT: Array<[string, string]> = [
  ["LF line ends", "GET / HTTP/1.1\nHost: x\n\n"],
  ["a bare LF in a field", "GET / HTTP/1.1\r\nHost: x\nAccept: y\r\n\r\n"],
  ["a bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nAccept: a\rb\r\n\r\n"],
  ["NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nAccept: a\x00b\r\n\r\n"],
  ["DEL in a value", "GET / HTTP/1.1\r\nHost: x\r\nAccept: a\x7fb\r\n\r\n"],
  ["obs-text in a value", "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\xe9\r\n\r\n"],
  ["Range", "GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n"],
  ["If-None-Match", 'GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: "a"\r\n\r\n'],
  ["If-Modified-Since", "GET / HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: x\r\n\r\n"],
  ["Want-Repr-Digest", "GET / HTTP/1.1\r\nHost: x\r\nWant-Repr-Digest: sha-256=1\r\n\r\n"],
  ["Content-Length: 0", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"],
  ["Transfer-Encoding", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"],
  ["Expect", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n"],
  ["an unknown field", "GET / HTTP/1.1\r\nHost: x\r\nX-Foo: 1\r\n\r\n"],
  ["a near miss of a known name", "GET / HTTP/1.1\r\nHost: x\r\nAccepts: 1\r\n\r\n"],
  ["two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n"],
  ["no Host on HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"],
  ["Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"],
  ["Host with a tab", "GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n"],
  ["Host with /", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"],
  ["Host with \\", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n"],
  ["Host with @", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"],
  ["Host with ?", "GET / HTTP/1.1\r\nHost: a?b\r\n\r\n"],
  ["Host with #", "GET / HTTP/1.1\r\nHost: a#b\r\n\r\n"],
  ["Host with NBSP", "GET / HTTP/1.1\r\nHost: a\xa0\r\n\r\n"],
  ["obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nAccept: a\r\n b\r\n\r\n"],
  ["space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"],
  ["an empty name", "GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n"],
  ["an empty line inside", "GET / HTTP/1.1\r\nHost: x\r\n\r\nAccept: y\r\n\r\n"],
  ["HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n"],
  ["lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n"],
  ["lower-case method", "get / HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["POST", "POST / HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["a space in the target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["DEL in the target", "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["obs-text in the target", "GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["a space after the version", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n"],
  ["no target", "GET HTTP/1.1\r\nHost: x\r\n\r\n"],
  [
    "a request line over the limit",
    `GET /${"a".repeat(MAX_REQUEST_LINE_BYTES - 13)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  ],
  [
    "more fields than the limit",
    "GET / HTTP/1.1\r\nHost: x\r\n" + "Accept: a\r\n".repeat(MAX_FIELDS) + "\r\n",
  ],
];

Deno.test("readPlainHead leaves everything else to the full parser", () => {
  for (const [name, text] of LEFT) assert.equal(take(text), false, name);
  // Exactly the limits are still taken.
  assert.ok(
    take("GET / HTTP/1.1\r\nHost: x\r\n" + "Accept: a\r\n".repeat(MAX_FIELDS - 1) + "\r\n"),
  );
  const longest = `GET /${"a".repeat(MAX_REQUEST_LINE_BYTES - 14)} HTTP/1.1`;
  assert.equal(longest.length, MAX_REQUEST_LINE_BYTES);
  assert.ok(take(`${longest}\r\nHost: x\r\n\r\n`));
});

Deno.test("readPlainHead reads only its slice of a larger buffer", () => {
  const head = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  // Bytes before and after (a previous request, the next pipelined one) change nothing.
  const b = bytesOf("junk\r\n" + head + "GET /y HTTP/1.1\r\nRange: bytes=0-0\r\n\r\n");
  assert.ok(readPlainHead(b, 6, 6 + head.length));
  assert.equal(plain.target, "/x");
  // A slice cut short of its terminator is not a head.
  assert.equal(readPlainHead(b, 6, 6 + head.length - 2), false);
  assert.equal(readPlainHead(b, 6, 6 + 3), false);
});

Deno.test("readPlainHead() notes where the User-Agent value is (for the log), or none", () => {
  const cases: Array<[string, string | null]> = [
    ["GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\n\r\n", "curl/8.5.0"],
    ["GET / HTTP/1.1\r\nuser-agent:   Wget/1.21 (linux)  \r\nHost: x\r\n\r\n", "Wget/1.21 (linux)"],
    ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", null],
  ];
  for (const [text, want] of cases) {
    const b = new TextEncoder().encode(text);
    assert.ok(readPlainHead(b, 0, b.length), text);
    const got = plain.uaEnd > plain.uaStart
      ? new TextDecoder().decode(b.subarray(plain.uaStart, plain.uaEnd))
      : null;
    assert.deepEqual(got, want, text);
  }
});
