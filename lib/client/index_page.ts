/**
 * `-r` and a folder that answers with a page of its own (an index.html) instead of a listing.
 * Pure: text in, decisions out (unit-tested without sockets).
 *
 * Ferry answers a mirror's `?format=json` with the listing even when the folder has an
 * index.html; nginx, Apache, lighttpd and python http.server serve the index.html. Its links
 * are not the folder's entries, so it is treated as wget -r treats any page: saved as
 * `index.html` in that folder, and its relative links followed when they stay inside the start
 * URL's prefix (wget's `--no-parent`). The summary names such folders: the mirror may hold less
 * than the server's folder does (only what the page links to).
 *
 * What is a listing: an HTML page whose `<title>` reads "Index of …" (nginx autoindex, Apache
 * mod_autoindex, lighttpd mod_dirlisting, Ferry) or "Directory listing for …" (python
 * http.server), or names the folder's own path (Caddy, darkhttpd), or that has no title at all
 * (a bare list of links, as minimal servers write). A page with any other title is an index
 * page: a site's index.html has a title of its own.
 *
 * @example
 * ```ts
 * import { isListingPage, pageLinks } from "./index_page.ts";
 * const start = new URL("http://h/site/");
 * console.log(isListingPage("<title>Index of /site/</title>", "/site/")); // true
 * console.log(isListingPage("<title>Our site</title>", "/site/")); // false
 * const links = pageLinks('<img src="img/a.png"><a href="../../x">x</a>', new URL("http://h/site/docs/"), start);
 * console.log(links.map((l) => l.segments)); // [ [ "docs", "img", "a.png" ] ]
 * ```
 * @module
 */

import { unescapeHtml } from "./listing_links.ts";
import { checkName } from "./names.ts";

/** A link of an index page to follow. */
export interface PageLink {
  /** Its URL path, percent-encoded as written (a folder ends in `/`). */
  path: string;
  /** Decoded, checked names below the start folder: the local path inside the mirror. */
  segments: string[];
  /** Whether it names a folder (ends in `/`): listed, not downloaded. */
  isDirectory: boolean;
}

/** Whether `html`, the answer for the folder at URL path `path`, is a server's directory
 * listing (see the module doc). */
export function isListingPage(html: string, path: string): boolean {
  const m = /<title[^>]*>([^<]*)<\/title>/i.exec(html.slice(0, 64 * 1024));
  if (m === null) return true;
  const title = m[1].trim();
  let folder = path;
  try {
    folder = decodeURIComponent(path);
  } catch { /* compared as written */ }
  return /^(Index of |Directory listing for )/i.test(title) ||
    title.includes(path.replace(/\/$/, "")) || title.includes(folder.replace(/\/$/, ""));
}

/**
 * The links of the page at `page` (a folder URL) to follow: `href` and `src` values that are
 * relative (no scheme, no host, no absolute path), carry no query, resolve strictly below
 * `start`, and whose every segment decodes to a safe file name. A fragment is dropped
 * (`a.html#top` is `a.html`). Each path once, in page order.
 */
export function pageLinks(html: string, page: URL, start: URL): PageLink[] {
  const out: PageLink[] = [];
  const seen = new Set<string>();
  const re = /\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/gi;
  for (let m; (m = re.exec(html)) !== null;) {
    const href = unescapeHtml(m[1] ?? m[2] ?? m[3]).split("#")[0];
    // deno-lint-ignore no-control-regex
    if (href === "" || /[\x00-\x20\x7f\\?]/.test(href)) continue;
    if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("/")) continue;
    let u: URL;
    try {
      u = new URL(href, page);
    } catch {
      continue;
    }
    if (u.origin !== start.origin || !u.pathname.startsWith(start.pathname)) continue;
    const rest = u.pathname.slice(start.pathname.length);
    if (rest === "" || u.pathname === page.pathname || seen.has(u.pathname)) continue;
    const isDirectory = rest.endsWith("/");
    const raw = (isDirectory ? rest.slice(0, -1) : rest).split("/");
    let segments: string[];
    try {
      segments = raw.map((s) => checkName(decodeURIComponent(s), "a page link"));
    } catch {
      continue; // not UTF-8, empty (`a//b`), or not a safe name: never followed
    }
    seen.add(u.pathname);
    out.push({ path: u.pathname, segments, isDirectory });
  }
  return out;
}
