/**
 * End to end, folder archives under the resource rules of lib/server/stream_body.ts, against the
 * real `server.ts`:
 *
 * - 50 stalled archive downloads (each asks for a ~10 MiB folder as tar or zip and reads
 *   nothing) cost ≤ 64 KiB of server RSS each, beyond a warm-up set of 100: the output starts with
 *   small buffers, and 1 MiB buffers come from the shared budget only for a client that keeps
 *   up (before the merge with resources: two 1 MiB buffers and up to 2 MiB read ahead each).
 * - `--write-timeout` closes an archive download whose client reads nothing, and `--min-rate` one
 *   whose client trickles; both are logged (the request as aborted, with the bytes sent).
 *
 * Linux only (/proc/PID/status). Every loop is bounded in count and time; only memory is
 * asserted, never time.
 *
 * @module
 */

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { startServer } from "./raw.ts";
import { closeAll, rssKiB, STALLED_SERVER_ARGS, threads } from "./proc_mem.ts";

const KIB = 1024;
const MIB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A folder `f` of 40 files of 64 KiB (read ahead whole when there is room) and one of 8 MiB. */
async function makeSite(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-archive-resources-" });
  await Deno.mkdir(join(dir, "f"));
  const small = new Uint8Array(64 * KIB).fill(0x61);
  for (let i = 0; i < 40; i++) {
    await Deno.writeFile(join(dir, "f", `s${i}.bin`), small);
  }
  const big = new Uint8Array(8 * MIB);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  await Deno.writeFile(join(dir, "f", "big.bin"), big);
  return dir;
}

/** A connection that sent `GET path` and reads nothing at all. */
function stalled(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on("error", () => {});
    socket.setTimeout(20_000, () => reject(new Error("no connection in 20 s")));
  });
}

Deno.test("stalled archive downloads cost at most 64 KiB of server memory each (3 rounds of 100)", async () => {
  const dir = await makeSite();
  const server = await startServer(dir, [...STALLED_SERVER_ARGS]);
  const sockets: Socket[] = [];
  try {
    const pid = server.proc.pid;
    // Ten at a time, each ten given time to reach its stalled write: what is measured is what
    // a stalled archive holds, not the high-water mark of many archives produced at once.
    const batch = async (n: number) => {
      for (let i = 0; i < n; i += 10) { // bounded by n
        const got = await Promise.all(
          Array.from(
            { length: Math.min(10, n - i) },
            (_, k) => stalled(server.port, `/f/?download=${(i + k) % 2 ? "zip" : "tar"}`),
          ),
        );
        sockets.push(...got);
        await sleep(300);
      }
    };
    // Warm-up: the first archives, the JIT, the heap and the allocator's arenas grown to their
    // working size (after 10 only, 50 more opened at once measured 400 KiB each, of which ~50
    // KiB in V8's heap and buffers: the rest was that growth, not held per connection).
    for (let i = 0; i < 2; i++) await batch(50);
    await sleep(2_000); // every walk has reached its stalled write
    // Three rounds of 100, each measured on its own. What a stalled archive holds shows in
    // every round; on top of it the process grows now and then in steps that are not held per
    // connection (V8 and the allocator: +5–18 MiB at once, in one or two rounds of three here;
    // one run measured 167, 52 and 89 KiB per connection, another 189, 65 and 50). So the
    // cheapest round is held to the bar — a response that pinned its 1 MiB buffers (2.1–2.4
    // MiB per connection before the merge with the memory budget) fails every round — and
    // the median to a loose one, so that steady growth cannot hide behind one good round.
    const PER_ROUND = 100;
    const rounds: number[] = [];
    for (let r = 0; r < 3; r++) {
      const before = rssKiB(pid);
      await batch(PER_ROUND);
      await sleep(1_500);
      const after = rssKiB(pid);
      rounds.push((after - before) / PER_ROUND);
      console.log(
        `[archive resources] ${PER_ROUND} stalled archives: RSS ${(before / 1024).toFixed(1)} → ` +
          `${(after / 1024).toFixed(1)} MiB, ${rounds[r].toFixed(1)} KiB per connection; ` +
          `threads ${threads(pid)}, fds ${[...Deno.readDirSync(`/proc/${pid}/fd`)].length}`,
      );
    }
    const [least, median] = rounds.sort((a, b) => a - b);
    assert.ok(least <= 64, `${least.toFixed(1)} KiB per stalled archive download (cheapest round)`);
    assert.ok(median <= 256, `${median.toFixed(1)} KiB per stalled archive download (median)`);
  } finally {
    await closeAll(sockets);
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Waits (bounded) until the server's log has a line matching `re`. */
async function logLine(stdout: () => string, re: RegExp, ms: number): Promise<string | undefined> {
  for (let i = 0; i < ms / 100; i++) {
    const line = stdout().split("\n").find((l) => re.test(l));
    if (line !== undefined) return line;
    await sleep(100);
  }
  return undefined;
}

Deno.test("--write-timeout and --min-rate close stalled and trickling archive downloads", async (t) => {
  const dir = await makeSite();
  try {
    await t.step("a client that reads nothing: write timeout, logged aborted", async () => {
      const server = await startServer(dir, ["--write-timeout", "1", "--min-rate", "0"]);
      const sockets: Socket[] = [];
      try {
        sockets.push(await stalled(server.port, "/f/?download=tar"));
        const close = await logLine(server.stdout, /reason=write timeout/, 15_000);
        assert.ok(close !== undefined, "closed at the write timeout");
        const req = await logLine(
          server.stdout,
          /"GET \/f\/\?download=tar HTTP\/1\.1" 200 /,
          5_000,
        );
        console.log(`[archive resources] ${req}`);
        assert.match(req ?? "", / aborted$/);
      } finally {
        await closeAll(sockets);
        await server.stop();
      }
    });
    await t.step("a client that trickles: too slow under --min-rate", async () => {
      const server = await startServer(dir, [
        "--min-rate",
        "16384",
        "--min-rate-window",
        "1",
        "--write-timeout",
        "60",
      ]);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      try {
        await conn.write(
          new TextEncoder().encode("GET /f/?download=zip HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
        // 4 KiB every 0.5 s: a quarter of the minimum, yet every read refreshes --write-timeout.
        const buf = new Uint8Array(4096);
        let line: string | undefined;
        for (let i = 0; i < 30 && line === undefined; i++) { // at most 15 s
          await sleep(500);
          line = server.stdout().split("\n").find((l) => /reason=too slow/.test(l));
          if (line === undefined) await conn.read(buf).catch(() => null);
        }
        console.log(`[archive resources] ${line}`);
        assert.ok(line !== undefined, "the trickle reader was dropped within 15 s");
      } finally {
        try {
          conn.close();
        } catch { /* closed by the server */ }
        await server.stop();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
