/**
 * A bounded cache of SHA-256 digests of whole files, for `Repr-Digest` (RFC 9530), filled in
 * the background so that no response ever waits for a hash.
 *
 * An entry is keyed by the path AND the file version stat reports (device, inode, size,
 * modification time, status-change time): {@linkcode DigestCache.get} answers only when the
 * version given matches the one that was hashed, so a digest is never stale. A hash is kept
 * only if the file's version before and after reading is the version asked for and exactly
 * `size` bytes were read; a file rewritten while it was being hashed is discarded.
 *
 * @example
 * ```ts
 * import { DigestCache } from "./digest_cache.ts";
 * const cache = new DigestCache();
 * const info = await Deno.stat("deno.json");
 * cache.get("deno.json", info); // undefined: not hashed yet
 * cache.request("deno.json", info); // hashed in the background
 * await cache.settled();
 * console.log(cache.get("deno.json", info)?.length); // 32
 * await cache.close();
 * ```
 * @module
 */

import { createHash } from "node:crypto";
import { fileVersion, isRacy, RACY_MS } from "./file_version.ts";
import { openRegular } from "./verified_open.ts";

/**
 * Bytes read and hashed per step. Hashing runs on the serving thread (sha-256 at ~1.4 GB/s
 * here), so each step holds every connection up for its duration: 256 KiB keeps that under
 * ~0.2 ms, while the read syscalls stay few.
 */
export const DIGEST_CHUNK_BYTES = 256 * 1024;

/**
 * Rough memory one entry costs beyond its path and key text: the Map slot, the entry object,
 * the Uint8Array and its 32-byte buffer with their headers. An estimate, erring high.
 */
const ENTRY_OVERHEAD_BYTES = 192;

/** Options for {@linkcode DigestCache}; every field has a default that suits a file server. */
export interface DigestCacheOptions {
  /**
   * Most digests kept; the least recently used goes first. 4096 × ~0.5 KiB is ~2 MiB.
   * @default {4096}
   */
  maxEntries?: number;
  /**
   * Estimated memory the entries may use (paths count twice: UTF-16). Whichever of this and
   * `maxEntries` is reached first evicts.
   * @default {4 * 1024 * 1024}
   */
  maxMemoryBytes?: number;
  /**
   * Largest file hashed; larger ones never get a digest, since hashing 4 GiB takes seconds of
   * disk and CPU and the client can hash while it downloads. 0 turns hashing off entirely.
   * @default {4 * 1024 * 1024 * 1024}
   */
  maxFileBytes?: number;
  /**
   * Hashes computed at the same time. One keeps the disk and a core free for serving (we run
   * on two cores); each running hash holds one {@linkcode DIGEST_CHUNK_BYTES} buffer.
   * @default {1}
   */
  concurrency?: number;
  /**
   * Most requests waiting for a free slot; further requests are dropped (a later request for
   * the same file will ask again). Bounds the queue when a crawler touches every file.
   * @default {256}
   */
  maxPending?: number;
  /**
   * A file that changed less than this long ago is not hashed: its timestamps may not show
   * the next change (see {@linkcode RACY_MS}). 0 trusts every version (for tests).
   * @default {RACY_MS}
   */
  racyMs?: number;
}

/** What was hashed for one path. */
interface Entry {
  version: string;
  digest: Uint8Array;
  cost: number;
}

/** A queued hash. */
interface Job {
  path: string;
  version: string;
  size: number;
}

/** The file's version, or undefined when the platform gives no mtime (nothing is cached). */
function versionOf(info: Deno.FileInfo): string | undefined {
  return info.mtime === null ? undefined : fileVersion(info);
}

/**
 * Bounded, never-stale cache of whole-file SHA-256 digests, computed off the hot path.
 * Call {@linkcode DigestCache.close} when done (it stops and awaits background work).
 */
export class DigestCache {
  readonly #maxEntries: number;
  readonly #maxMemoryBytes: number;
  readonly #maxFileBytes: number;
  readonly #concurrency: number;
  readonly #maxPending: number;
  readonly #racyMs: number;
  /** path → entry, in least-recently-used-first order (Map keeps insertion order). */
  readonly #entries = new Map<string, Entry>();
  #memory = 0;
  readonly #queue: Job[] = [];
  /** `path\0version` of every queued or running job, so a file is hashed once. */
  readonly #scheduled = new Set<string>();
  #active = 0;
  /** Chunk buffers of finished jobs, reused by the next (one per slot at most). */
  readonly #buffers: Uint8Array[] = [];
  readonly #idleWaiters: Array<() => void> = [];
  #closed = false;

  /** Creates an empty cache; see {@linkcode DigestCacheOptions} for the defaults. */
  constructor(options: DigestCacheOptions = {}) {
    this.#maxEntries = Math.max(0, options.maxEntries ?? 4096);
    this.#maxMemoryBytes = Math.max(0, options.maxMemoryBytes ?? 4 * 1024 * 1024);
    this.#maxFileBytes = Math.max(0, options.maxFileBytes ?? 4 * 1024 * 1024 * 1024);
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    this.#maxPending = Math.max(0, options.maxPending ?? 256);
    this.#racyMs = options.racyMs ?? RACY_MS;
  }

  /** Number of digests held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The SHA-256 of the file at `path` if it was hashed at exactly the version `info`
   * describes; otherwise undefined (and a stale entry is dropped). Synchronous and cheap: meant
   * for every response. The bytes are shared: do not modify them.
   */
  get(path: string, info: Deno.FileInfo): Uint8Array | undefined {
    const entry = this.#entries.get(path);
    if (entry === undefined) return undefined;
    if (entry.version !== versionOf(info)) {
      this.#remove(path, entry);
      return undefined;
    }
    // Refresh its place in the LRU order.
    this.#entries.delete(path);
    this.#entries.set(path, entry);
    return entry.digest;
  }

  /**
   * Asks for the file at `path`, at the version `info` describes, to be hashed in the
   * background. Returns at once; never throws. Ignored after close, for non-files, for files
   * above `maxFileBytes`, when already cached or scheduled, and when the queue is full.
   */
  request(path: string, info: Deno.FileInfo): void {
    if (
      this.#closed || !info.isFile || info.size > this.#maxFileBytes || isRacy(info, this.#racyMs)
    ) return;
    if (this.#maxFileBytes === 0 || this.#maxEntries === 0) return;
    const version = versionOf(info);
    if (version === undefined) return;
    if (this.#entries.get(path)?.version === version) return;
    const key = `${path}\0${version}`;
    if (this.#scheduled.has(key) || this.#queue.length >= this.#maxPending) return;
    this.#scheduled.add(key);
    this.#queue.push({ path, version, size: info.size });
    this.#pump();
  }

  /**
   * Records a digest computed elsewhere from the whole content of the file at version `info`
   * (the file server hashes small files it has read whole anyway).
   */
  put(path: string, info: Deno.FileInfo, digest: Uint8Array): void {
    const version = versionOf(info);
    if (
      this.#closed || version === undefined || this.#maxEntries === 0 || isRacy(info, this.#racyMs)
    ) return;
    this.#store(path, version, digest);
  }

  /** Resolves once no hash is queued or running (for tests and orderly shutdown). */
  settled(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Drops queued work, stops running hashes at their next chunk, closes their files, and
   * resolves when they are gone. Entries already computed stay readable. Idempotent.
   */
  close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue) this.#scheduled.delete(`${job.path}\0${job.version}`);
    this.#queue.length = 0;
    return this.settled();
  }

  #pump(): void {
    while (this.#active < this.#concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#active++;
      this.#run(job).finally(() => {
        this.#active--;
        this.#scheduled.delete(`${job.path}\0${job.version}`);
        this.#pump();
        if (this.#active === 0 && this.#queue.length === 0) {
          for (const resolve of this.#idleWaiters.splice(0)) resolve();
        }
      });
    }
  }

  async #run(job: Job): Promise<void> {
    const digest = await this.#hash(job);
    if (digest !== undefined && !this.#closed) this.#store(job.path, job.version, digest);
  }

  /** Hashes one file; undefined when it is not (or no longer) the version asked for. */
  async #hash(job: Job): Promise<Uint8Array | undefined> {
    let file: Deno.FsFile | undefined;
    // Reused across jobs: reading allocates nothing per chunk.
    const buf = this.#buffers.pop() ?? new Uint8Array(DIGEST_CHUNK_BYTES);
    try {
      // Never a FIFO or device swapped in since the request (which would block a thread); the
      // version compared next proves it is the very inode the server verified.
      file = await openRegular(job.path);
      if (versionOf(await file.stat()) !== job.version) return undefined;
      const hash = createHash("sha256");
      let total = 0;
      for (;;) {
        if (this.#closed) return undefined;
        const n = await file.read(buf);
        if (n === null) break;
        // update() consumes the bytes synchronously, so the buffer can be refilled next turn.
        hash.update(buf.subarray(0, n));
        total += n;
        if (total > job.size) return undefined; // grew while we read
      }
      if (total !== job.size) return undefined;
      // Same version through the open file and still through the path: nothing changed under
      // us, and the path was not replaced by rename while we read.
      if (versionOf(await file.stat()) !== job.version) return undefined;
      if (versionOf(await Deno.stat(job.path)) !== job.version) return undefined;
      return new Uint8Array(hash.digest());
    } catch {
      // Vanished, unreadable, not a file: no digest, and nothing for a user to act on.
      return undefined;
    } finally {
      file?.close();
      this.#buffers.push(buf);
    }
  }

  #store(path: string, version: string, digest: Uint8Array): void {
    const old = this.#entries.get(path);
    if (old !== undefined) this.#remove(path, old);
    const cost = ENTRY_OVERHEAD_BYTES + 2 * (path.length + version.length) + digest.length;
    if (cost > this.#maxMemoryBytes) return;
    this.#entries.set(path, { version, digest, cost });
    this.#memory += cost;
    // Evict least recently used until both bounds hold.
    for (const [p, e] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#memory <= this.#maxMemoryBytes) break;
      this.#remove(p, e);
    }
  }

  #remove(path: string, entry: Entry): void {
    this.#entries.delete(path);
    this.#memory -= entry.cost;
  }
}
