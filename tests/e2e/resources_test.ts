/**
 * End to end, resources (issue 11, items 4 and 6) against the real `server.ts`:
 *
 * - 1,000 stalled readers (each asks for an 8 MiB file and reads nothing) cost ≤ 64 KiB of
 *   server RSS each, beyond a warm-up set (before: ~900 KiB each).
 * - 1,000 idle connections that each sent a 20 KB head cost less than the 32 KiB head buffer
 *   each (before: 50–56 KiB; after: 17–20, most of it the parsed strings' heap).
 * - `--min-rate`: a reader taking 4 KiB every 0.5 s is dropped, and the close is logged with
 *   its rate; a fast download on the same server meanwhile is not.
 * - `--max-connections-per-ip`: the connection over the cap from one address gets 503 and is
 *   closed; another address is served; a slot freed is usable again.
 * - `--workers 4`: `--max-connections` and `--max-connections-per-ip` are totals across the
 *   workers, not per worker.
 *
 * Linux only (/proc/PID/status). Every loop is bounded in count and time. Figures are printed
 * (`[resources] ...`), and only memory is asserted, never time.
 */

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { startServer } from "./raw.ts";
import { closeAll, rssKiB, STALLED_SERVER_ARGS } from "./proc_mem.ts";

const MIB = 1 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function makeSite(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-resources-" });
  const big = new Uint8Array(8 * MIB);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  await Deno.writeFile(join(dir, "8m.bin"), big);
  await Deno.writeTextFile(join(dir, "small.txt"), "small\n");
  return dir;
}

/** A connection from `localAddress` that sent `GET path` (keep-alive) and reads nothing more
 * than the status line when `readStatus`; resolves once the status (or the close) is known. */
function open(
  port: number,
  path: string,
  o: { localAddress?: string; readStatus?: boolean } = {},
): Promise<{ socket: Socket; status: number; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    let head = "";
    const socket = connect({ host: "127.0.0.1", port, localAddress: o.localAddress }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      if (!o.readStatus) {
        socket.pause(); // read nothing at all
        resolve({ socket, status: 0, closed: () => closed });
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      if (o.readStatus) resolve({ socket, status: statusOf(head), closed: () => closed });
    });
    if (o.readStatus) {
      socket.on("data", (chunk: Uint8Array) => {
        head += new TextDecoder("latin1").decode(chunk);
        if (head.includes("\r\n")) {
          resolve({
            socket,
            status: statusOf(head),
            closed: () => closed,
          });
        }
      });
    }
    socket.setTimeout(20_000, () => reject(new Error("no answer in 20 s")));
  });
}

function statusOf(head: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
}

Deno.test("1,000 stalled readers cost at most 64 KiB of server memory each", async () => {
  const dir = await makeSite();
  const server = await startServer(dir, [...STALLED_SERVER_ARGS]);
  const sockets: Socket[] = [];
  try {
    const pid = server.proc.pid;
    const batch = async (n: number) => {
      for (let i = 0; i < n; i += 100) { // bounded by n
        const got = await Promise.all(
          Array.from({ length: Math.min(100, n - i) }, () => open(server.port, "/8m.bin")),
        );
        sockets.push(...got.map((g) => g.socket));
      }
    };
    await batch(100); // warm-up: the first streams, the buffer budget, the JIT
    await sleep(1_500); // past STALL_MS and a sweep: large buffers given back
    const before = rssKiB(pid);
    await batch(1_000);
    await sleep(1_500);
    const after = rssKiB(pid);
    const perConn = (after - before) / 1_000;
    console.log(
      `[resources] 1,000 stalled readers: RSS ${(before / 1024).toFixed(0)} → ` +
        `${(after / 1024).toFixed(0)} MiB, ${perConn.toFixed(1)} KiB per connection`,
    );
    assert.ok(perConn <= 64, `${perConn.toFixed(1)} KiB per stalled connection`);
  } finally {
    await closeAll(sockets);
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("1,000 idle connections after a 20 KB request head cost less than their 32 KiB head buffer", async () => {
  const dir = await makeSite();
  const server = await startServer(dir, ["--log", "none", "--max-connections-per-ip", "0"]);
  const conns: Deno.TcpConn[] = [];
  const head = new TextEncoder().encode(
    `GET /small.txt HTTP/1.1\r\nHost: x\r\nX-Pad: ${"p".repeat(20_000)}\r\n\r\n`,
  );
  try {
    const batch = async (n: number) => {
      for (let i = 0; i < n; i += 100) { // bounded by n
        await Promise.all(Array.from({ length: Math.min(100, n - i) }, async () => {
          const c = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
          conns.push(c);
          await c.write(head);
          const buf = new Uint8Array(4096);
          let text = "";
          while (!text.endsWith("small\n")) { // one short response; the server keeps it open
            const n = await c.read(buf);
            if (n === null) throw new Error("closed");
            text += new TextDecoder().decode(buf.subarray(0, n));
          }
        }));
      }
    };
    // Warm-up: the heap grows to hold the garbage of 20 KB heads (parsed field strings) once.
    await batch(500);
    await sleep(300);
    const before = rssKiB(server.proc.pid);
    await batch(1_000);
    await sleep(300);
    const perConn = (rssKiB(server.proc.pid) - before) / 1_000;
    console.log(`[resources] idle after a 20 KB head: ${perConn.toFixed(1)} KiB per connection`);
    assert.ok(perConn < 32, `${perConn.toFixed(1)} KiB per idle connection`);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--min-rate drops a trickle reader and logs it; a fast download is not dropped", async () => {
  const dir = await makeSite();
  const server = await startServer(dir, [
    "--min-rate",
    "16384",
    "--min-rate-window",
    "1",
    "--write-timeout",
    "60",
  ]);
  let trickle: Deno.TcpConn | undefined;
  try {
    // 4 KiB every 0.5 s: 8 KiB/s, half the minimum, yet every read refreshes --write-timeout.
    const t0 = performance.now();
    let got = 0;
    trickle = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await trickle.write(new TextEncoder().encode("GET /8m.bin HTTP/1.1\r\nHost: x\r\n\r\n"));
    const conn = trickle;
    // The client only sees the close once it has read what its socket buffer already holds
    // (megabytes): the server's log says when it dropped the connection.
    const dropped = () => server.stdout().split("\n").find((l) => /reason=too slow/.test(l));
    const ended = (async () => {
      const buf = new Uint8Array(4096);
      for (let i = 0; i < 30; i++) { // at most 15 s
        await sleep(500);
        if (dropped() !== undefined) return performance.now() - t0;
        const n = await conn.read(buf).catch(() => null);
        if (n !== null) got += n;
      }
      return -1;
    })();
    // Meanwhile a fast download of the same file completes.
    const fast = await fetch(`${server.url}8m.bin`);
    const body = new Uint8Array(await fast.arrayBuffer());
    assert.equal(body.length, 8 * MIB);
    const ms = await ended;
    assert.ok(ms > 0, "the trickle reader was dropped within 15 s");
    const line = dropped();
    console.log(
      `[resources] trickle reader dropped after ${(ms / 1000).toFixed(1)} s, ` +
        `${got} bytes read by it; ${line}`,
    );
    assert.ok(line !== undefined, "the drop is logged with its reason");
    assert.match(line, /B\/s over [\d.]+ s, min-rate 16384 B\/s/);
    assert.equal(server.stdout().split("\n").filter((l) => /too slow/.test(l)).length, 1);
  } finally {
    try {
      trickle?.close();
    } catch { /* closed by the server */ }
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--max-connections-per-ip: 503 and close over the cap; other addresses served", async () => {
  const dir = await makeSite();
  const server = await startServer(dir, ["--log", "none", "--max-connections-per-ip", "3"]);
  const sockets: Socket[] = [];
  try {
    const from = (a: string) =>
      open(server.port, "/small.txt", { localAddress: a, readStatus: true });
    const held = await Promise.all([1, 2, 3].map(() => from("127.0.0.1")));
    sockets.push(...held.map((h) => h.socket));
    assert.deepEqual(held.map((h) => h.status), [200, 200, 200]);
    const over = await from("127.0.0.1");
    sockets.push(over.socket);
    assert.equal(over.status, 503);
    for (let i = 0; i < 100 && !over.closed(); i++) await sleep(20);
    assert.ok(over.closed(), "the connection over the cap is closed");
    const other = await from("127.0.0.2");
    sockets.push(other.socket);
    assert.equal(other.status, 200, "another address is not affected");
    await closeAll([held[0].socket]);
    let again = 0;
    for (let i = 0; i < 50 && again !== 200; i++) { // the server sees the close within a moment
      const s = await from("127.0.0.1");
      sockets.push(s.socket);
      again = s.status;
      if (again !== 200) await sleep(20);
    }
    assert.equal(again, 200, "a slot freed is usable again");
  } finally {
    await closeAll(sockets);
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--workers 4: --max-connections and --max-connections-per-ip are totals", async () => {
  const dir = await makeSite();
  for (
    const [cap, args, note] of [
      [20, ["--max-connections", "20", "--max-connections-per-ip", "0"], "total"],
      [7, ["--max-connections-per-ip", "7"], "per address"],
    ] as const
  ) {
    const server = await startServer(dir, ["--log", "none", "--workers", "4", ...args]);
    const sockets: Socket[] = [];
    try {
      const got = await Promise.all(
        Array.from({ length: 60 }, () => open(server.port, "/small.txt", { readStatus: true })),
      );
      sockets.push(...got.map((g) => g.socket));
      const ok = got.filter((g) => g.status === 200).length;
      const busy = got.filter((g) => g.status === 503).length;
      console.log(`[resources] --workers 4, cap ${cap} (${note}): ${ok} served, ${busy} got 503`);
      assert.equal(ok, cap);
      assert.equal(busy, 60 - cap);
    } finally {
      await closeAll(sockets);
      await server.stop();
    }
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a reply body over 32 KiB (a 1,000-entry listing) is written after its head, whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-resources-list-" });
  for (let i = 0; i < 1_000; i++) await Deno.writeTextFile(join(dir, `entry-${i}.txt`), "");
  const server = await startServer(dir, ["--log", "none"]);
  try {
    for (const accept of ["text/html", "application/json"]) {
      const r = await fetch(server.url, { headers: { accept } });
      const body = new Uint8Array(await r.arrayBuffer());
      assert.equal(r.status, 200);
      assert.ok(body.length > 32 * 1024, `${body.length} bytes`);
      assert.equal(Number(r.headers.get("content-length")), body.length);
      if (accept === "application/json") {
        assert.equal(JSON.parse(new TextDecoder().decode(body)).entries.length, 1_000);
      }
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
