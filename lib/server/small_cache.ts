/**
 * A bounded cache of small files as whole prebuilt responses (head + body in one buffer), for
 * plain GET/HEAD requests of the same target. A hit costs one `stat` of the file and one write:
 * no open, no read, no path resolution, no header building.
 *
 * Never stale: every hit first stats the file (synchronously: a few microseconds for an inode
 * the kernel has cached) and compares the version (device, inode, size, mtime, ctime; a file changed in the last {@linkcode RACY_MS}
 * is not cached, since its timestamps may not show the next change); any
 * difference drops the entry and the request takes the full path, which resolves the target
 * again under every policy check. Entries are only made by that full path.
 *
 * @module
 */

import { fileVersion, isRacy } from "./file_version.ts";

/** Largest file kept; larger ones stream. 64 KiB keeps a whole response to one write. */
export const SMALL_FILE_MAX_BYTES = 64 * 1024;
/** Memory the cache may hold in all (bodies and heads). */
export const SMALL_CACHE_MAX_BYTES = 64 * 1024 * 1024;
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

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The response for `target` if cached and the file is unchanged, else undefined.
   * `dateSecond` and `date` are the current second and its Date field value.
   */
  lookup(
    target: string,
    keepAlive: boolean,
    dateSecond: number,
    date: string,
  ): CachedResponse | undefined {
    const e = this.#entries.get(target);
    if (e === undefined) return undefined;
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
    });
    this.#bytes += cost;
  }

  #drop(target: string, e: Entry): void {
    this.#entries.delete(target);
    this.#bytes -= e.cost;
  }
}
