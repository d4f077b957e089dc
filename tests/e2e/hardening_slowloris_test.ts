/**
 * End to end, hardening (issue 6): slow and silent clients against the real `server.ts`.
 *
 * - Slowloris: 1,000 connections, opened in batches of 100, each sending its request head one
 *   byte a second, against `--head-timeout 2`: every one is closed by the server at about the
 *   head timeout, while ordinary 1 MiB downloads keep completing promptly.
 * - Idle keep-alive connections close at `--idle-timeout`; a connection that never sends a byte
 *   closes at `--head-timeout`.
 *
 * Every loop is bounded in count and time, and every socket is closed and every read awaited.
 * Figures are printed (`[hardening] ...`) for the report.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { rawRequest, startServer } from "./raw.ts";

const HEAD_TIMEOUT_S = 2;
const HEAD_TIMEOUT_MS = HEAD_TIMEOUT_S * 1000;
/** Slow connections, opened BATCH at a time. 1,000 sockets on each side fit easily under the
 * usual 20,000-descriptor limit (checked below). */
const SLOW_CONNECTIONS = 1_000;
const BATCH = 100;
/** A slow client sends one byte of its head this often. */
const BYTE_EVERY_MS = 1_000;
/** A slow client gives up (and counts as not closed by the server) this long after connecting. */
const SLOW_GIVE_UP_MS = HEAD_TIMEOUT_MS + 4_000;
/** The server must have closed each slow connection within this of connecting: the head timeout,
 * plus the sweeper's 250 ms granularity, plus slack for a loaded machine. */
const CLOSE_BOUND_MS = HEAD_TIMEOUT_MS + 1_000;
/** Ordinary downloads during the attack, and the bound on each (a liveness check). */
const DOWNLOADS = 20;
const DOWNLOAD_BOUND_MS = 2_000;
const MIB = 1024 * 1024;

const HEAD = new TextEncoder().encode("GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fdLimit(): number {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const m = /^Max open files\s+(\d+)/m.exec(limits);
    return m === null ? Infinity : Number(m[1]);
  } catch {
    return Infinity;
  }
}

function openFds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

async function makeSite(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-hardening-slow-" });
  const big = new Uint8Array(MIB);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  await Deno.writeFile(join(dir, "1m.bin"), big);
  await Deno.writeTextFile(join(dir, "small.txt"), "small\n");
  return dir;
}

/** One slowloris connection: what happened to it, in ms since it connected. */
interface Slow {
  connectedAt: number;
  /** When the server closed it (EOF, reset, or a failed write), relative to connectedAt. */
  closedAfter?: number;
  how?: "eof" | "reset" | "write failed";
  /** Bytes of the head sent before the close. */
  sent: number;
  /** Whether the server sent anything at all (it should just close). */
  gotData: boolean;
}

/** Connects, then dribbles the head one byte per second until the server closes the connection
 * or SLOW_GIVE_UP_MS passes. `connected` resolves once the socket is open. */
function slowClient(port: number): { connected: Promise<void>; done: Promise<Slow> } {
  const connected = Promise.withResolvers<void>();
  const done = (async (): Promise<Slow> => {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch (e) {
      connected.reject(e);
      throw e;
    }
    const s: Slow = { connectedAt: performance.now(), sent: 0, gotData: false };
    connected.resolve();
    const buf = new Uint8Array(1024);
    let ended: "eof" | "reset" | undefined;
    const watch = (async () => {
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) {
            ended = "eof";
            break;
          }
          s.gotData = true;
        }
      } catch {
        ended ??= "reset";
      }
      s.closedAfter ??= performance.now() - s.connectedAt;
      s.how ??= ended;
    })();
    try {
      while (s.how === undefined && performance.now() - s.connectedAt < SLOW_GIVE_UP_MS) {
        if (s.sent < HEAD.length - 1) {
          try {
            await conn.write(HEAD.subarray(s.sent, s.sent + 1));
            s.sent++;
          } catch {
            s.closedAfter ??= performance.now() - s.connectedAt;
            s.how ??= "write failed";
            break;
          }
        }
        // Sleep a second, or less if the server closes meanwhile.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([watch, new Promise((r) => (timer = setTimeout(r, BYTE_EVERY_MS)))]);
        clearTimeout(timer);
      }
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
      await watch;
    }
    return s;
  })();
  // The caller awaits `done`; a failed connect is reported there too.
  connected.promise.catch(() => {});
  return { connected: connected.promise, done };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

Deno.test({
  name:
    "slowloris: 1,000 dribbling connections are closed at the head timeout while downloads go on",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const limit = fdLimit();
    assert.ok(
      limit >= 2 * SLOW_CONNECTIONS + 200,
      `the descriptor limit (${limit}) is too low for ${SLOW_CONNECTIONS} connections on both ` +
        `ends; raise ulimit -n`,
    );
    const dir = await makeSite();
    const server = await startServer(dir, [
      "--log",
      "text",
      "--no-dns",
      "--head-timeout",
      String(HEAD_TIMEOUT_S),
      // All 1,000 come from 127.0.0.1: this test is about the head timeout, not the per-address
      // cap (tested in resources_test.ts).
      "--max-connections-per-ip",
      "0",
    ]);
    const http = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    const clients: Array<Promise<Slow>> = [];
    try {
      const fdsBefore = openFds(server.proc.pid);
      const t0 = performance.now();
      for (let b = 0; b < SLOW_CONNECTIONS / BATCH; b++) {
        const batch = Array.from({ length: BATCH }, () => slowClient(server.port));
        for (const c of batch) clients.push(c.done);
        await Promise.all(batch.map((c) => c.connected));
        await sleep(20);
      }
      const openedMs = performance.now() - t0;
      await sleep(200);
      const fdsHeld = openFds(server.proc.pid);

      // Ordinary downloads, spread over the time the slow connections are held.
      const latencies: number[] = [];
      for (let i = 0; i < DOWNLOADS; i++) {
        const t = performance.now();
        const res = await fetch(`${server.url}1m.bin`, {
          client: http,
          signal: AbortSignal.timeout(10_000),
        });
        const body = new Uint8Array(await res.arrayBuffer());
        latencies.push(performance.now() - t);
        assert.equal(res.status, 200);
        assert.equal(body.length, MIB);
        await sleep(60);
      }

      const slows = await Promise.all(clients);
      const totalMs = performance.now() - t0;
      const closed = slows.filter((s) => s.closedAfter !== undefined && s.how !== undefined);
      const times = closed.map((s) => s.closedAfter!).sort((a, b) => a - b);
      // Most connections open at once, from the clients' own timestamps.
      const events: Array<[number, number]> = [];
      for (const s of slows) {
        events.push([s.connectedAt, 1]);
        events.push([s.connectedAt + (s.closedAfter ?? SLOW_GIVE_UP_MS), -1]);
      }
      events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let open = 0;
      let held = 0;
      for (const [, d] of events) held = Math.max(held, open += d);
      const how: Record<string, number> = {};
      for (const s of closed) how[s.how!] = (how[s.how!] ?? 0) + 1;

      await server.stop();
      const headTimeoutLines = server.stdout().split("\n").filter((l) =>
        / close .*reason=head timeout$/.test(l)
      ).length;
      const sorted = [...latencies].sort((a, b) => a - b);
      console.log(
        `[hardening] slowloris: ${SLOW_CONNECTIONS} connections opened in ${
          openedMs.toFixed(0)
        } ms (batches of ${BATCH}); at most ${held} held at once; server fds ${fdsBefore} → ` +
          `${fdsHeld} during the hold; ${closed.length} closed by the server (${
            JSON.stringify(how)
          }) after min ${times[0]?.toFixed(0)} / p50 ${percentile(times, 0.5)?.toFixed(0)} / p99 ${
            percentile(times, 0.99)?.toFixed(0)
          } / max ${
            times.at(-1)?.toFixed(0)
          } ms from connect (head timeout ${HEAD_TIMEOUT_MS} ms); "reason=head timeout" ` +
          `log lines: ${headTimeoutLines}; ${DOWNLOADS} downloads of 1 MiB meanwhile: min ${
            sorted[0].toFixed(0)
          } / p50 ${percentile(sorted, 0.5).toFixed(0)} / max ${
            sorted.at(-1)!.toFixed(0)
          } ms; whole run ${totalMs.toFixed(0)} ms`,
      );

      assert.ok(held >= SLOW_CONNECTIONS * 0.95, `only ${held} slow connections held at once`);
      assert.ok(
        fdsHeld >= fdsBefore + SLOW_CONNECTIONS * 0.95,
        `the server held ${fdsHeld - fdsBefore} sockets`,
      );
      assert.equal(closed.length, SLOW_CONNECTIONS, "every slow connection closed by the server");
      assert.equal(slows.filter((s) => s.gotData).length, 0, "closed without a response");
      assert.ok(
        times[0] >= HEAD_TIMEOUT_MS - 100,
        `a slow connection was closed after ${times[0].toFixed(0)} ms, before the head timeout`,
      );
      assert.ok(
        times.at(-1)! <= CLOSE_BOUND_MS,
        `a slow connection was still open ${times.at(-1)!.toFixed(0)} ms after connecting`,
      );
      assert.ok(
        sorted.at(-1)! < DOWNLOAD_BOUND_MS,
        `a download took ${sorted.at(-1)!.toFixed(0)} ms under slowloris`,
      );
      assert.equal(headTimeoutLines, SLOW_CONNECTIONS, "one close line with the reason each");
    } finally {
      http.close();
      await Promise.allSettled(clients);
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an idle keep-alive connection closes at --idle-timeout; a silent one at --head-timeout",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await makeSite();
    const server = await startServer(dir, [
      "--log",
      "text",
      "--no-dns",
      "--idle-timeout",
      "1",
      "--head-timeout",
      "2",
    ]);
    try {
      // Both at once: one request then silence, and silence from the start.
      const [idle, silent] = await Promise.all([
        rawRequest(server.port, "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {
          timeoutMs: 5_000,
        }),
        rawRequest(server.port, "", { timeoutMs: 5_000 }),
      ]);
      await server.stop();
      const reasons = server.stdout().split("\n").filter((l) => / close /.test(l))
        .map((l) => /reason=(.*)$/.exec(l)?.[1]).sort();
      console.log(
        `[hardening] idle keep-alive closed after ${idle.ms.toFixed(0)} ms (--idle-timeout 1), ` +
          `silent connection after ${silent.ms.toFixed(0)} ms (--head-timeout 2); ` +
          `log reasons: ${reasons.join(", ")}`,
      );
      assert.equal(idle.status, 200);
      assert.ok(idle.text.endsWith("small\n"), "the response arrived before the close");
      assert.ok(idle.closed && !idle.timedOut, "the idle connection was closed by the server");
      assert.ok(idle.ms >= 900 && idle.ms <= 2_000, `idle close after ${idle.ms.toFixed(0)} ms`);
      assert.equal(silent.bytes.length, 0, "nothing is sent to a silent connection");
      assert.ok(silent.closed && !silent.timedOut, "the silent connection was closed");
      assert.ok(
        silent.ms >= 1_900 && silent.ms <= 3_000,
        `silent close after ${silent.ms.toFixed(0)} ms`,
      );
      assert.deepEqual(reasons, ["head timeout", "idle"]);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
