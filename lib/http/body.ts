/**
 * Response body framing (RFC 9112 §6.3) and readers for the three kinds of body a client meets:
 * Content-Length, chunked (§7.1) and close-delimited. The readers pull from any
 * {@linkcode BodySource} — in practice `ConnReader` from `lib/net/head_reader.ts`, matched by
 * shape so that this layer imports nothing of ours — and never buffer more than the caller's
 * array plus one chunk-size or trailer line, so memory stays bounded whatever the peer sends.
 *
 * @example
 * ```ts ignore
 * import { BodyReader, responseFraming } from "./body.ts";
 * const framing = responseFraming({ method: "GET", ...head }); // head from parseResponseHead
 * const body = new BodyReader(reader, framing);
 * const buf = new Uint8Array(4 << 20);
 * for (let n; (n = await body.read(buf)) !== null;) sink(buf.subarray(0, n));
 * ```
 * @module
 */
import { trimOws } from "./ows.ts";

/** Longest chunk-size line (size + extensions) accepted. Real extensions are a few dozen bytes;
 * the bound keeps a peer from making us buffer an endless line. */
export const MAX_CHUNK_LINE_BYTES = 4 * 1024;
/** Largest chunk size accepted: 2^52 − 1 bytes (4 PiB) is more than any real chunk and stays
 * exact in a JS number (2^53); a longer hex string is an attack or garbage, not a chunk. */
export const MAX_CHUNK_SIZE = 2 ** 52 - 1;
/** Largest trailer section accepted, in bytes, all lines together (same reason as a head). */
export const MAX_TRAILER_BYTES = 16 * 1024;
/** Most trailer fields accepted. */
export const MAX_TRAILER_FIELDS = 100;

/** Where body bytes come from: `ConnReader` satisfies this. */
export interface BodySource {
  /** Reads up to `p.length` bytes into `p`; null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Reads one line without its CRLF/LF, at most `maxBytes`; null at EOF before any byte.
   * Throws RangeError past `maxBytes`, and an error named "UnexpectedEofError" on EOF mid-line. */
  readLine(maxBytes: number): Promise<string | null>;
}

/** How a response body is delimited (RFC 9112 §6.3). */
export type Framing =
  /** No body at all: HEAD, 1xx, 204, 304 (§6.3 item 1). */
  | { kind: "none" }
  /** Exactly `length` bytes (§6.3 item 5). */
  | { kind: "length"; length: number }
  /** Chunked transfer coding (§6.3 item 4, §7.1). */
  | { kind: "chunked" }
  /** Everything until the server closes the connection (§6.3 item 8). */
  | { kind: "close" };

/** Why a body could not be read. `framing`: the peer broke the rules (bad length, bad chunk);
 * `truncated`: the connection ended before the body did. Both map to the protocol-error exit. */
export class BodyError extends Error {
  /** What went wrong. */
  readonly kind: "framing" | "truncated";
  /** Body bytes delivered before the failure. */
  readonly received: number;
  /** Bytes announced (Content-Length), when known. */
  readonly expected: number | null;

  constructor(
    kind: "framing" | "truncated",
    message: string,
    counts: { received?: number; expected?: number | null } = {},
  ) {
    super(message);
    this.name = "BodyError";
    this.kind = kind;
    this.received = counts.received ?? 0;
    this.expected = counts.expected ?? null;
  }
}

/**
 * Parses a Content-Length value (RFC 9110 §8.6: `1*DIGIT`). A list of identical values, as left
 * by repeated fields or a proxy (`42, 42`), is accepted as one value, as §8.6 allows; differing,
 * negative, non-decimal or unsafe-integer values throw.
 *
 * @throws {BodyError} kind "framing".
 * @example
 * ```ts
 * import { parseContentLength } from "./body.ts";
 * console.log(parseContentLength("42, 42")); // 42
 * ```
 */
export function parseContentLength(value: string): number {
  const parts = value.split(",").map((p) => trimOws(p));
  let length = -1;
  for (const p of parts) {
    if (!/^\d+$/.test(p)) {
      throw new BodyError(
        "framing",
        `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`,
      );
    }
    const n = Number(p);
    if (!Number.isSafeInteger(n)) {
      throw new BodyError("framing", `Content-Length ${p.slice(0, 40)} is too large`);
    }
    if (length !== -1 && n !== length) {
      throw new BodyError(
        "framing",
        `conflicting Content-Length values ${JSON.stringify(value.slice(0, 40))}`,
      );
    }
    length = n;
  }
  return length;
}

/** What {@linkcode responseFraming} needs to know of a response and its request. */
export interface FramingInput {
  /** The request method ("GET", "HEAD"). */
  method: string;
  /** The response status code. */
  status: number;
  /** "HTTP/1.0" or "HTTP/1.1". */
  version: string;
  /** Response fields by lower-case name, repeated fields joined by ", ". */
  headers: ReadonlyMap<string, string>;
}

/**
 * Decides how the body of a response is delimited, in the order of RFC 9112 §6.3.
 *
 * @throws {BodyError} kind "framing" for framing a recipient must treat as faulty.
 * @example
 * ```ts
 * import { responseFraming } from "./body.ts";
 * const headers = new Map([["transfer-encoding", "chunked"], ["content-length", "5"]]);
 * console.log(responseFraming({ method: "GET", status: 200, version: "HTTP/1.1", headers }));
 * // { kind: "chunked" }  — Transfer-Encoding overrides Content-Length (§6.3 item 3)
 * ```
 */
export function responseFraming(r: FramingInput): Framing {
  // §6.3 item 1: responses to HEAD, and 1xx, 204 and 304 responses, end with the head.
  if (r.method === "HEAD" || (r.status >= 100 && r.status < 200) || r.status === 204) {
    return { kind: "none" };
  }
  if (r.status === 304) return { kind: "none" };
  const te = r.headers.get("transfer-encoding");
  if (te !== undefined) {
    // §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (r.version === "HTTP/1.0") {
      throw new BodyError("framing", "Transfer-Encoding in an HTTP/1.0 response");
    }
    const codings = te.split(",").map((c) => trimOws(c).toLowerCase()).filter((c) => c !== "");
    // We asked for nothing but identity; a coding we cannot undo would corrupt the file.
    const unknown = codings.find((c) => c !== "chunked" && c !== "identity");
    if (unknown !== undefined) {
      throw new BodyError("framing", `unsupported transfer coding "${unknown.slice(0, 40)}"`);
    }
    // §6.3 item 4: Transfer-Encoding overrides Content-Length; chunked last → chunked, else the
    // body of a response runs until the connection closes.
    if (codings.indexOf("chunked") !== codings.lastIndexOf("chunked")) {
      throw new BodyError("framing", "chunked applied more than once");
    }
    return codings[codings.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" };
  }
  const cl = r.headers.get("content-length");
  // §6.3 item 5: an invalid Content-Length makes the framing invalid (parseContentLength throws).
  if (cl !== undefined) return { kind: "length", length: parseContentLength(cl) };
  // §6.3 item 8: otherwise the body is everything until close.
  return { kind: "close" };
}

/**
 * Reads one response body according to its {@linkcode Framing}. `read` fills the caller's
 * array (no copy of its own on the Content-Length and close paths) and returns null when the
 * body is complete; a body that ends early or breaks the chunked grammar throws
 * {@linkcode BodyError}.
 */
export class BodyReader {
  #src: BodySource;
  #framing: Framing;
  /** Content-Length: bytes still to come. Chunked: bytes left in the current chunk. */
  #remaining: number;
  /** Chunked: a chunk's data has been read and its CRLF not yet. */
  #needCrlf = false;
  #done: boolean;
  /** Body bytes delivered so far (after chunked decoding). */
  received = 0;
  /** Trailer fields of a chunked body (RFC 9112 §7.1.2), in wire order, names as sent. */
  readonly trailers: Array<[string, string]> = [];

  constructor(src: BodySource, framing: Framing) {
    this.#src = src;
    this.#framing = framing;
    this.#remaining = framing.kind === "length" ? framing.length : 0;
    this.#done = framing.kind === "none" || (framing.kind === "length" && framing.length === 0);
  }

  /** Whether the whole body has been read. */
  get done(): boolean {
    return this.#done;
  }

  /** Reads body bytes into `p`; returns the count, or null once the body is complete. */
  async read(p: Uint8Array): Promise<number | null> {
    if (this.#done) return null;
    switch (this.#framing.kind) {
      case "length":
        return await this.#readLength(p, this.#framing.length);
      case "chunked":
        return await this.#readChunked(p);
      default:
        return await this.#readClose(p);
    }
  }

  async #readLength(p: Uint8Array, total: number): Promise<number | null> {
    const want = Math.min(p.length, this.#remaining);
    const n = await this.#src.read(want === p.length ? p : p.subarray(0, want));
    if (n === null) {
      // §8 (RFC 9112): a message that ends before Content-Length octets is incomplete.
      throw new BodyError("truncated", `received ${this.received} of ${total} bytes`, {
        received: this.received,
        expected: total,
      });
    }
    this.#remaining -= n;
    this.received += n;
    if (this.#remaining === 0) this.#done = true;
    return n;
  }

  async #readClose(p: Uint8Array): Promise<number | null> {
    const n = await this.#src.read(p);
    if (n === null) {
      this.#done = true;
      return null;
    }
    this.received += n;
    return n;
  }

  async #readChunked(p: Uint8Array): Promise<number | null> {
    if (this.#remaining === 0) {
      if (this.#needCrlf) {
        // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF (RFC 9112 §7.1)
        const end = await this.#line("the end of a chunk");
        if (end !== "") throw this.#framingError("chunk data longer than its chunk size");
        this.#needCrlf = false;
      }
      const size = parseChunkSize(await this.#line("a chunk size"), this.received);
      if (size === 0) {
        await this.#readTrailers();
        this.#done = true;
        return null;
      }
      this.#remaining = size;
    }
    const want = Math.min(p.length, this.#remaining);
    const n = await this.#src.read(want === p.length ? p : p.subarray(0, want));
    if (n === null) {
      throw new BodyError(
        "truncated",
        `received ${this.received} bytes, then the connection closed in the middle of a chunk`,
        { received: this.received },
      );
    }
    this.#remaining -= n;
    this.received += n;
    if (this.#remaining === 0) this.#needCrlf = true;
    return n;
  }

  /** Trailer section: field lines up to an empty line (RFC 9112 §7.1.2), bounded in size. */
  async #readTrailers(): Promise<void> {
    let bytes = 0;
    for (;;) {
      const line = await this.#line("the trailer section", MAX_TRAILER_BYTES - bytes);
      if (line === "") return;
      bytes += line.length + 2;
      if (bytes > MAX_TRAILER_BYTES || this.trailers.length >= MAX_TRAILER_FIELDS) {
        throw this.#framingError(`trailer section larger than ${MAX_TRAILER_BYTES} bytes`);
      }
      const colon = line.indexOf(":");
      if (colon <= 0 || /\s/.test(line.slice(0, colon))) {
        throw this.#framingError(`malformed trailer field ${JSON.stringify(line.slice(0, 40))}`);
      }
      this.trailers.push([line.slice(0, colon), trimOws(line.slice(colon + 1))]);
    }
  }

  /** One line of chunked framing; EOF and over-long lines become {@linkcode BodyError}s. */
  async #line(what: string, max = MAX_CHUNK_LINE_BYTES): Promise<string> {
    let line: string | null;
    try {
      line = await this.#src.readLine(Math.max(0, max));
    } catch (e) {
      if (e instanceof RangeError) throw this.#framingError(`line too long in ${what}`);
      if (e instanceof Error && e.name === "UnexpectedEofError") line = null;
      else throw e;
    }
    if (line === null) {
      throw new BodyError(
        "truncated",
        `received ${this.received} bytes, then the connection closed before ${what}`,
        { received: this.received },
      );
    }
    return line;
  }

  #framingError(message: string): BodyError {
    return new BodyError("framing", `bad chunked body: ${message}`, { received: this.received });
  }
}

/**
 * Parses a chunk-size line: `chunk-size [ chunk-ext ]` (RFC 9112 §7.1, §7.1.1). Extensions are
 * checked for control characters and otherwise ignored, as §7.1.1 lets a recipient do.
 * @throws {BodyError} on a malformed or absurd size.
 */
export function parseChunkSize(line: string, received = 0): number {
  // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
  // deno-lint-ignore no-control-regex
  const m = /^([0-9A-Fa-f]+)[ \t]*(?:;[^\x00-\x08\x0a-\x1f\x7f]*)?$/.exec(line);
  const fail = (why: string) =>
    new BodyError("framing", `bad chunked body: ${why} ${JSON.stringify(line.slice(0, 40))}`, {
      received,
    });
  if (m === null) throw fail("malformed chunk size");
  const hex = m[1].replace(/^0+(?=.)/, "");
  // 13 hex digits hold MAX_CHUNK_SIZE; more would lose precision before the comparison.
  if (hex.length > 13 || parseInt(hex, 16) > MAX_CHUNK_SIZE) throw fail("absurd chunk size");
  return parseInt(hex, 16);
}
