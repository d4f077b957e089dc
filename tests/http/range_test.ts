import assert from "node:assert/strict";
import {
  type ByteRange,
  contentRange,
  MAX_RANGES,
  parseContentRange,
  parseRange,
  type RangeResult,
  unsatisfiedRange,
} from "../../lib/http/range.ts";

/** The status a file server answers with for a parse result. */
function codeOf(r: RangeResult): 200 | 206 | 416 {
  return r.kind === "none" ? 200 : r.kind === "unsatisfiable" ? 416 : 206;
}

const GiB = 1024 * 1024 * 1024;
const MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1

/** In the style of Go's ServeFileRangeTests: header, size, expected code, ranges or reason. */
interface RangeCase {
  r: string | undefined;
  size?: number; // default 100
  code: 200 | 206 | 416;
  ranges?: Array<[number, number]>;
  reason?: string;
}

const many = (n: number) =>
  "bytes=" + Array.from({ length: n }, (_, i) => `${i * 2}-${i * 2}`).join(",");

const CASES: RangeCase[] = [
  // absent and plain forms
  { r: undefined, code: 200, reason: "absent" },
  { r: "", code: 200, reason: "absent" },
  { r: "  ", code: 200, reason: "absent" },
  { r: "bytes=0-4", code: 206, ranges: [[0, 4]] },
  { r: "bytes=2-", code: 206, ranges: [[2, 99]] },
  { r: "bytes=0-0", code: 206, ranges: [[0, 0]] },
  { r: "bytes=0-99", code: 206, ranges: [[0, 99]] },
  { r: "bytes=99-", code: 206, ranges: [[99, 99]] },
  { r: "bytes=99-99", code: 206, ranges: [[99, 99]] },
  // suffix ranges (RFC 9110 §14.1.1)
  { r: "bytes=-5", code: 206, ranges: [[95, 99]] },
  { r: "bytes=-1", code: 206, ranges: [[99, 99]] },
  { r: "bytes=-100", code: 206, ranges: [[0, 99]] },
  { r: "bytes=-1000", code: 206, ranges: [[0, 99]] },
  { r: "bytes=-0", code: 416 },
  // beyond EOF: clamped, or unsatisfiable when the start is past it
  { r: "bytes=0-1000", code: 206, ranges: [[0, 99]] },
  { r: "bytes=50-100", code: 206, ranges: [[50, 99]] },
  { r: "bytes=100-", code: 416 },
  { r: "bytes=100-200", code: 416 },
  { r: "bytes=100-,200-300", code: 416 },
  { r: "bytes=0-4,100-200", code: 206, ranges: [[0, 4]] },
  { r: "bytes=-0,0-0", code: 206, ranges: [[0, 0]] },
  // several ranges, whitespace and empty list elements (RFC 9110 §5.6.1.2)
  { r: "bytes=0-4,90-99", code: 206, ranges: [[0, 4], [90, 99]] },
  { r: "bytes=0-4, 90-99", code: 206, ranges: [[0, 4], [90, 99]] },
  { r: "bytes=0-4 ,\t90-99", code: 206, ranges: [[0, 4], [90, 99]] },
  { r: "bytes= 0-4", code: 206, ranges: [[0, 4]] },
  { r: "bytes=0-4,,10-14,", code: 206, ranges: [[0, 4], [10, 14]] },
  { r: " bytes=0-4 ", code: 206, ranges: [[0, 4]] },
  // sorted and coalesced
  { r: "bytes=90-99,0-4", code: 206, ranges: [[0, 4], [90, 99]] },
  { r: "bytes=0-4,5-9", code: 206, ranges: [[0, 9]] },
  { r: "bytes=0-10,5-20", code: 206, ranges: [[0, 20]] },
  { r: "bytes=5-20,0-10", code: 206, ranges: [[0, 20]] },
  { r: "bytes=0-50,10-20", code: 206, ranges: [[0, 50]] },
  { r: "bytes=0-4,6-9", code: 206, ranges: [[0, 4], [6, 9]] },
  { r: "bytes=-10,80-95", code: 206, ranges: [[80, 99]] },
  { r: "bytes=0-,0-,0-,0-", code: 206, ranges: [[0, 99]] },
  { r: "bytes=20-29,0-9,10-19", code: 206, ranges: [[0, 29]] },
  // unit
  { r: "BYTES=0-4", code: 206, ranges: [[0, 4]] },
  { r: "Bytes=0-4", code: 206, ranges: [[0, 4]] },
  { r: "items=0-4", code: 200, reason: "unit" },
  { r: "bytes =0-4", code: 200, reason: "invalid" },
  // invalid syntax → ignored, whole representation (RFC 9110 §14.2)
  { r: "bytes", code: 200, reason: "invalid" },
  { r: "=0-4", code: 200, reason: "invalid" },
  { r: "bytes=", code: 200, reason: "invalid" },
  { r: "bytes=,", code: 200, reason: "invalid" },
  { r: "bytes=-", code: 200, reason: "invalid" },
  { r: "bytes=5-4", code: 200, reason: "invalid" },
  { r: "bytes=a-b", code: 200, reason: "invalid" },
  { r: "bytes=0x1-2", code: 200, reason: "invalid" },
  { r: "bytes=+1-2", code: 200, reason: "invalid" },
  { r: "bytes=1-2-3", code: 200, reason: "invalid" },
  { r: "bytes=0 - 4", code: 200, reason: "invalid" },
  { r: "bytes=0-4;x", code: 200, reason: "invalid" },
  { r: "bytes=0-4,x", code: 200, reason: "invalid" },
  { r: "bytes=0-4,100-50", code: 200, reason: "invalid" },
  { r: "bytes=0-4, bytes=6-9", code: 200, reason: "invalid" },
  { r: "bytes=٣-٤", code: 200, reason: "invalid" },
  // too many ranges: served whole so it cannot amplify work
  { r: many(MAX_RANGES), code: 206 },
  { r: many(MAX_RANGES + 1), code: 200, reason: "too-many" },
  { r: many(MAX_RANGES) + ",,,", code: 206 },
  // size 0: int-ranges unsatisfiable; a non-zero suffix selects nothing → plain 200
  { r: "bytes=0-", size: 0, code: 416 },
  { r: "bytes=0-0", size: 0, code: 416 },
  { r: "bytes=-0", size: 0, code: 416 },
  { r: "bytes=-1", size: 0, code: 200, reason: "empty" },
  { r: "bytes=0-,-5", size: 0, code: 200, reason: "empty" },
  { r: "bytes=x", size: 0, code: 200, reason: "invalid" },
  // size 1
  { r: "bytes=0-0,-1", size: 1, code: 206, ranges: [[0, 0]] },
  { r: "bytes=1-", size: 1, code: 416 },
  // big numbers: exact up to 2^53 - 1; more digits → invalid
  { r: "bytes=9007199254740990-", size: MAX, code: 206, ranges: [[MAX - 1, MAX - 1]] },
  { r: "bytes=-2", size: MAX, code: 206, ranges: [[MAX - 2, MAX - 1]] },
  { r: "bytes=0-9007199254740991", size: 10, code: 206, ranges: [[0, 9]] },
  { r: "bytes=0-9007199254740992", size: 10, code: 200, reason: "invalid" },
  { r: "bytes=0-99999999999999999999", size: 10, code: 200, reason: "invalid" },
  { r: "bytes=-99999999999999999999", size: 10, code: 200, reason: "invalid" },
  { r: "bytes=00000000000000000005-0000000000000000000009", size: 10, code: 206, ranges: [[5, 9]] },
  // ±3 bytes around the 2 GiB and 4 GiB edges (darkhttpd's large-file tests)
  {
    r: "bytes=2147483645-2147483650",
    size: 2 * GiB + 3,
    code: 206,
    ranges: [[2 * GiB - 3, 2 * GiB + 2]],
  },
  { r: "bytes=2147483648-", size: 2 * GiB + 3, code: 206, ranges: [[2 * GiB, 2 * GiB + 2]] },
  { r: "bytes=4294967293-", size: 4 * GiB - 3, code: 416 },
  { r: "bytes=-4", size: 4 * GiB + 3, code: 206, ranges: [[4 * GiB - 1, 4 * GiB + 2]] },
  {
    r: "bytes=4294967295-4294967296",
    size: 4 * GiB + 3,
    code: 206,
    ranges: [[4 * GiB - 1, 4 * GiB]],
  },
];

for (const c of CASES) {
  const size = c.size ?? 100;
  Deno.test(`parseRange(${JSON.stringify(c.r)}, ${size}) → ${c.code}${c.reason ? ` (${c.reason})` : ""}`, () => {
    const got = parseRange(c.r, size);
    assert.equal(codeOf(got), c.code, JSON.stringify(got));
    if (c.ranges !== undefined) {
      assert.ok(got.kind === "ranges");
      assert.deepEqual(got.ranges.map((r) => [r.start, r.end]), c.ranges);
    }
    if (c.reason !== undefined) {
      assert.ok(got.kind === "none");
      assert.equal(got.reason, c.reason);
    }
  });
}

Deno.test("parseRange() ranges are sorted, disjoint, within the size and sum to at most the size (fuzz)", () => {
  // A fixed-seed xorshift so a failure reproduces.
  let seed = 0x2545f491;
  const rnd = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const alphabet = "0123456789-,= \tbytesx";
  for (let i = 0; i < 3000; i++) {
    const size = rnd(4) === 0 ? 0 : rnd(200);
    let header: string;
    if (rnd(2) === 0) {
      header = "bytes=" +
        Array.from({ length: 1 + rnd(6) }, () => {
          const k = rnd(3);
          return k === 0 ? `${rnd(250)}-${rnd(250)}` : k === 1 ? `${rnd(250)}-` : `-${rnd(250)}`;
        }).join(",");
    } else {
      header = Array.from({ length: rnd(20) }, () => alphabet[rnd(alphabet.length)]).join("");
    }
    const got = parseRange(header, size);
    if (got.kind !== "ranges") continue;
    let total = 0;
    let prev: ByteRange | undefined;
    for (const r of got.ranges) {
      assert.ok(r.start >= 0 && r.start <= r.end && r.end < size, `${header} ${size}`);
      if (prev !== undefined) assert.ok(r.start > prev.end + 1, `${header}: not coalesced`);
      total += r.end - r.start + 1;
      prev = r;
    }
    assert.ok(total <= size);
  }
});

Deno.test("parseRange() refuses a size that is not a safe non-negative integer", () => {
  for (const size of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(() => parseRange("bytes=0-1", size), TypeError);
  }
});

Deno.test("contentRange() and unsatisfiedRange() format RFC 9110 §14.4 values", () => {
  assert.equal(contentRange(0, 4, 100), "bytes 0-4/100");
  assert.equal(
    contentRange(4 * GiB, 4 * GiB + 2, 4 * GiB + 3),
    "bytes 4294967296-4294967298/4294967299",
  );
  assert.equal(unsatisfiedRange(100), "bytes */100");
  assert.equal(unsatisfiedRange(0), "bytes */0");
});

const CONTENT_RANGE_CASES: Array<[string, ReturnType<typeof parseContentRange>]> = [
  ["bytes 0-4/100", { kind: "range", start: 0, end: 4, size: 100 }],
  ["bytes 0-4/*", { kind: "range", start: 0, end: 4, size: undefined }],
  ["bytes */100", { kind: "unsatisfied", size: 100 }],
  ["Bytes 1-1/2", { kind: "range", start: 1, end: 1, size: 2 }],
  ["bytes 4-0/100", null],
  ["bytes 0-100/100", null],
  ["bytes 0-4", null],
  ["items 0-4/100", null],
  ["bytes=0-4/100", null],
  ["bytes 0-99999999999999999999/*", null],
];

for (const [value, want] of CONTENT_RANGE_CASES) {
  Deno.test(`parseContentRange(${JSON.stringify(value)}) → ${JSON.stringify(want)}`, () => {
    assert.deepEqual(parseContentRange(value), want);
  });
}

Deno.test("parseContentRange() reads back what contentRange() and unsatisfiedRange() write", () => {
  assert.deepEqual(parseContentRange(contentRange(7, 9, 10)), {
    kind: "range",
    start: 7,
    end: 9,
    size: 10,
  });
  assert.deepEqual(parseContentRange(unsatisfiedRange(10)), { kind: "unsatisfied", size: 10 });
});
