import assert from "node:assert/strict";
import { forwardedClient, proxySettings } from "../../lib/server/behind_proxy.ts";
import type { RequestHead } from "../../lib/http/request.ts";

function head(fields: Record<string, string>): RequestHead {
  return {
    method: "GET",
    target: "/",
    version: "HTTP/1.1",
    headers: new Map(Object.entries(fields)),
    keepAlive: true,
    hasBody: false,
  };
}

const TRUSTED = proxySettings(false, ["10.0.0.0/8", "fd00::/8", "127.0.0.2"]).trusted;

const CASES: Array<[string, Record<string, string>, string]> = [
  ["no field: the peer stands", {}, ""],
  ["one hop: the client", { "x-forwarded-for": "203.0.113.7" }, "203.0.113.7"],
  [
    "a forged hop before the real one is not believed",
    { "x-forwarded-for": "6.6.6.6, 203.0.113.7" },
    "203.0.113.7",
  ],
  [
    "trusted hops are walked back to the first untrusted",
    { "x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.1.1.1, 10.2.2.2" },
    "203.0.113.7",
  ],
  ["all hops trusted: the first", { "x-forwarded-for": "10.9.9.9, 10.1.1.1" }, "10.9.9.9"],
  ["a hop with a port", { "x-forwarded-for": "203.0.113.7:5555" }, "203.0.113.7"],
  ["IPv6, canonicalised", { "x-forwarded-for": "2001:DB8:0::7" }, "2001:db8::7"],
  ["IPv4-mapped shown as IPv4", { "x-forwarded-for": "::ffff:203.0.113.7" }, "203.0.113.7"],
  ["junk where the walk reaches it: nothing believed", { "x-forwarded-for": "1.1.1.1, junk" }, ""],
  [
    "junk beyond the first untrusted hop is never reached",
    { "x-forwarded-for": "junk, 203.0.113.7" },
    "203.0.113.7",
  ],
  ["Forwarded", { forwarded: 'for="[2001:db8::17]:4711";proto=http' }, "2001:db8::17"],
  [
    "Forwarded through a trusted IPv6 proxy",
    { forwarded: 'for=203.0.113.9, for="[fd00::1]"' },
    "203.0.113.9",
  ],
  ["Forwarded unknown", { forwarded: "for=unknown" }, ""],
  ["both fields: neither believed", { forwarded: "for=1.2.3.4", "x-forwarded-for": "5.6.7.8" }, ""],
];

for (const [name, fields, want] of CASES) {
  Deno.test(`forwardedClient(): ${name}`, () => {
    assert.equal(forwardedClient(head(fields), TRUSTED), want);
  });
}
