/**
 * Numbers and tables for the benchmark: median / min / max of a row's samples, the ratio to
 * Ferry, and the same table rendered for a terminal (aligned, monospace) or as markdown.
 *
 * Pure: no I/O, so `tests/bench/stats_test.ts` covers it without starting a server.
 *
 * @module
 */

/** Whether a bigger number is the better one (throughput) or the smaller (memory, latency). */
export type Better = "higher" | "lower";

/** The summary of one row's samples. */
export interface Summary {
  /** How many samples. */
  n: number;
  /** The middle sample; the mean of the two middle ones for an even count. */
  median: number;
  min: number;
  max: number;
}

/** One row of a result table: a server (or client) and what was measured for it. */
export interface Row {
  /** What is measured, e.g. `"ferry"`, `"nginx (sendfile on)"`. */
  name: string;
  /** One number per measurement (usually one per round), in the table's unit. */
  samples: number[];
  /** Set when the row could not be measured at all: the reason, shown instead of numbers. */
  unavailable?: string;
  /** Short remarks shown beside the numbers (errors seen, a shorter run, ...). */
  notes: string[];
}

/** One workload's table. */
export interface Table {
  /** Stable key for JSON, e.g. `"download-100m"`. */
  id: string;
  /** One line saying what was measured. */
  title: string;
  /** Unit of the samples, e.g. `"GB/s"`, `"req/s"`, `"KiB/conn"`. */
  unit: string;
  better: Better;
  /** Decimal places for the numbers. */
  digits: number;
  /** Name of the row every ratio is taken against (Ferry, or a Ferry variant). */
  reference: string;
  rows: Row[];
  /** Remarks printed under the table. */
  notes: string[];
}

/**
 * The median of `xs` (NaN when empty).
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * median([4, 1, 2, 3]); // 2.5
 * ```
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Median, min and max of the finite samples; `undefined` when there are none.
 *
 * @example
 * ```ts
 * summarize([2, 9, 4]); // { n: 3, median: 4, min: 2, max: 9 }
 * ```
 */
export function summarize(xs: readonly number[]): Summary | undefined {
  const ok = xs.filter(Number.isFinite);
  if (ok.length === 0) return undefined;
  return { n: ok.length, median: median(ok), min: Math.min(...ok), max: Math.max(...ok) };
}

/**
 * How much better the reference is than `value`, so that > 1 always means "the reference
 * (Ferry) is better": `reference ÷ value` when higher is better, `value ÷ reference` when lower
 * is better. `undefined` when either side is missing, zero or not finite.
 *
 * @example
 * ```ts
 * ratio(2, 1, "higher"); // 2   (Ferry twice the throughput)
 * ratio(10, 5, "lower"); // 0.5 (Ferry uses twice the memory)
 * ```
 */
export function ratio(
  reference: number | undefined,
  value: number | undefined,
  better: Better,
): number | undefined {
  if (reference === undefined || value === undefined) return undefined;
  if (!Number.isFinite(reference) || !Number.isFinite(value)) return undefined;
  if (reference <= 0 || value <= 0) return undefined;
  const r = better === "higher" ? reference / value : value / reference;
  return Number.isFinite(r) ? r : undefined;
}

/**
 * `x` with `digits` decimals and thousands separators (`12,345.6`); `"—"` when not finite.
 *
 * @example
 * ```ts
 * formatNumber(12345.678, 1); // "12,345.7"
 * ```
 */
export function formatNumber(x: number, digits: number): string {
  if (!Number.isFinite(x)) return "—";
  return x.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    useGrouping: true,
  });
}

/** Column alignment: `"l"` left, `"r"` right. */
export type Align = "l" | "r";

/**
 * Lays out `rows` under `headers` as aligned monospace text, a dashed rule under the headers.
 *
 * @example
 * ```ts
 * formatTable(["a", "n"], [["x", "1"], ["yy", "22"]], ["l", "r"]);
 * // "a    n\n--  --\nx    1\nyy  22"
 * ```
 */
export function formatTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const widths = headers.map((h, i) =>
    Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? "")].length))
  );
  const line = (cells: string[]) =>
    widths.map((w, i) => {
      const c = cells[i] ?? "";
      const pad = " ".repeat(w - [...c].length);
      return align[i] === "r" ? pad + c : c + pad;
    }).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)]
    .join("\n");
}

/**
 * The same as a markdown (GFM) table; `|` inside cells is escaped.
 *
 * @example
 * ```ts
 * markdownTable(["a", "n"], [["x", "1"]], ["l", "r"]); // "| a | n |\n|---|--:|\n| x | 1 |"
 * ```
 */
export function markdownTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const esc = (c: string) => c.replaceAll("|", "\\|");
  const line = (cells: string[]) => `| ${headers.map((_, i) => esc(cells[i] ?? "")).join(" | ")} |`;
  const rule = `|${headers.map((_, i) => (align[i] === "r" ? "--:" : "---")).join("|")}|`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

/** The header of the ratio column, saying which way it reads. */
export function ratioHeader(table: Pick<Table, "better" | "reference">): string {
  return table.better === "higher"
    ? `${table.reference} ÷ row (>1 = ${table.reference} faster)`
    : `row ÷ ${table.reference} (>1 = ${table.reference} better)`;
}

/** Headers and cells of a {@linkcode Table}: server | median | min–max | n | ratio | notes. */
export function tableCells(table: Table): { headers: string[]; rows: string[][]; align: Align[] } {
  const ref = table.rows.find((r) => r.name === table.reference && !r.unavailable);
  const refMedian = ref ? summarize(ref.samples)?.median : undefined;
  const rows = table.rows.map((r) => {
    const s = r.unavailable ? undefined : summarize(r.samples);
    if (!s) {
      const why = r.unavailable ?? "no result";
      return [r.name, "—", "—", "0", "—", [`unavailable: ${why}`, ...r.notes].join("; ")];
    }
    const q = r === ref ? 1 : ratio(refMedian, s.median, table.better);
    const d = table.digits;
    return [
      r.name,
      formatNumber(s.median, d),
      `${formatNumber(s.min, d)}–${formatNumber(s.max, d)}`,
      String(s.n),
      q === undefined ? "—" : `${q.toFixed(2)}×${r === ref ? " (ref)" : ""}`,
      r.notes.join("; "),
    ];
  });
  return {
    headers: ["server", `median ${table.unit}`, "min–max", "n", ratioHeader(table), "notes"],
    rows,
    align: ["l", "r", "r", "r", "r", "l"],
  };
}

/** A {@linkcode Table} as aligned text for a terminal: title, table, notes. */
export function renderText(table: Table): string {
  const { headers, rows, align } = tableCells(table);
  const notes = table.notes.map((n) => `  * ${n}`);
  return [`## ${table.title}`, formatTable(headers, rows, align), ...notes].join("\n");
}

/** A {@linkcode Table} as markdown: a bold title, the table, notes as a list. */
export function renderMarkdown(table: Table): string {
  const { headers, rows, align } = tableCells(table);
  const notes = table.notes.map((n) => `- ${n}`);
  return [
    `**${table.title}**`,
    "",
    markdownTable(headers, rows, align),
    ...(notes.length ? ["", ...notes] : []),
  ]
    .join("\n");
}
