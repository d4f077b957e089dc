/**
 * Directory index: render the entries of a directory (gathered by lib/server/listing_entries.ts,
 * which decides what is listed) as a small HTML5 page
 * ({@linkcode renderListingHtml}) or JSON ({@linkcode renderListingJson}), and decide between
 * the two from the Accept field ({@linkcode prefersJson}).
 *
 * @example
 * ```ts
 * import { renderListingHtml, renderListingJson } from "./listing.ts";
 * const entries = [{ name: "a b.txt", isDirectory: false, size: 1536, mtimeMs: 0 }];
 * renderListingHtml("/docs/", entries); // ... <a href="a%20b.txt">a b.txt</a> ... 1.5 KiB ...
 * JSON.parse(renderListingJson("/docs/", entries)).entries[0].href; // "/docs/a%20b.txt"
 * ```
 * @module
 */

import { encodePathSegment, escapeHtml } from "./escape.ts";
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
  /** Bytes; 0 for directories. */
  size: number;
  /** Last modification, ms since the epoch; null when the file system does not say. */
  mtimeMs: number | null;
}

/** Options of {@linkcode renderListingHtml}. */
export interface ListingHtmlOptions {
  /** Adds a note that only the first entries are shown. @default false */
  truncated?: boolean;
}

const collator = new Intl.Collator("en", { numeric: true });

function compareEntries(a: ListingEntry, b: ListingEntry): number {
  if (a.isDirectory !== b.isDirectory) return a.isDirectory ? -1 : 1;
  // The code-unit comparison breaks ties the collator calls equal, so the order is total.
  return collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Directories first, then files; each group by name, numbers compared as numbers. */
function sorted(entries: readonly ListingEntry[]): ListingEntry[] {
  return [...entries].sort(compareEntries);
}

/** The relative link to an entry from its directory's page (whose URL ends in `/`). */
function relativeHref(e: ListingEntry): string {
  return encodePathSegment(e.name) + (e.isDirectory ? "/" : "");
}

/** `/a b/c/` → `/a%20b/c/`: each segment encoded, slashes kept. */
function encodePath(path: string): string {
  return path.split("/").map(encodePathSegment).join("/");
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

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,sans-serif}
body{max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.25rem;font-weight:600;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{padding:.3rem .6rem;text-align:left;white-space:nowrap}
th{border-bottom:1px solid #8886}
tbody tr:hover{background:#8881}
td.n{white-space:normal;overflow-wrap:anywhere;width:100%}
.r{text-align:right;font-variant-numeric:tabular-nums}
a{text-decoration:none}a:hover{text-decoration:underline}
p.note{opacity:.7}
`.trim();

/**
 * A complete HTML5 page listing `entries` of the directory at URL path `path` (decoded, ending
 * in `/`). Names and the path are HTML-escaped; links are relative and percent-encoded, so
 * names with `#`, `?`, `%` or markup link and display correctly. Below `/`, a `../` row leads up.
 *
 * @example
 * ```ts
 * import { renderListingHtml } from "./listing.ts";
 * const html = renderListingHtml("/", [
 *   { name: "<b>.txt", isDirectory: false, size: 3, mtimeMs: 0 },
 * ]);
 * html.includes("&lt;b&gt;.txt"); // true
 * ```
 */
export function renderListingHtml(
  path: string,
  entries: readonly ListingEntry[],
  options: ListingHtmlOptions = {},
): string {
  const title = escapeHtml(`Index of ${path}`);
  const rows: string[] = [];
  if (path !== "/") {
    rows.push('<tr><td class="n"><a href="../">../</a></td><td class="r">—</td><td></td></tr>');
  }
  for (const e of sorted(entries)) {
    const label = escapeHtml(e.name + (e.isDirectory ? "/" : ""));
    const href = escapeHtml(relativeHref(e));
    const size = e.isDirectory ? "—" : humanSize(e.size);
    rows.push(
      `<tr><td class="n"><a href="${href}">${label}</a></td><td class="r">${size}</td>` +
        `<td>${formatMtime(e.mtimeMs)}</td></tr>`,
    );
  }
  const note = options.truncated
    ? `\n<p class="note">Only the first ${entries.length} entries are shown.</p>`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
${STYLE}
</style>
</head>
<body>
<h1>${title}</h1>
<table>
<thead><tr><th>Name</th><th class="r">Size</th><th>Modified (UTC)</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>${note}
</body>
</html>
`;
}

/**
 * The listing as JSON, in the same order as the HTML page:
 * `{ "path", "entries": [{ "name", "type": "file"|"directory", "size", "mtime", "href" }] }`.
 * `mtime` is an ISO 8601 string or null; `href` is the absolute, percent-encoded URL path of the
 * entry (directories end in `/`), usable without resolving it against the listing's URL.
 *
 * @example
 * ```ts
 * import { renderListingJson } from "./listing.ts";
 * renderListingJson("/", [{ name: "d", isDirectory: true, size: 0, mtimeMs: null }]);
 * // {"path":"/","entries":[{"name":"d","type":"directory","size":0,"mtime":null,"href":"/d/"}]}
 * ```
 */
export function renderListingJson(path: string, entries: readonly ListingEntry[]): string {
  const base = encodePath(path.endsWith("/") ? path : path + "/");
  return JSON.stringify({
    path,
    entries: sorted(entries).map((e) => ({
      name: e.name,
      type: e.isDirectory ? "directory" : "file",
      size: e.size,
      mtime: e.mtimeMs === null ? null : new Date(e.mtimeMs).toISOString(),
      href: base + relativeHref(e),
    })),
  });
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
