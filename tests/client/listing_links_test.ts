/** Listing parsers: which links are children to mirror, table-driven, for every server's HTML
 * and Ferry's JSON. */

import assert from "node:assert/strict";
import { childLink, parseHtmlListing, parseJsonListing } from "../../lib/client/listing_links.ts";

const DIR = new URL("http://127.0.0.1:8000/pub/");

Deno.test("childLink: direct children only; nothing that climbs, leaves or hides a separator", () => {
  const table: Array<[string, boolean, [string, boolean] | null]> = [
    ["a.txt", true, ["a.txt", false]],
    ["sub/", true, ["sub", true]],
    ["a%20b.txt", true, ["a b.txt", false]],
    ["%C3%BC.txt", true, ["ü.txt", false]],
    ["./c.txt", true, ["c.txt", false]],
    ["../", true, null],
    ["../secret", true, null],
    ["%2e%2e/secret", true, null],
    ["%2E%2E/", true, null],
    ["sub/../../x", true, null],
    ["a/b.txt", true, null],
    ["a%2Fb.txt", true, null],
    ["a%5Cb.txt", true, null],
    ["%00.txt", true, null],
    ["%0a.txt", true, null],
    ["%FF.txt", true, null],
    ["/pub/a.txt", true, null], // absolute: refused on HTML pages
    ["/pub/a.txt", false, ["a.txt", false]], // ...accepted from Ferry's JSON
    ["/etc/passwd", false, null],
    ["/pubx/a.txt", false, null],
    ["http://127.0.0.1:8000/pub/a.txt", true, null],
    ["http://127.0.0.1:8000/pub/a.txt", false, ["a.txt", false]],
    ["http://127.0.0.2:8000/pub/a.txt", false, null],
    ["http://127.0.0.1:8001/pub/a.txt", false, null],
    ["//evil/pub/a.txt", false, null],
    ["?C=N;O=D", true, null],
    ["a.txt?x=1", true, null],
    ["#top", true, null],
    ["a.txt#x", true, null],
    ["javascript:alert(1)", true, null],
    ["mailto:x@y", true, null],
    ["", true, null],
    [".", true, null],
    ["a b.txt", true, null], // a raw space: not a URL a listing writes
  ];
  for (const [href, relativeOnly, want] of table) {
    const got = childLink(href, DIR, relativeOnly);
    assert.deepEqual(got === null ? null : [got.name, got.isDirectory], want, href);
  }
});

Deno.test("parseHtmlListing reads nginx, Apache, lighttpd and python http.server pages", () => {
  const pages: Record<string, string> = {
    nginx:
      `<html><head><title>Index of /pub/</title></head><body><h1>Index of /pub/</h1><hr><pre><a href="../">../</a>
<a href="sub/">sub/</a>                                               29-Nov-2026 07:43       -
<a href="a%20b.txt">a b.txt</a>                                     29-Nov-2026 07:43      13
</pre><hr></body></html>`,
    apache: `<ul><li><a href="/"> Parent Directory</a></li>
<li><a href="?C=M;O=A">Last modified</a></li><li><a href="a%20b.txt"> a b.txt</a></li>
<li><a href="sub/"> sub/</a></li></ul>`,
    lighttpd: `<tr class="d"><td class="n"><a href="../">..</a>/</td></tr>
<tr class="d"><td class="n"><a href="sub/">sub</a>/</td></tr>
<tr><td class="n"><a href="a%20b.txt">a b.txt</a></td></tr>
<script>link.setAttribute("href", "#");</script>`,
    python: `<ul>
<li><a href="a%20b.txt">a b.txt</a></li>
<li><a href='sub/'>sub/</a></li>
<li><A HREF=sub/>dup</A></li>
</ul>`,
  };
  for (const [server, html] of Object.entries(pages)) {
    const got = parseHtmlListing(html, DIR).map((l) => [l.name, l.isDirectory, l.path]).sort();
    assert.deepEqual(got, [
      ["a b.txt", false, "/pub/a%20b.txt"],
      ["sub", true, "/pub/sub/"],
    ], server);
  }
  // Character references in the attribute are decoded first.
  assert.deepEqual(
    parseHtmlListing(`<a href="x&amp;y.txt">x</a><a href="&#46;&#46;/">up</a>`, DIR)
      .map((l) => l.name),
    ["x&y.txt"],
  );
});

Deno.test("parseJsonListing: Ferry's entries with size and mtime; foreign hrefs dropped", () => {
  const doc = {
    path: "/pub/",
    entries: [
      { name: "sub", type: "directory", size: 0, mtime: null, href: "/pub/sub/" },
      { name: "a", type: "file", size: 5, mtime: "2026-11-29T07:38:53.919Z", href: "/pub/a" },
      { name: "x", type: "file", size: 1, mtime: null, href: "/etc/x" },
      { name: "y", type: "file", size: 1, mtime: null, href: "http://other/pub/y" },
      { name: "z", type: "directory", size: 0, mtime: null, href: "/pub/z" }, // type lies
      { name: "w", type: "file", size: -1, mtime: "junk", href: "/pub/w" },
      null,
      { name: "n" },
    ],
  };
  const got = parseJsonListing(JSON.stringify(doc), DIR);
  assert.deepEqual(got, [
    { path: "/pub/sub/", name: "sub", isDirectory: true, size: 0, mtimeMs: null },
    {
      path: "/pub/a",
      name: "a",
      isDirectory: false,
      size: 5,
      mtimeMs: Date.parse("2026-11-29T07:38:53.919Z"),
    },
    { path: "/pub/w", name: "w", isDirectory: false, size: null, mtimeMs: null },
  ]);
  assert.throws(() => parseJsonListing("[]", DIR), SyntaxError);
  assert.throws(() => parseJsonListing("<html>", DIR), SyntaxError);
});
