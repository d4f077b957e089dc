/**
 * Folders as archives: `GET /dir/?download=tar` or `?download=zip` streams the folder through the
 * pure encoders of lib/archive. Everything is opened through the verified open
 * (lib/server/verified_open.ts), as GET opens: each directory is read through its held
 * descriptor and its entries looked up relative to it ({@linkcode fillBatch}), with the entry
 * policy of listings (lib/server/listing_entries.ts: `listableName`, `servedInfo`), and each file
 * is read through `Confinement.openFile` on the inode that was verified. So the archive follows
 * exactly the confinement, dotfile and symlink policy of GET, with its race guarantees (swapping
 * entries meanwhile can cut an archive, never bring outside bytes in); FIFOs, sockets and devices
 * are skipped, never opened.
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
import { listableName, servedInfo } from "./listing_entries.ts";
import type { Confinement, Held } from "./verified_open.ts";
import { LARGE_CHUNK_BYTES, largePool, PROMOTE_BYTES, PROMOTE_MS } from "./stream_body.ts";
import { turnMs } from "./clock.ts";

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
/** Output buffer of a fast client (two of them, leased from the per-process budget of
 * lib/server/stream_body.ts: one filled while the other is written). Small files are packed into
 * it with their headers, so that 1,000 files of 4 KiB cost ~4 writes, not 2,000. */
export const ARCHIVE_BUFFER_BYTES = LARGE_CHUNK_BYTES;
/** Output buffer until the client has shown it keeps up (two of them): with the small files
 * read ahead meanwhile ({@linkcode AHEAD_BYTES_SMALL}) and the walk's state, a stalled archive
 * download stays within the 64 KiB per stalled connection of lib/server/stream_body.ts (two of
 * its 16 KiB chunks measured ~75 KiB of server RSS per stalled archive, 8 KiB ones ~60). */
export const ARCHIVE_SMALL_BYTES = 8 << 10;
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

/** An entry found by the walk: the archive member, and for the streaming walk the verified
 * object itself (a file's {@linkcode Held}, opened for reading in its turn). */
interface Found extends ArchiveEntry {
  held?: Held;
}

function entryOf(name: string, info: Deno.FileInfo): ArchiveEntry {
  const dir = info.isDirectory;
  return {
    name,
    type: dir ? "directory" : "file",
    size: dir ? 0 : info.size,
    mtimeMs: info.mtime?.getTime() ?? 0,
    mode: info.mode ?? (dir ? 0o755 : 0o644),
  };
}

/** What the walk found for one name: its stat, and (streaming walk) the verified object. */
interface Item {
  info: Deno.FileInfo;
  held?: Held;
}

/** A directory being read through its verified descriptor: its entries, a batch of them
 * already looked up, and its identity (to refuse a symlink cycle). */
interface Level {
  held: Held;
  /** Whether the walk opened `held` (and closes it); the top of the length walk is the
   * request's own. */
  owned: boolean;
  name: string;
  id: string;
  entries: AsyncIterator<Deno.DirEntry>;
  done: boolean;
  /** Each entry's item; null for what GET would not serve. */
  batch: Array<[string, Item | null]>;
  next: number;
}

/** How a walk reads: the confinement, and whether it holds what it finds (the streaming walk)
 * or only stats it (the length walk). */
interface WalkMode {
  confine: Confinement;
  hold: boolean;
  /** Names looked up at once (fewer while the output is small: each held entry costs a
   * descriptor and its stat until its turn). */
  batch: () => number;
}

/** Starts reading the held directory and looks up its first batch, so that an unreadable
 * directory is known before it is listed; null when it cannot be read (`held` then closed when
 * owned). */
async function openLevel(
  mode: WalkMode,
  held: Held,
  owned: boolean,
  name: string,
): Promise<Level | null> {
  const level: Level = {
    held,
    owned,
    name,
    id: `${held.info.dev}:${held.info.ino}`,
    entries: Deno.readDir(held.path)[Symbol.asyncIterator](),
    done: false,
    batch: [],
    next: 0,
  };
  try {
    await fillBatch(mode, level);
    return level;
  } catch {
    closeLevel(level);
    return null;
  }
}

/** Closes what a level still holds: its directory (when owned) and the batch not yet walked. */
function closeLevel(level: Level): void {
  if (level.owned) level.held.close();
  for (let i = level.next; i < level.batch.length; i++) level.batch[i][1]?.held?.close();
  level.batch = [];
  level.next = 0;
}

/**
 * Reads the next {@linkcode STAT_CONCURRENCY} names of a level that a listing would offer
 * (lib/server/listing_entries.ts: no dotfiles when off, no name GET refuses) and looks them up
 * at once, relative to the held directory: the length walk with the listing's own
 * {@linkcode servedInfo}, the streaming walk with the verified open (which also holds the
 * object: what is archived is what was verified). Both keep regular files and directories
 * only; FIFOs, sockets and devices are never opened.
 */
async function fillBatch(mode: WalkMode, level: Level): Promise<void> {
  const { confine } = mode;
  const names: string[] = [];
  const batch = mode.batch();
  while (!level.done && names.length < batch) {
    const r = await level.entries.next();
    if (r.done) level.done = true;
    else if (listableName(r.value.name, confine.options.dotfiles)) names.push(r.value.name);
  }
  const items = await Promise.all(names.map(async (name): Promise<Item | null> => {
    if (!mode.hold) {
      const info = await servedInfo(level.held, name, confine);
      return info === null ? null : { info };
    }
    let held: Held;
    try {
      held = await confine.open(`${level.held.path}/${name}`);
    } catch {
      return null; // vanished, a broken link, outside the root, a dotfile's link
    }
    if (!held.info.isFile && !held.info.isDirectory) {
      held.close();
      return null;
    }
    return { info: held.info, held };
  }));
  level.batch = names.map((n, i) => [n, items[i]]);
  level.next = 0;
}

/**
 * The folder `top` (held, verified) and everything under it that GET would serve, depth first,
 * a folder before its contents; lazily: per level of depth, one directory's names and a batch
 * of lookups in memory. Everything is looked up relative to a held directory, so renaming or
 * swapping a path component meanwhile cannot lead the walk outside. Whatever it still holds is
 * closed when the walk ends or is abandoned (`return()`).
 */
async function* walk(
  mode: WalkMode,
  top: Held,
  ownsTop: boolean,
  topName: string,
): AsyncGenerator<Found> {
  const stack: Level[] = [];
  try {
    const root = await openLevel(mode, top, ownsTop, topName);
    if (root === null) throw new HttpError(STATUS.Forbidden, "Forbidden");
    stack.push(root);
    yield { ...entryOf(topName, top.info) };
    while (stack.length > 0) {
      const level = stack[stack.length - 1];
      if (level.next === level.batch.length) {
        if (level.done) {
          closeLevel(stack.pop()!);
          continue;
        }
        await fillBatch(mode, level);
        continue;
      }
      const [name, item] = level.batch[level.next++];
      if (item === null) continue; // vanished, broken link, outside the root, not served
      const member = `${level.name}/${name}`;
      const st = item.info;
      if (st.isFile) {
        yield { ...entryOf(member, st), held: item.held };
      } else {
        const id = `${st.dev}:${st.ino}`;
        let held = item.held;
        if (stack.length >= MAX_DEPTH || stack.some((l) => l.id === id)) { // a cycle
          held?.close();
          continue;
        }
        if (held === undefined) {
          try {
            held = await mode.confine.open(`${level.held.path}/${name}`);
          } catch {
            continue;
          }
          if (!held.info.isDirectory || `${held.info.dev}:${held.info.ino}` !== id) {
            held.close(); // swapped since its stat: the length walk leaves it out
            continue;
          }
        }
        const sub = await openLevel(mode, held, true, member);
        if (sub === null) continue;
        yield entryOf(member, st);
        stack.push(sub);
      }
    }
  } finally {
    for (const l of stack) closeLevel(l);
  }
}

/** Something changed under the archive while it was being sent: the body must be cut. */
class ArchiveChangedError extends Error {}

/**
 * Buffers output into one of two buffers while the other is being written, counting every
 * byte against the announced length: it never writes past it, and {@linkcode finish} fails
 * unless it was met exactly.
 *
 * Memory follows the rules of lib/server/stream_body.ts: the buffers start small
 * ({@linkcode ARCHIVE_SMALL_BYTES} each), so a client that does not read pins at most those; once
 * the client takes {@linkcode PROMOTE_BYTES} within {@linkcode PROMOTE_MS} (more than a client
 * that reads nothing takes into the kernel's socket buffers) and the per-process budget has room,
 * a pair of 1 MiB buffers is taken from it ({@linkcode largePool}) and given back when the
 * archive ends. A client that stalls after that keeps its pair until the write timeout or the
 * minimum rate closes it: counted in the budget, so large buffers stay bounded per process.
 */
class Output {
  #bufs: [Uint8Array, Uint8Array] = [
    new Uint8Array(ARCHIVE_SMALL_BYTES),
    new Uint8Array(ARCHIVE_SMALL_BYTES),
  ];
  /** Whether `#bufs` is a pair leased from {@linkcode largePool}. */
  large = false;
  #cur = 0;
  #pos = 0;
  #pending: Promise<void> | undefined;
  #write: (p: Uint8Array) => Promise<void>;
  #windowAt = turnMs();
  #windowBytes = 0;
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
    while (n > 0) {
      const k = Math.min(n, ZEROS.length);
      await this.put(ZEROS.subarray(0, k));
      n -= k;
    }
  }

  /** Free space to read into: at most `max` bytes, and never past the limit. */
  space(max: number): Uint8Array {
    const buf = this.#bufs[this.#cur];
    const n = Math.min(max, buf.length - this.#pos, this.limit - this.written);
    return buf.subarray(this.#pos, this.#pos + n);
  }

  /** Takes `n` bytes just read into {@linkcode space}. */
  async commit(n: number): Promise<void> {
    this.#pos += n;
    this.written += n;
    if (this.#pos === this.#bufs[this.#cur].length) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pos === 0) return;
    const full = this.#bufs[this.#cur].subarray(0, this.#pos);
    if (this.#pending !== undefined) await this.#pending;
    this.#pending = this.#write(full);
    this.#pending.catch(() => {}); // awaited later; a failure must not go unhandled meanwhile
    this.#cur ^= 1;
    this.#pos = 0;
    if (!this.large) this.#promote(full.length);
  }

  /** Moves up to a leased pair of large buffers when the client has kept up (see the class
   * doc). The buffer in flight stays with its write; the next one filled is large. */
  #promote(n: number): void {
    this.#windowBytes += n;
    if (this.#windowBytes < PROMOTE_BYTES) return;
    const now = turnMs();
    if (now - this.#windowAt <= PROMOTE_MS) {
      const pair = largePool.takePair();
      if (pair !== null) {
        this.#bufs = pair;
        this.large = true;
        return;
      }
    }
    this.#windowAt = now;
    this.#windowBytes = 0;
  }

  async finish(): Promise<void> {
    if (this.written !== this.limit) throw new ArchiveChangedError("shorter than announced");
    await this.#flush();
    await this.#pending;
    this.#pending = undefined;
  }

  /** Waits for a write still in flight, then gives leased buffers back (after the end or a
   * failure; the output is not used again). */
  async close(): Promise<void> {
    await this.#pending?.catch(() => {});
    this.#pending = undefined;
    if (this.large) {
      this.large = false;
      largePool.give(this.#bufs[0]);
      largePool.give(this.#bufs[1]);
    }
  }
}

/** Padding source: tar pads each member to 512 bytes. */
const ZEROS = new Uint8Array(1024);

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
  if (await handle.read(ONE_BYTE) !== null) throw new ArchiveChangedError("file grew");
  const after = await handle.stat();
  if (after.size !== info.size || after.mtime?.getTime() !== info.mtime?.getTime()) {
    throw new ArchiveChangedError("file changed");
  }
  return c >>> 0;
}

/** Scratch for the read that proves a file ended (its byte, if any, is never looked at). */
const ONE_BYTE = new Uint8Array(1);

/** Pages of central directory records, kept until the end of a zip: the first small (a zip of
 * a few files holds a few KiB), each next one twice the last, up to 1 MiB. */
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
      const last = this.#pages[this.#pages.length - 1];
      if (last === undefined || this.#pos === last.length) {
        const size = last === undefined ? 4096 : Math.min(last.length * 2, ARCHIVE_BUFFER_BYTES);
        this.#pages.push(new Uint8Array(size));
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
  confine: Confinement,
  top: Held,
  topName: string,
  format: ArchiveFormat,
): Promise<number> {
  let total = 0;
  let count = 0;
  let central = 0;
  for await (
    const e of walk({ confine, hold: false, batch: () => STAT_CONCURRENCY }, top, false, topName)
  ) {
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

/** A file opened ahead of its turn, with the stat of the verified inode (the one opened): a
 * small one read whole (and closed), a larger one left open to be streamed in turn. */
type Prepared = { info: Deno.FileInfo; data: Uint8Array; handle?: undefined } | {
  info: Deno.FileInfo;
  data?: undefined;
  handle: Deno.FsFile;
};

/** Bytes of small files read ahead and not yet sent, per archive: with small output buffers
 * (a client not shown fast yet, or stalled) little, so that a stalled archive holds little. */
const AHEAD_BYTES_SMALL = ARCHIVE_SMALL_BYTES;
const AHEAD_BYTES_LARGE = READ_AHEAD_FILES * READ_AHEAD_MAX_BYTES;
/** Files opened ahead with small output buffers (descriptors held per stalled archive). */
const READ_AHEAD_FILES_SMALL = 2;

/** Opens the verified file `held` (closing `held`) and reads it whole if small and the
 * read-ahead budget `ahead` has room (one byte more is asked for, so that a file grown since
 * its stat is caught), closing it; otherwise it is returned open. */
async function readAhead(
  confine: Confinement,
  held: Held,
  ahead: { bytes: number; max: () => number },
): Promise<Prepared> {
  let handle: Deno.FsFile;
  try {
    handle = await confine.openFile(held); // 403 when no longer a regular file
  } finally {
    held.close();
  }
  const info = held.info;
  if (info.size > READ_AHEAD_MAX_BYTES || ahead.bytes + info.size > ahead.max()) {
    return { info, handle };
  }
  ahead.bytes += info.size;
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
  } catch (e) {
    ahead.bytes -= info.size;
    throw e;
  } finally {
    handle.close();
  }
}

/** The second walk: the archive itself, through `out`. Files are opened (and small ones read)
 * up to {@linkcode READ_AHEAD_FILES} ahead, so that their opens and reads overlap. */
async function stream(
  confine: Confinement,
  top: Held,
  topName: string,
  format: ArchiveFormat,
  out: Output,
): Promise<void> {
  const central = new Pages();
  let count = 0;
  const batch = () => out.large ? STAT_CONCURRENCY : READ_AHEAD_FILES_SMALL;
  const entries = walk({ confine, hold: true, batch }, top, true, topName);
  const ahead: Array<{ found: Found; prepared?: Promise<Prepared> }> = [];
  const budget = {
    bytes: 0,
    max: () => out.large ? AHEAD_BYTES_LARGE : AHEAD_BYTES_SMALL,
  };
  let walked = false;
  try {
    for (;;) {
      const aheadFiles = out.large ? READ_AHEAD_FILES : READ_AHEAD_FILES_SMALL;
      while (!walked && ahead.length < aheadFiles) {
        const r = await entries.next();
        if (r.done) {
          walked = true;
          break;
        }
        const found = r.value;
        let prepared: Promise<Prepared> | undefined;
        if (found.held !== undefined) {
          prepared = readAhead(confine, found.held, budget);
          found.held = undefined; // readAhead closes it
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
          e = entryOf(found.name, info);
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
        if (data !== undefined) budget.bytes -= data.length;
      }
    }
  } finally {
    // Cut short: files opened ahead and still waiting are closed as their opens complete, and
    // the walk closes what it holds.
    for (const a of ahead) {
      a.found.held?.close();
      a.prepared?.then((p) => p.handle?.close(), () => {});
    }
    await entries.return(undefined);
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
  /** The folder as the request names it on disk (opened again by the streaming walk). */
  path: string;
  /** The folder, opened and verified by the request (valid until the reply is returned). */
  held: Held;
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
  const { path, held, segments, format } = folder;
  if (!files.archive || !files.listing) {
    throw new HttpError(STATUS.Forbidden, "Forbidden: folder archives are off", { close: false });
  }
  const base = segments.length > 0
    ? segments[segments.length - 1]
    : files.root.split("/").filter(Boolean).pop() ?? "root";
  const length = await measure(files.confine, held, base, format);
  const id = `${held.info.dev}:${held.info.ino}`;
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
    // The request's descriptor is closed once this reply is returned: the folder is opened
    // and verified again, and must be the one measured.
    const top = await files.confine.open(path);
    if (!top.info.isDirectory || `${top.info.dev}:${top.info.ino}` !== id) {
      top.close();
      throw new ArchiveChangedError("folder replaced");
    }
    const out = new Output(write, length);
    try {
      await stream(files.confine, top, base, format, out);
      await out.finish();
    } finally {
      await out.close();
    }
  };
  return reply;
}
