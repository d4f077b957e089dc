/** --segments decisions: how a file is split, and when a server does not allow it. */

import assert from "node:assert/strict";
import { parseResponseHead } from "../../lib/http/response.ts";
import { MIN_SEGMENT_BYTES, splitRanges, whyNotSegmented } from "../../lib/client/segments.ts";

Deno.test("splitRanges covers every byte once, in order", () => {
  for (const [size, n] of [[1000, 4], [1001, 4], [7, 3], [2 ** 28, 4], [5, 8]]) {
    const r = splitRanges(size, n);
    assert.ok(r.length <= n);
    assert.equal(r[0].start, 0);
    assert.equal(r.at(-1)!.end, size - 1);
    for (let i = 1; i < r.length; i++) assert.equal(r[i].start, r[i - 1].end + 1);
    for (const s of r) assert.equal(s.next, s.start);
  }
});

const head = (fields: string[], status = "200 OK") =>
  parseResponseHead(
    new TextEncoder().encode(`HTTP/1.1 ${status}\r\n${fields.join("\r\n")}\r\n\r\n`),
  );
const BIG = `Content-Length: ${MIN_SEGMENT_BYTES * 4}`;

Deno.test("whyNotSegmented: size, ranges and a strong validator, or the reason", () => {
  const table: Array<[string[], string, RegExp | null]> = [
    [[BIG, "Accept-Ranges: bytes", 'ETag: "abc"'], "200 OK", null],
    [
      [
        BIG,
        "Accept-Ranges: bytes",
        "Last-Modified: Sun, 29 Nov 2026 07:00:00 GMT",
        "Date: Sun, 29 Nov 2026 08:00:00 GMT",
      ],
      "200 OK",
      null,
    ],
    [["Accept-Ranges: bytes", 'ETag: "abc"'], "200 OK", /no size/],
    [[BIG, 'ETag: "abc"'], "200 OK", /byte ranges/],
    [[BIG, "Accept-Ranges: none", 'ETag: "abc"'], "200 OK", /byte ranges/],
    [[BIG, "Accept-Ranges: bytes", 'ETag: W/"abc"'], "200 OK", /strong validator/],
    [[BIG, "Accept-Ranges: bytes"], "200 OK", /strong validator/],
    [["Content-Length: 1000", "Accept-Ranges: bytes", 'ETag: "a"'], "200 OK", /too small/],
    [[BIG, "Accept-Ranges: bytes", 'ETag: "a"'], "404 Not Found", /404/],
  ];
  for (const [fields, status, want] of table) {
    const why = whyNotSegmented(head(fields, status));
    if (want === null) assert.equal(why, null, fields.join("; "));
    else assert.match(why ?? "", want, fields.join("; "));
  }
});
