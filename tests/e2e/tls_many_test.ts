/**
 * End to end: https with the many-file client — `-r` mirroring a folder from Ferry over TLS
 * (keep-alive TLS connections, --cacert, credentials on every request), `--segments 2` over TLS,
 * and several https URLs whose credentials each go only to their own origin.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pattern, runCli, sha256, tempDir } from "../client/cli.ts";
import { type RunningServer, startServer } from "./raw.ts";
import { havePeer } from "./peers.ts";
import { makeCert, type TestCert } from "./tls_certs.ts";

const PASSWORD = "s3cr3t-Pw";

/** A small tree with a nested folder and one file large enough for --segments. */
async function makeTree(root: string): Promise<Map<string, string>> {
  const files: Record<string, Uint8Array> = {
    "a.txt": new TextEncoder().encode("alpha\n"),
    "b c.txt": new TextEncoder().encode("with a space\n"),
    "sub/d.bin": pattern(300_000, 5),
    "sub/deep/e.txt": new TextEncoder().encode("deep\n"),
    "big.bin": pattern(3 * 1024 * 1024 + 11, 9),
  };
  const sums = new Map<string, string>();
  for (const [rel, data] of Object.entries(files)) {
    await Deno.mkdir(join(root, "tree", rel, ".."), { recursive: true });
    await Deno.writeFile(join(root, "tree", rel), data);
    sums.set(rel, sha256(data));
  }
  return sums;
}

/** relative path → sha-256 of every regular file under `dir`. */
async function hashes(dir: string, rel = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(join(dir, rel))) {
    const p = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory) { for (const [k, v] of await hashes(dir, p)) out.set(k, v); }
    else out.set(p, sha256(await Deno.readFile(join(dir, p))));
  }
  return out;
}

/** Ferry over TLS with `--auth USER:PASSWORD`, log in text. */
function startTlsFerry(root: string, cert: TestCert, user: string): Promise<RunningServer> {
  return startServer(root, [
    "--tls-cert",
    cert.certFile,
    "--tls-key",
    cert.keyFile,
    "--auth",
    `${user}:${PASSWORD}`,
    "--no-dns",
  ]);
}

/** The access-log lines of `s` (one per request). */
function requestLines(s: RunningServer): string[] {
  return s.stdout().split("\n").filter((l) => /" \d{3} -?\d+ /.test(l));
}

/** Waits (bounded) until `s` has logged `n` request lines. */
async function waitLines(s: RunningServer, n: number): Promise<string[]> {
  for (let i = 0; i < 100 && requestLines(s).length < n; i++) {
    await new Promise((r) => setTimeout(r, 30));
  }
  return requestLines(s);
}

Deno.test("client -r over https from Ferry: --cacert, keep-alive TLS connections, credentials on every request, never shown", async () => {
  if (!havePeer("openssl")) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  const want = await makeTree(srv.path);
  const cert = await makeCert(srv.path);
  const ferry = await startTlsFerry(join(srv.path), cert, "ann");
  try {
    const url = `https://localhost:${ferry.port}/tree/`;
    // Without credentials: the listing is refused (401, exit 4), nothing is fetched.
    const none = await runCli(["-r", "--cacert", cert.certFile, url, join(out.path, "none")]);
    assert.equal(none.code, 4, none.stderr);

    const r = await runCli([
      "-r",
      "--json",
      "--cacert",
      cert.certFile,
      "-u",
      `ann:${PASSWORD}`,
      url,
      out.path,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = await hashes(join(out.path, "tree"));
    assert.deepEqual([...got.entries()].sort(), [...want.entries()].sort());
    const j = JSON.parse(r.stdout);
    const m = j.mirrors[0];
    assert.deepEqual([m.files, m.failed], [want.size, 0]);
    // Keep-alive over TLS: fewer connections than requests (listings + files).
    assert.ok(m.connections < m.files + m.listings, JSON.stringify(m));
    assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
    assert.ok(!r.stdout.includes(btoa(`ann:${PASSWORD}`)));

    // The server saw every request of the mirror authenticated, and nothing refused.
    const lines = await waitLines(ferry, 1 + m.files + m.listings);
    // (GETs: a fresh file's digest is also asked for by HEAD after the body, late_digest.ts.)
    const mirrored = lines.filter((l) => l.includes('"GET ') && l.includes('user="ann"'));
    assert.equal(mirrored.length, m.files + m.listings, lines.join("\n"));
    assert.ok(mirrored.every((l) => /" 200 /.test(l)), lines.join("\n"));
    assert.ok(!lines.some((l) => l.includes("(refused)")), lines.join("\n"));
    assert.match(ferry.stdout(), /connect .*tls=yes alpn=http\/1\.1/);

    // -k (node:tls): the same mirror over its keep-alive connections, with the warning.
    const k = await runCli(["-r", "-k", "-u", `ann:${PASSWORD}`, url, join(out.path, "k")]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stderr, /warning: -k\/--insecure/);
    const gotK = await hashes(join(out.path, "k", "tree"));
    assert.deepEqual([...gotK.entries()].sort(), [...want.entries()].sort());
  } finally {
    await ferry.stop();
  }
});

Deno.test("client --segments 2 over https: the file arrives whole over 2 TLS connections, credentials on each", async () => {
  if (!havePeer("openssl")) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  const want = await makeTree(srv.path);
  const cert = await makeCert(srv.path);
  const ferry = await startTlsFerry(srv.path, cert, "ann");
  try {
    const r = await runCli([
      "--segments",
      "2",
      "--json",
      "--cacert",
      cert.certFile,
      `https://ann:${PASSWORD}@localhost:${ferry.port}/tree/big.bin`,
      out.path,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(await Deno.readFile(join(out.path, "big.bin"))), want.get("big.bin"));
    const j = JSON.parse(r.stdout);
    assert.ok(j.connections >= 2, `connections: ${j.connections}`);
    assert.equal(j.connection.tls.alpn, "http/1.1");
    assert.deepEqual(j.request.headers.find(([k]: [string]) => k === "Authorization"), [
      "Authorization",
      "Basic ***",
    ]);
    assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
    // Two ranges (206), each authenticated, after the HEAD.
    const lines = await waitLines(ferry, 3);
    const ranges = lines.filter((l) =>
      /"GET \/tree\/big\.bin HTTP\/1\.1" 206 .*user="ann"/.test(l)
    );
    assert.equal(ranges.length, 2, lines.join("\n"));
    assert.ok(!lines.some((l) => l.includes("(refused)")), lines.join("\n"));
  } finally {
    await ferry.stop();
  }
});

Deno.test("several https URLs: each URL's credentials go to its own origin only", async () => {
  if (!havePeer("openssl")) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  const want = await makeTree(srv.path);
  const cert = await makeCert(srv.path);
  const a = await startTlsFerry(srv.path, cert, "ann");
  const b = await startTlsFerry(srv.path, cert, "bob");
  try {
    const r = await runCli([
      "--cacert",
      cert.certFile,
      `https://ann:${PASSWORD}@localhost:${a.port}/tree/a.txt`,
      `https://bob:${PASSWORD}@localhost:${b.port}/tree/sub/d.bin`,
      out.path,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256(await Deno.readFile(join(out.path, "a.txt"))), want.get("a.txt"));
    assert.equal(sha256(await Deno.readFile(join(out.path, "d.bin"))), want.get("sub/d.bin"));
    assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
    // Had one URL's credentials gone to the other origin, its server would log "(refused)".
    const la = await waitLines(a, 1);
    const lb = await waitLines(b, 1);
    // (The GET, then any HEAD asking for a fresh file's digest: all with the same user.)
    const users = (ls: string[]) => [...new Set(ls.map((l) => /user="([^"]*)"/.exec(l)?.[1]))];
    assert.deepEqual(users(la), ["ann"], la.join("\n"));
    assert.deepEqual(users(lb), ["bob"], lb.join("\n"));
  } finally {
    await a.stop();
    await b.stop();
  }
});
