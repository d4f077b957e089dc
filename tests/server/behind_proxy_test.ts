import assert from "node:assert/strict";
import { forwardedClient, proxySettings } from "../../lib/server/behind_proxy.ts";
import type { RequestHead } from "../../lib/http/request.ts";
import { Logger } from "../../lib/server/log.ts";
import { formatConnLine } from "../../lib/net/conn_info.ts";

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

Deno.test("access and connection log lines show the proxy beside the client, text and JSON", async () => {
  const lines: string[] = [];
  const out = {
    write(p: Uint8Array) {
      lines.push(...new TextDecoder().decode(p).split("\n").filter((l) => l !== ""));
      return Promise.resolve(p.length);
    },
  };
  const entry = {
    conn: 1,
    peer: "192.0.2.9:5555",
    proxy: "127.0.0.2:40000",
    method: "GET",
    target: "/",
    version: "HTTP/1.1",
    status: 200,
    bytes: 1,
    ms: 1,
  };
  const text = new Logger("text", out);
  text.access(entry);
  text.access({ ...entry, proxy: undefined });
  await text.flush();
  assert.match(lines[0], /#1 192\.0\.2\.9:5555 via 127\.0\.0\.2:40000 "GET \/ HTTP\/1\.1" 200/);
  assert.match(lines[1], /#1 192\.0\.2\.9:5555 "GET/);
  const json = new Logger("json", out);
  json.access(entry);
  json.access({ ...entry, proxy: undefined });
  await json.flush();
  assert.equal(JSON.parse(lines[2]).proxy, "127.0.0.2:40000");
  assert.equal(JSON.parse(lines[2]).peer, "192.0.2.9:5555");
  assert.ok(!("proxy" in JSON.parse(lines[3])));
  const params = {
    hostName: null,
    resolvedAddress: null,
    reverseName: null,
    peer: "192.0.2.9:5555",
    local: "127.0.0.1:8080",
    family: "AF_INET" as const,
    type: "SOCK_STREAM" as const,
    protocol: "TCP" as const,
    protocolNumber: 6,
    timeoutsMs: {},
  };
  assert.match(
    formatConnLine({ ...params, proxy: "127.0.0.2:1" }),
    /peer=192\.0\.2\.9:5555 proxy=127\.0\.0\.2:1 local=/,
  );
  assert.ok(!formatConnLine(params).includes("proxy="));
});
