/**
 * Unit tests of the connection deadlines: {@linkcode sweep} over fake connection states with a
 * fake clock (the `now` argument), and {@linkcode serveConnection} over a scripted fake socket,
 * a fake file server and a logger that records, so that head, idle and write timeouts — and the
 * reason each close is logged with — are checked without a real socket or a real wait beyond a
 * second.
 */

import assert from "node:assert/strict";
import {
  type ConnectionLimits,
  ConnSet,
  type ConnState,
  overloadReply,
  serveConnection,
  type ServerContext,
  sweep,
} from "../../lib/server/connection.ts";
import type { FileServer, Reply } from "../../lib/server/files.ts";
import type { Logger } from "../../lib/server/log.ts";
import type { ConnReader } from "../../lib/net/head_reader.ts";

const LIMITS: ConnectionLimits = {
  headTimeoutMs: 2_000,
  idleTimeoutMs: 1_000,
  writeTimeoutMs: 3_000,
  maxRequests: 100,
};

/** A connection state as the sweeper sees it, with a socket that only counts its closes. */
interface FakeState extends ConnState {
  closes: number;
  reader: ConnReader & { bytesRead: number; buffered: number };
}

function fakeState(over: Partial<ConnState> & { bytesRead?: number; buffered?: number } = {}) {
  const state = {
    closes: 0,
    deadline: 0,
    phase: "head",
    waitStart: 1_000_000,
    first: true,
    readMark: 0,
    headStart: 0,
    closed: false,
    why: "done",
    reader: { bytesRead: over.bytesRead ?? 0, buffered: over.buffered ?? 0 },
  } as unknown as FakeState;
  const conn = {
    close() {
      state.closes++;
      if (state.closes > 1) throw new Deno.errors.BadResource("closed twice");
    },
  };
  Object.assign(state, over, { conn });
  delete (state as unknown as Record<string, unknown>).bytesRead;
  delete (state as unknown as Record<string, unknown>).buffered;
  return state;
}

function ctxOf(states: ConnState[], limits = LIMITS): ServerContext {
  const conns = new ConnSet();
  for (const s of states) conns.add(s);
  return { limits, conns } as unknown as ServerContext;
}

// ---------------------------------------------------------------------------------------------
// sweep(): one table of (state, clock) → open, or closed with a reason

interface SweepCase {
  name: string;
  state: Partial<ConnState> & { bytesRead?: number; buffered?: number };
  /** Offset of the sweep's clock from waitStart (1_000_000). */
  at: number;
  /** undefined: still open; else the reason it was closed with. */
  closed?: string;
}

const T0 = 1_000_000;

const SWEEP_CASES: SweepCase[] = [
  // First request: the head timeout runs from accept, whatever has arrived.
  { name: "first head, nothing sent, at the head timeout", state: {}, at: 2_000 },
  {
    name: "first head, nothing sent, just past the head timeout",
    state: {},
    at: 2_001,
    closed: "head timeout",
  },
  {
    name: "first head, bytes dribbling in, past the head timeout (no extension per byte)",
    state: { bytesRead: 5 },
    at: 2_001,
    closed: "head timeout",
  },
  {
    name: "first head is not subject to the (shorter) idle timeout",
    state: {},
    at: 1_500,
  },
  // Keep-alive: idle timeout until a byte of the next head is seen.
  {
    name: "keep-alive, idle, at the idle timeout",
    state: { first: false },
    at: 1_000,
  },
  {
    name: "keep-alive, idle, past the idle timeout",
    state: { first: false },
    at: 1_001,
    closed: "idle",
  },
  {
    name: "keep-alive, a head begun (bytes read since the mark): the head timeout applies",
    state: { first: false, readMark: 100, bytesRead: 101 },
    at: 1_001,
  },
  {
    name: "keep-alive, a pipelined head already buffered: the head timeout applies",
    state: { first: false, readMark: 100, bytesRead: 100, buffered: 30 },
    at: 1_500,
  },
  {
    name: "keep-alive, head seen by an earlier sweep, past its head timeout",
    state: { first: false, headStart: T0 + 500, readMark: 100, bytesRead: 120 },
    at: 2_501,
    closed: "head timeout",
  },
  {
    name: "keep-alive, head seen by an earlier sweep, within its head timeout",
    state: { first: false, headStart: T0 + 500, readMark: 100, bytesRead: 120 },
    at: 2_500,
  },
  // Busy: only the write deadline counts, and 0 means none.
  {
    name: "busy without a write deadline, long after everything",
    state: { phase: "busy", deadline: 0 },
    at: 1e9,
  },
  {
    name: "busy, at the write deadline",
    state: { phase: "busy", deadline: T0 + 3_000 },
    at: 3_000,
  },
  {
    name: "busy, past the write deadline",
    state: { phase: "busy", deadline: T0 + 3_000 },
    at: 3_001,
    closed: "write timeout",
  },
  {
    name: "busy, past the head and idle timeouts but not the write deadline",
    state: { phase: "busy", deadline: T0 + 9_000, first: false },
    at: 8_000,
  },
];

for (const c of SWEEP_CASES) {
  Deno.test(`sweep(): ${c.name} → ${c.closed ?? "open"}`, () => {
    const s = fakeState(c.state);
    sweep(ctxOf([s]), T0 + c.at);
    if (c.closed === undefined) {
      assert.equal(s.closed, false);
      assert.equal(s.closes, 0);
    } else {
      assert.equal(s.closed, true);
      assert.equal(s.why, c.closed);
      assert.equal(s.closes, 1);
    }
  });
}

Deno.test("sweep() marks when a keep-alive head began, and times it from that sweep", () => {
  const s = fakeState({ first: false, readMark: 10, bytesRead: 10 });
  const ctx = ctxOf([s]);
  sweep(ctx, T0 + 400);
  assert.equal(s.headStart, 0, "no byte yet: no head start");
  s.reader.bytesRead = 11;
  sweep(ctx, T0 + 900);
  assert.equal(s.headStart, T0 + 900);
  // Past the idle timeout, but the head timeout (from T0+900) has not run out.
  sweep(ctx, T0 + 900 + LIMITS.headTimeoutMs);
  assert.equal(s.closed, false);
  sweep(ctx, T0 + 901 + LIMITS.headTimeoutMs);
  assert.equal(s.closed, true);
  assert.equal(s.why, "head timeout");
});

Deno.test("sweep() closes a connection once, keeps the first reason, and survives close() errors", () => {
  const a = fakeState({ phase: "busy", deadline: T0 + 1 });
  const already = fakeState({ closed: true, why: "peer closed" });
  const b = fakeState({});
  const ctx = ctxOf([a, already, b]);
  sweep(ctx, T0 + 10_000);
  sweep(ctx, T0 + 20_000);
  assert.equal(a.closes, 1);
  assert.equal(a.why, "write timeout");
  assert.equal(already.closes, 0, "a closed connection is not closed again");
  assert.equal(already.why, "peer closed");
  assert.equal(b.closes, 1);
  assert.equal(b.why, "head timeout");

  // A socket whose close() throws (already gone) does not stop the sweep of the others.
  const broken = fakeState({});
  (broken as unknown as { conn: { close(): void } }).conn = {
    close() {
      throw new Deno.errors.BadResource("gone");
    },
  };
  const after = fakeState({});
  sweep(ctxOf([broken, after]), T0 + 10_000);
  assert.equal(broken.closed, true);
  assert.equal(after.closed, true);
});

Deno.test("sweep() over 10,000 connections closes exactly the expired ones", () => {
  const states: FakeState[] = [];
  for (let i = 0; i < 10_000; i++) {
    // Every third one waits for its first head since T0 - i ms; the others are busy.
    states.push(
      i % 3 === 0
        ? fakeState({ waitStart: T0 - i })
        : fakeState({ phase: "busy", deadline: i % 2 === 0 ? 0 : T0 + i }),
    );
  }
  const now = T0 + 2_000;
  const t = performance.now();
  sweep(ctxOf(states), now);
  const ms = performance.now() - t;
  for (let i = 0; i < states.length; i++) {
    const s = states[i];
    const want = i % 3 === 0 ? i > 0 : i % 2 === 1 && T0 + i < now;
    assert.equal(s.closed, want, `state ${i}`);
  }
  assert.ok(ms < 200, `a sweep of 10,000 connections took ${ms.toFixed(1)} ms`);
});

Deno.test("overloadReply() is a 503 that closes and says when to retry", () => {
  const r = overloadReply();
  assert.equal(r.status, 503);
  assert.equal(r.close, true);
  assert.ok(r.fields.some(([k, v]) => k === "Retry-After" && v === "1"));
  assert.equal(r.length, r.body?.length);
});

// ---------------------------------------------------------------------------------------------
// serveConnection() over a scripted socket: the deadlines as the real loop sets them

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How a fake socket answers a write. */
type WriteMode =
  | { kind: "fast" }
  | { kind: "slow"; bytesPerWrite: number; delayMs: number }
  | { kind: "stall" };

/** A scripted `Deno.TcpConn`: reads come from `feed()`, writes are recorded, and `close()`
 * makes pending operations fail as Deno's do. */
class FakeConn {
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 50000 };
  readonly localAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 8080 };
  written: Uint8Array[] = [];
  closed = false;
  writeMode: WriteMode = { kind: "fast" };
  #chunks: Uint8Array[] = [];
  #reader: PromiseWithResolvers<number | null> & { p: Uint8Array } | undefined;
  #stalled: PromiseWithResolvers<number>[] = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();

  feed(text: string): void {
    this.#chunks.push(encoder.encode(text));
    this.#pump();
  }

  /** The peer closes its side: reads see EOF. */
  end(): void {
    this.#chunks.push(new Uint8Array(0));
    this.#pump();
  }

  #pump(): void {
    if (this.#reader === undefined || this.#chunks.length === 0) return;
    const r = this.#reader;
    this.#reader = undefined;
    const c = this.#chunks.shift()!;
    if (c.length === 0) return r.resolve(null);
    const n = Math.min(c.length, r.p.length);
    r.p.set(c.subarray(0, n));
    if (n < c.length) this.#chunks.unshift(c.subarray(n));
    r.resolve(n);
  }

  read(p: Uint8Array): Promise<number | null> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    const r = { ...Promise.withResolvers<number | null>(), p };
    this.#reader = r;
    this.#pump();
    return r.promise;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    const m = this.writeMode;
    if (m.kind === "fast") {
      this.written.push(p.slice());
      return Promise.resolve(p.length);
    }
    if (m.kind === "stall") {
      const w = Promise.withResolvers<number>();
      this.#stalled.push(w);
      return w.promise;
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        if (this.closed) return reject(new Deno.errors.BadResource("closed"));
        const n = Math.min(p.length, m.bytesPerWrite);
        this.written.push(p.slice(0, n));
        resolve(n);
      }, m.delayMs);
      this.#timers.add(t);
    });
  }

  close(): void {
    if (this.closed) throw new Deno.errors.BadResource("closed twice");
    this.closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#reader?.reject(new Deno.errors.Interrupted("operation canceled"));
    this.#reader = undefined;
    for (const w of this.#stalled) w.reject(new Deno.errors.Interrupted("operation canceled"));
    this.#stalled = [];
  }

  setNoDelay(): void {}

  text(): string {
    return this.written.map((b) => decoder.decode(b)).join("");
  }

  bytes(): number {
    return this.written.reduce((n, b) => n + b.length, 0);
  }
}

/** A logger that remembers the close reasons and the access statuses. */
function recordingLog() {
  const closes: string[] = [];
  const statuses: number[] = [];
  const log = {
    enabled: true,
    connection() {},
    access(e: { status: number }) {
      statuses.push(e.status);
    },
    close(_id: number, _peer: string, _r: number, _b: number, _ms: number, why: string) {
      closes.push(why);
    },
    info() {},
    warn() {},
  };
  return { log: log as unknown as Logger, closes, statuses };
}

/** A file server whose every answer is `reply()`, after `gate` (if any) opens. */
function fakeFiles(reply: () => Reply, gate?: () => Promise<void>) {
  const seen: string[] = [];
  const files = {
    cache: { lookup: () => undefined },
    async respond(head: { target: string }) {
      seen.push(head.target);
      if (gate !== undefined) await gate();
      return reply();
    },
  };
  return { files: files as unknown as FileServer, seen };
}

function bodyReply(size: number): Reply {
  const body = new Uint8Array(size).fill(0x61);
  return {
    status: 200,
    fields: [["Content-Length", String(size)]],
    body,
    length: size,
  };
}

function context(files: FileServer, log: Logger, limits: Partial<ConnectionLimits> = {}) {
  return {
    files,
    log,
    dns: null,
    limits: { ...LIMITS, ...limits },
    conns: new ConnSet(),
    draining: false,
    nextId: 1,
    idStep: 1,
  } satisfies ServerContext;
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until `cond()` holds. */
async function until(cond: () => boolean, what: string, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await tick(2);
  }
}

const GET = (target: string) => `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`;

Deno.test("serveConnection(): a silent connection is closed at the head timeout, logged so", async () => {
  const conn = new FakeConn();
  const { log, closes } = recordingLog();
  const { files } = fakeFiles(() => bodyReply(1));
  const ctx = context(files, log);
  const done = serveConnection(conn as unknown as Deno.TcpConn, ctx);
  const [state] = ctx.conns;
  sweep(ctx, Date.now() + LIMITS.idleTimeoutMs + 10); // the idle timeout is not the first's
  assert.equal(conn.closed, false);
  sweep(ctx, state.waitStart + LIMITS.headTimeoutMs + 1);
  assert.equal(conn.closed, true);
  await done;
  assert.deepEqual(closes, ["head timeout"]);
  assert.equal(ctx.conns.size, 0);
});

Deno.test("serveConnection(): after a response, an idle keep-alive connection is closed at the idle timeout", async () => {
  const conn = new FakeConn();
  const { log, closes, statuses } = recordingLog();
  const { files } = fakeFiles(() => bodyReply(10));
  const ctx = context(files, log);
  const done = serveConnection(conn as unknown as Deno.TcpConn, ctx);
  conn.feed(GET("/a"));
  await until(() => statuses.length === 1, "the first response");
  await tick(); // the loop goes back to waiting for a head
  const [state] = ctx.conns;
  assert.equal(state.phase, "head");
  assert.equal(state.first, false);
  sweep(ctx, state.waitStart + LIMITS.idleTimeoutMs);
  assert.equal(conn.closed, false);
  sweep(ctx, state.waitStart + LIMITS.idleTimeoutMs + 1);
  assert.equal(conn.closed, true);
  await done;
  assert.deepEqual(closes, ["idle"]);
  assert.match(conn.text(), /^HTTP\/1\.1 200 /);
});

Deno.test("serveConnection(): a slow reader that keeps taking bytes is not write-timed-out", async () => {
  const conn = new FakeConn();
  // 24 writes of 1 KiB, 25 ms apart: 600 ms in all, against a write timeout of 250 ms.
  conn.writeMode = { kind: "slow", bytesPerWrite: 1024, delayMs: 25 };
  const { log, closes, statuses } = recordingLog();
  const { files } = fakeFiles(() => bodyReply(23 * 1024));
  const ctx = context(files, log, { writeTimeoutMs: 250 });
  const sweeper = setInterval(() => sweep(ctx), 10);
  try {
    const done = serveConnection(conn as unknown as Deno.TcpConn, ctx);
    conn.feed(`GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await until(() => conn.closed, "the close after the response", 3_000);
    await done;
  } finally {
    clearInterval(sweeper);
  }
  assert.deepEqual(statuses, [200]);
  assert.deepEqual(closes, ["close"], "closed after the response, not by a timeout");
  const text = conn.text();
  assert.ok(text.endsWith("a".repeat(23 * 1024)), "the whole body arrived");
});

Deno.test("serveConnection(): a reader that stops is closed at the write timeout, logged as write timeout", async () => {
  const conn = new FakeConn();
  conn.writeMode = { kind: "stall" };
  const { log, closes } = recordingLog();
  const { files } = fakeFiles(() => bodyReply(100_000));
  const ctx = context(files, log);
  const done = serveConnection(conn as unknown as Deno.TcpConn, ctx);
  conn.feed(GET("/big"));
  await until(() => [...ctx.conns].some((s) => s.deadline > 0), "the write to start");
  const [state] = ctx.conns;
  assert.equal(state.phase, "busy");
  sweep(ctx, state.deadline);
  assert.equal(conn.closed, false, "not before the deadline");
  sweep(ctx, state.deadline + 1);
  assert.equal(conn.closed, true);
  await done;
  assert.equal(ctx.conns.size, 0);
  // The sweeper closed it for a write timeout; the close line must say so. (It used to say
  // "write failed": the write's rejection overwrote the sweeper's reason.)
  assert.deepEqual(closes, ["write timeout"]);
});

Deno.test("serveConnection(): a keep-alive error reply leaves no stale write deadline on the next request", async () => {
  const conn = new FakeConn();
  const { log, statuses } = recordingLog();
  let open: (() => void) | undefined;
  const { files, seen } = fakeFiles(
    () => bodyReply(5),
    () => new Promise<void>((r) => (open = r)),
  );
  const ctx = context(files, log);
  const done = serveConnection(conn as unknown as Deno.TcpConn, ctx);
  // A 405 that keeps the connection open (no body, keep-alive) ...
  conn.feed(`DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n`);
  await until(() => statuses.length === 1, "the 405");
  assert.deepEqual(statuses, [405]);
  await tick();
  const [state] = ctx.conns;
  assert.equal(state.closed, false, "the 405 kept the connection");
  await tick(20);
  // ... then, later, a GET whose answer takes a moment to prepare (stat, open: the file
  // server is held at its gate). Its busy phase has a deadline of its own, counted from when
  // its head arrived — not the 405's old one.
  const sent = Date.now();
  conn.feed(GET("/next"));
  await until(() => seen.length === 1, "the GET to reach the file server");
  assert.equal(state.phase, "busy");
  assert.ok(
    state.deadline >= sent + LIMITS.writeTimeoutMs - 5,
    "the busy deadline counts from this request",
  );
  sweep(ctx, state.deadline);
  const closedEarly = conn.closed;
  const whyEarly = state.why;
  open?.();
  await until(() => statuses.length === 2 || conn.closed, "the GET's answer or the close");
  if (!conn.closed) {
    conn.end();
  }
  await done;
  assert.equal(
    closedEarly,
    false,
    `the sweeper closed the GET ("${whyEarly}") before its deadline`,
  );
  assert.deepEqual(statuses, [405, 200]);
});

Deno.test("serveConnection(): the busy phase has a deadline: a file server that never answers does not hold the connection", async () => {
  const conn = new FakeConn();
  const { log, closes } = recordingLog();
  let open: (() => void) | undefined;
  const { files, seen } = fakeFiles(
    () => bodyReply(5),
    () => new Promise<void>((r) => (open = r)),
  );
  const ctx = context(files, log);
  const done = serveConnection(conn as unknown as Deno.TcpConn, ctx);
  conn.feed(GET("/stuck"));
  await until(() => seen.length === 1, "the GET to reach the file server");
  const [state] = ctx.conns;
  assert.equal(state.phase, "busy");
  assert.ok(state.deadline > 0, "busy has a deadline");
  sweep(ctx, state.deadline + 1);
  assert.equal(conn.closed, true, "closed once the busy deadline passed");
  open?.();
  await done;
  assert.deepEqual(closes, ["write timeout"]);
});

Deno.test("serveConnection(): the loop ends, and the state leaves ctx.conns, when the peer closes", async () => {
  const conn = new FakeConn();
  const { log, closes } = recordingLog();
  const { files } = fakeFiles(() => bodyReply(3));
  const ctx = context(files, log);
  const done = serveConnection(conn as unknown as Deno.TcpConn, ctx);
  conn.feed(GET("/a") + GET("/b"));
  await tick(20);
  conn.end();
  await done;
  assert.equal(ctx.conns.size, 0);
  assert.deepEqual(closes, ["peer closed"]);
  assert.equal(
    conn.text().match(/HTTP\/1\.1 200 /g)?.length,
    2,
    "both pipelined requests answered",
  );
});

Deno.test("ConnSet: O(1) add and delete in any order, size, and iteration over a snapshot", () => {
  const set = new ConnSet();
  const states = Array.from({ length: 6 }, () => ({ slot: -1 }) as unknown as ConnState);
  for (const s of states) set.add(s);
  assert.equal(set.size, 6);
  // Middle, last, first: each time the last one moves into the hole.
  for (const i of [2, 5, 0]) set.delete(states[i]);
  assert.equal(set.size, 3);
  assert.deepEqual(new Set(set), new Set([states[1], states[3], states[4]]));
  for (const s of set) assert.equal([...set].indexOf(s), s.slot, "slots stay right");
  // Deleting twice, or a state never added, changes nothing.
  set.delete(states[2]);
  set.delete({ slot: 1 } as unknown as ConnState);
  assert.equal(set.size, 3);
  // Removing while iterating (as the sweeper's closes may) visits every state once.
  const seen: ConnState[] = [];
  for (const s of set) {
    seen.push(s);
    set.delete(s);
  }
  assert.equal(seen.length, 3);
  assert.equal(set.size, 0);
  set.add(states[0]);
  assert.deepEqual([...set], [states[0]]);
});

// HTTP/1.0 keep-alive, the User-Agent and cut responses in the access log

/** A logger that remembers every access entry. */
function entryLog() {
  const entries: Array<Record<string, unknown>> = [];
  const closes: string[] = [];
  const log = {
    enabled: true,
    connection() {},
    access(e: Record<string, unknown>) {
      entries.push(e);
    },
    close(_id: number, _peer: string, _r: number, _b: number, _ms: number, why: string) {
      closes.push(why);
    },
    info() {},
    warn() {},
  };
  return { log: log as unknown as Logger, entries, closes };
}

Deno.test("serveConnection(): HTTP/1.0 asking keep-alive is told Connection: keep-alive and kept", async () => {
  const conn = new FakeConn();
  const { log, entries } = entryLog();
  const { files } = fakeFiles(() => bodyReply(3));
  const ctx = context(files, log);
  const done = serveConnection(conn as unknown as Deno.TcpConn, ctx);
  conn.feed("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  await until(() => entries.length === 1, "the first answer");
  assert.match(conn.text(), /^HTTP\/1\.1 200 [^]*\r\nConnection: keep-alive\r\n\r\naaa$/);
  assert.equal(conn.closed, false);
  conn.feed("GET /b HTTP/1.0\r\n\r\n"); // no keep-alive asked: closed after
  await until(() => conn.closed, "the close");
  await done;
  const second = conn.text().slice(conn.text().indexOf("aaa") + 3);
  assert.match(second, /\r\nConnection: close\r\n/);
  assert.ok(!/keep-alive/i.test(second));
  // HTTP/1.1 says nothing of keep-alive: it is the default.
  const c11 = new FakeConn();
  const d11 = serveConnection(c11 as unknown as Deno.TcpConn, context(files, entryLog().log));
  c11.feed(GET("/c"));
  await until(() => c11.bytes() > 0, "the 1.1 answer");
  assert.ok(!/Connection:/i.test(c11.text()), c11.text());
  c11.end();
  await d11;
});

Deno.test("serveConnection(): the access log gets the User-Agent from both parsers", async () => {
  const conn = new FakeConn();
  const { log, entries } = entryLog();
  const { files } = fakeFiles(() => bodyReply(1));
  const done = serveConnection(conn as unknown as Deno.TcpConn, context(files, log));
  conn.feed("GET /plain HTTP/1.1\r\nHost: x\r\nUser-Agent: Wget/1.21\r\n\r\n");
  conn.feed("GET /full HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8\r\nRange: bytes=0-0\r\n\r\n");
  conn.feed(GET("/none"));
  await until(() => entries.length === 3, "three answers");
  conn.end();
  await done;
  assert.deepEqual(entries.map((e) => [e.target, e.userAgent, e.aborted]), [
    ["/plain", "Wget/1.21", false],
    ["/full", "curl/8", false],
    ["/none", null, false],
  ]);
});

Deno.test("serveConnection(): a streamed body that fails is cut: the log has the bytes sent and aborted", async () => {
  const conn = new FakeConn();
  const { log, entries, closes } = entryLog();
  const { files } = fakeFiles(() => ({
    status: 200,
    fields: [["Content-Length", "1000"]],
    length: 1000,
    stream: async (write) => {
      await write(new Uint8Array(300).fill(0x62));
      await write(new Uint8Array(100).fill(0x62));
      throw new Error("a file changed");
    },
  }));
  const done = serveConnection(conn as unknown as Deno.TcpConn, context(files, log));
  conn.feed(GET("/dir/?download=tar"));
  await done;
  assert.ok(conn.closed, "closed mid-body");
  assert.equal(conn.text().split("\r\n\r\n")[1], "b".repeat(400));
  assert.equal(entries.length, 1);
  assert.deepEqual([entries[0].status, entries[0].bytes, entries[0].aborted], [200, 400, true]);
  assert.deepEqual(closes, ["archive source changed while sending"]);
});

Deno.test("serveConnection(): a head that does not parse is logged with its request line", async () => {
  const conn = new FakeConn();
  const { log, entries } = entryLog();
  const { files } = fakeFiles(() => bodyReply(1));
  const done = serveConnection(conn as unknown as Deno.TcpConn, context(files, log));
  conn.feed("\r\nGET /a\x01b?c HTTP/1.1\r\nHost: x\r\n\r\n");
  await done;
  assert.deepEqual(
    [entries[0].method, entries[0].target, entries[0].version, entries[0].status],
    ["GET", "/a\x01b?c", "HTTP/1.1", 400],
  );
});

Deno.test("ConnSet.each: visits every connection once, also when it deletes the one it is given", () => {
  const set = new ConnSet();
  const states = Array.from({ length: 5 }, () => ({ slot: -1 }) as unknown as ConnState);
  for (const s of states) set.add(s);
  const seen: ConnState[] = [];
  set.each((s) => seen.push(s));
  assert.deepEqual(new Set(seen), new Set(states));
  assert.equal(seen.length, 5);
  // Deleting every other one during the walk (as a close could) skips and repeats none.
  const walked: ConnState[] = [];
  let k = 0;
  set.each((s) => {
    walked.push(s);
    if (k++ % 2 === 0) set.delete(s);
  });
  assert.equal(walked.length, 5);
  assert.equal(new Set(walked).size, 5);
  assert.equal(set.size, 2);
  for (const s of set) assert.equal([...set].indexOf(s), s.slot, "slots stay right");
});
