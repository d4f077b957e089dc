/**
 * A file opened by node:fs as a descriptor, with the part of `Deno.FsFile` the server uses
 * (read, seek, stat, close), for where Deno cannot open what was verified: without
 * `--allow-all`, Deno refuses `/proc/self/fd` (denoland/deno#23703), so the verified open falls
 * back to opening by name — with `O_NONBLOCK`, which Deno.open cannot ask for, so that a FIFO
 * swapped in never blocks a thread, and the descriptor's type and identity are checked before a
 * byte is read. Reads are positional (`pread`), the position kept here.
 *
 * @module
 */

import * as fs from "node:fs";

/** Opens `path` read-only and non-blocking (a FIFO or device open returns at once), and with
 * `noFollow`, fails (ELOOP) when its last component is a symlink. */
export function openNonBlocking(path: string, noFollow = false): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(
      path,
      fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (noFollow ? fs.constants.O_NOFOLLOW : 0),
      (e, fd) => e ? reject(e) : resolve(fd),
    );
  });
}

/** The stat of a descriptor in Deno's shape (what the server's caches and validators read). */
export function fstatInfo(fd: number): Deno.FileInfo {
  const s = fs.fstatSync(fd);
  return {
    isFile: s.isFile(),
    isDirectory: s.isDirectory(),
    isSymlink: false,
    isBlockDevice: s.isBlockDevice(),
    isCharDevice: s.isCharacterDevice(),
    isFifo: s.isFIFO(),
    isSocket: s.isSocket(),
    size: s.size,
    mtime: s.mtime,
    atime: s.atime,
    birthtime: s.birthtime,
    ctime: s.ctime,
    dev: s.dev,
    ino: s.ino,
    mode: s.mode,
    nlink: s.nlink,
    uid: s.uid,
    gid: s.gid,
    rdev: s.rdev,
    blksize: s.blksize,
    blocks: s.blocks,
  };
}

/** A read-only descriptor with `Deno.FsFile`'s read, seek, stat and close. */
export class FdFile {
  readonly #fd: number;
  #pos = 0;
  #closed = false;

  /** Takes ownership of `fd`. */
  constructor(fd: number) {
    this.#fd = fd;
  }

  /** Reads into `p` at the current position; null at the end of the file. */
  read(p: Uint8Array): Promise<number | null> {
    if (p.length === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      fs.read(this.#fd, p, 0, p.length, this.#pos, (e, n) => {
        if (e) return reject(e);
        this.#pos += n;
        resolve(n === 0 ? null : n);
      });
    });
  }

  /** Moves the position (no syscall but for SeekMode.End). */
  seek(offset: number | bigint, whence: Deno.SeekMode): Promise<number> {
    const o = Number(offset);
    if (whence === Deno.SeekMode.Start) this.#pos = o;
    else if (whence === Deno.SeekMode.Current) this.#pos += o;
    else this.#pos = fs.fstatSync(this.#fd).size + o;
    return Promise.resolve(this.#pos);
  }

  /** The stat of the open file. */
  stat(): Promise<Deno.FileInfo> {
    return Promise.resolve(fstatInfo(this.#fd));
  }

  /** Closes the descriptor (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    fs.closeSync(this.#fd);
  }

  /** As `Deno.FsFile` for the code that streams it (read, seek, stat, close only). */
  asFsFile(): Deno.FsFile {
    return this as unknown as Deno.FsFile;
  }
}
