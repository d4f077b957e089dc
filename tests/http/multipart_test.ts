import assert from "node:assert/strict";
import {
  makeBoundary,
  type MultipartBody,
  multipartByteranges,
  multipartContentType,
  parseMultipartByteranges,
} from "../../lib/http/multipart.ts";
import { type ByteRange, parseRange } from "../../lib/http/range.ts";

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");

/** Assembles the body the way the server streams it: head, file bytes, ..., closing. */
function assemble(b: MultipartBody, file: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.contentLength);
  let at = 0;
  for (const p of b.parts) {
    out.set(p.head, at);
    at += p.head.length;
    out.set(file.subarray(p.start, p.end + 1), at);
    at += p.end - p.start + 1;
  }
  out.set(b.closing, at);
  at += b.closing.length;
  assert.equal(at, b.contentLength, "contentLength is exact");
  return out;
}

Deno.test("multipartByteranges() frames parts exactly as RFC 9110 §14.6 / RFC 2046 require", () => {
  const file = enc.encode("0123456789");
  const b = multipartByteranges(
    [{ start: 0, end: 1 }, { start: 8, end: 9 }],
    10,
    "text/plain",
    "XYZ",
  );
  assert.equal(
    dec.decode(assemble(b, file)),
    "--XYZ\r\n" +
      "Content-Type: text/plain\r\n" +
      "Content-Range: bytes 0-1/10\r\n" +
      "\r\n" +
      "01" +
      "\r\n--XYZ\r\n" +
      "Content-Type: text/plain\r\n" +
      "Content-Range: bytes 8-9/10\r\n" +
      "\r\n" +
      "89" +
      "\r\n--XYZ--\r\n",
  );
});

Deno.test("multipartByteranges() omits the part Content-Type when there is none", () => {
  const b = multipartByteranges([{ start: 2, end: 2 }], 3, "", "B");
  assert.equal(
    dec.decode(assemble(b, enc.encode("abc"))),
    "--B\r\nContent-Range: bytes 2-2/3\r\n\r\nc\r\n--B--\r\n",
  );
});

interface RoundTripCase {
  r: string;
  size: number;
}

const ROUND_TRIP: RoundTripCase[] = [
  { r: "bytes=0-0,-1", size: 2 },
  { r: "bytes=0-4,90-99", size: 100 },
  { r: "bytes=-3,10-20,40-", size: 64 },
  { r: "bytes=0-0,2-2,4-4,6-6,8-8,10-10", size: 11 },
  // Data that looks like framing must not confuse the reader.
  { r: "bytes=0-99,200-299,1000-", size: 4096 },
];

for (const c of ROUND_TRIP) {
  Deno.test(`multipart round trip: ${c.r} of ${c.size} bytes → parts carry the right bytes`, () => {
    const file = new Uint8Array(c.size);
    crypto.getRandomValues(file);
    // Sprinkle CRLF and dashes into the data.
    for (let i = 0; i + 3 < c.size; i += 37) file.set(enc.encode("\r\n--"), i);
    const parsed = parseRange(c.r, c.size);
    assert.ok(parsed.kind === "ranges");
    const boundary = makeBoundary();
    const b = multipartByteranges(parsed.ranges, c.size, "application/octet-stream", boundary);
    const parts = parseMultipartByteranges(assemble(b, file), boundary);
    assert.equal(parts.length, parsed.ranges.length);
    for (let i = 0; i < parts.length; i++) {
      const want: ByteRange = parsed.ranges[i];
      assert.equal(parts[i].start, want.start);
      assert.equal(parts[i].end, want.end);
      assert.equal(parts[i].size, c.size);
      assert.equal(parts[i].headers.get("content-type"), "application/octet-stream");
      assert.deepEqual(parts[i].data, file.subarray(want.start, want.end + 1));
    }
  });
}

Deno.test("multipartByteranges() contentLength counts 4 GiB offsets digit by digit", () => {
  const size = 4 * 2 ** 30 + 3;
  const ranges = [{ start: 0, end: 0 }, { start: size - 2, end: size - 1 }];
  const b = multipartByteranges(ranges, size, "video/mp4", "B");
  const heads = b.parts.reduce((n, p) => n + p.head.length, 0);
  assert.equal(b.contentLength, heads + 1 + 2 + b.closing.length);
  assert.match(
    dec.decode(b.parts[1].head),
    /Content-Range: bytes 4294967297-4294967298\/4294967299\r\n/,
  );
});

Deno.test("multipartByteranges() refuses caller bugs that would corrupt the framing", () => {
  const ok = [{ start: 0, end: 1 }];
  assert.throws(() => multipartByteranges([], 10, "t/p", "B"), TypeError);
  assert.throws(() => multipartByteranges([{ start: 5, end: 10 }], 10, "t/p", "B"), TypeError);
  assert.throws(() => multipartByteranges([{ start: 3, end: 2 }], 10, "t/p", "B"), TypeError);
  assert.throws(() => multipartByteranges([{ start: -1, end: 2 }], 10, "t/p", "B"), TypeError);
  assert.throws(() => multipartByteranges(ok, 10, "t/p\r\nX-Evil: 1", "B"), TypeError);
  assert.throws(() => multipartByteranges(ok, 10, "t/p", ""), TypeError);
  assert.throws(() => multipartByteranges(ok, 10, "t/p", "a b"), TypeError);
  assert.throws(() => multipartByteranges(ok, 10, "t/p", "x".repeat(71)), TypeError);
  assert.throws(() => multipartByteranges(ok, 10, "t/p", "a\r\nb"), TypeError);
});

Deno.test("makeBoundary() is long, token-safe and different every time", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const b = makeBoundary();
    assert.ok(b.length >= 24 && b.length <= 70, b);
    assert.match(b, /^[0-9A-Za-z\-]+$/);
    seen.add(b);
  }
  assert.equal(seen.size, 100);
});

Deno.test("multipartContentType() names the boundary", () => {
  assert.equal(multipartContentType("abc"), "multipart/byteranges; boundary=abc");
});

const BODY_OK = "--B\r\nContent-Range: bytes 0-1/4\r\n\r\nab\r\n--B--\r\n";

const PARSE_CASES: Array<{ name: string; body: string; ok: boolean }> = [
  { name: "a minimal body", body: BODY_OK, ok: true },
  { name: "a preamble and an epilogue", body: "preamble\r\n" + BODY_OK + "epilogue", ok: true },
  {
    name: "transport padding after the delimiter",
    body: BODY_OK.replace("--B\r\n", "--B  \r\n"),
    ok: true,
  },
  { name: "no delimiter at all", body: "ab", ok: false },
  { name: "no parts", body: "--B--\r\n", ok: false },
  {
    name: "a missing close delimiter",
    body: "--B\r\nContent-Range: bytes 0-1/4\r\n\r\nab",
    ok: false,
  },
  { name: "data shorter than its Content-Range", body: BODY_OK.replace("ab", "a"), ok: false },
  {
    name: "a part without Content-Range",
    body: "--B\r\nContent-Type: x\r\n\r\nab\r\n--B--\r\n",
    ok: false,
  },
  {
    name: "an unsatisfied Content-Range in a part",
    body: BODY_OK.replace("0-1/4", "*/4"),
    ok: false,
  },
  {
    name: "LF instead of CRLF after the delimiter",
    body: BODY_OK.replace("--B\r\n", "--B\n"),
    ok: false,
  },
  { name: "an unterminated part head", body: "--B\r\nContent-Range: bytes 0-1/4\r\n", ok: false },
  { name: "a malformed part field", body: "--B\r\nnonsense\r\n\r\nab\r\n--B--\r\n", ok: false },
];

for (const c of PARSE_CASES) {
  Deno.test(`parseMultipartByteranges() ${c.ok ? "accepts" : "rejects"} ${c.name}`, () => {
    const body = enc.encode(c.body);
    if (c.ok) {
      const parts = parseMultipartByteranges(body, "B");
      assert.equal(parts.length, 1);
      assert.equal(dec.decode(parts[0].data), "ab");
    } else {
      assert.throws(() => parseMultipartByteranges(body, "B"), SyntaxError);
    }
  });
}
