/**
 * Conditional requests (RFC 9110 §13): entity tags, their comparison, and the precondition
 * decision a file server makes before it serves a representation. Pure: no I/O; the clock is
 * read only when the caller gives no `nowMs`.
 *
 * Each precondition is evaluated to a three-way {@linkcode Condition} — `none` (field absent or
 * to be ignored), `true`, `false` — the way Go's net/http fs.go does, so that the §13.2.2 order
 * reads as a flat sequence rather than nested ifs.
 *
 * @example
 * ```ts
 * import { evaluatePreconditions, makeEtag } from "./conditional.ts";
 * const etag = makeEtag({ size: 5, mtimeMs: 1_700_000_000_000, ino: 42 });
 * const headers = new Map([["if-none-match", etag]]);
 * const r = evaluatePreconditions({ method: "GET", headers }, { etag, lastModifiedMs: 1_700_000_000_000 });
 * console.log(etag, r.status); // "5-18bcfe56800" 304
 * ```
 * @module
 */

import { parseHttpDate } from "./response.ts";
import { STATUS } from "./status.ts";
import { trimOws } from "./ows.ts";

/** What an entity tag is made from: a file's version as `stat` reports it. */
export interface EtagSource {
  /** Size in bytes. */
  size: number;
  /** Last modification time in ms since the epoch (the finest the runtime reports: Deno's
   * `FileInfo.mtime` is a `Date`); fractions are dropped. */
  mtimeMs: number;
  /**
   * Inode and device numbers: accepted so that callers can pass what stat gave them, but
   * deliberately NOT part of the tag. Replicas made by `rsync -a` or `cp -p` keep size and
   * mtime but not the inode, and a tag must be the same on every replica so that a download
   * can resume on another one (If-Range) and caches revalidate against any of them; the inode
   * would also disclose file-system details (cf. CVE-2003-1418).
   */
  ino?: number | null;
  dev?: number | null;
}

/**
 * A strong entity tag for a file version (RFC 9110 §8.8.3): `"<size hex>-<mtime ms hex>"`.
 * It changes when the size or the modification time (ms) changes, and is the same across
 * restarts and across replicas that preserve size and mtime (`rsync -a`, `cp -p`).
 * Strong is justified as for nginx and Apache: a rewrite changes the mtime; a same-size rewrite
 * that keeps the mtime to the millisecond (or restores it) is the accepted blind spot.
 *
 * @example
 * ```ts
 * import { makeEtag } from "./conditional.ts";
 * console.log(makeEtag({ size: 255, mtimeMs: 4096, ino: 16 })); // "ff-1000"
 * ```
 */
export function makeEtag(src: EtagSource): string {
  const mtime = Math.max(0, Math.floor(src.mtimeMs));
  return `"${src.size.toString(16)}-${mtime.toString(16)}"`;
}

/** One parsed entity tag (RFC 9110 §8.8.3). */
export interface EntityTag {
  /** Whether it carried the `W/` weakness indicator. */
  weak: boolean;
  /** The opaque-tag, double quotes included, e.g. `"abc"`. */
  opaque: string;
}

/** A parsed `If-Match` / `If-None-Match` value: `*`, or a list of entity tags. */
export type EtagList = "*" | EntityTag[];

/** etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3): visible chars except DQUOTE. */
function isEtagc(c: number): boolean {
  return c === 0x21 || (c >= 0x23 && c <= 0x7e) || (c >= 0x80 && c <= 0xff);
}

/**
 * Scans one entity-tag starting at `i`; returns it and the index after it, or null.
 * entity-tag = [ weak ] opaque-tag; weak = %s"W/" (case-sensitive); opaque-tag = DQUOTE *etagc DQUOTE
 */
function scanEtag(s: string, i: number): [EntityTag, number] | null {
  let weak = false;
  if (s.startsWith("W/", i)) {
    weak = true;
    i += 2;
  }
  if (s[i] !== '"') return null;
  const open = i;
  for (i++; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) return [{ weak, opaque: s.slice(open, i + 1) }, i + 1];
    if (!isEtagc(c)) return null;
  }
  return null;
}

function skipOws(s: string, i: number): number {
  while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  return i;
}

/**
 * Parses one entity-tag (an `ETag` or `If-Range` value). Returns null unless the whole value,
 * surrounding whitespace aside, is exactly one entity-tag.
 *
 * @example
 * ```ts
 * import { parseEtag } from "./conditional.ts";
 * console.log(parseEtag('W/"v1"')); // { weak: true, opaque: '"v1"' }
 * ```
 */
export function parseEtag(value: string): EntityTag | null {
  const r = scanEtag(value, skipOws(value, 0));
  return r !== null && skipOws(value, r[1]) === value.length ? r[0] : null;
}

/**
 * Parses an `If-Match` / `If-None-Match` value: `If-Match = "*" / #entity-tag` (RFC 9110
 * §13.1.1). List elements are split on commas only between tags — a comma is an `etagc`, so
 * `"a,b"` is one tag. Empty list elements are skipped (§5.6.1.2). Returns null when the value
 * is malformed (including `*` mixed with tags); the caller decides what a malformed field means.
 *
 * @example
 * ```ts
 * import { parseEtagList } from "./conditional.ts";
 * console.log(parseEtagList('"a,b", W/"c"'));
 * // [{ weak: false, opaque: '"a,b"' }, { weak: true, opaque: '"c"' }]
 * console.log(parseEtagList(" * ")); // "*"
 * ```
 */
export function parseEtagList(value: string): EtagList | null {
  if (trimOws(value) === "*") return "*";
  const tags: EntityTag[] = [];
  let i = skipOws(value, 0);
  while (i < value.length) {
    if (value[i] === ",") {
      i = skipOws(value, i + 1);
      continue;
    }
    const r = scanEtag(value, i);
    if (r === null) return null;
    tags.push(r[0]);
    i = skipOws(value, r[1]);
    if (i < value.length && value[i] !== ",") return null;
  }
  return tags;
}

/** Strong comparison (RFC 9110 §8.8.3.2): both strong and the opaque-tags identical. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison (RFC 9110 §8.8.3.2): the opaque-tags identical, weakness ignored. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

/** The selected representation's validators, as the server will send them. */
export interface Validators {
  /** The `ETag` value, e.g. from {@linkcode makeEtag}; "" when the resource has none. */
  etag: string;
  /** Last modification in ms since the epoch; NaN when unknown (date conditions ignored). */
  lastModifiedMs: number;
}

/** What {@linkcode evaluatePreconditions} needs of a request. */
export interface ConditionalRequest {
  /** The request method, case-sensitive. */
  method: string;
  /** Header fields by lower-case name (a `Map`, or anything with the same `get`). */
  headers: { get(name: string): string | null | undefined };
}

/** Options for {@linkcode evaluatePreconditions}. */
export interface PreconditionOptions {
  /**
   * The server's current time in ms, against which an `If-Modified-Since` in the future is
   * recognised as invalid and ignored (RFC 9110 §13.1.3).
   * @default {Date.now()}
   */
  nowMs?: number;
}

/** The outcome of §13.2.2 steps 1–4: 200 (proceed, then If-Range/Range), 304 or 412. */
export interface PreconditionResult {
  /** 200 to carry on with the request, 304 Not Modified, 412 Precondition Failed. */
  status: 200 | 304 | 412;
}

/** A precondition's three-way result (as in Go's fs.go): absent/ignored, held, or failed. */
export type Condition = "none" | "true" | "false";

/** Truncates ms to whole seconds: HTTP dates carry no finer resolution (RFC 9110 §5.6.7). */
function toSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** A field value that is present and not blank (a blank one is treated as absent). */
function field(req: ConditionalRequest, name: string): string | undefined {
  const v = req.headers.get(name);
  return v === null || v === undefined || trimOws(v) === "" ? undefined : v;
}

/**
 * RFC 9110 §13.1.1 If-Match: true when `*` (we have a current representation) or any listed
 * tag matches by STRONG comparison. A malformed value can never be shown true, so → false.
 */
function checkIfMatch(req: ConditionalRequest, v: Validators): Condition {
  const value = field(req, "if-match");
  if (value === undefined) return "none";
  const list = parseEtagList(value);
  if (list === null) return "false";
  if (list === "*") return "true";
  const current = parseEtag(v.etag);
  if (current === null) return "false";
  return list.some((t) => strongMatch(t, current)) ? "true" : "false";
}

/**
 * RFC 9110 §13.1.4 If-Unmodified-Since: true when the last modification is at or before the
 * date. Ignored (none) when the value is not a valid HTTP-date or the modification time is
 * unknown. (The caller skips it when If-Match is present, §13.2.2 step 2.)
 */
function checkIfUnmodifiedSince(req: ConditionalRequest, v: Validators): Condition {
  const value = field(req, "if-unmodified-since");
  if (value === undefined || !Number.isFinite(v.lastModifiedMs)) return "none";
  const date = parseHttpDate(value);
  if (Number.isNaN(date)) return "none";
  return toSeconds(v.lastModifiedMs) <= toSeconds(date) ? "true" : "false";
}

/**
 * RFC 9110 §13.1.2 If-None-Match: false when `*` or any listed tag matches by WEAK comparison,
 * true otherwise. A malformed value matches nothing → true (serve the full response), which is
 * the outcome that can never wrongly withhold a body.
 */
function checkIfNoneMatch(req: ConditionalRequest, v: Validators): Condition {
  const value = field(req, "if-none-match");
  if (value === undefined) return "none";
  const list = parseEtagList(value);
  if (list === null) return "true";
  if (list === "*") return "false";
  const current = parseEtag(v.etag);
  if (current === null) return "true";
  return list.some((t) => weakMatch(t, current)) ? "false" : "true";
}

/**
 * RFC 9110 §13.1.3 If-Modified-Since: false (not modified) when the last modification is at or
 * before the date, compared in whole seconds. Ignored unless GET/HEAD, and when the value is
 * not a valid HTTP-date — a list of dates fails to parse, covering "more than one member" — or
 * lies in the future, or the modification time is unknown.
 */
function checkIfModifiedSince(
  req: ConditionalRequest,
  v: Validators,
  nowMs: number,
): Condition {
  if (req.method !== "GET" && req.method !== "HEAD") return "none";
  const value = field(req, "if-modified-since");
  if (value === undefined || !Number.isFinite(v.lastModifiedMs)) return "none";
  const date = parseHttpDate(value);
  if (Number.isNaN(date) || toSeconds(date) > toSeconds(nowMs)) return "none";
  return toSeconds(v.lastModifiedMs) <= toSeconds(date) ? "false" : "true";
}

/**
 * Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since` in the
 * order of RFC 9110 §13.2.2, steps 1–4:
 *
 * 1. If-Match present and false → 412.
 * 2. Else, If-Unmodified-Since (only without If-Match) false → 412.
 * 3. If-None-Match false (a tag matched) → 304 for GET/HEAD, 412 for other methods.
 * 4. Else, If-Modified-Since (GET/HEAD only, only without If-None-Match) false → 304.
 *
 * Otherwise 200: carry on, evaluating If-Range ({@linkcode evaluateIfRange}, step 5) when the
 * request is a GET with Range. Per §13.2.1 the caller runs this only when the response without
 * preconditions would be 2xx (never for a 404), and a 304 carries the validators of the 200.
 *
 * @example
 * ```ts
 * import { evaluatePreconditions } from "./conditional.ts";
 * const headers = new Map([["if-match", '"other"']]);
 * const r = evaluatePreconditions({ method: "GET", headers }, { etag: '"v1"', lastModifiedMs: 0 });
 * console.log(r.status); // 412
 * ```
 */
export function evaluatePreconditions(
  req: ConditionalRequest,
  validators: Validators,
  options: PreconditionOptions = {},
): PreconditionResult {
  const nowMs = options.nowMs ?? Date.now();
  const safe = req.method === "GET" || req.method === "HEAD";

  // Steps 1 and 2: If-Unmodified-Since counts only when If-Match is absent.
  let cond = checkIfMatch(req, validators);
  if (cond === "none") cond = checkIfUnmodifiedSince(req, validators);
  if (cond === "false") return { status: STATUS.PreconditionFailed };

  // Steps 3 and 4: If-Modified-Since counts only when If-None-Match is absent.
  switch (checkIfNoneMatch(req, validators)) {
    case "false":
      return { status: safe ? STATUS.NotModified : STATUS.PreconditionFailed };
    case "none":
      if (checkIfModifiedSince(req, validators, nowMs) === "false") {
        return { status: STATUS.NotModified };
      }
      break;
    case "true":
      break;
  }
  return { status: STATUS.OK };
}

/**
 * If-Range (RFC 9110 §13.1.5, §13.2.2 step 5): whether the `Range` field should be honoured.
 * `If-Range = entity-tag / HTTP-date`.
 *
 * - absent (undefined/null) → true: nothing makes the range conditional;
 * - an entity-tag → true only on STRONG comparison with the current ETag, so a weak tag never
 *   matches;
 * - an HTTP-date → true only when it equals Last-Modified exactly, in whole seconds;
 * - anything else (empty, a list, garbage, an invalid date) → false: ignore the Range and send
 *   the whole representation with 200, which is always correct.
 *
 * The caller evaluates it only for GET with a Range field (§13.1.5: ignore If-Range otherwise).
 *
 * @example
 * ```ts
 * import { evaluateIfRange } from "./conditional.ts";
 * const v = { etag: '"v1"', lastModifiedMs: 784111777000 };
 * console.log(evaluateIfRange('"v1"', v), evaluateIfRange('W/"v1"', v)); // true false
 * console.log(evaluateIfRange("Sun, 06 Nov 1994 08:49:37 GMT", v)); // true
 * ```
 */
export function evaluateIfRange(
  value: string | undefined | null,
  validators: Validators,
): boolean {
  return checkIfRange(value, validators) !== "false";
}

function checkIfRange(value: string | undefined | null, v: Validators): Condition {
  if (value === undefined || value === null) return "none";
  const trimmed = trimOws(value);
  if (trimmed.startsWith('"') || trimmed.startsWith("W/")) {
    const tag = parseEtag(trimmed);
    const current = parseEtag(v.etag);
    return tag !== null && current !== null && strongMatch(tag, current) ? "true" : "false";
  }
  const date = parseHttpDate(trimmed);
  if (Number.isNaN(date) || !Number.isFinite(v.lastModifiedMs)) return "false";
  return toSeconds(date) === toSeconds(v.lastModifiedMs) ? "true" : "false";
}
