/**
 * A directory listing as a response: an HTML page people open in a browser
 * ({@linkcode renderListingPage}) or its JSON twin for scripts ({@linkcode renderListingJson}),
 * chosen by `?format=` or the Accept field ({@linkcode listingResponse}), in the order asked for
 * by `?sort=name|size|mtime&order=asc|desc` (directories first in every order).
 *
 * The page is complete without JavaScript (breadcrumbs, parent link, sort links, totals, UTC
 * times); its inline script only adds the filter box and local times. It loads nothing: style,
 * script, icons and favicon are inline (see `listing_assets.ts`), under a Content-Security-Policy
 * that admits only those. Names are shown as text: HTML-escaped, and bidirectional and other
 * invisible control characters shown as a visible `\uXXXX`, so `invoice\u202Efdp.exe` cannot pose
 * as `invoiceexe.pdf`.
 *
 * @example
 * ```ts
 * import { renderListingJson, renderListingPage } from "./listing_page.ts";
 * const entries = [{ name: "a b.txt", isDirectory: false, size: 1536, mtimeMs: 0 }];
 * renderListingPage("/docs/", entries).includes('href="a%20b.txt"'); // true
 * JSON.parse(renderListingJson("/docs/", entries)).entries[0].href; // "/docs/a%20b.txt"
 * ```
 * @module
 */

import { encodePathSegment, escapeHtml } from "./escape.ts";
import { formatMtime, humanSize, type ListingEntry, prefersJson } from "./listing.ts";
import {
  FAVICON_HREF,
  LISTING_CSP,
  LISTING_ICONS,
  LISTING_SCRIPT,
  LISTING_STYLE,
} from "./listing_assets.ts";

/** The keys a listing can be sorted by. */
export type SortKey = "name" | "size" | "mtime";
/** The two directions of a sort. */
export type SortOrder = "asc" | "desc";

/** How a listing was asked for, from its query string. */
export interface ListingQuery {
  /** @default "name" */
  sort: SortKey;
  /** @default "asc" */
  order: SortOrder;
  /** `?format=json` or `?format=html`; null when the query does not say (Accept decides). */
  format: "json" | "html" | null;
}

/** Options of {@linkcode renderListingPage} and {@linkcode renderListingJson}. */
export interface ListingPageOptions {
  /** The order of the rows. @default name, ascending */
  sort?: SortKey;
  /** @default "asc" */
  order?: SortOrder;
  /** Only the first entries of the directory were read: say so. @default false */
  truncated?: boolean;
  /** Offer "download this folder" as `?download=zip` / `?download=tar` links. @default false */
  archive?: boolean;
}

const SORT_KEYS: readonly string[] = ["name", "size", "mtime"];

/**
 * Reads `sort`, `order` and `format` from a request target's query; unknown or repeated-unknown
 * values fall back to the defaults (a listing never fails over its query).
 *
 * @example
 * ```ts
 * import { parseListingQuery } from "./listing_page.ts";
 * parseListingQuery("/d/?sort=size&order=desc"); // { sort: "size", order: "desc", format: null }
 * parseListingQuery("/d/?format=json").format; // "json"
 * ```
 */
export function parseListingQuery(target: string): ListingQuery {
  const out: ListingQuery = { sort: "name", order: "asc", format: null };
  const q = target.indexOf("?");
  if (q < 0) return out;
  const hash = target.indexOf("#", q);
  const params = new URLSearchParams(target.slice(q + 1, hash < 0 ? undefined : hash));
  const sort = params.get("sort");
  if (sort !== null && SORT_KEYS.includes(sort)) out.sort = sort as SortKey;
  const order = params.get("order");
  if (order === "asc" || order === "desc") out.order = order;
  const format = params.get("format");
  if (format === "json" || format === "html") out.format = format;
  return out;
}

/** The query string that keeps a sort in links (`""` for the default, name ascending). */
function sortQuery(sort: SortKey, order: SortOrder): string {
  return sort === "name" && order === "asc" ? "" : `?sort=${sort}&order=${order}`;
}

const collator = new Intl.Collator("en", { numeric: true });

function byName(a: ListingEntry, b: ListingEntry): number {
  // The code-unit comparison breaks ties the collator calls equal, so the order is total.
  return collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Directories first in every order; within each group by the key, ties by name, and the whole
 * group reversed for `desc`. Directories have no size: by size they are ordered by name. */
function sortEntries(
  entries: readonly ListingEntry[],
  sort: SortKey,
  order: SortOrder,
): ListingEntry[] {
  const sign = order === "desc" ? -1 : 1;
  const key = (a: ListingEntry, b: ListingEntry): number => {
    if (sort === "size" && !a.isDirectory) return a.size - b.size;
    // An unknown time sorts as the oldest.
    if (sort === "mtime") return (a.mtimeMs ?? -Infinity) - (b.mtimeMs ?? -Infinity) || 0;
    return 0;
  };
  return [...entries].sort((a, b) => {
    if (a.isDirectory !== b.isDirectory) return a.isDirectory ? -1 : 1;
    return sign * (key(a, b) || byName(a, b));
  });
}

/**
 * Characters that change how the rest of a name reads without being seen: C0 and C1 controls,
 * DEL, the bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069, "Trojan
 * Source", CVE-2021-42574), the LRM/RLM/ALM marks (U+200E, U+200F, U+061C) and the line and
 * paragraph separators (U+2028, U+2029). A lone surrogate too (not text at all).
 */
const INVISIBLE =
  // deno-lint-ignore no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A name as HTML text a person can trust: escaped markup, and every invisible control shown as
 * a marked `\uXXXX` (so nothing can reorder or hide the rest of the name).
 *
 * @example
 * ```ts
 * import { displayName } from "./listing_page.ts";
 * displayName("invoice\u202Efdp.exe"); // 'invoice<span class="esc" title="U+202E">\\u202E</span>fdp.exe'
 * ```
 */
export function displayName(name: string): string {
  let out = "";
  let last = 0;
  for (const m of name.matchAll(INVISIBLE)) {
    const hex = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    out += escapeHtml(name.slice(last, m.index)) +
      `<span class="esc" title="U+${hex}">\\u${hex}</span>`;
    last = m.index + m[0].length;
  }
  return out + escapeHtml(name.slice(last));
}

/** The same as plain text (for `<title>` and `data-` attributes, where no markup goes). */
function plainName(name: string): string {
  return name.replace(
    INVISIBLE,
    (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`,
  );
}

/** Extensions → icon kind; anything else is a plain file. */
const KINDS: Record<string, string> = {};
for (
  const [kind, label, exts] of [
    ["img", "image", "png jpg jpeg gif webp svg bmp ico tif tiff avif heic"],
    ["aud", "audio", "mp3 wav flac ogg oga m4a aac opus mid"],
    ["vid", "video", "mp4 mkv webm mov avi m4v ogv mpg mpeg wmv"],
    ["arc", "archive", "zip tar gz tgz bz2 xz zst 7z rar iso deb rpm dmg jar"],
    [
      "code",
      "code",
      "js mjs cjs ts tsx jsx py rb go rs c h cc cpp hpp java kt sh bash json yaml yml toml " +
      "xml html htm css scss sql php swift lua pl r ipynb",
    ],
    ["doc", "document", "pdf doc docx odt rtf xls xlsx ods ppt pptx odp epub"],
    ["txt", "text", "txt md markdown log csv tsv ini cfg conf rst tex"],
  ]
) for (const e of exts.split(" ")) KINDS[e] = `${kind} ${label}`;

/** The icon of an entry, with its kind as its accessible name. */
function icon(e: ListingEntry): string {
  let kind = "dir";
  let label = "folder";
  if (!e.isDirectory) {
    const dot = e.name.lastIndexOf(".");
    const found = dot > 0 ? KINDS[e.name.slice(dot + 1).toLowerCase()] : undefined;
    [kind, label] = (found ?? "file file").split(" ");
  }
  return `<svg class="i k-${kind}" role="img" aria-label="${label}"><use href="#k-${kind}"/></svg>`;
}

/** `/a b/c/` → `/a%20b/c/`: each segment encoded, slashes kept. */
function encodePath(path: string): string {
  return path.split("/").map(encodePathSegment).join("/");
}

/** The breadcrumbs of `path` (decoded, ending in `/`): one link per level, the sort kept. */
function breadcrumbs(path: string, query: string): string {
  const segments = path.split("/").filter((s) => s !== "");
  const root = segments.length === 0 ? ' aria-current="page"' : "";
  const parts = [`<a class="root" href="/${escapeHtml(query)}"${root}>/</a>`];
  let href = "/";
  segments.forEach((s, i) => {
    href += encodePathSegment(s) + "/";
    const current = i === segments.length - 1 ? ' aria-current="page"' : "";
    parts.push(
      `<a href="${escapeHtml(href + query)}"${current}><bdi>${displayName(s)}</bdi></a>` +
        `<span class="sep">/</span>`,
    );
  });
  return parts.join("");
}

/** One sortable column head: the link toggles the order of the active key; a new key starts
 * ascending for names and descending (largest, newest first) for size and time. */
function columnHead(
  label: string,
  key: SortKey,
  cls: string,
  sort: SortKey,
  order: SortOrder,
  id = "",
): string {
  const active = key === sort;
  const next: SortOrder = active
    ? (order === "asc" ? "desc" : "asc")
    : key === "name"
    ? "asc"
    : "desc";
  const q = sortQuery(key, next) || "?sort=name&order=asc";
  const arrow = active ? (order === "asc" ? " ▲" : " ▼") : "";
  const aria = active ? ` aria-sort="${order === "asc" ? "ascending" : "descending"}"` : "";
  return `<th class="${cls}"${aria}${id}><a href="${escapeHtml(q)}">${label}${arrow}</a></th>`;
}

/** `1234567` → `1,234,567` (Intl's toLocaleString costs ~10 µs a call: too much per row). */
function grouped(n: number): string {
  const s = String(n);
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0) out += ",";
    out += s[i];
  }
  return out;
}

function plural(n: number, one: string, many: string): string {
  return `${grouped(n)} ${n === 1 ? one : many}`;
}

/**
 * A complete HTML5 page listing `entries` of the directory at URL path `path` (decoded, ending
 * in `/`): breadcrumbs for every level, a parent link below `/`, sort links (the current sort
 * kept in every directory link), totals, a filter box and local times when scripts run, and the
 * "download this folder" links when `archive`. Entry links are relative and percent-encoded, so
 * names with `#`, `?`, `%` or markup link and display correctly.
 *
 * @example
 * ```ts
 * import { renderListingPage } from "./listing_page.ts";
 * const html = renderListingPage("/", [
 *   { name: "<b>.txt", isDirectory: false, size: 3, mtimeMs: 0 },
 * ]);
 * html.includes("&lt;b&gt;.txt"); // true
 * ```
 */
export function renderListingPage(
  path: string,
  entries: readonly ListingEntry[],
  options: ListingPageOptions = {},
): string {
  const sort = options.sort ?? "name";
  const order = options.order ?? "asc";
  const query = sortQuery(sort, order);
  const rows: string[] = [];
  if (path !== "/") {
    rows.push(
      `<tr class="up"><td class="n"><a href="../${escapeHtml(query)}" rel="up">` +
        `<svg class="i" aria-hidden="true"><use href="#k-dir"/></svg><bdi>../</bdi></a></td>` +
        `<td class="s"></td><td class="m"></td></tr>`,
    );
  }
  let dirs = 0;
  let files = 0;
  let bytes = 0;
  for (const e of sortEntries(entries, sort, order)) {
    if (e.isDirectory) dirs++;
    else {
      files++;
      bytes += e.size;
    }
    const href = encodePathSegment(e.name) + (e.isDirectory ? "/" + query : "");
    const size = e.isDirectory ? "—" : humanSize(e.size);
    const sizeTitle = e.isDirectory ? "" : ` title="${grouped(e.size)} bytes"`;
    const time = e.mtimeMs === null || !Number.isFinite(e.mtimeMs)
      ? "—"
      : `<time datetime="${new Date(e.mtimeMs).toISOString()}">${
        formatMtime(e.mtimeMs)
      } UTC</time>`;
    rows.push(
      `<tr><td class="n">` +
        `<a href="${escapeHtml(href)}">${icon(e)}<bdi>${displayName(e.name)}` +
        `${e.isDirectory ? "/" : ""}</bdi></a></td>` +
        `<td class="s"${sizeTitle}>${size}</td><td class="m">${time}</td></tr>`,
    );
  }
  const title = escapeHtml(`Index of ${plainName(path)}`);
  const totals = `${plural(dirs, "folder", "folders")}, ${plural(files, "file", "files")}` +
    (files > 0 ? `, ${humanSize(bytes)}` : "");
  const archive = options.archive
    ? `<span class="dl">Download folder <a href="?download=zip">zip</a>` +
      `<a href="?download=tar">tar</a></span>`
    : "";
  const note = options.truncated
    ? `<p class="note">Only the first ${grouped(entries.length)} entries are shown.</p>`
    : "";
  const empty = entries.length === 0 ? '<p class="note">This folder is empty.</p>' : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title}</title>
<link rel="icon" href="${escapeHtml(FAVICON_HREF)}">
<style>${LISTING_STYLE}</style>
</head>
<body>
${LISTING_ICONS}
<main>
<h1><span class="pre">Index of</span> ${breadcrumbs(path, query)}</h1>
<div class="bar"><span class="sum">${totals}</span><span id="shown" aria-live="polite"></span>` +
    `<input id="q" type="search" placeholder="Filter names" title="Filter names (press / to focus, Esc to clear)" aria-label="Filter by name" hidden>` +
    `${archive}</div>
<table>
<thead><tr>${columnHead("Name", "name", "c-n", sort, order)}${
      columnHead("Size", "size", "c-s", sort, order)
    }${columnHead("Modified", "mtime", "c-m", sort, order, ' id="mh"')}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>
${empty}${note}
<script>${LISTING_SCRIPT}</script>
</main>
</body>
</html>
`;
}

/**
 * The listing as JSON, in the same order as the page:
 * `{ "path", "truncated", "entries": [{ "name", "type": "file"|"directory", "size", "mtime",
 * "href" }] }`. `size` is bytes for a file and null for a directory; `mtime` is an ISO 8601
 * string or null; `href` is the absolute, percent-encoded URL path of the entry (directories end
 * in `/`), usable without resolving it against the listing's URL.
 *
 * @example
 * ```ts
 * import { renderListingJson } from "./listing_page.ts";
 * renderListingJson("/", [{ name: "d", isDirectory: true, size: 0, mtimeMs: null }]);
 * // {"path":"/","truncated":false,"entries":[{"name":"d","type":"directory","size":null,...}]}
 * ```
 */
export function renderListingJson(
  path: string,
  entries: readonly ListingEntry[],
  options: ListingPageOptions = {},
): string {
  const base = encodePath(path.endsWith("/") ? path : path + "/");
  return JSON.stringify({
    path,
    truncated: options.truncated ?? false,
    entries: sortEntries(entries, options.sort ?? "name", options.order ?? "asc").map((e) => ({
      name: e.name,
      type: e.isDirectory ? "directory" : "file",
      size: e.isDirectory ? null : e.size,
      mtime: e.mtimeMs === null ? null : new Date(e.mtimeMs).toISOString(),
      href: base + encodePathSegment(e.name) + (e.isDirectory ? "/" : ""),
    })),
  });
}

/** What {@linkcode listingResponse} needs to know of the request. */
export interface ListingRequest {
  /** The raw request target (its query chooses sort, order and format). */
  target: string;
  /** The decoded directory path, ending in `/`. */
  path: string;
  /** The Accept field, if any. */
  accept: string | null | undefined;
  /** Offer the folder as an archive (off with `--no-archive`). */
  archive: boolean;
  /** Only the first entries were read. */
  truncated: boolean;
}

const encoder = new TextEncoder();

/** Which listing a request asks for: JSON or the page, and the sort. */
export interface ListingChoice {
  json: boolean;
  sort: SortKey;
  order: SortOrder;
  /** Names everything the body depends on besides the entries, the path and the server's
   * settings: equal keys, equal bodies (the listing cache keys pages on it). */
  key: string;
}

/**
 * JSON for `?format=json` or an Accept that prefers `application/json`, else the HTML page;
 * the sort from the query.
 */
export function chooseListing(req: Pick<ListingRequest, "target" | "accept">): ListingChoice {
  const q = parseListingQuery(req.target);
  const json = q.format === "json" || (q.format === null && prefersJson(req.accept));
  return {
    json,
    sort: q.sort,
    order: q.order,
    key: `${json ? "json" : "html"}:${q.sort}:${q.order}`,
  };
}

/** The body of the chosen listing. */
export function renderListing(
  path: string,
  entries: readonly ListingEntry[],
  choice: ListingChoice,
  how: Pick<ListingRequest, "archive" | "truncated">,
): Uint8Array {
  const options = { sort: choice.sort, order: choice.order, ...how };
  return encoder.encode(
    choice.json
      ? renderListingJson(path, entries, options)
      : renderListingPage(path, entries, options),
  );
}

/**
 * The fields of a listing response: `Vary: Accept` always, so a cache never hands the page to
 * a script or JSON to a browser; the page's Content-Security-Policy.
 */
export function listingFields(json: boolean, length: number): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ["Content-Type", json ? "application/json; charset=utf-8" : "text/html; charset=utf-8"],
    ["Content-Length", String(length)],
    ["Cache-Control", "no-cache"],
    ["Vary", "Accept"],
    ["X-Content-Type-Options", "nosniff"],
  ];
  if (!json) {
    fields.push(["Content-Security-Policy", LISTING_CSP]);
    fields.push(["Referrer-Policy", "no-referrer"]);
  }
  return fields;
}

/**
 * The listing as a 200 response body with its fields ({@linkcode chooseListing},
 * {@linkcode renderListing}, {@linkcode listingFields} in one call).
 *
 * @example
 * ```ts
 * import { listingResponse } from "./listing_page.ts";
 * const r = listingResponse([], {
 *   target: "/?format=json", path: "/", accept: null, archive: false, truncated: false,
 * });
 * r.fields[0]; // ["Content-Type", "application/json; charset=utf-8"]
 * ```
 */
export function listingResponse(
  entries: readonly ListingEntry[],
  req: ListingRequest,
): { fields: Array<[string, string]>; body: Uint8Array } {
  const choice = chooseListing(req);
  const body = renderListing(req.path, entries, choice, req);
  return { fields: listingFields(choice.json, body.length), body };
}
