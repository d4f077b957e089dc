/**
 * Escaping for the three places where names and request text leave the server: HTML markup
 * (`escapeHtml`), URL path segments in links (`encodePathSegment`) and terminal / log output
 * (`escapeControl`).
 *
 * @example
 * ```ts
 * import { encodePathSegment, escapeControl, escapeHtml } from "./escape.ts";
 * escapeHtml(`<a href="x">`); // "&lt;a href=&quot;x&quot;&gt;"
 * encodePathSegment("a#b?.txt"); // "a%23b%3F.txt"
 * escapeControl("GET /\x1b[31m"); // "GET /\\x1b[31m"
 * ```
 * @module
 */

const HTML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};
const HTML_SPECIAL = /[&<>"']/g;

/**
 * Escapes `& < > " '` so that `s` is safe as HTML text and inside a quoted attribute value.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./escape.ts";
 * escapeHtml("<img src=x>"); // "&lt;img src=x&gt;"
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replace(HTML_SPECIAL, (c) => HTML_ENTITIES[c]);
}

/**
 * The bytes left as they are in a path segment: RFC 3986 §2.3 unreserved characters plus the
 * sub-delims `! $ ( ) * + , =` and `@`. Deliberately encoded although RFC 3986 allows them in a
 * segment: `:` (a first segment `a:b` of a relative link would read as a scheme), `&` and `'`
 * (they mean something in HTML attributes), `;` (path parameters to some servers).
 */
const SEGMENT_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$()*+,=@";

/** Byte → its text in an encoded segment; built once, so encoding is one lookup per byte. */
const SEGMENT_TABLE: string[] = Array.from({ length: 256 }, (_, b) => {
  const c = String.fromCharCode(b);
  return SEGMENT_SAFE.includes(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
});

const utf8 = new TextEncoder();

/**
 * Percent-encodes one path segment for a link: everything outside the safe set (see above) as
 * `%XX` of its UTF-8 bytes — always `? # % ; \ /`, space, control characters and non-ASCII.
 * A lone surrogate (not valid text) becomes U+FFFD. `decodeURIComponent` gives `s` back.
 *
 * @example
 * ```ts
 * import { encodePathSegment } from "./escape.ts";
 * encodePathSegment("a b%.txt"); // "a%20b%25.txt"
 * encodePathSegment("é"); // "%C3%A9"
 * ```
 */
export function encodePathSegment(s: string): string {
  const bytes = utf8.encode(s);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += SEGMENT_TABLE[bytes[i]];
  return out;
}

/**
 * Characters above U+00FF that change how a terminal line reads without being C0/C1 controls:
 * line/paragraph separators and bidirectional overrides ("Trojan Source", CVE-2021-42574).
 */
function isInvisibleFormat(c: number): boolean {
  return c === 0x2028 || c === 0x2029 || c === 0x200e || c === 0x200f || c === 0x061c ||
    (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/** Whether the code unit at `i` must be escaped; a surrogate only when it is not half of a
 * valid pair. */
function needsEscape(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0x7f && c <= 0x9f)) return true;
  if (c <= 0xff) return false;
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(i + 1); // NaN past the end
    return !(d >= 0xdc00 && d <= 0xdfff);
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const b = s.charCodeAt(i - 1);
    return !(b >= 0xd800 && b <= 0xdbff);
  }
  return isInvisibleFormat(c);
}

function hex2(c: number): string {
  return (c < 0x10 ? "\\x0" : "\\x") + c.toString(16);
}

/**
 * Makes `s` safe to print on a terminal or in a one-line log: C0 controls (including CR, LF,
 * TAB and ESC), DEL and C1 controls (U+0080–U+009F; 0x9B is a CSI on some terminals) become
 * `\xNN`; `\` becomes `\\` and `"` becomes `\"`, so a quoted log field stays unambiguous.
 * Printable Latin-1 (U+00A0–U+00FF, as request bytes decoded as latin1 arrive) stays as is.
 * Bidi overrides, U+2028/2029 and lone surrogates become `\u{NNNN}`; valid pairs stay.
 *
 * @example
 * ```ts
 * import { escapeControl } from "./escape.ts";
 * escapeControl("a\r\nb"); // "a\\x0d\\x0ab"
 * ```
 */
export function escapeControl(s: string): string {
  // Fast path: most log text needs nothing; one scan, no allocation.
  let i = 0;
  while (i < s.length && !needsEscape(s, i)) i++;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    if (!needsEscape(s, i)) {
      out += s[i];
      continue;
    }
    const c = s.charCodeAt(i);
    if (c === 0x5c) out += "\\\\";
    else if (c === 0x22) out += '\\"';
    else if (c <= 0xff) out += hex2(c);
    else out += `\\u{${c.toString(16).padStart(4, "0")}}`;
  }
  return out;
}
