/**
 * Saving a download: DIR/NAME.part while the body streams in, DIR/NAME only once it is whole
 * and verified, so a failure never leaves a file at the final name that looks complete. When
 * there is a digest to check (or `--digest`), the sha-256 is computed while writing (no second
 * pass); otherwise nothing is hashed. For `-c`, the validator of the first attempt is kept
 * beside the part in DIR/NAME.part.meta (JSON), removed on success.
 *
 * The body goes socket → one reused buffer of {@linkcode BUFFER_BYTES} → `writeSync` (→ hash),
 * all on this thread; the kernel keeps receiving into the socket buffer during the write.
 *
 * @example
 * ```ts ignore
 * import { PartFile, savePaths } from "./save.ts";
 * const paths = savePaths("out", "a.bin");
 * const part = await PartFile.create(paths, true);
 * part.write(new TextEncoder().encode("hello"));
 * console.log(part.digest()?.length); // 32
 * part.close();
 * ```
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { join } from "node:path";
import { ClientError, EXIT, fileError } from "./errors.ts";

/**
 * The body buffer: the socket is read straight into it, then it is written with `writeSync`
 * (and hashed) before the next read. Measured on this 2-core VM, 1 GiB from nginx (sendfile,
 * same machine) to disk, wall time of 8 interleaved runs each (sorted), no hashing:
 *
 * | design                                  | runs (s)                                  |
 * | --------------------------------------- | ----------------------------------------- |
 * | 512 KiB, writeSync                      | 0.90 0.92 0.93 0.94 0.96 0.96 0.98 1.06   |
 * | 1 MiB, writeSync                        | 0.73 0.80 0.96 0.97 1.00 1.02 1.07 1.08   |
 * | 2 MiB, writeSync                        | 0.86 0.86 0.88 0.95 1.01 1.05 1.06 1.06   |
 * | ring of 3 × 2 MiB, async write ∥ read   | 1.12 1.20 1.23 1.69 1.93 2.13 2.45 2.96   |
 * | curl (16 KiB buffer)                    | 0.88 0.99 1.00 1.01 1.01 1.04 1.09 1.96   |
 *
 * and with sha-256 (6 runs): 1 MiB writeSync 1.41–1.68 s, 256 KiB 1.83–2.15, the ring
 * 1.93–2.87. The ring (an earlier design) handed each buffer to Deno's blocking-I/O thread
 * pool: a third busy thread on two cores already shared with the sender, and the page-cache
 * copy (`copy_folio_from_iter_atomic`, half of the client's CPU in `perf`) reading the bytes
 * from another core's cache. For scale: nginx → `curl -o /dev/null` takes 0.61–0.70 s, the
 * ceiling of any client here.
 */
export const BUFFER_BYTES = 1024 * 1024;

/** The three paths of one download. */
export interface SavePaths {
  /** The directory saved into. */
  dir: string;
  /** The final name inside it. */
  name: string;
  /** DIR/NAME. */
  final: string;
  /** DIR/NAME.part: the body while it arrives. */
  part: string;
  /** DIR/NAME.part.meta: the validator for a later resume. */
  meta: string;
}

/** The paths for `name` (already checked to be a plain name) in `dir`. */
export function savePaths(dir: string, name: string): SavePaths {
  const final = join(dir, name);
  return { dir, name, final, part: final + ".part", meta: final + ".part.meta" };
}

/** What is remembered beside a .part, to resume it safely (RFC 9110 §13.1.5). */
export interface PartMeta {
  /** The URL the body came from. */
  url: string;
  /** A strong ETag of the representation, or null. */
  etag: string | null;
  /** A Last-Modified that is a strong validator (§8.8.2.2), or null. */
  lastModified: string | null;
  /** The complete size, when the server said it. */
  size: number | null;
}

/** Creates DIR (and parents) if missing and checks it is a directory.
 * @throws {ClientError} local (6). */
export async function prepareDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    if (!(await Deno.stat(dir)).isDirectory) throw new Deno.errors.NotADirectory("not a directory");
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotADirectory) {
      throw new ClientError(
        EXIT.local,
        `cannot create directory ${dir}: it, or one of its parents, is not a directory; ` +
          `choose another DIR`,
      );
    }
    throw fileError(e, "create directory", dir);
  }
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw fileError(e, "inspect", path);
  }
}

/** Refuses when DIR/NAME exists and `force` is off (the file is left untouched).
 * @throws {ClientError} local (6). */
export async function checkFinalFree(paths: SavePaths, force: boolean): Promise<void> {
  const st = await lstatOrNull(paths.final);
  if (st === null) return;
  if (st.isDirectory) {
    throw new ClientError(EXIT.local, `${paths.final} is a directory; choose another -o NAME`);
  }
  if (!force) {
    throw new ClientError(
      EXIT.local,
      `${paths.final} already exists and was left untouched; use --force to replace it`,
    );
  }
}

/** The existing .part (a regular file, never a symlink) and its meta, or null when none. */
export async function readPart(
  paths: SavePaths,
): Promise<{ size: number; meta: PartMeta | null } | null> {
  const st = await lstatOrNull(paths.part);
  if (st === null) return null;
  if (!st.isFile) {
    throw new ClientError(EXIT.local, `${paths.part} is not a regular file; remove it`);
  }
  let meta: PartMeta | null = null;
  try {
    const m = JSON.parse(await Deno.readTextFile(paths.meta));
    if (typeof m?.url === "string") {
      meta = {
        url: m.url,
        etag: typeof m.etag === "string" ? m.etag : null,
        lastModified: typeof m.lastModified === "string" ? m.lastModified : null,
        size: typeof m.size === "number" ? m.size : null,
      };
    }
  } catch { /* no meta, or not ours: resume without a validator */ }
  return { size: st.size, meta };
}

/** Writes the resume meta beside the part. */
export async function writeMeta(paths: SavePaths, meta: PartMeta): Promise<void> {
  try {
    await Deno.writeTextFile(paths.meta, JSON.stringify(meta) + "\n");
  } catch (e) {
    throw fileError(e, "write", paths.meta);
  }
}

/** Removes the resume meta (success, or a part that is no longer resumable). */
export async function removeMeta(paths: SavePaths): Promise<void> {
  try {
    await Deno.remove(paths.meta);
  } catch { /* none */ }
}

/**
 * DIR/NAME.part open for writing, hashing every byte written when asked to (`hashing`: there
 * is a digest to check, or the user wants one; otherwise no byte is hashed).
 */
export class PartFile {
  #file: Deno.FsFile;
  #hash: Hash | null;
  #path: string;
  /** Bytes in the file. */
  size: number;

  private constructor(file: Deno.FsFile, hash: Hash | null, path: string, size: number) {
    this.#file = file;
    this.#hash = hash;
    this.#path = path;
    this.size = size;
  }

  /** Starts a fresh part. An old part (or a symlink planted there) is removed first and the
   * new one created exclusively, so the write can never follow a link out of DIR. */
  static async create(paths: SavePaths, hashing: boolean): Promise<PartFile> {
    try {
      await Deno.remove(paths.part).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      const file = await Deno.open(paths.part, { write: true, createNew: true });
      return new PartFile(file, hashing ? createHash("sha256") : null, paths.part, 0);
    } catch (e) {
      throw fileError(e, "create", paths.part);
    }
  }

  /**
   * Opens an existing part to append to it, dropping anything past `size`; when `hashing`,
   * hashes its `size` bytes once first (with `scratch` as the read buffer) so the digest covers
   * the whole file.
   */
  static async append(
    paths: SavePaths,
    size: number,
    scratch: Uint8Array,
    hashing: boolean,
  ): Promise<PartFile> {
    let file: Deno.FsFile | null = null;
    try {
      if ((await Deno.lstat(paths.part)).isSymlink) {
        throw new ClientError(EXIT.local, `${paths.part} is a symlink; remove it`);
      }
      file = await Deno.open(paths.part, { read: true, write: true });
      const hash = hashing ? createHash("sha256") : null;
      let have = 0;
      if (hash === null) have = Math.min((await file.stat()).size, size);
      while (hash !== null && have < size) {
        const n = await file.read(scratch.subarray(0, Math.min(scratch.length, size - have)));
        if (n === null) break;
        hash.update(scratch.subarray(0, n));
        have += n;
      }
      if (have !== size) {
        throw new ClientError(EXIT.local, `${paths.part} changed while being read; retry`);
      }
      await file.truncate(size);
      await file.seek(size, Deno.SeekMode.Start);
      return new PartFile(file, hash, paths.part, size);
    } catch (e) {
      file?.close();
      throw fileError(e, "open", paths.part);
    }
  }

  /**
   * Appends all of `data` (`writeSync` in a loop: a write may take less than asked) and hashes
   * it. Hot path: no allocation.
   * @throws {ClientError} local (6): the write failed (disk full, ...).
   */
  write(data: Uint8Array): void {
    try {
      let off = 0;
      while (off < data.length) {
        off += this.#file.writeSync(off === 0 ? data : data.subarray(off));
      }
    } catch (e) {
      throw fileError(e, "write", this.#path);
    }
    this.#hash?.update(data);
    this.size += data.length;
  }

  /** The sha-256 of everything in the file, as bytes, or null when not hashing (call once, at
   * the end). */
  digest(): Uint8Array | null {
    return this.#hash === null ? null : new Uint8Array(this.#hash.digest());
  }

  /** Closes the file (idempotent). */
  close(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }
}

/** sha-256 of a whole existing file (for a part that turns out complete, 416). */
export async function hashFile(path: string, scratch: Uint8Array): Promise<Uint8Array> {
  try {
    using file = await Deno.open(path, { read: true });
    const hash = createHash("sha256");
    for (let n; (n = await file.read(scratch)) !== null;) hash.update(scratch.subarray(0, n));
    return new Uint8Array(hash.digest());
  } catch (e) {
    throw fileError(e, "read", path);
  }
}

/**
 * Renames the part to its final name and drops the meta. Without `force`, a file that appeared
 * at the final name meanwhile is left alone.
 * @throws {ClientError} local (6).
 */
export async function finalize(paths: SavePaths, force: boolean): Promise<void> {
  await checkFinalFree(paths, force);
  try {
    await Deno.rename(paths.part, paths.final);
  } catch (e) {
    throw fileError(e, "rename to", paths.final);
  }
  await removeMeta(paths);
}
