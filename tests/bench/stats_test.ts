/**
 * Unit tests of the benchmark's number and table helpers (`bench/stats.ts`) and its wrk output
 * parser. Fast and pure: no server is started, nothing is timed.
 */

import assert from "node:assert/strict";
import {
  formatNumber,
  formatTable,
  markdownTable,
  median,
  ratio,
  renderMarkdown,
  renderText,
  summarize,
  type Table,
  tableCells,
} from "../../bench/stats.ts";
import { parseWrk } from "../../bench/workloads.ts";

Deno.test("median() takes the middle sample, or the mean of the two middle ones", () => {
  const cases: [number[], number][] = [
    [[5], 5],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[10, 10, 1], 10],
    [[-1, 1], 0],
  ];
  for (const [xs, want] of cases) assert.deepEqual(median(xs), want, `median(${xs})`);
  assert.ok(Number.isNaN(median([])), "median([]) is NaN");
});

Deno.test("median() leaves its input unsorted", () => {
  const xs = [3, 1, 2];
  median(xs);
  assert.deepEqual(xs, [3, 1, 2]);
});

Deno.test("summarize() gives n, median, min and max of the finite samples only", () => {
  assert.deepEqual(summarize([2, 9, 4]), { n: 3, median: 4, min: 2, max: 9 });
  assert.deepEqual(summarize([2, NaN, Infinity, 4]), { n: 2, median: 3, min: 2, max: 4 });
  assert.deepEqual(summarize([]), undefined);
  assert.deepEqual(summarize([NaN]), undefined);
});

Deno.test("ratio() is > 1 when the reference is better, whichever way is better", () => {
  const cases: [number | undefined, number | undefined, "higher" | "lower", number | undefined][] =
    [
      [2, 1, "higher", 2], // Ferry twice the throughput
      [1, 4, "higher", 0.25], // Ferry a quarter of it
      [10, 5, "lower", 0.5], // Ferry twice the memory
      [5, 10, "lower", 2], // Ferry half the latency
      [undefined, 1, "higher", undefined],
      [1, undefined, "higher", undefined],
      [0, 1, "higher", undefined],
      [1, 0, "lower", undefined],
      [NaN, 1, "higher", undefined],
    ];
  for (const [ref, value, better, want] of cases) {
    assert.deepEqual(ratio(ref, value, better), want, `ratio(${ref}, ${value}, ${better})`);
  }
});

Deno.test("formatNumber() rounds, groups thousands, and shows — for non-finite", () => {
  assert.deepEqual(formatNumber(12345.678, 1), "12,345.7");
  assert.deepEqual(formatNumber(74216.4, 0), "74,216");
  assert.deepEqual(formatNumber(1.5, 2), "1.50");
  assert.deepEqual(formatNumber(NaN, 2), "—");
  assert.deepEqual(formatNumber(Infinity, 0), "—");
});

Deno.test("formatTable() aligns columns left or right under a dashed rule", () => {
  const got = formatTable(["a", "n"], [["x", "1"], ["yy", "22"]], ["l", "r"]);
  assert.deepEqual(got, "a    n\n--  --\nx    1\nyy  22");
});

Deno.test("formatTable() counts characters, not UTF-16 units, and trims trailing spaces", () => {
  const got = formatTable(["server", "range"], [["a", "1–2"], ["b", "10–20"]], ["l", "r"]);
  assert.deepEqual(got.split("\n"), [
    "server  range",
    "------  -----",
    "a         1–2",
    "b       10–20",
  ]);
});

Deno.test("markdownTable() writes a GFM table with alignment and escaped pipes", () => {
  const got = markdownTable(["a", "n"], [["x|y", "1"]], ["l", "r"]);
  assert.deepEqual(got, "| a | n |\n|---|--:|\n| x\\|y | 1 |");
});

const table: Table = {
  id: "t",
  title: "Throughput",
  unit: "GB/s",
  better: "higher",
  digits: 2,
  reference: "ferry",
  rows: [
    { name: "ferry", samples: [2, 1, 3], notes: [] },
    { name: "nginx", samples: [4, 4, 5], notes: ["wrk -d3s"] },
    { name: "python", samples: [], unavailable: "not installed", notes: [] },
  ],
  notes: ["a note"],
};

Deno.test("tableCells() shows median, min–max, n and the ratio against the reference row", () => {
  const { headers, rows } = tableCells(table);
  assert.deepEqual(headers[4], "ferry ÷ row (>1 = ferry faster)");
  assert.deepEqual(rows[0], ["ferry", "2.00", "1.00–3.00", "3", "1.00× (ref)", ""]);
  assert.deepEqual(rows[1], ["nginx", "4.00", "4.00–5.00", "3", "0.50×", "wrk -d3s"]);
  assert.deepEqual(rows[2], ["python", "—", "—", "0", "—", "unavailable: not installed"]);
});

Deno.test("tableCells() reads lower-is-better ratios as row ÷ reference", () => {
  const t: Table = { ...table, better: "lower", unit: "ms" };
  const { headers, rows } = tableCells(t);
  assert.deepEqual(headers[4], "row ÷ ferry (>1 = ferry better)");
  assert.deepEqual(rows[1][4], "2.00×");
});

Deno.test("tableCells() gives no ratios when the reference row is unavailable", () => {
  const t: Table = {
    ...table,
    rows: [
      { name: "ferry", samples: [], unavailable: "server.ts missing", notes: [] },
      table.rows[1],
    ],
  };
  const { rows } = tableCells(t);
  assert.deepEqual(rows[0][5], "unavailable: server.ts missing");
  assert.deepEqual(rows[1][4], "—");
});

Deno.test("renderText() and renderMarkdown() carry the title, every row and the notes", () => {
  const text = renderText(table);
  const md = renderMarkdown(table);
  for (const s of ["Throughput", "ferry", "nginx", "python", "a note"]) {
    assert.deepEqual(text.includes(s), true, `text has ${s}`);
    assert.deepEqual(md.includes(s), true, `markdown has ${s}`);
  }
  assert.deepEqual(md.includes("| nginx | 4.00 | 4.00–5.00 | 3 | 0.50× | wrk -d3s |"), true);
});

Deno.test("parseWrk() reads Requests/sec and adds up socket errors and non-2xx responses", () => {
  const out = `Running 3s test @ http://127.0.0.1:8080/4k
  2 threads and 50 connections
  31827 requests in 3.02s, 135.28MB read
  Socket errors: connect 0, read 2, write 1, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:  10550.35
Transfer/sec:     44.84MB`;
  assert.deepEqual(parseWrk(out), { rps: 10550.35, errors: 10 });
  assert.deepEqual(parseWrk("Requests/sec: 5\n"), { rps: 5, errors: 0 });
  assert.deepEqual(parseWrk("unable to connect"), { rps: undefined, errors: 0 });
});
