/**
 * A one-line progress bar for a terminal: bytes, percent, speed and ETA when the size is
 * known, bytes and speed when not. Redrawn at most every {@linkcode REDRAW_INTERVAL_MS}, so a
 * fast download spends its time moving bytes, not drawing.
 *
 * @example
 * ```ts ignore
 * import { Progress } from "./progress.ts";
 * const p = new Progress({ total: 1000, start: 0, write: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)) });
 * p.update(500);
 * p.finish();
 * ```
 * @module
 */

/** The terminal's width in columns, read on every call (so a resize takes effect at the next
 * redraw: one ioctl, ten times a second), 80 when stderr is not a terminal. */
export function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

/** Cells a character takes: 2 for East Asian wide ranges (roughly), else 1. */
function cells(cp: number): number {
  return cp >= 0x1100 && (cp <= 0x115f || (cp >= 0x2e80 && cp <= 0xa4cf) ||
      (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
      (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
      (cp >= 0x20000 && cp <= 0x3fffd))
    ? 2
    : 1;
}

/** `text` cut to at most `width` cells: a line that never wraps, so `\r` and cursor-up
 * always land where the line began. */
export function clip(text: string, width: number): string {
  let used = 0;
  let i = 0;
  for (const ch of text) {
    const w = cells(ch.codePointAt(0)!);
    if (used + w > width) return text.slice(0, i);
    used += w;
    i += ch.length;
  }
  return text;
}

/**
 * The escape sequence that takes the cursor from the end of a block of lines drawn earlier
 * (`cells` wide each) back to the block's first column and erases from there down (ED,
 * ECMA-48 §8.3.39), at the terminal's current width `columns`. After a narrowing resize, a
 * terminal that reflows (tmux, VTE, kitty, iTerm2, Windows Terminal) has wrapped each line that
 * no longer fits over several rows, with the cursor on the last of them: going up only by the
 * number of lines would leave the head of the old line behind (seen in tmux: 120 → 60 columns).
 */
export function backOver(cells: readonly number[], columns: number): string {
  let rows = 0;
  for (const c of cells) rows += Math.max(1, Math.ceil(c / Math.max(1, columns)));
  return rows > 1 ? `\r\x1b[${rows - 1}A\x1b[J` : "\r\x1b[J";
}

/** Cells a progress line leaves free at the right: the last column (a line filling it wraps on
 * some terminals) and two for the "^C" the terminal echoes at Ctrl-C, which would otherwise wrap
 * the line and leave the erase one row short. */
export const SPARE_CELLS = 3;

/** Shortest interval between two redraws (≈10 per second: smooth to the eye, cheap). */
export const REDRAW_INTERVAL_MS = 100;
/** Width of the bar in cells. */
const BAR_CELLS = 24;

/** `1.5 MiB`, `512 B` — binary units, as `ls -h` and curl print them. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

/** `0:07`, `1:02:03`. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The text of one progress line (no control characters), for `bytes` of `total` after
 * `elapsedMs`, `start` of them already there before this run (a resume). */
export function progressLine(
  bytes: number,
  total: number | null,
  elapsedMs: number,
  start = 0,
  width = Infinity,
): string {
  const rate = elapsedMs > 0 ? ((bytes - start) * 1000) / elapsedMs : 0;
  const speed = `${formatBytes(Math.round(rate))}/s`;
  if (total === null || total <= 0) return clip(`${formatBytes(bytes)}  ${speed}`, width);
  const frac = Math.min(1, bytes / total);
  const eta = rate > 0 ? (total - bytes) / rate : Infinity;
  const pct = `${(frac * 100).toFixed(0).padStart(3)}%`;
  const rest = `${pct}  ${formatBytes(bytes)} / ${formatBytes(total)}  ${speed}  ETA ${
    formatEta(eta)
  }`;
  // The bar gives way first, then the line is cut: it must never wrap.
  const cellsLeft = Math.min(BAR_CELLS, width - rest.length - 3);
  if (cellsLeft < 5) return clip(rest, width);
  const full = Math.round(frac * cellsLeft);
  return `[${"#".repeat(full)}${"-".repeat(cellsLeft - full)}] ${rest}`;
}

/** A progress bar drawing through `write` (stderr, when it is a terminal). */
export class Progress {
  #total: number | null;
  #start: number;
  #write: (s: string) => void;
  #t0 = performance.now();
  /** When the line was last drawn; the first update always draws. */
  #last = -Infinity;
  #drawn = false;
  /** Cells of the line last drawn (0: none). */
  #cells = 0;

  constructor(options: { total: number | null; start: number; write: (s: string) => void }) {
    this.#total = options.total;
    this.#start = options.start;
    this.#write = options.write;
  }

  /** Notes that `bytes` are now in the file; redraws if the interval has passed. */
  update(bytes: number): void {
    const now = performance.now();
    if (now - this.#last < REDRAW_INTERVAL_MS) return;
    this.#last = now;
    this.#drawn = true;
    // A few cells short of the width (SPARE_CELLS): the line must not wrap, not even with ^C.
    const columns = terminalColumns();
    const line = progressLine(
      bytes,
      this.#total,
      now - this.#t0,
      this.#start,
      columns - SPARE_CELLS,
    );
    // Back to the line's start (over the rows a narrowing resize wrapped it to), erase, draw.
    this.#write(`${backOver([this.#cells], columns)}${line}`);
    this.#cells = line.length;
  }

  /** Clears the line (the summary that follows says the rest). */
  finish(): void {
    if (this.#drawn) this.#write(backOver([this.#cells], terminalColumns()));
  }
}
