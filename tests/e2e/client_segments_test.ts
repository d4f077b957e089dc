/**
 * `client.ts --segments N`: a 256 MiB file from nginx (`limit_rate 20m` per connection) over 4
 * connections arrives whole; a server whose file changes mid-download (another ETag on one 206)
 * makes the client start over, never splice; a stopped download resumes each segment where it
 * was; a server without ranges gets one connection and a line saying why.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { exists, pattern, runCli, sha256, tempDir } from "../client/cli.ts";
import { havePeer, startPython } from "../client/peers.ts";
import { type FakeConn, startFake } from "./fake_server.ts";
import { startNginxIndex } from "./listing_peers.ts";

const MiB = 1024 * 1024;

/** A sparse file of `size` bytes with distinct 64 KiB blocks written at `offsets` (so that a
 * segment written at the wrong place changes the hash); returns its sha-256. */
async function sparseFile(path: string, size: number, offsets: number[]): Promise<string> {
  {
    using f = await Deno.open(path, { write: true, create: true, truncate: true });
    await f.truncate(size);
    for (const [i, off] of offsets.entries()) {
      await f.seek(off, Deno.SeekMode.Start);
      const block = pattern(Math.min(64 * 1024, size - off), i + 3);
      for (let w = 0; w < block.length;) w += await f.write(block.subarray(w));
    }
  }
  const hash = createHash("sha256");
  using f = await Deno.open(path, { read: true });
  const buf = new Uint8Array(MiB);
  for (let n; (n = await f.read(buf)) !== null;) hash.update(buf.subarray(0, n));
  return hash.digest("hex");
}

Deno.test("client --segments 4 downloads 256 MiB from rate-limited nginx over 4 connections, whole", async () => {
  if (!havePeer("nginx")) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  await using prefix = await tempDir();
  const size = 256 * MiB;
  const want = await sparseFile(join(srv.path, "big.bin"), size, [
    0,
    size / 4 - 32 * 1024,
    size / 2,
    (3 * size) / 4 + 1,
    size - 64 * 1024,
  ]);
  await using nginx = await startNginxIndex(srv.path, prefix.path, { limitRate: "20m" });
  const r = await runCli([
    "--segments",
    "4",
    "--json",
    "--digest",
    `${nginx.origin}/big.bin`,
    out.path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.sha256, want);
  assert.ok(j.connections >= 4, `connections: ${j.connections}`);
  assert.deepEqual([j.bytes.size, j.bytes.received], [size, size]);
  assert.ok(
    !exists(join(out.path, "big.bin.part")) && !exists(join(out.path, "big.bin.part.meta")),
  );
});

/** A keep-alive range server over `versions` of one file (ETag "v1", "v2", ...). `onRange`
 * may change the current version or cut a body short (return the bytes to send). */
function rangeServer(
  versions: Uint8Array[],
  onRange: (start: number, state: { version: number; ranges: number }) => number | null,
) {
  const state = { version: 0, ranges: 0 };
  return startFake(async (c: FakeConn, first: string) => {
    let req: string | null = first;
    for (let i = 0; i < 50 && req !== null; i++) {
      const [method] = req.split(" ");
      const body = versions[state.version];
      const etag = `"v${state.version + 1}"`;
      const m = /^range: bytes=(\d+)-(\d*)\r$/im.exec(req);
      if (method === "HEAD" || m === null) {
        await c.write(
          `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nAccept-Ranges: bytes\r\n` +
            `ETag: ${etag}\r\n\r\n`,
        );
        if (method !== "HEAD") await c.write(body);
      } else {
        const start = Number(m[1]);
        const end = m[2] === "" ? body.length - 1 : Number(m[2]);
        if (start >= body.length) {
          await c.write(
            `HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */${body.length}\r\n` +
              `Content-Length: 0\r\nETag: ${etag}\r\n\r\n`,
          );
          req = await c.readRequest();
          continue;
        }
        state.ranges++;
        const cut = onRange(start, state);
        const v = versions[state.version];
        await c.write(
          `HTTP/1.1 206 Partial Content\r\nContent-Length: ${end - start + 1}\r\n` +
            `Content-Range: bytes ${start}-${end}/${v.length}\r\nETag: "v${
              state.version + 1
            }"\r\n\r\n`,
        );
        if (cut !== null) {
          await c.write(v.subarray(start, start + cut));
          return; // reset mid-body
        }
        await c.write(v.subarray(start, end + 1));
      }
      req = await c.readRequest();
    }
  });
}

Deno.test("client --segments: another ETag on one 206 → the download starts over, never spliced", async () => {
  const v1 = pattern(MiB, 1);
  const v2 = pattern(MiB, 2);
  await using srv = rangeServer([v1, v2], (start, s) => {
    // The third segment's first request sees the new version of the file.
    if (start === MiB / 2 && s.version === 0) s.version = 1;
    return null;
  });
  await using out = await tempDir();
  const r = await runCli(["--segments", "4", `${srv.origin}/f.bin`, out.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /the validator changed \(ETag "v1" → "v2"\).*starting over/);
  assert.equal(sha256(await Deno.readFile(join(out.path, "f.bin"))), sha256(v2));
});

Deno.test("client --segments: a stopped download resumes each segment from its own offset", async () => {
  const data = pattern(MiB, 5);
  let cutOnce = true;
  await using srv = rangeServer([data], (start) => {
    if (start === MiB / 4 && cutOnce) {
      cutOnce = false;
      return 1000; // segment 2 resets after 1000 bytes
    }
    return null;
  });
  await using out = await tempDir();
  // --retry 0: the reset ends this run (with retries the range would be fetched again at once).
  const first = await runCli(["--retry", "0", "--segments", "4", `${srv.origin}/f.bin`, out.path]);
  assert.equal(first.code, 5, first.stderr);
  const meta = JSON.parse(await Deno.readTextFile(join(out.path, "f.bin.part.meta")));
  assert.equal(meta.etag, '"v1"');
  assert.equal(meta.segments.length, 4);
  const s2 = meta.segments[1];
  assert.equal(s2.start, MiB / 4);
  assert.ok(s2.next >= s2.start + 1000 && s2.next <= s2.end, JSON.stringify(s2));

  const before = srv.requests.length;
  const second = await runCli(["--segments", "4", `${srv.origin}/f.bin`, out.path]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /resuming .*f\.bin\.part/);
  assert.equal(sha256(await Deno.readFile(join(out.path, "f.bin"))), sha256(data));
  const ranges = srv.requests.slice(before).flatMap((q) => /range: bytes=(\d+)-/i.exec(q) ?? [])
    .filter((_, i) => i % 2 === 1).map(Number);
  assert.ok(ranges.includes(s2.next), `asked ${ranges} for segment 2 from ${s2.next}`);
  assert.ok(!ranges.includes(0) || meta.segments[0].next === 0, `${ranges}`);
});

Deno.test("client --segments --retry: a reset range is fetched again from its next byte", async () => {
  const data = pattern(MiB, 7);
  let cutOnce = true;
  await using srv = rangeServer([data], (start) => {
    if (start === MiB / 4 && cutOnce) {
      cutOnce = false;
      return 1000; // segment 2 resets after 1000 bytes
    }
    return null;
  });
  await using out = await tempDir();
  const r = await runCli([
    "--retry-delay",
    "0.01",
    "--json",
    "--segments",
    "4",
    `${srv.origin}/f.bin`,
    out.path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.retries, 1);
  assert.equal(sha256(await Deno.readFile(join(out.path, "f.bin"))), sha256(data));
  const starts = srv.requests.flatMap((q) => /range: bytes=(\d+)-/i.exec(q) ?? [])
    .filter((_, i) => i % 2 === 1).map(Number);
  assert.ok(starts.includes(MiB / 4 + 1000), `asked ${starts}: segment 2 again from byte 1000`);
});

Deno.test("client --segments falls back to one connection when the server has no ranges, saying why", async () => {
  if (!havePeer("python3")) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  await Deno.writeFile(join(srv.path, "f.bin"), pattern(MiB, 9));
  await using py = await startPython(srv.path);
  const r = await runCli(["--segments", "4", `${py.origin}/f.bin`, out.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /--segments 4: one connection instead: .*byte ranges/);
  assert.equal(sha256(await Deno.readFile(join(out.path, "f.bin"))), sha256(pattern(MiB, 9)));
});

Deno.test("a --segments .part with gaps is never finished by the one-connection resume (-c)", async () => {
  const data = pattern(MiB, 6);
  let cutOnce = true;
  await using srv = rangeServer([data], (start) => {
    if (start === MiB / 2 && cutOnce) {
      cutOnce = false;
      return 10;
    }
    return null;
  });
  await using out = await tempDir();
  // --retry 0: the reset ends this run (with retries the range would be fetched again at once).
  const first = await runCli(["--retry", "0", "--segments", "4", `${srv.origin}/f.bin`, out.path]);
  assert.equal(first.code, 5, first.stderr);
  assert.equal((await Deno.stat(join(out.path, "f.bin.part"))).size, MiB); // full size, gaps
  const plain = await runCli(["-c", `${srv.origin}/f.bin`, out.path]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /holds --segments ranges with gaps: starting over/);
  assert.equal(sha256(await Deno.readFile(join(out.path, "f.bin"))), sha256(data));
});

Deno.test("client -v --segments prints the HEAD's and every segment's request and response heads", async () => {
  const body = pattern(MiB, 5);
  await using srv = rangeServer([body], () => null);
  await using out = await tempDir();
  const r = await runCli(["-v", "--segments", "4", `${srv.origin}/f.bin`, out.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^> HEAD \/f\.bin HTTP\/1\.1$/m);
  assert.match(r.stdout, /^< HTTP\/1\.1 200 OK$/m);
  assert.match(r.stdout, /^< Accept-Ranges: bytes$/m);
  for (let i = 0; i < 4; i++) {
    const [a, b] = [i * MiB / 4, (i + 1) * MiB / 4 - 1];
    assert.match(r.stdout, new RegExp(`^\\* segment ${i + 1}:\\n> GET /f\\.bin HTTP/1\\.1$`, "m"));
    assert.match(r.stdout, new RegExp(`^> Range: bytes=${a}-${b}$`, "m"));
    assert.match(r.stdout, new RegExp(`^< Content-Range: bytes ${a}-${b}/${MiB}$`, "m"));
  }
  assert.equal((r.stdout.match(/^< HTTP\/1\.1 206 Partial Content$/gm) ?? []).length, 4);
  assert.equal(sha256(await Deno.readFile(join(out.path, "f.bin"))), sha256(body));
});
