import assert from "node:assert/strict";
import {
  formatMtime,
  humanSize,
  type ListingEntry,
  MAX_LISTING_ENTRIES,
  prefersJson,
  readListing,
} from "../../lib/server/listing.ts";

const T = Date.UTC(2024, 0, 2, 3, 4, 59, 999); // 2024-01-02 03:04 UTC

Deno.test("humanSize() uses binary units with one decimal", () => {
  const cases: Array<[number, string]> = [
    [0, "0 B"],
    [1, "1 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [1024 * 1024 - 1, "1.0 MiB"], // not "1024.0 KiB"
    [5 * 1024 * 1024, "5.0 MiB"],
    [2 ** 31, "2.0 GiB"],
    [2 ** 32 + 3, "4.0 GiB"],
    [3 * 2 ** 40, "3.0 TiB"],
  ];
  for (const [n, want] of cases) assert.equal(humanSize(n), want, String(n));
});

Deno.test("formatMtime() is YYYY-MM-DD HH:MM in UTC, — when unknown", () => {
  assert.equal(formatMtime(T), "2024-01-02 03:04");
  assert.equal(formatMtime(0), "1970-01-01 00:00");
  assert.equal(formatMtime(null), "—");
});

Deno.test("prefersJson() compares q-values of the most specific matching ranges", () => {
  const cases: Array<[string | undefined, boolean]> = [
    [undefined, false],
    ["", false],
    ["*/*", false],
    ["application/json", true],
    ["APPLICATION/JSON", true],
    ["text/html", false],
    ["application/json, text/html", false], // tie → HTML
    ["text/html, application/json", false],
    ["text/html;q=0.9, application/json", true],
    ["text/html, application/json;q=0.9", false],
    ["application/json, */*;q=0.1", true],
    ["application/json;q=0.5, */*;q=0.5", false],
    ["application/json;q=0", false],
    ["application/*", true],
    ["application/*;q=0.8, text/*;q=0.9", false],
    ["text/html;q=0, */*", true], // */* gives json 1, html is excluded
    ["*/*;q=0.8, text/html;q=0.9", false],
    ["text/*;q=0.2, application/json;q=0.3", true],
    // browsers' default
    ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false],
    // curl's default
    ["*/*", false],
    ["application/json ; q=0.7 , text/html ; q=0.6", true],
    ["application/json;q=2, text/html;q=0.5", false], // malformed q ignored
    ["application/json;q=abc", false],
    ["application/json;q=1.000", true],
    ["application/json;charset=utf-8;q=0.9, text/html;q=0.8", true],
    ["garbage", false],
    [",,,", false],
  ];
  for (const [accept, want] of cases) assert.equal(prefersJson(accept), want, String(accept));
});

Deno.test("readListing() reads files, directories and symlinks; hides dotfiles", async () => {
  const root = await Deno.makeTempDir({ prefix: "ferry_listing_" });
  try {
    await Deno.writeTextFile(`${root}/a.txt`, "hello");
    await Deno.writeTextFile(`${root}/.hidden`, "x");
    await Deno.mkdir(`${root}/sub`);
    await Deno.symlink(`${root}/a.txt`, `${root}/link.txt`);
    await Deno.symlink(`${root}/sub`, `${root}/linkdir`);
    await Deno.symlink(`${root}/missing`, `${root}/broken`);

    const byName = (es: ListingEntry[]) => es.map((e) => e.name).sort();
    const entries = await readListing(root, { dotfiles: false });
    assert.deepEqual(byName(entries), ["a.txt", "link.txt", "linkdir", "sub"]);
    const link = entries.find((e) => e.name === "link.txt")!;
    assert.equal(link.isDirectory, false);
    assert.equal(link.size, 5, "a symlink shows its target's size");
    assert.equal(entries.find((e) => e.name === "linkdir")!.isDirectory, true);
    assert.equal(entries.find((e) => e.name === "sub")!.size, 0);
    assert.equal(typeof entries.find((e) => e.name === "a.txt")!.mtimeMs, "number");

    const all = await readListing(root, { dotfiles: true });
    assert.deepEqual(byName(all), [".hidden", "a.txt", "link.txt", "linkdir", "sub"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readListing() stops at MAX_LISTING_ENTRIES", async () => {
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
    const entries = await readListing(root, { dotfiles: false });
    assert.equal(entries.length, MAX_LISTING_ENTRIES);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readListing() rejects a path that is not a readable directory", async () => {
  await assert.rejects(() => readListing("/nonexistent/ferry/dir", { dotfiles: false }));
});
