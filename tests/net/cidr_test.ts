import assert from "node:assert/strict";
import { CidrSet, formatIp, parseCidr, parseIp } from "../../lib/net/cidr.ts";

const ADDRESSES: Array<[string, string | null]> = [
  // [input, canonical form or null when refused]
  ["127.0.0.1", "127.0.0.1"],
  ["0.0.0.0", "0.0.0.0"],
  ["255.255.255.255", "255.255.255.255"],
  ["256.0.0.1", null],
  ["01.2.3.4", null], // leading zero: octal elsewhere
  ["1.2.3", null],
  ["1.2.3.4.5", null],
  ["1.2.3.", null],
  [" 1.2.3.4", null],
  ["1.2.3.4 ", null],
  ["", null],
  ["::", "::"],
  ["::1", "::1"],
  ["1::", "1::"],
  ["2001:DB8::1", "2001:db8::1"],
  ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
  ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
  ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
  ["::ffff:192.0.2.1", "::ffff:c000:201"],
  ["::192.0.2.1", "::c000:201"],
  ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ["1:2:3:4:5:6:7:8:9", null],
  ["1:2:3:4:5:6:7", null],
  ["1:2:3:4:5:6:7:8::", null],
  ["1::2::3", null],
  [":::", null],
  [":1", null],
  ["1:", null],
  ["12345::", null],
  ["g::", null],
  ["fe80::1%eth0", null], // zone ids are not addresses on the wire
  ["[::1]", null],
  ["1.2.3.4::", null],
  ["::1.2.3", null],
  ["1:2:3:4:5:6:7:1.2.3.4", null], // 7 groups + 2 for the IPv4 part
  ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
];

for (const [input, want] of ADDRESSES) {
  Deno.test(`parseIp(${JSON.stringify(input)}) → ${want ?? "refused"}`, () => {
    const ip = parseIp(input);
    assert.equal(ip === null ? null : formatIp(ip), want);
  });
}

Deno.test("parseCidr() takes ADDR/PREFIX and bare addresses, refuses host bits and bad prefixes", () => {
  assert.deepEqual(parseCidr("10.0.0.0/8")?.prefix, 8);
  assert.deepEqual(parseCidr("10.1.2.3")?.prefix, 32);
  assert.deepEqual(parseCidr("fd00::/8")?.prefix, 8);
  assert.deepEqual(parseCidr("::1")?.prefix, 128);
  assert.deepEqual(parseCidr("0.0.0.0/0")?.prefix, 0);
  assert.deepEqual(parseCidr("::/0")?.prefix, 0);
  for (const bad of ["10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "x/8"]) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

const MEMBERSHIP: Array<[string[], string, boolean]> = [
  [["127.0.0.0/8"], "127.0.0.1", true],
  [["127.0.0.0/8"], "127.255.255.255", true],
  [["127.0.0.0/8"], "128.0.0.1", false],
  [["127.0.0.2"], "127.0.0.2", true],
  [["127.0.0.2"], "127.0.0.1", false],
  [["10.0.0.0/12"], "10.15.255.255", true], // prefix not on a byte boundary
  [["10.0.0.0/12"], "10.16.0.0", false],
  [["192.0.2.0/24"], "::ffff:192.0.2.7", true], // a dual-stack socket's IPv4 peer
  [["192.0.2.0/24"], "::192.0.2.7", false], // IPv4-compatible is not mapped
  [["::ffff:192.0.2.0/120"], "192.0.2.7", false], // blocks are not unmapped: write IPv4 ones
  [["::1"], "::1", true],
  [["::1"], "::2", false],
  [["2001:db8::/32"], "2001:db8:ffff::1", true],
  [["2001:db8::/32"], "2001:db9::1", false],
  [["fe80::/10"], "febf::1", true],
  [["fe80::/10"], "fec0::1", false],
  [["0.0.0.0/0"], "8.8.8.8", true],
  [["0.0.0.0/0"], "::1", false], // families never mix
  [["::/0"], "1.2.3.4", false],
  [["127.0.0.0/8", "::1"], "::1", true],
  [[], "127.0.0.1", false],
  [["127.0.0.0/8"], "localhost", false], // names are never looked up
  [["127.0.0.0/8"], "127.0.0.1:80", false],
];

for (const [blocks, addr, want] of MEMBERSHIP) {
  Deno.test(`CidrSet [${blocks.join(", ")}] has ${addr}: ${want}`, () => {
    assert.equal(CidrSet.parse(blocks).has(addr), want);
  });
}

Deno.test("CidrSet.parse() names the bad entry and what to write instead", () => {
  assert.throws(() => CidrSet.parse(["127.0.0.0/8", "10.0.0.1/8"]), /"10\.0\.0\.1\/8".*host bits/);
  assert.throws(() => CidrSet.parse(["proxy.example"]), /not an address or CIDR block/);
});
