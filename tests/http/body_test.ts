/**
 * Body framing (RFC 9112 §6.3) and the body readers, table-driven: each wire body is fed
 * through the real ConnReader in every split (whole, byte by byte, odd pieces), so a reader
 * that only works when a line arrives in one read is caught.
 */

import assert from "node:assert/strict";
import {
  BodyError,
  BodyReader,
  type Framing,
  MAX_CHUNK_SIZE,
  MAX_TRAILER_BYTES,
  parseChunkSize,
  parseContentLength,
  responseFraming,
} from "../../lib/http/body.ts";
import { ConnReader, ReadTimeoutError } from "../../lib/net/head_reader.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A Source that returns `data` in pieces of `split` bytes, then EOF. */
function source(data: Uint8Array, split: number) {
  let off = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (off >= data.length) return Promise.resolve(null);
      const n = Math.min(p.length, split, data.length - off);
      p.set(data.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
    close() {},
  };
}

async function readAll(
  wire: string | Uint8Array,
  framing: Framing,
  split: number,
  bufBytes = 7,
): Promise<{ body: string; trailers: Array<[string, string]>; rest: string }> {
  const data = typeof wire === "string" ? enc.encode(wire) : wire;
  const reader = new ConnReader(source(data, split));
  const body = new BodyReader(reader, framing);
  const buf = new Uint8Array(bufBytes);
  const parts: string[] = [];
  for (let i = 0; i < 1e6; i++) {
    const n = await body.read(buf);
    if (n === null) break;
    parts.push(dec.decode(buf.subarray(0, n), { stream: true }));
  }
  // What is left after the body belongs to the next message.
  const restBuf = new Uint8Array(1024);
  let rest = "";
  for (let i = 0, n; i < 1e4 && (n = await reader.read(restBuf)) !== null; i++) {
    rest += dec.decode(restBuf.subarray(0, n));
  }
  return { body: parts.join(""), trailers: body.trailers, rest };
}

const SPLITS = [1, 2, 3, 5, 64, 1 << 20];

const GOOD: Array<{
  name: string;
  wire: string;
  framing: Framing;
  body: string;
  trailers?: Array<[string, string]>;
  rest?: string;
}> = [
  { name: "Content-Length", wire: "hello", framing: { kind: "length", length: 5 }, body: "hello" },
  {
    name: "Content-Length leaves the next message alone",
    wire: "helloHTTP/1.1",
    framing: { kind: "length", length: 5 },
    body: "hello",
    rest: "HTTP/1.1",
  },
  { name: "Content-Length 0", wire: "", framing: { kind: "length", length: 0 }, body: "" },
  { name: "no body", wire: "junk", framing: { kind: "none" }, body: "", rest: "junk" },
  { name: "close-delimited", wire: "to the end", framing: { kind: "close" }, body: "to the end" },
  { name: "close-delimited, empty", wire: "", framing: { kind: "close" }, body: "" },
  {
    name: "chunked",
    wire: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    framing: { kind: "chunked" },
    body: "hello world",
  },
  {
    name: "chunked, upper-case hex, leading zeros",
    wire: "0000A\r\n0123456789\r\n00\r\n\r\nNEXT",
    framing: { kind: "chunked" },
    body: "0123456789",
    rest: "NEXT",
  },
  {
    name: "chunked with extensions (§7.1.1) and BWS",
    wire: '3;a=1;b="x;y" \r\nabc\r\n2 ; ext\r\nde\r\n0;done\r\n\r\n',
    framing: { kind: "chunked" },
    body: "abcde",
  },
  {
    name: "chunked with trailers (§7.1.2)",
    wire: "2\r\nok\r\n0\r\nX-A: 1\r\nRepr-Digest:  sha-256=:AA==: \r\n\r\n",
    framing: { kind: "chunked" },
    body: "ok",
    trailers: [["X-A", "1"], ["Repr-Digest", "sha-256=:AA==:"]],
  },
  {
    name: "chunked with bare LF line ends (§2.2)",
    wire: "3\nabc\n0\n\n",
    framing: { kind: "chunked" },
    body: "abc",
  },
  {
    name: "chunked, empty body",
    wire: "0\r\n\r\n",
    framing: { kind: "chunked" },
    body: "",
  },
];

Deno.test("BodyReader reads every framing correctly in every split", async (t) => {
  for (const c of GOOD) {
    await t.step(c.name, async () => {
      for (const split of SPLITS) {
        for (const bufBytes of [1, 4, 4096]) {
          const r = await readAll(c.wire, c.framing, split, bufBytes);
          assert.equal(r.body, c.body, `split ${split}, buffer ${bufBytes}`);
          assert.deepEqual(r.trailers, c.trailers ?? []);
          assert.equal(r.rest, c.rest ?? "");
        }
      }
    });
  }
});

const BAD: Array<{ name: string; wire: string; framing: Framing; kind: string; msg: RegExp }> = [
  {
    name: "Content-Length body cut short",
    wire: "x".repeat(40),
    framing: { kind: "length", length: 100 },
    kind: "truncated",
    msg: /^received 40 of 100 bytes$/,
  },
  {
    name: "chunk cut short",
    wire: "10\r\nabc",
    framing: { kind: "chunked" },
    kind: "truncated",
    msg: /received 3 bytes, then the connection closed in the middle of a chunk/,
  },
  {
    name: "no last chunk",
    wire: "3\r\nabc\r\n",
    framing: { kind: "chunked" },
    kind: "truncated",
    msg: /before a chunk size/,
  },
  {
    name: "no end of trailers",
    wire: "0\r\nX-A: 1\r\n",
    framing: { kind: "chunked" },
    kind: "truncated",
    msg: /before the trailer section/,
  },
  {
    name: "chunk data longer than its size",
    wire: "3\r\nabcdef\r\n0\r\n\r\n",
    framing: { kind: "chunked" },
    kind: "framing",
    msg: /chunk data longer than its chunk size/,
  },
  {
    name: "not hex",
    wire: "zz\r\n",
    framing: { kind: "chunked" },
    kind: "framing",
    msg: /malformed chunk size/,
  },
  {
    name: "negative size",
    wire: "-1\r\n",
    framing: { kind: "chunked" },
    kind: "framing",
    msg: /malformed chunk size/,
  },
  {
    name: "absurd size",
    wire: "fffffffffffffffff\r\n",
    framing: { kind: "chunked" },
    kind: "framing",
    msg: /absurd chunk size/,
  },
  {
    name: "endless chunk-size line",
    wire: "1" + ";x".repeat(10_000),
    framing: { kind: "chunked" },
    kind: "framing",
    msg: /line too long in a chunk size/,
  },
  {
    name: "control character in an extension",
    wire: "1;a=\x01\r\nx\r\n0\r\n\r\n",
    framing: { kind: "chunked" },
    kind: "framing",
    msg: /malformed chunk size/,
  },
  {
    name: "malformed trailer",
    wire: "0\r\nno colon here\r\n\r\n",
    framing: { kind: "chunked" },
    kind: "framing",
    msg: /malformed trailer field/,
  },
  {
    name: "endless trailers",
    wire: "0\r\n" + "X-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(MAX_TRAILER_BYTES / 10),
    framing: { kind: "chunked" },
    kind: "framing",
    msg: /trailer section larger than/,
  },
];

Deno.test("BodyReader refuses broken bodies with the right kind of BodyError", async (t) => {
  for (const c of BAD) {
    await t.step(c.name, async () => {
      for (const split of [1, 7, 1 << 20]) {
        await assert.rejects(readAll(c.wire, c.framing, split, 64), (e) => {
          assert.ok(e instanceof BodyError, String(e));
          assert.equal(e.kind, c.kind);
          assert.match(e.message, c.msg);
          return true;
        });
      }
    });
  }
});

Deno.test("BodyError for a short Content-Length body carries received and expected", async () => {
  const e = await readAll("abc", { kind: "length", length: 10 }, 2).catch((e) => e);
  assert.ok(e instanceof BodyError);
  assert.equal(e.received, 3);
  assert.equal(e.expected, 10);
});

Deno.test("BodyReader passes a read timeout through unchanged", async () => {
  // A source that never answers until closed (as ConnReader does on timeout).
  let fail: (e: Error) => void = () => {};
  const src = {
    read: () => new Promise<number | null>((_, reject) => (fail = reject)),
    close: () => fail(new Error("closed")),
  };
  const body = new BodyReader(new ConnReader(src, { readTimeoutMs: 20 }), { kind: "chunked" });
  await assert.rejects(body.read(new Uint8Array(8)), ReadTimeoutError);
});

const FRAMING: Array<
  { name: string; in: Partial<Parameters<typeof responseFraming>[0]>; want: Framing | RegExp }
> = [
  {
    name: "HEAD has no body",
    in: { method: "HEAD", headers: new Map([["content-length", "9"]]) },
    want: { kind: "none" },
  },
  { name: "1xx", in: { status: 103 }, want: { kind: "none" } },
  {
    name: "204",
    in: { status: 204, headers: new Map([["content-length", "9"]]) },
    want: { kind: "none" },
  },
  {
    name: "304",
    in: { status: 304, headers: new Map([["transfer-encoding", "chunked"]]) },
    want: { kind: "none" },
  },
  {
    name: "chunked",
    in: { headers: new Map([["transfer-encoding", "chunked"]]) },
    want: { kind: "chunked" },
  },
  {
    name: "Chunked, any case",
    in: { headers: new Map([["transfer-encoding", "Chunked"]]) },
    want: { kind: "chunked" },
  },
  {
    name: "Transfer-Encoding overrides Content-Length (§6.3 item 3)",
    in: { headers: new Map([["transfer-encoding", "chunked"], ["content-length", "3"]]) },
    want: { kind: "chunked" },
  },
  {
    name: "identity not followed by chunked: read to close",
    in: { headers: new Map([["transfer-encoding", "identity"]]) },
    want: { kind: "close" },
  },
  {
    name: "gzip refused",
    in: { headers: new Map([["transfer-encoding", "gzip, chunked"]]) },
    want: /unsupported transfer coding "gzip"/,
  },
  {
    name: "chunked + NBSP is an unknown coding, not chunked",
    in: { headers: new Map([["transfer-encoding", "chunked\xa0"]]) },
    want: /unsupported transfer coding/,
  },
  {
    name: "chunked twice",
    in: { headers: new Map([["transfer-encoding", "chunked, chunked"]]) },
    want: /more than once/,
  },
  {
    name: "Transfer-Encoding in HTTP/1.0 (§6.1)",
    in: { version: "HTTP/1.0", headers: new Map([["transfer-encoding", "chunked"]]) },
    want: /HTTP\/1\.0/,
  },
  {
    name: "Content-Length",
    in: { headers: new Map([["content-length", "42"]]) },
    want: { kind: "length", length: 42 },
  },
  {
    name: "identical list",
    in: { headers: new Map([["content-length", "42, 42"]]) },
    want: { kind: "length", length: 42 },
  },
  {
    name: "conflicting",
    in: { headers: new Map([["content-length", "42, 43"]]) },
    want: /conflicting Content-Length/,
  },
  {
    name: "negative",
    in: { headers: new Map([["content-length", "-1"]]) },
    want: /invalid Content-Length/,
  },
  {
    name: "empty",
    in: { headers: new Map([["content-length", ""]]) },
    want: /invalid Content-Length/,
  },
  {
    name: "hex",
    in: { headers: new Map([["content-length", "0x10"]]) },
    want: /invalid Content-Length/,
  },
  {
    name: "too large",
    in: { headers: new Map([["content-length", "99999999999999999999"]]) },
    want: /too large/,
  },
  { name: "nothing: read to close (§6.3 item 8)", in: {}, want: { kind: "close" } },
  {
    name: "404 with a body",
    in: { status: 404, headers: new Map([["content-length", "3"]]) },
    want: { kind: "length", length: 3 },
  },
];

Deno.test("responseFraming follows RFC 9112 §6.3 in order", async (t) => {
  for (const c of FRAMING) {
    await t.step(c.name, () => {
      const input = {
        method: "GET",
        status: 200,
        version: "HTTP/1.1",
        headers: new Map(),
        ...c.in,
      };
      if (c.want instanceof RegExp) {
        assert.throws(() => responseFraming(input), (e) => {
          assert.ok(e instanceof BodyError && e.kind === "framing");
          assert.match(e.message, c.want as RegExp);
          return true;
        });
      } else {
        assert.deepEqual(responseFraming(input), c.want);
      }
    });
  }
});

Deno.test("parseContentLength and parseChunkSize edges", () => {
  assert.equal(parseContentLength("0"), 0);
  assert.equal(parseContentLength(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  assert.throws(() => parseContentLength("1 2"), BodyError);
  assert.throws(() => parseContentLength("+1"), BodyError);
  assert.equal(parseChunkSize("0"), 0);
  assert.equal(parseChunkSize("fFfF"), 0xffff);
  assert.equal(parseChunkSize(MAX_CHUNK_SIZE.toString(16)), MAX_CHUNK_SIZE);
  assert.throws(() => parseChunkSize((MAX_CHUNK_SIZE + 1).toString(16)), /absurd/);
  assert.throws(() => parseChunkSize(""), /malformed/);
  assert.throws(() => parseChunkSize(" 1"), /malformed/);
});
