import assert from "node:assert/strict";
import { join } from "node:path";
import { type ListingEntry, MAX_LISTING_ENTRIES } from "../../lib/server/listing.ts";
import {
  gatherListing,
  LISTING_CONCURRENCY,
  ListingCache,
} from "../../lib/server/listing_entries.ts";
import { Confinement } from "../../lib/server/verified_open.ts";

/** A root with one entry of every kind the policy decides on, and an outside directory. */
async function fixture(): Promise<{ base: string; root: string }> {
  const base = await Deno.makeTempDir({ prefix: "ferry_listing_policy_" });
  const root = join(base, "root");
  const outside = join(base, "outside");
  await Deno.mkdir(root);
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(outside, "secret"), "0123456789");
  await Deno.mkdir(join(outside, "odir"));
  await Deno.writeTextFile(join(root, "a.txt"), "hello");
  await Deno.writeTextFile(join(root, ".hidden"), "x");
  await Deno.mkdir(join(root, "sub"));
  await Deno.mkdir(join(root, ".git"));
  await Deno.writeTextFile(join(root, ".git", "config"), "c");
  await Deno.symlink("a.txt", join(root, "in-link"));
  await Deno.symlink(join(root, "a.txt"), join(root, "abs-in-link"));
  await Deno.symlink("sub", join(root, "in-dir-link"));
  await Deno.symlink("../outside/secret", join(root, "out-link"));
  await Deno.symlink(join(outside, "odir"), join(root, "out-dir-link"));
  await Deno.symlink("missing", join(root, "broken"));
  await Deno.symlink(".git/config", join(root, "dot-link"));
  await Deno.symlink("/etc/passwd", join(root, "etc-link"));
  for (const name of ["tab\there", "new\nline", "back\\slash", "del\x7f"]) {
    await Deno.writeTextFile(join(root, name), "n");
  }
  await new Deno.Command("mkfifo", { args: [join(root, "fifo")] }).output().catch(() => {});
  return { base, root };
}

async function listed(
  root: string,
  options: { dotfiles: boolean; followSymlinks: boolean },
): Promise<Map<string, ListingEntry>> {
  const c = await Confinement.create({ root, ...options });
  const held = await c.open(root);
  try {
    const { entries } = await gatherListing(held, c);
    return new Map(entries.map((e) => [e.name, e]));
  } finally {
    held.close();
  }
}

Deno.test("gatherListing() lists exactly what GET serves (policy table)", async () => {
  const { base, root } = await fixture();
  try {
    // [name, listed with (dotfiles off, no follow), (dotfiles on), (follow symlinks)]
    // "file:N" = listed as a file of N bytes; "dir" = listed as a directory; "-" = not listed.
    const table: Array<[string, string, string, string]> = [
      ["a.txt", "file:5", "file:5", "file:5"],
      ["sub", "dir", "dir", "dir"],
      ["in-link", "file:5", "file:5", "file:5"],
      ["abs-in-link", "file:5", "file:5", "file:5"],
      ["in-dir-link", "dir", "dir", "dir"],
      ["out-link", "-", "-", "file:10"], // outside: no size/type oracle
      ["out-dir-link", "-", "-", "dir"],
      ["etc-link", "-", "-", "file:*"],
      ["broken", "-", "-", "-"],
      [".hidden", "-", "file:1", "-"],
      [".git", "-", "dir", "-"],
      ["dot-link", "-", "file:1", "-"], // a link to a dotfile is a dotfile
      ["tab\there", "-", "-", "-"], // GET answers 400: never linked
      ["new\nline", "-", "-", "-"],
      ["back\\slash", "-", "-", "-"],
      ["del\x7f", "-", "-", "-"],
      ["fifo", "-", "-", "-"],
    ];
    const modes = [
      { dotfiles: false, followSymlinks: false },
      { dotfiles: true, followSymlinks: false },
      { dotfiles: false, followSymlinks: true },
    ];
    for (let m = 0; m < modes.length; m++) {
      const got = await listed(root, modes[m]);
      for (const row of table) {
        const name = row[0];
        const want = row[m + 1];
        const e = got.get(name);
        const saw = e === undefined ? "-" : e.isDirectory ? "dir" : `file:${e.size}`;
        if (want === "file:*") {
          assert.ok(saw.startsWith("file:"), `${name} ${JSON.stringify(modes[m])}`);
        } else assert.equal(saw, want, `${JSON.stringify(name)} with ${JSON.stringify(modes[m])}`);
      }
      assert.equal(got.size, table.filter((r) => r[m + 1] !== "-").length, "nothing else listed");
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("gatherListing() stops at MAX_LISTING_ENTRIES and says it did", async () => {
  assert.equal(MAX_LISTING_ENTRIES, 10_000);
  const root = await Deno.makeTempDir({ prefix: "ferry_listing_big_" });
  try {
    const n = MAX_LISTING_ENTRIES + 5;
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        Array.from(
          { length: Math.min(500, n - i) },
          (_, j) => Deno.writeFile(`${root}/f${i + j}`, new Uint8Array()),
        ),
      );
    }
    const c = await Confinement.create({ root, dotfiles: false, followSymlinks: false });
    const held = await c.open(root);
    try {
      const { entries, truncated } = await gatherListing(held, c);
      assert.equal(entries.length, MAX_LISTING_ENTRIES);
      assert.equal(truncated, true);
    } finally {
      held.close();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("ListingCache: reuses a listing while the directory is unchanged, rereads after a change, bounds concurrent reads", async () => {
  const base = await Deno.makeTempDir({ prefix: "ferry_listing_cache_" });
  try {
    const dirs = Array.from({ length: 5 }, (_, i) => join(base, `d${i}`));
    for (const d of dirs) {
      await Deno.mkdir(d);
      for (let i = 0; i < 50; i++) await Deno.writeTextFile(join(d, `f${i}`), "x");
    }
    const c = await Confinement.create({ root: base, dotfiles: false, followSymlinks: false });
    // Timestamps tick every few ms: a change within the same tick would not show; the real
    // cache does not reuse a directory changed in the last 2 s, this one is told to.
    const cache = new ListingCache(c, { racyMs: 0 });
    const tick = () => new Promise((r) => setTimeout(r, 30));
    await tick();
    const held = await c.open(dirs[0]);
    const first = await cache.get(held);
    assert.equal(first.entries.length, 50);
    assert.equal(await cache.get(held), first, "the same data while unchanged");
    held.close();
    await tick();
    await Deno.writeTextFile(join(dirs[0], "new"), "y");
    const again = await c.open(dirs[0]);
    const second = await cache.get(again);
    again.close();
    assert.equal(second.entries.length, 51, "a new entry is seen at once");

    // Rendered pages are reused with their data, per variant, and redone after a change.
    let renders = 0;
    const render = (v: string) => (d: { entries: unknown[] }) => {
      renders++;
      return new TextEncoder().encode(`${v}:${d.entries.length}`);
    };
    const h1 = await c.open(dirs[0]);
    const pageA = await cache.rendered(h1, "html", render("html"));
    assert.equal(await cache.rendered(h1, "html", render("html")), pageA);
    const pageB = await cache.rendered(h1, "json", render("json"));
    assert.equal(new TextDecoder().decode(pageB), "json:51");
    assert.equal(renders, 2, "one render per variant");
    h1.close();
    await tick();
    await Deno.remove(join(dirs[0], "new"));
    const h2 = await c.open(dirs[0]);
    assert.equal(
      new TextDecoder().decode(await cache.rendered(h2, "html", render("html"))),
      "html:50",
    );
    h2.close();
    assert.equal(renders, 3);

    // With the default, a directory changed just now is read again each time.
    const strict = new ListingCache(c);
    const h3 = await c.open(dirs[0]);
    const r1 = await strict.get(h3);
    assert.notEqual(await strict.get(h3), r1, "a racy directory is not reused");
    h3.close();

    // Many requests for many directories: never more than LISTING_CONCURRENCY reads at once,
    // and requests for one directory share one read.
    const helds = await Promise.all(dirs.slice(1).map((d) => c.open(d)));
    let maxActive = 0;
    const probe = setInterval(() => (maxActive = Math.max(maxActive, cache.active)), 0);
    const results = await Promise.all(
      helds.flatMap((h) => Array.from({ length: 4 }, () => cache.get(h))),
    );
    clearInterval(probe);
    for (const h of helds) h.close();
    assert.ok(maxActive <= LISTING_CONCURRENCY, `active ${maxActive}`);
    for (let i = 0; i < results.length; i += 4) {
      assert.equal(results[i], results[i + 3], "one read shared by the requests for a dir");
    }
    assert.equal(cache.active, 0);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
