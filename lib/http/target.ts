/**
 * Request target → a normalized, decoded path (RFC 9112 §3.2, RFC 3986 §5.2.4). Pure.
 *
 * What it refuses, each with 400, because every one of them has been a path-traversal CVE in
 * some file server: bad percent escapes, `%00` and other control characters, bytes that are not
 * valid UTF-8 after decoding (overlong `%c0%ae` included), backslashes (a separator on Windows),
 * and dot segments that would climb above the root. Percent-decoding happens exactly once, so
 * `%252e%252e` is the literal name `%2e%2e`, never `..`.
 *
 * @example
 * ```ts
 * import { parseTarget } from "./target.ts";
 * const t = parseTarget("/docs/a%20b.txt?x=1");
 * console.log(t.segments, t.trailingSlash); // ["docs", "a b.txt"] false
 * ```
 * @module
 */

import { HttpError, STATUS } from "./status.ts";

/** A request target reduced to what a file server needs. */
export interface Target {
  /** Decoded path segments, no empty, `.` or `..` segments. */
  segments: string[];
  /** Whether the path ended with `/` (a directory was asked for). */
  trailingSlash: boolean;
  /** The decoded path, `/` + segments joined by `/` (+ `/` when trailingSlash). */
  path: string;
  /** Whether the target was `*` (asterisk-form, OPTIONS only). */
  asterisk: boolean;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function bad(reason: string): HttpError {
  return new HttpError(STATUS.BadRequest, `Bad Request: ${reason}`, { close: false });
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Percent-decodes `s` once into UTF-8 text; throws 400 on a bad escape or invalid UTF-8. */
export function percentDecode(s: string): string {
  if (!s.includes("%")) return s;
  const bytes = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) throw bad("bad percent-encoding");
      bytes[n++] = hi * 16 + lo;
      i += 2;
    } else {
      // A target is ASCII (the request parser refuses anything else); a caller passing other
      // text must not have it truncated to a byte that could be "." or "/".
      if (c > 0x7e) throw bad("non-ASCII character in path");
      bytes[n++] = c;
    }
  }
  try {
    return utf8.decode(bytes.subarray(0, n));
  } catch {
    throw bad("path is not valid UTF-8");
  }
}

function isControl(c: number): boolean {
  return c < 0x20 || c === 0x7f;
}

/**
 * Whether a file name can be asked for by a request that {@linkcode parseTarget} accepts: no
 * control character (TAB, newline, DEL, ...), no backslash, no `/`, not empty, `.` or `..`.
 * A directory listing links (and shows) only such names, so it never offers what GET refuses.
 *
 * @example
 * ```ts
 * import { isRequestableName } from "./target.ts";
 * isRequestableName("a b.txt"); // true
 * isRequestableName("a\\b.txt"); // false
 * ```
 */
export function isRequestableName(name: string): boolean {
  if (name === "" || name === "." || name === "..") return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (isControl(c) || c === 92 /* "\" */ || c === 47 /* "/" */) return false;
  }
  return true;
}

/**
 * Parses an origin-form (`/a/b?q`) or absolute-form (`http://h/a/b`) target, or `*`.
 * @throws {HttpError} 400 for anything it refuses (see the module doc).
 */
export function parseTarget(target: string): Target {
  if (target === "*") return { segments: [], trailingSlash: false, path: "*", asterisk: true };
  let raw = target;
  if (raw.charCodeAt(0) !== 47 /* "/" */) {
    // absolute-form (RFC 9112 §3.2.2): scheme "://" authority path-abempty [ "?" query ]
    const m = /^https?:\/\/[^/?#]*/i.exec(raw);
    if (m === null) throw bad("unsupported request target form");
    raw = raw.slice(m[0].length);
    if (raw === "" || raw[0] === "?") raw = "/" + raw;
    if (raw[0] !== "/") throw bad("unsupported request target form");
  }
  // The query and a (never legitimately sent) fragment play no part in choosing a file.
  const q = raw.search(/[?#]/);
  if (q !== -1) raw = raw.slice(0, q);

  const decoded = percentDecode(raw);
  for (let i = 0; i < decoded.length; i++) {
    const c = decoded.charCodeAt(i);
    if (isControl(c)) throw bad("control character in path");
    if (c === 92 /* "\" */) throw bad("backslash in path");
  }
  const segments: string[] = [];
  const parts = decoded.split("/");
  for (const part of parts) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (segments.length === 0) throw bad("path climbs above the root");
      segments.pop();
      continue;
    }
    segments.push(part);
  }
  const last = parts[parts.length - 1];
  const trailingSlash = segments.length > 0 && (last === "" || last === "." || last === "..");
  const path = "/" + segments.join("/") + (trailingSlash ? "/" : "");
  return { segments, trailingSlash, path, asterisk: false };
}
