import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { ListingEntry } from "../../lib/server/listing.ts";
import {
  displayName,
  listingResponse,
  parseListingQuery,
  renderListingJson,
  renderListingPage,
  type SortKey,
  type SortOrder,
} from "../../lib/server/listing_page.ts";
import { LISTING_CSP } from "../../lib/server/listing_assets.ts";

const T = Date.UTC(2024, 0, 2, 3, 4, 59, 999); // 2024-01-02 03:04 UTC

function file(name: string, size = 10, mtimeMs: number | null = T): ListingEntry {
  return { name, isDirectory: false, size, mtimeMs };
}
function dir(name: string, mtimeMs: number | null = T): ListingEntry {
  return { name, isDirectory: true, size: 0, mtimeMs };
}

/** The href of each entry row's link, in order (the parent row included). */
function rowHrefs(html: string): string[] {
  return [...html.matchAll(/<td class="n"><a href="([^"]*)"/g)].map((m) => m[1]);
}

/** Undoes escapeHtml for attribute values. */
function unescapeHtml(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}

Deno.test("renderListingPage() is a complete HTML5 page titled with the escaped path", () => {
  const html = renderListingPage("/docs/<b>/", [file("a.txt")]);
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(html.includes('<meta charset="utf-8">'));
  assert.ok(html.includes('<meta name="viewport" content="width=device-width, initial-scale=1">'));
  assert.ok(html.includes("<title>Index of /docs/&lt;b&gt;/</title>"));
  assert.ok(!html.includes("<b>"));
  assert.ok(html.trimEnd().endsWith("</html>"));
});

Deno.test("renderListingPage() never shows a markup name raw", () => {
  const evil = "<img src=x onerror=alert(1)>.txt";
  const html = renderListingPage("/<svg onload=alert(1)>/", [
    file(evil),
    dir("<script>alert(1)</script>"),
  ]);
  assert.ok(!html.includes("<img"), "raw <img reached the page");
  assert.ok(!html.includes("<svg onload"), "raw <svg reached the page");
  assert.equal(html.match(/<script/g)?.length, 1, "only the page's own script");
  assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;.txt"));
  assert.ok(html.includes('href="%3Cimg%20src=x%20onerror=alert(1)%3E.txt"'));
  // No inline handler or style attribute anywhere: the CSP would block them, and none is needed.
  for (const [tag] of html.matchAll(/<[a-z][^>]*>/gi)) {
    const names = tag.replace(/"[^"]*"/g, '""');
    assert.doesNotMatch(names, /\s(?:on[a-z]+|style)=/i, tag);
  }
});

Deno.test("renderListingPage() entry links round-trip to the names and stay in the folder", () => {
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
  const links = rowHrefs(renderListingPage("/", names.map((n) => file(n))));
  assert.equal(links.length, names.length);
  const decoded = links.map((h) => decodeURIComponent(unescapeHtml(h)));
  assert.deepEqual([...decoded].sort(), [...names].sort());
  for (const h of links) {
    assert.doesNotMatch(h, /[#? "'<>]/, `unsafe character in href ${h}`);
    const url = new URL(unescapeHtml(h), "http://h/docs/");
    assert.ok(url.pathname.startsWith("/docs/") && url.search === "" && url.hash === "", h);
  }
});

const ORDER_FIXTURE = [
  file("b10.txt", 300, T + 1),
  dir("zeta", T + 5),
  file("b2.txt", 100, T + 3),
  file("B1.txt", 200, null),
  dir("alpha", T + 9),
  dir("10", T),
  dir("9", T + 2),
  file("a.txt", 200, T + 2),
];

Deno.test("renderListingPage() orders rows by the asked key, folders first in every order", () => {
  const cases: Array<[SortKey, SortOrder, string[]]> = [
    ["name", "asc", ["9/", "10/", "alpha/", "zeta/", "a.txt", "B1.txt", "b2.txt", "b10.txt"]],
    ["name", "desc", ["zeta/", "alpha/", "10/", "9/", "b10.txt", "b2.txt", "B1.txt", "a.txt"]],
    // Folders have no size: by name. Equal sizes: by name.
    ["size", "asc", ["9/", "10/", "alpha/", "zeta/", "b2.txt", "a.txt", "B1.txt", "b10.txt"]],
    ["size", "desc", ["zeta/", "alpha/", "10/", "9/", "b10.txt", "B1.txt", "a.txt", "b2.txt"]],
    // An unknown time (B1.txt) is the oldest.
    ["mtime", "asc", ["10/", "9/", "zeta/", "alpha/", "B1.txt", "b10.txt", "a.txt", "b2.txt"]],
    ["mtime", "desc", ["alpha/", "zeta/", "9/", "10/", "b2.txt", "a.txt", "b10.txt", "B1.txt"]],
  ];
  for (const [sort, order, want] of cases) {
    const html = renderListingPage("/", ORDER_FIXTURE, { sort, order });
    const got = rowHrefs(html).map((h) => h.replace(/\?.*$/, ""));
    assert.deepEqual(got, want, `${sort} ${order}`);
    const json = JSON.parse(renderListingJson("/", ORDER_FIXTURE, { sort, order }));
    assert.deepEqual(
      json.entries.map((e: { name: string; type: string }) =>
        e.name + (e.type === "directory" ? "/" : "")
      ),
      want,
      `JSON ${sort} ${order}`,
    );
  }
});

Deno.test("renderListingPage() keeps the sort in folder, parent and breadcrumb links only", () => {
  const html = renderListingPage("/a b/c/", [dir("sub"), file("f.txt")], {
    sort: "size",
    order: "desc",
  });
  const q = "?sort=size&amp;order=desc";
  assert.deepEqual(rowHrefs(html), [`../${q}`, `sub/${q}`, "f.txt"]);
  const crumbs = [...html.matchAll(/<h1>.*<\/h1>/g)][0][0];
  assert.deepEqual([...crumbs.matchAll(/href="([^"]*)"/g)].map((m) => m[1]), [
    `/${q}`,
    `/a%20b/${q}`,
    `/a%20b/c/${q}`,
  ]);
  // The default order adds nothing to links.
  const plain = renderListingPage("/d/", [dir("sub")]);
  assert.deepEqual(rowHrefs(plain), ["../", "sub/"]);
});

Deno.test("renderListingPage() column heads toggle the active key, start others sensibly", () => {
  const heads = (sort: SortKey, order: SortOrder) =>
    [...renderListingPage("/", [], { sort, order }).matchAll(/<th[^>]*><a href="([^"]*)"/g)]
      .map((m) => unescapeHtml(m[1]));
  assert.deepEqual(heads("name", "asc"), [
    "?sort=name&order=desc",
    "?sort=size&order=desc",
    "?sort=mtime&order=desc",
  ]);
  assert.deepEqual(heads("size", "desc"), [
    "?sort=name&order=asc",
    "?sort=size&order=asc",
    "?sort=mtime&order=desc",
  ]);
  assert.ok(renderListingPage("/", [], { sort: "mtime" }).includes('aria-sort="ascending"'));
});

Deno.test("renderListingPage() has a parent link below the root only", () => {
  const cases: Array<[string, boolean]> = [["/", false], ["/docs/", true], ["/a/b c/", true]];
  for (const [path, want] of cases) {
    const html = renderListingPage(path, [file("x")]);
    assert.equal(rowHrefs(html).includes("../"), want, path);
  }
});

Deno.test("renderListingPage() shows sizes, — for folders, UTC times, totals and kinds", () => {
  const html = renderListingPage("/", [
    file("f.pdf", 1536),
    dir("d"),
    file("n", 0, null),
    file("song.MP3", 2048),
  ]);
  assert.ok(html.includes(">1.5 KiB<"));
  assert.ok(html.includes('title="1,536 bytes"'));
  assert.ok(html.includes(">—<"));
  assert.ok(
    html.includes('<time datetime="2024-01-02T03:04:59.999Z">2024-01-02 03:04 UTC</time>'),
  );
  assert.ok(html.includes("1 folder, 3 files, 3.5 KiB"));
  for (const kind of ["folder", "document", "file", "audio"]) {
    assert.ok(html.includes(`aria-label="${kind}"`), kind);
  }
  assert.ok(renderListingPage("/", []).includes("0 folders, 0 files<"));
  assert.ok(renderListingPage("/", []).includes("This folder is empty."));
});

Deno.test("renderListingPage() notes a truncated listing", () => {
  assert.ok(renderListingPage("/", [file("a")], { truncated: true }).includes("Only the first"));
  assert.ok(!renderListingPage("/", [file("a")]).includes("Only the first"));
});

Deno.test("renderListingPage() offers the folder as zip and tar only when archives are on", () => {
  const on = renderListingPage("/d/", [file("a")], { archive: true });
  assert.ok(on.includes('href="?download=zip"') && on.includes('href="?download=tar"'));
  const off = renderListingPage("/d/", [file("a")], { archive: false });
  assert.ok(!off.includes("?download="));
});

Deno.test("displayName() shows bidi and other invisible controls escaped", () => {
  const cases: Array<[string, string]> = [
    ["plain.txt", "plain.txt"],
    ["<b>&", "&lt;b&gt;&amp;"],
    ["invoice\u202Efdp.exe", 'invoice<span class="esc" title="U+202E">\\u202E</span>fdp.exe'],
    ["a\u202Ab", 'a<span class="esc" title="U+202A">\\u202A</span>b'],
    [
      "a\u2066\u2069b",
      "a" +
      ["2066", "2069"].map((h) => `<span class="esc" title="U+${h}">\\u${h}</span>`).join("") + "b",
    ],
    [
      "\u200E\u200F",
      ["200E", "200F"].map((h) => `<span class="esc" title="U+${h}">\\u${h}</span>`).join(""),
    ],
    ["tab\there", 'tab<span class="esc" title="U+0009">\\u0009</span>here'],
    ["c1\u009b", 'c1<span class="esc" title="U+009B">\\u009B</span>'],
    ["lone\ud800", 'lone<span class="esc" title="U+D800">\\uD800</span>'],
    // What is text stays text: emoji (with ZWJ and a surrogate pair), Hebrew, accents.
    ["👨‍👩‍👧 😀", "👨‍👩‍👧 😀"],
    ["שלום.txt", "שלום.txt"],
    ["naïve", "naïve"],
  ];
  for (const [name, want] of cases) assert.equal(displayName(name), want, JSON.stringify(name));
  // Every code point of the list is escaped.
  const all = [
    0x202a,
    0x202b,
    0x202c,
    0x202d,
    0x202e,
    0x2066,
    0x2067,
    0x2068,
    0x2069,
    0x200e,
    0x200f,
  ];
  for (const c of all) {
    assert.ok(!displayName(`x${String.fromCharCode(c)}y`).includes(String.fromCharCode(c)));
  }
  // In the page: rows, breadcrumbs and the title.
  const html = renderListingPage("/a\u202Eb/", [file("invoice\u202Efdp.exe")]);
  assert.ok(!html.includes("\u202E"), "a raw U+202E reached the page");
  assert.ok(html.includes("<title>Index of /a\\u202Eb/</title>"));
});

Deno.test("parseListingQuery() reads sort, order and format; ignores the rest", () => {
  const cases: Array<[string, ReturnType<typeof parseListingQuery>]> = [
    ["/", { sort: "name", order: "asc", format: null }],
    ["/d/?sort=size&order=desc", { sort: "size", order: "desc", format: null }],
    ["/d/?order=desc", { sort: "name", order: "desc", format: null }],
    ["/d/?sort=mtime", { sort: "mtime", order: "asc", format: null }],
    ["/d/?sort=evil&order=up", { sort: "name", order: "asc", format: null }],
    ["/d/?format=json", { sort: "name", order: "asc", format: "json" }],
    ["/d/?format=html&sort=size", { sort: "size", order: "asc", format: "html" }],
    ["/d/?format=xml", { sort: "name", order: "asc", format: null }],
    ["/d/?download=zip", { sort: "name", order: "asc", format: null }],
    ["/d/?sort=%73ize", { sort: "size", order: "asc", format: null }],
    ["http://h/d/?sort=size#x", { sort: "size", order: "asc", format: null }],
  ];
  for (const [target, want] of cases) assert.deepEqual(parseListingQuery(target), want, target);
});

Deno.test("renderListingJson() has the documented shape: folders have size null", () => {
  const entries = [file("b b.txt", 5), dir("sub#1"), file("a?.txt", 7, null)];
  const json = JSON.parse(renderListingJson("/docs/x y/", entries, { truncated: true }));
  assert.deepEqual(json, {
    path: "/docs/x y/",
    truncated: true,
    entries: [
      {
        name: "sub#1",
        type: "directory",
        size: null,
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
  assert.deepEqual(JSON.parse(renderListingJson("/", [])), {
    path: "/",
    truncated: false,
    entries: [],
  });
});

const decoder = new TextDecoder();

Deno.test("listingResponse() picks JSON by ?format or Accept; always Vary: Accept", () => {
  const base = { path: "/", archive: false, truncated: false };
  const cases: Array<[string, string | null, boolean]> = [
    ["/", null, false],
    ["/", "application/json", true],
    ["/?format=json", null, true],
    ["/?format=json", "text/html", true],
    ["/?format=html", "application/json", false],
    ["/?sort=size", "application/json", true],
  ];
  for (const [target, accept, json] of cases) {
    const r = listingResponse([dir("d")], { ...base, target, accept });
    const fields = new Map(r.fields);
    assert.equal(
      fields.get("Content-Type"),
      json ? "application/json; charset=utf-8" : "text/html; charset=utf-8",
      `${target} ${accept}`,
    );
    assert.equal(fields.get("Vary"), "Accept");
    assert.equal(fields.get("Content-Length"), String(r.body.length));
    assert.equal(fields.has("Content-Security-Policy"), !json);
    const text = decoder.decode(r.body);
    if (json) assert.equal(JSON.parse(text).entries[0].size, null);
    else assert.ok(text.startsWith("<!doctype html>"));
  }
});

Deno.test("LISTING_CSP admits exactly the page's own inline style and script", () => {
  const html = renderListingPage("/", [file("a")]);
  const hash = (s: string) => `'sha256-${createHash("sha256").update(s).digest("base64")}'`;
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1];
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1];
  const directives = new Map(
    LISTING_CSP.split(";").map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name, values] as const;
    }),
  );
  assert.deepEqual(directives.get("default-src"), ["'none'"]);
  assert.deepEqual(directives.get("style-src"), [hash(style)]);
  assert.deepEqual(directives.get("script-src"), [hash(script)]);
  assert.deepEqual(directives.get("img-src"), ["data:"]);
  assert.ok(!LISTING_CSP.includes("unsafe"), "no unsafe-inline / unsafe-eval");
  // Every URL the page refers to stays on the page or on this server (relative links).
  for (const m of html.matchAll(/(?:href|src)="([^"]*)"/g)) {
    assert.match(m[1], /^(?:data:|#|\?|\/(?!\/)|[^:/]+(?:\/|$)|\.\.\/)/, m[1]);
  }
});
