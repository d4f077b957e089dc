/**
 * One policy for listings and GET, through the real server: every entry a listing (HTML or
 * JSON) offers is served by GET, and every name GET refuses (outside symlinks, dotfiles and
 * links to them, broken links, FIFOs, names with TAB, newline or backslash) is not listed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer } from "./raw.ts";

const TIMEOUT_MS = 5_000;

Deno.test("a listing offers exactly what GET serves (HTML and JSON)", async () => {
  const base = await Deno.makeTempDir({ prefix: "ferry_listing_e2e_" });
  const root = join(base, "root");
  try {
    await Deno.mkdir(join(root, "sub"), { recursive: true });
    await Deno.mkdir(join(base, "outside"));
    await Deno.writeTextFile(join(base, "outside", "shadow"), "s".repeat(1234));
    await Deno.writeTextFile(join(root, "a b.txt"), "a");
    await Deno.writeTextFile(join(root, ".env"), "e");
    await Deno.symlink("a b.txt", join(root, "in-link"));
    await Deno.symlink("../outside/shadow", join(root, "shadow-link"));
    await Deno.symlink("/etc/passwd", join(root, "passwd-link"));
    await Deno.symlink(".env", join(root, "env-link"));
    await Deno.symlink("nowhere", join(root, "broken"));
    for (const n of ["tab\tname", "nl\nname", "back\\slash"]) {
      await Deno.writeTextFile(join(root, n), "n");
    }
    await new Deno.Command("mkfifo", { args: [join(root, "fifo")] }).output().catch(() => {});

    const server = await startServer(root, ["--log", "none"]);
    try {
      const get = async (path: string, accept?: string) => {
        const r = await fetch(server.url + path.replace(/^\//, ""), {
          headers: accept ? { accept } : {},
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        return { status: r.status, body: await r.text() };
      };
      const json = JSON.parse((await get("/", "application/json")).body) as {
        entries: Array<{ name: string; href: string; size: number }>;
      };
      const names = json.entries.map((e) => e.name).sort();
      assert.deepEqual(names, ["a b.txt", "in-link", "sub"]);
      for (const e of json.entries) {
        assert.equal((await get(e.href)).status, 200, `listed ${e.href} is served`);
      }
      const html = (await get("/")).body;
      // Entry links only: the page also links sort orders and archives of this folder ("?…").
      const hrefs = [...html.matchAll(/<a href="([^"]*)">/g)].map((m) => m[1])
        .filter((h) => !h.startsWith("?"));
      assert.deepEqual(hrefs.sort(), ["a%20b.txt", "in-link", "sub/"]);
      for (
        const hidden of [
          "shadow-link",
          "passwd-link",
          "env-link",
          ".env",
          "broken",
          "fifo",
          "tab\tname",
          "tab%09",
          "back\\slash",
          "back%5C",
          "nl\nname",
          "nl%0A",
          "1234",
          "1.2 KiB",
        ]
      ) {
        assert.ok(!html.includes(hidden), `${hidden} is not in the page`);
      }
      // And GET refuses each of them.
      for (
        const [path, code] of [
          ["/shadow-link", 404],
          ["/passwd-link", 404],
          ["/env-link", 404],
          ["/.env", 404],
          ["/broken", 404],
          ["/tab%09name", 400],
          ["/back%5Cslash", 400],
        ] as const
      ) assert.equal((await get(path)).status, code, path);
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("DIR=/: a symlink to a top-level dotfile is answered 404 with dotfiles off", async () => {
  const dot = [...Deno.readDirSync("/")].find((e) => e.name.startsWith(".") && e.isFile);
  if (dot === undefined) {
    console.log(
      "  (skipped: no top-level dotfile here; tests/server/verified_open_test.ts covers it)",
    );
    return;
  }
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ferry_root_e2e_" }));
  try {
    await Deno.symlink(`/${dot.name}`, join(base, "link"));
    await Deno.writeTextFile(join(base, "plain.txt"), "plain");
    const server = await startServer("/", ["--log", "none"]);
    try {
      const get = async (path: string) => {
        const r = await fetch(server.url + path.slice(1), {
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        await r.body?.cancel();
        return r.status;
      };
      assert.equal(await get(`${base}/plain.txt`), 200);
      assert.equal(await get(`${base}/link`), 404);
      assert.equal(await get(`/${dot.name}`), 404);
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
