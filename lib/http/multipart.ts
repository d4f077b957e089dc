/**
 * `multipart/byteranges` (RFC 9110 §14.6) for a 206 with several ranges: the server gets every
 * part head prebuilt, streams each part's file bytes between them, then the closing delimiter;
 * the exact Content-Length is known before the first byte is sent. A parser for tests and
 * clients checks such bodies. Pure.
 *
 * Framing (RFC 2046 §5.1.1), with B the boundary — the CRLF before each later delimiter belongs
 * to the delimiter, not to the preceding part's data:
 *
 * ```
 * --B CRLF Content-Type: T CRLF Content-Range: bytes 0-4/100 CRLF CRLF <data>
 * CRLF --B CRLF Content-Type: T CRLF Content-Range: bytes 90-99/100 CRLF CRLF <data>
 * CRLF --B-- CRLF
 * ```
 *
 * @example
 * ```ts
 * import { makeBoundary, multipartByteranges, multipartContentType } from "./multipart.ts";
 * const boundary = makeBoundary();
 * const body = multipartByteranges([{ start: 0, end: 4 }, { start: 90, end: 99 }], 100, "text/plain", boundary);
 * // Content-Type: multipartContentType(boundary); Content-Length: body.contentLength; then for
 * // each part: write part.head, then file bytes [part.start, part.end]; finally body.closing.
 * console.log(multipartContentType(boundary).startsWith("multipart/byteranges; boundary="));
 * ```
 * @module
 */

import { type ByteRange, contentRange, parseContentRange, rangeLength } from "./range.ts";
import { trimOws } from "./ows.ts";

/**
 * Random bytes in a boundary. 16 bytes = 128 bits, as hex 32 characters: the chance that a
 * boundary occurs in the file by accident is negligible, and hex needs no quoting in the
 * Content-Type parameter (RFC 2046 bchars, RFC 9110 §5.6.6 token).
 */
const BOUNDARY_RANDOM_BYTES = 16;
/** Longest boundary RFC 2046 §5.1.1 allows. */
const MAX_BOUNDARY_CHARS = 70;

/** One part of a multipart/byteranges body: its prebuilt head and the file bytes to follow. */
export interface MultipartPart {
  /** Delimiter + part fields + empty line, to write before the part's data. */
  head: Uint8Array<ArrayBuffer>;
  /** First file byte of the part. */
  start: number;
  /** Last file byte of the part (inclusive). */
  end: number;
}

/** A multipart/byteranges body laid out for streaming. */
export interface MultipartBody {
  /** The parts, in the order given. */
  parts: MultipartPart[];
  /** The close delimiter, written after the last part's data. */
  closing: Uint8Array<ArrayBuffer>;
  /** Exact length of the whole body: heads + data + closing. */
  contentLength: number;
}

/**
 * A fresh boundary: `ferry-` + 32 random hex characters (crypto.getRandomValues).
 *
 * @example
 * ```ts
 * import { makeBoundary } from "./multipart.ts";
 * console.log(makeBoundary().length); // 38
 * ```
 */
export function makeBoundary(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(BOUNDARY_RANDOM_BYTES));
  let s = "ferry-";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** The response Content-Type for a multipart/byteranges body (RFC 9110 §14.6). */
export function multipartContentType(boundary: string): string {
  return `multipart/byteranges; boundary=${boundary}`;
}

/** Header text → bytes, one byte per char; refuses what would break the framing. */
function latin1(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new TypeError("multipart: header text is not Latin-1");
    out[i] = c;
  }
  return out;
}

function checkBoundary(boundary: string): void {
  // bchars (RFC 2046 §5.1.1), minus space so the boundary is also a token and never needs quotes.
  if (
    boundary.length === 0 || boundary.length > MAX_BOUNDARY_CHARS ||
    !/^[0-9A-Za-z'()+_,\-./:=?]+$/.test(boundary)
  ) {
    throw new TypeError(`multipart: invalid boundary ${JSON.stringify(boundary)}`);
  }
}

/**
 * Lays out a multipart/byteranges body for `ranges` of a representation of `size` bytes
 * (RFC 9110 §14.6): each part carries Content-Type (omitted when `contentType` is "") and
 * Content-Range. Takes four positional arguments, against our two-plus-options habit, because
 * this is the signature the file server was promised.
 *
 * @param ranges disjoint ranges within the size, e.g. from `parseRange` (sorted, coalesced).
 * @throws {TypeError} on no ranges, a range outside [0, size), an invalid boundary, or a Content-Type with
 * CR, LF or non-Latin-1 characters (caller bugs: these would corrupt the framing).
 */
export function multipartByteranges(
  ranges: readonly ByteRange[],
  size: number,
  contentType: string,
  boundary: string,
): MultipartBody {
  checkBoundary(boundary);
  if (ranges.length === 0) throw new TypeError("multipart: no ranges");
  if (/[\r\n]/.test(contentType)) throw new TypeError("multipart: CR/LF in Content-Type");
  const typeLine = contentType === "" ? "" : `Content-Type: ${contentType}\r\n`;
  const parts: MultipartPart[] = [];
  let contentLength = 0;
  for (let i = 0; i < ranges.length; i++) {
    const { start, end } = ranges[i];
    if (
      !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start ||
      end >= size
    ) {
      throw new TypeError(`multipart: range ${start}-${end} outside a size of ${size}`);
    }
    const head = latin1(
      `${i === 0 ? "" : "\r\n"}--${boundary}\r\n${typeLine}Content-Range: ${
        contentRange(start, end, size)
      }\r\n\r\n`,
    );
    parts.push({ head, start, end });
    contentLength += head.length + rangeLength(ranges[i]);
  }
  const closing = latin1(`\r\n--${boundary}--\r\n`);
  contentLength += closing.length;
  return { parts, closing, contentLength };
}

/** One part read back by {@linkcode parseMultipartByteranges}. */
export interface ParsedPart {
  /** Part fields by lower-case name. */
  headers: Map<string, string>;
  /** From the part's Content-Range. */
  start: number;
  /** From the part's Content-Range (inclusive). */
  end: number;
  /** Complete length from Content-Range; undefined for `/*`. */
  size: number | undefined;
  /** The part's data (a view into the body). */
  data: Uint8Array;
}

function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  for (let i = hay.indexOf(first, from); i !== -1; i = hay.indexOf(first, i + 1)) {
    if (i + needle.length > hay.length) return -1;
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

const decoder = new TextDecoder("latin1");

/**
 * Parses a multipart/byteranges body (RFC 9110 §14.6, RFC 2046 §5.1.1) — for tests and the
 * client. Strict about what a correct sender produces: CRLF line ends, a Content-Range on every
 * part whose length matches the data, a close delimiter. A preamble before the first delimiter
 * and an epilogue after the last are skipped, as RFC 2046 requires.
 *
 * @throws {SyntaxError} describing the first framing error found.
 * @example
 * ```ts
 * import { multipartByteranges, parseMultipartByteranges } from "./multipart.ts";
 * const file = new TextEncoder().encode("0123456789");
 * const b = multipartByteranges([{ start: 0, end: 1 }, { start: 8, end: 9 }], 10, "text/plain", "B");
 * const chunks = b.parts.flatMap((p) => [p.head, file.subarray(p.start, p.end + 1)]);
 * const body = new Uint8Array(await new Blob([...chunks, b.closing]).arrayBuffer());
 * console.log(parseMultipartByteranges(body, "B").map((p) => p.start)); // [0, 8]
 * ```
 */
export function parseMultipartByteranges(body: Uint8Array, boundary: string): ParsedPart[] {
  checkBoundary(boundary);
  const dashBoundary = latin1(`--${boundary}`);
  const delimiter = latin1(`\r\n--${boundary}`);
  const crlfcrlf = latin1("\r\n\r\n");
  // The first delimiter may open the body without a preceding CRLF.
  let pos: number;
  if (indexOfBytes(body.subarray(0, dashBoundary.length), dashBoundary, 0) === 0) {
    pos = dashBoundary.length;
  } else {
    const d = indexOfBytes(body, delimiter, 0);
    if (d < 0) throw new SyntaxError("multipart: no delimiter");
    pos = d + delimiter.length;
  }
  const parts: ParsedPart[] = [];
  for (;;) {
    // After a delimiter: "--" closes; otherwise transport padding (LWSP) then CRLF.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) {
      if (parts.length === 0) throw new SyntaxError("multipart: no parts");
      return parts;
    }
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) {
      throw new SyntaxError(`multipart: expected CRLF after delimiter at byte ${pos}`);
    }
    pos += 2;
    const headEnd = indexOfBytes(body, crlfcrlf, pos - 2);
    if (headEnd < 0) throw new SyntaxError("multipart: unterminated part head");
    const headers = new Map<string, string>();
    const headText = decoder.decode(body.subarray(pos, headEnd));
    for (const line of headText === "" ? [] : headText.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new SyntaxError(`multipart: bad part field ${JSON.stringify(line)}`);
      headers.set(trimOws(line.slice(0, colon)).toLowerCase(), trimOws(line.slice(colon + 1)));
    }
    const dataStart = headEnd + 4;
    const next = indexOfBytes(body, delimiter, dataStart);
    if (next < 0) throw new SyntaxError("multipart: missing close delimiter");
    const cr = parseContentRange(headers.get("content-range") ?? "");
    if (cr === null || cr.kind !== "range") {
      throw new SyntaxError("multipart: part without a valid Content-Range");
    }
    const data = body.subarray(dataStart, next);
    if (data.length !== cr.end - cr.start + 1) {
      throw new SyntaxError(
        `multipart: part ${cr.start}-${cr.end} carries ${data.length} bytes`,
      );
    }
    parts.push({ headers, start: cr.start, end: cr.end, size: cr.size, data });
    pos = next + delimiter.length;
  }
}
