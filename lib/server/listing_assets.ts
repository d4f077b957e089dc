/**
 * The listing page's inline assets — style sheet, script, icons, favicon — and the
 * Content-Security-Policy that admits exactly them. Everything a listing page shows comes with
 * the page: it makes no request of its own, to this server or any other.
 *
 * The policy allows the style and the script by their sha-256 hashes (CSP Level 3 hash-source)
 * rather than a per-response nonce: both are constants, so the hashes are computed once and the
 * policy is the same on every response, while anything injected into the page (a name that
 * escaped escaping) still could not run or style anything.
 *
 * @example
 * ```ts
 * import { LISTING_CSP, LISTING_SCRIPT } from "./listing_assets.ts";
 * LISTING_CSP.includes("script-src 'sha256-"); // true
 * LISTING_SCRIPT.length > 0; // true
 * ```
 * @module
 */

import { createHash } from "node:crypto";

/**
 * The page's style: light and dark (`color-scheme`), a fixed-layout table on wide screens so a
 * long name wraps inside its column instead of widening the page, and below 40rem a two-line row
 * (name, then size · date) so a 390 px phone never scrolls sideways. Names break inside a word
 * only when the word alone is wider than the line (`overflow-wrap: break-word`).
 */
export const LISTING_STYLE = `
:root{color-scheme:light dark;--fg:#1d2127;--mut:#5d6673;--bg:#fff;--line:#d9dde3;--hov:#f2f5f9;
--acc:#0b62c4;--dir:#d99a1e;--esc:#b3261e;--escbg:#fdeceb;font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif}
@media (prefers-color-scheme:dark){:root{--fg:#e3e6ea;--mut:#9aa3ae;--bg:#15181c;--line:#2e343b;
--hov:#1e2329;--acc:#6cb0ff;--dir:#e8b04a;--esc:#ffb4ab;--escbg:#3b1512}}
*{box-sizing:border-box}
[hidden]{display:none!important}
.sym{position:absolute;width:0;height:0;overflow:hidden}
body{margin:0;background:var(--bg);color:var(--fg)}
main{max-width:64rem;margin:0 auto;padding:1.25rem 1rem 2rem}
a{color:var(--acc);text-decoration:none}
a:hover{text-decoration:underline}
h1{font-size:1.2rem;font-weight:600;margin:0 0 .35rem;overflow-wrap:break-word}
h1 .pre{color:var(--mut);font-weight:400;margin-right:.2rem}
h1 .sep{color:var(--mut);margin:0 .15rem}
h1 .root{padding:0 .15rem}
h1 a[aria-current]{color:var(--fg)}
.bar{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:.5rem 0 .75rem;
color:var(--mut);font-size:.9rem}
.bar .sum{margin-right:auto}
.dl a{border:1px solid var(--line);border-radius:.35rem;padding:.1rem .45rem;margin-left:.25rem}
#q{font:inherit;color:inherit;background:transparent;border:1px solid var(--line);
border-radius:.35rem;padding:.3rem .5rem;width:14rem;max-width:100%}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{padding:.4rem .5rem;text-align:left;vertical-align:top}
th{font-weight:600;font-size:.85rem;border-bottom:1px solid var(--line);white-space:nowrap}
th a{color:var(--mut)}th[aria-sort] a{color:var(--fg)}
td{border-bottom:1px solid var(--line)}
tbody tr:hover{background:var(--hov)}
.c-s{width:6.5rem;text-align:right}.c-m{width:9.5rem}
td.s,td.m{color:var(--mut);font-variant-numeric:tabular-nums;white-space:nowrap;font-size:.9rem}
td.s{text-align:right}
td.n a{display:flex;gap:.5rem;align-items:flex-start}
td.n bdi{min-width:0;overflow-wrap:break-word}
.i{flex:none;width:1.15rem;height:1.15rem;margin-top:.1rem;color:var(--mut)}
.i.k-dir{color:var(--dir)}.i.k-img{color:#2e9d5b}.i.k-aud{color:#a050c8}.i.k-vid{color:#d0463b}
.i.k-arc{color:#b07a1c}.i.k-code{color:#2f7fd0}.i.k-doc{color:#c2452f}
.esc{color:var(--esc);background:var(--escbg);border-radius:.2rem;padding:0 .1rem;
font:.85em ui-monospace,monospace}
.note{color:var(--mut);font-size:.9rem}
@media (max-width:40rem){
main{padding:.75rem .6rem 1.5rem}
table,thead,tbody{display:block}
thead tr{display:flex;gap:1rem;border-bottom:1px solid var(--line)}
thead th{border:0;padding:.3rem .25rem;width:auto!important}
tbody tr{display:grid;grid-template-columns:minmax(0,1fr) auto;border-bottom:1px solid var(--line);
padding:.35rem .25rem}
td{border:0;padding:0}
td.n{grid-column:1/3}
tr.up td.s,tr.up td.m{display:none}
td.s{grid-row:2;grid-column:2;padding-left:1.65rem}
td.m{grid-row:2;grid-column:1;padding-left:1.65rem;font-size:.8rem}
td.s{font-size:.8rem}
#q{width:100%}
}
`.trim();

/**
 * The page's script, all progressive enhancement (the page is complete without it): shows the
 * filter box and narrows the rows as one types; rewrites each UTC time into the reader's local
 * time, keeping the UTC text as its tooltip.
 */
export const LISTING_SCRIPT = `
(() => {
  const q = document.getElementById("q");
  const shown = document.getElementById("shown");
  const rows = Array.from(document.querySelectorAll("tbody tr:not(.up)"));
  const names = rows.map((r) => r.querySelector("bdi").textContent.toLowerCase());
  if (q && rows.length > 0) {
    q.hidden = false;
    const apply = () => {
      const v = q.value.trim().toLowerCase();
      let n = 0;
      rows.forEach((r, i) => {
        const hit = v === "" || names[i].includes(v);
        r.hidden = !hit;
        if (hit) n++;
      });
      shown.textContent = v === "" ? "" : n + " of " + rows.length + " shown";
    };
    q.addEventListener("input", apply);
    q.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { q.value = ""; apply(); }
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "/" && document.activeElement !== q) { e.preventDefault(); q.focus(); }
    });
    apply();
  }
  const p = (n) => String(n).padStart(2, "0");
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.dateTime);
    if (Number.isNaN(d.getTime())) continue;
    t.title = t.textContent;
    t.textContent = d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes());
  }
  const h = document.getElementById("mh");
  if (h) h.title = "local time (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ")";
})();
`.trim();

/** The file outline every non-folder icon shares (16 × 16 grid). */
const PAGE = '<path d="M3.5 1.5h6l3 3v10h-9z" fill="none"/><path d="M9.5 1.5v3h3" fill="none"/>';

/**
 * One SVG symbol per kind of entry, referenced by each row with `<use href="#k-…">`: drawn in
 * the document itself, so they cost no request and need no `img-src`.
 */
export const LISTING_ICONS = `<svg class="sym" aria-hidden="true">
<symbol id="k-dir" viewBox="0 0 16 16"><path d="M1.5 3h4.2l1.6 1.6h7.2v8.9h-13z" fill="currentColor"/></symbol>
<symbol id="k-file" viewBox="0 0 16 16" stroke="currentColor">${PAGE}</symbol>
<symbol id="k-txt" viewBox="0 0 16 16" stroke="currentColor">${PAGE}<path d="M5.5 8h5M5.5 10h5M5.5 12h3"/></symbol>
<symbol id="k-doc" viewBox="0 0 16 16" stroke="currentColor">${PAGE}<path d="M5 7.5h6v2H5z" fill="currentColor"/><path d="M5.5 12h5"/></symbol>
<symbol id="k-img" viewBox="0 0 16 16" stroke="currentColor">${PAGE}<path d="M5 12.5l2-2.7 1.4 1.5 1.3-1.6 1.8 2.8z" fill="currentColor" stroke="none"/><circle cx="6.5" cy="7.3" r=".9" fill="currentColor" stroke="none"/></symbol>
<symbol id="k-aud" viewBox="0 0 16 16" stroke="currentColor">${PAGE}<path d="M7.5 12V7l3-.8v4.3" fill="none"/><circle cx="6.6" cy="12" r="1" fill="currentColor"/><circle cx="9.6" cy="10.6" r="1" fill="currentColor"/></symbol>
<symbol id="k-vid" viewBox="0 0 16 16" stroke="currentColor">${PAGE}<path d="M6.5 7.5v5l4-2.5z" fill="currentColor" stroke="none"/></symbol>
<symbol id="k-arc" viewBox="0 0 16 16" stroke="currentColor">${PAGE}<path d="M7 2v1.5h2V5H7v1.5h2V8H7v1.5h2" fill="none"/><path d="M7 10.5h2v2.5H7z" fill="currentColor"/></symbol>
<symbol id="k-code" viewBox="0 0 16 16" stroke="currentColor">${PAGE}<path d="M6.5 8.5L5 10l1.5 1.5M9.5 8.5L11 10l-1.5 1.5" fill="none"/></symbol>
</svg>`;

/** A folder, as the tab's icon: a `data:` URL, so browsers stop asking for /favicon.ico. */
export const FAVICON_HREF = "data:image/svg+xml," +
  encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">' +
      '<path d="M1 3h5l1.6 1.6H15V14H1z" fill="#d99a1e"/></svg>',
  );

function sha256Source(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/**
 * The Content-Security-Policy of every listing page: nothing may load or connect anywhere
 * (`default-src 'none'`), only the page's own style sheet and script apply (by hash; no `style`
 * attribute, no event-handler attribute), images only from `data:` (the favicon), no `<base>`,
 * no form posts, and no framing by another site.
 */
export const LISTING_CSP = [
  "default-src 'none'",
  `style-src ${sha256Source(LISTING_STYLE)}`,
  `script-src ${sha256Source(LISTING_SCRIPT)}`,
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
