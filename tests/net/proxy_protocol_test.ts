/**
 * The PROXY header parser against the rules of HAProxy's doc/proxy-protocol.txt (§2.1 text,
 * §2.2 binary), case by case.
 */

import assert from "node:assert/strict";
import {
  MAX_PROXY_HEADER_BYTES,
  parseProxyHeader,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  proxyHeaderBytesNeeded,
  type ProxyParse,
} from "../../lib/net/proxy_protocol.ts";

const text = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** A version 2 header: signature, ver/cmd, fam/proto, length, then `body`. */
function v2(verCmd: number, famProto: number, body: number[], lenOverride?: number): Uint8Array {
  const len = lenOverride ?? body.length;
  return Uint8Array.from([...PROXY_V2_SIGNATURE, verCmd, famProto, len >> 8, len & 0xff, ...body]);
}
const be16 = (n: number) => [n >> 8, n & 0xff];
const V4_BODY = [192, 0, 2, 1, 198, 51, 100, 2, ...be16(56324), ...be16(443)];
const V6_SRC = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1];
const V6_DST = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2];
const V6_BODY = [...V6_SRC, ...V6_DST, ...be16(1234), ...be16(80)];

interface Case {
  name: string;
  input: Uint8Array;
  /** An `ok` result's fields, "incomplete", or a pattern the invalid reason matches. */
  want:
    | { version: 1 | 2; length: number; command?: "proxy" | "local"; src: string | null }
    | "incomplete"
    | RegExp;
}

const CASES: Case[] = [
  // §2.1, version 1.
  {
    name: "v1 TCP4, the spec's example, followed by a request",
    input: text("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"),
    want: { version: 1, length: 47, src: "192.168.0.1:56324" },
  },
  {
    name: "v1 TCP6",
    input: text("PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n"),
    want: { version: 1, length: 44, src: "2001:db8::1:1234" },
  },
  {
    name: "v1 TCP6 in the full four-digit form is canonicalised",
    input: text("PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::2 65535 0\r\n"),
    want: { version: 1, length: 64, src: "2001:db8::1:65535" },
  },
  {
    name: "v1 UNKNOWN, short form: the real endpoints stand",
    input: text("PROXY UNKNOWN\r\n"),
    want: { version: 1, length: 15, src: null },
  },
  {
    name: "v1 UNKNOWN ignores the rest of its line",
    input: text("PROXY UNKNOWN whatever is here 1 2\r\n"),
    want: { version: 1, length: 36, src: null },
  },
  {
    name: "v1 worst case: 107 bytes exactly",
    input: text(
      `PROXY UNKNOWN ${"ffff:".repeat(7)}ffff ${"ffff:".repeat(7)}ffff 65535 65535\r\n`,
    ),
    want: { version: 1, length: 107, src: null },
  },
  {
    name: "v1 without CRLF in 107 bytes",
    input: text(`PROXY UNKNOWN ${"x".repeat(100)}\r\n`),
    want: /no CRLF within 107/,
  },
  { name: "v1 a lone LF ends nothing", input: text("PROXY UNKNOWN\n"), want: /control/ },
  { name: "v1 CR without LF", input: text("PROXY UNKNOWN\rX"), want: /CR not followed by LF/ },
  { name: "v1 partial: waits", input: text("PROXY TCP4 1.2.3.4 "), want: "incomplete" },
  { name: "v1 partial prefix: waits", input: text("PRO"), want: "incomplete" },
  { name: "v1 CR last: waits for the LF", input: text("PROXY UNKNOWN\r"), want: "incomplete" },
  {
    name: "v1 leading zero in an address (octal elsewhere)",
    input: text("PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n"),
    want: /address/,
  },
  {
    name: "v1 leading zero in a port",
    input: text("PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n"),
    want: /port/,
  },
  {
    name: "v1 port over 65535",
    input: text("PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n"),
    want: /port/,
  },
  {
    name: "v1 TCP4 with an IPv6 address",
    input: text("PROXY TCP4 ::1 ::1 1 2\r\n"),
    want: /family/,
  },
  {
    name: "v1 TCP6 with an IPv4 address",
    input: text("PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n"),
    want: /family/,
  },
  {
    name: "v1 two spaces",
    input: text("PROXY TCP4  192.168.0.1 192.168.0.11 1 2\r\n"),
    want: /four fields/,
  },
  {
    name: "v1 a field missing",
    input: text("PROXY TCP4 192.168.0.1 192.168.0.11 1\r\n"),
    want: /four fields/,
  },
  {
    name: "v1 lower-case protocol",
    input: text("PROXY tcp4 1.1.1.1 1.1.1.1 1 1\r\n"),
    want: /TCP4/,
  },
  {
    name: "v1 UDP4 is no v1 protocol",
    input: text("PROXY UDP4 1.1.1.1 1.1.1.1 1 1\r\n"),
    want: /TCP4/,
  },
  { name: "lower-case proxy is not a header", input: text("proxy TCP4"), want: /not a PROXY/ },
  { name: "a plain request is not a header", input: text("GET / HTTP/1.1\r\n"), want: /not a/ },
  { name: "TLS ClientHello is not a header", input: Uint8Array.of(0x16, 3, 1), want: /not a/ },
  { name: "nothing yet: waits", input: new Uint8Array(0), want: "incomplete" },

  // §2.2, version 2.
  {
    name: "v2 PROXY TCP over IPv4, then the stream",
    input: Uint8Array.from([...v2(0x21, 0x11, V4_BODY), ...text("GET /")]),
    want: { version: 2, length: 28, src: "192.0.2.1:56324" },
  },
  {
    name: "v2 PROXY TCP over IPv6",
    input: v2(0x21, 0x21, V6_BODY),
    want: { version: 2, length: 52, src: "2001:db8::1:1234" },
  },
  {
    name: "v2 LOCAL (a health check): no address, whatever follows",
    input: v2(0x20, 0x00, []),
    want: { version: 2, length: 16, command: "local", src: null },
  },
  {
    name: "v2 LOCAL with an address block: skipped by its length",
    input: v2(0x20, 0x11, V4_BODY),
    want: { version: 2, length: 28, command: "local", src: null },
  },
  {
    name: "v2 PROXY with AF_UNSPEC: the real endpoints stand",
    input: v2(0x21, 0x00, [1, 2, 3]),
    want: { version: 2, length: 19, src: null },
  },
  {
    name: "v2 PROXY UDP over IPv4: no TCP client to use",
    input: v2(0x21, 0x12, V4_BODY),
    want: { version: 2, length: 28, src: null },
  },
  {
    name: "v2 PROXY over AF_UNIX",
    input: v2(0x21, 0x31, Array(216).fill(0)),
    want: { version: 2, length: 232, src: null },
  },
  {
    name: "v2 with TLVs after the addresses (ALPN h2, NOOP)",
    input: v2(0x21, 0x11, [...V4_BODY, 0x01, 0, 2, 0x68, 0x32, 0x04, 0, 0]),
    want: { version: 2, length: 36, src: "192.0.2.1:56324" },
  },
  {
    name: "v2 a TLV overruns the header",
    input: v2(0x21, 0x11, [...V4_BODY, 0x01, 0, 9, 0x68]),
    want: /TLV overruns/,
  },
  {
    name: "v2 a truncated TLV",
    input: v2(0x21, 0x11, [...V4_BODY, 0x01, 0]),
    want: /truncated TLV/,
  },
  {
    name: "v2 shorter than its IPv4 address block",
    input: v2(0x21, 0x11, V4_BODY.slice(0, 11)),
    want: /shorter/,
  },
  { name: "v2 version 1 in the version nibble", input: v2(0x11, 0x11, V4_BODY), want: /version/ },
  { name: "v2 version 3", input: v2(0x31, 0x11, V4_BODY), want: /version/ },
  { name: "v2 command 2", input: v2(0x22, 0x11, V4_BODY), want: /command/ },
  { name: "v2 family 4", input: v2(0x21, 0x41, V4_BODY), want: /family/ },
  { name: "v2 protocol 3", input: v2(0x21, 0x13, V4_BODY), want: /protocol/ },
  {
    name: "v2 oversized: refused from the 16 fixed bytes, without waiting for the rest",
    input: v2(0x21, 0x11, [], 0xffff),
    want: /over 2048/,
  },
  {
    name: "v2 the largest accepted",
    input: v2(0x21, 0x00, Array(MAX_PROXY_HEADER_BYTES - 16).fill(0)),
    want: { version: 2, length: MAX_PROXY_HEADER_BYTES, src: null },
  },
  {
    name: "v2 one byte over the largest accepted",
    input: v2(0x21, 0x00, Array(MAX_PROXY_HEADER_BYTES - 15).fill(0)),
    want: /over/,
  },
  {
    name: "v2 partial signature: waits",
    input: PROXY_V2_SIGNATURE.slice(0, 7),
    want: "incomplete",
  },
  { name: "v2 fixed part only: waits", input: v2(0x21, 0x11, [], 12), want: "incomplete" },
  {
    name: "v2 a wrong byte in the signature",
    input: Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x01),
    want: /not a PROXY/,
  },
];

function show(r: ProxyParse): string {
  return JSON.stringify(r);
}

for (const c of CASES) {
  Deno.test(`parseProxyHeader(): ${c.name}`, () => {
    const r = parseProxyHeader(c.input);
    if (c.want === "incomplete") {
      assert.equal(r.kind, "incomplete", show(r));
    } else if (c.want instanceof RegExp) {
      assert.equal(r.kind, "invalid", show(r));
      if (r.kind === "invalid") assert.match(r.reason, c.want);
    } else {
      assert.equal(r.kind, "ok", show(r));
      if (r.kind !== "ok") return;
      assert.equal(r.version, c.want.version);
      assert.equal(r.length, c.want.length);
      assert.equal(r.command, c.want.command ?? "proxy");
      const src = r.source === null ? null : `${r.source.address}:${r.source.port}`;
      assert.equal(src, c.want.src);
    }
  });
}

Deno.test("parseProxyHeader(): the destination is read too", () => {
  const r = parseProxyHeader(v2(0x21, 0x11, V4_BODY));
  assert.ok(r.kind === "ok");
  assert.deepEqual(r.destination, { address: "198.51.100.2", port: 443 });
  const t = parseProxyHeader(text("PROXY TCP6 ::1 ::2 10 20\r\n"));
  assert.ok(t.kind === "ok");
  assert.deepEqual(t.destination, { address: "::2", port: 20 });
});

Deno.test("parseProxyHeader(): every prefix of a valid header is incomplete, never invalid", () => {
  for (
    const whole of [
      text("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
      text("PROXY UNKNOWN\r\n"),
      v2(0x21, 0x21, [...V6_BODY, 0x04, 0, 1, 0]),
    ]
  ) {
    for (let n = 0; n < whole.length; n++) {
      assert.equal(parseProxyHeader(whole.subarray(0, n)).kind, "incomplete", `prefix ${n}`);
    }
    assert.equal(parseProxyHeader(whole).kind, "ok");
  }
});

Deno.test("parseProxyHeader(): reads at an offset within a larger buffer", () => {
  const whole = text("xxPROXY UNKNOWN\r\nyy");
  const r = parseProxyHeader(whole, 2, whole.length - 2);
  assert.ok(r.kind === "ok");
  assert.equal(r.length, 15);
  assert.equal(PROXY_V1_MAX_BYTES, 107);
});

/** Reads a header the way the server does: never more than proxyHeaderBytesNeeded allows. */
function readsFor(whole: Uint8Array): { reads: number; end: number } {
  let at = 0;
  let reads = 0;
  while (parseProxyHeader(whole, 0, at).kind === "incomplete" && reads < 200) {
    at = Math.min(whole.length, at + proxyHeaderBytesNeeded(whole, 0, at));
    reads++;
  }
  return { reads, end: at };
}

Deno.test("proxyHeaderBytesNeeded(): reads end exactly at the header, in few steps", () => {
  const after = text("GET / HTTP/1.1\r\n");
  const cases: Array<[Uint8Array, number]> = [
    [text("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 8],
    [text("PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n"), 8],
    [text("PROXY UNKNOWN\r\n"), 1],
    [text("PROXY UNKNOWN 1 2 3 4\r\n"), 5],
    // 15 bytes (a v1 header may be that short), the 16th (the length's low byte), the rest.
    [v2(0x21, 0x11, V4_BODY), 3],
    [v2(0x20, 0x00, []), 2],
    [v2(0x21, 0x21, [...V6_BODY, 0x04, 0, 1, 0]), 3],
  ];
  for (const [header, maxReads] of cases) {
    const r = readsFor(Uint8Array.from([...header, ...after]));
    assert.equal(r.end, header.length, new TextDecoder().decode(header));
    assert.ok(r.reads <= maxReads, `${r.reads} reads for ${header.length} bytes`);
  }
});
