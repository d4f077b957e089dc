/**
 * `client.ts -r`: a folder mirrored from Ferry (JSON listing), nginx autoindex, python
 * http.server, lighttpd and Apache arrives identical (sha-256 per file); a second run transfers
 * nothing; a crafted listing's climbing links are never followed. Plus several URLs at once.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, pattern, runCli, sha256, sha256b64, tempDir } from "../client/cli.ts";
import { ferryServerPath, havePeer, type Peer, startFerry, startPython } from "../client/peers.ts";
import { startFake } from "./fake_server.ts";
import { startApache, startLighttpd, startNginxIndex } from "./listing_peers.ts";

/** The served tree: names with spaces and non-ASCII, an empty file, nested folders, and a
 * secret beside the tree that a mirror of tree/ must never fetch. */
async function makeTree(root: string): Promise<void> {
  const t = join(root, "tree");
  await Deno.mkdir(join(t, "sub", "deep"), { recursive: true });
  await Deno.mkdir(join(t, "empty dir"));
  await Deno.writeTextFile(join(t, "a.txt"), "alpha\n");
  await Deno.writeTextFile(join(t, "b c.txt"), "with a space\n");
  await Deno.writeTextFile(join(t, "ünï €.txt"), "unicode\n");
  await Deno.writeFile(join(t, "empty.bin"), new Uint8Array(0));
  await Deno.writeFile(join(t, "sub", "d.bin"), pattern(200_000, 7));
  await Deno.writeTextFile(join(t, "sub", "deep", "e.txt"), "deep\n");
  await Deno.writeTextFile(join(root, "secret.txt"), "never\n");
  // Apache serves as an unnamed user when run as root: everything world-readable.
  for (const d of [root, t, join(t, "sub"), join(t, "sub", "deep"), join(t, "empty dir")]) {
    await Deno.chmod(d, 0o755);
  }
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

async function mirrorTwice(name: string, start: (root: string, prefix: string) => Promise<Peer>) {
  await using srv = await tempDir();
  await using out = await tempDir();
  await using prefix = await tempDir();
  await makeTree(srv.path);
  await using peer = await start(srv.path, prefix.path);
  const url = `${peer.origin}/tree/`;

  const first = await runCli(["-r", "--json", url, out.path]);
  assert.equal(first.code, 0, `${name}: ${first.stderr}`);
  const want = await hashes(join(srv.path, "tree"));
  const got = await hashes(join(out.path, "tree"));
  assert.deepEqual([...got.entries()].sort(), [...want.entries()].sort(), name);
  assert.ok(exists(join(out.path, "tree", "empty dir")), `${name}: empty folder made`);
  assert.ok(!exists(join(out.path, "secret.txt")), name);
  const s1 = JSON.parse(first.stdout).summary;
  assert.deepEqual([s1.files, s1.skipped, s1.failed], [want.size, 0, 0], name);

  const second = await runCli(["-r", "--json", url, out.path]);
  assert.equal(second.code, 0, `${name}: ${second.stderr}`);
  const s2 = JSON.parse(second.stdout).summary;
  assert.deepEqual([s2.files, s2.bytes, s2.skipped, s2.failed], [0, 0, want.size, 0], name);
  assert.deepEqual(await hashes(join(out.path, "tree")), got, name);
}

Deno.test("client -r mirrors a folder from Ferry's JSON listing; a second run transfers nothing", async () => {
  if (ferryServerPath() === null) return;
  await mirrorTwice("ferry", (root) => startFerry(root));
});

Deno.test("client -r mirrors a folder from nginx autoindex; a second run transfers nothing", async () => {
  if (!havePeer("nginx")) return;
  await mirrorTwice("nginx", (root, prefix) => startNginxIndex(root, prefix));
});

Deno.test("client -r mirrors a folder from python http.server; a second run transfers nothing", async () => {
  if (!havePeer("python3")) return;
  await mirrorTwice("python", (root) => startPython(root));
});

Deno.test("client -r mirrors a folder from lighttpd mod_dirlisting; a second run transfers nothing", async () => {
  if (!havePeer("lighttpd")) return;
  await mirrorTwice("lighttpd", (root, prefix) => startLighttpd(root, prefix));
});

Deno.test("client -r mirrors a folder from Apache mod_autoindex; a second run transfers nothing", async () => {
  if (!havePeer("apache2")) return;
  await mirrorTwice("apache", (root, prefix) => startApache(root, prefix));
});

Deno.test("client -r never follows a link that climbs, is absolute, or names another host", async () => {
  await using other = startFake(async (c) => {
    await c.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nevil");
  });
  const hrefs = [
    "../secret.txt",
    "/secret.txt",
    "/pub/abs.txt",
    `${other.origin}/pub/x.txt`,
    `//127.0.0.1:${other.port}/pub/y.txt`,
    "%2e%2e/secret.txt",
    "sub/../../secret.txt",
    "..%2fsecret.txt",
    "a%2Fb.txt",
    "?C=N;O=D",
    "ok.txt?x=1",
    "#top",
    "javascript:alert(1)",
    "two/levels.txt",
    "ok.txt",
    "dir/",
  ];
  const html = `<html><body>${
    hrefs.map((h) => `<a href="${h.replaceAll("&", "&amp;")}">${h}</a>`).join("\n")
  }</body></html>`;
  const answer = (path: string): string => {
    const body = path === "/pub/" || path === "/pub/dir/"
      ? (path === "/pub/" ? html : `<a href="../../secret.txt">x</a><a href="in.txt">in</a>`)
      : path === "/pub/ok.txt" || path === "/pub/dir/in.txt"
      ? "fine\n"
      : "SHOULD NOT BE FETCHED\n";
    const type = body.startsWith("<") ? "text/html" : "text/plain";
    return `HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };
  await using srv = startFake(async (c, first) => {
    let req: string | null = first;
    for (let i = 0; i < 100 && req !== null; i++) {
      const [method, target] = req.split(" ");
      // A listing is asked for with ?format=json, which a static server ignores.
      const res = answer(target.replace(/\?format=json$/, ""));
      await c.write(method === "HEAD" ? res.slice(0, res.indexOf("\r\n\r\n") + 4) : res);
      req = await c.readRequest();
    }
  });
  await using out = await tempDir();
  const r = await runCli(["-r", `${srv.origin}/pub/`, out.path]);
  assert.equal(r.code, 0, r.stderr);
  const paths = srv.requests.map((q) => q.split(" ")[1]).sort();
  assert.deepEqual(paths, [
    "/pub/?format=json",
    "/pub/dir/?format=json",
    "/pub/dir/in.txt",
    "/pub/ok.txt",
  ]);
  assert.equal(other.requests.length, 0);
  assert.deepEqual(
    [...(await hashes(out.path)).keys()].sort(),
    ["pub/dir/in.txt", "pub/ok.txt"],
  );
});

Deno.test("client -r stops at --max-depth and never writes through a planted symlink", async () => {
  if (ferryServerPath() === null) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  await using outside = await tempDir();
  await makeTree(srv.path);
  await using peer = await startFerry(srv.path);
  await Deno.mkdir(join(out.path, "tree"));
  await Deno.symlink(outside.path, join(out.path, "tree", "sub"));
  const r = await runCli(["-r", "--max-depth", "1", "--json", `${peer.origin}/tree/`, out.path]);
  assert.equal(r.code, 6, r.stderr); // the link in the way: a local error
  assert.deepEqual([...Deno.readDirSync(outside.path)], []);
  const m = JSON.parse(r.stdout).mirrors[0];
  assert.equal(m.tooDeep, 0); // tree/sub was refused before its children were seen
  assert.ok(exists(join(out.path, "tree", "a.txt")));

  await Deno.remove(join(out.path, "tree", "sub"));
  const d = await runCli(["-r", "--max-depth", "1", "--json", `${peer.origin}/tree/`, out.path]);
  assert.equal(d.code, 0, d.stderr);
  assert.equal(JSON.parse(d.stdout).mirrors[0].tooDeep, 1); // sub/deep not entered
  assert.ok(exists(join(out.path, "tree", "sub", "d.bin")));
  assert.ok(!exists(join(out.path, "tree", "sub", "deep")));
});

Deno.test("client URL URL DIR downloads every URL; a failing one sets the exit code", async () => {
  if (ferryServerPath() === null) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  await makeTree(srv.path);
  await using peer = await startFerry(srv.path);
  const t = `${peer.origin}/tree`;
  const r = await runCli([`${t}/a.txt`, `${t}/sub/d.bin`, out.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await Deno.readTextFile(join(out.path, "a.txt")), "alpha\n");
  assert.equal(sha256(await Deno.readFile(join(out.path, "d.bin"))), sha256(pattern(200_000, 7)));
  assert.match(r.stdout, /2 files saved/);

  const bad = await runCli(["-d", out.path, `${t}/missing.txt`, `${t}/sub/deep/e.txt`]);
  assert.equal(bad.code, 4, bad.stderr);
  assert.ok(exists(join(out.path, "e.txt")));
  assert.match(bad.stdout, /1 file saved .* 1 failed/);

  // HOST:PORT FILE DIR and the seed's HOST PORT FILE DIR: one file each.
  const hp = await runCli([`127.0.0.1:${peer.port}`, "tree/b c.txt", join(out.path, "hp")]);
  assert.equal(hp.code, 0, hp.stderr);
  assert.equal(await Deno.readTextFile(join(out.path, "hp", "b c.txt")), "with a space\n");
  const seed = await runCli(["127.0.0.1", String(peer.port), "tree/b c.txt", join(out.path, "s")]);
  assert.equal(seed.code, 0, seed.stderr);
  assert.ok(exists(join(out.path, "s", "b c.txt")));
});

Deno.test("client -r checks each file against its Repr-Digest: a mismatch is exit 7, no file", async () => {
  const good = "good\n";
  const listing = `<a href="good.txt">g</a><a href="bad.txt">b</a>`;
  await using srv = startFake(async (c, first) => {
    let req: string | null = first;
    for (let i = 0; i < 10 && req !== null; i++) {
      const path = req.split(" ")[1].replace(/\?format=json$/, "");
      const body = path === "/p/" ? listing : good;
      const digest = path === "/p/good.txt"
        ? `Repr-Digest: sha-256=:${sha256b64(good)}:\r\n`
        : path === "/p/bad.txt"
        ? `Repr-Digest: sha-256=:${sha256b64("other")}:\r\n`
        : "Content-Type: text/html\r\n";
      await c.write(`HTTP/1.1 200 OK\r\n${digest}Content-Length: ${body.length}\r\n\r\n${body}`);
      req = await c.readRequest();
    }
  });
  await using out = await tempDir();
  const r = await runCli(["-r", "--json", `${srv.origin}/p/`, out.path]);
  assert.equal(r.code, 7, r.stderr);
  assert.match(r.stderr, /checksum mismatch/);
  const m = JSON.parse(r.stdout).mirrors[0];
  assert.deepEqual([m.files, m.verified, m.failed], [1, 1, 1]);
  assert.equal(await Deno.readTextFile(join(out.path, "p", "good.txt")), good);
  assert.ok(!exists(join(out.path, "p", "bad.txt")));
});
