/**
 * Saving a download: DIR/NAME.part while the body streams in, DIR/NAME only once it is whole
 * and verified, so a failure never leaves a file at the final name that looks complete. When
 * there is a digest to check (or `--digest`), the sha-256 is computed while writing (no second
 * pass); otherwise nothing is hashed. For a resume, the validator of the first attempt is kept
 * beside the part in DIR/NAME.part.meta (JSON), removed on success. Every file here is opened
 * through lib/client/safe_fs.ts: never through a link, never blocking on a FIFO.
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
import { parseMeta } from "./meta.ts";
import type { Report } from "./report.ts";
import { readSmallFile, replaceFileSafely, SafeFile, UnsafeFileError } from "./safe_fs.ts";

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
  /** `--segments` only: each byte range and how far it got (segments.ts). Such a .part has the
   * file's full size with holes, so it is never appended to. */
  segments?: SegmentState[];
}

/** One `--segments` range's resume state, as kept in the meta. */
export interface SegmentState {
  /** First byte of the range. */
  start: number;
  /** Last byte of the range (inclusive). */
  end: number;
  /** The next byte to fetch: `end + 1` once done. */
  next: number;
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

/** Largest .part.meta read: ours are a few hundred bytes (a URL and two validators). */
export const MAX_META_BYTES = 16 * 1024;

/** What is on disk from an earlier attempt. */
export interface PartState {
  /** The .part's size. */
  size: number;
  /** Its meta, when present, readable and well-formed; else null. */
  meta: PartMeta | null;
  /** Why a meta that was there was not used, or null. */
  metaProblem: string | null;
}

/**
 * The existing .part (a regular file with one link, opened without following a link) and its
 * meta (a regular file of at most {@linkcode MAX_META_BYTES}, schema-checked, every value
 * header-safe), or null when there is no .part.
 * @throws {ClientError} local (6): the .part is a link, FIFO, device or hard link.
 */
export function readPart(paths: SavePaths): PartState | null {
  let size: number;
  try {
    using f = SafeFile.openExisting(paths.part, "read");
    size = f.size();
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw unsafe(e, paths.part);
  }
  let meta: PartMeta | null = null;
  let metaProblem: string | null = null;
  try {
    const bytes = readSmallFile(paths.meta, MAX_META_BYTES);
    if (bytes !== null) {
      const r = parseMeta(new TextDecoder().decode(bytes));
      if (typeof r === "string") metaProblem = `${paths.meta} ${r}`;
      else meta = r;
    }
  } catch (e) {
    metaProblem = e instanceof UnsafeFileError ? e.message : `${paths.meta}: ${String(e)}`;
  }
  return { size, meta, metaProblem };
}

/**
 * Whether DIR/NAME.part was written by `--segments`: its meta has a `segments` field (well-formed
 * or not). Such a part has the file's full size with holes where segments had not arrived, so
 * the one-connection resume, its overlap proof and its 416 "already complete" must never
 * continue or finish it. A meta that cannot be read safely counts as not segmented.
 */
export function isSegmentedPart(paths: SavePaths): boolean {
  try {
    const bytes = readSmallFile(paths.meta, MAX_META_BYTES);
    if (bytes === null) return false;
    const o = JSON.parse(new TextDecoder().decode(bytes));
    return typeof o === "object" && o !== null && "segments" in o;
  } catch {
    return false;
  }
}

function unsafe(e: unknown, path: string): ClientError {
  if (e instanceof UnsafeFileError) {
    return new ClientError(
      EXIT.local,
      `${e.message}: refusing to write through it; remove it and run again`,
    );
  }
  return fileError(e, "open", path);
}

/** Writes the resume meta beside the part (a fresh temp file renamed over it: a link planted
 * at the meta's name is replaced, never written through). */
export function writeMeta(paths: SavePaths, meta: PartMeta): void {
  try {
    replaceFileSafely(paths.dir, paths.meta, JSON.stringify(meta) + "\n");
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

/** Attempts at creating a fresh part when something keeps appearing at its name. */
const CREATE_ATTEMPTS = 3;

/**
 * DIR/NAME.part open for writing, hashing every byte written when asked to (`hashing`: there
 * is a digest to check, or the user wants one; otherwise no byte is hashed). Opened through
 * {@linkcode SafeFile}: never through a link, never a FIFO or device.
 */
export class PartFile {
  #file: SafeFile;
  #hash: Hash | null;
  #path: string;
  /** Bytes in the file. */
  size: number;

  private constructor(file: SafeFile, hash: Hash | null, path: string, size: number) {
    this.#file = file;
    this.#hash = hash;
    this.#path = path;
    this.size = size;
  }

  /** Starts a fresh part. An old part (or whatever is planted there) is unlinked first and the
   * new one created exclusively without following a link, so the write never leaves DIR. */
  static create(paths: SavePaths, hashing: boolean): PartFile {
    for (let attempt = 1;; attempt++) {
      try {
        try {
          Deno.removeSync(paths.part);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
        const file = SafeFile.createNew(paths.part);
        return new PartFile(file, hashing ? createHash("sha256") : null, paths.part, 0);
      } catch (e) {
        // EEXIST: something was put there between the unlink and the create; try again.
        if ((e as { code?: string }).code === "EEXIST" && attempt < CREATE_ATTEMPTS) continue;
        throw fileError(e, "create", paths.part);
      }
    }
  }

  /**
   * Opens an existing part to append to it (no link followed; a regular file with one link),
   * dropping anything past `size`; when `hashing`, hashes its `size` bytes once first (with
   * `scratch` as the read buffer) so the digest covers the whole file.
   */
  static append(
    paths: SavePaths,
    size: number,
    scratch: Uint8Array,
    hashing: boolean,
  ): PartFile {
    let file: SafeFile | null = null;
    try {
      file = SafeFile.openExisting(paths.part, "rw");
      const hash = hashing ? createHash("sha256") : null;
      let have = 0;
      if (hash === null) have = Math.min(file.size(), size);
      while (hash !== null && have < size) {
        const n = file.read(scratch.subarray(0, Math.min(scratch.length, size - have)), have);
        if (n === 0) break;
        hash.update(scratch.subarray(0, n));
        have += n;
      }
      if (have !== size) {
        throw new ClientError(EXIT.local, `${paths.part} changed while being read; retry`);
      }
      file.truncate(size);
      file.seek(size);
      return new PartFile(file, hash, paths.part, size);
    } catch (e) {
      file?.close();
      throw unsafe(e, paths.part);
    }
  }

  /**
   * Appends all of `data` and hashes it. Hot path: no allocation.
   * @throws {ClientError} local (6): the write failed (disk full, ...).
   */
  write(data: Uint8Array): void {
    try {
      this.#file.write(data);
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
    this.#file.close();
  }
}

/** The last `count` bytes of the .part (opened without following a link), to compare with a
 * server's overlap. */
export function readPartTail(paths: SavePaths, count: number): Uint8Array {
  try {
    using f = SafeFile.openExisting(paths.part, "read");
    const size = f.size();
    const out = new Uint8Array(Math.min(count, size));
    let have = 0;
    for (
      let n;
      have < out.length && (n = f.read(out.subarray(have), size - out.length + have)) > 0;
    ) {
      have += n;
    }
    return out.subarray(0, have);
  } catch (e) {
    throw unsafe(e, paths.part);
  }
}

/** sha-256 of a whole existing file (for a part that turns out complete, 416), read without
 * following a link. */
export function hashFile(path: string, scratch: Uint8Array): Uint8Array {
  try {
    using file = SafeFile.openExisting(path, "read");
    const hash = createHash("sha256");
    for (let pos = 0, n; (n = file.read(scratch, pos)) > 0; pos += n) {
      hash.update(scratch.subarray(0, n));
    }
    return new Uint8Array(hash.digest());
  } catch (e) {
    throw e instanceof UnsafeFileError ? unsafe(e, path) : fileError(e, "read", path);
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

/** {@linkcode finalize}, then the report says where the file landed. */
export async function land(report: Report, paths: SavePaths, force: boolean): Promise<void> {
  await finalize(paths, force);
  report.file = paths.final;
  report.partFile = null;
  report.ok = true;
}
