/**
 * The listing over HTTP from the real `server.ts`: the JSON twin by `?format=json` and by Accept,
 * `Vary: Accept` on both, the page's Content-Security-Policy, and sort links that work without a
 * browser.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { rawRequest, startServer } from "./raw.ts";
import { LISTING_CSP } from "../../lib/server/listing_assets.ts";

async function fixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-listing-http-" });
  await Deno.writeFile(join(dir, "small.txt"), new Uint8Array(10));
  await Deno.writeFile(join(dir, "big.bin"), new Uint8Array(5000));
  await Deno.writeFile(join(dir, "mid.dat"), new Uint8Array(700));
  await Deno.mkdir(join(dir, "folder"));
  return dir;
}

Deno.test("server.ts listing: JSON by ?format=json or Accept, Vary: Accept, CSP on the page", async () => {
  const dir = await fixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    for (
      const [query, accept] of [
        ["?format=json", "text/html"],
        ["", "application/json"],
        ["?format=json&sort=size&order=desc", "*/*"],
      ]
    ) {
      const res = await fetch(server.url + query, { headers: { Accept: accept } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8", query);
      assert.equal(res.headers.get("vary"), "Accept");
      assert.equal(res.headers.get("content-security-policy"), null);
      const json = await res.json();
      assert.equal(json.path, "/");
      assert.equal(json.truncated, false);
      const folder = json.entries.find((e: { name: string }) => e.name === "folder");
      assert.deepEqual({ type: folder.type, size: folder.size, href: folder.href }, {
        type: "directory",
        size: null,
        href: "/folder/",
      });
      if (query.includes("sort=size")) {
        assert.deepEqual(
          json.entries.map((e: { name: string }) => e.name),
          ["folder", "big.bin", "mid.dat", "small.txt"],
        );
      }
    }

    const page = await fetch(server.url + "?format=html", {
      headers: { Accept: "application/json" },
    });
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(page.headers.get("vary"), "Accept");
    assert.equal(page.headers.get("content-security-policy"), LISTING_CSP);
    await page.body?.cancel();

    // Sorted without a browser: the rows of ?sort=size&order=asc, smallest first.
    const html = await (await fetch(server.url + "?sort=size&order=asc")).text();
    const rows = [...html.matchAll(/<td class="n"><a href="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(rows, [
      "folder/?sort=size&amp;order=asc",
      "small.txt",
      "mid.dat",
      "big.bin",
    ]);

    // HEAD answers the same head with no body.
    const head = await rawRequest(
      server.port,
      "HEAD /?format=json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.equal(head.status, 200);
    assert.match(head.text, /Content-Type: application\/json; charset=utf-8\r\n/);
    assert.match(head.text, /Vary: Accept\r\n/);
    assert.ok(head.text.endsWith("\r\n\r\n"), "HEAD sent a body");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts: ?format=json lists a folder that has an index.html; a plain GET and Accept still get the page", async () => {
  const dir = await fixture();
  await Deno.writeTextFile(join(dir, "folder", "index.html"), "<h1>home</h1>");
  await Deno.writeTextFile(join(dir, "folder", "a.txt"), "a");
  const server = await startServer(dir, ["--log", "none"]);
  const off = await startServer(dir, ["--log", "none", "--no-listing"]);
  try {
    for (const accept of ["*/*", "application/json"]) {
      const page = await fetch(`${server.url}folder/`, { headers: { Accept: accept } });
      assert.equal(await page.text(), "<h1>home</h1>", accept);
    }
    const res = await fetch(`${server.url}folder/?format=json`);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    const json = await res.json();
    assert.deepEqual(json.entries.map((e: { name: string }) => e.name).sort(), [
      "a.txt",
      "index.html",
    ]);
    // Listings off: nothing is listed; the folder's index.html answers, as before.
    const noList = await fetch(`${off.url}folder/?format=json`);
    assert.equal(await noList.text(), "<h1>home</h1>");
  } finally {
    await server.stop();
    await off.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
