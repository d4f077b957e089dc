/**
 * Buffered reading from a connection: one message head at a time within byte limits, then the
 * bytes after it (a body, or the next pipelined request). Shared by server and client.
 *
 * Deadlines: the server closes a connection from outside (one sweeper for all connections, no
 * timer per read); the client passes `readTimeoutMs`, and a read that takes longer closes the
 * connection and throws {@linkcode ReadTimeoutError}.
 *
 * @example
 * ```ts ignore
 * import { ConnReader } from "./head_reader.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8080 });
 * await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
 * const head = await new ConnReader(conn).readHead({ maxHeadBytes: 65536 });
 * ```
 * @module
 */

import { findHeadEnd } from "../http/request.ts";
import { HttpError, STATUS } from "../http/status.ts";

/** First buffer size of a reader; grows by doubling up to the head limit. Small, so that idle
 * keep-alive connections cost little memory. */
export const INITIAL_BUFFER_BYTES = 512;
/** Head buffers kept for reuse by readers with `recycle` (see {@linkcode ConnReader}): bounds
 * what the pool itself holds (256 × 32 KiB = 8 MiB with the server's limits). */
const HEAD_POOL_MAX = 256;
/** Full-size head buffers given back at an idle wait, by size. */
const headPool = new Map<number, Uint8Array[]>();

/** Limits for one head. */
export interface HeadLimits {
  /** Largest head accepted, terminator included. */
  maxHeadBytes: number;
  /** Longest first line accepted (request line) — exceeding it gives 414 instead of 431.
   * @default maxHeadBytes */
  maxFirstLineBytes?: number;
}

/** A read that did not complete within `readTimeoutMs`. */
export class ReadTimeoutError extends Error {
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
    this.name = "ReadTimeoutError";
  }
}

/** The peer closed the connection in the middle of a head. */
export class UnexpectedEofError extends Error {
  constructor(message = "connection closed in the middle of a message head") {
    super(message);
    this.name = "UnexpectedEofError";
  }
}

/** What a reader reads from: a `Deno.Conn`, or anything with the same two methods. */
export interface Source {
  read(p: Uint8Array): Promise<number | null>;
  close(): void;
}

/** Reads heads and raw bytes from a connection through one growable buffer. */
export class ConnReader {
  /** Buffered bytes live in `buf[start, end)`. */
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #conn: Source;
  #readTimeoutMs: number;
  #initialBytes: number;
  #recycle: boolean;
  /** Total bytes read from the connection (for statistics). */
  bytesRead = 0;

  /**
   * With `recycle` (the server), a head that outgrows the initial buffer gets a full-size one
   * from a pool, and {@linkcode readRaw} gives it back and reads into a small one again: one large head then costs a connection
   * nothing once it is idle again, and no garbage is left for a collector whose freed memory the
   * allocator would keep anyway. Only for callers that hold no view of the buffer across
   * `readRaw`.
   */
  constructor(
    conn: Source,
    options: { readTimeoutMs?: number; initialBytes?: number; recycle?: boolean } = {},
  ) {
    this.#conn = conn;
    this.#readTimeoutMs = options.readTimeoutMs ?? 0;
    this.#initialBytes = options.initialBytes ?? INITIAL_BUFFER_BYTES;
    this.#recycle = options.recycle ?? false;
    this.#buf = new Uint8Array(this.#initialBytes);
  }

  /** How many bytes are buffered and not yet consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Reads once from the connection into `p`, honouring the read timeout. */
  #readConn(p: Uint8Array): Promise<number | null> {
    // No wrapper frame without a timeout: an idle server connection waits right here, and
    // every frame it waits in costs memory (measured: ~10,000 idle connections).
    if (this.#readTimeoutMs <= 0) return this.#conn.read(p);
    return this.#readTimed(p);
  }

  async #readTimed(p: Uint8Array): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    try {
      return await Promise.race([
        this.#conn.read(p),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            timedOut = true;
            try {
              this.#conn.close();
            } catch { /* already closed */ }
            reject(new ReadTimeoutError(this.#readTimeoutMs));
          }, this.#readTimeoutMs);
        }),
      ]);
    } catch (e) {
      if (timedOut) throw new ReadTimeoutError(this.#readTimeoutMs);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * When nothing is buffered, reads once into the buffer and resolves to the count (null at
   * end of stream); resolves to the count buffered at once otherwise. An idle keep-alive
   * connection waits here, in no async frame of its own: that frame would cost memory on each
   * of thousands of idle connections.
   */
  fill(): Promise<number | null> {
    if (this.#end > this.#start) return Promise.resolve(this.#end - this.#start);
    return this.readRaw().then((n) => this.filled(n));
  }

  /**
   * {@linkcode fill} in two halves for the server's hot path, without the promise and closure
   * `fill` adds: when nothing is buffered, `readRaw` starts one read into the (emptied) buffer
   * and returns its promise; its result must then go to {@linkcode filled} before anything
   * else touches the reader.
   */
  readRaw(): Promise<number | null> {
    this.#start = this.#end = 0;
    // A large head grew the buffer (up to 32 KiB); nothing is buffered now, so an idle
    // connection goes back to waiting in a small one (48.8 → 10.9 KiB per idle connection).
    if (this.#recycle && this.#buf.length > this.#initialBytes) {
      const spare = headPool.get(this.#buf.length);
      if (spare !== undefined && spare.length < HEAD_POOL_MAX) spare.push(this.#buf);
      this.#buf = new Uint8Array(this.#initialBytes);
    }
    return this.#readConn(this.#buf);
  }

  /** Records the result of {@linkcode readRaw}'s read and returns it. */
  filled(n: number | null): number | null {
    if (n !== null) {
      this.#end = n;
      this.bytesRead += n;
    }
    return n;
  }

  /**
   * The whole head if it is already buffered and within `maxHeadBytes` (leading empty lines
   * skipped), else null: then {@linkcode readHead} reads the rest and applies every limit. The
   * common case — a head that arrived in one packet — costs no promise.
   */
  takeHead(maxHeadBytes: number): Uint8Array | null {
    return this.takeHeadSpan(maxHeadBytes)
      ? this.#buf.subarray(this.spanStart, this.spanEnd)
      : null;
  }

  /** Where the head taken by the last successful {@linkcode takeHeadSpan} lies in
   * {@linkcode buffer}: `[spanStart, spanEnd)`. */
  spanStart = 0;
  spanEnd = 0;

  /** The reader's buffer, for {@linkcode takeHeadSpan}'s span: valid until the next call. */
  get buffer(): Uint8Array {
    return this.#buf;
  }

  /** {@linkcode takeHead} without the view: true when a whole head was buffered, which then
   * lies in `buffer[spanStart, spanEnd)` (the server's hot path: no object per request). */
  takeHeadSpan(maxHeadBytes: number): boolean {
    const buf = this.#buf;
    let start = this.#start;
    while (start < this.#end && (buf[start] === 13 || buf[start] === 10)) start++;
    const end = findHeadEnd(buf, start, this.#end);
    if (end === -1 || end - start > maxHeadBytes) return false;
    this.#start = end;
    this.spanStart = start;
    this.spanEnd = end;
    return true;
  }

  /**
   * Reads until a whole head is buffered and returns it (a view valid until the next call).
   * Returns null on a clean end of stream before any byte of a head.
   * @throws {HttpError} 414 / 431 past the limits; {@linkcode UnexpectedEofError} on EOF mid-head.
   */
  async readHead(limits: HeadLimits): Promise<Uint8Array | null> {
    const maxHead = limits.maxHeadBytes;
    const maxLine = limits.maxFirstLineBytes ?? maxHead;
    // Bytes already scanned, relative to start (compaction keeps relative offsets), so a peer
    // that dribbles a byte per packet does not make us rescan the whole head each time.
    let scanned = 0;
    for (;;) {
      // Empty lines before a request line are ignored (RFC 9112 §2.2), however many.
      while (
        this.#start < this.#end &&
        (this.#buf[this.#start] === 13 || this.#buf[this.#start] === 10)
      ) {
        this.#start++;
        scanned = 0;
      }
      const end = findHeadEnd(this.#buf, this.#start + Math.max(0, scanned - 3), this.#end);
      if (end !== -1) {
        if (end - this.#start > maxHead) throw tooLarge();
        const head = this.#buf.subarray(this.#start, end);
        this.#start = end;
        return head;
      }
      scanned = this.#end - this.#start;
      const have = this.#end - this.#start;
      if (have > 0) {
        // The first line must end within maxLine bytes (leading empty lines aside).
        let s = this.#start;
        while (s < this.#end && (this.#buf[s] === 13 || this.#buf[s] === 10)) s++;
        const lf = this.#buf.indexOf(10, s);
        if (lf === -1 || lf >= this.#end) {
          // No line end yet: one byte more than the limit may still be the CR of a CRLF.
          if (this.#end - s > maxLine + 1) throw uriTooLong();
        } else {
          const len = lf > s && this.#buf[lf - 1] === 13 ? lf - 1 - s : lf - s;
          if (len > maxLine) throw uriTooLong();
        }
      }
      if (have >= maxHead) throw tooLarge();
      this.#makeRoom(
        this.#recycle ? maxHead + 4 : Math.min(maxHead + 4, this.#buf.length * 2),
      );
      const n = await this.#readConn(this.#buf.subarray(this.#end));
      if (n === null) {
        if (this.#end === this.#start) return null;
        throw new UnexpectedEofError();
      }
      this.#end += n;
      this.bytesRead += n;
    }
  }

  /** Ensures free space after `end`, compacting or growing (up to `cap`) as needed. */
  #makeRoom(cap: number): void {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end < this.#buf.length) return;
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
      return;
    }
    const size = Math.max(cap, this.#buf.length);
    let next: Uint8Array | undefined;
    if (this.#recycle) {
      let spare = headPool.get(size);
      if (spare === undefined) headPool.set(size, spare = []);
      next = spare.pop();
    }
    next ??= new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#end));
    this.#buf = next;
  }

  /**
   * Reads body bytes into `p`: buffered bytes first, then the connection.
   * Returns the count, or null at end of stream.
   */
  async read(p: Uint8Array): Promise<number | null> {
    if (this.#end > this.#start) {
      const n = Math.min(p.length, this.#end - this.#start);
      p.set(this.#buf.subarray(this.#start, this.#start + n));
      this.#start += n;
      return n;
    }
    const n = await this.#readConn(p);
    if (n !== null) this.bytesRead += n;
    return n;
  }

  /**
   * Reads one line (up to LF) of at most `maxBytes`, without its CRLF / LF; null at EOF before
   * any byte. Used for chunk-size lines and trailers.
   */
  async readLine(maxBytes: number): Promise<string | null> {
    let scanFrom = this.#start;
    for (;;) {
      const lf = this.#buf.indexOf(10, scanFrom);
      if (lf !== -1 && lf < this.#end) {
        let lineEnd = lf;
        if (lineEnd > this.#start && this.#buf[lineEnd - 1] === 13) lineEnd--;
        const line = String.fromCharCode(...this.#buf.subarray(this.#start, lineEnd));
        this.#start = lf + 1;
        return line;
      }
      if (this.#end - this.#start > maxBytes) {
        throw new RangeError(`line longer than ${maxBytes} bytes`);
      }
      scanFrom = this.#end;
      const before = this.#start;
      this.#makeRoom(Math.min(maxBytes + 2, this.#buf.length * 2));
      scanFrom -= before - this.#start;
      const n = await this.#readConn(this.#buf.subarray(this.#end));
      if (n === null) {
        if (this.#end === this.#start) return null;
        throw new UnexpectedEofError("connection closed in the middle of a line");
      }
      this.#end += n;
      this.bytesRead += n;
    }
  }
}

function tooLarge(): HttpError {
  return new HttpError(STATUS.RequestHeaderFieldsTooLarge, "Request Header Fields Too Large");
}

function uriTooLong(): HttpError {
  return new HttpError(STATUS.URITooLong, "URI Too Long");
}
