/**
 * The verified open: what the server reads, lists or caches is proven to lie inside the root
 * *after* it has been opened, so that renaming or swapping any path component (a file or a
 * directory ↔ a symlink to outside) between a check and the open cannot leak a byte.
 *
 * How, on Linux: the path is opened with `O_PATH` (node:fs gives a real descriptor in Deno).
 * `O_PATH` resolves the name — symlinks included — to one inode without opening the file
 * itself: a FIFO does not block, a device driver is not called. The kernel then says where
 * that inode is: `/proc/self/fd/N` reads back as the path of the very object held (d_path,
 * symlink-free), which is checked to lie under the real root and, with dotfiles off, to have no
 * segment starting with `.` below it. Its type is read by `stat` through the same magic link.
 * Only a regular file is then opened for reading, through `/proc/self/fd/N` again — which
 * reopens that inode, never a name. A directory is listed through it, and its entries are
 * looked up relative to it (`/proc/self/fd/N/name`), so a swapped parent cannot redirect them.
 * A hard link inside the root to an outside file counts as inside (its path is inside).
 *
 * Why this and not the alternatives: `openat2(RESOLVE_BENEATH)` needs FFI (`--allow-ffi`, a
 * raw descriptor Deno cannot read from without the same `/proc` reopen) and refuses absolute
 * symlinks that point inside the root, which work today; a per-component `O_NOFOLLOW` walk
 * needs `openat`, which Deno does not offer (by name, each component is looked up again). And
 * the cost is lower than before: two thread-pool round trips (open, reopen) plus two in-memory
 * syscalls (readlink, stat of the held inode), where the check by name took four (stat,
 * realpath, open, fstat).
 *
 * Deno lets a program read `/proc/self/fd` only with `--allow-all` (denoland/deno#23703).
 * Without it (or off Linux), it falls back to a check by name — the real path inside the root,
 * then its lstat — and opens that real path `O_NONBLOCK|O_NOFOLLOW` (lib/server/fd_file.ts),
 * reading only if the descriptor is a regular file with the (device, inode) that was checked:
 * FIFOs still never block and a swapped last component is caught, but a swap of a parent
 * directory in the narrow window between the realpath and the open can still be won, and
 * listings are read by name. {@linkcode Confinement.raceProof}
 * says which one runs (the server warns at start-up).
 *
 * @example
 * ```ts ignore
 * import { Confinement } from "./verified_open.ts";
 * const c = await Confinement.create({ root: "/srv/www", dotfiles: false, followSymlinks: false });
 * const held = await c.open("/srv/www/docs/a.txt"); // 404 HttpError when outside
 * try {
 *   if (held.info.isFile) (await c.openFile(held)).close();
 * } finally {
 *   held.close();
 * }
 * ```
 * @module
 */

import * as fs from "node:fs";
import { HttpError, STATUS } from "../http/status.ts";
import { FdFile, fstatInfo, openNonBlocking } from "./fd_file.ts";

/** Linux `O_PATH` and `O_CLOEXEC` (the values of every Linux architecture but alpha, parisc
 * and sparc; node:fs names neither). */
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const OPEN_FLAGS = O_PATH | O_CLOEXEC;

/** What may be served. */
export interface ConfinementOptions {
  /** The directory served (any path; resolved to its real path once). */
  root: string;
  /** Serve names starting with `.`. */
  dotfiles: boolean;
  /** Serve symlinks whose target lies outside the root. */
  followSymlinks: boolean;
  /** Use the fallback by name even where `/proc/self/fd` can be read (for tests). @default false */
  byName?: boolean;
}

/** An object opened and verified: held until {@linkcode Held.close}. */
export interface Held {
  /** A path that names exactly the held object (`/proc/self/fd/N`), or its real path in the
   * fallback. Open, list or look up entries through this, never through the request's name. */
  readonly path: string;
  /** Where the object is (symlink-free), as the kernel reports it. */
  readonly real: string;
  /** Its stat (type, size, version), taken through the held descriptor. */
  readonly info: Deno.FileInfo;
  /** Releases the descriptor (idempotent). */
  close(): void;
}

function notFound(): HttpError {
  return new HttpError(STATUS.NotFound, "Not Found", { close: false });
}

function openPath(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(path, OPEN_FLAGS, (e, fd) => e ? reject(toDenoError(e)) : resolve(fd));
  });
}

/** node:fs errors carry a `code`; the server's error mapping knows Deno's error classes. */
function toDenoError(e: NodeJS.ErrnoException): Error {
  switch (e.code) {
    case "ENOENT":
      return new Deno.errors.NotFound(e.message);
    case "ENOTDIR":
      return new Deno.errors.NotADirectory(e.message);
    case "EACCES":
    case "EPERM":
      return new Deno.errors.PermissionDenied(e.message);
    case "ELOOP":
      return new Deno.errors.FilesystemLoop(e.message);
    case "ENAMETOOLONG":
      return new Deno.errors.NotFound(e.message);
    default:
      return e;
  }
}

/**
 * The path of `real` below `root` (both real, absolute), without a leading `/`: "" for the
 * root itself, null when `real` is not under `root`. Correct for a root of `/` too.
 */
export function relativeToRoot(real: string, root: string): string | null {
  if (real === root) return "";
  const prefix = root.endsWith("/") ? root : root + "/";
  return real.startsWith(prefix) ? real.slice(prefix.length) : null;
}

/** Whether a `/`-separated relative path has a segment starting with `.`. */
export function hasHiddenSegment(rel: string): boolean {
  return rel.charCodeAt(0) === 46 /* . */ || rel.includes("/.");
}

/**
 * Whether the object at real path `real` may be served: inside `root` (or anywhere, when
 * symlinks may be followed) and, with dotfiles off, no hidden segment below the root (outside
 * it, when followed: no hidden segment at all — dotfiles off means no dotfile, wherever).
 */
export function mayServe(real: string, o: ConfinementOptions): boolean {
  const rel = relativeToRoot(real, o.root);
  if (rel === null) {
    if (!o.followSymlinks) return false;
    return o.dotfiles || !hasHiddenSegment(real.slice(1));
  }
  return o.dotfiles || !hasHiddenSegment(rel);
}

/**
 * Whether `/proc/self/fd` tells the path of an `O_PATH` descriptor (Linux) and may be read
 * (Deno allows it only with `--allow-all`); probed once, on the root.
 */
let procProbe: boolean | undefined;
function procAvailable(root: string): boolean {
  procProbe ??= probeProc(root);
  return procProbe;
}

function probeProc(root: string): boolean {
  let fd = -1;
  try {
    fd = fs.openSync(root, OPEN_FLAGS);
    const proc = `/proc/self/fd/${fd}`;
    return fs.readlinkSync(proc) === root && Deno.statSync(proc).isDirectory;
  } catch {
    return false;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** Opens with the policy of one served root (see the module doc). */
export class Confinement {
  readonly options: ConfinementOptions;
  /** Whether the race-proof open runs (Linux `/proc/self/fd`), or the fallback by name. */
  readonly raceProof: boolean;

  private constructor(options: ConfinementOptions, raceProof: boolean) {
    this.options = options;
    this.raceProof = raceProof;
  }

  /** Resolves the root to its real path once. */
  static async create(o: ConfinementOptions): Promise<Confinement> {
    const root = await Deno.realPath(o.root);
    return new Confinement({ ...o, root }, !o.byName && procAvailable(root));
  }

  /** The real root. */
  get root(): string {
    return this.options.root;
  }

  /**
   * Opens `path` (symlinks followed) without opening the object itself, and verifies where it
   * is. Rejects with a 404 HttpError when the policy refuses it, and with Deno's error classes
   * (NotFound, PermissionDenied, ...) when it cannot be resolved.
   */
  async open(path: string): Promise<Held> {
    if (!this.raceProof) return await this.#openByName(path);
    const fd = await openPath(path);
    let ok = false;
    try {
      const proc = `/proc/self/fd/${fd}`;
      const real = fs.readlinkSync(proc);
      if (!mayServe(real, this.options)) throw notFound();
      const info = Deno.statSync(proc);
      ok = true;
      let open = true;
      return {
        path: proc,
        real,
        info,
        close() {
          if (!open) return;
          open = false;
          fs.closeSync(fd);
        },
      };
    } catch (e) {
      throw e instanceof HttpError ? e : toDenoError(e as NodeJS.ErrnoException);
    } finally {
      if (!ok) fs.closeSync(fd);
    }
  }

  /**
   * Opens the held object for reading if it is a regular file (never a FIFO or a device:
   * 403), through its descriptor, so the bytes read are those of the verified inode.
   */
  async openFile(held: Held): Promise<Deno.FsFile> {
    if (!held.info.isFile) throw new HttpError(STATUS.Forbidden, "Forbidden", { close: false });
    if (this.raceProof) return await Deno.open(held.path, { read: true });
    // The fallback: opened by its real path, non-blocking, and only read if the descriptor is
    // a regular file and the very inode that was checked (a swap in between → 404).
    const fd = await openNonBlocking(held.real, true).catch((e) => {
      throw e.code === "ELOOP" ? notFound() : toDenoError(e);
    });
    const file = new FdFile(fd);
    try {
      const info = fstatInfo(fd);
      if (!info.isFile) throw new HttpError(STATUS.Forbidden, "Forbidden", { close: false });
      if (info.dev !== held.info.dev || info.ino !== held.info.ino) throw notFound();
      return file.asFsFile();
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** The fallback: the check by name of earlier versions (not race-proof). */
  async #openByName(path: string): Promise<Held> {
    // The real path first, then the lstat of that path (symlink-free when resolved: a symlink
    // there now is a swap → 404); openFile opens it without following a last symlink and
    // compares the inode it got with this one.
    const real = await Deno.realPath(path);
    if (!mayServe(real, this.options)) throw notFound();
    const info = await Deno.lstat(real);
    if (info.isSymlink) throw notFound();
    return { path: real, real, info, close() {} };
  }
}

/**
 * Opens `path` for reading only if it is a regular file, without ever opening a FIFO or a
 * device (an `O_PATH` look first, on Linux): for background readers (the digest cache) that
 * then compare the opened file's version with the one they were asked for.
 */
export async function openRegular(path: string): Promise<Deno.FsFile> {
  if (procProbe !== true) {
    // No /proc/self/fd: opened non-blocking, read only if it is a regular file.
    const fd = await openNonBlocking(path).catch((e) => {
      throw toDenoError(e);
    });
    const file = new FdFile(fd);
    if (!fstatInfo(fd).isFile) {
      file.close();
      throw new Deno.errors.PermissionDenied("not a regular file");
    }
    return file.asFsFile();
  }
  const fd = await openPath(path);
  try {
    const proc = `/proc/self/fd/${fd}`;
    if (!Deno.statSync(proc).isFile) throw new Deno.errors.PermissionDenied("not a regular file");
    return await Deno.open(proc, { read: true });
  } finally {
    fs.closeSync(fd);
  }
}
