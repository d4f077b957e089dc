import assert from "node:assert/strict";
import { CONTENT_TYPES, contentType, DEFAULT_CONTENT_TYPE } from "../../lib/server/mime.ts";

const OCTET = "application/octet-stream";

Deno.test("contentType() maps extensions, case-insensitively, with charset on text", () => {
  const cases: Array<[string, string]> = [
    ["index.html", "text/html; charset=utf-8"],
    ["INDEX.HTM", "text/html; charset=utf-8"],
    ["Photo.JPG", "image/jpeg"],
    ["photo.jpeg", "image/jpeg"],
    ["style.css", "text/css; charset=utf-8"],
    ["app.js", "text/javascript; charset=utf-8"],
    ["mod.mjs", "text/javascript; charset=utf-8"],
    ["data.json", "application/json; charset=utf-8"],
    ["feed.xml", "application/xml; charset=utf-8"],
    ["logo.svg", "image/svg+xml; charset=utf-8"],
    ["notes.txt", "text/plain; charset=utf-8"],
    ["README.md", "text/markdown; charset=utf-8"],
    ["t.csv", "text/csv; charset=utf-8"],
    ["main.ts", "text/plain; charset=utf-8"],
    ["conf.yaml", "text/yaml; charset=utf-8"],
    ["run.sh", "text/plain; charset=utf-8"],
    ["image.png", "image/png"],
    ["a.webp", "image/webp"],
    ["a.avif", "image/avif"],
    ["favicon.ico", "image/vnd.microsoft.icon"],
    ["doc.pdf", "application/pdf"],
    ["a.zip", "application/zip"],
    ["a.tar.gz", "application/gzip"],
    ["a.TGZ", "application/gzip"],
    ["a.tar", "application/x-tar"],
    ["a.tar.zst", "application/zstd"],
    ["a.7z", "application/x-7z-compressed"],
    ["song.mp3", "audio/mpeg"],
    ["clip.mp4", "video/mp4"],
    ["clip.webm", "video/webm"],
    ["film.mkv", "video/x-matroska"],
    ["mod.wasm", "application/wasm"],
    ["f.woff2", "font/woff2"],
    ["ubuntu.iso", "application/x-iso9660-image"],
    ["pkg.deb", "application/vnd.debian.binary-package"],
    [
      "sheet.XLSX",
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ],
    ["/srv/www/docs/a b.PDF", "application/pdf"],
    // no extension, dotfiles, unknown
    ["Makefile", OCTET],
    [".bashrc", OCTET],
    [".config.json", "application/json; charset=utf-8"], // a dotfile with an extension
    ["dir.d/README", OCTET],
    ["/home/u/.profile", OCTET],
    ["trailing.", OCTET],
    ["weird.unknownext", OCTET],
    ["", OCTET],
    [".", OCTET],
    ["a.constructor", OCTET], // not an Object.prototype key lookup
    ["a.__proto__", OCTET],
  ];
  for (const [name, want] of cases) assert.equal(contentType(name), want, name);
});

Deno.test("CONTENT_TYPES has lowercase keys and charset exactly on text types", () => {
  assert.ok(CONTENT_TYPES.size >= 80, `only ${CONTENT_TYPES.size} types`);
  assert.equal(DEFAULT_CONTENT_TYPE, OCTET);
  for (const [ext, type] of CONTENT_TYPES) {
    assert.equal(ext, ext.toLowerCase(), ext);
    assert.ok(!ext.includes("."), ext);
    const textual = type.startsWith("text/") || /[/+](json|xml)\b/.test(type);
    assert.equal(type.endsWith("; charset=utf-8"), textual, `${ext}: ${type}`);
  }
});
