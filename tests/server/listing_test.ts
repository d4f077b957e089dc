import assert from "node:assert/strict";
import { formatMtime, humanSize, prefersJson } from "../../lib/server/listing.ts";

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
