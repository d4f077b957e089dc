/**
 * A bounded cache of small files as whole prebuilt responses (head + body in one buffer), for
 * plain GET/HEAD requests of the same target. A hit costs one write: no open, no read, no path
 * resolution, no header building.
 *
 * Never stale: with {@linkcode SmallFileCache.watch}, the directories from the root down to each
 * cached file are watched for changes (inotify through libc, lib/server/inotify.ts: changes
 * only — `Deno.watchFs` also woke Ferry for every read of any file under the tree), and the
 * event queue is drained (~0.3 µs) before the first hit of each turn of the event loop (see
 * lookup for why that is as strict as before every hit): any change under a watched directory
 * empties the cache. In addition every entry is re-checked by `stat` at most
 * {@linkcode REVALIDATE_MS} after its last check (device, inode, size, mtime, ctime), which
 * covers what a watch cannot see (a change through a hard link in another directory). Without
 * a watch (not Linux, no `ffi` permission, the watch limit reached) every hit is checked by
 * `stat`. A file changed in the last `RACY_MS` (file_version.ts) is not cached at all, since
 * its timestamps may not show the next change. Entries are only made by the full path, which
 * resolves the target under every policy check.
 *
 * Measured here (4 KiB, wrk -c50 keep-alive): a `stat` on every hit took 30 % of the main
 * thread (`statx` in `--prof`), and dropping it raised the rate from ~55k to ~70k req/s.
 *
 * @module
 */

import { dirname, relative, sep } from "node:path";
import { fileVersion, isRacy } from "./file_version.ts";
import { ChangeWatch } from "./inotify.ts";

/** Largest file kept; larger ones stream. 64 KiB keeps a whole response to one write. */
export const SMALL_FILE_MAX_BYTES = 64 * 1024;
/** Memory the cache may hold in all (bodies and heads). */
export const SMALL_CACHE_MAX_BYTES = 64 * 1024 * 1024;
/** Longest time an entry is served without a `stat` of its file (while the watch runs). */
export const REVALIDATE_MS = 1_000;
/** Most entries, whatever their size: bounds the Map under a crawl of many tiny files. */
export const SMALL_CACHE_MAX_ENTRIES = 8192;

interface Entry {
  /** The file on disk (the resolved path, for the stat on every hit). */
  path: string;
  version: string;
  /** Status line; then the fields that follow Date; then the body. */
  statusLine: string;
  rest: string;
  body: Uint8Array;
  /** The responses as built for `second` (keep-alive, and with `Connection: close`). */
  second: number;
  keep?: Uint8Array;
  close?: Uint8Array;
  keepHead: number;
  closeHead: number;
  cost: number;
  /** When the file was last checked by stat (ms). */
  checkedAt: number;
}

const encoder = new TextEncoder();

/** A prebuilt response: `bytes`, of which the first `headLength` are the head. */
export interface CachedResponse {
  bytes: Uint8Array;
  headLength: number;
  status: number;
  bodyLength: number;
}

/** The cache. */
export class SmallFileCache {
  #entries = new Map<string, Entry>();
  #bytes = 0;
  /** The change watch, when running: hits then skip the stat for REVALIDATE_MS. */
  #watch: ChangeWatch | null = null;
  #root = "";
  /** Whether the change queue was drained in this turn of the event loop (see lookup). */
  #drained = false;
  #endTurn = () => {
    this.#drained = false;
  };

  /**
   * Watches for changes under `root` from now on (see the module doc), if inotify is available
   * here; otherwise every hit is checked by stat. Returns whether the watch runs.
   */
  watch(root: string): boolean {
    this.close();
    const w = ChangeWatch.open();
    if (w === null || !w.watchDir(root)) {
      w?.close();
      return false;
    }
    this.#watch = w;
    this.#root = root;
    this.clear();
    return true;
  }

  /** Stops the watch. */
  close(): void {
    this.#watch?.close();
    this.#watch = null;
  }

  /** Forgets every entry. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The response for `target` if cached and the file is unchanged, else undefined.
   * `dateSecond` and `date` are the current second and its Date field value, `now` the time
   * (ms) they were taken from.
   */
  lookup(
    target: string,
    keepAlive: boolean,
    dateSecond: number,
    date: string,
    now: number = Date.now(),
  ): CachedResponse | undefined {
    const e = this.#entries.get(target);
    if (e === undefined) return undefined;
    // The change queue is drained once per turn of the event loop, at its first hit: every
    // request answered in this turn had been read off its socket before the turn began (its
    // read completed, then the turn ran the continuations), so a change made before any of them
    // arrived is already queued then. The reset is a microtask queued behind the continuations
    // of the reads that completed with this turn's; a later one drains again.
    if (this.#watch !== null && !this.#drained) {
      this.#drained = true;
      queueMicrotask(this.#endTurn);
      if (this.#watch.changed()) {
        this.clear();
        return undefined;
      }
    }
    if (this.#watch === null || now - e.checkedAt >= REVALIDATE_MS) {
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(e.path);
      } catch {
        this.#drop(target, e);
        return undefined;
      }
      if (fileVersion(info) !== e.version) {
        this.#drop(target, e);
        return undefined;
      }
      e.checkedAt = now;
    }
    if (e.second !== dateSecond) {
      e.second = dateSecond;
      e.keep = e.close = undefined;
    }
    let bytes = keepAlive ? e.keep : e.close;
    if (bytes === undefined) {
      const head = encoder.encode(
        `${e.statusLine}Date: ${date}\r\n${e.rest}${keepAlive ? "" : "Connection: close\r\n"}\r\n`,
      );
      bytes = new Uint8Array(head.length + e.body.length);
      bytes.set(head);
      bytes.set(e.body, head.length);
      if (keepAlive) {
        e.keep = bytes;
        e.keepHead = head.length;
      } else {
        e.close = bytes;
        e.closeHead = head.length;
      }
    }
    return {
      bytes,
      headLength: keepAlive ? e.keepHead : e.closeHead,
      status: 200,
      bodyLength: e.body.length,
    };
  }

  /**
   * Remembers a 200 response for `target`: `fields` (without Date, Server and Connection, which
   * are added here and by `lookup`) and the whole `body` read from `path` at version `info`.
   */
  store(
    target: string,
    path: string,
    info: Deno.FileInfo,
    serverField: string,
    fields: ReadonlyArray<readonly [string, string]>,
    body: Uint8Array,
  ): void {
    if (body.length > SMALL_FILE_MAX_BYTES || isRacy(info)) return;
    // Watched first, then checked: a change after the check is then seen by the watch.
    if (this.#watch !== null && !this.#watchPath(path)) return;
    // The path must still hold the version that was read (a change during the read, or a
    // rename over the path, would otherwise be cached until the next check).
    try {
      if (fileVersion(Deno.statSync(path)) !== fileVersion(info)) return;
    } catch {
      return;
    }
    let rest = `Server: ${serverField}\r\n`;
    for (const [k, v] of fields) rest += `${k}: ${v}\r\n`;
    const cost = body.length * 3 + rest.length * 2 + target.length * 2 + 256;
    const old = this.#entries.get(target);
    if (old !== undefined) this.#drop(target, old);
    while (
      this.#entries.size > 0 &&
      (this.#bytes + cost > SMALL_CACHE_MAX_BYTES ||
        this.#entries.size >= SMALL_CACHE_MAX_ENTRIES)
    ) {
      const [k, e] = this.#entries.entries().next().value as [string, Entry];
      this.#drop(k, e);
    }
    if (cost > SMALL_CACHE_MAX_BYTES) return;
    this.#entries.set(target, {
      path,
      version: fileVersion(info),
      statusLine: "HTTP/1.1 200 OK\r\n",
      rest,
      body,
      second: -1,
      keepHead: 0,
      closeHead: 0,
      cost,
      checkedAt: Date.now(),
    });
    this.#bytes += cost;
  }

  /**
   * Watches every directory from the root down to `path`'s: a rename or replacement of any of
   * them changes what the target resolves to. False (do not cache) when one cannot be watched.
   * Events that arrived before the watches were added are drained first, so that they do not
   * empty the cache of the entry about to be made.
   */
  #watchPath(path: string): boolean {
    const w = this.#watch!;
    if (w.changed()) this.clear();
    const dirs: string[] = [];
    let dir = dirname(path);
    const rel = relative(this.#root, dir);
    if (rel.startsWith("..") || rel.startsWith(sep)) return false; // not under the root
    for (let depth = 0; depth < 256 && dir !== this.#root; depth++) {
      dirs.push(dir);
      const up = dirname(dir);
      if (up === dir) return false;
      dir = up;
    }
    if (dir !== this.#root) return false; // deeper than any real tree: do not cache
    dirs.push(this.#root);
    if (w.full) {
      // Start over with a fresh instance rather than hold watches without bound (a crawl
      // over many directories): the kernel drops the old watches, the cache is emptied.
      this.watch(this.#root);
      if (this.#watch === null) return false;
    }
    for (const d of dirs) if (!this.#watch!.watchDir(d)) return false;
    return true;
  }

  #drop(target: string, e: Entry): void {
    this.#entries.delete(target);
    this.#bytes -= e.cost;
  }
}
