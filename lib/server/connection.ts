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

import {
  decodeLatin1,
  MAX_HEAD_BYTES,
  MAX_REQUEST_LINE_BYTES,
  parseRequestHead,
} from "../http/request.ts";
import type { RequestHead } from "../http/request.ts";
import { plain, readPlainHead } from "../http/plain_head.ts";
import { HttpError, STATUS } from "../http/status.ts";
import { httpDate, serializeHead } from "../http/response.ts";
import { wantsSha256 } from "../http/digest.ts";
import { ConnReader, UnexpectedEofError } from "../net/head_reader.ts";
import { describeConn, formatAddr } from "../net/conn_info.ts";
import type { ReverseDns } from "../net/reverse_dns.ts";
import { VERSION } from "../version.ts";
import { errorReply, type FileServer, type Reply, replyForError } from "./files.ts";
import type { Logger } from "./log.ts";
import { turnMs, turnPerfMs } from "./clock.ts";
import { handshakeFailure, serverHandshake, type TlsInfo } from "../net/tls.ts";
import type { AuthGate } from "./auth.ts";
import { forwardedClient, type ProxySettings, type Via } from "./behind_proxy.ts";
import { healthReply, type HealthState, isHealthTarget } from "./health.ts";
import { type BodyStream, streamRange, TruncatedFileError } from "./stream_body.ts";
import type { ConnLimiter } from "./conn_limits.ts";
import { rateVerdict } from "./min_rate.ts";

export { LARGE_CHUNK_BYTES as STREAM_CHUNK_BYTES } from "./stream_body.ts";

/** Largest single write of a file body to a TLS connection. The runtime's TLS stream takes at
 * most 64 KiB of a larger write, and 1 MiB writes measured 0.17–0.23 GB/s to curl against
 * 0.47–0.63 GB/s in 32 KiB slices (two TLS records each; 1 MiB reads kept). */
export const TLS_WRITE_BYTES = 32 * 1024;

/** Replies up to this size go out as one buffer with their head (one write, one packet);
 * larger ones are written from where they are, or streamed, so that a client that stops reading
 * pins no per-response copy bigger than this (issue 11: ≤ 64 KiB per stalled connection). */
const ONE_WRITE_MAX_BYTES = 32 << 10;

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
  /** While a response is being written, the client must take at least this many bytes per
   * second, measured over {@linkcode ConnectionLimits.rateWindowMs}; 0 = no minimum. */
  minRate?: number;
  /** The window of the minimum rate. */
  rateWindowMs?: number;
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
  /** Connections are TLS (Deno.TlsConn, or after a PROXY header lib/server/tls_after_proxy.ts):
   * each starts with the TLS handshake. @default false */
  tls?: boolean;
  /** The Basic gate every request passes before it is routed (lib/server/auth.ts); null or
   * absent: no access control. */
  auth?: AuthGate | null;
  /** `--proxy-protocol` / `--trusted-proxy` (lib/server/behind_proxy.ts); absent: neither. */
  proxy?: ProxySettings;
  /** `--health-path` and whether the server is draining (lib/server/health.ts). */
  health?: HealthState;
  /** The connection caps (total and per address, across workers); released on close. */
  limiter?: ConnLimiter;
}

/** The state of one connection, as the sweeper and shutdown see it. */
export interface ConnState {
  readonly conn: Deno.TcpConn | Deno.TlsConn;
  /** Connection id and the peer as `host:port` (empty when nothing is logged), for the log. */
  readonly id: number;
  readonly peer: string;
  /** Absolute time (ms) after which the sweeper closes a "busy" connection; 0 = none. */
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
  /** `sent` where the current response's body begins (after its head): `sent` minus this is
   * the body bytes actually sent, once positive (for the log of a response cut short). */
  bodyFrom: number;
  /** The user the current request was let in as (or refused as), for the log; null when no
   * access control or no name. */
  user?: string | null;
  /** Behind a proxy: the proxy as `host:port` ("" when none), whether the peer's
   * X-Forwarded-For / Forwarded are believed, and the client the current request names there
   * ("" when none: `peer` stands). See lib/server/behind_proxy.ts. */
  via: string;
  forwarded: boolean;
  fwdClient: string;
  /** Bytes the kernel has accepted on it (heads included), for the minimum rate. */
  sent: number;
  /** The minimum-rate bucket (lib/server/min_rate.ts); `rateAt` 0: not measuring (reset at
   * each idle wait). */
  rateAt: number;
  rateMark: number;
  rateBalance: number;
  rateFrom: number;
  rateFromSent: number;
  /** A large response body in progress (its buffers can be taken back when it stalls). */
  stream: BodyStream | null;
  /** What {@linkcode ConnLimiter.acquire} gave it (-1: nothing to release). */
  limitToken: number;
  /** Largest single body write: {@linkcode TLS_WRITE_BYTES} on TLS, else Infinity. */
  maxWrite: number;
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
];

/** A field the plain-head fast path never takes (lib/http/plain_head.ts), but after the full
 * parse only its value decides: wanting sha-256 (a Ferry client's `sha-256=10`) gets the
 * default answer, cached; declining it (`sha-256=0`) gets one without Repr-Digest, not cached. */
export const DIGEST_PREFERENCE_FIELD = "want-repr-digest";

/** A GET/HEAD whose answer depends on the target alone. Seven Map lookups (~35 ns, whatever the
 * number of fields; a pass over the fields is faster for one field, slower for a browser's
 * eight). */
function isPlain(head: RequestHead): boolean {
  if (head.method !== "GET" && head.method !== "HEAD") return false;
  for (const f of CONDITIONAL_FIELDS) if (head.headers.has(f)) return false;
  const want = head.headers.get(DIGEST_PREFERENCE_FIELD);
  return want === undefined || wantsSha256(want);
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
  const minRate = ctx.limits.minRate ?? 0;
  const windowMs = ctx.limits.rateWindowMs ?? 0;
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
    } else if (s.deadline > 0) {
      s.stream?.releaseIfStalled(now);
      if (minRate > 0 && windowMs > 0) {
        const why = rateVerdict(s, s.sent, now, minRate, windowMs);
        if (why !== null) closeConn(s, why);
      }
    }
  });
}

/** Writes all of `p`, refreshing the write deadline on every bit of progress. */
async function writeAll(state: ConnState, p: Uint8Array, timeoutMs: number): Promise<void> {
  let off = 0;
  while (off < p.length) {
    if (off > 0) ensureNoDelay(state); // a short write: the rest goes out in more segments
    state.deadline = turnMs() + timeoutMs;
    const n = await state.conn.write(off === 0 ? p : p.subarray(off));
    off += n;
    state.sent += n;
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
    // A Deno.TlsConn has no setNoDelay; there the runtime's own setting stands.
    if ("setNoDelay" in state.conn) state.conn.setNoDelay(true);
  } catch { /* the peer may already be gone */ }
}

function headBytes(reply: Reply, keepAlive: boolean, http10: boolean): string {
  const fields: Array<[string, string]> = [["Date", currentDate()], ["Server", serverField]];
  for (const f of reply.fields) fields.push(f);
  if (!keepAlive) fields.push(["Connection", "close"]);
  // HTTP/1.0 persistence is opt-in on both sides (RFC 9112 §9.3, RFC 2068 §19.7.1): a 1.0
  // client that asked keeps the connection only if told so (ab -k waits for its timeout else).
  else if (http10) fields.push(["Connection", "keep-alive"]);
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

/** Sends a reply: head, then the in-memory body or the file parts. */
async function sendReply(
  state: ConnState,
  reply: Reply,
  isHead: boolean,
  keepAlive: boolean,
  ctx: ServerContext,
  http10 = false,
): Promise<void> {
  const timeoutMs = ctx.limits.writeTimeoutMs;
  const head = encoder.encode(headBytes(reply, keepAlive, http10));
  state.bodyFrom = state.sent + head.length;
  const file = reply.file;
  if (isHead || (reply.body === undefined && file === undefined && reply.stream === undefined)) {
    file?.handle.close();
    await writeAll(state, head, timeoutMs);
    return;
  }
  if (reply.stream !== undefined) {
    // A body produced while sending (folder archives): it writes exactly reply.length bytes
    // or throws, and the caller closes the connection mid-body.
    ensureNoDelay(state);
    await writeAll(state, head, timeoutMs);
    await reply.stream((p) => writeAll(state, p, timeoutMs));
    return;
  }
  if (reply.body !== undefined && reply.body.length > ONE_WRITE_MAX_BYTES) {
    ensureNoDelay(state);
    await writeAll(state, head, timeoutMs);
    await writeAll(state, reply.body, timeoutMs);
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
      parts.length === 1 && parts[0].prefix === undefined && reply.length <= ONE_WRITE_MAX_BYTES
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

/** How a connection came in: through a proxy, and its place under the connection caps. */
export interface ArrivedVia {
  /** Who is behind the proxy it came through (lib/server/behind_proxy.ts). */
  via?: Via;
  /** What {@linkcode ConnLimiter.acquire} gave it (-1: nothing to release). @default -1 */
  limitToken?: number;
}

/** Serves one connection until it closes. Never throws. */
export async function serveConnection(
  conn: Deno.TcpConn | Deno.TlsConn,
  ctx: ServerContext,
  arrived: ArrivedVia = {},
): Promise<void> {
  const { via, limitToken = -1 } = arrived;
  const id = ctx.nextId;
  ctx.nextId += ctx.idStep;
  const started = ctx.log.enabled ? turnPerfMs() : 0; // for the log only
  const reader = new ConnReader(conn, { recycle: true });
  // getpeername costs a syscall: only when something is logged.
  const peer = via !== undefined ? via.client : !ctx.log.enabled ? "" : formatAddr(conn.remoteAddr);
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
    bodyFrom: 0,
    via: via?.proxy ?? "",
    // Only the log and the auth gate's failure limiter use the client.
    forwarded: (ctx.log.enabled || !!ctx.auth) && (via?.forwarded ?? false),
    fwdClient: "",
    sent: 0,
    rateAt: 0,
    rateMark: 0,
    rateBalance: 0,
    rateFrom: 0,
    rateFromSent: 0,
    stream: null,
    limitToken,
    maxWrite: ctx.tls ? TLS_WRITE_BYTES : Infinity,
  };
  ctx.conns.add(state);
  let requests = 0;

  try {
    if (ctx.tls) {
      if (!await startTls(state, ctx, via)) return;
    } else if (ctx.log.enabled) logConnection(id, conn, ctx, via, null);
    while (!state.closed) {
      state.phase = "head";
      state.waitStart = turnMs();
      state.readMark = reader.bytesRead;
      state.headStart = 0;
      // null when the plain path read the head (then `buf[hs, he)` still holds it, for the
      // full parse a cache miss needs).
      let head: RequestHead | null;
      let buf: Uint8Array | undefined = undefined;
      let hs = 0;
      let he: number;
      let headAt: number;
      try {
        // Idle wait first (cheap in memory: the read is awaited right here, in no frame of
        // its own), then the head, usually already whole.
        if (reader.buffered === 0) state.rateAt = 0; // nothing asked: the rate bucket restarts
        if (reader.buffered === 0 ? reader.filled(await reader.readRaw()) === null : false) {
          state.why = "peer closed";
          break;
        }
        if (reader.takeHeadSpan(MAX_HEAD_BYTES)) {
          buf = reader.buffer;
          hs = reader.spanStart;
          he = reader.spanEnd;
        } else {
          if (state.first && !ctx.tls && isTlsHello(reader.buffer)) {
            state.why = "TLS handshake sent to the plain-HTTP port";
            break;
          }
          const got = await reader.readHead(HEAD_LIMITS);
          if (got === null) {
            state.why = "peer closed";
            break;
          }
          buf = got;
          he = got.length;
        }
        state.phase = "busy";
        // The busy phase has a deadline too: finding, opening or listing what to send must
        // make progress within the write timeout, like every write after it (writeAll pushes
        // it on). Nothing here should block, but a stuck file system must not hold the
        // connection forever.
        state.deadline = turnMs() + ctx.limits.writeTimeoutMs;
        state.first = false;
        headAt = ctx.log.enabled ? turnPerfMs() : 0; // for the access log only
        // From a trusted proxy the fields are needed (X-Forwarded-For), and with access control
        // too (Authorization): the full parse. The client the last request named is forgotten
        // first: a head that fails to parse names none.
        state.fwdClient = "";
        head = !state.forwarded && !ctx.auth && readPlainHead(buf, hs, he)
          ? null
          : parseRequestHead(buf, hs, he);
        if (state.forwarded) {
          state.fwdClient = forwardedClient(head!, ctx.proxy!.trusted);
        }
      } catch (e) {
        if (state.closed) break;
        if (e instanceof HttpError) {
          if (await answerBadHead(state, e, ctx, buf, hs)) continue;
        } else if (e instanceof UnexpectedEofError) state.why = "peer closed mid-head";
        else state.why = "read error";
        break;
      }

      requests++;
      const more = !ctx.draining && requests < ctx.limits.maxRequests;
      // The health path answers without credentials: a balancer's check sends none, and it
      // tells nothing about DIR (checkHealthPath keeps it from naming a file).
      if (ctx.auth && !isHealthTarget(head!.target, ctx.health)) {
        const h = head!;
        const go = await authorize(state, h, more && h.keepAlive && !h.hasBody, ctx, headAt);
        if (go !== null) {
          if (go) continue;
          break;
        }
      }
      if (head === null || isPlain(head)) {
        // Copied out of `plain` before any await: other connections' heads overwrite it.
        const method = head === null ? plain.method : head.method;
        const target = head === null ? plain.target : head.target;
        const version = head === null ? plain.version : head.version;
        const hasBody = head !== null && head.hasBody;
        const keepAlive = more && !hasBody && (head === null ? plain.keepAlive : head.keepAlive);
        const now = turnMs();
        const date = currentDate(now);
        // The cached heads say nothing of keep-alive, which an HTTP/1.0 response must.
        const hit = keepAlive && version === "HTTP/1.0"
          ? undefined
          : ctx.files.cache.lookup(target, keepAlive, dateSecond, date, now);
        if (hit !== undefined) {
          const isHead = method === "HEAD";
          // One plain write; the loop only if it was short.
          const out = isHead ? hit.bytes.subarray(0, hit.headLength) : hit.bytes;
          // Read before the write's await, while `plain` still holds this head.
          const ua = !ctx.log.enabled
            ? undefined
            : head === null
            ? userAgentOf(buf)
            : head.headers.get("user-agent");
          try {
            state.deadline = now + ctx.limits.writeTimeoutMs;
            const n = await conn.write(out);
            state.sent += n;
            if (n < out.length) await writeAll(state, out.subarray(n), ctx.limits.writeTimeoutMs);
          } catch {
            if (!state.closed) state.why = "write failed";
            break;
          }
          state.deadline = 0;
          const sent = isHead ? 0 : hit.bodyLength;
          state.bytesOut += sent;
          logRequest(ctx, state, method, target, version, hit.status, sent, headAt, ua);
          if (!keepAlive) {
            state.why = closeReason(ctx, hasBody);
            break;
          }
          continue;
        }
        // A miss: the full parse, which a head the plain path read always passes.
        head ??= parseRequestHead(buf!, hs, he!);
      }
      if (!await answer(state, head, more && head.keepAlive && !head.hasBody, ctx, headAt)) break;
    }
  } catch {
    state.why = "error";
  } finally {
    ctx.conns.delete(state);
    if (limitToken >= 0) ctx.limiter?.release(limitToken);
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
async function answerBadHead(
  state: ConnState,
  e: HttpError,
  ctx: ServerContext,
  buf: Uint8Array | undefined,
  hs: number,
): Promise<boolean> {
  state.phase = "busy";
  state.deadline = turnMs() + ctx.limits.writeTimeoutMs;
  const reply = replyForError(e);
  const keep = !reply.close && !ctx.draining;
  // The request line as sent, for the log (escaped there): "-" only when no head was read.
  const line = ctx.log.enabled && buf !== undefined ? requestLineOf(buf, hs) : undefined;
  await sendReply(state, reply, false, keep, ctx);
  logRequest(
    ctx,
    state,
    line?.[0] ?? "-",
    line?.[1] ?? "-",
    line?.[2] ?? "-",
    reply.status,
    reply.length,
    turnPerfMs(),
  );
  if (!keep) state.why = `bad request (${reply.status})`;
  return keep;
}

/**
 * The access-control gate, before routing: resolves to null when the request may go on (as
 * `state.user`), else to whether the connection stays open after the 401 or 429 was sent.
 */
async function authorize(
  state: ConnState,
  head: RequestHead,
  keepAlive: boolean,
  ctx: ServerContext,
  headAt: number,
): Promise<boolean | null> {
  // Refused attempts are counted per client: behind a trusted proxy, the one it names (else all
  // its clients would share one count, and one guesser would lock out everyone).
  const ip = state.fwdClient !== ""
    ? state.fwdClient
    : state.peer !== ""
    ? state.peer.replace(/^\[?(.*?)\]?:\d+$/, "$1")
    : (state.conn.remoteAddr as Deno.NetAddr).hostname;
  const v = await ctx.auth!.check(head.headers.get("authorization"), ip);
  if (v.user !== undefined) {
    state.user = v.user;
    return null;
  }
  state.user = v.refused === null ? null : `${v.refused} (refused)`;
  const keep = await answer(state, head, keepAlive, ctx, headAt, v.reply);
  state.user = null;
  return keep;
}

/**
 * Answers a request the small-file cache did not: files.respond (or the reply `given`), then
 * the reply. Resolves to whether the connection stays open; if not, `state.why` says why.
 */
async function answer(
  state: ConnState,
  head: RequestHead,
  keepAlive: boolean,
  ctx: ServerContext,
  headAt: number,
  given?: Reply,
): Promise<boolean> {
  let reply: Reply;
  try {
    reply = given ??
      (ctx.health !== undefined ? healthReply(head, ctx.health) : undefined) ??
      await ctx.files.respond(head);
  } catch (e) {
    reply = replyForError(e);
  }
  // A body we do not read could be taken for the next request: answer, then close.
  const keep = keepAlive && !reply.close;
  const ua = head.headers.get("user-agent");
  try {
    await sendReply(state, reply, head.method === "HEAD", keep, ctx, head.version === "HTTP/1.0");
  } catch (e) {
    if (!state.closed) {
      state.why = e instanceof TruncatedFileError
        ? "file truncated while sending"
        : reply.stream !== undefined && !(e instanceof Deno.errors.BrokenPipe) &&
            !(e instanceof Deno.errors.ConnectionReset)
        ? "archive source changed while sending"
        : "write failed";
    }
    // The body bytes that did go out (the head excluded), and that the response was cut.
    const sent = Math.max(0, state.sent - state.bodyFrom);
    state.bytesOut += sent;
    logRequest(
      ctx,
      state,
      head.method,
      head.target,
      head.version,
      reply.status,
      sent,
      headAt,
      ua,
      true,
    );
    return false;
  }
  state.deadline = 0;
  const sent = head.method === "HEAD" ? 0 : reply.length;
  state.bytesOut += sent;
  logRequest(ctx, state, head.method, head.target, head.version, reply.status, sent, headAt, ua);
  if (!keep) state.why = closeReason(ctx, head.hasBody);
  return keep;
}

/** Logs one answered request (method, target and version "-" for a head of which no line was
 * read); `aborted` when the response was cut short, `bytes` then being the body bytes that were
 * sent. Nothing is built when logging is off. */
function logRequest(
  ctx: ServerContext,
  state: ConnState,
  method: string,
  target: string,
  version: string,
  status: number,
  bytes: number,
  headAt: number,
  userAgent?: string,
  aborted = false,
): void {
  if (!ctx.log.enabled) return;
  // Behind a proxy, the client it names and the proxy beside it.
  const fwd = state.fwdClient;
  const proxy = fwd !== "" ? state.peer : state.via;
  ctx.log.access({
    conn: state.id,
    peer: fwd !== "" ? fwd : state.peer,
    proxy: proxy !== "" ? proxy : undefined, // JSON.stringify leaves it out
    method,
    target,
    version,
    status,
    bytes,
    ms: turnPerfMs() - headAt,
    userAgent: userAgent ?? null,
    aborted,
    user: state.user ?? undefined,
  });
}

/** The User-Agent value the plain path found in `buf` (ASCII there), if any. */
function userAgentOf(buf: Uint8Array | undefined): string | undefined {
  if (buf === undefined || plain.uaEnd <= plain.uaStart) return undefined;
  return decodeLatin1(buf.subarray(plain.uaStart, plain.uaEnd));
}

/** Longest request line kept for the log of a refused head. */
const LOGGED_LINE_CHARS = 1024;

/** Method, target and version of the first line of the head at `buf[hs]`, split at its first
 * and last space, one char per byte (the log escapes them); the line cut to
 * {@linkcode LOGGED_LINE_CHARS}. */
function requestLineOf(buf: Uint8Array, hs: number): [string, string, string] {
  let i = hs;
  while (i < buf.length && (buf[i] === 13 || buf[i] === 10)) i++; // leading empty lines
  let end = buf.indexOf(10, i);
  if (end < 0) end = buf.length;
  if (end > i && buf[end - 1] === 13) end--;
  const line = decodeLatin1(buf.subarray(i, Math.min(end, i + LOGGED_LINE_CHARS)));
  const a = line.indexOf(" ");
  const b = line.lastIndexOf(" ");
  if (a < 0) return ["-", line, "-"];
  if (b === a) return [line.slice(0, a), line.slice(a + 1), "-"];
  return [line.slice(0, a), line.slice(a + 1, b), line.slice(b + 1)];
}

/** Why a connection closes after a response that did not keep it alive. */
function closeReason(ctx: ServerContext, hadBody: boolean): string {
  return ctx.draining ? "shutdown" : hadBody ? "request had a body" : "close";
}

/** Logs the connection's parameters once the reverse lookup answers (bounded), off the path
 * of serving. */
function logConnection(
  id: number,
  conn: Deno.Conn,
  ctx: ServerContext,
  via: Via | undefined,
  tls: TlsInfo | null,
): void {
  const { headTimeoutMs, idleTimeoutMs, writeTimeoutMs } = ctx.limits;
  const params = describeConn(conn, {
    timeoutsMs: { head: headTimeoutMs, idle: idleTimeoutMs, write: writeTimeoutMs },
    tls,
  });
  let host = (conn.remoteAddr as Deno.NetAddr).hostname;
  if (via !== undefined && via.proxy !== "") {
    // The client the PROXY header named is the peer; the proxy stands beside it.
    params.peer = via.client;
    params.proxy = via.proxy;
    host = via.client.replace(/^\[?(.*?)\]?:\d+$/, "$1");
  }
  if (ctx.dns === null) {
    ctx.log.connection(id, params);
    return;
  }
  ctx.dns.lookup(host).then((name) => {
    params.hostName = name;
    params.reverseName = name;
    ctx.log.connection(id, params);
  });
}

/**
 * Runs the TLS handshake of a new connection, then logs the connection with its TLS fields.
 * The handshake counts as the first head's wait, so the sweeper's head timeout ends a stalled
 * one. Kept out of serveConnection so that its locals are not stored with every idle
 * connection. Resolves to false (with `state.why` set) when the handshake failed.
 */
async function startTls(state: ConnState, ctx: ServerContext, via?: Via): Promise<boolean> {
  let tls: TlsInfo;
  try {
    tls = await serverHandshake(state.conn as Deno.TlsConn, performance.now());
  } catch (e) {
    if (!state.closed) state.why = handshakeFailure(e);
    return false;
  }
  if (ctx.log.enabled) logConnection(state.id, state.conn, ctx, via, tls);
  return true;
}

/** Whether a connection's first bytes are a TLS handshake record (content type 22, version
 * 3.x: RFC 8446 §5.1) rather than a request line — a client speaking https to a plain port.
 * Checked only when the first head is not yet whole, so never on the fast path. */
function isTlsHello(buf: Uint8Array): boolean {
  return buf[0] === 0x16 && buf[1] === 0x03;
}

/** The reply sent to a connection accepted over the connection cap. */
export function overloadReply(): Reply {
  return errorReply(STATUS.ServiceUnavailable, "Service Unavailable", [["Retry-After", "1"]], true);
}
