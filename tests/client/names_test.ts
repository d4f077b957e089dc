/** Request targets, redirect resolution and the saved name (which must never leave DIR). */

import assert from "node:assert/strict";
import { ClientError, EXIT } from "../../lib/client/errors.ts";
import {
  checkHost,
  checkName,
  encodeFilePath,
  formatUrl,
  hostHeader,
  INDEX_NAME,
  type Location,
  MAX_NAME_BYTES,
  nameFromPath,
  resolveLocation,
  sameOrigin,
} from "../../lib/client/names.ts";

Deno.test("encodeFilePath percent-encodes each segment and resolves dot segments", () => {
  const table: Array<[string, string]> = [
    ["a.txt", "/a.txt"],
    ["/a.txt", "/a.txt"],
    ["docs/a b.pdf", "/docs/a%20b.pdf"],
    ["q?mark#hash%pct.txt", "/q%3Fmark%23hash%25pct.txt"],
    ["ünï ✓", "/%C3%BCn%C3%AF%20%E2%9C%93"],
    ["../../etc/x", "/etc/x"],
    ["a/./b/../c", "/a/c"],
    ["dir/", "/dir/"],
    ["a/..", "/"],
    ["", "/"],
    ["a//b", "/a/b"],
  ];
  for (const [file, want] of table) assert.equal(encodeFilePath(file), want, file);
});

Deno.test("nameFromPath decodes the last segment; a trailing slash means index.html", () => {
  const table: Array<[string, string]> = [
    ["/docs/a%20b.pdf", "a b.pdf"],
    ["/x?y=/z", "x"],
    ["/dir/", INDEX_NAME],
    ["/", INDEX_NAME],
    ["/%C3%BC", "ü"],
    ["/bad%FF", "bad%FF"], // not UTF-8 once decoded: kept encoded
    ["/a%2Fb", "a/b"], // decoded, then refused by checkName
  ];
  for (const [path, want] of table) assert.equal(nameFromPath(path), want, path);
});

Deno.test("checkName accepts plain names and refuses everything that could leave DIR", () => {
  for (const ok of ["a", "a b.pdf", ".hidden", "ünï ✓", "..x", "x..", "-rf"]) {
    assert.equal(checkName(ok, "test"), ok);
  }
  const bad: Array<[string, RegExp]> = [
    ["", /is empty/],
    [".", /directory reference/],
    ["..", /directory reference/],
    ["../x", /path separator/],
    ["/etc/passwd", /path separator/],
    ["a\\b", /path separator/],
    ["a\0b", /NUL/],
    ["a\nb", /control character/],
    ["a\x1b[2J", /control character/],
    ["x".repeat(MAX_NAME_BYTES + 1), /longer than/],
    ["é".repeat(MAX_NAME_BYTES / 2 + 1), /longer than/],
  ];
  for (const [name, re] of bad) {
    assert.throws(() => checkName(name, "FILE"), (e) => {
      assert.ok(e instanceof ClientError && e.code === EXIT.usage);
      assert.match(e.message, re);
      assert.match(e.message, /-o NAME/);
      return true;
    }, JSON.stringify(name));
  }
});

Deno.test("hostHeader and formatUrl: port only when not 80, IPv6 in brackets", () => {
  assert.equal(hostHeader("example.com", 80), "example.com");
  assert.equal(hostHeader("example.com", 8080), "example.com:8080");
  assert.equal(hostHeader("::1", 80), "[::1]");
  assert.equal(hostHeader("::1", 8080), "[::1]:8080");
  assert.equal(formatUrl({ host: "::1", port: 8080, path: "/a" }), "http://[::1]:8080/a");
});

Deno.test("checkHost accepts names and addresses, strips brackets, refuses injection", () => {
  assert.equal(checkHost("localhost"), "localhost");
  assert.equal(checkHost("a-b.example.com"), "a-b.example.com");
  assert.equal(checkHost("127.0.0.1"), "127.0.0.1");
  assert.equal(checkHost("[::1]"), "::1");
  assert.equal(checkHost("fe80::1%eth0"), "fe80::1%eth0");
  for (const bad of ["", "a b", "h\r\nX: 1", "user@host", "h/x", "-h", "[::1"]) {
    assert.throws(() => checkHost(bad), ClientError, bad);
  }
});

const BASE: Location = { host: "example.com", port: 8080, path: "/docs/a.pdf?x=1" };

Deno.test("resolveLocation resolves relative and absolute http references (RFC 3986 §5)", () => {
  const table: Array<[string, Location]> = [
    ["b.pdf", { host: "example.com", port: 8080, path: "/docs/b.pdf" }],
    ["../up.pdf", { host: "example.com", port: 8080, path: "/up.pdf" }],
    ["/abs?q", { host: "example.com", port: 8080, path: "/abs?q" }],
    ["//other:81/x", { host: "other", port: 81, path: "/x" }],
    ["http://[::1]/x#frag", { host: "::1", port: 80, path: "/x" }],
    ["HTTP://Other.Example:8081", { host: "other.example", port: 8081, path: "/" }],
    ["/a b", { host: "example.com", port: 8080, path: "/a%20b" }],
  ];
  for (const [loc, want] of table) assert.deepEqual(resolveLocation(loc, BASE), want, loc);
});

Deno.test("resolveLocation refuses control characters and other schemes", () => {
  const bad: Array<[string, RegExp]> = [
    ["/a\r\nSet-Cookie: x", /control characters/],
    ["/a\x00", /control characters/],
    ["file:///etc/passwd", /only http: and https: redirects/],
    ["ftp://h/x", /only http: and https: redirects/],
    ["javascript:alert(1)", /only http: and https: redirects/],
    ["http://[bad", /invalid Location/],
  ];
  for (const [loc, re] of bad) {
    assert.throws(() => resolveLocation(loc, BASE), (e) => {
      assert.ok(e instanceof ClientError && e.code === EXIT.protocol);
      assert.match(e.message, re);
      return true;
    }, loc);
  }
});

Deno.test("sameOrigin(): scheme, host (any case) and port; http and https of one host:port differ", () => {
  const at = (host: string, port: number, secure?: boolean): Location => ({
    host,
    port,
    path: "/x",
    secure,
  });
  const table: Array<[Location, Location, boolean]> = [
    [at("h", 8000), at("H", 8000, false), true],
    [at("h", 8443, true), at("h", 8443, true), true],
    [at("h", 8000), at("h", 8000, true), false],
    [at("h", 8443, true), at("h", 8443), false],
    [at("h", 8000), at("h", 8001), false],
    [at("h", 8000), at("g", 8000), false],
  ];
  for (const [a, b, want] of table) {
    assert.equal(sameOrigin(a, b), want, `${JSON.stringify(a)} ${JSON.stringify(b)}`);
  }
});
