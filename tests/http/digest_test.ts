import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  formatReprDigest,
  parseDigestField,
  parseWantDigest,
  SHA_256,
  wantsSha256,
} from "../../lib/http/digest.ts";

const HELLO_B64 = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";
const hello = new Uint8Array(createHash("sha256").update("hello world").digest());

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

Deno.test("formatReprDigest() formats sha-256 of 'hello world' as the known vector", () => {
  assert.equal(formatReprDigest(hello), `sha-256=:${HELLO_B64}:`);
});

Deno.test("formatReprDigest() refuses anything but 32 bytes", () => {
  assert.throws(() => formatReprDigest(new Uint8Array(31)), RangeError);
  assert.throws(() => formatReprDigest(new Uint8Array(64)), RangeError);
});

Deno.test("parseDigestField() reads back what formatReprDigest() writes", () => {
  const m = parseDigestField(formatReprDigest(hello));
  assert.deepEqual([...m.keys()], [SHA_256]);
  assert.deepEqual(m.get(SHA_256), hello);
});

interface DigestCase {
  name: string;
  value: string;
  want: Record<string, string>; // algorithm → base64
}

const DIGEST_CASES: DigestCase[] = [
  { name: "one member", value: `sha-256=:${HELLO_B64}:`, want: { "sha-256": HELLO_B64 } },
  {
    name: "two members, unknown algorithm kept by name",
    value: `sha-512=:AAAA:, sha-256=:${HELLO_B64}:`,
    want: { "sha-512": "AAAA", "sha-256": HELLO_B64 },
  },
  {
    name: "lenient whitespace around members and commas",
    value: `  sha-256=:${HELLO_B64}:\t,   md5=:AAAA:  `,
    want: { "sha-256": HELLO_B64, md5: "AAAA" },
  },
  {
    name: "missing = padding accepted",
    value: `sha-256=:${HELLO_B64.replace(/=+$/, "")}:`,
    want: { "sha-256": HELLO_B64 },
  },
  {
    name: "upper-case key lower-cased",
    value: `SHA-256=:${HELLO_B64}:`,
    want: { "sha-256": HELLO_B64 },
  },
  {
    name: "parameters are dropped",
    value: `sha-256=:${HELLO_B64}:;x=1;y`,
    want: { "sha-256": HELLO_B64 },
  },
  {
    name: "a later duplicate wins",
    value: `sha-256=:AAAA:, sha-256=:${HELLO_B64}:`,
    want: { "sha-256": HELLO_B64 },
  },
  {
    name: "members that are not byte sequences are skipped",
    value: `a=1, b="s", c=tok, d, e=?0, f=(1 2), sha-256=:${HELLO_B64}:`,
    want: { "sha-256": HELLO_B64 },
  },
  {
    name: "a non-byte duplicate removes the earlier byte value",
    value: "sha-256=:AAAA:, sha-256=1",
    want: {},
  },
  { name: "empty field", value: "", want: {} },
  {
    name: "legacy RFC 3230 form without colons is not bytes",
    value: `sha-256=${HELLO_B64}`,
    want: {},
  },
  { name: "invalid base64 fails the whole field", value: "sha-256=:!!!!:, md5=:AAAA:", want: {} },
  { name: "unterminated byte sequence fails the field", value: "sha-256=:AAAA", want: {} },
  { name: "trailing comma fails the field", value: "sha-256=:AAAA:,", want: {} },
  { name: "junk between members fails the field", value: "sha-256=:AAAA: md5=:AAAA:", want: {} },
  { name: "a key must start with a letter or *", value: "1sha=:AAAA:", want: {} },
];

for (const c of DIGEST_CASES) {
  Deno.test(`parseDigestField(): ${c.name}`, () => {
    const got = parseDigestField(c.value);
    assert.deepEqual(Object.fromEntries([...got].map(([k, v]) => [k, b64(v)])), c.want);
  });
}

const WANT_CASES: Array<[string, Record<string, number>, boolean]> = [
  ["sha-256=10, sha-512=3", { "sha-256": 10, "sha-512": 3 }, true],
  ["sha-256=1", { "sha-256": 1 }, true],
  ["sha-512=10", { "sha-512": 10 }, false],
  ["sha-256=0", { "sha-256": 0 }, false],
  ["sha-256=0, sha-512=5", { "sha-256": 0, "sha-512": 5 }, false],
  ["  sha-512=3 ,sha-256=2  ", { "sha-512": 3, "sha-256": 2 }, true],
  ["SHA-256=5", { "sha-256": 5 }, true],
  ["sha-256=11", {}, false],
  ["sha-256=-1", {}, false],
  ["sha-256=1.5", {}, false],
  ["sha-256=5.0", {}, false],
  ["sha-256", {}, false],
  ['sha-256="10"', {}, false],
  ["sha-256=5;q=1", { "sha-256": 5 }, true],
  ["sha-256=5, sha-256=0", { "sha-256": 0 }, false],
  ["sha-256=5,", {}, false],
  ["sha-256=5 sha-512=1", {}, false],
  ["", {}, false],
];

for (const [value, want, wants] of WANT_CASES) {
  Deno.test(`parseWantDigest(${JSON.stringify(value)}) → ${JSON.stringify(want)}, wantsSha256 ${wants}`, () => {
    assert.deepEqual(Object.fromEntries(parseWantDigest(value)), want);
    assert.equal(wantsSha256(value), wants);
  });
}

Deno.test("wantsSha256() is false when the field is absent", () => {
  assert.equal(wantsSha256(undefined), false);
  assert.equal(wantsSha256(null), false);
});
