/**
 * The first download of a fresh large file from Ferry is verified: the server has no digest
 * yet (the file was just written, and is hashed only in the background), so client.ts hashes
 * the body and asks `HEAD` + `If-Match` for the Repr-Digest after it. A server that lies on
 * that HEAD makes the client exit 7 and leaves no final file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, listDir, pattern, runCli, sha256, tempDir } from "../client/cli.ts";
import { startServer } from "./raw.ts";
import { startFake } from "./fake_server.ts";

const SIZE = 64 * 1024 * 1024;

Deno.test("client.ts: a fresh 64 MiB file from Ferry is verified by a HEAD after the body (text and --json)", async () => {
  await using root = await tempDir();
  await using out = await tempDir();
  const a = pattern(SIZE, 7);
  await Deno.writeFile(join(root.path, "a.bin"), a);
  await using server = await startServer(root.path, ["--log", "none"]);

  const text = await runCli([`${server.url}a.bin`, out.path]);
  assert.equal(text.code, 0, text.stderr);
  const said = text.stdout + text.stderr;
  assert.match(said, /Repr-Digest asked after the body/, "the GET itself carried no digest");
  assert.match(said, /sha-256 verified \(Repr-Digest\)/);
  assert.equal(sha256(await Deno.readFile(join(out.path, "a.bin"))), sha256(a));

  // Another fresh file, for --json (a.bin's digest is known to the server by now).
  const b = pattern(SIZE, 8);
  await Deno.writeFile(join(root.path, "b.bin"), b);
  const json = await runCli(["--json", `${server.url}b.bin`, out.path]);
  assert.equal(json.code, 0, json.stderr);
  const j = JSON.parse(json.stdout);
  assert.equal(j.sha256, sha256(b));
  assert.deepEqual(j.verification, {
    verified: true,
    checks: [{ source: "Repr-Digest", expected: sha256(b), ok: true }],
  });
  assert.deepEqual(listDir(out.path), ["a.bin", "b.bin"]);
});

Deno.test("client.ts: a Ferry-like server whose HEAD gives a wrong Repr-Digest → exit 7, no final file", async () => {
  await using out = await tempDir();
  const body = pattern(256 * 1024, 3);
  const wrong = btoa(String.fromCharCode(...new Uint8Array(32).fill(1)));
  const fields = `Server: ferry/0.1.0\r\nETag: "40000-abc"\r\nContent-Length: ${body.length}\r\n` +
    `Content-Type: application/octet-stream\r\nConnection: close\r\n`;
  await using srv = startFake(async (c, request) => {
    if (request.startsWith("GET ")) {
      await c.write(`HTTP/1.1 200 OK\r\n${fields}\r\n`);
      await c.write(body);
    } else if (request.startsWith("HEAD ") && /\r\nIf-Match: "40000-abc"\r\n/i.test(request)) {
      await c.write(`HTTP/1.1 200 OK\r\n${fields}Repr-Digest: sha-256=:${wrong}:\r\n\r\n`);
    } else {
      await c.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
  });
  const r = await runCli(["--json", `${srv.origin}/f.bin`, out.path]);
  assert.equal(r.code, 7, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.verification.verified, false);
  assert.equal(j.verification.checks[0].source, "Repr-Digest");
  assert.equal(j.verification.checks[0].ok, false);
  assert.equal(exists(join(out.path, "f.bin")), false, "no final file");
  assert.equal(srv.requests.filter((q) => q.startsWith("HEAD ")).length, 1);
});

Deno.test("client.ts: Ferry with --no-digest: the HEAD is asked for a bounded time (once per server), saved unverified and said so", async () => {
  await using root = await tempDir();
  await using out = await tempDir();
  const c = pattern(1024 * 1024, 9);
  await Deno.writeFile(join(root.path, "c.bin"), c);
  await Deno.writeFile(join(root.path, "d.bin"), c);
  await using server = await startServer(root.path, ["--log", "text", "--no-digest"]);
  const one = await runCli([`${server.url}c.bin`, out.path]);
  assert.equal(one.code, 0, one.stderr);
  const said = one.stdout + one.stderr;
  assert.match(said, /the server had no digest for the file after 3\.0 s: saved unverified/);
  assert.match(said, /not verified/);
  // In one run, once a wait ran out, the same server is asked once more, without a wait.
  await using out2 = await tempDir();
  const two = await runCli([
    "--parallel",
    "1",
    `${server.url}c.bin`,
    `${server.url}d.bin`,
    out2.path,
  ]);
  assert.equal(two.code, 0, two.stderr);
  const heads = (name: string) =>
    server.stdout().split("\n").filter((l) => l.includes(`HEAD /${name} `)).length;
  // The access log is written after the response: wait for it (bounded).
  for (let i = 0; i < 100 && !server.stdout().includes('"HEAD /d.bin '); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 200)); // a second HEAD, if any, would be logged by now
  assert.ok(heads("c.bin") > 2, `polled: ${heads("c.bin")} HEADs for c.bin`);
  assert.equal(heads("d.bin"), 1, `one HEAD for d.bin:\n${server.stdout()}`);
  assert.equal(sha256(await Deno.readFile(join(out2.path, "d.bin"))), sha256(c));
  assert.equal(sha256(await Deno.readFile(join(out.path, "c.bin"))), sha256(c));
});
