/**
 * `client.ts -r` and a folder that has an index.html: from Ferry (which answers the mirror's
 * `?format=json` with the listing) every file arrives, index.html included; from python
 * http.server (which serves the index.html) the page is saved as index.html and what it links to
 * inside the start folder is fetched, as wget -r does, and the summary says so.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, runCli, tempDir } from "../client/cli.ts";
import { ferryServerPath, havePeer, startFerry, startPython } from "../client/peers.ts";

const PAGE = `<!doctype html><html><head><title>Our site</title>
<link rel="stylesheet" href="style.css"></head><body>
<a href="page.html#top">page</a> <img src="img/logo.png">
<a href="../a.txt">up, inside the start</a> <a href="../../secret.txt">above the start</a>
<a href="https://example.com/x">elsewhere</a> <a href="/tree/abs.txt">absolute</a>
</body></html>`;

/** tree/ with a.txt and site/ (index.html, what it links to, and a file it does not). */
async function makeSite(root: string): Promise<void> {
  const site = join(root, "tree", "site");
  await Deno.mkdir(join(site, "img"), { recursive: true });
  await Deno.writeTextFile(join(root, "tree", "a.txt"), "alpha\n");
  await Deno.writeTextFile(join(root, "tree", "abs.txt"), "absolute\n");
  await Deno.writeTextFile(join(root, "secret.txt"), "never\n");
  await Deno.writeTextFile(join(site, "index.html"), PAGE);
  await Deno.writeTextFile(join(site, "page.html"), "<title>p</title>page\n");
  await Deno.writeTextFile(join(site, "style.css"), "body{}\n");
  await Deno.writeFile(join(site, "img", "logo.png"), new Uint8Array([137, 80, 78, 71]));
  await Deno.writeTextFile(join(site, "unlinked.txt"), "not on the page\n");
}

Deno.test("client -r from Ferry: a folder with an index.html is listed (?format=json), every file saved", async () => {
  if (ferryServerPath() === null) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  await makeSite(srv.path);
  await using peer = await startFerry(srv.path);
  const r = await runCli(["-r", "--json", `${peer.origin}/tree/`, out.path]);
  assert.equal(r.code, 0, r.stderr);
  const site = join(out.path, "tree", "site");
  assert.equal(Deno.readTextFileSync(join(site, "index.html")), PAGE);
  assert.equal(Deno.readTextFileSync(join(site, "unlinked.txt")), "not on the page\n");
  assert.ok(exists(join(site, "img", "logo.png")));
  const m = JSON.parse(r.stdout).mirrors[0];
  assert.deepEqual([m.files, m.failed, m.indexPages], [7, 0, []]);
});

Deno.test("client -r from python http.server: a folder's index page is saved and its links inside the start followed", async () => {
  if (!havePeer("python3")) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  await makeSite(srv.path);
  await using peer = await startPython(srv.path);
  const url = `${peer.origin}/tree/`;
  const r = await runCli(["-r", url, out.path]);
  assert.equal(r.code, 0, r.stderr);
  const tree = join(out.path, "tree");
  assert.equal(Deno.readTextFileSync(join(tree, "site", "index.html")), PAGE);
  assert.equal(Deno.readTextFileSync(join(tree, "site", "page.html")), "<title>p</title>page\n");
  assert.equal(Deno.readTextFileSync(join(tree, "site", "style.css")), "body{}\n");
  assert.deepEqual(
    [...Deno.readFileSync(join(tree, "site", "img", "logo.png"))],
    [137, 80, 78, 71],
  );
  assert.equal(Deno.readTextFileSync(join(tree, "a.txt")), "alpha\n");
  // Not linked, above the start, another host: never fetched; nothing outside DIR/tree.
  assert.ok(!exists(join(tree, "site", "unlinked.txt")));
  assert.ok(!exists(join(out.path, "secret.txt")));
  assert.match(
    r.stdout,
    new RegExp(
      `1 folder had an index page instead of a listing \\(saved as index\\.html, its links followed\\): ${url}site/`,
    ),
  );
});
