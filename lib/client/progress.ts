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
): string {
  const rate = elapsedMs > 0 ? ((bytes - start) * 1000) / elapsedMs : 0;
  const speed = `${formatBytes(Math.round(rate))}/s`;
  if (total === null || total <= 0) return `${formatBytes(bytes)}  ${speed}`;
  const frac = Math.min(1, bytes / total);
  const full = Math.round(frac * BAR_CELLS);
  const bar = "#".repeat(full) + "-".repeat(BAR_CELLS - full);
  const eta = rate > 0 ? (total - bytes) / rate : Infinity;
  return `[${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${formatBytes(bytes)} / ${
    formatBytes(total)
  }  ${speed}  ETA ${formatEta(eta)}`;
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
    // \r to the line start, then erase to its end (EL, ECMA-48 §8.3.41).
    this.#write(`\r${progressLine(bytes, this.#total, now - this.#t0, this.#start)}\x1b[K`);
  }

  /** Clears the line (the summary that follows says the rest). */
  finish(): void {
    if (this.#drawn) this.#write("\r\x1b[K");
  }
}
