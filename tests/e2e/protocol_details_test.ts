/**
 * End to end: protocol details found with real clients. `ab -k` (HTTP/1.0 keep-alive) finishes
 * at once because the response says `Connection: keep-alive`; busybox wget's raw UTF-8 targets
 * are served as nginx serves them, invalid UTF-8 still refused and logged escaped; the
 * directory redirect keeps the query; the access log carries the User-Agent, in text and JSON.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { rawRequest, splitResponses, startServer } from "./raw.ts";
import { havePeer } from "./peers.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Bytes of `s`, one per char (so "\xc3\xa9" is the UTF-8 of "é", as a raw client sends it). */
function bytesOf(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** Sends raw bytes, returns everything received (bounded by the raw helper's timeout). */
async function rawBytes(port: number, bytes: Uint8Array, lingerMs?: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(bytes);
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    const deadline = Date.now() + (lingerMs ?? 3000);
    while (Date.now() < deadline) {
      const n = await Promise.race([
        conn.read(buf),
        new Promise<"wait">((r) => setTimeout(() => r("wait"), Math.max(1, deadline - Date.now()))),
      ]);
      if (n === "wait" || n === null) break;
      parts.push(buf.slice(0, n));
    }
    const total = parts.reduce((k, p) => k + p.length, 0);
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return all;
  } finally {
    conn.close();
  }
}

async function fixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-proto-" });
  await Deno.writeTextFile(join(dir, "small.txt"), "small\n");
  await Deno.writeTextFile(join(dir, "ünïcødé.txt"), "unicode\n");
  await Deno.mkdir(join(dir, "sub"));
  return dir;
}

Deno.test("HTTP/1.0 with Connection: keep-alive: kept open and answered keep-alive (ab -k)", async (t) => {
  const dir = await fixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    await t.step(
      "raw: two requests on one connection, both paths (cache miss, then hit)",
      async () => {
        const req = "GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
        const r = await rawRequest(
          server.port,
          req + req + req + "GET /small.txt HTTP/1.0\r\n\r\n",
        );
        const rs = splitResponses(r.bytes);
        assert.deepEqual(rs.length, 4, r.text);
        for (const x of rs.slice(0, 3)) assert.match(x.head, /\r\nConnection: keep-alive(\r\n|$)/i);
        assert.match(rs[3].head, /\r\nConnection: close(\r\n|$)/i);
        assert.ok(r.closed);
        // A directory listing (not cached) and a 404 say it too.
        const more = await rawRequest(
          server.port,
          "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /nope HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
          { lingerMs: 300 },
        );
        const ms = splitResponses(more.bytes);
        assert.deepEqual(ms.map((x) => x.status), [200, 404]);
        for (const x of ms) assert.match(x.head, /\r\nConnection: keep-alive(\r\n|$)/i);
        assert.ok(!more.closed, "kept open");
      },
    );
    await t.step("ab -k completes every request over kept-alive connections", async () => {
      if (!havePeer("ab")) return;
      const started = Date.now();
      const r = await new Deno.Command("ab", {
        args: ["-k", "-n", "200", "-c", "4", "-s", "10", `${server.url}small.txt`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = decoder.decode(r.stdout);
      assert.ok(r.success, out + decoder.decode(r.stderr));
      assert.match(out, /Complete requests:\s+200\n/);
      assert.match(out, /Failed requests:\s+0\n/);
      assert.match(out, /Keep-Alive requests:\s+200\n/);
      // Without the field ab waits for its timeout (-s 10) on the first connection.
      assert.ok(Date.now() - started < 9000, `ab took ${Date.now() - started} ms`);
    });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("raw UTF-8 in the target: served (busybox wget), invalid UTF-8 refused and logged escaped", async (t) => {
  const dir = await fixture();
  const server = await startServer(dir, ["--no-dns"]);
  try {
    await t.step("busybox wget", async () => {
      if (!havePeer("busybox")) return;
      const r = await new Deno.Command("busybox", {
        args: ["wget", "-q", "-O", "-", `${server.url}ünïcødé.txt`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(r.success, decoder.decode(r.stderr));
      assert.deepEqual(decoder.decode(r.stdout), "unicode\n");
    });
    await t.step("raw bytes: valid UTF-8 200, invalid 400, traversal still 400", async () => {
      const ask = async (target: string) => {
        const b = await rawBytes(
          server.port,
          bytesOf(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
        );
        return Number(decoder.decode(b.subarray(9, 12)));
      };
      assert.deepEqual(await ask("/\xc3\xbcn\xc3\xafc\xc3\xb8d\xc3\xa9.txt"), 200);
      assert.deepEqual(await ask("/\xfcn\xefc\xf8d\xe9.txt"), 400); // Latin-1, not UTF-8
      assert.deepEqual(await ask("/\xc0\xae\xc0\xae/etc/passwd"), 400); // overlong "."
      assert.deepEqual(await ask("/\xc3\xa9/../../etc/passwd"), 400);
    });
    await t.step("the log shows the valid name as text and the refused one escaped", async () => {
      const deadline = Date.now() + 3000;
      let log = "";
      while (Date.now() < deadline) {
        log = server.stdout();
        if (log.includes("\\xc0\\xae")) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(log, /"GET \/ünïcødé\.txt HTTP\/1\.1" 200 /);
      assert.match(log, /"GET \/\\xfcn\\xefc\\xf8d\\xe9\.txt HTTP\/1\.1" 400 /);
      assert.match(log, /"GET \/\\xc0\\xae\\xc0\\xae\/etc\/passwd HTTP\/1\.1" 400 /);
      assert.ok(!log.includes('"- - -"'), log);
    });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a head that does not parse is logged with its request line, escaped", async () => {
  const dir = await fixture();
  const server = await startServer(dir, ["--no-dns"]);
  try {
    await rawBytes(server.port, bytesOf("GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n"), 1000);
    await rawBytes(server.port, bytesOf("GET /ok HTTP/9.9\r\nHost: x\r\n\r\n"), 1000);
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && !server.stdout().includes("HTTP/9.9")) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(server.stdout(), /"GET \/a\\x01b HTTP\/1\.1" 400 /);
    assert.match(server.stdout(), /"GET \/ok HTTP\/9\.9" 505 /);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the directory redirect keeps the query string", async () => {
  const dir = await fixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    for (
      const [target, location] of [
        ["/sub?x=1", "/sub/?x=1"],
        ["/sub?sort=size&order=desc", "/sub/?sort=size&order=desc"],
        ["/sub", "/sub/"],
        ["/sub?q=\xc3\xa9 ", "/sub/?q=%C3%A9"],
      ]
    ) {
      const b = await rawBytes(
        server.port,
        bytesOf(`GET ${target.trimEnd()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
      );
      const head = decoder.decode(b);
      assert.match(head, /^HTTP\/1\.1 301 /);
      assert.ok(head.includes(`\r\nLocation: ${location}\r\n`), `${target}: ${head}`);
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the access log has the User-Agent, escaped, in text and in JSON", async () => {
  const dir = await fixture();
  for (const format of ["text", "json"]) {
    const server = await startServer(dir, ["--no-dns", "--log", format]);
    try {
      // The plain fast path (a cache hit the second time) and the full parser (a Range).
      const ua = 'Mozilla/5.0 "quoted" caf\xc3\xa9 \xff'; // obs-text: UTF-8, then a stray byte
      for (const extra of ["", "", "Range: bytes=0-1\r\n"]) {
        await rawBytes(
          server.port,
          bytesOf(
            `GET /small.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: ${ua}\r\n${extra}Connection: close\r\n\r\n`,
          ),
          1000,
        );
      }
      await rawBytes(
        server.port,
        encoder.encode("GET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        1000,
      );
      const deadline = Date.now() + 3000;
      let lines: string[] = [];
      while (Date.now() < deadline) {
        lines = server.stdout().split("\n").filter((l) => l.includes("/small.txt"));
        if (lines.length === 4) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(lines.length, 4, server.stdout());
      for (const [i, l] of lines.entries()) {
        if (format === "json") {
          assert.deepEqual(
            JSON.parse(l).userAgent,
            i < 3 ? 'Mozilla/5.0 "quoted" caf\\xc3\\xa9 \\xff' : null,
            l,
          );
        } else {
          assert.ok(
            l.endsWith(i < 3 ? ` "Mozilla/5.0 \\"quoted\\" caf\\xc3\\xa9 \\xff"` : ` "-"`),
            l,
          );
        }
      }
    } finally {
      await server.stop();
    }
  }
  await Deno.remove(dir, { recursive: true });
});
