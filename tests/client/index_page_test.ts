/** index_page.ts: which folder answers are listings, and which links of an index page to follow. */

import assert from "node:assert/strict";
import { isListingPage, pageLinks } from "../../lib/client/index_page.ts";

Deno.test("isListingPage: the listings of nginx, Apache, lighttpd, python, Ferry, Caddy; a site's page is not", () => {
  const table: Array<[string, string, boolean]> = [
    ["<html><head><title>Index of /pub/</title></head>", "/pub/", true], // nginx, lighttpd, Ferry
    ["<title>Index of /pub</title>", "/pub/", true], // Apache
    ['<meta charset="utf-8">\n<title>Directory listing for /pub/</title>', "/pub/", true], // python
    ["<title>/a b/</title>", "/a%20b/", true], // Caddy, darkhttpd: the path (decoded)
    ['<a href="x">x</a>', "/pub/", true], // no title: a bare list of links
    ["<title>Our site</title><a href='x'>x</a>", "/pub/", false],
    ["<TITLE lang=en> Welcome </TITLE>", "/pub/", false],
  ];
  for (const [html, path, want] of table) assert.equal(isListingPage(html, path), want, html);
});

Deno.test("pageLinks: relative links below the start, decoded and checked; nothing else", () => {
  const start = new URL("http://h/site/");
  const page = new URL("http://h/site/docs/");
  const html = [
    '<a href="a%20b.html#top">', // fragment dropped, name decoded
    "<img src='img/logo.png'>", // src, nested
    '<link href="../style.css">', // above the page, inside the start
    '<a href="../../etc/passwd">', // above the start
    '<a href="/site/abs.txt">', // absolute path
    '<a href="//h/site/x">', // network-path
    '<a href="http://h/site/y">', // scheme
    '<a href="q.txt?x=1">', // query
    '<a href="sub/">', // a folder
    '<a href="%2e%2e/up.txt">', // resolved as ../ by the URL parser
    '<a href="a%2Fb.txt">', // a separator inside a segment
    '<a href="a%20b.html">', // the same path again
    '<a href="./">', // the page's own folder
    '<a href="x&amp;y.txt">', // an entity
  ].join("\n");
  assert.deepEqual(pageLinks(html, page, start).map((l) => [l.path, l.segments, l.isDirectory]), [
    ["/site/docs/a%20b.html", ["docs", "a b.html"], false],
    ["/site/docs/img/logo.png", ["docs", "img", "logo.png"], false],
    ["/site/style.css", ["style.css"], false],
    ["/site/docs/sub/", ["docs", "sub"], true],
    ["/site/up.txt", ["up.txt"], false], // the URL parser resolves %2e%2e: still inside
    ["/site/docs/x&y.txt", ["docs", "x&y.txt"], false],
  ]);
});
