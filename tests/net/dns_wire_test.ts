/**
 * Unit tests of the DNS wire pieces: PTR names of addresses, the query's bytes, and answers
 * read back from hand-built responses — compressed, NXDOMAIN, truncated, mismatched, hostile.
 */

import assert from "node:assert/strict";
import { decodePtrResponse, encodePtrQuery, ptrName } from "../../lib/net/dns_wire.ts";

Deno.test("ptrName() maps IPv4, IPv6 and IPv4-mapped addresses, refuses the rest", () => {
  const table: Array<[string, string | null]> = [
    ["192.0.2.1", "1.2.0.192.in-addr.arpa"],
    ["127.0.0.1", "1.0.0.127.in-addr.arpa"],
    ["::ffff:10.1.2.3", "3.2.1.10.in-addr.arpa"],
    [
      "2001:db8::567:89ab",
      "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
    ],
    ["::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"],
    ["fe80::1%eth0", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa"],
    ["256.1.1.1", null],
    ["example.com", null],
    ["1:2:3:4:5:6:7:8:9", null],
    ["1::2::3", null],
    ["", null],
  ];
  for (const [addr, want] of table) assert.equal(ptrName(addr), want, addr);
});

Deno.test("encodePtrQuery() writes RFC 1035 bytes: header with RD, labels, PTR IN", () => {
  const q = encodePtrQuery(0xbeef, "1.2.0.192.in-addr.arpa");
  assert.deepEqual(
    [...q],
    [
      0xbe,
      0xef,
      0x01,
      0x00,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      1,
      0x31,
      1,
      0x32,
      1,
      0x30,
      3,
      0x31,
      0x39,
      0x32,
      7,
      ...new TextEncoder().encode("in-addr"),
      4,
      ...new TextEncoder().encode("arpa"),
      0,
      0,
      12,
      0,
      1,
    ],
  );
});

/** A response to `query` (flags and rcode given) with the given answer records appended. */
function response(query: Uint8Array, flags: number, answers: Uint8Array[]): Uint8Array {
  const body = answers.reduce((n, a) => n + a.length, 0);
  const out = new Uint8Array(query.length + body);
  out.set(query);
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[7] = answers.length;
  let at = query.length;
  for (const a of answers) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** An answer record: owner = pointer to the question (offset 12), then type, class, rdata. */
function record(type: number, rdata: number[]): Uint8Array {
  return new Uint8Array([
    0xc0,
    12,
    0,
    type,
    0,
    1,
    0,
    0,
    0x0e,
    0x10,
    rdata.length >> 8,
    rdata.length & 0xff,
    ...rdata,
  ]);
}

function labels(name: string): number[] {
  const out: number[] = [];
  for (const l of name.split(".")) out.push(l.length, ...new TextEncoder().encode(l));
  return [...out, 0];
}

Deno.test("decodePtrResponse() reads answers and refuses what is not the response", () => {
  const name = "1.2.0.192.in-addr.arpa";
  const q = encodePtrQuery(7, name);
  const ok = 0x8180; // QR, RD, RA, NOERROR
  const host = record(12, labels("host.example"));
  const cname = record(5, labels("x.example"));
  const table: Array<[string, Uint8Array, string | null | undefined]> = [
    ["one PTR", response(q, ok, [host]), "host.example"],
    ["CNAME then PTR", response(q, ok, [cname, host]), "host.example"],
    [
      "PTR target compressed into the question",
      response(q, ok, [record(12, [4, ...new TextEncoder().encode("name"), 0xc0, 12 + 10])]),
      "name.in-addr.arpa",
    ],
    ["NOERROR without answers", response(q, ok, []), null],
    ["NXDOMAIN", response(q, 0x8183, []), null],
    ["SERVFAIL", response(q, 0x8182, [host]), null],
    ["truncated", response(q, 0x8380, []), null],
    ["the query itself (not a response)", q, undefined],
    ["another id", response(encodePtrQuery(8, name), ok, [host]), undefined],
    [
      "another question",
      response(encodePtrQuery(7, "2.2.0.192.in-addr.arpa"), ok, [host]),
      undefined,
    ],
    ["too short", q.subarray(0, 11), undefined],
    ["record cut short", response(q, ok, [host]).subarray(0, q.length + 14), null],
    ["pointer loop", response(q, ok, [record(12, [0xc0, q.length + 12])]), null],
    ["label past the end", response(q, ok, [record(12, [60, 1, 2])]), null],
  ];
  for (const [what, msg, want] of table) assert.equal(decodePtrResponse(msg, 7, name), want, what);
});
