/**
 * Opening the client's own files inside DIR so that a link is never followed, whatever another
 * process plants or swaps there meanwhile (issue #11 item 8):
 *
 * - a new file is created with `O_CREAT|O_EXCL` (which refuses any existing name, a dangling
 *   symlink included) and `O_NOFOLLOW`;
 * - an existing file is opened with `O_NOFOLLOW|O_NONBLOCK` (a symlink fails with ELOOP, a FIFO
 *   or device does not block) and kept only when the opened handle is a regular file with one
 *   link (`fstat` on the handle: what was *opened* is checked, not a name looked up earlier;
 *   `nlink === 1` refuses a hard link planted to a file elsewhere);
 * - small files that are replaced (the resume meta) are written to a fresh exclusive temp name
 *   and renamed over the old one: rename replaces a link, it never writes through one.
 *
 * `node:fs` is used because `Deno.open` has no `O_NOFOLLOW`; the numeric flags go to open(2)
 * as given.
 *
 * @example
 * ```ts ignore
 * import { SafeFile } from "./safe_fs.ts";
 * const f = SafeFile.openExisting("out/a.bin.part", "rw");
 * f.write(new Uint8Array([1, 2, 3]));
 * f.close();
 * ```
 * @module
 */

import * as fs from "node:fs";
import { join } from "node:path";

const C = fs.constants;

/** Why a file was refused. */
export class UnsafeFileError extends Error {
  constructor(path: string, why: string) {
    super(`${path} ${why}`);
    this.name = "UnsafeFileError";
  }
}

function code(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/** A file opened without following links, used through its descriptor only. */
export class SafeFile {
  #fd: number;
  /** Where the next write goes. */
  #pos = 0;
  /** The path it was opened as (for messages). */
  readonly path: string;

  private constructor(fd: number, path: string) {
    this.#fd = fd;
    this.path = path;
  }

  /**
   * Creates `path`, which must not exist in any form (a file, a symlink, dangling or not, a
   * FIFO): `O_CREAT|O_EXCL|O_NOFOLLOW`.
   * @throws the open(2) error (EEXIST when something is there).
   */
  static createNew(path: string): SafeFile {
    const fd = fs.openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o666);
    return new SafeFile(fd, path);
  }

  /**
   * Opens an existing `path` for reading ("read") or reading and writing ("rw"), never through
   * a symlink and never blocking; keeps it only when the handle is a regular file with a single
   * link.
   * @throws {UnsafeFileError} a link, FIFO, device, directory or hard-linked file;
   *   the open(2) error otherwise (ENOENT, EACCES, ...).
   */
  static openExisting(path: string, mode: "read" | "rw"): SafeFile {
    const access = mode === "read" ? C.O_RDONLY : C.O_RDWR;
    let fd: number;
    try {
      fd = fs.openSync(path, access | C.O_NOFOLLOW | C.O_NONBLOCK);
    } catch (e) {
      if (code(e) === "ELOOP") throw new UnsafeFileError(path, "is a symbolic link");
      if (code(e) === "ENXIO" || code(e) === "EISDIR") {
        throw new UnsafeFileError(path, "is not a regular file");
      }
      throw e;
    }
    const st = fs.fstatSync(fd);
    if (!st.isFile() || (mode === "rw" && st.nlink !== 1)) {
      fs.closeSync(fd);
      throw new UnsafeFileError(
        path,
        st.isFile() ? `has ${st.nlink} hard links` : "is not a regular file",
      );
    }
    return new SafeFile(fd, path);
  }

  /** The file's size now (fstat on the handle). */
  size(): number {
    return fs.fstatSync(this.#fd).size;
  }

  /** Reads into `buf` at `position`; returns the count (0 at the end). */
  read(buf: Uint8Array, position: number): number {
    return fs.readSync(this.#fd, buf, 0, buf.length, position);
  }

  /** Makes the next write go to byte `position`. */
  seek(position: number): void {
    this.#pos = position;
  }

  /** Writes all of `data` at the current position and moves past it (pwrite in a loop: a
   * write may be short). Hot path: no allocation. */
  write(data: Uint8Array): void {
    for (let off = 0; off < data.length;) {
      off += fs.writeSync(this.#fd, data, off, data.length - off, this.#pos + off);
    }
    this.#pos += data.length;
  }

  /** Sets the access and modification times through the descriptor (futimes: no name is
   * looked up again, so no link can be followed). */
  setTimes(atime: Date, mtime: Date): void {
    fs.futimesSync(this.#fd, atime, mtime);
  }

  /** Cuts the file to `length` bytes. */
  truncate(length: number): void {
    fs.ftruncateSync(this.#fd, length);
  }

  /** Closes the descriptor (idempotent). */
  close(): void {
    if (this.#fd < 0) return;
    try {
      fs.closeSync(this.#fd);
    } catch { /* already closed */ }
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Replaces `path` with `text` atomically and without following a link: the text goes to a
 * fresh exclusive temp file in `dir`, which is then renamed over `path` (a symlink planted at
 * `path` is replaced, its target untouched).
 */
export function replaceFileSafely(dir: string, path: string, text: string): void {
  const rand = crypto.getRandomValues(new Uint8Array(8));
  const hex = [...rand].map((b) => b.toString(16).padStart(2, "0")).join("");
  const tmp = join(dir, `.ferry-${hex}.tmp`);
  const f = SafeFile.createNew(tmp);
  try {
    f.write(new TextEncoder().encode(text));
    f.close();
    fs.renameSync(tmp, path);
  } catch (e) {
    f.close();
    try {
      fs.unlinkSync(tmp);
    } catch { /* gone */ }
    throw e;
  }
}

/**
 * Reads at most `max` bytes of the regular file `path` (no link followed, never blocking);
 * null when it does not exist.
 * @throws {UnsafeFileError} not a regular file, or larger than `max`.
 */
export function readSmallFile(path: string, max: number): Uint8Array | null {
  let f: SafeFile;
  try {
    f = SafeFile.openExisting(path, "read");
  } catch (e) {
    if (code(e) === "ENOENT") return null;
    throw e;
  }
  try {
    const buf = new Uint8Array(max + 1);
    let have = 0;
    for (let n; have < buf.length && (n = f.read(buf.subarray(have), have)) > 0;) have += n;
    if (have > max) throw new UnsafeFileError(path, `is larger than ${max} bytes`);
    return buf.subarray(0, have);
  } finally {
    f.close();
  }
}
