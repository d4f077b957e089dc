/**
 * Saving a download: DIR/NAME.part while the body streams in, DIR/NAME only once it is whole
 * and verified, so a failure never leaves a file at the final name that looks complete. The
 * sha-256 is computed while writing (no second pass). For `-c`, the validator of the first
 * attempt is kept beside the part in DIR/NAME.part.meta (JSON), removed on success.
 *
 * While the body streams in, three things overlap: the socket read into the next buffer, the
 * file write of the current one (async `write`, which Deno runs on its blocking-I/O thread
 * pool), and the sha-256 of the current one on this thread — through a ring of
 * {@linkcode RING_BUFFERS} reused buffers (see {@linkcode BUFFER_BYTES} for the numbers).
 *
 * @example
 * ```ts ignore
 * import { PartFile, savePaths } from "./save.ts";
 * const paths = savePaths("out", "a.bin");
 * const part = await PartFile.create(paths);
 * const buf = await part.buffer(); // fill it (a socket read), then:
 * buf.set(new TextEncoder().encode("hello"));
 * part.put(buf.subarray(0, 5)); // written on the thread pool, hashed here meanwhile
 * await part.flush();
 * console.log(part.digest().length); // 32
 * part.close();
 * ```
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { join } from "node:path";
import { ClientError, EXIT, fileError } from "./errors.ts";

/**
 * Size of each body buffer: the socket is read straight into it, and it is written out and
 * hashed whole. Measured on this 2-core VM, 1 GiB from nginx (same machine, same 2 cores) to
 * disk with sha-256, wall-time medians of 9 interleaved runs (min–max), curl 1.00 s
 * (0.79–1.05) for scale:
 *
 * | buffer  | one buffer, writeSync, hash (old) | ring of 3, async write ∥ hash |
 * | ------- | --------------------------------- | ----------------------------- |
 * | 256 KiB | 1.69 s (1.48–2.07)                | 1.74 s (1.46–2.21) ¹          |
 * | 512 KiB |                                   | 1.56 s (1.47–1.70)            |
 * | 1 MiB   | 1.48 s (1.33–1.60)                | 1.38 s (1.25–1.47)            |
 * | 2 MiB   | 1.33 s (1.24–1.37)                | 1.24 s (1.13–1.37)            |
 * | 4 MiB   |                                   | 2.54 s (2.24–2.67) ²          |
 *
 * Bigger reads cost less per byte (fewer wake-ups and syscalls, for us and for the sender)
 * until 4 MiB, where the write's copy into the page cache gets slow (² sys time 0.6 → 2.4 s,
 * perf: `copy_folio_from_iter_atomic`; perhaps because three such buffers no longer fit in a
 * core's 2 MiB of L2). ¹ 7 runs of an earlier sweep.
 */
export const BUFFER_BYTES = 2 * 1024 * 1024;

/**
 * Buffers in the ring: one just read and being hashed while the thread pool writes the one
 * before it, with one to spare so that reading never waits for a write that is nearly done.
 * 4 measured the same as 3 (2 MiB: 1.33 vs 1.30 s medians, 7 runs).
 *
 * Why the hash stays on this thread: a Web Worker hashing from a ring of SharedArrayBuffers
 * (no copies) was measured in a prototype of the same loop, 1 GiB, 7 interleaved runs: worker
 * 1.30 s (writeSync) and 1.32 s (async write) against 1.16 s for this design — the sha-256 is
 * ~0.8 s of CPU per GiB wherever it runs, the worker adds ~0.2 s of messages and cache misses,
 * and nginx plus the kernel's copies already keep the second core busy.
 */
export const RING_BUFFERS = 3;

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
 * DIR/NAME.part open for writing, hashing every byte written. The body goes through
 * {@linkcode PartFile.buffer} → (read into it) → {@linkcode PartFile.put}: `put` starts the
 * write on the runtime's blocking-I/O thread pool, behind the earlier ones, and hashes the bytes
 * on this thread meanwhile; {@linkcode PartFile.flush} waits for the last write. A write error
 * surfaces from the next `buffer` or `flush`.
 */
export class PartFile {
  #file: Deno.FsFile;
  #hash: Hash;
  #path: string;
  /** The reused body buffers, allocated on the first {@linkcode buffer} call. */
  #ring: Uint8Array[] = [];
  /** Per ring buffer: the write that last used it (never rejects). */
  #writes: Array<Promise<void>> = [];
  /** The ring buffer {@linkcode buffer} hands out next. */
  #next = 0;
  /** The last write queued (never rejects), and how many are queued or running. */
  #tail: Promise<void> = Promise.resolve();
  #inFlight = 0;
  /** The first write failure; no write is started after it. */
  #error: ClientError | null = null;
  /** Bytes in the file, counting those queued by {@linkcode put}. */
  size: number;

  private constructor(file: Deno.FsFile, hash: Hash, path: string, size: number) {
    this.#file = file;
    this.#hash = hash;
    this.#path = path;
    this.size = size;
  }

  /** Starts a fresh part. An old part (or a symlink planted there) is removed first and the
   * new one created exclusively, so the write can never follow a link out of DIR. */
  static async create(paths: SavePaths): Promise<PartFile> {
    try {
      await Deno.remove(paths.part).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      const file = await Deno.open(paths.part, { write: true, createNew: true });
      return new PartFile(file, createHash("sha256"), paths.part, 0);
    } catch (e) {
      throw fileError(e, "create", paths.part);
    }
  }

  /**
   * Opens an existing part to append to it, hashing its `size` bytes once first (with
   * `scratch` as the read buffer) so the digest covers the whole file.
   */
  static async append(paths: SavePaths, size: number, scratch: Uint8Array): Promise<PartFile> {
    let file: Deno.FsFile | null = null;
    try {
      if ((await Deno.lstat(paths.part)).isSymlink) {
        throw new ClientError(EXIT.local, `${paths.part} is a symlink; remove it`);
      }
      file = await Deno.open(paths.part, { read: true, write: true });
      const hash = createHash("sha256");
      let have = 0;
      while (have < size) {
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
   * The next ring buffer to read body bytes into, once the write that last used it has
   * finished. Hot path: the ring is allocated once and reused.
   * @throws {ClientError} local (6): an earlier write failed.
   */
  async buffer(): Promise<Uint8Array> {
    if (this.#ring.length === 0) {
      for (let i = 0; i < RING_BUFFERS; i++) {
        this.#ring.push(new Uint8Array(BUFFER_BYTES));
        this.#writes.push(Promise.resolve());
      }
    }
    const k = this.#next;
    this.#next = (k + 1) % RING_BUFFERS;
    await this.#writes[k];
    if (this.#error !== null) throw this.#error;
    return this.#ring[k];
  }

  /**
   * Queues `data` — a view of a buffer from {@linkcode buffer}, which must then be left alone
   * until `buffer` hands it out again — to be written after every earlier write, and hashes it
   * on this thread while the write runs. Call it after starting the next socket read, so that
   * the read, the write and the hash overlap.
   */
  put(data: Uint8Array): void {
    const k = this.#ring.findIndex((b) => b.buffer === data.buffer);
    if (k === -1) throw new TypeError("PartFile.put takes a view of a buffer from buffer()");
    this.#inFlight++;
    // Start the write now when the queue is empty: a write chained with then() would only
    // start after the hash below, in a later microtask. The promises (a few per buffer of
    // BUFFER_BYTES) are the only allocation per chunk.
    const w = this.#inFlight === 1
      ? this.#writeQueued(data)
      : this.#tail.then(() => this.#writeQueued(data));
    this.#tail = this.#writes[k] = w;
    this.#hash.update(data);
    this.size += data.length;
  }

  /** Writes all of `data` (a loop: `write` may write less than asked); never rejects. */
  async #writeQueued(data: Uint8Array): Promise<void> {
    try {
      for (let off = 0; off < data.length && this.#error === null;) {
        off += await this.#file.write(off === 0 ? data : data.subarray(off));
      }
    } catch (e) {
      this.#error ??= fileError(e, "write", this.#path);
    } finally {
      this.#inFlight--;
    }
  }

  /**
   * Waits for every queued write.
   * @throws {ClientError} local (6): a write failed (disk full, ...).
   */
  async flush(): Promise<void> {
    await this.#tail;
    if (this.#error !== null) throw this.#error;
  }

  /** Waits for every queued write to end, successful or not (before {@linkcode close} on a
   * failure path: a write still running must not meet a closed file). Never rejects. */
  async settled(): Promise<void> {
    await this.#tail;
  }

  /**
   * Appends all of `data` at once (`writeSync` in a loop) and hashes it: for callers without
   * a ring, when no {@linkcode put} write is queued.
   */
  write(data: Uint8Array): void {
    if (this.#inFlight > 0) throw new Error("PartFile.write while put() writes are queued");
    if (this.#error !== null) throw this.#error;
    try {
      let off = 0;
      while (off < data.length) {
        off += this.#file.writeSync(off === 0 ? data : data.subarray(off));
      }
    } catch (e) {
      throw fileError(e, "write", this.#path);
    }
    this.#hash.update(data);
    this.size += data.length;
  }

  /** The sha-256 of everything in the file, as bytes (call once, at the end). */
  digest(): Uint8Array {
    return new Uint8Array(this.#hash.digest());
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
