/**
 * Range requests (RFC 9110 §14): parse a `Range` field against a representation size into a
 * decision the file server can act on, and format `Content-Range` values. Pure: strings in,
 * values out. `If-Range` lives in `conditional.ts` beside the other validators.
 *
 * @example
 * ```ts
 * import { contentRange, parseRange } from "./range.ts";
 * const r = parseRange("bytes=0-4, -3", 100);
 * if (r.kind === "ranges") {
 *   console.log(r.ranges); // [{ start: 0, end: 4 }, { start: 97, end: 99 }]
 *   console.log(contentRange(r.ranges[0].start, r.ranges[0].end, 100)); // bytes 0-4/100
 * }
 * ```
 * @module
 */

import { trimOws } from "./ows.ts";

/**
 * Most range-specs honoured in one `Range` field; more → the field is ignored and the whole
 * representation is served (200). Real clients (browsers seeking media, download managers, PDF
 * viewers) ask for one or a handful; many tiny ranges only multiply part heads and seeks, which
 * RFC 9110 §14.2 names as a denial-of-service pattern a server may ignore.
 */
export const MAX_RANGES = 16;

/**
 * Longest run of significant digits accepted in a position (leading zeros aside): 2^53 has 16
 * digits, so anything longer cannot be an exact JavaScript number and the spec is invalid.
 */
const MAX_POS_DIGITS = 16;

/** One byte range, both ends inclusive (RFC 9110 §14.1.1 `first-pos`, `last-pos`). */
export interface ByteRange {
  /** Offset of the first byte. */
  start: number;
  /** Offset of the last byte (inclusive), at most size - 1. */
  end: number;
}

/** Why a `Range` field leads to a plain 200: useful in access logs. */
export type RangeIgnoredReason =
  /** No field, or an empty one. */
  | "absent"
  /** Not a valid `ranges-specifier` (RFC 9110 §14.1.1): ignore it (§14.2). */
  | "invalid"
  /** A range unit other than `bytes` (§14.1: a server ignores units it does not know). */
  | "unit"
  /** More than {@linkcode MAX_RANGES} range-specs (§14.2 permits ignoring such requests). */
  | "too-many"
  /** Zero-length representation with a satisfiable suffix-range: nothing to slice (§14.1.1). */
  | "empty";

/** The decision for one `Range` field against one representation size. */
export type RangeResult =
  /** Serve the whole representation with 200, as if no `Range` had been sent. */
  | { kind: "none"; reason: RangeIgnoredReason }
  /** Answer 416 with `Content-Range: bytes *\/SIZE` ({@linkcode unsatisfiedRange}). */
  | { kind: "unsatisfiable" }
  /**
   * Answer 206: one range → a single part with `Content-Range`; several → multipart/byteranges.
   * Ranges are clamped to the size, sorted by start and coalesced where they overlap or touch,
   * so they are disjoint and their lengths sum to at most the size.
   */
  | { kind: "ranges"; ranges: ByteRange[] };

/** token (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function none(reason: RangeIgnoredReason): RangeResult {
  return { kind: "none", reason };
}

/** Parses `1*DIGIT` exactly; -1 when not digits or not representable exactly. */
function parsePos(s: string): number {
  if (s.length === 0) return -1;
  let first = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    if (c === 48 && first === i) first = i + 1;
  }
  if (s.length - first > MAX_POS_DIGITS) return -1;
  const n = first === s.length ? 0 : Number(s.slice(first));
  return n <= Number.MAX_SAFE_INTEGER ? n : -1;
}

/**
 * Parses a `Range` field value (RFC 9110 §14.1.1, §14.2) against a representation of `size`
 * bytes. Never throws for any field value: a bad one is ignored (`none`), as §14.2 allows.
 *
 * ```
 * ranges-specifier = range-unit "=" range-set        ; unit compared case-insensitively
 * range-set        = 1#range-spec                    ; OWS around commas, empty elements skipped
 * int-range        = first-pos "-" [ last-pos ]      ; last-pos < first-pos → invalid
 * suffix-range     = "-" suffix-length
 * ```
 *
 * Satisfiability (§14.1.1): an int-range is satisfiable when first-pos < size; a suffix-range
 * when suffix-length > 0 and the size is not 0. Unsatisfiable specs are dropped; if none is left
 * the result is `unsatisfiable` (416). On a zero-length representation every int-range is
 * unsatisfiable, and a non-zero suffix-range — the one form §14.1.1 still calls satisfiable —
 * selects zero bytes, which no `Content-Range` can express, so it is served as a plain 200.
 *
 * @param header the field value, or undefined/null when absent.
 * @param size the representation length in bytes, a safe non-negative integer.
 * @throws {TypeError} when `size` is not a safe non-negative integer (a caller bug).
 */
export function parseRange(header: string | undefined | null, size: number): RangeResult {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TypeError(`parseRange: size must be a safe non-negative integer, got ${size}`);
  }
  if (header === undefined || header === null) return none("absent");
  const value = trimOws(header);
  if (value.length === 0) return none("absent");
  const eq = value.indexOf("=");
  if (eq <= 0) return none("invalid");
  // range-unit = token, case-insensitive (RFC 9110 §14.1).
  const unit = value.slice(0, eq);
  if (unit.toLowerCase() !== "bytes") return TOKEN.test(unit) ? none("unit") : none("invalid");

  const satisfiable: ByteRange[] = [];
  let specs = 0;
  let emptySuffix = false;
  for (const element of value.slice(eq + 1).split(",")) {
    const spec = trimOws(element);
    // Empty list elements are allowed and do not count (RFC 9110 §5.6.1.2).
    if (spec.length === 0) continue;
    if (++specs > MAX_RANGES) return none("too-many");
    const dash = spec.indexOf("-");
    if (dash < 0) return none("invalid");
    const firstText = spec.slice(0, dash);
    const lastText = spec.slice(dash + 1);
    if (firstText.length === 0) {
      // suffix-range: the last suffix-length bytes.
      const n = parsePos(lastText);
      if (n < 0) return none("invalid");
      if (n === 0) continue; // `-0` selects nothing: unsatisfiable
      if (size === 0) {
        emptySuffix = true;
        continue;
      }
      satisfiable.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    const first = parsePos(firstText);
    if (first < 0) return none("invalid");
    let last = size - 1;
    if (lastText.length > 0) {
      last = parsePos(lastText);
      if (last < 0 || last < first) return none("invalid");
    }
    if (first >= size) continue; // unsatisfiable, dropped
    satisfiable.push({ start: first, end: Math.min(last, size - 1) });
  }
  if (specs === 0) return none("invalid");
  if (emptySuffix) return none("empty");
  if (satisfiable.length === 0) return { kind: "unsatisfiable" };
  return { kind: "ranges", ranges: coalesce(satisfiable) };
}

/**
 * Sorts by start and merges ranges that overlap or touch (RFC 9110 §14.2 lets a server coalesce
 * them). Sorting departs from §14.2's SHOULD keep request order; every part carries its own
 * Content-Range, which §14.6 obliges clients to read, and sorted disjoint parts keep the file
 * reads sequential and the body no larger than the file.
 */
function coalesce(ranges: ByteRange[]): ByteRange[] {
  if (ranges.length === 1) return ranges;
  ranges.sort((a, b) => a.start - b.start || a.end - b.end);
  const out: ByteRange[] = [{ ...ranges[0] }];
  for (let i = 1; i < ranges.length; i++) {
    const cur = out[out.length - 1];
    const r = ranges[i];
    if (r.start <= cur.end + 1) {
      if (r.end > cur.end) cur.end = r.end;
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/** The number of bytes a range covers. */
export function rangeLength(r: ByteRange): number {
  return r.end - r.start + 1;
}

/**
 * Formats a `Content-Range` value for a 206 part (RFC 9110 §14.4): `bytes START-END/SIZE`.
 *
 * @example
 * ```ts
 * import { contentRange } from "./range.ts";
 * console.log(contentRange(0, 4, 100)); // bytes 0-4/100
 * ```
 */
export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}

/**
 * Formats the `Content-Range` value sent with 416 (RFC 9110 §14.4, §15.5.17): `bytes *\/SIZE`.
 *
 * @example
 * ```ts
 * import { unsatisfiedRange } from "./range.ts";
 * console.log(unsatisfiedRange(100)); // bytes *\/100
 * ```
 */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}

/** A parsed `Content-Range` value (RFC 9110 §14.4). */
export type ParsedContentRange =
  /** `bytes START-END/SIZE`; size is undefined for `/*` (length unknown). */
  | { kind: "range"; start: number; end: number; size: number | undefined }
  /** `bytes *\/SIZE`, sent with 416. */
  | { kind: "unsatisfied"; size: number };

/**
 * Parses a `Content-Range` value of unit `bytes` (RFC 9110 §14.4), for clients and tests.
 * Returns null when the value is malformed, names another unit, or is inconsistent
 * (end < start, or end ≥ a known size: §14.4 calls such a value invalid).
 *
 * @example
 * ```ts
 * import { parseContentRange } from "./range.ts";
 * console.log(parseContentRange("bytes 0-4/100")); // { kind: "range", start: 0, end: 4, size: 100 }
 * ```
 */
export function parseContentRange(value: string): ParsedContentRange | null {
  const m = /^bytes[ ]+(?:(\d+)-(\d+)\/(\d+|\*)|\*\/(\d+))$/i.exec(trimOws(value));
  if (m === null) return null;
  if (m[4] !== undefined) {
    const size = parsePos(m[4]);
    return size < 0 ? null : { kind: "unsatisfied", size };
  }
  const start = parsePos(m[1]);
  const end = parsePos(m[2]);
  const size = m[3] === "*" ? undefined : parsePos(m[3]);
  if (start < 0 || end < start || size === -1) return null;
  if (size !== undefined && end >= size) return null;
  return { kind: "range", start, end, size };
}
