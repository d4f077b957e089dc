/** The shared progress display: lines never wider than the terminal, one per active transfer
 * plus the aggregate, redrawn in place and cleared at the end. */

import assert from "node:assert/strict";
import { backOver, clip, progressLine } from "../../lib/client/progress.ts";
import { MAX_TRANSFER_LINES, ProgressBoard } from "../../lib/client/progress_board.ts";

Deno.test("progressLine fits any width: the bar gives way, then the line is cut", () => {
  for (const width of [10, 20, 30, 49, 50, 79, 119, 200]) {
    const l = progressLine(50 * 2 ** 20, 100 * 2 ** 20, 2000, 0, width);
    assert.ok(l.length <= width, `${width}: ${l}`);
  }
  assert.match(progressLine(1, 2, 1000, 0, 200), /^\[#+-+\] {2}50%/);
  assert.doesNotMatch(progressLine(1, 2, 1000, 0, 36), /\[/);
});

Deno.test("clip counts wide characters as two cells", () => {
  assert.equal(clip("abcdef", 4), "abcd");
  assert.equal(clip("日本語テキスト", 5), "日本");
  assert.equal(clip("ok", 10), "ok");
});

Deno.test("ProgressBoard: aggregate + one line per transfer, each within the width; cleared at the end", () => {
  const writes: string[] = [];
  let cols = 50;
  const board = new ProgressBoard({ write: (s) => writes.push(s), columns: () => cols });
  board.expected = 3;
  const a = board.add("a-very-long-file-name-that-goes-on-and-on.bin", 1000, 0);
  const b = board.add("b.bin", null, 0);
  a.update(500);
  b.update(10);
  const lines = board.render(cols - 1);
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^0\/3 files done, 2 active/);
  for (const l of lines) assert.ok(l.length <= 49, l);
  cols = 20; // a resize: the next render is narrower
  for (const l of board.render(cols - 1)) assert.ok(l.length <= 19, l);
  a.finish();
  board.done++;
  assert.equal(board.render(80).length, 2);
  assert.equal(board.bytes, 510);
  board.finish();
  // Every redraw starts by going back to the block's first line and erasing below.
  for (const w of writes) assert.ok(w.startsWith("\r"), JSON.stringify(w));
  const ESC = String.fromCharCode(0x1b);
  assert.match(writes.at(-1)!, new RegExp(`^\\r(${ESC}\\[\\d+A)?${ESC}\\[J$`));
});

Deno.test("ProgressBoard shows at most MAX_TRANSFER_LINES transfers", () => {
  const board = new ProgressBoard({ write: null, columns: () => 80 });
  for (let i = 0; i < MAX_TRANSFER_LINES + 5; i++) board.add(`f${i}`, 10, 0);
  assert.equal(board.render(79).length, MAX_TRANSFER_LINES + 1);
  assert.match(board.aggregate(), new RegExp(`${MAX_TRANSFER_LINES + 5} active`));
});

Deno.test("backOver climbs the rows a narrowing resize wrapped the old lines to", () => {
  const ESC = String.fromCharCode(0x1b);
  assert.equal(backOver([0], 80), `\r${ESC}[J`);
  assert.equal(backOver([79], 80), `\r${ESC}[J`); // still fits: same row
  assert.equal(backOver([75], 60), `\r${ESC}[1A${ESC}[J`); // 120 → 60 columns: 2 rows
  assert.equal(backOver([75, 30, 119], 60), `\r${ESC}[4A${ESC}[J`); // 2 + 1 + 2 rows
});

Deno.test("ProgressBoard: a server-chosen label is shown with C1 and bidi controls escaped", () => {
  const board = new ProgressBoard({ write: null, columns: () => 200 });
  board.add("invoice\u202efdp.exe", 10, 0);
  board.add("a\u009b2Jb", 10, 0);
  const text = board.render(199).join("\n");
  assert.ok(!/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/.test(text), JSON.stringify(text));
  assert.match(text, /invoice\\u202efdp\.exe/);
  assert.match(text, /a\\x9b2Jb/);
});
