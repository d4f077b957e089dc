/**
 * Unit tests of {@linkcode Logger}: text lines carry no raw control character whatever a client
 * (or its reverse DNS) puts in them, JSON lines parse one by one, the buffer stays bounded and
 * counts what it drops while the writer is blocked, and `flush()` writes everything, once, in
 * order.
 */

import assert from "node:assert/strict";
import { LOG_FLUSH_MS, Logger, MAX_LOG_BUFFER_BYTES, tenths } from "../../lib/server/log.ts";
import type { ConnParams } from "../../lib/net/conn_info.ts";

const decoder = new TextDecoder();

/** A writer that records what it gets; `gate()` makes writes wait until `release()`; it can
 * also write only `maxPerWrite` bytes per call, or fail. */
class Sink {
  chunks: Uint8Array[] = [];
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  maxPerWrite = Infinity;
  fail = false;
  #gate: PromiseWithResolvers<void> | undefined;

  gate(): void {
    this.#gate = Promise.withResolvers<void>();
  }

  release(): void {
    this.#gate?.resolve();
    this.#gate = undefined;
  }

  async write(p: Uint8Array): Promise<number> {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      while (this.#gate !== undefined) await this.#gate.promise;
      if (this.fail) throw new Deno.errors.BrokenPipe("stdout closed");
      const n = Math.min(p.length, this.maxPerWrite);
      this.chunks.push(p.slice(0, n));
      return n;
    } finally {
      this.inFlight--;
    }
  }

  text(): string {
    return decoder.decode(this.bytes());
  }

  bytes(): Uint8Array {
    const all = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of this.chunks) {
      all.set(c, off);
      off += c.length;
    }
    return all;
  }

  lines(): string[] {
    return this.text().split("\n").filter((l) => l !== "");
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bytes that would act on a terminal: C0 controls other than the line feed, DEL. */
function rawControls(bytes: Uint8Array): number[] {
  const bad: number[] = [];
  for (const b of bytes) if ((b < 0x20 && b !== 0x0a) || b === 0x7f) bad.push(b);
  return bad;
}

/** C1 controls (U+0080–U+009F) as characters: in UTF-8 output a terminal may act on them. */
function c1Controls(text: string): string[] {
  return [...text].filter((c) => c.charCodeAt(0) >= 0x80 && c.charCodeAt(0) <= 0x9f);
}

/** Hostile text: every C0 control, DEL, C1 CSI, quotes and backslashes, a bidi override. */
const NASTY = '\x1b[31mred\x1b[0m\r\nFAKE LINE\t\x00\x07\x08\x7f\x9b31m"q"\\\u202e';

function params(over: Partial<ConnParams> = {}): ConnParams {
  return {
    hostName: null,
    resolvedAddress: null,
    reverseName: null,
    peer: "127.0.0.1:50000",
    local: "127.0.0.1:8080",
    family: "AF_INET",
    type: "SOCK_STREAM",
    protocol: "TCP",
    protocolNumber: 6,
    timeoutsMs: { head: 10_000, idle: 30_000 },
    ...over,
  };
}

function access(target: string, conn = 1) {
  return {
    conn,
    peer: "127.0.0.1:50000",
    method: "GET",
    target,
    version: "HTTP/1.1",
    status: 404,
    bytes: 10,
    ms: 1.5,
  };
}

Deno.test("Logger text: a request target with control characters is escaped, one line per request", async () => {
  const sink = new Sink();
  const log = new Logger("text", sink);
  const targets = [NASTY, "/%1b[31mred", "/a\nb", "/\x1b]0;title\x07", "/plain"];
  for (const t of targets) log.access(access(t));
  await log.flush();
  const bytes = sink.bytes();
  assert.deepEqual(rawControls(bytes), [], `raw controls in ${JSON.stringify(sink.text())}`);
  assert.deepEqual(c1Controls(sink.text()), []);
  const lines = sink.lines();
  assert.equal(lines.length, targets.length, "one line per request, none split");
  assert.ok(lines[0].includes(String.raw`\x1b[31mred\x1b[0m\x0d\x0aFAKE LINE\x09`), lines[0]);
  assert.ok(lines[1].includes(`"GET /%1b[31mred HTTP/1.1" 404 10 1.5ms`), lines[1]);
  assert.ok(lines[4].includes(`"GET /plain HTTP/1.1"`), lines[4]);
});

/** The text lines that carry text from outside the server: the request target (the client's),
 * and the reverse-DNS name (the PTR record of the client's address is its owner's to write). */
const TEXT_CASES: Array<[string, (log: Logger) => void]> = [
  ["access(): target", (log) => log.access(access(NASTY))],
  [
    "connection(): a reverse-DNS host name (a PTR record is the client's to choose)",
    (log) => log.connection(7, params({ hostName: `evil${NASTY}.example`, reverseName: NASTY })),
  ],
];

for (const [name, write] of TEXT_CASES) {
  Deno.test(`Logger text: ${name} reaches the output with no raw control character`, async () => {
    const sink = new Sink();
    const log = new Logger("text", sink);
    write(log);
    await log.flush();
    const bytes = sink.bytes();
    assert.deepEqual(
      rawControls(bytes),
      [],
      `raw control bytes in ${JSON.stringify(sink.text())}`,
    );
    assert.deepEqual(c1Controls(sink.text()), []);
    assert.equal(sink.lines().length, 1, "exactly one line");
  });
}

Deno.test("Logger json: every kind of line is one valid JSON object that round-trips its fields", async () => {
  const sink = new Sink();
  const log = new Logger("json", sink);
  const odd = NASTY + "\u2028\u2029\ud800 é ✓";
  log.info(`start ${odd}`);
  log.warn(`warn ${odd}`);
  log.connection(3, params({ hostName: odd }));
  log.access(access(odd, 3));
  log.close(3, "127.0.0.1:50000", 1, 10, 12.5, "idle");
  await log.flush();
  const lines = sink.text().split("\n");
  assert.equal(lines.pop(), "", "the output ends with a newline");
  assert.equal(lines.length, 5);
  const objs = lines.map((l, i) => {
    try {
      return JSON.parse(l);
    } catch (e) {
      throw new Error(`line ${i} is not JSON: ${l}: ${(e as Error).message}`);
    }
  });
  assert.deepEqual(objs.map((o) => o.event), ["info", "warn", "connection", "request", "close"]);
  assert.equal(objs[0].message, `start ${odd.replace("\ud800", "\ud800")}`);
  assert.equal(objs[2].hostName, odd);
  assert.equal(objs[3].target, odd);
  assert.equal(objs[3].status, 404);
  assert.equal(objs[4].why, "idle");
  assert.equal(objs[4].requests, 1);
  for (const o of objs.slice(2)) assert.equal(typeof o.time, "string");
  // JSON escapes C0 controls; none may be raw in the output.
  for (const b of sink.bytes()) assert.ok(b >= 0x20 || b === 0x0a, `raw byte ${b}`);
});

Deno.test("Logger none: connection, request and close lines are not written", async () => {
  const sink = new Sink();
  const log = new Logger("none", sink);
  assert.equal(log.enabled, false);
  log.connection(1, params());
  log.access(access("/x"));
  log.close(1, "p", 0, 0, 0, "done");
  await log.flush();
  assert.equal(sink.text(), "");
});

Deno.test("Logger: lines are written together within LOG_FLUSH_MS, in order, without flush()", async () => {
  const sink = new Sink();
  const log = new Logger("text", sink);
  for (let i = 0; i < 100; i++) log.info(`line ${i}`);
  assert.equal(sink.calls, 0, "nothing is written synchronously");
  await sleep(LOG_FLUSH_MS + 100);
  assert.equal(sink.calls, 1, "one write for the batch");
  assert.deepEqual(sink.lines(), Array.from({ length: 100 }, (_, i) => `line ${i}`));
  await log.flush();
});

Deno.test("Logger.flush() writes what is pending at once; with nothing pending it resolves", async () => {
  const sink = new Sink();
  const log = new Logger("text", sink);
  await log.flush();
  assert.equal(sink.calls, 0);
  log.info("a");
  log.warn("b");
  const t = performance.now();
  await log.flush();
  assert.ok(performance.now() - t < LOG_FLUSH_MS, "flush did not wait for the timer");
  assert.equal(sink.text(), "a\nwarning: b\n");
  await sleep(LOG_FLUSH_MS + 30);
  assert.equal(sink.text(), "a\nwarning: b\n", "the cancelled timer wrote nothing more");
});

Deno.test("Logger.flush() waits for a write in progress and for lines logged meanwhile", async () => {
  const sink = new Sink();
  const log = new Logger("text", sink);
  sink.gate();
  log.info("first");
  await sleep(LOG_FLUSH_MS + 30); // the timer's write has started and is blocked
  assert.equal(sink.calls, 1);
  log.info("second");
  const flushed = log.flush();
  let done = false;
  flushed.then(() => (done = true));
  await sleep(20);
  assert.equal(done, false, "flush() cannot finish while the writer is blocked");
  sink.release();
  await flushed;
  assert.deepEqual(sink.lines(), ["first", "second"]);
});

Deno.test("Logger: partial writes are continued, no byte lost or repeated", async () => {
  const sink = new Sink();
  sink.maxPerWrite = 7;
  const log = new Logger("text", sink);
  const want: string[] = [];
  for (let i = 0; i < 50; i++) {
    want.push(`partial ${i} ✓`);
    log.info(want[i]);
  }
  await log.flush();
  assert.deepEqual(sink.lines(), want);
});

Deno.test("Logger: a blocked writer makes it drop lines, bounded, and say how many", async () => {
  const sink = new Sink();
  sink.gate();
  const log = new Logger("text", sink);
  const line = "x".repeat(99); // 100 bytes with its newline
  const total = 50_000; // 5 MB offered against a 1 MiB bound
  let i = 0;
  // Half before the first write starts, half while it is blocked.
  for (; i < total / 2; i++) log.info(`${line}${i}`);
  await sleep(LOG_FLUSH_MS + 30);
  assert.equal(sink.calls, 1, "the first write is in progress and blocked");
  for (; i < total; i++) log.info(`${line}${i}`);
  await sleep(LOG_FLUSH_MS + 30);
  assert.equal(sink.calls, 1, "nothing more is written while the writer is blocked");
  sink.release();
  await log.flush();

  // No single write (hence no buffer) was larger than the bound plus one line and the notice.
  const maxChunk = Math.max(...sink.chunks.map((c) => c.length));
  assert.ok(maxChunk <= MAX_LOG_BUFFER_BYTES + 300, `a write of ${maxChunk} bytes`);
  const written = sink.bytes().length;
  assert.ok(written <= 2 * (MAX_LOG_BUFFER_BYTES + 300), `${written} bytes written in all`);

  // Every offered line is either written, in order, or counted in a "dropped" notice.
  let kept = 0;
  let dropped = 0;
  let last = -1;
  for (const l of sink.lines()) {
    const m = /^\((\d+) log lines dropped: output too slow\)$/.exec(l);
    if (m !== null) {
      dropped += Number(m[1]);
      continue;
    }
    const n = Number(l.slice(line.length));
    assert.ok(n > last, "lines stay in order");
    last = n;
    kept++;
  }
  assert.ok(dropped > 0, "lines were dropped");
  assert.equal(kept + dropped, total, `${kept} written + ${dropped} dropped`);
});

Deno.test("Logger --log json under a flood: every line is JSON, the dropped count exact", async () => {
  const sink = new Sink();
  sink.gate();
  const log = new Logger("json", sink);
  const total = 30_000; // ~4 MB of JSON against the 1 MiB bound
  const entry = (i: number) => ({
    conn: i,
    peer: "127.0.0.1:1",
    method: "GET",
    target: `/f${i}`,
    version: "HTTP/1.1",
    status: 200,
    bytes: 1,
    ms: 0,
  });
  let i = 0;
  for (; i < total / 2; i++) log.access(entry(i));
  await sleep(LOG_FLUSH_MS + 30);
  for (; i < total; i++) log.access(entry(i));
  sink.release();
  await log.flush();
  let kept = 0;
  let dropped = 0;
  let notices = 0;
  let last = -1;
  for (const l of sink.lines()) {
    const e = JSON.parse(l); // throws on any line that is not JSON
    if (e.event === "dropped") {
      assert.ok(Number.isInteger(e.lines) && e.lines > 0 && typeof e.time === "string");
      dropped += e.lines;
      notices++;
      continue;
    }
    assert.equal(e.event, "request");
    assert.ok(e.conn > last, "lines stay in order");
    last = e.conn;
    kept++;
  }
  assert.ok(notices > 0 && dropped > 0, "lines were dropped, and said so");
  assert.equal(kept + dropped, total, `${kept} written + ${dropped} dropped`);
});

Deno.test("Logger: a failing writer stops logging quietly; later lines are still tried", async () => {
  const sink = new Sink();
  sink.fail = true;
  const log = new Logger("text", sink);
  log.info("lost");
  await log.flush(); // does not throw
  sink.fail = false;
  log.info("after");
  await log.flush();
  assert.equal(sink.text(), "after\n");
});

/** A writer whose writes complete only when the test says, each resolving in one step. */
class ManualSink {
  chunks: Uint8Array[] = [];
  pending: Array<(n: number) => void> = [];

  write(p: Uint8Array): Promise<number> {
    const { promise, resolve } = Promise.withResolvers<number>();
    this.pending.push((n) => {
      this.chunks.push(p.slice(0, n));
      resolve(n);
    });
    return promise;
  }

  text(): string {
    return this.chunks.map((c) => decoder.decode(c)).join("");
  }
}

/** Resolves after `hops` microtask turns. */
async function hops(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

Deno.test("Logger: a line logged just as a write completes is still written within LOG_FLUSH_MS", async () => {
  // When a write completes, other tasks resumed in the same turn of the event loop (socket and
  // stdout operations complete in batches) may log. Whatever the order of those microtasks, the
  // line must be written without waiting for some later line or a flush().
  const stranded: number[] = [];
  for (let k = 0; k <= 6; k++) {
    const sink = new ManualSink();
    const log = new Logger("text", sink);
    log.info("one");
    await sleep(LOG_FLUSH_MS + 20);
    const inFlight = () => sink.pending.length;
    assert.equal(inFlight(), 1, "the first write is in progress");
    sink.pending.shift()!(4);
    await hops(k);
    log.info("two");
    const end = Date.now() + LOG_FLUSH_MS + 300;
    while (inFlight() === 0 && Date.now() < end) await sleep(5);
    if (inFlight() === 0) stranded.push(k);
    // Complete whatever is in progress, then flush, so no timer or write is left behind.
    const finish = async () => {
      while (sink.pending.length > 0) {
        sink.pending.shift()!(1 << 20);
        await hops(10);
      }
    };
    await finish();
    const flushed = log.flush();
    await finish();
    await flushed;
    await finish();
    assert.equal(sink.text(), "one\ntwo\n", `k=${k}`);
  }
  assert.deepEqual(
    stranded,
    [],
    `logged ${stranded.join(", ")} microtask turn(s) after the write completed, "two" stayed ` +
      `unwritten for ${LOG_FLUSH_MS + 300} ms: it was pushed after #drain() had ended but ` +
      `before #writing was cleared, so no timer was set`,
  );
});

Deno.test("Logger: flush() and the timer never write at the same time", async () => {
  const sink = new Sink();
  sink.gate();
  const log = new Logger("text", sink);
  log.info("a");
  const flushed = log.flush(); // flush's own write of "a" starts and blocks
  log.info("b"); // logged during that write
  await sleep(LOG_FLUSH_MS + 50);
  const overlap = sink.maxInFlight;
  sink.release();
  await flushed;
  await log.flush();
  assert.deepEqual(sink.lines(), ["a", "b"]);
  assert.equal(
    overlap,
    1,
    "a second write started while flush()'s write was in progress: lines can interleave",
  );
});

Deno.test("tenths() writes a duration with one decimal, as toFixed(1) does", () => {
  for (
    const [ms, want] of [[0, "0.0"], [0.04, "0.0"], [0.06, "0.1"], [1.5, "1.5"], [9.96, "10.0"]]
  ) {
    assert.equal(tenths(ms as number), want, String(ms));
  }
  assert.equal(tenths(123456.78), "123456.8");
  // Away from exact halves (where binary fractions may round either way) it is toFixed(1).
  for (let i = 0; i < 10_000; i++) {
    const ms = (i * 7.31) % 5000 + 0.013;
    assert.equal(tenths(ms), ms.toFixed(1), String(ms));
  }
  // Outside the usual range it falls back to toFixed.
  assert.equal(tenths(-1), "-1.0");
  assert.equal(tenths(3e8), "300000000.0");
  assert.equal(tenths(Number.NaN), "NaN");
});
