/**
 * End to end: `client.ts` downloading from real servers — nginx, `python3 -m http.server` and
 * Ferry's own server.ts — byte-identical files of 0 B to 10 MiB with spaces and Unicode in
 * their names, 404s, and resume against a server that honours ranges (nginx, Ferry) and one
 * that ignores them (python).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, listDir, pattern, runCli, sha256, tempDir } from "../client/cli.ts";
import {
  ferryServerPath,
  havePeer,
  type Peer,
  startFerry,
  startNginx,
  startPython,
} from "../client/peers.ts";

const FILES: Record<string, number> = {
  "empty.bin": 0,
  "one.bin": 1,
  "4k.bin": 4096,
  "10m.bin": 10 * 1024 * 1024,
  "with space.txt": 100,
  "ünïcødé ✓.txt": 200,
};

async function fixture(root: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  let seed = 1;
  for (const [name, size] of Object.entries(FILES)) {
    const data = pattern(size, seed++);
    await Deno.writeFile(join(root, name), data);
    files.set(name, data);
  }
  return files;
}

/** The checks every peer must pass. */
async function downloads(peer: Peer, files: Map<string, Uint8Array>, out: string) {
  for (const [name, data] of files) {
    const r = await runCli(["-q", "127.0.0.1", String(peer.port), name, out]);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.equal(sha256(await Deno.readFile(join(out, name))), sha256(data), name);
  }
  assert.deepEqual(listDir(out), [...files.keys()].sort(), "no .part or meta left behind");
  // The URL form, percent-encoded by the user, saves under the decoded name.
  const url = `${peer.origin}/${encodeURIComponent("ünïcødé ✓.txt")}`;
  const r = await runCli(["-q", "-o", "copy.txt", url, out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await Deno.readFile(join(out, "copy.txt")), files.get("ünïcødé ✓.txt"));
}

async function notFound(peer: Peer, out: string) {
  const r = await runCli(["127.0.0.1", String(peer.port), "no/such file.bin", out]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /404/);
  assert.ok(!exists(join(out, "such file.bin")) && !exists(join(out, "such file.bin.part")));
}

/** A .part holding the first third of 10m.bin, resumed with -c. */
async function resume(peer: Peer, data: Uint8Array, out: string, meta: object | null) {
  const final = join(out, "10m.bin");
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeFile(final + ".part", data.subarray(0, 3_000_000));
  if (meta !== null) await Deno.writeTextFile(final + ".part.meta", JSON.stringify(meta));
  const r = await runCli(["-c", "--json", "127.0.0.1", String(peer.port), "10m.bin", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha256(await Deno.readFile(final)), sha256(data));
  assert.ok(!exists(final + ".part") && !exists(final + ".part.meta"));
  return JSON.parse(r.stdout);
}

Deno.test("client.ts downloads from nginx: identical files, 404, resume with If-Range", async () => {
  if (!havePeer("nginx")) return;
  await using tmp = await tempDir();
  const www = join(tmp.path, "www");
  await Deno.mkdir(www);
  const files = await fixture(www);
  await using nginx = await startNginx(www, tmp.path);
  await downloads(nginx, files, join(tmp.path, "a"));
  await notFound(nginx, join(tmp.path, "b"));

  // The ETag nginx sends, remembered as a first attempt would have.
  const head = await runCli([
    "--json",
    "--max-size",
    "0",
    `${nginx.origin}/10m.bin`,
    join(tmp.path, "c"),
  ]);
  assert.equal(head.code, 5, head.stderr);
  const etag = JSON.parse(head.stdout).response.headers.find(([k]: string[]) => k === "ETag")[1];
  const j = await resume(nginx, files.get("10m.bin")!, join(tmp.path, "c"), {
    url: `${nginx.origin}/10m.bin`,
    etag,
    lastModified: null,
    size: 10 * 1024 * 1024,
  });
  assert.equal(j.resume, "appended");
  assert.equal(j.bytes.received, 10 * 1024 * 1024 - 3_000_000);
  assert.equal(j.request.headers.find(([k]: string[]) => k === "If-Range")[1], etag);
});

Deno.test("client.ts downloads from python http.server, which ignores ranges: restart cleanly", async () => {
  if (!havePeer("python3")) return;
  await using tmp = await tempDir();
  const www = join(tmp.path, "www");
  await Deno.mkdir(www);
  const files = await fixture(www);
  await using py = await startPython(www);
  await downloads(py, files, join(tmp.path, "a"));
  await notFound(py, join(tmp.path, "b"));
  const j = await resume(py, files.get("10m.bin")!, join(tmp.path, "c"), null);
  assert.equal(j.resume, "restarted");
  assert.equal(j.bytes.received, 10 * 1024 * 1024);
});

Deno.test("client.ts downloads from Ferry's server.ts, verified by Repr-Digest, and resumes", async () => {
  if (ferryServerPath() === null) {
    console.log("  (skipped: server.ts does not exist yet)");
    return;
  }
  await using tmp = await tempDir();
  const www = join(tmp.path, "www");
  await Deno.mkdir(www);
  const files = await fixture(www);
  await using ferry = await startFerry(www);
  await downloads(ferry, files, join(tmp.path, "a"));
  await notFound(ferry, join(tmp.path, "b"));
  const r = await runCli([
    "--json",
    "--rtt-probes",
    "3",
    `${ferry.origin}/4k.bin`,
    join(tmp.path, "d"),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.rtt.probes.method, "head", "Ferry keeps the connection open for HEAD probes");
  assert.equal(j.rtt.probes.count, 3);
  assert.equal(j.connections, 1, "probes and GET on one connection");
  const resumed = await resume(ferry, files.get("10m.bin")!, join(tmp.path, "c"), null);
  assert.equal(resumed.resume, "appended");
});
