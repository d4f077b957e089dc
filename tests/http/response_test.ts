import assert from "node:assert/strict";
import {
  httpDate,
  parseHttpDate,
  parseResponseHead,
  ResponseHeadError,
  serializeHead,
} from "../../lib/http/response.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("serializeHead() writes the status line, fields in order and the empty line", () => {
  assert.equal(
    serializeHead(404, [["Content-Length", "0"], ["X-A", "b"]]),
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-A: b\r\n\r\n",
  );
  assert.equal(serializeHead(599, []), "HTTP/1.1 599 Unknown\r\n\r\n");
});

Deno.test("httpDate() formats IMF-fixdate and parseHttpDate() reads all three forms", () => {
  assert.equal(httpDate(784111777000), "Sun, 06 Nov 1994 08:49:37 GMT");
  assert.equal(httpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  for (
    const [text, ms] of [
      ["Sun, 06 Nov 1994 08:49:37 GMT", 784111777000],
      ["Sunday, 06-Nov-94 08:49:37 GMT", 784111777000],
      ["Sun Nov  6 08:49:37 1994", 784111777000],
      ["2020", NaN],
      ["", NaN],
      ["Sun, 06 Nov 1994 08:49:37 PST", NaN],
    ] as Array<[string, number]>
  ) assert.deepEqual(parseHttpDate(text), ms, text);
});

Deno.test("parseResponseHead() reads status, reason and fields; repeated names join", () => {
  const h = parseResponseHead(
    enc("HTTP/1.0 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\n"),
  );
  assert.equal(h.version, "HTTP/1.0");
  assert.equal(h.status, 200);
  assert.equal(h.reason, "OK");
  assert.equal(h.headers.get("x-a"), "1, 2");
  assert.equal(h.counts.get("x-a"), 2);
  assert.deepEqual(h.fields[0], ["Content-Length", "5"]);
  assert.equal(parseResponseHead(enc("HTTP/1.1 204\r\n\r\n")).reason, "");
  assert.equal(parseResponseHead(enc("HTTP/1.1 200 OK\n\n")).status, 200, "LF-only heads");
});

Deno.test("parseResponseHead() refuses malformed status lines and fields", () => {
  for (
    const bad of [
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      "HTTP/1.1 200 OK\x00\r\n\r\n",
      "garbage\r\n\r\n",
      "HTTP/1.1 200 OK\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
    ]
  ) {
    assert.throws(() => parseResponseHead(enc(bad)), ResponseHeadError, JSON.stringify(bad));
  }
});
