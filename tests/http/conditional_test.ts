import assert from "node:assert/strict";
import {
  type EntityTag,
  evaluateIfRange,
  evaluatePreconditions,
  makeEtag,
  parseEtag,
  parseEtagList,
  strongMatch,
  type Validators,
  weakMatch,
} from "../../lib/http/conditional.ts";
import { httpDate } from "../../lib/http/response.ts";

// The representation: modified at 12:00:00.500 (a sub-second part, as file systems report).
const LM = Date.UTC(2024, 0, 1, 12, 0, 0) + 500;
const NOW = LM + 86_400_000;
const V: Validators = { etag: '"abc"', lastModifiedMs: LM };

const AT_LM = httpDate(LM); // Mon, 01 Jan 2024 12:00:00 GMT
const EARLIER = httpDate(LM - 1000); // 11:59:59
const LATER = httpDate(LM + 1000); // 12:00:01
const FUTURE = httpDate(NOW + 3_600_000);
const LM_RFC850 = "Monday, 01-Jan-24 12:00:00 GMT";
const LM_ASCTIME = "Mon Jan  1 12:00:00 2024";

interface PreconditionCase {
  name: string;
  method?: string; // default GET
  h: Record<string, string>;
  v?: Validators;
  code: 200 | 304 | 412;
}

const CASES: PreconditionCase[] = [
  { name: "no preconditions → 200", h: {}, code: 200 },
  // Step 1: If-Match, strong comparison (RFC 9110 §13.1.1)
  { name: "If-Match with the current tag → 200", h: { "if-match": '"abc"' }, code: 200 },
  { name: "If-Match * → 200", h: { "if-match": "*" }, code: 200 },
  { name: "If-Match another tag → 412", h: { "if-match": '"xyz"' }, code: 412 },
  {
    name: "If-Match weak form of the tag → 412 (strong comparison)",
    h: { "if-match": 'W/"abc"' },
    code: 412,
  },
  { name: "If-Match list containing the tag → 200", h: { "if-match": '"x", "abc"' }, code: 200 },
  { name: "If-Match malformed (unquoted) → 412", h: { "if-match": "abc" }, code: 412 },
  { name: "If-Match blank is treated as absent → 200", h: { "if-match": " " }, code: 200 },
  {
    name: "If-Match on a resource whose tag is weak never matches → 412",
    h: { "if-match": 'W/"abc"' },
    v: { etag: 'W/"abc"', lastModifiedMs: LM },
    code: 412,
  },
  // Step 2: If-Unmodified-Since, only without If-Match (§13.1.4)
  {
    name: "If-Unmodified-Since at Last-Modified → 200",
    h: { "if-unmodified-since": AT_LM },
    code: 200,
  },
  { name: "If-Unmodified-Since later → 200", h: { "if-unmodified-since": LATER }, code: 200 },
  { name: "If-Unmodified-Since earlier → 412", h: { "if-unmodified-since": EARLIER }, code: 412 },
  {
    name: "If-Unmodified-Since invalid date is ignored → 200",
    h: { "if-unmodified-since": "yesterday" },
    code: 200,
  },
  {
    name: "If-Unmodified-Since ignored when If-Match is present (match) → 200",
    h: { "if-match": '"abc"', "if-unmodified-since": EARLIER },
    code: 200,
  },
  {
    name: "If-Match false wins over a true If-Unmodified-Since → 412",
    h: { "if-match": '"xyz"', "if-unmodified-since": LATER },
    code: 412,
  },
  {
    name: "If-Unmodified-Since ignored when Last-Modified is unknown → 200",
    h: { "if-unmodified-since": EARLIER },
    v: { etag: '"abc"', lastModifiedMs: NaN },
    code: 200,
  },
  // Step 3: If-None-Match, weak comparison (§13.1.2)
  { name: "If-None-Match with the tag on GET → 304", h: { "if-none-match": '"abc"' }, code: 304 },
  {
    name: "If-None-Match with the tag on HEAD → 304",
    method: "HEAD",
    h: { "if-none-match": '"abc"' },
    code: 304,
  },
  {
    name: "If-None-Match with the tag on PUT → 412",
    method: "PUT",
    h: { "if-none-match": '"abc"' },
    code: 412,
  },
  {
    name: "If-None-Match with the tag on POST → 412",
    method: "POST",
    h: { "if-none-match": '"abc"' },
    code: 412,
  },
  {
    name: "If-None-Match weak form matches (weak comparison) → 304",
    h: { "if-none-match": 'W/"abc"' },
    code: 304,
  },
  { name: "If-None-Match * on GET → 304", h: { "if-none-match": "*" }, code: 304 },
  { name: "If-None-Match * on PUT → 412", method: "PUT", h: { "if-none-match": "*" }, code: 412 },
  { name: "If-None-Match another tag → 200", h: { "if-none-match": '"xyz"' }, code: 200 },
  {
    name: "If-None-Match list containing the tag → 304",
    h: { "if-none-match": '"x", W/"y", "abc"' },
    code: 304,
  },
  {
    name: "If-None-Match malformed matches nothing → 200",
    h: { "if-none-match": "abc" },
    code: 200,
  },
  { name: "If-None-Match is case-sensitive → 200", h: { "if-none-match": '"ABC"' }, code: 200 },
  {
    name: "If-None-Match: a comma inside quotes is part of the tag → 304",
    h: { "if-none-match": '"a,b"' },
    v: { etag: '"a,b"', lastModifiedMs: LM },
    code: 304,
  },
  {
    name: "If-None-Match: two tags are not one tag with a comma → 200",
    h: { "if-none-match": '"a", "b"' },
    v: { etag: '"a,b"', lastModifiedMs: LM },
    code: 200,
  },
  // Step 4: If-Modified-Since, GET/HEAD only, only without If-None-Match (§13.1.3)
  {
    name: "If-Modified-Since at Last-Modified (second granularity) → 304",
    h: { "if-modified-since": AT_LM },
    code: 304,
  },
  { name: "If-Modified-Since later → 304", h: { "if-modified-since": LATER }, code: 304 },
  { name: "If-Modified-Since earlier → 200", h: { "if-modified-since": EARLIER }, code: 200 },
  {
    name: "If-Modified-Since in RFC 850 form → 304",
    h: { "if-modified-since": LM_RFC850 },
    code: 304,
  },
  {
    name: "If-Modified-Since in asctime form → 304",
    h: { "if-modified-since": LM_ASCTIME },
    code: 304,
  },
  {
    name: "If-Modified-Since on HEAD → 304",
    method: "HEAD",
    h: { "if-modified-since": AT_LM },
    code: 304,
  },
  {
    name: "If-Modified-Since ignored on POST → 200",
    method: "POST",
    h: { "if-modified-since": AT_LM },
    code: 200,
  },
  {
    name: "If-Modified-Since in the future is ignored → 200",
    h: { "if-modified-since": FUTURE },
    code: 200,
  },
  {
    name: "If-Modified-Since invalid date is ignored → 200",
    h: { "if-modified-since": "2024-01-01" },
    code: 200,
  },
  {
    name: "If-Modified-Since with two dates is ignored → 200",
    h: { "if-modified-since": `${AT_LM}, ${AT_LM}` },
    code: 200,
  },
  {
    name: "If-Modified-Since ignored when If-None-Match does not match → 200",
    h: { "if-none-match": '"xyz"', "if-modified-since": AT_LM },
    code: 200,
  },
  {
    name: "If-None-Match match decides even when If-Modified-Since says modified → 304",
    h: { "if-none-match": '"abc"', "if-modified-since": EARLIER },
    code: 304,
  },
  {
    name: "If-Modified-Since ignored when Last-Modified is unknown → 200",
    h: { "if-modified-since": AT_LM },
    v: { etag: '"abc"', lastModifiedMs: NaN },
    code: 200,
  },
  // Order across steps (§13.2.2)
  {
    name: "If-Match false beats If-None-Match match → 412",
    h: { "if-match": '"xyz"', "if-none-match": '"abc"' },
    code: 412,
  },
  {
    name: "If-Unmodified-Since false beats If-None-Match match → 412",
    h: { "if-unmodified-since": EARLIER, "if-none-match": '"abc"' },
    code: 412,
  },
  {
    name: "If-Unmodified-Since false beats If-Modified-Since not modified → 412",
    h: { "if-unmodified-since": EARLIER, "if-modified-since": AT_LM },
    code: 412,
  },
  {
    name: "If-Match true then If-None-Match match on GET → 304",
    h: { "if-match": '"abc"', "if-none-match": '"abc"' },
    code: 304,
  },
  {
    name: "If-Match * then If-None-Match * on PUT → 412",
    method: "PUT",
    h: { "if-match": "*", "if-none-match": "*" },
    code: 412,
  },
  {
    name: "all four true-ish, nothing matched → 200",
    h: {
      "if-match": '"abc"',
      "if-unmodified-since": LATER,
      "if-none-match": '"xyz"',
      "if-modified-since": EARLIER,
    },
    code: 200,
  },
];

for (const c of CASES) {
  Deno.test(`evaluatePreconditions(): ${c.method ?? "GET"} ${c.name}`, () => {
    const headers = new Map(Object.entries(c.h));
    const got = evaluatePreconditions({ method: c.method ?? "GET", headers }, c.v ?? V, {
      nowMs: NOW,
    });
    assert.equal(got.status, c.code);
  });
}

/**
 * RFC 9110 §13.1.3: "A recipient MUST ignore the If-Modified-Since header field if the received
 * field value is not a valid HTTP-date". Each value below is after Last-Modified and before
 * now if read loosely (Date.parse rolls 31 Feb into March, hour 24 into the next day), so a
 * loose parser answers 304; each must be ignored (200). The valid rows show the same shapes
 * are still honoured.
 */
const LATE_NOW = Date.UTC(2026, 0, 1);
const IMS_VALIDITY: Array<[string, number]> = [
  ["Sat, 31 Feb 2024 12:00:00 GMT", 200], // no 31 Feb
  ["Fri, 30 Feb 2024 12:00:00 GMT", 200],
  ["Wed, 29 Feb 2023 12:00:00 GMT", 200], // 2023 is not a leap year
  ["Thu, 29 Feb 2024 12:00:00 GMT", 304], // 2024 is
  ["Tue, 02 Jan 2024 24:00:00 GMT", 200], // hour 24
  ["Tue, 02 Jan 2024 23:60:00 GMT", 200], // minute 60
  ["Tue, 02 Jan 2024 23:59:61 GMT", 200], // second 61
  ["Sat, 30 Jun 2024 23:59:60 GMT", 304], // a leap second is a valid second
  ["Xyz, 02 Jan 2024 12:00:00 GMT", 200], // no such day name
  ["Tue, 00 Jan 2024 12:00:00 GMT", 200], // day 0
  ["Tue, 32 Jan 2024 12:00:00 GMT", 200],
  ["Tue, 02 jan 2024 12:00:00 GMT", 200], // month names are case-sensitive
  ["Tue, 02 Foo 2024 12:00:00 GMT", 200],
  ["Tue, 2 Jan 2024 12:00:00 GMT", 200], // day is 2DIGIT in IMF-fixdate
  ["Tue, 02 Jan 2024 12:00:00 UTC", 200], // GMT only
  ["Tue, 02 Jan 2024 12:00:00 GMT", 304],
  ["Mon, 02 Jan 2024 12:00:00 GMT", 304], // a wrong (but real) day name is tolerated
  ["Tuesday, 02-Jan-24 12:00:00 GMT", 304],
  ["Tuesday, 31-Feb-24 12:00:00 GMT", 200],
  ["Tue, 02-Jan-24 12:00:00 GMT", 200], // RFC 850 takes the long day name
  ["Someday, 02-Jan-24 12:00:00 GMT", 200],
  ["Tue Jan  2 12:00:00 2024", 304],
  ["Tue Feb 31 12:00:00 2024", 200],
  ["Tue Jan  2 24:00:00 2024", 200],
  ["Xyz Jan  2 12:00:00 2024", 200],
];

for (const [value, code] of IMS_VALIDITY) {
  Deno.test(`evaluatePreconditions(): If-Modified-Since ${JSON.stringify(value)} → ${code}`, () => {
    const headers = new Map([["if-modified-since", value]]);
    const got = evaluatePreconditions({ method: "GET", headers }, V, { nowMs: LATE_NOW });
    assert.equal(got.status, code);
  });
}

Deno.test("evaluatePreconditions() accepts a Headers object as well as a Map", () => {
  const headers = new Headers({ "If-None-Match": '"abc"' });
  assert.equal(evaluatePreconditions({ method: "GET", headers }, V, { nowMs: NOW }).status, 304);
});

Deno.test("evaluatePreconditions() defaults now to the clock: a past date is honoured", () => {
  const headers = new Map([["if-modified-since", AT_LM]]);
  assert.equal(evaluatePreconditions({ method: "GET", headers }, V).status, 304);
});

interface IfRangeCase {
  name: string;
  value: string | undefined;
  v?: Validators;
  honour: boolean;
}

const IF_RANGE_CASES: IfRangeCase[] = [
  { name: "absent → honour the Range", value: undefined, honour: true },
  { name: "the current strong tag → honour", value: '"abc"', honour: true },
  { name: "the current tag with spaces around → honour", value: ' "abc" ', honour: true },
  { name: "a weak tag never matches → ignore", value: 'W/"abc"', honour: false },
  { name: "another tag → ignore", value: '"xyz"', honour: false },
  { name: "a list of tags is not an entity-tag → ignore", value: '"abc", "x"', honour: false },
  {
    name: "a strong tag against a weak current tag → ignore",
    value: '"abc"',
    v: { etag: 'W/"abc"', lastModifiedMs: LM },
    honour: false,
  },
  { name: "the exact Last-Modified date → honour", value: AT_LM, honour: true },
  { name: "the Last-Modified date in RFC 850 form → honour", value: LM_RFC850, honour: true },
  { name: "an earlier date → ignore", value: EARLIER, honour: false },
  { name: "a later date → ignore (exact match only)", value: LATER, honour: false },
  {
    name: "a date when Last-Modified is unknown → ignore",
    value: AT_LM,
    v: { etag: '"abc"', lastModifiedMs: NaN },
    honour: false,
  },
  { name: "garbage → ignore", value: "tomorrow", honour: false },
  { name: "an unquoted tag → ignore", value: "abc", honour: false },
  { name: "empty → ignore", value: "", honour: false },
];

for (const c of IF_RANGE_CASES) {
  Deno.test(`evaluateIfRange(): ${c.name}`, () => {
    assert.equal(evaluateIfRange(c.value, c.v ?? V), c.honour);
  });
}

Deno.test("makeEtag() is a strong tag in the documented form", () => {
  assert.equal(makeEtag({ size: 255, mtimeMs: 4096, ino: 16 }), '"ff-1000"');
  assert.equal(makeEtag({ size: 0, mtimeMs: 0 }), '"0-0"');
  assert.equal(makeEtag({ size: 1, mtimeMs: 4096.9, ino: null }), '"1-1000"');
  const tag = parseEtag(makeEtag({ size: 5 * 2 ** 30, mtimeMs: 1.7e12, ino: 2 ** 40 }));
  assert.ok(tag !== null && !tag.weak);
});

Deno.test("makeEtag() changes when size or mtime change, and only then (not inode, device)", () => {
  const base = { size: 100, mtimeMs: 1_700_000_000_000, ino: 7, dev: 1 };
  const tag = makeEtag(base);
  assert.equal(makeEtag({ ...base }), tag, "stable for the same version");
  assert.equal(makeEtag({ ...base, dev: 2 }), tag, "device numbers are not part of the tag");
  assert.notEqual(makeEtag({ ...base, size: 101 }), tag);
  assert.notEqual(makeEtag({ ...base, mtimeMs: base.mtimeMs + 1 }), tag);
  assert.equal(makeEtag({ ...base, ino: 8 }), tag, "a replica's other inode: the same tag");
});

const ETAG_LIST_CASES: Array<[string, ReturnType<typeof parseEtagList>]> = [
  ["*", "*"],
  [" * ", "*"],
  ['"a"', [{ weak: false, opaque: '"a"' }]],
  ['W/"a"', [{ weak: true, opaque: '"a"' }]],
  ['""', [{ weak: false, opaque: '""' }]],
  ['"a", W/"b" ,"c"', [
    { weak: false, opaque: '"a"' },
    { weak: true, opaque: '"b"' },
    { weak: false, opaque: '"c"' },
  ]],
  ['"a,b"', [{ weak: false, opaque: '"a,b"' }]],
  [',"a",,', [{ weak: false, opaque: '"a"' }]],
  ["", []],
  ['"\u00e9"', [{ weak: false, opaque: '"\u00e9"' }]],
  ["a", null],
  ['w/"a"', null],
  ['W/ "a"', null],
  ['"a', null],
  ['"a""b"', null],
  ['"a" "b"', null],
  ['"a b"', null],
  ['*, "a"', null],
  ["W/*", null],
];

for (const [value, want] of ETAG_LIST_CASES) {
  Deno.test(`parseEtagList(${JSON.stringify(value)}) → ${JSON.stringify(want)}`, () => {
    assert.deepEqual(parseEtagList(value), want);
  });
}

Deno.test("parseEtag() accepts exactly one entity-tag", () => {
  assert.deepEqual(parseEtag(' W/"x" '), { weak: true, opaque: '"x"' });
  assert.equal(parseEtag('"x", "y"'), null);
  assert.equal(parseEtag("x"), null);
  assert.equal(parseEtag(""), null);
});

Deno.test("strongMatch() and weakMatch() follow the table of RFC 9110 §8.8.3.2", () => {
  const t = (s: string): EntityTag => parseEtag(s)!;
  const table: Array<[string, string, boolean, boolean]> = [
    ['W/"1"', 'W/"1"', false, true],
    ['W/"1"', 'W/"2"', false, false],
    ['W/"1"', '"1"', false, true],
    ['"1"', '"1"', true, true],
  ];
  for (const [a, b, strong, weak] of table) {
    assert.equal(strongMatch(t(a), t(b)), strong, `strong ${a} ${b}`);
    assert.equal(weakMatch(t(a), t(b)), weak, `weak ${a} ${b}`);
    assert.equal(strongMatch(t(b), t(a)), strong, "symmetric");
  }
});
