import assert from "node:assert/strict";
import {
  formatMtime,
  humanSize,
  type ListingEntry,
  prefersJson,
  renderListingHtml,
  renderListingJson,
} from "../../lib/server/listing.ts";

const T = Date.UTC(2024, 0, 2, 3, 4, 59, 999); // 2024-01-02 03:04 UTC

function file(name: string, size = 10, mtimeMs: number | null = T): ListingEntry {
  return { name, isDirectory: false, size, mtimeMs };
}
function dir(name: string): ListingEntry {
  return { name, isDirectory: true, size: 0, mtimeMs: T };
}

/** The href values of the page's links, in order. */
function hrefs(html: string): string[] {
  return [...html.matchAll(/<a href="([^"]*)">/g)].map((m) => m[1]);
}

/** Undoes escapeHtml for attribute values. */
function unescapeHtml(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}

Deno.test("renderListingHtml() is a complete HTML5 page titled with the escaped path", () => {
  const html = renderListingHtml("/docs/<b>/", [file("a.txt")]);
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(html.includes('<meta charset="utf-8">'));
  assert.ok(html.includes("<title>Index of /docs/&lt;b&gt;/</title>"));
  assert.ok(html.includes("<h1>Index of /docs/&lt;b&gt;/</h1>"));
  assert.ok(!html.includes("<b>"));
  assert.ok(html.trimEnd().endsWith("</html>"));
});

Deno.test("renderListingHtml() never shows a markup name raw", () => {
  const evil = "<img src=x onerror=alert(1)>.txt";
  const html = renderListingHtml("/", [file(evil), dir("<script>alert(1)</script>")]);
  assert.ok(!html.includes("<img"), "raw <img reached the page");
  assert.ok(!html.includes("<script"), "raw <script reached the page");
  assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;.txt"));
  assert.ok(html.includes('href="%3Cimg%20src=x%20onerror=alert(1)%3E.txt"'));
});

Deno.test("renderListingHtml() links round-trip to the names", () => {
  const names = [
    "a b.txt",
    "a#b?.txt",
    "100%.txt",
    "x&y.txt",
    'it\'s "quoted".txt',
    "naïve café.txt",
    "日本語.md",
    "😀.png",
    "a:b.txt",
    "semi;colon.txt",
  ];
  const html = renderListingHtml("/", names.map((n) => file(n)));
  const links = hrefs(html);
  assert.equal(links.length, names.length);
  const decoded = links.map((h) => decodeURIComponent(unescapeHtml(h)));
  assert.deepEqual([...decoded].sort(), [...names].sort());
  for (const h of links) {
    assert.doesNotMatch(h, /[#? "'<>]/, `unsafe character in href ${h}`);
    // Resolved against the directory, each link stays inside it.
    const url = new URL(unescapeHtml(h), "http://h/docs/");
    assert.ok(url.pathname.startsWith("/docs/") && url.search === "" && url.hash === "", h);
  }
  assert.ok(html.includes('href="a%23b%3F.txt"'));
});

Deno.test("renderListingHtml() lists directories first, each group in natural order", () => {
  const entries = [
    file("b10.txt"),
    dir("zeta"),
    file("b2.txt"),
    file("B1.txt"),
    dir("alpha"),
    dir("10"),
    dir("9"),
    file("a.txt"),
  ];
  const html = renderListingHtml("/d/", entries);
  assert.deepEqual(hrefs(html), [
    "../",
    "9/",
    "10/",
    "alpha/",
    "zeta/",
    "a.txt",
    "B1.txt",
    "b2.txt",
    "b10.txt",
  ]);
  assert.ok(html.includes(">zeta/</a>"), "directory names shown with a trailing slash");
});

Deno.test("renderListingHtml() has a parent link below the root only", () => {
  const cases: Array<[string, boolean]> = [["/", false], ["/docs/", true], ["/a/b c/", true]];
  for (const [path, want] of cases) {
    const html = renderListingHtml(path, [file("x")]);
    assert.equal(hrefs(html).includes("../"), want, path);
  }
});

Deno.test("renderListingHtml() shows human sizes, — for directories, and UTC times", () => {
  const html = renderListingHtml("/", [file("f", 1536), dir("d"), file("n", 0, null)]);
  assert.ok(html.includes(">1.5 KiB<"));
  assert.ok(html.includes(">—<"));
  assert.ok(html.includes(">2024-01-02 03:04<"));
});

Deno.test("renderListingHtml() notes a truncated listing", () => {
  assert.ok(renderListingHtml("/", [file("a")], { truncated: true }).includes("Only the first"));
  assert.ok(!renderListingHtml("/", [file("a")]).includes("Only the first"));
});

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

Deno.test("renderListingJson() has the documented shape, in the HTML's order", () => {
  const entries = [file("b b.txt", 5), dir("sub#1"), file("a?.txt", 7, null)];
  const json = JSON.parse(renderListingJson("/docs/x y/", entries));
  assert.deepEqual(json, {
    path: "/docs/x y/",
    entries: [
      {
        name: "sub#1",
        type: "directory",
        size: 0,
        mtime: "2024-01-02T03:04:59.999Z",
        href: "/docs/x%20y/sub%231/",
      },
      { name: "a?.txt", type: "file", size: 7, mtime: null, href: "/docs/x%20y/a%3F.txt" },
      {
        name: "b b.txt",
        type: "file",
        size: 5,
        mtime: "2024-01-02T03:04:59.999Z",
        href: "/docs/x%20y/b%20b.txt",
      },
    ],
  });
  for (const e of json.entries) {
    const segments = (e.href as string).split("/").filter((s) => s !== "");
    assert.equal(decodeURIComponent(segments.at(-1)!), e.name);
  }
  assert.deepEqual(JSON.parse(renderListingJson("/", [])), { path: "/", entries: [] });
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
