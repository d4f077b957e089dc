/**
 * `-r`: mirror the folder at a URL into DIR/<folder>/ from its listings — Ferry's JSON listing
 * (asked for with `Accept: application/json`), or an HTML index page (nginx, Apache, lighttpd,
 * python http.server), parsed by listing_links.ts, which keeps direct children only.
 *
 * - Never leaves the start URL's origin and path prefix (every child is one segment below the
 *   listing it came from), never writes outside DIR: every local segment is a checked name,
 *   and every folder created is checked to be a real directory, not a link.
 * - `--max-depth` levels, at most {@linkcode MAX_MIRROR_ENTRIES} entries in all.
 * - `--parallel` workers over as many keep-alive connections (keep_alive.ts).
 * - A file already there is skipped when its size and modification time (to the second) match
 *   the server's, as `wget -N` does: from the JSON listing without a request, else from a HEAD.
 *   A saved file gets the server's Last-Modified as its mtime, so the next run can compare.
 * - Each file goes through the one-file path (transfer.ts): .part, verification against
 *   Repr-Digest / Content-Digest when the server sends one, rename. Every file is written
 *   through safe_fs.ts (no link followed; the mtime set through the descriptor).
 * - `--retry`: a listing or a file whose request fails transiently (reset, timeout, 5xx, 429)
 *   is fetched again after the backoff, each file with a budget of its own; a file starts over
 *   (its .part is replaced: no Range across a mirror's keep-alive reuse).
 * - `--max-time`, Ctrl-C: every connection is closed, no new request starts, the workers end;
 *   the result's exit code is 8 or 130 (a later run skips the files already saved).
 *
 * @example
 * ```ts ignore
 * import { mirror } from "./mirror.ts";
 * const r = await mirror(options.jobs[0], options, { board, say: console.log, warn: console.error });
 * console.log(r.files, r.skipped, r.failed);
 * ```
 * @module
 */

import { join } from "node:path";
import { responseFraming } from "../http/body.ts";
import { parseHttpDate } from "../http/response.ts";
import type { ClientOptions } from "./args.ts";
import { ClientError, EXIT, fileError, reasonOf } from "./errors.ts";
import { willClose } from "./exchange.ts";
import type { Connected } from "./connect.ts";
import { KeepAlivePool } from "./keep_alive.ts";
import { authorizationField, mayReceive } from "./credentials.ts";
import { type TlsTrust, tlsTrust } from "./tls_connect.ts";
import { type ListingLink, parseHtmlListing, parseJsonListing } from "./listing_links.ts";
import { formatUrl } from "./names.ts";
import { folderName, type Job } from "./positionals.ts";
import type { ProgressBoard } from "./progress_board.ts";
import { newReport, safeText } from "./report.ts";
import { prepareDir, savePaths } from "./save.ts";
import { isListingPage, pageLinks } from "./index_page.ts";
import type { ResponseHead } from "../http/response.ts";
import {
  readBytes,
  safeMkdir,
  saveData,
  saveSmall,
  setMtimeSafely,
  SMALL_FILE_BYTES,
} from "./mirror_files.ts";
import { withRetries } from "./retry_loop.ts";
import { Stop } from "./stop.ts";
import { saveResponse } from "./transfer.ts";

/** Most entries (files and folders) one mirror visits: bounds what a server generating
 * endless listings can make us do. */
export const MAX_MIRROR_ENTRIES = 100_000;

/** Entries a Ferry listing shows at most (lib/server/listing.ts MAX_LISTING_ENTRIES; the
 * client may not import the server). A listing this long may be cut: said, not hidden. */
const FERRY_LISTING_CAP = 10_000;

/** Exit codes from most to least severe: a wrong file beats a missing one, a local fault beats
 * a remote one. The mirror exits with the most severe code among its failures. */
export const SEVERITY: readonly number[] = [
  EXIT.checksum,
  EXIT.local,
  EXIT.protocol,
  EXIT.timeout,
  EXIT.connect,
  EXIT.httpStatus,
  EXIT.usage,
];

/** The more severe of two exit codes (0 is the least). */
export function worse(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  const ia = SEVERITY.indexOf(a);
  const ib = SEVERITY.indexOf(b);
  return (ib === -1 ? Infinity : ib) < (ia === -1 ? Infinity : ia) ? b : a;
}

/** What a mirror did. */
export interface MirrorResult {
  /** The start URL (a folder, ending in `/`). */
  url: string;
  /** The local folder. */
  into: string;
  /** Files saved this run, and their bytes. */
  files: number;
  bytes: number;
  /** Of those, files whose sha-256 matched a digest the server sent. */
  verified: number;
  /** Files already there and identical. */
  skipped: number;
  /** Files or listings that failed. */
  failed: number;
  /** Listings read. */
  listings: number;
  /** Folders not entered because of --max-depth. */
  tooDeep: number;
  /** Folders (URLs) that answered with a page of their own instead of a listing: saved as
   * index.html, its links inside the start folder followed (index_page.ts). */
  indexPages: string[];
  /** TCP connections opened. */
  connections: number;
  /** Wall time, ms. */
  ms: number;
  /** 0, or the most severe exit code of the failures. */
  exitCode: number;
  /** One line per failure. */
  errors: string[];
}

/** Where the mirror prints. */
export interface MirrorEnv {
  /** The shared progress display. */
  board: ProgressBoard;
  /** -v detail lines (a no-op otherwise). */
  say(text: string): void;
  /** A failure line (stderr). */
  warn(text: string): void;
  /** The first connection is open (its parameters are shown once). */
  connected?(c: Connected, host: string): void;
  /** --max-time and Ctrl-C. @default no stop */
  stop?: Stop;
}

type Task =
  | { kind: "dir"; path: string; local: string[]; depth: number }
  | { kind: "file"; link: ListingLink; local: string[] };

function sameTime(aMs: number, bMs: number): boolean {
  return Math.floor(aMs / 1000) === Math.floor(bMs / 1000);
}

/** Mirrors the folder `job` names; see the module doc. Failures are counted, not thrown. */
export async function mirror(
  job: Job,
  opts: ClientOptions,
  env: MirrorEnv,
): Promise<MirrorResult> {
  const t0 = performance.now();
  const stop = env.stop ?? new Stop(null);
  const path = job.target.path.split("?")[0];
  const startPath = path.endsWith("/") ? path : path + "/";
  const origin = { ...job.target, path: startPath };
  const url = formatUrl(origin);
  const folder = folderName(startPath); // checked when the arguments were parsed
  const r: MirrorResult = {
    url,
    into: folder === null ? opts.dir : join(opts.dir, folder),
    files: 0,
    bytes: 0,
    verified: 0,
    skipped: 0,
    failed: 0,
    listings: 0,
    tooDeep: 0,
    indexPages: [],
    connections: 0,
    ms: 0,
    exitCode: 0,
    errors: [],
  };
  const fail = (e: unknown, what: string) => {
    const err = e instanceof ClientError
      ? e
      : new ClientError(EXIT.protocol, `${what}: ${reasonOf(e)}`);
    r.failed++;
    r.exitCode = worse(r.exitCode, err.code);
    const line = err.message.split("\n")[0];
    r.errors.push(line);
    env.warn(`ferry: ${line}`);
  };
  let trust: TlsTrust;
  try {
    trust = await tlsTrust(opts); // --cacert read (once per run)
    await prepareDir(opts.dir);
    await safeMkdir(opts.dir, folder === null ? [] : [folder]);
  } catch (e) {
    fail(e, r.into);
    r.ms = performance.now() - t0;
    return r;
  }

  // The mirror never leaves its origin: the job's credentials go with every request there.
  const credentials = job.credentials ?? null;
  const pool = new KeepAlivePool(origin, {
    timeoutMs: opts.timeoutMs,
    onFirst: (c) => env.connected?.(c, origin.host),
    signal: stop.signal,
    tls: trust,
    authorization: credentials !== null && mayReceive(job.target, origin)
      ? authorizationField(credentials)
      : null,
  });
  const retryEnv = () => ({ opts, stop, budget: { used: 0 }, say: env.say });
  const queue: Task[] = [{ kind: "dir", path: startPath, local: [], depth: 0 }];
  // Every URL path queued once: an index page may link to what a listing also names.
  const queued = new Set<string>([startPath]);
  const startUrl = new URL(url);
  let entries = 0;
  let busy = 0;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };

  const listDir = async (t: Extract<Task, { kind: "dir" }>) => {
    const where = formatUrl({ ...origin, path: t.path });
    const dirUrl = new URL(where);
    // `?format=json`: Ferry lists a folder even when it has an index.html (other servers
    // ignore the query); Accept for servers that choose by it.
    const ex = await pool.exchange("GET", `${t.path}?format=json`, [[
      "Accept",
      "application/json, text/html;q=0.9",
    ]]);
    let reusable = false;
    let text: string;
    let bytes: Uint8Array;
    try {
      const { head, statusLine } = ex.result;
      if (head.status !== 200) {
        throw new ClientError(
          head.status >= 400 ? EXIT.httpStatus : EXIT.protocol,
          `${where}: listing answered ${safeText(statusLine.slice(9), 80)}; skipped that folder`,
        );
      }
      bytes = await readBytes(ex, where);
      text = new TextDecoder().decode(bytes);
      reusable = !willClose(head);
    } finally {
      pool.release(ex.conn, reusable);
    }
    r.listings++;
    const type = (ex.result.head.headers.get("content-type") ?? "").toLowerCase();
    if (!type.startsWith("application/json") && !isListingPage(text, t.path)) {
      await indexPage(t, where, bytes, text, ex.result.head);
      return;
    }
    let links: ListingLink[];
    try {
      links = type.startsWith("application/json")
        ? parseJsonListing(text, dirUrl)
        : parseHtmlListing(text, dirUrl);
    } catch (e) {
      throw new ClientError(EXIT.protocol, `${where}: unreadable listing: ${reasonOf(e)}`);
    }
    env.say(`* ${where}: ${links.length} entries (${type.split(";")[0] || "no type"})`);
    if (links.length >= FERRY_LISTING_CAP) {
      env.warn(
        `ferry: ${where}: the listing has ${links.length} entries, the most a Ferry server ` +
          `lists; the folder may hold more that this mirror cannot see`,
      );
    }
    const localDir = t.local;
    for (const link of links) {
      if (++entries > MAX_MIRROR_ENTRIES) {
        throw new ClientError(
          EXIT.protocol,
          `${where}: more than ${MAX_MIRROR_ENTRIES} entries in all; stopped listing`,
        );
      }
      if (queued.has(link.path)) continue;
      queued.add(link.path);
      if (!link.isDirectory) {
        queue.push({ kind: "file", link, local: localDir });
        env.board.expected++;
      } else if (t.depth + 1 > opts.maxDepth) {
        r.tooDeep++;
      } else {
        try {
          await safeMkdir(r.into, [...localDir, link.name]);
        } catch (e) {
          fail(e, link.path); // that folder only; its siblings go on
          continue;
        }
        queue.push({
          kind: "dir",
          path: link.path,
          local: [...localDir, link.name],
          depth: t.depth + 1,
        });
      }
    }
  };

  // A folder that answered with a page of its own: saved as index.html there, its links inside
  // the start folder followed (as wget -r does), the folder named in the summary.
  const indexPage = async (
    t: Extract<Task, { kind: "dir" }>,
    where: string,
    bytes: Uint8Array,
    text: string,
    head: ResponseHead,
  ) => {
    r.indexPages.push(where);
    const paths = savePaths(join(r.into, ...t.local), "index.html");
    const report = newReport(where);
    await saveData(bytes, head, paths, report);
    r.files++;
    r.bytes += bytes.length;
    if (report.verification.verified) r.verified++;
    queued.add(`${t.path}index.html`);
    const links = pageLinks(text, new URL(where), startUrl);
    env.say(`* ${where}: an index page, not a listing: saved as index.html; ${links.length} links`);
    for (const link of links) {
      if (queued.has(link.path)) continue;
      queued.add(link.path);
      const local = link.isDirectory ? link.segments : link.segments.slice(0, -1);
      if (++entries > MAX_MIRROR_ENTRIES) {
        throw new ClientError(
          EXIT.protocol,
          `${where}: more than ${MAX_MIRROR_ENTRIES} entries in all; stopped listing`,
        );
      }
      if (local.length > opts.maxDepth) {
        r.tooDeep++;
        continue;
      }
      try {
        await safeMkdir(r.into, local);
      } catch (e) {
        fail(e, link.path);
        continue;
      }
      if (link.isDirectory) {
        queue.push({ kind: "dir", path: link.path, local, depth: local.length });
      } else {
        const name = link.segments[link.segments.length - 1];
        const file = { path: link.path, name, isDirectory: false, size: null, mtimeMs: null };
        queue.push({ kind: "file", link: file, local });
        env.board.expected++;
      }
    }
  };

  const getFile = async (t: Extract<Task, { kind: "file" }>) => {
    const { link } = t;
    const rel = [...t.local, link.name].join("/");
    const where = formatUrl({ ...origin, path: link.path });
    const localDir = join(r.into, ...t.local);
    const paths = savePaths(localDir, link.name);
    let st: Deno.FileInfo | null = null;
    try {
      st = Deno.lstatSync(paths.final);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw fileError(e, "inspect", paths.final);
    }
    if (st !== null && st.isDirectory) {
      throw new ClientError(EXIT.local, `${paths.final} is a directory; not replacing it`);
    }
    if (st !== null && st.isFile && st.mtime !== null) {
      if (link.size !== null && link.mtimeMs !== null) {
        if (link.size === st.size && sameTime(link.mtimeMs, st.mtime.getTime())) {
          r.skipped++;
          env.board.done++;
          return;
        }
      } else {
        const hx = await pool.exchange("HEAD", link.path);
        pool.release(hx.conn, !willClose(hx.result.head));
        const h = hx.result.head.headers;
        const lm = parseHttpDate(h.get("last-modified") ?? "");
        // A HEAD may leave Content-Length out (RFC 9110 §8.6; Apache does for empty files):
        // then the modification time alone decides.
        const len = h.get("content-length");
        if (
          hx.result.head.status === 200 && (len === undefined || Number(len) === st.size) &&
          Number.isFinite(lm) && sameTime(lm, st.mtime.getTime())
        ) {
          r.skipped++;
          env.board.done++;
          return;
        }
      }
    }
    const ex = await pool.exchange("GET", link.path);
    const { head, statusLine } = ex.result;
    let reusable = false;
    let small = false;
    const report = newReport(where);
    try {
      if (head.status >= 300 && head.status < 400) {
        throw new ClientError(
          EXIT.protocol,
          `${where}: answered ${safeText(statusLine.slice(9), 80)}; redirects are not followed ` +
            `in a mirror`,
        );
      }
      const framing = head.status === 200 ? responseFraming({ method: "GET", ...head }) : null;
      small = framing?.kind === "length" && framing.length <= SMALL_FILE_BYTES;
      if (small && framing?.kind === "length") {
        await saveSmall(ex, framing.length, paths, report, where);
        env.board.addBytes(framing.length);
      } else {
        await saveResponse(
          { connected: ex.conn.connected, reader: ex.conn.reader, ...ex, rangeSent: false },
          {
            opts: { ...opts, force: true, resume: false, sha256: null, name: link.name },
            paths,
            resume: null,
            report,
            ui: { info: () => {}, progress: null, track: env.board.trackAs(rel) },
            t0: performance.now(),
          },
        );
      }
      reusable = !willClose(head);
    } finally {
      pool.release(ex.conn, reusable);
    }
    const lm = parseHttpDate(head.headers.get("last-modified") ?? "");
    const mtime = Number.isFinite(lm) ? lm : link.mtimeMs;
    if (mtime !== null && !(small && Number.isFinite(lm))) {
      // Not through a link (one swapped in at the final name meanwhile is left alone); when
      // not possible, the next run compares by HEAD or downloads again.
      setMtimeSafely(paths.final, mtime);
    }
    r.files++;
    r.bytes += report.bytes.size;
    if (report.verification.verified) r.verified++;
    env.board.done++;
    env.say(`* saved ${paths.final} (${report.bytes.size} bytes)`);
  };

  const worker = async () => {
    for (;;) {
      if (stop.reason !== null) return;
      const t = queue.shift();
      if (t === undefined) {
        if (busy === 0) return;
        await new Promise<void>((res) => {
          const prev = wake;
          wake = () => {
            prev?.();
            res();
          };
        });
        continue;
      }
      busy++;
      try {
        if (t.kind === "dir") await withRetries(() => listDir(t), retryEnv());
        else await withRetries(() => getFile(t), retryEnv());
      } catch (e) {
        // Stopped: what failed was cut by the stop, not a failure of its own.
        if (stop.reason !== null) return;
        fail(e, t.kind === "dir" ? t.path : t.link.path);
        if (t.kind === "file") env.board.done++;
      } finally {
        busy--;
        notify();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.parallel }, worker));
  } finally {
    pool.close();
  }
  r.connections = pool.opened;
  r.ms = performance.now() - t0;
  if (stop.reason !== null) {
    r.exitCode = stop.reason === "interrupt" ? EXIT.interrupted : EXIT.timeout;
    r.errors.push(stop.reason === "interrupt" ? "interrupted" : "--max-time reached");
  }
  return r;
}
