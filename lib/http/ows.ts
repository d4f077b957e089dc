/**
 * Optional whitespace (RFC 9110 §5.6.3): OWS is SP and HTAB, nothing else. JavaScript's
 * `String.prototype.trim` also strips NBSP (0xA0, a valid obs-text byte in a field) and other
 * Unicode spaces, so `"chunked\xA0".trim()` would read as `chunked`: a framing disagreement with
 * any stricter peer, the stuff of request smuggling. Field values are trimmed with this instead.
 *
 * @example
 * ```ts
 * import { trimOws } from "./ows.ts";
 * console.log(JSON.stringify(trimOws(" \tchunked\xA0 "))); // "chunked\u00a0"
 * ```
 * @module
 */

/** `s` without leading and trailing SP / HTAB. */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}
