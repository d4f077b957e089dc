/**
 * The resume meta (DIR/NAME.part.meta) as read back from disk: untrusted input, since anyone who
 * can write in DIR can edit it (issue #11 item 9). Every known field is checked against the
 * shape we write; a value that could not be sent safely in a request field (CR, LF, NUL, other
 * controls, or simply not a strong ETag / IMF-fixdate) refuses the whole meta. Unknown fields
 * are ignored, so a newer client's meta stays readable. A `--segments` meta also has
 * `segments`, the state of each byte range (checked the same way: bounded, in order, inside
 * the file).
 *
 * @example
 * ```ts
 * import { parseMeta } from "./meta.ts";
 * const m = parseMeta('{"url":"http://h/a","etag":"\\"v1\\"","lastModified":null,"size":5}');
 * console.log(typeof m === "string" ? m : m.etag); // "v1"
 * ```
 * @module
 */

import type { PartMeta, SegmentState } from "./save.ts";

/** Longest URL remembered (longer ones are not ours). */
export const MAX_META_URL = 8192;
/** Longest ETag accepted from a meta (servers send tens of bytes). */
export const MAX_META_ETAG = 1024;

/** RFC 9110 §8.8.3: a strong entity-tag, `"` etagc* `"`; etagc excludes controls, space, `"`
 * and DEL. */
export const STRONG_ETAG = /^"[\x21\x23-\x7e\x80-\xff]*"$/;
/** RFC 9110 §5.6.7 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
export const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
/** An absolute http(s) URL with no white space or control characters. */
const URL_SHAPE = /^https?:\/\/[\x21-\x7e]+$/;

/** Most segments a meta may list: `--segments` allows 16 (args.ts MAX_SEGMENTS). */
export const MAX_META_SEGMENTS = 16;

/**
 * The `segments` field of a `--segments` meta: 1 to {@linkcode MAX_META_SEGMENTS} objects
 * `{ start, end, next }` of byte offsets (safe integers), in order, not overlapping, each with
 * `start <= next <= end + 1` and `end < size`; only beside a known size and a validator (the
 * only case segments are used). The ranges or a string saying why not.
 */
function parseSegments(
  v: unknown,
  size: number | null,
  validator: boolean,
): SegmentState[] | string {
  const why = "has a segments field that is not a list of byte ranges of the file";
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_META_SEGMENTS) return why;
  if (size === null || !validator) return "has segments without a size and a validator";
  const out: SegmentState[] = [];
  for (const g of v) {
    if (typeof g !== "object" || g === null) return why;
    const { start, end, next } = g as Record<string, unknown>;
    if (![start, end, next].every((n) => Number.isSafeInteger(n) && (n as number) >= 0)) {
      return why;
    }
    const [a, b, n] = [start as number, end as number, next as number];
    const prevEnd = out.length === 0 ? -1 : out[out.length - 1].end;
    if (a <= prevEnd || a > b || b >= size || n < a || n > b + 1) return why;
    out.push({ start: a, end: b, next: n });
  }
  return out;
}

/** Parses the text of a meta file: the meta, or a string saying why it was refused. */
export function parseMeta(text: string): PartMeta | string {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return "is not JSON";
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) return "is not a JSON object";
  const o = m as Record<string, unknown>;
  if (typeof o.url !== "string" || o.url.length > MAX_META_URL || !URL_SHAPE.test(o.url)) {
    return "has no valid url";
  }
  const etag = o.etag ?? null;
  if (
    etag !== null &&
    (typeof etag !== "string" || etag.length > MAX_META_ETAG || !STRONG_ETAG.test(etag))
  ) {
    return "has an etag that is not a strong entity-tag (refused: it would go into If-Range)";
  }
  const lm = o.lastModified ?? null;
  if (lm !== null && (typeof lm !== "string" || !IMF_FIXDATE.test(lm))) {
    return "has a lastModified that is not an HTTP date (refused: it would go into If-Range)";
  }
  const size = o.size ?? null;
  if (size !== null && (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)) {
    return "has a size that is not a byte count";
  }
  const meta: PartMeta = { url: o.url, etag, lastModified: lm, size } as PartMeta;
  if (o.segments !== undefined) {
    const segments = parseSegments(o.segments, size, etag !== null || lm !== null);
    if (typeof segments === "string") return segments;
    meta.segments = segments;
  }
  return meta;
}

/** The validator to send in If-Range: the strong ETag, else the strong Last-Modified, or null
 * when none was remembered. */
export function validatorOf(meta: PartMeta | null): string | null {
  return meta?.etag ?? meta?.lastModified ?? null;
}
