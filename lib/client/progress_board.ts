/**
 * One progress display for many transfers (several URLs, `-r`, `--segments`): an aggregate
 * line, then one line per active transfer, redrawn in place at most every
 * {@linkcode REDRAW_INTERVAL_MS}. Every line is clipped to the terminal's width (re-read at each
 * redraw, so a resize takes effect at once) so none wraps, and the block is redrawn by moving up
 * to its first line and erasing to the end of the screen (ECMA-48 CUU, ED): nothing is left
 * behind. Text printed meanwhile ({@linkcode ProgressBoard.println}) goes above the block.
 *
 * @example
 * ```ts ignore
 * import { ProgressBoard } from "./progress_board.ts";
 * const board = new ProgressBoard({ write: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)) });
 * const t = board.add("a.bin", 1000, 0);
 * t.update(500);
 * t.finish();
 * board.finish();
 * ```
 * @module
 */

import type { Tracker } from "./download.ts";
import {
  backOver,
  clip,
  formatBytes,
  progressLine,
  REDRAW_INTERVAL_MS,
  SPARE_CELLS,
  terminalColumns,
} from "./progress.ts";
import { safeText } from "./report.ts";

/** Transfer lines shown at most; the aggregate line counts the rest. */
export const MAX_TRANSFER_LINES = 8;

interface Line {
  label: string;
  total: number | null;
  start: number;
  bytes: number;
  t0: number;
}

/** Options of {@linkcode ProgressBoard}. */
export interface BoardOptions {
  /** Raw terminal writes (stderr), or null to track without drawing. */
  write: ((s: string) => void) | null;
  /** The width in columns. @default terminalColumns */
  columns?: () => number;
  /** What the aggregate line counts: "files" or "segments". @default "files" */
  unit?: string;
}

/** A shared progress display; see the module doc. */
export class ProgressBoard {
  #write: ((s: string) => void) | null;
  #columns: () => number;
  #unit: string;
  #lines = new Set<Line>();
  #t0 = performance.now();
  #last = -Infinity;
  /** Cells of each line drawn last (empty: nothing on screen). */
  #drawn: number[] = [];
  /** Bytes of finished transfers, this run. */
  #doneBytes = 0;
  /** Transfers finished, and expected (0 = not known yet). */
  done = 0;
  expected = 0;

  constructor(options: BoardOptions) {
    this.#write = options.write;
    this.#columns = options.columns ?? terminalColumns;
    this.#unit = options.unit ?? "files";
  }

  /** Bytes received this run, over all transfers. */
  get bytes(): number {
    let n = this.#doneBytes;
    for (const l of this.#lines) n += l.bytes - l.start;
    return n;
  }

  /** Starts a transfer line; its tracker updates and ends it. The label (a server's file name,
   * often) is shown with C0/C1 and bidi controls escaped (report.ts safeText). */
  add(label: string, total: number | null, start: number): Tracker {
    const line: Line = {
      label: safeText(label, 1000),
      total,
      start,
      bytes: start,
      t0: performance.now(),
    };
    this.#lines.add(line);
    return {
      update: (bytes) => {
        line.bytes = bytes;
        this.#maybeDraw();
      },
      finish: () => {
        if (!this.#lines.delete(line)) return;
        this.#doneBytes += line.bytes - line.start;
        this.#maybeDraw();
      },
    };
  }

  /** Counts `bytes` of a transfer too short to get a line of its own. */
  addBytes(bytes: number): void {
    this.#doneBytes += bytes;
    this.#maybeDraw();
  }

  /** A tracker factory for `Ui.track`, labelling each transfer `label`. */
  trackAs(label: string): (total: number | null, start: number) => Tracker {
    return (total, start) => this.add(label, total, start);
  }

  /** Prints `text` (one or more lines) above the display, through `out`. */
  println(text: string, out: (t: string) => void): void {
    this.#clear();
    out(text);
    this.#last = -Infinity;
    this.#maybeDraw();
  }

  /** The aggregate line's text. */
  aggregate(now = performance.now()): string {
    const ms = now - this.#t0;
    const rate = ms > 0 ? (this.bytes * 1000) / ms : 0;
    const of = this.expected > 0 ? `/${this.expected}` : "";
    return `${this.done}${of} ${this.#unit} done, ${this.#lines.size} active, ` +
      `${formatBytes(this.bytes)} at ${formatBytes(Math.round(rate))}/s`;
  }

  /** The lines as they would be drawn now, each within `width` cells. */
  render(width: number, now = performance.now()): string[] {
    const out = [clip(this.aggregate(now), width)];
    let shown = 0;
    for (const l of this.#lines) {
      if (shown++ === MAX_TRANSFER_LINES) break;
      const label = clip(l.label, Math.max(8, Math.floor(width / 3)));
      const bar = progressLine(l.bytes, l.total, now - l.t0, l.start, width - label.length - 1);
      out.push(clip(`${label} ${bar}`, width));
    }
    return out;
  }

  #maybeDraw(): void {
    if (this.#write === null) return;
    const now = performance.now();
    if (now - this.#last < REDRAW_INTERVAL_MS) return;
    this.#last = now;
    // Cells short of the width: a line filling the last column wraps on some terminals, and
    // the "^C" a terminal echoes at Ctrl-C must not wrap the last line (the erase would miss
    // the block's first line).
    const lines = this.render(this.#columns() - SPARE_CELLS, now);
    this.#write(`${this.#home()}${lines.join("\n")}`);
    this.#drawn = lines.map((l) => l.length);
  }

  /** Back to the first line of the block (over rows a narrowing resize wrapped), erasing it
   * and everything below. */
  #home(): string {
    return this.#drawn.length === 0 ? "\r\x1b[J" : backOver(this.#drawn, this.#columns());
  }

  #clear(): void {
    if (this.#write !== null && this.#drawn.length > 0) this.#write(this.#home());
    this.#drawn = [];
  }

  /** Removes the display (the summary that follows says the rest). */
  finish(): void {
    this.#clear();
  }
}
