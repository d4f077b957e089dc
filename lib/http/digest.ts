/**
 * Integrity fields (RFC 9530): format `Repr-Digest`, parse `Repr-Digest` / `Content-Digest`,
 * and read a client's `Want-Repr-Digest` preferences. Both fields are Structured Field
 * Dictionaries (RFC 8941 §3.2); a small dictionary parser lives here. Pure.
 *
 * @example
 * ```ts
 * import { formatReprDigest, parseDigestField, wantsSha256 } from "./digest.ts";
 * const sha = new Uint8Array(32); // from createHash("sha256").digest() on the server side
 * const value = formatReprDigest(sha); // "sha-256=:AAAA…AAA=:"
 * console.log(parseDigestField(value).get("sha-256")?.length); // 32
 * console.log(wantsSha256("sha-256=10, sha-512=3")); // true
 * ```
 * @module
 */
import { trimOws } from "./ows.ts";

/** The algorithm key Ferry produces (RFC 9530 §5, IANA Hash Algorithms registry). */
export const SHA_256 = "sha-256";
/** Length of a SHA-256 digest in bytes. */
const SHA_256_BYTES = 32;

/**
 * Formats a `Repr-Digest` (or `Content-Digest`) value for a SHA-256 digest (RFC 9530 §3):
 * a dictionary member whose value is a byte sequence, `sha-256=:<base64>:`.
 *
 * @throws {RangeError} when `sha256` is not 32 bytes (a caller bug).
 * @example
 * ```ts
 * import { formatReprDigest } from "./digest.ts";
 * // sha-256("hello world")
 * const hex = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
 * const bytes = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
 * console.log(formatReprDigest(bytes));
 * // sha-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=:
 * ```
 */
export function formatReprDigest(sha256: Uint8Array): string {
  if (sha256.length !== SHA_256_BYTES) {
    throw new RangeError(`formatReprDigest: expected 32 bytes, got ${sha256.length}`);
  }
  return `${SHA_256}=:${toBase64(sha256)}:`;
}

/**
 * Parses a `Repr-Digest` or `Content-Digest` value (RFC 9530 §2, §3) into algorithm → digest
 * bytes. Lenient where it costs nothing: whitespace around members and `=` padding, and keys
 * in upper case are lower-cased (`SHA-256` → `sha-256`). Unknown algorithms are kept by name,
 * so the caller decides which it can verify. Members whose value is not a byte sequence are
 * skipped; a later duplicate replaces an earlier one (RFC 8941 §4.2.2). A value that is not a
 * dictionary at all yields an empty map, since RFC 8941 §4.2 says to ignore the whole field.
 *
 * @example
 * ```ts
 * import { parseDigestField } from "./digest.ts";
 * const m = parseDigestField("sha-512=:AAAA:, sha-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=:");
 * console.log([...m.keys()]); // ["sha-512", "sha-256"]
 * ```
 */
export function parseDigestField(value: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const dict = parseDictionary(value);
  if (dict === null) return out;
  for (const [key, item] of dict) {
    if (item instanceof Uint8Array) out.set(key, item);
    else out.delete(key);
  }
  return out;
}

/** Lowest and highest `Want-*-Digest` preference (RFC 9530 §4): 0 = not acceptable. */
const MIN_PREFERENCE = 0;
const MAX_PREFERENCE = 10;

/**
 * Parses `Want-Repr-Digest` / `Want-Content-Digest` (RFC 9530 §4) into algorithm → preference,
 * an integer from 1 (least preferred) to 10 (most), 0 meaning "not acceptable". Members whose
 * value is not an integer in 0..10 are skipped; a malformed field yields an empty map.
 *
 * @example
 * ```ts
 * import { parseWantDigest } from "./digest.ts";
 * console.log(parseWantDigest("sha-256=10, sha-512=3")); // Map { "sha-256" => 10, "sha-512" => 3 }
 * ```
 */
export function parseWantDigest(value: string): Map<string, number> {
  const out = new Map<string, number>();
  const dict = parseDictionary(value);
  if (dict === null) return out;
  for (const [key, item] of dict) {
    if (
      typeof item === "number" && Number.isInteger(item) && item >= MIN_PREFERENCE &&
      item <= MAX_PREFERENCE
    ) {
      out.set(key, item);
    } else {
      out.delete(key);
    }
  }
  return out;
}

/**
 * Whether a `Want-Repr-Digest` value asks for SHA-256 (RFC 9530 §4): sha-256 is listed with a
 * preference above 0. Absent or empty → false. Since SHA-256 is the only algorithm Ferry
 * produces, the relative order of the other algorithms does not matter.
 *
 * @example
 * ```ts
 * import { wantsSha256 } from "./digest.ts";
 * console.log(wantsSha256("sha-256=1"), wantsSha256("sha-256=0, sha-512=5")); // true false
 * ```
 */
export function wantsSha256(value: string | undefined | null): boolean {
  if (value === undefined || value === null) return false;
  return (parseWantDigest(value).get(SHA_256) ?? 0) > 0;
}

// ---------------------------------------------------------------------------------------------
// Base64 without I/O or imports: btoa/atob work on "binary strings".

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

/** Decodes standard base64, padding optional (RFC 8941 §4.2.7); null when not base64. */
function fromBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const bare = text.replace(/=+$/, "");
  if (bare.length % 4 === 1) return null;
  const s = atob(bare + "=".repeat((4 - (bare.length % 4)) % 4));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A Structured Field Dictionary parser (RFC 8941 §4.2.2), reduced to what the digest fields
// need: bare items are kept (integers as numbers, decimals boxed, byte sequences as bytes, strings
// and tokens as strings, booleans as booleans); parameters are parsed and dropped; inner lists
// are parsed and kept as a marker. Keys are lower-cased before checking (the leniency above).

/** An inner list, kept only so that a member with one is not mistaken for a byte sequence. */
const INNER_LIST: unique symbol = Symbol("inner-list");
type BareItem = number | { decimal: number } | string | boolean | Uint8Array | typeof INNER_LIST;

/** Parser state: the input and a cursor. */
interface Cursor {
  s: string;
  i: number;
}

function skipSp(c: Cursor): void {
  while (c.i < c.s.length && c.s[c.i] === " ") c.i++;
}

function skipOws(c: Cursor): void {
  while (c.i < c.s.length && (c.s[c.i] === " " || c.s[c.i] === "\t")) c.i++;
}

/** key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
function parseKey(c: Cursor): string | null {
  const m = /^[a-z*][a-z0-9_\-.*]*/.exec(c.s.slice(c.i, c.i + 256).toLowerCase());
  if (m === null) return null;
  c.i += m[0].length;
  return m[0];
}

function parseBareItem(c: Cursor): BareItem | null {
  const ch = c.s[c.i];
  if (ch === ":") {
    const end = c.s.indexOf(":", c.i + 1);
    if (end < 0) return null;
    const bytes = fromBase64(c.s.slice(c.i + 1, end));
    c.i = end + 1;
    return bytes;
  }
  if (ch === "?") {
    const b = c.s[c.i + 1];
    if (b !== "0" && b !== "1") return null;
    c.i += 2;
    return b === "1";
  }
  if (ch === '"') {
    let out = "";
    for (c.i++; c.i < c.s.length; c.i++) {
      const x = c.s[c.i];
      if (x === "\\") {
        const n = c.s[++c.i];
        if (n !== '"' && n !== "\\") return null;
        out += n;
      } else if (x === '"') {
        c.i++;
        return out;
      } else if (x < " " || x > "~") {
        return null;
      } else {
        out += x;
      }
    }
    return null;
  }
  const num = /^-?\d{1,15}(?:\.\d{1,3})?/.exec(c.s.slice(c.i, c.i + 20));
  if (num !== null) {
    const after = c.s[c.i + num[0].length];
    if (after !== undefined && /[0-9.]/.test(after)) return null; // too many digits
    c.i += num[0].length;
    // A Decimal is not an Integer (RFC 8941 §3.3.1, §3.3.2): `5.0` is no preference.
    return num[0].includes(".") ? { decimal: Number(num[0]) } : Number(num[0]);
  }
  const tok = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.exec(c.s.slice(c.i));
  if (tok !== null) {
    c.i += tok[0].length;
    return tok[0];
  }
  return null;
}

/** parameters = *( ";" *SP key [ "=" bare-item ] ), parsed only to be skipped. */
function skipParameters(c: Cursor): boolean {
  while (c.s[c.i] === ";") {
    c.i++;
    skipSp(c);
    if (parseKey(c) === null) return false;
    if (c.s[c.i] === "=") {
      c.i++;
      if (parseBareItem(c) === null) return false;
    }
  }
  return true;
}

function parseInnerList(c: Cursor): boolean {
  c.i++; // "("
  for (;;) {
    skipSp(c);
    if (c.s[c.i] === ")") {
      c.i++;
      return skipParameters(c);
    }
    if (parseBareItem(c) === null || !skipParameters(c)) return false;
    if (c.s[c.i] !== " " && c.s[c.i] !== ")") return false;
  }
}

/** Parses a whole dictionary; null when the value is not one (then the field is ignored). */
function parseDictionary(value: string): Map<string, BareItem> | null {
  const c: Cursor = { s: trimOws(value), i: 0 };
  const out = new Map<string, BareItem>();
  if (c.s.length === 0) return out;
  for (;;) {
    const key = parseKey(c);
    if (key === null) return null;
    let item: BareItem = true;
    if (c.s[c.i] === "=") {
      c.i++;
      if (c.s[c.i] === "(") {
        if (!parseInnerList(c)) return null;
        item = INNER_LIST;
      } else {
        const bare = parseBareItem(c);
        if (bare === null || !skipParameters(c)) return null;
        item = bare;
      }
    } else if (!skipParameters(c)) {
      return null;
    }
    out.delete(key); // a duplicate takes the later position as well as the later value
    out.set(key, item);
    skipOws(c);
    if (c.i >= c.s.length) return out;
    if (c.s[c.i] !== ",") return null;
    c.i++;
    skipOws(c);
    if (c.i >= c.s.length) return null; // trailing comma
  }
}
