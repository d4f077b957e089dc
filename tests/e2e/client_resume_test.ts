/**
 * End to end: `client.ts -c` against scripted servers — 206 appended exactly, 200 (range
 * ignored) restarts from zero, 416 with the .part's size finishes it, and the answers that must
 * not be appended.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, listDir, pattern, runCli, sha256, sha256b64, tempDir } from "../client/cli.ts";
import { type Script, startFake } from "./fake_server.ts";

const DATA = pattern(300_000, 3);
const ETAG = '"v1-300000"';

/** A server that honours `Range: bytes=N-` (and If-Range against ETAG), like nginx. */
function rangeServer(
  opts: { data?: Uint8Array; etag?: string; cutAt?: number; reprDigest?: boolean } = {},
): Script {
  const data = opts.data ?? DATA;
  const etag = opts.etag ?? ETAG;
  return async (c, req) => {
    const range = /\r\nRange: bytes=(\d+)-\r\n/i.exec(req);
    const ifRange = /\r\nIf-Range: (.*)\r\n/i.exec(req)?.[1];
    const digest = opts.reprDigest ? `Repr-Digest: sha-256=:${sha256b64(data)}:\r\n` : "";
    const common = `ETag: ${etag}\r\n${digest}Connection: close\r\n`;
    let start = range !== null && (ifRange === undefined || ifRange === etag)
      ? Number(range[1])
      : -1;
    if (start >= data.length) {
      await c.write(
        `HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */${data.length}\r\n` +
          `Content-Length: 0\r\n${common}\r\n`,
      );
      return;
    }
    if (start >= 0) {
      await c.write(
        `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${
          data.length - 1
        }/${data.length}\r\n` +
          `Content-Length: ${data.length - start}\r\n${common}\r\n`,
      );
    } else {
      start = 0;
      await c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n${common}\r\n`);
    }
    await c.write(data.subarray(start, opts.cutAt ?? data.length));
  };
}

async function setupPart(dir: string, bytes: Uint8Array, meta: object | null): Promise<string> {
  const final = join(dir, "f.bin");
  await Deno.writeFile(final + ".part", bytes);
  if (meta !== null) await Deno.writeTextFile(final + ".part.meta", JSON.stringify(meta));
  return final;
}

Deno.test("client.ts -c: truncated first attempt, then 206 appended exactly", async () => {
  await using dir = await tempDir();
  await using cut = startFake(rangeServer({ cutAt: 100_000 }));
  const url = `${cut.origin}/f.bin`;
  const first = await runCli(["--retry", "0", "--json", url, dir.path]);
  assert.equal(first.code, 5, first.stderr);
  assert.match(first.stderr, /received 100000 of 300000 bytes/);
  assert.deepEqual(listDir(dir.path), ["f.bin.part", "f.bin.part.meta"]);
  assert.deepEqual(JSON.parse(first.stdout).partFile, join(dir.path, "f.bin.part"));

  // Same origin string for the meta's URL: a second server on the same port is not possible, so
  // rewrite the remembered URL to the new server (the meta is ours to read).
  await using full = startFake(rangeServer({ reprDigest: true }));
  const metaPath = join(dir.path, "f.bin.part.meta");
  const meta = JSON.parse(await Deno.readTextFile(metaPath));
  assert.equal(meta.etag, ETAG);
  assert.equal(meta.size, DATA.length);
  meta.url = `${full.origin}/f.bin`;
  await Deno.writeTextFile(metaPath, JSON.stringify(meta));

  const second = await runCli(["-c", "--json", `${full.origin}/f.bin`, dir.path]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(full.requests[0], /\r\nRange: bytes=100000-\r\n/);
  assert.match(full.requests[0], new RegExp(`\\r\\nIf-Range: ${ETAG}\\r\\n`));
  const j = JSON.parse(second.stdout);
  assert.equal(j.resume, "appended");
  assert.deepEqual(j.bytes, {
    received: 200_000,
    resumedFrom: 100_000,
    size: 300_000,
    expected: 300_000,
  });
  assert.equal(j.sha256, sha256(DATA), "sha256 covers the whole file");
  assert.equal(j.verification.verified, true, "Repr-Digest checked against the whole file");
  assert.deepEqual(listDir(dir.path), ["f.bin"], "meta removed on success");
  assert.equal(sha256(await Deno.readFile(join(dir.path, "f.bin"))), sha256(DATA));
});

Deno.test("client.ts -c: a 200 means the range was ignored: start over, never append", async () => {
  await using dir = await tempDir();
  await using srv = startFake(rangeServer({ etag: '"v2"' })); // validator changed: If-Range fails
  await setupPart(dir.path, new Uint8Array(5000).fill(0x41), {
    url: `${srv.origin}/f.bin`,
    etag: ETAG,
    lastModified: null,
    size: DATA.length,
  });
  const r = await runCli(["-c", "--json", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).resume, "restarted");
  assert.deepEqual(await Deno.readFile(join(dir.path, "f.bin")), DATA);
  assert.deepEqual(listDir(dir.path), ["f.bin"]);
});

Deno.test("client.ts -c: 416 with the .part's size and the same validator means complete: finalize", async () => {
  await using dir = await tempDir();
  await using srv = startFake(rangeServer());
  await setupPart(dir.path, DATA, {
    url: `${srv.origin}/f.bin`,
    etag: ETAG,
    lastModified: null,
    size: DATA.length,
  });
  const r = await runCli([
    "-c",
    "--json",
    "--sha256",
    sha256(DATA),
    `${srv.origin}/f.bin`,
    dir.path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.resume, "already-complete");
  assert.equal(j.sha256, sha256(DATA));
  assert.equal(j.verification.verified, true);
  assert.match(srv.requests[0], /\r\nRange: bytes=300000-\r\n/);
  assert.match(srv.requests[0], new RegExp(`\\r\\nIf-Range: ${ETAG}\\r\\n`));
  assert.deepEqual(listDir(dir.path), ["f.bin"]);
});

const BAD_206: Array<{ name: string; head: string; code: number; stderr: RegExp }> = [
  {
    name: "206 starting elsewhere",
    head:
      "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/300000\r\nContent-Length: 10\r\n\r\n0123456789",
    code: 5,
    stderr: /starts at byte 0, the \.part has 1000/,
  },
  {
    name: "206 with another total size",
    head:
      "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 1000-1009/1010\r\nContent-Length: 10\r\n\r\n0123456789",
    code: 5,
    stderr: /total size 1010 differs from the first attempt's 300000/,
  },
  {
    name: "206 without Content-Range",
    head: "HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\n\r\n0123456789",
    code: 5,
    stderr: /unusable 206/,
  },
  {
    name: "416 whose size is not the .part's",
    head:
      "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */500\r\nContent-Length: 0\r\n\r\n",
    code: 4,
    stderr: /416 Range Not Satisfiable.*--no-continue/,
  },
];

Deno.test("client.ts -c: answers that must not be appended leave the .part as it was", async (t) => {
  for (const c of BAD_206) {
    await t.step(c.name, async () => {
      await using dir = await tempDir();
      await using srv = startFake(async (conn) => void await conn.write(c.head));
      const prefix = DATA.subarray(0, 1000);
      const final = await setupPart(dir.path, prefix, {
        url: `${srv.origin}/f.bin`,
        etag: ETAG,
        lastModified: null,
        size: DATA.length,
      });
      const r = await runCli(["-c", `${srv.origin}/f.bin`, dir.path]);
      assert.equal(r.code, c.code, r.stderr);
      assert.match(r.stderr, c.stderr);
      assert.ok(!exists(final));
      assert.deepEqual(await Deno.readFile(final + ".part"), prefix);
    });
  }
});

Deno.test("client.ts without -c starts over even when a .part exists", async () => {
  await using dir = await tempDir();
  await using srv = startFake(rangeServer());
  await setupPart(dir.path, new Uint8Array(10), null);
  const r = await runCli(["-q", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(srv.requests[0], /Range:/);
  assert.deepEqual(await Deno.readFile(join(dir.path, "f.bin")), DATA);
});
