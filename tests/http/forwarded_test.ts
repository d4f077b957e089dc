import assert from "node:assert/strict";
import {
  forwardedHops,
  hopAddress,
  MAX_FORWARDED_HOPS,
  parseForwardedFor,
} from "../../lib/http/forwarded.ts";

const HOPS: Array<[string, string]> = [
  ["192.0.2.1", "192.0.2.1"],
  ["192.0.2.1:8080", "192.0.2.1"],
  ["2001:db8::1", "2001:db8::1"],
  ["[2001:db8::1]", "2001:db8::1"],
  ["[2001:db8::1]:4711", "2001:db8::1"],
  ["unknown", ""], // RFC 7239 §6.2
  ["_hidden", ""], // §6.3 obfuscated
  ["[2001:db8::1", ""],
  ["[::1]x", ""],
  ["example.com", ""],
  ["example.com:80", ""],
  ["", ""],
];

for (const [node, want] of HOPS) {
  Deno.test(`hopAddress(${JSON.stringify(node)}) → ${JSON.stringify(want)}`, () => {
    assert.equal(hopAddress(node), want);
  });
}

const FORWARDED: Array<[string, string[] | null]> = [
  ["for=192.0.2.43", ["192.0.2.43"]],
  ['for="_gazonk"', ["_gazonk"]],
  ['For="[2001:db8:cafe::17]:4711"', ["[2001:db8:cafe::17]:4711"]],
  ["for=192.0.2.60;proto=http;by=203.0.113.43", ["192.0.2.60"]],
  ["for=192.0.2.43, for=198.51.100.17", ["192.0.2.43", "198.51.100.17"]],
  ["for=192.0.2.43 ,\tfor=198.51.100.17", ["192.0.2.43", "198.51.100.17"]],
  ["proto=https;host=x, for=1.2.3.4", ["1.2.3.4"]], // an element without for= adds no hop
  ['for="a\\"b"', ['a"b']],
  ["for=1.2.3.4;for=5.6.7.8", null], // one for= per element
  ["for=", null],
  ["for", null],
  ['for="unterminated', null],
  ["for=1.2.3.4,", null],
  ["for=[::1]", null], // brackets must be quoted
  ["f o r=1.2.3.4", null],
];

for (const [value, want] of FORWARDED) {
  Deno.test(`parseForwardedFor(${JSON.stringify(value)})`, () => {
    assert.deepEqual(parseForwardedFor(value), want);
  });
}

Deno.test("forwardedHops(): X-Forwarded-For or Forwarded, never both, bounded", () => {
  const h = (o: Record<string, string>) => new Map(Object.entries(o));
  assert.equal(forwardedHops(h({})), null);
  assert.deepEqual(forwardedHops(h({ "x-forwarded-for": "1.2.3.4, 5.6.7.8" })), [
    "1.2.3.4",
    "5.6.7.8",
  ]);
  assert.deepEqual(forwardedHops(h({ "x-forwarded-for": "1.2.3.4,junk, ::1" })), [
    "1.2.3.4",
    "",
    "::1",
  ]);
  assert.deepEqual(forwardedHops(h({ forwarded: 'for="[::1]:80"' })), ["::1"]);
  assert.equal(forwardedHops(h({ forwarded: "for=1.2.3.4", "x-forwarded-for": "5.6.7.8" })), null);
  assert.equal(forwardedHops(h({ forwarded: "garbage" })), null);
  const long = Array(MAX_FORWARDED_HOPS + 1).fill("1.2.3.4").join(", ");
  assert.equal(forwardedHops(h({ "x-forwarded-for": long })), null);
  assert.equal(
    forwardedHops(h({ forwarded: long.replaceAll("1.2.3.4", "for=1.2.3.4") })),
    null,
  );
});
