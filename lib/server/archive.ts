/**
 * Folders as archives: `GET /dir/?download=tar` or `?download=zip` streams the folder through the
 * pure encoders of lib/archive. Every directory is read and every file opened through the
 * FileServer's own checked functions in files.ts — `readDirInRoot` (in {@linkcode openLevel}),
 * `statInRoot` (in {@linkcode fillBatch}), `openInRoot` (in {@linkcode readAhead} and
 * {@linkcode stream}) — and nothing else, so the archive follows exactly the confinement,
 * dotfile and symlink policy of GET; FIFOs, sockets and devices are skipped, never opened.
 *
 * Two walks of the tree, both lazy (one directory's names at a time, so memory does not grow
 * with the tree): the first adds up the exact archive length from the stats, sent as
 * Content-Length so that browsers show progress; the second streams. What the second walk reads
 * must add up to that length, and every file must end at the size its open stat gave, with its
 * size and mtime unchanged after the read: if a file grows, shrinks, changes or vanishes
 * meanwhile, the connection is closed mid-body (the client sees a truncated transfer), never
 * finished with a well-formed but wrong archive.
 *
 * @module
 */

import { join } from "node:path";
import { crc32 } from "node:zlib";
import { HttpError, STATUS } from "../http/status.ts";
import type { RequestHead } from "../http/request.ts";
import {
  type ArchiveEntry,
  TAR_END,
  tarEntryLength,
  tarHeader,
  tarPadding,
} from "../archive/tar.ts";
import {
  zipCentralHeader,
  zipDescriptor,
  zipEnd,
  zipLocalHeader,
  zipLocalLength,
} from "../archive/zip.ts";
import type { FileServer, Reply } from "./files.ts";

const encoder = new TextEncoder();

/** The archive formats, as named in `?download=`. */
export type ArchiveFormat = "tar" | "zip";

/** Most entries one archive holds: the length walk stats every entry before the first byte is
 * sent, and a million stats already take seconds. More → 403 (a client can archive subfolders). */
export const MAX_ARCHIVE_ENTRIES = 1_000_000;
/** Most bytes of zip central directory held in memory until the end of the archive (about 100
 * bytes an entry): the one part of a zip that cannot be streamed. More → 403 (tar has no such
 * limit). */
export const MAX_ZIP_CENTRAL_BYTES = 64 << 20;
/** Output buffer (two of them: one filled while the other is written). Small files are packed
 * into it with their headers, so that 1,000 files of 4 KiB cost ~4 writes, not 2,000. */
export const ARCHIVE_BUFFER_BYTES = 1 << 20;
/** Folders nested deeper than this are not descended into (a bound on open directory handles;
 * real trees stay far below, and the path would pass PATH_MAX first). */
const MAX_DEPTH = 512;
/** Stats in flight at once while walking, and small files read ahead of the one being sent:
 * each costs a trip through the runtime's blocking pool (tens of µs here), so doing them one
 * after another made 10,000 small files take seconds. */
const STAT_CONCURRENCY = 32;
const READ_AHEAD_FILES = 32;
/** Files up to this size are read ahead whole (at most READ_AHEAD_FILES × this in memory);
 * larger ones are streamed through the output buffers when their turn comes. */
const READ_AHEAD_MAX_BYTES = 64 * 1024;

/** The query of a request target, with its `?`, or "" (for redirects that keep it). Bytes a
 * Location field must not carry raw (non-ASCII, controls, space) are percent-encoded. */
export function queryOf(target: string): string {
  const q = target.indexOf("?");
  if (q < 0) return "";
  const end = target.indexOf("#", q);
  const query = end < 0 ? target.slice(q) : target.slice(q, end);
  let out = "";
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    out += c <= 0x20 || c >= 0x7f
      ? "%" + (c & 0xff).toString(16).toUpperCase().padStart(2, "0")
      : query[i];
  }
  return out;
}

/**
 * The archive a target asks for with `download=tar` or `download=zip` in its query, or null when
 * it asks for none. Any other `download` value → 400.
 *
 * @example
 * ```ts
 * import { archiveFormat } from "./archive.ts";
 * archiveFormat("/docs/?download=zip"); // "zip"
 * archiveFormat("/docs/?sort=name"); // null
 * ```
 */
export function archiveFormat(target: string): ArchiveFormat | null {
  const q = target.indexOf("?");
  if (q < 0) return null;
  for (const param of target.slice(q + 1).split(/[&#]/)) {
    if (!param.startsWith("download=")) continue;
    const v = param.slice(9);
    if (v === "tar" || v === "zip") return v;
    throw new HttpError(STATUS.BadRequest, "Bad Request: download must be tar or zip", {
      close: false,
    });
  }
  return null;
}

/** An entry found by the walk: the archive member and where it is on disk. */
interface Found extends ArchiveEntry {
  path: string;
}

function entryOf(name: string, path: string, info: Deno.FileInfo): Found {
  const dir = info.isDirectory;
  return {
    name,
    path,
    type: dir ? "directory" : "file",
    size: dir ? 0 : info.size,
    mtimeMs: info.mtime?.getTime() ?? 0,
    mode: info.mode ?? (dir ? 0o755 : 0o644),
  };
}

/** A directory being read: its entries, a batch of them already stat'ed, and its identity
 * (to refuse a symlink cycle). */
interface Level {
  path: string;
  name: string;
  id: string;
  entries: AsyncIterator<Deno.DirEntry>;
  done: boolean;
  /** Each entry's stat; "file" for a regular file not stat'ed (the streaming walk opens it
   * and takes the open file's stat instead); null for what is not served. */
  batch: Array<[string, Deno.FileInfo | null | "file"]>;
  next: number;
  /** Whether regular files are stat'ed (the length walk needs their sizes). */
  statFiles: boolean;
}

/** Opens a directory for the walk and stats its first batch, so that an unreadable directory
 * is known before it is listed; null when it cannot be read. */
async function openLevel(
  files: FileServer,
  path: string,
  name: string,
  info: Deno.FileInfo,
  statFiles: boolean,
): Promise<Level | null> {
  try {
    const entries = (await files.readDirInRoot(path))[Symbol.asyncIterator]();
    const level: Level = {
      path,
      name,
      id: `${info.dev}:${info.ino}`,
      entries,
      done: false,
      batch: [],
      next: 0,
      statFiles,
    };
    await fillBatch(files, level);
    return level;
  } catch {
    return null;
  }
}

/** Reads the next {@linkcode STAT_CONCURRENCY} entries of a level (dotfiles left out) and stats
 * them at once: the stats overlap in the runtime's blocking pool instead of queueing. */
async function fillBatch(files: FileServer, level: Level): Promise<void> {
  const found: Deno.DirEntry[] = [];
  while (!level.done && found.length < STAT_CONCURRENCY) {
    const r = await level.entries.next();
    if (r.done) level.done = true;
    else if (files.dotfiles || r.value.name.charCodeAt(0) !== 46 /* . */) found.push(r.value);
  }
  const stats = await Promise.all(
    found.map((e) =>
      !level.statFiles && e.isFile && !e.isSymlink
        ? "file" as const
        : files.statInRoot(join(level.path, e.name), e.isSymlink)
    ),
  );
  level.batch = found.map((e, i) => [e.name, stats[i]]);
  level.next = 0;
}

/**
 * The folder `top` (a file system path) and everything under it that GET would serve, depth
 * first, a folder before its contents; lazily: per level of depth, one directory's names and a
 * batch of stats in memory. Without `statFiles`, a regular file (not a link) comes with size
 * -1: its stat is taken when it is opened.
 */
async function* walk(
  files: FileServer,
  top: string,
  topName: string,
  statFiles: boolean,
): AsyncGenerator<Found> {
  const info = await Deno.stat(top);
  const root = await openLevel(files, top, topName, info, statFiles);
  if (root === null) throw new HttpError(STATUS.Forbidden, "Forbidden");
  yield entryOf(topName, top, info);
  const stack: Level[] = [root];
  while (stack.length > 0) {
    const level = stack[stack.length - 1];
    if (level.next === level.batch.length) {
      if (level.done) {
        stack.pop();
        continue;
      }
      await fillBatch(files, level);
      continue;
    }
    const [name, st] = level.batch[level.next++];
    if (st === null) continue; // vanished, broken link, outside the root
    const path = join(level.path, name);
    const member = `${level.name}/${name}`;
    if (st === "file") {
      yield { name: member, path, type: "file", size: -1, mtimeMs: 0, mode: 0o644 };
    } else if (st.isFile) {
      yield entryOf(member, path, st);
    } else if (st.isDirectory) {
      const id = `${st.dev}:${st.ino}`;
      if (stack.length >= MAX_DEPTH || stack.some((l) => l.id === id)) continue; // a cycle
      const sub = await openLevel(files, path, member, st, statFiles);
      if (sub === null) continue;
      yield entryOf(member, path, st);
      stack.push(sub);
    }
    // FIFOs, sockets, devices: skipped (GET answers them 403 and never opens them).
  }
}

/** Something changed under the archive while it was being sent: the body must be cut. */
class ArchiveChangedError extends Error {}

/**
 * Buffers output into one of two buffers while the other is being written, counting every
 * byte against the announced length: it never writes past it, and {@linkcode finish} fails
 * unless it was met exactly.
 */
class Output {
  #bufs = [new Uint8Array(ARCHIVE_BUFFER_BYTES), new Uint8Array(ARCHIVE_BUFFER_BYTES)];
  #cur = 0;
  #pos = 0;
  #pending: Promise<void> | undefined;
  #write: (p: Uint8Array) => Promise<void>;
  readonly limit: number;
  /** Bytes accepted so far (sent or buffered). */
  written = 0;

  constructor(write: (p: Uint8Array) => Promise<void>, limit: number) {
    this.#write = write;
    this.limit = limit;
  }

  async put(b: Uint8Array): Promise<void> {
    if (this.written + b.length > this.limit) {
      throw new ArchiveChangedError("longer than announced");
    }
    let off = 0;
    while (off < b.length) {
      const buf = this.#bufs[this.#cur];
      const n = Math.min(buf.length - this.#pos, b.length - off);
      buf.set(off === 0 && n === b.length ? b : b.subarray(off, off + n), this.#pos);
      this.#pos += n;
      off += n;
      if (this.#pos === buf.length) await this.#flush();
    }
    this.written += b.length;
  }

  async zeros(n: number): Promise<void> {
    if (n > 0) await this.put(new Uint8Array(n));
  }

  /** Free space to read into: at most `max` bytes, and never past the limit. */
  space(max: number): Uint8Array {
    const n = Math.min(max, ARCHIVE_BUFFER_BYTES - this.#pos, this.limit - this.written);
    return this.#bufs[this.#cur].subarray(this.#pos, this.#pos + n);
  }

  /** Takes `n` bytes just read into {@linkcode space}. */
  async commit(n: number): Promise<void> {
    this.#pos += n;
    this.written += n;
    if (this.#pos === ARCHIVE_BUFFER_BYTES) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pos === 0) return;
    const full = this.#bufs[this.#cur].subarray(0, this.#pos);
    if (this.#pending !== undefined) await this.#pending;
    this.#pending = this.#write(full);
    this.#pending.catch(() => {}); // awaited later; a failure must not go unhandled meanwhile
    this.#cur ^= 1;
    this.#pos = 0;
  }

  async finish(): Promise<void> {
    if (this.written !== this.limit) throw new ArchiveChangedError("shorter than announced");
    await this.#flush();
    await this.#pending;
    this.#pending = undefined;
  }

  /** Waits for a write still in flight (after a failure, before the buffers are dropped). */
  async settle(): Promise<void> {
    await this.#pending?.catch(() => {});
  }
}

/** Copies the open file's `size` bytes into `out` (with their CRC-32 when `crc` is not null), and
 * proves it was whole and unchanged: not shorter, not longer, same size and mtime after. */
async function copyFile(
  out: Output,
  handle: Deno.FsFile,
  info: Deno.FileInfo,
  crc: number | null,
): Promise<number> {
  let remaining = info.size;
  let c = crc ?? 0;
  while (remaining > 0) {
    const space = out.space(remaining);
    if (space.length === 0) throw new ArchiveChangedError("longer than announced");
    const n = await handle.read(space);
    if (n === null || n === 0) throw new ArchiveChangedError("file shrank");
    if (crc !== null) c = crc32(space.subarray(0, n), c);
    remaining -= n;
    await out.commit(n);
  }
  if (await handle.read(new Uint8Array(1)) !== null) throw new ArchiveChangedError("file grew");
  const after = await handle.stat();
  if (after.size !== info.size || after.mtime?.getTime() !== info.mtime?.getTime()) {
    throw new ArchiveChangedError("file changed");
  }
  return c >>> 0;
}

/** Pages of central directory records, kept until the end of a zip. */
class Pages {
  #pages: Uint8Array[] = [];
  #pos = 0;
  length = 0;
  push(b: Uint8Array): void {
    if (this.length + b.length > MAX_ZIP_CENTRAL_BYTES) {
      throw new ArchiveChangedError("central directory over its bound");
    }
    let off = 0;
    while (off < b.length) {
      if (this.#pages.length === 0 || this.#pos === ARCHIVE_BUFFER_BYTES) {
        this.#pages.push(new Uint8Array(ARCHIVE_BUFFER_BYTES));
        this.#pos = 0;
      }
      const page = this.#pages[this.#pages.length - 1];
      const n = Math.min(page.length - this.#pos, b.length - off);
      page.set(b.subarray(off, off + n), this.#pos);
      this.#pos += n;
      off += n;
    }
    this.length += b.length;
  }
  async writeTo(out: Output): Promise<void> {
    for (let i = 0; i < this.#pages.length; i++) {
      const last = i === this.#pages.length - 1;
      await out.put(last ? this.#pages[i].subarray(0, this.#pos) : this.#pages[i]);
    }
  }
}

/** The exact archive length from one walk's stats; 403 past the bounds. */
async function measure(
  files: FileServer,
  top: string,
  topName: string,
  format: ArchiveFormat,
): Promise<number> {
  let total = 0;
  let count = 0;
  let central = 0;
  for await (const e of walk(files, top, topName, true)) {
    if (++count > MAX_ARCHIVE_ENTRIES) {
      throw new HttpError(STATUS.Forbidden, "Forbidden: too many entries for one archive");
    }
    if (format === "tar") {
      total += tarEntryLength(e);
    } else {
      central += zipCentralHeader(e, { crc: 0, offset: total }).length;
      total += zipLocalLength(e);
      if (central > MAX_ZIP_CENTRAL_BYTES) {
        throw new HttpError(STATUS.Forbidden, "Forbidden: too many entries for zip; use tar");
      }
    }
  }
  if (format === "tar") return total + TAR_END.length;
  return total + central + zipEnd({ count, offset: total, size: central }).length;
}

/** A file opened ahead of its turn, with the stat of the open file: a small one read whole
 * (and closed), a larger one left open to be streamed in turn. */
type Prepared = { info: Deno.FileInfo; data: Uint8Array; handle?: undefined } | {
  info: Deno.FileInfo;
  data?: undefined;
  handle: Deno.FsFile;
};

/** Opens a file and reads it whole if small (one byte more is asked for, so that a file grown
 * since its stat is caught), closing it; a larger one is returned open. */
async function readAhead(files: FileServer, path: string): Promise<Prepared> {
  const { handle, info } = await files.openInRoot(path);
  if (info.size > READ_AHEAD_MAX_BYTES) return { info, handle };
  try {
    const buf = new Uint8Array(info.size + 1);
    let off = 0;
    while (off < buf.length) {
      const n = await handle.read(off === 0 ? buf : buf.subarray(off));
      if (n === null || n === 0) break;
      off += n;
      // A read of a regular file returns less than asked only at its end (Linux, and every
      // system Deno runs on): the usual single read is then the last, saving one trip.
      if (off === info.size) break;
    }
    if (off < info.size) throw new ArchiveChangedError("file shrank");
    if (off > info.size) throw new ArchiveChangedError("file grew");
    return { info, data: buf.subarray(0, info.size) };
  } finally {
    handle.close();
  }
}

/** The second walk: the archive itself, through `out`. Small files are opened and read up to
 * {@linkcode READ_AHEAD_FILES} ahead, so that their opens and reads overlap. */
async function stream(
  files: FileServer,
  top: string,
  topName: string,
  format: ArchiveFormat,
  out: Output,
): Promise<void> {
  const central = new Pages();
  let count = 0;
  const entries = walk(files, top, topName, false);
  const ahead: Array<{ found: Found; prepared?: Promise<Prepared> }> = [];
  let walked = false;
  try {
    for (;;) {
      while (!walked && ahead.length < READ_AHEAD_FILES) {
        const r = await entries.next();
        if (r.done) {
          walked = true;
          break;
        }
        const found = r.value;
        let prepared: Promise<Prepared> | undefined;
        // Regular files (size -1: not stat'ed) and small links: opened now, read if small.
        if (found.type === "file" && found.size <= READ_AHEAD_MAX_BYTES) {
          prepared = readAhead(files, found.path);
          prepared.catch(() => {}); // awaited in turn; a failure must not go unhandled meanwhile
        }
        ahead.push({ found, prepared });
      }
      const next = ahead.shift();
      if (next === undefined) break;
      const { found, prepared } = next;
      count++;
      let e: ArchiveEntry = found;
      let handle: Deno.FsFile | undefined;
      let info: Deno.FileInfo | undefined;
      let data: Uint8Array | undefined;
      try {
        // A file that vanished, was swapped for something else or is refused throws here: the
        // archive cannot be what was announced, so the body is cut.
        if (prepared !== undefined) {
          ({ info, data, handle } = await prepared);
          e = entryOf(found.name, found.path, info);
        } else if (found.type === "file") {
          ({ handle, info } = await files.openInRoot(found.path));
          e = entryOf(found.name, found.path, info);
        }
        if (format === "tar") {
          await out.put(tarHeader(e));
          if (data !== undefined) await out.put(data);
          else if (handle !== undefined && info !== undefined) {
            await copyFile(out, handle, info, null);
          }
          await out.zeros(tarPadding(e.type === "file" ? e.size : 0));
        } else {
          const offset = out.written;
          await out.put(zipLocalHeader(e));
          let crc = 0;
          if (data !== undefined) {
            crc = crc32(data) >>> 0;
            await out.put(data);
          } else if (handle !== undefined && info !== undefined) {
            crc = await copyFile(out, handle, info, 0);
          }
          await out.put(zipDescriptor(e, crc));
          central.push(zipCentralHeader(e, { crc, offset }));
        }
      } finally {
        handle?.close();
      }
    }
  } finally {
    // Cut short: files opened ahead and still waiting are closed as their opens complete.
    for (const a of ahead) a.prepared?.then((p) => p.handle?.close(), () => {});
  }
  if (format === "tar") {
    await out.put(TAR_END);
  } else {
    const cdOffset = out.written;
    await central.writeTo(out);
    await out.put(zipEnd({ count, offset: cdOffset, size: central.length }));
  }
}

/** RFC 8187 §3.2.1 attr-char: what an ext-value keeps as is; every other byte is `%XX`. */
const ATTR_CHAR = /^[A-Za-z0-9!#$&+\-.^_`|~]$/;

/**
 * `attachment` with the name as UTF-8 (RFC 6266 §4.3, RFC 8187) and an ASCII fallback for old
 * clients (non-ASCII, quotes, backslashes, `%` and `;` as `_`).
 *
 * @example
 * ```ts
 * import { contentDisposition } from "./archive.ts";
 * contentDisposition("été (1).zip");
 * // attachment; filename="_t_ (1).zip"; filename*=UTF-8''%C3%A9t%C3%A9%20%281%29.zip
 * ```
 */
export function contentDisposition(fileName: string): string {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\%;]/g, "_");
  let ext = "";
  for (const b of encoder.encode(fileName)) {
    const c = String.fromCharCode(b);
    ext += b < 0x80 && ATTR_CHAR.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return `attachment; filename="${fallback}"; filename*=UTF-8''${ext}`;
}

/** The folder an archive is asked for. */
export interface ArchiveFolder {
  /** The folder on disk (already resolved and checked as GET checks a listing). */
  path: string;
  /** Its decoded URL path segments: the last names the archive (none: the served root). */
  segments: readonly string[];
  format: ArchiveFormat;
}

/**
 * The reply for a folder archive (the root is named after the served directory): the fields,
 * after the first walk, and for GET the stream of the second.
 */
export async function archiveReply(
  files: FileServer,
  head: RequestHead,
  folder: ArchiveFolder,
): Promise<Reply> {
  const { path, segments, format } = folder;
  if (!files.archive || !files.listing) {
    throw new HttpError(STATUS.Forbidden, "Forbidden: folder archives are off", { close: false });
  }
  const base = segments.length > 0
    ? segments[segments.length - 1]
    : files.root.split("/").filter(Boolean).pop() ?? "root";
  const length = await measure(files, path, base, format);
  const fields: Array<[string, string]> = [
    ["Content-Type", format === "zip" ? "application/zip" : "application/x-tar"],
    ["Content-Length", String(length)],
    ["Content-Disposition", contentDisposition(`${base}.${format}`)],
    ["Cache-Control", "no-store"],
    ["X-Content-Type-Options", "nosniff"],
  ];
  const reply: Reply = { status: STATUS.OK, fields, length };
  if (head.method === "HEAD") return reply;
  reply.stream = async (write) => {
    const out = new Output(write, length);
    try {
      await stream(files, path, base, format, out);
      await out.finish();
    } catch (e) {
      await out.settle();
      throw e;
    }
  };
  return reply;
}
