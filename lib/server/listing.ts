/**
 * Directory index data: the entry type (gathered by `listing_entries.ts`, which decides what is
 * listed, with the same policy as GET), the size and time texts rows show
 * ({@linkcode humanSize}, {@linkcode formatMtime}), and whether the Accept field prefers JSON
 * ({@linkcode prefersJson}). The page and the JSON are rendered by `listing_page.ts`.
 *
 * @example
 * ```ts
 * import { humanSize, prefersJson } from "./listing.ts";
 * humanSize(1536); // "1.5 KiB"
 * prefersJson("application/json"); // true
 * ```
 * @module
 */

import { trimOws } from "../http/ows.ts";

/**
 * Most entries one listing reads and shows. Every entry costs a stat and ~200 bytes of HTML,
 * so one GET of a directory with millions of files would otherwise hold the server's I/O and
 * memory for seconds; 10,000 is far more than a person scrolls through. A caller can tell a
 * cut listing by `entries.length === MAX_LISTING_ENTRIES`.
 */
export const MAX_LISTING_ENTRIES = 10_000;

/** One row of a directory listing. */
export interface ListingEntry {
  name: string;
  isDirectory: boolean;
  /** Bytes; 0 for directories (the JSON listing says null). */
  size: number;
  /** Last modification, ms since the epoch; null when the file system does not say. */
  mtimeMs: number | null;
}

const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/** `512 B`, `1.5 KiB`, `3.0 GiB`: binary units, one decimal above bytes. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes / 1024;
  let u = 0;
  // Compare the rounded value, so 1048575 B reads "1.0 MiB" and not "1024.0 KiB".
  while (Math.round(v * 10) >= 10240 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${UNITS[u]}`;
}

/** `YYYY-MM-DD HH:MM` in UTC, or `—` when unknown. */
export function formatMtime(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "—";
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

/** RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The q an Accept field gives `type/subtype`: that of the most specific matching media range
 * (RFC 9110 §12.5.1: `type/subtype` over `type/*` over `*\/*`), 0 when none matches.
 * Elements with a malformed q are ignored.
 */
function qualityOf(accept: string, type: string, subtype: string): number {
  let best = -1;
  let q = 0;
  for (const element of accept.split(",")) {
    const params = element.split(";");
    const range = trimOws(params[0]).toLowerCase();
    const slash = range.indexOf("/");
    if (slash < 0) continue;
    const t = trimOws(range.slice(0, slash));
    const s = trimOws(range.slice(slash + 1));
    let specificity: number;
    if (t === type && s === subtype) specificity = 2;
    else if (t === type && s === "*") specificity = 1;
    else if (t === "*" && s === "*") specificity = 0;
    else continue;
    let elementQ = 1;
    let valid = true;
    for (let i = 1; i < params.length; i++) {
      const p = trimOws(params[i]);
      const eq = p.indexOf("=");
      if (eq < 0 || trimOws(p.slice(0, eq)).toLowerCase() !== "q") continue;
      const v = trimOws(p.slice(eq + 1));
      if (!QVALUE.test(v)) valid = false;
      else elementQ = Number(v);
      break; // parameters after q are accept-ext, not media type parameters
    }
    if (!valid) continue;
    // Equally specific ranges (e.g. with different parameters): the higher q wins.
    if (specificity > best || (specificity === best && elementQ > q)) {
      best = specificity;
      q = elementQ;
    }
  }
  return q;
}

/**
 * True when the Accept field gives `application/json` a strictly higher q than `text/html`,
 * each judged by its most specific matching range (`*\/*` counts for both). An absent or empty
 * field, or a tie, means HTML.
 *
 * @example
 * ```ts
 * import { prefersJson } from "./listing.ts";
 * prefersJson("application/json"); // true
 * prefersJson("text/html, application/json;q=0.9"); // false
 * prefersJson(undefined); // false
 * ```
 */
export function prefersJson(accept: string | undefined | null): boolean {
  if (!accept) return false;
  return qualityOf(accept, "application", "json") > qualityOf(accept, "text", "html");
}
