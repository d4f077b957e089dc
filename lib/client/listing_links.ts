/**
 * Directory listings → the children to mirror. Pure: text in, links out (unit-tested without
 * sockets). Two formats:
 *
 * - Ferry's JSON listing (`Accept: application/json`):
 *   `{ "path", "entries": [{ "name", "type", "size", "mtime", "href" }] }`;
 * - the HTML index pages of nginx autoindex, Apache mod_autoindex, lighttpd mod_dirlisting,
 *   `python -m http.server` and Ferry: every `<a href>` — of which only **relative** links
 *   naming a **direct child** of the listing are kept.
 *
 * What is never followed (wget's `--no-parent`, and more): a link with a scheme or a host
 * (`http://other/`, `//other/`), an absolute path (`/etc/`), anything that resolves above or
 * beside the listing (`../`, `%2e%2e/`, `a/../../b`), a query or fragment (Apache's sort links
 * `?C=N;O=D`), more than one segment (`a/b`), and a segment that is not a safe file name once
 * decoded (`a%2Fb`, control characters, `.`, `..` — see names.ts).
 *
 * @example
 * ```ts
 * import { parseHtmlListing } from "./listing_links.ts";
 * const base = new URL("http://h/pub/");
 * const links = parseHtmlListing('<a href="../">up</a><a href="a%20b.txt">a</a><a href="d/">d</a>', base);
 * console.log(links.map((l) => [l.name, l.isDirectory])); // [ [ "a b.txt", false ], [ "d", true ] ]
 * ```
 * @module
 */

import { checkName } from "./names.ts";

/** One child of a listed directory. */
export interface ListingLink {
  /** Its URL path, percent-encoded as the server wrote it (directories end in `/`). */
  path: string;
  /** The decoded name: one safe path segment. */
  name: string;
  /** Whether it is a folder (the link ends in `/`). */
  isDirectory: boolean;
  /** Size in bytes, when the listing says it (JSON), else null. */
  size: number | null;
  /** Modification time in ms since the epoch, when the listing says it (JSON), else null. */
  mtimeMs: number | null;
}

/** Largest listing body read, in bytes: Ferry lists at most 10,000 entries (~2 MiB of HTML);
 * 16 MiB leaves room for others and bounds what a hostile server can make us hold. */
export const MAX_LISTING_BYTES = 16 * 1024 * 1024;

/**
 * The direct child of `dir` that `href` names, or null when it is anything else (see the module
 * doc). `relativeOnly` refuses absolute paths and network-path references too (HTML pages).
 */
export function childLink(
  href: string,
  dir: URL,
  relativeOnly: boolean,
): { path: string; name: string; isDirectory: boolean } | null {
  // deno-lint-ignore no-control-regex
  if (href === "" || /[\x00-\x20\x7f\\]/.test(href)) return null;
  if (relativeOnly && (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("/"))) return null;
  let u: URL;
  try {
    u = new URL(href, dir);
  } catch {
    return null;
  }
  if (u.origin !== dir.origin || u.search !== "" || u.hash !== "" || href.includes("?")) {
    return null;
  }
  if (!u.pathname.startsWith(dir.pathname)) return null;
  const rest = u.pathname.slice(dir.pathname.length);
  const m = /^([^/]+)(\/?)$/.exec(rest);
  if (m === null) return null;
  let name: string;
  try {
    name = checkName(decodeURIComponent(m[1]), "a listing");
  } catch {
    return null; // not UTF-8, or not a safe name: never followed
  }
  return { path: u.pathname, name, isDirectory: m[2] === "/" };
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** Decodes the character references an attribute value may hold. */
export function unescapeHtml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (all, e: string) => {
    if (e[0] === "#") {
      const cp = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : Number(e.slice(1));
      return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
    }
    return ENTITIES[e.toLowerCase()] ?? all;
  });
}

/** Every `<a href>` of an HTML index page that names a direct child (relative links only). */
export function parseHtmlListing(html: string, dir: URL): ListingLink[] {
  const out: ListingLink[] = [];
  const seen = new Set<string>();
  const re = /<a\s[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi;
  for (let m; (m = re.exec(html)) !== null;) {
    const href = unescapeHtml(m[1] ?? m[2] ?? m[3]);
    const c = childLink(href, dir, true);
    if (c === null || seen.has(c.path)) continue;
    seen.add(c.path);
    out.push({ ...c, size: null, mtimeMs: null });
  }
  return out;
}

/**
 * The entries of Ferry's JSON listing that name direct children of `dir`.
 * @throws {SyntaxError} when the text is not a JSON listing.
 */
export function parseJsonListing(text: string, dir: URL): ListingLink[] {
  const doc = JSON.parse(text);
  if (doc === null || typeof doc !== "object" || !Array.isArray(doc.entries)) {
    throw new SyntaxError("not a listing: no entries array");
  }
  const out: ListingLink[] = [];
  const seen = new Set<string>();
  for (const e of doc.entries) {
    if (e === null || typeof e !== "object" || typeof e.href !== "string") continue;
    const c = childLink(e.href, dir, false);
    if (c === null || seen.has(c.path)) continue;
    if ((e.type === "directory") !== c.isDirectory) continue;
    seen.add(c.path);
    const mtime = typeof e.mtime === "string" ? Date.parse(e.mtime) : NaN;
    out.push({
      ...c,
      size: Number.isSafeInteger(e.size) && e.size >= 0 ? e.size : null,
      mtimeMs: Number.isFinite(mtime) ? mtime : null,
    });
  }
  return out;
}
