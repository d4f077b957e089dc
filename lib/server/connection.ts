/**
 * One task per accepted connection: the keep-alive loop (read a head, answer it, repeat),
 * pipelined requests answered in order, and the file body streamed with large double-buffered
 * reads. A plain GET/HEAD head is read in place (lib/http/plain_head.ts) and answered from the
 * small-file cache when it can be; anything else, or a miss, takes the full parser and
 * FileServer. Deadlines are enforced from outside by {@linkcode sweep}, one timer for all
 * connections, which are kept in a {@linkcode ConnSet}.
 *
 * @module
 */

import { MAX_HEAD_BYTES, MAX_REQUEST_LINE_BYTES, parseRequestHead } from "../http/request.ts";
import type { RequestHead } from "../http/request.ts";
import { plain, readPlainHead } from "../http/plain_head.ts";
import { HttpError, STATUS } from "../http/status.ts";
import { httpDate, serializeHead } from "../http/response.ts";
import { ConnReader, UnexpectedEofError } from "../net/head_reader.ts";
import { describeConn, formatAddr } from "../net/conn_info.ts";
import type { ReverseDns } from "../net/reverse_dns.ts";
import { VERSION } from "../version.ts";
import { errorReply, type FileServer, type Reply, replyForError } from "./files.ts";
import type { Logger } from "./log.ts";
import { SMALL_FILE_MAX_BYTES } from "./small_cache.ts";
import { turnMs, turnPerfMs } from "./clock.ts";

/** Bytes per file read while streaming. 1 MiB with the next read in flight during the current
 * write measured 3.1–3.4 GB/s on a 1 GiB file here, against 0.9 GB/s for 64 KiB chunks. */
export const STREAM_CHUNK_BYTES = 1 << 20;
/** Spare stream buffers kept for reuse (2 per streaming response); bounds idle memory. */
const POOL_MAX = 16;

const HEAD_LIMITS = { maxHeadBytes: MAX_HEAD_BYTES, maxFirstLineBytes: MAX_REQUEST_LINE_BYTES };

/** Timeouts and limits of one connection. */
export interface ConnectionLimits {
  /** The whole head of a request must arrive within this, from its first byte (or from accept
   * for the first request). */
  headTimeoutMs: number;
  /** A keep-alive connection with no request in progress is closed after this. */
  idleTimeoutMs: number;
  /** A write that makes no progress for this long (a client that stopped reading) closes. */
  writeTimeoutMs: number;
  /** Requests served on one connection before it is closed. */
  maxRequests: number;
}

/** What every connection shares. */
export interface ServerContext {
  files: FileServer;
  log: Logger;
  dns: ReverseDns | null;
  limits: ConnectionLimits;
  /** Live connections, for the sweeper and for shutdown. */
  conns: ConnSet;
  /** Set when shutting down: finish the response in flight, then close. */
  draining: boolean;
  /** The next connection id, and the step between ids (the worker count, so that ids from
   * different workers never collide in one log). */
  nextId: number;
  idStep: number;
}

/** The state of one connection, as the sweeper and shutdown see it. */
export interface ConnState {
  readonly conn: Deno.TcpConn;
  /** Connection id and the peer as `host:port` (empty when nothing is logged), for the log. */
  readonly id: number;
  readonly peer: string;
  /** Absolute time (ms) after which the sweeper closes the connection; 0 = none. */
  deadline: number;
  /** "head": waiting for or reading a request head; "busy": answering one. */
  phase: "head" | "busy";
  /** For "head": when the wait started, and whether it is the first request. */
  waitStart: number;
  first: boolean;
  /** bytesRead of the reader when the wait started: more means a head has begun. */
  readMark: number;
  /** When the first byte of the current head was seen by the sweeper (0 = not yet). */
  headStart: number;
  readonly reader: ConnReader;
  closed: boolean;
  /** Whether TCP_NODELAY is set (lazily: see {@linkcode ensureNoDelay}). */
  noDelay: boolean;
  /** Why it closed (for the log). */
  why: string;
  /** Where it is in its {@linkcode ConnSet} (-1: in none). */
  slot: number;
  /** Body bytes sent on it so far (for the log). */
  bytesOut: number;
}

/**
 * The live connections: an array in which each state knows its index, so that adding and
 * removing cost O(1) and allocate nothing. A `Set` did the same job, but under ~20,000 new
 * connections a second its hash table churned so that every young-generation GC took 6–9 ms
 * instead of 0.2–0.9 ms, with twice as many full GCs (`--trace-gc`, wrk `Connection: close`,
 * 5 s): about 4 µs of CPU per connection.
 */
export class ConnSet implements Iterable<ConnState> {
  #items: ConnState[] = [];

  /** How many connections are in it. */
  get size(): number {
    return this.#items.length;
  }

  /** Adds `s` (not already in a set). */
  add(s: ConnState): void {
    s.slot = this.#items.length;
    this.#items.push(s);
  }

  /** Removes `s` if it is here: the last one takes its place. */
  delete(s: ConnState): void {
    const i = s.slot;
    if (i < 0 || this.#items[i] !== s) return;
    const last = this.#items.pop()!;
    if (last !== s) {
      this.#items[i] = last;
      last.slot = i;
    }
    s.slot = -1;
  }

  /**
   * Calls `fn` for each connection, last to first, allocating nothing: the sweeper's loop, once a
   * second over every connection. `fn` may delete the connection it is given (the last one moves
   * into its slot, already visited). The iterator below copies the array instead: with 10,000
   * idle connections that copy (and its iteration) was ~400 KB of garbage a second, and the young
   * generation it grew showed as RSS: 7.0–7.9 KiB per idle connection after 0.5 s, 8.1–10.6 after
   * 12 s; with this loop 6.55–7.26, flat, against 6.44–6.54 for the deno floor (bench/floor.ts;
   * 9,000 connections beyond 1,000, fresh process each, 4 interleaved runs, 2026-11-29).
   */
  each(fn: (s: ConnState) => void): void {
    const items = this.#items;
    for (let i = items.length - 1; i >= 0; i--) fn(items[i]);
  }

  /** The connections as they are now (a copy: closing one while iterating is safe). */
  [Symbol.iterator](): Iterator<ConnState> {
    return this.#items.slice()[Symbol.iterator]();
  }
}

const encoder = new TextEncoder();
const serverField = `ferry/${VERSION}`;

// The Date field is formatted once per second, not per response.
let dateSecond = -1;
let dateText = "";
function currentDate(now = turnMs()): string {
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = httpDate(now);
  }
  return dateText;
}

/** Fields that make a response depend on more than the target: such requests skip the
 * small-file cache. */
export const CONDITIONAL_FIELDS: readonly string[] = [
  "range",
  "if-range",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "want-repr-digest",
];

/** A GET/HEAD whose answer depends on the target alone. Seven Map lookups (~35 ns, whatever the
 * number of fields; a pass over the fields is faster for one field, slower for a browser's
 * eight). */
function isPlain(head: RequestHead): boolean {
  if (head.method !== "GET" && head.method !== "HEAD") return false;
  for (const f of CONDITIONAL_FIELDS) if (head.headers.has(f)) return false;
  return true;
}

const pool: Uint8Array[] = [];
function takeBuffer(): Uint8Array {
  return pool.pop() ?? new Uint8Array(STREAM_CHUNK_BYTES);
}
function giveBuffer(b: Uint8Array): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

function closeConn(state: ConnState, why: string): void {
  if (state.closed) return;
  state.closed = true;
  state.why = why;
  try {
    state.conn.close();
  } catch { /* already closed */ }
}

/**
 * Closes connections past their deadline. Called about once a second for all connections, so
 * that no request costs a timer of its own.
 */
export function sweep(ctx: ServerContext, now = Date.now()): void {
  const { headTimeoutMs, idleTimeoutMs } = ctx.limits;
  ctx.conns.each((s) => {
    if (s.phase === "head") {
      if (s.headStart === 0 && (s.reader.bytesRead > s.readMark || s.reader.buffered > 0)) {
        s.headStart = now;
      }
      const deadline = s.first
        ? s.waitStart + headTimeoutMs
        : s.headStart > 0
        ? s.headStart + headTimeoutMs
        : s.waitStart + idleTimeoutMs;
      if (now > deadline) closeConn(s, s.headStart > 0 || s.first ? "head timeout" : "idle");
    } else if (s.deadline > 0 && now > s.deadline) {
      closeConn(s, "write timeout");
    }
  });
}

/** Writes all of `p`, refreshing the write deadline on every bit of progress. */
async function writeAll(state: ConnState, p: Uint8Array, timeoutMs: number): Promise<void> {
  let off = 0;
  while (off < p.length) {
    if (off > 0) ensureNoDelay(state); // a short write: the rest goes out in more segments
    state.deadline = turnMs() + timeoutMs;
    off += await state.conn.write(off === 0 ? p : p.subarray(off));
  }
}

/**
 * Sets TCP_NODELAY before a response goes out in more than one write. Nagle's algorithm would
 * hold the last small segment until the client's (delayed) ACK: measured here, a keep-alive
 * server writing head and body separately fell to ~1,100 req/s without NODELAY, ~17–30k with
 * it. A response sent in one write (every small or cached one) is never held, so the syscall
 * is saved on connections that only ever get those (4 % of the main thread in `--prof` with
 * Connection: close).
 */
function ensureNoDelay(state: ConnState): void {
  if (state.noDelay) return;
  state.noDelay = true;
  try {
    state.conn.setNoDelay(true);
  } catch { /* the peer may already be gone */ }
}

function headBytes(reply: Reply, keepAlive: boolean): string {
  const fields: Array<[string, string]> = [["Date", currentDate()], ["Server", serverField]];
  for (const f of reply.fields) fields.push(f);
  if (!keepAlive) fields.push(["Connection", "close"]);
  return serializeHead(reply.status, fields);
}

/** Reads exactly `p.length` bytes of `file` into `p`; false if the file ended first. */
async function readFull(file: Deno.FsFile, p: Uint8Array): Promise<boolean> {
  let off = 0;
  while (off < p.length) {
    const n = await file.read(off === 0 ? p : p.subarray(off));
    if (n === null) return false;
    off += n;
  }
  return true;
}

/** A file shrank while being sent: the promised length can no longer be met, so the
 * connection must close and the client see the truncation. */
class TruncatedFileError extends Error {}

/** Streams file bytes [start, end) with the next read in flight while the current write runs. */
async function streamRange(
  state: ConnState,
  file: Deno.FsFile,
  start: number,
  end: number,
  timeoutMs: number,
): Promise<void> {
  await file.seek(start, Deno.SeekMode.Start);
  let remaining = end - start;
  let cur = takeBuffer();
  let next = takeBuffer();
  let pendingRead: Promise<number | null> | undefined;
  try {
    let n = await file.read(cur.subarray(0, Math.min(remaining, cur.length)));
    while (remaining > 0) {
      if (n === null || n === 0) throw new TruncatedFileError();
      remaining -= n;
      pendingRead = remaining > 0
        ? file.read(next.subarray(0, Math.min(remaining, next.length)))
        : undefined;
      await writeAll(state, cur.subarray(0, n), timeoutMs);
      if (pendingRead === undefined) break;
      n = await pendingRead;
      pendingRead = undefined;
      const t = cur;
      cur = next;
      next = t;
    }
  } finally {
    // A read still in flight owns its buffer: wait for it before the buffer is reused.
    if (pendingRead !== undefined) await pendingRead.catch(() => null);
    giveBuffer(cur);
    giveBuffer(next);
  }
}

/** Sends a reply: head, then the in-memory body or the file parts. */
async function sendReply(
  state: ConnState,
  reply: Reply,
  isHead: boolean,
  keepAlive: boolean,
  ctx: ServerContext,
): Promise<void> {
  const timeoutMs = ctx.limits.writeTimeoutMs;
  const head = encoder.encode(headBytes(reply, keepAlive));
  const file = reply.file;
  if (isHead || (reply.body === undefined && file === undefined)) {
    file?.handle.close();
    await writeAll(state, head, timeoutMs);
    return;
  }
  if (reply.body !== undefined) {
    const all = new Uint8Array(head.length + reply.body.length);
    all.set(head);
    all.set(reply.body, head.length);
    await writeAll(state, all, timeoutMs);
    return;
  }
  if (file === undefined) return;
  try {
    const parts = file.parts;
    // Small single-part file: head and body in one write (one packet, one syscall).
    if (
      parts.length === 1 && parts[0].prefix === undefined && reply.length <= SMALL_FILE_MAX_BYTES
    ) {
      const all = new Uint8Array(head.length + reply.length);
      all.set(head);
      await file.handle.seek(parts[0].start, Deno.SeekMode.Start);
      if (!await readFull(file.handle, all.subarray(head.length))) throw new TruncatedFileError();
      await writeAll(state, all, timeoutMs);
      return;
    }
    ensureNoDelay(state);
    await writeAll(state, head, timeoutMs);
    for (const part of parts) {
      if (part.prefix !== undefined) await writeAll(state, part.prefix, timeoutMs);
      await streamRange(state, file.handle, part.start, part.end, timeoutMs);
    }
    if (file.suffix !== undefined) await writeAll(state, file.suffix, timeoutMs);
  } finally {
    file.handle.close();
  }
}

/** Serves one connection until it closes. Never throws. */
export async function serveConnection(conn: Deno.TcpConn, ctx: ServerContext): Promise<void> {
  const id = ctx.nextId;
  ctx.nextId += ctx.idStep;
  const started = ctx.log.enabled ? turnPerfMs() : 0; // for the log only
  const reader = new ConnReader(conn);
  // getpeername costs a syscall: only when something is logged.
  const peer = ctx.log.enabled ? formatAddr(conn.remoteAddr) : "";
  const state: ConnState = {
    conn,
    id,
    peer,
    deadline: 0,
    phase: "head",
    waitStart: turnMs(),
    first: true,
    readMark: 0,
    headStart: 0,
    reader,
    closed: false,
    noDelay: false,
    why: "done",
    slot: -1,
    bytesOut: 0,
  };
  ctx.conns.add(state);
  let requests = 0;
  if (ctx.log.enabled) logConnection(id, conn, ctx);

  try {
    while (!state.closed) {
      state.phase = "head";
      state.waitStart = turnMs();
      state.readMark = reader.bytesRead;
      state.headStart = 0;
      // null when the plain path read the head (then `buf[hs, he)` still holds it, for the
      // full parse a cache miss needs).
      let head: RequestHead | null;
      let buf: Uint8Array;
      let hs = 0;
      let he: number;
      let headAt: number;
      try {
        // Idle wait first (cheap in memory: the read is awaited right here, in no frame of
        // its own), then the head, usually already whole.
        if (reader.buffered === 0 ? reader.filled(await reader.readRaw()) === null : false) {
          state.why = "peer closed";
          break;
        }
        if (reader.takeHeadSpan(MAX_HEAD_BYTES)) {
          buf = reader.buffer;
          hs = reader.spanStart;
          he = reader.spanEnd;
        } else {
          const got = await reader.readHead(HEAD_LIMITS);
          if (got === null) {
            state.why = "peer closed";
            break;
          }
          buf = got;
          he = got.length;
        }
        state.phase = "busy";
        state.deadline = 0;
        state.first = false;
        headAt = ctx.log.enabled ? turnPerfMs() : 0; // for the access log only
        head = readPlainHead(buf, hs, he) ? null : parseRequestHead(buf, hs, he);
      } catch (e) {
        if (state.closed) break;
        if (e instanceof HttpError) {
          if (await answerBadHead(state, e, ctx)) continue;
        } else if (e instanceof UnexpectedEofError) state.why = "peer closed mid-head";
        else state.why = "read error";
        break;
      }

      requests++;
      const more = !ctx.draining && requests < ctx.limits.maxRequests;
      if (head === null || isPlain(head)) {
        // Copied out of `plain` before any await: other connections' heads overwrite it.
        const method = head === null ? plain.method : head.method;
        const target = head === null ? plain.target : head.target;
        const version = head === null ? plain.version : head.version;
        const hasBody = head !== null && head.hasBody;
        const keepAlive = more && !hasBody && (head === null ? plain.keepAlive : head.keepAlive);
        const now = turnMs();
        const date = currentDate(now);
        const hit = ctx.files.cache.lookup(target, keepAlive, dateSecond, date, now);
        if (hit !== undefined) {
          const isHead = method === "HEAD";
          // One plain write; the loop only if it was short.
          const out = isHead ? hit.bytes.subarray(0, hit.headLength) : hit.bytes;
          try {
            state.deadline = now + ctx.limits.writeTimeoutMs;
            const n = await conn.write(out);
            if (n < out.length) await writeAll(state, out.subarray(n), ctx.limits.writeTimeoutMs);
          } catch {
            if (!state.closed) state.why = "write failed";
            break;
          }
          state.deadline = 0;
          const sent = isHead ? 0 : hit.bodyLength;
          state.bytesOut += sent;
          logRequest(ctx, state, method, target, version, hit.status, sent, headAt);
          if (!keepAlive) {
            state.why = closeReason(ctx, hasBody);
            break;
          }
          continue;
        }
        // A miss: the full parse, which a head the plain path read always passes.
        head ??= parseRequestHead(buf, hs, he);
      }
      if (!await answer(state, head, more && head.keepAlive && !head.hasBody, ctx, headAt)) break;
    }
  } catch {
    state.why = "error";
  } finally {
    ctx.conns.delete(state);
    closeConn(state, state.why);
    if (ctx.log.enabled) {
      ctx.log.close(id, peer, requests, state.bytesOut, turnPerfMs() - started, state.why);
    }
  }
}

/**
 * Answers a head that did not parse (`e`: 400, 405, 414, 431, 501, 505). Resolves to whether
 * the connection stays open; if not, `state.why` says why. Kept out of serveConnection, as is
 * {@linkcode answer}: every local of that function is stored with each idle connection.
 */
async function answerBadHead(state: ConnState, e: HttpError, ctx: ServerContext): Promise<boolean> {
  state.phase = "busy";
  state.deadline = 0;
  const reply = replyForError(e);
  const keep = !reply.close && !ctx.draining;
  await sendReply(state, reply, false, keep, ctx);
  logRequest(ctx, state, "-", "-", "-", reply.status, reply.length, turnPerfMs());
  if (!keep) state.why = `bad request (${reply.status})`;
  return keep;
}

/**
 * Answers a request the small-file cache did not: files.respond, then the reply. Resolves to
 * whether the connection stays open; if not, `state.why` says why.
 */
async function answer(
  state: ConnState,
  head: RequestHead,
  keepAlive: boolean,
  ctx: ServerContext,
  headAt: number,
): Promise<boolean> {
  let reply: Reply;
  try {
    reply = await ctx.files.respond(head);
  } catch (e) {
    reply = replyForError(e);
  }
  // A body we do not read could be taken for the next request: answer, then close.
  const keep = keepAlive && !reply.close;
  try {
    await sendReply(state, reply, head.method === "HEAD", keep, ctx);
  } catch (e) {
    if (!state.closed) {
      state.why = e instanceof TruncatedFileError ? "file truncated while sending" : "write failed";
    }
    logRequest(ctx, state, head.method, head.target, head.version, reply.status, -1, headAt);
    return false;
  }
  state.deadline = 0;
  const sent = head.method === "HEAD" ? 0 : reply.length;
  state.bytesOut += sent;
  logRequest(ctx, state, head.method, head.target, head.version, reply.status, sent, headAt);
  if (!keep) state.why = closeReason(ctx, head.hasBody);
  return keep;
}

/** Logs one answered request (method, target and version "-" for a head that did not parse);
 * `bytes` -1 when the response could not be sent whole. Nothing is built when logging is off. */
function logRequest(
  ctx: ServerContext,
  state: ConnState,
  method: string,
  target: string,
  version: string,
  status: number,
  bytes: number,
  headAt: number,
): void {
  if (!ctx.log.enabled) return;
  ctx.log.access({
    conn: state.id,
    peer: state.peer,
    method,
    target,
    version,
    status,
    bytes,
    ms: turnPerfMs() - headAt,
  });
}

/** Why a connection closes after a response that did not keep it alive. */
function closeReason(ctx: ServerContext, hadBody: boolean): string {
  return ctx.draining ? "shutdown" : hadBody ? "request had a body" : "close";
}

/** Logs the connection's parameters once the reverse lookup answers (bounded), off the path
 * of serving. */
function logConnection(id: number, conn: Deno.Conn, ctx: ServerContext): void {
  const { headTimeoutMs, idleTimeoutMs, writeTimeoutMs } = ctx.limits;
  const params = describeConn(conn, {
    timeoutsMs: { head: headTimeoutMs, idle: idleTimeoutMs, write: writeTimeoutMs },
  });
  const addr = conn.remoteAddr as Deno.NetAddr;
  if (ctx.dns === null) {
    ctx.log.connection(id, params);
    return;
  }
  ctx.dns.lookup(addr.hostname).then((name) => {
    params.hostName = name;
    params.reverseName = name;
    ctx.log.connection(id, params);
  });
}

/** The reply sent to a connection accepted over the connection cap. */
export function overloadReply(): Reply {
  return errorReply(STATUS.ServiceUnavailable, "Service Unavailable", [["Retry-After", "1"]], true);
}
