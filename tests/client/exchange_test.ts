/** Request heads, connection reuse decisions and error mapping. */

import assert from "node:assert/strict";
import { ClientError, EXIT, fileError, permissionError } from "../../lib/client/errors.ts";
import { buildRequest, readError, willClose } from "../../lib/client/exchange.ts";
import { parseResponseHead } from "../../lib/http/response.ts";
import { ReadTimeoutError } from "../../lib/net/head_reader.ts";
import { VERSION } from "../../lib/version.ts";

Deno.test("buildRequest writes the documented head, extras last", () => {
  const r = buildRequest({
    method: "GET",
    to: { host: "::1", port: 8080, path: "/a%20b" },
    keepAlive: false,
    extra: [["Range", "bytes=5-"]],
  });
  assert.equal(
    new TextDecoder().decode(r.bytes),
    "GET /a%20b HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: ferry/" + VERSION +
      "\r\nAccept: */*\r\nAccept-Encoding: identity\r\nWant-Repr-Digest: sha-256=10\r\n" +
      "Connection: close\r\nRange: bytes=5-\r\n\r\n",
  );
  const h = buildRequest({
    method: "HEAD",
    to: { host: "h", port: 80, path: "/" },
    keepAlive: true,
  });
  assert.equal(h.line, "HEAD / HTTP/1.1");
  assert.deepEqual(h.fields[0], ["Host", "h"]);
  assert.deepEqual(h.fields.find(([k]) => k === "Connection"), ["Connection", "keep-alive"]);
});

Deno.test("willClose follows RFC 9112 §9.3", () => {
  const h = (s: string) => parseResponseHead(new TextEncoder().encode(s + "\r\n\r\n"));
  assert.equal(willClose(h("HTTP/1.1 200 OK")), false);
  assert.equal(willClose(h("HTTP/1.1 200 OK\r\nConnection: Close")), true);
  assert.equal(willClose(h("HTTP/1.1 200 OK\r\nConnection: keep-alive, close")), true);
  assert.equal(willClose(h("HTTP/1.0 200 OK")), true);
  assert.equal(willClose(h("HTTP/1.0 200 OK\r\nConnection: Keep-Alive")), false);
});

Deno.test("errors map to exit codes with one line naming what to do", () => {
  const t = readError(new ReadTimeoutError(1000), "GET http://h/x", "the body");
  assert.equal(t.code, EXIT.timeout);
  assert.match(t.message, /timed out waiting for the body.*raise --timeout/);
  assert.equal(
    readError(new Deno.errors.ConnectionReset("reset"), "w", "the body").code,
    EXIT.protocol,
  );
  const p = permissionError(
    new Deno.errors.NotCapable(
      'Requires write access to "d/f", run again with the --allow-write flag',
    ),
    "d/f",
  );
  assert.ok(p instanceof ClientError);
  assert.equal(p.code, EXIT.local);
  assert.match(p.message, /run deno with --allow-write=DIR/);
  const n = permissionError(
    Object.assign(new Error("getaddrinfo EPERM h"), { code: "EPERM" }),
    "h:80",
  );
  assert.equal(n?.code, EXIT.connect);
  assert.match(n!.message, /--allow-net=HOST/);
  assert.equal(permissionError(new Error("other"), "x"), null);
  const f = fileError(
    Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" }),
    "write",
    "d/f.part",
  );
  assert.equal(f.code, EXIT.local);
  assert.equal(
    f.message,
    "cannot write d/f.part: No space left on device; free some disk space and retry with -c to resume",
  );
});
