/**
 * Streaming a file range to a client with memory that stays bounded however slowly the client
 * reads.
 *
 * A fast reader gets large chunks (1 MiB, the next read in flight during the current write):
 * that is what makes large downloads fast. But a write the client does not take pins its buffer
 * inside the runtime until it completes, and with two 1 MiB buffers per response 400 clients
 * that stopped reading held 758 MiB. So:
 *
 * - Large buffers come from one budget per process ({@linkcode LARGE_BUDGET_BYTES}); a response
 *   that finds it spent streams in small chunks instead, and moves up when room comes back and
 *   its client keeps up.
 * - A short write means the socket's send buffer is full. The next write then waits for room
 *   with a small copy of the next bytes ({@linkcode SMALL_CHUNK_BYTES}), not with the large
 *   buffer: a client that stops reading pins only the copy.
 * - When such a wait lasts {@linkcode STALL_MS} (seen by the sweeper), the large buffers go back
 *   to the budget at once; when the client reads again, the rest of the range is read again from
 *   the file (page cache) in small chunks.
 *
 * A stalled connection thus holds one small buffer; large buffers in use are bounded per process
 * whatever the clients do.
 *
 * @module
 */

import { turnMs } from "./clock.ts";

/** Bytes per file read for a fast reader. 1 MiB with the next read in flight during the current
 * write measured 3.1–3.4 GB/s on a 1 GiB file here, against 0.9 GB/s for 64 KiB chunks. */
export const LARGE_CHUNK_BYTES = 1 << 20;
/** Large buffers in use at once, in bytes, per process (shared out among `--workers`): 16 fast
 * downloads at full speed. More concurrent responses stream in small chunks. At 2,000 stalled
 * connections a budget that stalled clients managed to pin whole would still be 16 KiB each. */
export const LARGE_BUDGET_BYTES = 32 << 20;
/** The copy a full socket waits with, and the chunk of a slow reader. */
export const SMALL_CHUNK_BYTES = 16 << 10;
/** Ranges up to this long are sent in small chunks only. */
const SMALL_RANGE_BYTES = 4 * SMALL_CHUNK_BYTES;
/** A client that takes nothing for this long while a write waits gives its large buffers back.
 * Accurate to the sweeper's interval. */
export const STALL_MS = 500;
/** A small-chunk stream moves up to large chunks once this many bytes went out within
 * {@linkcode PROMOTE_MS} (80 MB/s): the client keeps up. More than a client that reads nothing
 * takes into the kernel's socket buffers at memory speed (measured: 3.9 MB on loopback here),
 * so that such a client never moves up. */
export const PROMOTE_BYTES = 8 << 20;
/** The window of {@linkcode PROMOTE_BYTES}. */
export const PROMOTE_MS = 100;

/** Where the bytes go: the connection, and the bookkeeping its deadlines and rate need. */
export interface StreamTarget {
  readonly conn: { write(p: Uint8Array): Promise<number> };
  /** Absolute time after which the sweeper closes the connection (write timeout). */
  deadline: number;
  /** Bytes the kernel has accepted on this connection (for the minimum rate). */
  sent: number;
  /** The stream in progress, for the sweeper's {@linkcode releaseIfStalled}. */
  stream: BodyStream | null;
  /** Largest single write; a TLS connection takes slices (lib/server/connection.ts
   * TLS_WRITE_BYTES), so a write that takes all of one is not a full socket. @default Infinity */
  readonly maxWrite?: number;
}

/** The large-buffer budget of this process. Buffers given back are all kept for reuse: never
 * more than the budget exists, and none is left to a garbage collector that runs late. */
class LargePool {
  leased = 0;
  #spare: Uint8Array[] = [];
  max = Math.floor(LARGE_BUDGET_BYTES / LARGE_CHUNK_BYTES);

  /** This thread's share of the budget when `workers` threads share the process: at least
   * one stream's pair each. */
  share(workers: number): void {
    this.max = Math.max(2, 2 * Math.floor(LARGE_BUDGET_BYTES / LARGE_CHUNK_BYTES / 2 / workers));
  }

  /** Two buffers, or null when the budget has no room for them. */
  takePair(): [Uint8Array, Uint8Array] | null {
    if (this.leased + 2 > this.max) return null;
    this.leased += 2;
    return [this.#one(), this.#one()];
  }

  #one(): Uint8Array {
    return this.#spare.pop() ?? new Uint8Array(LARGE_CHUNK_BYTES);
  }

  give(b: Uint8Array): void {
    this.leased--;
    this.#spare.push(b);
  }
}

/** The budget shared by every stream of this process (exported for tests). */
export const largePool: LargePool = new LargePool();

/** One response body in progress: what the sweeper can take back from it. */
export class BodyStream {
  /** When the current wait-for-room write began (0: none). */
  waitingSince = 0;
  /** The large buffers, while held; null once given back. */
  large: [Uint8Array, Uint8Array] | null = null;
  /** A file read in flight into `large[1]`; it owns that buffer until it settles. */
  pendingRead: Promise<number | null> | undefined;
  /** Set when the large buffers were given back during a wait. */
  released = false;

  /** Gives the large buffers back to the budget if a wait for room has lasted STALL_MS. */
  releaseIfStalled(now: number): void {
    if (this.large === null || this.waitingSince === 0 || now - this.waitingSince < STALL_MS) {
      return;
    }
    const [cur, next] = this.large;
    this.large = null;
    this.released = true;
    largePool.give(cur);
    if (this.pendingRead === undefined) largePool.give(next);
    else this.pendingRead.finally(() => largePool.give(next)).catch(() => {});
  }
}

/** A file shrank while being sent: the promised length can no longer be met, so the
 * connection must close and the client see the truncation. */
export class TruncatedFileError extends Error {}

/** Anything with the FsFile calls streaming needs. */
export interface SeekableFile {
  read(p: Uint8Array): Promise<number | null>;
  seek(offset: number, whence: Deno.SeekMode): Promise<number>;
}

/**
 * Streams file bytes [start, end) to `t`, large chunks while the client keeps up, small ones
 * while it does not (see the module doc). `timeoutMs` is the write timeout: each write that
 * makes progress moves the deadline.
 */
export async function streamRange(
  t: StreamTarget,
  file: SeekableFile,
  start: number,
  end: number,
  timeoutMs: number,
): Promise<void> {
  await file.seek(start, Deno.SeekMode.Start);
  let pos = start;
  const small = new Uint8Array(Math.min(SMALL_CHUNK_BYTES, end - start));
  // After a stall, small chunks until the client proves fast again (smallRun's promotion):
  // taking large buffers back at once would put 1 MiB into the next wait of a trickle reader.
  // A short range never takes large buffers: a few small writes do.
  let stalled = end - start <= SMALL_RANGE_BYTES;
  try {
    while (pos < end) { // each pass sends at least one byte or throws
      const pair = stalled ? null : largePool.takePair();
      if (pair !== null) {
        const s = new BodyStream();
        s.large = pair;
        t.stream = s;
        pos = await largeRun(t, s, file, pos, end, small, timeoutMs);
        t.stream = null;
        stalled = pos < end;
      } else {
        pos = await smallRun(t, file, pos, end, small, timeoutMs);
        stalled = false;
      }
    }
  } finally {
    t.stream = null;
  }
}

/** Large chunks, double-buffered; returns the position reached: `end`, or where the client
 * stalled and the buffers were given back (the file is then positioned there). */
async function largeRun(
  t: StreamTarget,
  s: BodyStream,
  file: SeekableFile,
  pos: number,
  end: number,
  small: Uint8Array,
  timeoutMs: number,
): Promise<number> {
  let [cur, next] = s.large!;
  const cap = t.maxWrite ?? Infinity;
  try {
    let n = await file.read(cur.subarray(0, Math.min(end - pos, cur.length)));
    for (;;) {
      if (n === null || n === 0) throw new TruncatedFileError();
      const readEnd = pos + n;
      s.pendingRead = readEnd < end
        ? file.read(next.subarray(0, Math.min(end - readEnd, next.length)))
        : undefined;
      let off = 0;
      let full = false; // the last write was short: the socket is full
      while (off < n) {
        t.deadline = turnMs() + timeoutMs;
        let w: number;
        if (!full) {
          const to = n - off <= cap ? n : off + cap;
          w = await t.conn.write(
            off === 0 && to === n ? cur.subarray(0, n) : cur.subarray(off, to),
          );
        } else {
          // Wait for room with a small copy: a client that stopped reading pins only that.
          const k = Math.min(n - off, small.length);
          small.set(cur.subarray(off, off + k));
          s.waitingSince = turnMs();
          try {
            w = await t.conn.write(small.subarray(0, k));
          } finally {
            s.waitingSince = 0;
          }
          if (s.released) {
            // The sweeper took the buffers back: resume from the file at the first unsent byte.
            t.sent += w;
            const at = pos + off + w;
            if (s.pendingRead !== undefined) await s.pendingRead.catch(() => null);
            s.pendingRead = undefined;
            await file.seek(at, Deno.SeekMode.Start);
            return at;
          }
        }
        full = w < (full ? Math.min(n - off, small.length) : Math.min(n - off, cap));
        off += w;
        t.sent += w;
      }
      pos = readEnd;
      const pending = s.pendingRead;
      if (pending === undefined) return pos;
      n = await pending;
      s.pendingRead = undefined;
      const x = cur;
      cur = next;
      next = x;
    }
  } finally {
    // A read still in flight owns its buffer: wait for it before the buffer is reused.
    if (s.pendingRead !== undefined) await s.pendingRead.catch(() => null);
    s.pendingRead = undefined;
    if (s.large !== null) {
      s.large = null;
      largePool.give(cur);
      largePool.give(next);
    }
  }
}

/**
 * Small chunks, one buffer; returns the position reached: `end`, or earlier when the client has
 * kept up for a while and the budget has room again.
 */
async function smallRun(
  t: StreamTarget,
  file: SeekableFile,
  pos: number,
  end: number,
  small: Uint8Array,
  timeoutMs: number,
): Promise<number> {
  let windowAt = turnMs();
  let windowBytes = 0;
  while (pos < end) {
    const n = await file.read(small.subarray(0, Math.min(end - pos, small.length)));
    if (n === null || n === 0) throw new TruncatedFileError();
    let off = 0;
    while (off < n) {
      t.deadline = turnMs() + timeoutMs;
      const w = await t.conn.write(off === 0 ? small.subarray(0, n) : small.subarray(off, n));
      off += w;
      t.sent += w;
    }
    pos += n;
    windowBytes += n;
    if (windowBytes >= PROMOTE_BYTES) {
      const now = turnMs();
      if (now - windowAt <= PROMOTE_MS && largePool.leased + 2 <= largePool.max) {
        return pos;
      }
      windowAt = now;
      windowBytes = 0;
    }
  }
  return pos;
}
