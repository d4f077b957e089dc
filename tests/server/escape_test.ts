import assert from "node:assert/strict";
import { encodePathSegment, escapeControl, escapeHtml } from "../../lib/server/escape.ts";

Deno.test("escapeHtml() escapes the five HTML specials and nothing else", () => {
  const cases: Array<[string, string]> = [
    ["plain", "plain"],
    ["", ""],
    ["a & b", "a &amp; b"],
    ["<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"],
    [`"quoted" 'single'`, "&quot;quoted&quot; &#39;single&#39;"],
    ["&amp;", "&amp;amp;"],
    ["é ✓ 😀", "é ✓ 😀"],
  ];
  for (const [input, want] of cases) assert.equal(escapeHtml(input), want, input);
});

Deno.test("encodePathSegment() keeps the safe set and encodes the rest as UTF-8", () => {
  const cases: Array<[string, string]> = [
    ["file.txt", "file.txt"],
    ["A-Z_a-z~0.9", "A-Z_a-z~0.9"],
    ["!$()*+,=@", "!$()*+,=@"],
    ["a b", "a%20b"],
    ["a#b?.txt", "a%23b%3F.txt"],
    ["100%", "100%25"],
    ["a;b", "a%3Bb"],
    ["back\\slash", "back%5Cslash"],
    ["a/b", "a%2Fb"],
    ["a:b", "a%3Ab"], // a relative link "a:b" would read as a URL scheme
    ["a&b'c\"d", "a%26b%27c%22d"],
    ["<x>", "%3Cx%3E"],
    ["tab\tnl\nnul\0del\x7f", "tab%09nl%0Anul%00del%7F"],
    ["é", "%C3%A9"],
    ["日本", "%E6%97%A5%E6%9C%AC"],
    ["😀", "%F0%9F%98%80"],
    ["\ud800", "%EF%BF%BD"], // lone surrogate → U+FFFD
    ["", ""],
  ];
  for (const [input, want] of cases) assert.equal(encodePathSegment(input), want, input);
});

Deno.test("encodePathSegment() round-trips through decodeURIComponent", () => {
  const names = ["a b.txt", "a#b?.txt", "50%.txt", "x&y=z", "naïve café", "日本語.md", "😀 ok"];
  for (const name of names) {
    const enc = encodePathSegment(name);
    assert.match(enc, /^[A-Za-z0-9\-._~!$()*+,=@%]*$/, name);
    assert.equal(decodeURIComponent(enc), name);
  }
});

Deno.test("escapeControl() renders control characters as \\xNN so none reaches a terminal", () => {
  const cases: Array<[string, string]> = [
    ["/index.html", "/index.html"],
    ["", ""],
    ["a\x00b", "a\\x00b"],
    ["\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"],
    ["line\r\nInjected: 1", "line\\x0d\\x0aInjected: 1"],
    ["tab\there", "tab\\x09here"],
    ["del\x7f", "del\\x7f"],
    ["c1\x80\x9b\x9f", "c1\\x80\\x9b\\x9f"], // 0x9B is a one-byte CSI
    ["back\\slash", "back\\\\slash"],
    ['say "hi"', 'say \\"hi\\"'],
    ["latin1 é\xa0\xff", "latin1 é\xa0\xff"], // printable Latin-1 stays
    ["emoji 😀", "emoji 😀"], // a valid surrogate pair stays
    ["lone \ud800 x", "lone \\u{d800} x"],
    ["lone \udc00", "lone \\u{dc00}"],
    ["bidi \u202e", "bidi \\u{202e}"],
    ["ls \u2028", "ls \\u{2028}"],
  ];
  for (const [input, want] of cases) {
    assert.equal(escapeControl(input), want, JSON.stringify(input));
  }
});

Deno.test("escapeControl() leaves no C0, DEL or C1 character in its output", () => {
  let all = "";
  for (let c = 0; c < 0x100; c++) all += String.fromCharCode(c);
  const out = escapeControl(all);
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    assert.ok(c >= 0x20 && (c < 0x7f || c > 0x9f), `raw U+${c.toString(16)} at ${i}`);
  }
  assert.ok(out.includes("\\x00") && out.includes("\\x9f") && out.includes("\xa0"));
});

Deno.test("escapeControl() returns the same string when nothing needs escaping", () => {
  const s = "GET /docs/a%20b.txt HTTP/1.1";
  assert.equal(escapeControl(s), s);
});
