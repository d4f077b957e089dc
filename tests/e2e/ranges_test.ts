/**
 * End to end, issue 4 on the server side: ranges (single, multipart, unsatisfiable), If-Range,
 * conditional requests, and Repr-Digest, checked with curl, wget and raw requests.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { parseMultipartByteranges } from "../../lib/http/multipart.ts";
import { rawRequest, startServer } from "./raw.ts";
import { havePeer } from "./peers.ts";

const SIZE = 3 * 1024 * 1024 + 7;

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

async function fixture() {
  const dir = await Deno.makeTempDir({ prefix: "ferry-ranges-" });
  const data = crypto.getRandomValues(new Uint8Array(65536));
  const big = new Uint8Array(SIZE);
  for (let i = 0; i < SIZE; i += data.length) {
    big.set(data.subarray(0, Math.min(data.length, SIZE - i)), i);
  }
  big[SIZE - 1] = 42;
  await Deno.writeFile(join(dir, "big.bin"), big);
  return { dir, big };
}

async function run(cmd: string, args: string[], cwd?: string) {
  const r = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  return { code: r.code, out: r.stdout, err: new TextDecoder().decode(r.stderr) };
}

function get(port: number, path: string, fields: Record<string, string> = {}) {
  let req = `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(fields)) req += `${k}: ${v}\r\n`;
  return rawRequest(port, req + "\r\n", { timeoutMs: 5000 });
}

function headerOf(text: string, name: string): string | undefined {
  const m = new RegExp(`^${name}: (.*)\r$`, "im").exec(text.slice(0, text.indexOf("\r\n\r\n")));
  return m?.[1];
}

function bodyOf(bytes: Uint8Array): Uint8Array {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return bytes.subarray(i + 4);
    }
  }
  throw new Error("no head end");
}

Deno.test("server ranges: curl -r, curl -C -, wget -c give byte-identical files", async () => {
  const { dir, big } = await fixture();
  const server = await startServer(dir, ["--log", "none"]);
  const out = await Deno.makeTempDir();
  try {
    if (havePeer("curl")) {
      const r = await run("curl", ["-sS", "-r", "1000-1999", server.url + "big.bin"]);
      assert.equal(r.code, 0, r.err);
      assert.equal(sha256(r.out), sha256(big.subarray(1000, 2000)));
      // A partial file, then curl -C - finishes it.
      await Deno.writeFile(join(out, "c.bin"), big.subarray(0, 123_457));
      const c = await run("curl", ["-sS", "-C", "-", "-o", "c.bin", server.url + "big.bin"], out);
      assert.equal(c.code, 0, c.err);
      assert.equal(sha256(await Deno.readFile(join(out, "c.bin"))), sha256(big));
    }
    if (havePeer("wget")) {
      await Deno.writeFile(join(out, "big.bin"), big.subarray(0, 2_000_001));
      const w = await run("wget", ["-q", "-c", server.url + "big.bin"], out);
      assert.equal(w.code, 0, w.err);
      assert.equal(sha256(await Deno.readFile(join(out, "big.bin"))), sha256(big));
    }
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("server ranges: single, suffix, open-ended, multipart, 416, invalid ignored", async () => {
  const { dir, big } = await fixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    const cases: Array<[string, number, number, number]> = [
      ["bytes=0-0", 206, 0, 1],
      ["bytes=-10", 206, SIZE - 10, SIZE],
      ["bytes=3000000-", 206, 3000000, SIZE],
      ["bytes=5-4000000000", 206, 5, SIZE],
    ];
    for (const [range, status, from, to] of cases) {
      const r = await get(server.port, "/big.bin", { Range: range });
      assert.equal(r.status, status, range);
      assert.equal(headerOf(r.text, "Content-Range"), `bytes ${from}-${to - 1}/${SIZE}`, range);
      assert.equal(sha256(bodyOf(r.bytes)), sha256(big.subarray(from, to)), range);
    }
    const m = await get(server.port, "/big.bin", { Range: "bytes=0-9, 100-199, 150-299, -5" });
    assert.equal(m.status, 206);
    const type = headerOf(m.text, "Content-Type") ?? "";
    const boundary = /boundary=(\S+)/.exec(type)?.[1];
    assert.ok(boundary, type);
    const body = bodyOf(m.bytes);
    assert.equal(Number(headerOf(m.text, "Content-Length")), body.length);
    const parts = parseMultipartByteranges(body, boundary);
    assert.deepEqual(parts.map((p) => [p.start, p.end]), [[0, 9], [100, 299], [
      SIZE - 5,
      SIZE - 1,
    ]]);
    for (const p of parts) assert.deepEqual(p.data, big.subarray(p.start, p.end + 1));

    const u = await get(server.port, "/big.bin", { Range: `bytes=${SIZE}-` });
    assert.equal(u.status, 416);
    assert.equal(headerOf(u.text, "Content-Range"), `bytes */${SIZE}`);
    const bad = await get(server.port, "/big.bin", { Range: "bytes=oops" });
    assert.equal(bad.status, 200, "a syntactically invalid Range is ignored");
    const many = Array.from({ length: 40 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(",");
    const tooMany = await get(server.port, "/big.bin", { Range: `bytes=${many}` });
    assert.equal(tooMany.status, 200, "too many ranges are served as a plain 200");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server conditionals: 304, 412, If-Range, and a changed file gets a new ETag", async () => {
  const { dir } = await fixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    const first = await get(server.port, "/big.bin");
    const etag = headerOf(first.text, "ETag")!;
    const lastModified = headerOf(first.text, "Last-Modified")!;
    assert.match(etag, /^"[0-9a-f-]+"$/);

    let r = await get(server.port, "/big.bin", { "If-None-Match": etag });
    assert.equal(r.status, 304);
    assert.equal(headerOf(r.text, "ETag"), etag);
    assert.equal(bodyOf(r.bytes).length, 0);
    r = await get(server.port, "/big.bin", { "If-Modified-Since": lastModified });
    assert.equal(r.status, 304);
    r = await get(server.port, "/big.bin", { "If-Match": '"nope"' });
    assert.equal(r.status, 412);
    r = await get(server.port, "/big.bin", {
      "If-Unmodified-Since": "Thu, 01 Jan 1970 00:00:00 GMT",
    });
    assert.equal(r.status, 412);
    r = await get(server.port, "/big.bin", { Range: "bytes=0-1", "If-Range": etag });
    assert.equal(r.status, 206);

    // Change the file: a new ETag, and the old validator in If-Range now yields the whole file.
    await Deno.writeFile(join(dir, "big.bin"), new Uint8Array(100), { append: true });
    const changed = await get(server.port, "/big.bin", { Range: "bytes=0-1", "If-Range": etag });
    assert.equal(changed.status, 200);
    assert.notEqual(headerOf(changed.text, "ETag"), etag);
    assert.equal(Number(headerOf(changed.text, "Content-Length")), SIZE + 100);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server Repr-Digest: advertised once known, correct, honours Want-Repr-Digest", async () => {
  const { dir, big } = await fixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    const want = createHash("sha256").update(big).digest("base64");
    let digest: string | undefined;
    for (let i = 0; i < 50 && digest === undefined; i++) {
      const r = await rawRequest(
        server.port,
        "HEAD /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      digest = headerOf(r.text, "Repr-Digest");
      if (digest === undefined) await new Promise((ok) => setTimeout(ok, 100));
    }
    assert.equal(digest, `sha-256=:${want}:`);
    const no = await get(server.port, "/big.bin", { "Want-Repr-Digest": "sha-256=0" });
    assert.equal(headerOf(no.text, "Repr-Digest"), undefined);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
