/** The resume meta read back from disk is untrusted: every field checked, header-unsafe values
 * refused. */

import assert from "node:assert/strict";
import { parseMeta, validatorOf } from "../../lib/client/meta.ts";
import { buildRequest } from "../../lib/client/exchange.ts";
import { ClientError, EXIT } from "../../lib/client/errors.ts";

const good = { url: "http://h:8/a.bin", etag: '"v1"', lastModified: null, size: 10 };

Deno.test("parseMeta accepts what we write, ignores unknown fields", () => {
  assert.deepEqual(parseMeta(JSON.stringify(good)), good);
  assert.deepEqual(parseMeta(JSON.stringify({ ...good, extra: [1] })), good);
  const lm = { ...good, etag: null, lastModified: "Sun, 29 Nov 2026 08:00:00 GMT" };
  assert.deepEqual(parseMeta(JSON.stringify(lm)), lm);
  assert.deepEqual(parseMeta(JSON.stringify({ url: good.url })), {
    url: good.url,
    etag: null,
    lastModified: null,
    size: null,
  });
});

Deno.test("parseMeta refuses tampered metas (CR/LF/NUL/controls, wrong types, not ours)", () => {
  const bad: Array<[string, unknown]> = [
    ["not JSON", "{"],
    ["array", [good]],
    ["null", null],
    ["no url", { ...good, url: undefined }],
    ["url with CRLF", { ...good, url: "http://h/a\r\nX: y" }],
    ["url with space", { ...good, url: "http://h/a b" }],
    ["url not http", { ...good, url: "file:///etc/passwd" }],
    ["etag with CRLF", { ...good, etag: '"v1"\r\nX-Injected: 1' }],
    ["etag with LF", { ...good, etag: '"v1\nX: 1"' }],
    ["etag with NUL", { ...good, etag: '"v1\u0000"' }],
    ["etag with ESC", { ...good, etag: '"\u001b[2J"' }],
    ["weak etag", { ...good, etag: 'W/"v1"' }],
    ["unquoted etag", { ...good, etag: "v1" }],
    ["etag too long", { ...good, etag: `"${"a".repeat(2000)}"` }],
    ["etag a number", { ...good, etag: 5 }],
    ["lastModified free text", { ...good, lastModified: "yesterday\r\nX: 1" }],
    ["size negative", { ...good, size: -1 }],
    ["size fraction", { ...good, size: 1.5 }],
    ["size a string", { ...good, size: "10" }],
  ];
  for (const [name, value] of bad) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    assert.equal(typeof parseMeta(text), "string", name);
  }
});

Deno.test("validatorOf prefers the ETag, then Last-Modified", () => {
  assert.equal(validatorOf(null), null);
  assert.equal(validatorOf(good), '"v1"');
  assert.equal(validatorOf({ ...good, etag: null, lastModified: "x" }), "x");
  assert.equal(validatorOf({ ...good, etag: null }), null);
});

Deno.test("buildRequest refuses a field value that would add a line to the head", () => {
  for (const v of ['"a"\r\nX: 1', '"a"\nX: 1', "a\u0000", "a\u007f"]) {
    assert.throws(
      () =>
        buildRequest({
          method: "GET",
          to: { host: "h", port: 80, path: "/" },
          keepAlive: false,
          extra: [["If-Range", v]],
        }),
      (e: unknown) => e instanceof ClientError && e.code === EXIT.protocol,
      JSON.stringify(v),
    );
  }
});

Deno.test("parseMeta keeps a --segments meta's ranges, schema-checked like the rest", () => {
  const seg = {
    ...good,
    size: 1000,
    segments: [{ start: 0, end: 499, next: 120 }, { start: 500, end: 999, next: 1000 }],
  };
  assert.deepEqual(parseMeta(JSON.stringify(seg)), seg);
  const s = (segments: unknown, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ ...seg, segments, ...extra });
  const bad: Array<[string, string]> = [
    ["not a list", s({ start: 0, end: 9, next: 0 })],
    ["empty", s([])],
    ["too many", s(Array.from({ length: 17 }, (_, i) => ({ start: i, end: i, next: i })))],
    ["a string", s(["0-9"])],
    ["null range", s([null])],
    ["fraction", s([{ start: 0, end: 9.5, next: 0 }])],
    ["negative", s([{ start: -1, end: 9, next: 0 }])],
    ["next before start", s([{ start: 10, end: 20, next: 5 }])],
    ["next past end", s([{ start: 0, end: 9, next: 11 }])],
    ["end past the file", s([{ start: 0, end: 1000, next: 0 }])],
    ["overlapping", s([{ start: 0, end: 500, next: 0 }, { start: 500, end: 999, next: 500 }])],
    ["out of order", s([{ start: 500, end: 999, next: 500 }, { start: 0, end: 499, next: 0 }])],
    ["no size", s([{ start: 0, end: 9, next: 0 }], { size: null })],
    ["no validator", s([{ start: 0, end: 9, next: 0 }], { etag: null })],
  ];
  for (const [name, text] of bad) assert.equal(typeof parseMeta(text), "string", name);
});
