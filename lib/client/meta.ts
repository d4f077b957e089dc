/**
 * The resume meta (DIR/NAME.part.meta) as read back from disk: untrusted input, since anyone who
 * can write in DIR can edit it (issue #11 item 9). Every known field is checked against the
 * shape we write; a value that could not be sent safely in a request field (CR, LF, NUL, other
 * controls, or simply not a strong ETag / IMF-fixdate) refuses the whole meta. Unknown fields
 * are ignored, so a newer client's meta stays readable.
 *
 * @example
 * ```ts
 * import { parseMeta } from "./meta.ts";
 * const m = parseMeta('{"url":"http://h/a","etag":"\\"v1\\"","lastModified":null,"size":5}');
 * console.log(typeof m === "string" ? m : m.etag); // "v1"
 * ```
 * @module
 */

import type { PartMeta } from "./save.ts";

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
  return { url: o.url, etag, lastModified: lm, size } as PartMeta;
}

/** The validator to send in If-Range: the strong ETag, else the strong Last-Modified, or null
 * when none was remembered. */
export function validatorOf(meta: PartMeta | null): string | null {
  return meta?.etag ?? meta?.lastModified ?? null;
}
