/**
 * End to end, hardening (issue 6): the real `server.ts` at its resource limits.
 *
 * - Connection flood: with `--max-connections 50`, 200 connections → 50 served, 150 answered
 *   `503` + `Retry-After` and closed; the server stays up and serves 200 once they are gone.
 * - EMFILE: under `ulimit -n 64`, holding 100 connections exhausts the server's descriptors:
 *   it logs one warning (not one per failed accept), does not spin, and serves again after.
 * - Vanishing clients: 100 downloads of a 10 MiB file abandoned mid-body leave the server's
 *   open descriptors where they were.
 *
 * Linux only (`/proc/<pid>/fd`, `/proc/<pid>/stat`). Figures are printed (`[hardening] ...`).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { rawRequest, SERVER_TS, splitResponses, startServer } from "./raw.ts";

const MIB = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openFds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** User + system CPU time of a process, in clock ticks (1/100 s on Linux). */
function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of stat)
}

async function makeSite(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-hardening-limits-" });
  const big = new Uint8Array(10 * MIB);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  await Deno.writeFile(join(dir, "10m.bin"), big);
  await Deno.writeTextFile(join(dir, "small.txt"), "small\n");
  return dir;
}

/** Polls `cond` every 20 ms for at most `ms`; returns how long it took, or -1. */
async function waitFor(cond: () => boolean, ms: number): Promise<number> {
  const t = performance.now();
  while (!cond()) {
    if (performance.now() - t > ms) return -1;
    await sleep(20);
  }
  return performance.now() - t;
}

/** Reads from `conn` until EOF, reset or `ms`. A read left pending by the timeout is put in
 * `leftover`, for the caller to await once it has closed the connection. */
async function readAll(conn: Deno.TcpConn, ms: number, leftover: Promise<unknown>[]) {
  const parts: string[] = [];
  const buf = new Uint8Array(16 * 1024);
  let end: "eof" | "reset" | "timeout" = "timeout";
  const until = Date.now() + ms;
  while (Date.now() < until) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = conn.read(buf);
    const r = await Promise.race([
      read.then((n) => n, () => "reset" as const),
      new Promise<"timeout">((ok) => (timer = setTimeout(() => ok("timeout"), until - Date.now()))),
    ]);
    clearTimeout(timer);
    if (r === "timeout") {
      leftover.push(read.catch(() => null)); // settles when the caller closes the connection
      break;
    }
    if (r === "reset" || r === null) {
      end = r === null ? "eof" : "reset";
      break;
    }
    parts.push(decoder.decode(buf.subarray(0, r)));
  }
  return { text: parts.join(""), end };
}

/** A raw client connection that reads everything in the background until EOF or reset. */
class Peer {
  readonly conn: Deno.TcpConn;
  chunks: Uint8Array[] = [];
  total = 0;
  end: "eof" | "reset" | undefined;
  #own = false;
  #task: Promise<void>;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
    this.#task = this.#read();
  }

  static async open(port: number, request?: string): Promise<Peer> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const p = new Peer(conn);
    if (request !== undefined) {
      try {
        await conn.write(encoder.encode(request));
      } catch { /* the server may have closed already: the reader sees it */ }
    }
    return p;
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) {
          this.end = "eof";
          return;
        }
        this.chunks.push(buf.slice(0, n));
        this.total += n;
      }
    } catch {
      if (!this.#own) this.end = "reset";
    }
  }

  bytes(): Uint8Array {
    const all = new Uint8Array(this.total);
    let off = 0;
    for (const c of this.chunks) {
      all.set(c, off);
      off += c.length;
    }
    return all;
  }

  async close(): Promise<void> {
    this.#own = true;
    try {
      this.conn.close();
    } catch { /* closed */ }
    await this.#task;
  }
}

Deno.test({
  name: "connection flood: over --max-connections, 503 + close; the server stays up",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await makeSite();
    const server = await startServer(dir, ["--log", "none", "--max-connections", "50"]);
    const peers: Peer[] = [];
    try {
      const t0 = performance.now();
      for (let i = 0; i < 200; i++) {
        peers.push(
          await Peer.open(server.port, "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        );
      }
      const openedMs = performance.now() - t0;
      // Every connection has either a complete 200 (kept alive) or a 503 and the close.
      const settled = () =>
        peers.every((p) =>
          p.end !== undefined || splitResponses(p.bytes()).some((r) => r.status === 200)
        );
      const settleMs = await waitFor(settled, 5_000);
      await sleep(200); // a late close of a served connection would show here
      const kinds: Record<string, number> = {};
      let retryAfter = 0;
      for (const p of peers) {
        const rs = splitResponses(p.bytes());
        const key = `${rs.map((r) => r.status).join("+") || "none"}/${p.end ?? "open"}`;
        kinds[key] = (kinds[key] ?? 0) + 1;
        if (rs[0]?.status === 503 && /\r\nRetry-After: 1(\r\n|$)/i.test(rs[0].head)) retryAfter++;
      }
      // While the 50 are held, one more connection is refused the same way.
      const extra = await rawRequest(
        server.port,
        "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      );
      const fdsHeld = openFds(server.proc.pid);
      await Promise.all(peers.map((p) => p.close()));
      // Once they are closed, an ordinary request is served.
      let after = await rawRequest(
        server.port,
        "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      );
      const t1 = performance.now();
      while (after.status !== 200 && performance.now() - t1 < 3_000) {
        await sleep(50);
        after = await rawRequest(
          server.port,
          "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
      }
      console.log(
        `[hardening] flood: 200 connections opened in ${openedMs.toFixed(0)} ms against ` +
          `--max-connections 50, settled in ${settleMs.toFixed(0)} ms: ${
            JSON.stringify(kinds)
          } (status/end); ${retryAfter} of the 503s carry Retry-After: 1; a 201st while held: ` +
          `${extra.status} closed=${extra.closed}; server fds while held ${fdsHeld}; after ` +
          `closing them: ${after.status} after ${(performance.now() - t1).toFixed(0)} ms`,
      );
      assert.ok(settleMs >= 0, "every connection answered within 5 s");
      assert.deepEqual(kinds, { "200/open": 50, "503/eof": 150 });
      assert.equal(retryAfter, 150);
      assert.equal(extra.status, 503);
      assert.ok(extra.closed);
      assert.equal(after.status, 200);
      assert.ok(after.text.endsWith("small\n"));
      const status = await server.stop();
      assert.equal(status.code, 0, "the server was still running, and stopped cleanly");
    } finally {
      await Promise.all(peers.map((p) => p.close()));
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** The descriptor limit for the EMFILE test: Deno starts and serves under it (it needs about
 * 25 descriptors here, pipes included), and 100 connections exceed it. */
const FD_LIMIT = 64;
const EMFILE_CONNECTIONS = 100;

/** `server.ts` started by bash under `ulimit -n FD_LIMIT` (exec: same pid). */
async function startLimited(dir: string) {
  const proc = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -n ${FD_LIMIT} && exec "$0" run -A "$1" --log text --no-dns 0 "$2"`,
      Deno.execPath(),
      SERVER_TS,
      dir,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = { text: "" };
  const err = { text: "" };
  const drain = async (s: ReadableStream<Uint8Array>, sink: { text: string }) => {
    try {
      for await (const c of s) sink.text += decoder.decode(c, { stream: true });
    } catch { /* gone */ }
  };
  const drained = Promise.all([drain(proc.stdout, out), drain(proc.stderr, err)]);
  let exited = false;
  const status = proc.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        proc.kill("SIGTERM");
      } catch { /* exited */ }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((r) => {
      timer = setTimeout(() => {
        try {
          proc.kill("SIGKILL");
        } catch { /* exited */ }
        r();
      }, 15_000);
    });
    const s = await Promise.race([status, killed.then(() => status)]);
    clearTimeout(timer);
    await drained;
    return s;
  };
  const deadline = Date.now() + 30_000;
  let m: RegExpExecArray | null;
  while ((m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out.text)) === null) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`server did not start under ulimit -n ${FD_LIMIT}: ${err.text}`);
    }
    await sleep(25);
  }
  return { port: Number(m[1]), pid: proc.pid, out, err, stop };
}

Deno.test({
  name: "EMFILE: out of descriptors, the server warns once, does not spin, and recovers",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await makeSite();
    const server = await startLimited(dir);
    const conns: Deno.TcpConn[] = [];
    const leftover: Promise<unknown>[] = [];
    try {
      const fdsBefore = openFds(server.pid);
      const warnings = () => server.out.text.split("\n").filter((l) => l.startsWith("warning:"));
      for (let i = 0; i < EMFILE_CONNECTIONS; i++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      }
      // The server accepts until its descriptors run out; the rest wait in the backlog.
      await waitFor(() => warnings().length > 0, 2_000);
      await sleep(300);
      const fdsHeld = openFds(server.pid);
      const warnedWhileHeld = warnings().length;
      const cpu0 = cpuTicks(server.pid);
      const t = performance.now();
      await sleep(1_000);
      const cpuMs = (cpuTicks(server.pid) - cpu0) * 10;
      const overMs = performance.now() - t;
      const warnedAfterSecond = warnings().length;
      // A connection accepted before the limit asks for a file the server cannot open now.
      const first = conns[0];
      await first.write(
        encoder.encode("GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
      );
      const answer = await readAll(first, 3_000, leftover);

      for (const c of conns.splice(0)) c.close();
      const t1 = performance.now();
      const r = await rawRequest(
        server.port,
        "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        { timeoutMs: 5_000 },
      );
      const recoverMs = performance.now() - t1;
      await sleep(200);
      const all = warnings();
      const fdsAfter = openFds(server.pid);
      console.log(
        `[hardening] EMFILE: ulimit -n ${FD_LIMIT}, server fds ${fdsBefore} at start, ` +
          `${fdsHeld} with ${EMFILE_CONNECTIONS} connections pending; CPU ${cpuMs} ms over ` +
          `${overMs.toFixed(0)} ms while out of descriptors; warnings while held ` +
          `${warnedWhileHeld}, a second later ${warnedAfterSecond}; a request on an accepted connection ` +
          `meanwhile: ${answer.text.split("\r\n")[0] || "(nothing)"} (${answer.end}); ` +
          `after closing them: status ` +
          `${r.status} in ${recoverMs.toFixed(0)} ms; fds ${fdsAfter}; all warnings: ${
            JSON.stringify(all)
          }`,
      );
      assert.ok(fdsHeld >= FD_LIMIT - 2, `the server reached its limit (${fdsHeld} fds)`);
      assert.equal(warnedWhileHeld, 1, "one warning when accept starts failing");
      assert.equal(warnedAfterSecond, 1, "no further warning while it keeps failing");
      assert.match(all[0], /accept failed \(.*(Too many open files|os error 24).*\)/);
      assert.ok(cpuMs <= 150, `the server used ${cpuMs} ms of CPU in a second: it spins`);
      assert.match(answer.text, /^HTTP\/1\.1 [45]\d\d /, "an error answer, not a hang");
      assert.equal(answer.end, "eof");
      assert.equal(r.status, 200, "served again once descriptors are free");
      assert.ok(r.text.endsWith("small\n"));
      assert.ok(
        all.filter((l) => l.includes("accept failed")).length <= 5,
        "a handful of warnings, not one per failed accept",
      );
      assert.ok(fdsAfter <= fdsBefore + 2, `fds ${fdsBefore} → ${fdsAfter}`);
    } finally {
      for (const c of conns) c.close();
      await Promise.all(leftover);
      const s = await server.stop();
      await Deno.remove(dir, { recursive: true });
      assert.equal(s.code, 0, `exit ${s.code}: ${server.err.text}`);
    }
  },
});

Deno.test({
  name: "vanishing clients: 100 downloads dropped mid-body leave no descriptor behind",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = await makeSite();
    const server = await startServer(dir, ["--log", "none"]);
    const pid = server.proc.pid;
    try {
      // Warm up: one whole download (the background digest of the file opens it once).
      const warm = await rawRequest(
        server.port,
        "GET /10m.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        { timeoutMs: 10_000 },
      );
      assert.equal(warm.status, 200);
      let before = openFds(pid);
      for (let i = 0; i < 50; i++) {
        await sleep(50);
        const n = openFds(pid);
        if (n === before) break;
        before = n;
      }
      let peak = before;
      let aborted = 0;
      const one = async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        try {
          await conn.write(encoder.encode("GET /10m.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
          const buf = new Uint8Array(64 * 1024);
          let got = 0;
          const end = Date.now() + 5_000;
          while (got < 100 * 1024 && Date.now() < end) {
            const n = await conn.read(buf);
            if (n === null) break;
            got += n;
          }
          assert.ok(got >= 100 * 1024, `only ${got} bytes before the server closed`);
          peak = Math.max(peak, openFds(pid));
          aborted++;
        } finally {
          conn.close();
        }
      };
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 10 }, one));
      const abortMs = performance.now() - t0;
      const justAfter = openFds(pid);
      const settleMs = await waitFor(() => openFds(pid) <= before + 2, 5_000);
      const after = openFds(pid);
      const ok = await rawRequest(
        server.port,
        "GET /small.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      );
      console.log(
        `[hardening] vanishing clients: ${aborted} downloads of 10 MiB dropped after ~100 KiB ` +
          `(10 at a time) in ${
            abortMs.toFixed(0)
          } ms; server fds before ${before}, peak ${peak}, ` +
          `right after ${justAfter}, settled ${after} after ${settleMs.toFixed(0)} ms`,
      );
      assert.equal(aborted, 100);
      assert.ok(settleMs >= 0, `fds stayed at ${after} (baseline ${before}) for 5 s`);
      assert.ok(Math.abs(after - before) <= 2, `fds ${before} → ${after}`);
      assert.equal(ok.status, 200);
    } finally {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
