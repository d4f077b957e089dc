/**
 * Which entries a directory listing contains, and the metadata they carry — the data a listing
 * page or its JSON twin renders ({@linkcode gatherListing}), and a small cache with bounded
 * concurrency in front of it ({@linkcode ListingCache}).
 *
 * One policy with GET: a listing shows exactly the names a GET would serve, nothing else.
 * Hidden, not shown unlinked: a symlink leading outside the root (unless symlinks may be
 * followed) or to a dotfile (dotfiles off), a broken symlink, a FIFO, socket or device, a
 * dotfile (dotfiles off), and a name GET refuses with 400 (TAB, newline, backslash, other
 * controls: {@linkcode isRequestableName}). Why hidden rather than listed without metadata: GET
 * answers such names 404 "as if they did not exist", and listing only some of them would tell
 * which outside targets exist (a broken link and a link to `/etc/shadow` look the same now).
 * A symlink leading inside is listed with its target's type, size and mtime, as before.
 *
 * Race-proof: the directory is read through its verified descriptor, entries are looked up
 * relative to it, and each symlink is resolved by the verified open (lib/server/verified_open.ts),
 * so swapping a parent or an entry during the read cannot bring outside metadata in.
 *
 * @example
 * ```ts ignore
 * import { ListingCache } from "./listing_entries.ts";
 * const listings = new ListingCache(confinement);
 * const held = await confinement.open("/srv/www/docs");
 * try {
 *   const { entries, truncated } = await listings.get(held);
 * } finally {
 *   held.close();
 * }
 * ```
 * @module
 */

import { isRequestableName } from "../http/target.ts";
import { type ListingEntry, MAX_LISTING_ENTRIES } from "./listing.ts";
import type { Confinement, Held } from "./verified_open.ts";
import { fileVersion, isRacy, RACY_MS } from "./file_version.ts";

/**
 * Lookups in flight at once while reading one directory: few enough to leave most of the
 * runtime's blocking threads to the file reads of other requests.
 */
const STAT_CONCURRENCY = 8;
/**
 * Directories read at once, across all requests. Reading 10,000 entries holds blocking
 * threads for ~0.2 s; with no bound, 8 clients listing in a loop took every thread and raised
 * the latency of everyone else's uncached requests 0.5 → 28 ms. Others wait their turn.
 */
export const LISTING_CONCURRENCY = 2;
/**
 * How long gathered entries are reused while the directory's own version (device, inode,
 * mtime, ctime) is unchanged. An added, removed or renamed entry changes that version (and a
 * directory changed in the last `RACY_MS` is not reused at all), so the list of names is never
 * stale; sizes and mtimes of entries may lag by up to this long.
 */
export const LISTING_CACHE_MS = 2_000;
/** Entries kept in the cache across all directories (~100 bytes each). */
export const LISTING_CACHE_MAX_ENTRIES = 100_000;
/** Directories kept in the cache. */
export const LISTING_CACHE_MAX_DIRS = 256;
/**
 * Bytes of rendered pages kept (HTML or JSON of a listing, ~110 bytes an entry). Rendering
 * 10,000 entries costs ~100 ms of the serving thread (sorting with a collator, escaping): 8
 * clients listing such a directory in a loop held every other request up by that much, each
 * time, until the page was reused.
 */
export const LISTING_CACHE_MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Rendered variants (format, path, options) kept per directory. */
const MAX_VARIANTS_PER_DIR = 8;

/** What one listing shows. */
export interface ListingData {
  /** The entries, unsorted (the renderer orders them). */
  entries: ListingEntry[];
  /** Whether entries were left out past {@linkcode MAX_LISTING_ENTRIES}. */
  truncated: boolean;
}

/** The entry for `name` in the held directory, or null when GET would not serve it. */
async function entryFor(
  dir: Held,
  name: string,
  confine: Confinement,
): Promise<ListingEntry | null> {
  const path = `${dir.path}/${name}`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
    if (info.isSymlink) {
      // Where does it lead? The verified open says, on what it opened.
      const held = await confine.open(path);
      info = held.info;
      held.close();
    }
  } catch {
    return null; // removed since read, broken, outside, a dotfile's link, no permission
  }
  if (!info.isFile && !info.isDirectory) return null;
  return {
    name,
    isDirectory: info.isDirectory,
    size: info.isDirectory ? 0 : info.size,
    mtimeMs: info.mtime?.getTime() ?? null,
  };
}

/**
 * The entries of the held directory `dir` that a GET would serve (see the module doc), at
 * most {@linkcode MAX_LISTING_ENTRIES}, unsorted.
 */
export async function gatherListing(dir: Held, confine: Confinement): Promise<ListingData> {
  const { dotfiles } = confine.options;
  const out: ListingEntry[] = [];
  let truncated = false;
  let batch: string[] = [];
  const flush = async () => {
    const got = await Promise.all(batch.map((n) => entryFor(dir, n, confine)));
    batch = [];
    for (const e of got) {
      if (e === null) continue;
      if (out.length < MAX_LISTING_ENTRIES) out.push(e);
      else truncated = true;
    }
  };
  for await (const entry of Deno.readDir(dir.path)) {
    const name = entry.name;
    if (!dotfiles && name.charCodeAt(0) === 46 /* . */) continue;
    if (!isRequestableName(name)) continue;
    batch.push(name);
    if (batch.length === STAT_CONCURRENCY) {
      await flush();
      if (out.length >= MAX_LISTING_ENTRIES) {
        truncated = true;
        break;
      }
    }
  }
  await flush();
  return { entries: out, truncated };
}

interface Cached {
  version: string;
  data: ListingData;
  at: number;
  /** Rendered pages of this data, by variant. */
  bodies: Map<string, Uint8Array>;
}

/**
 * Gathered listings, reused while the directory is unchanged (at most
 * {@linkcode LISTING_CACHE_MS}), with requests for the same directory sharing one read and at
 * most {@linkcode LISTING_CONCURRENCY} reads at once. Keyed by the directory's verified real
 * path and version, so what one request verified is never served for another object.
 */
export class ListingCache {
  readonly #confine: Confinement;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, Cached>();
  #cachedEntries = 0;
  #bodyBytes = 0;
  readonly #inflight = new Map<string, Promise<ListingData>>();
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  readonly #racyMs: number;

  /**
   * A cache for the listings of one confinement. `ttlMs` 0 turns reuse off (requests still
   * share a read in flight); a directory changed less than `racyMs` ago is not reused, since
   * its timestamps (clock ticks of a few ms) may not show the next change — as Git treats
   * "racily clean" entries (lib/server/file_version.ts). 0 trusts every version (for tests).
   */
  constructor(confine: Confinement, options: { ttlMs?: number; racyMs?: number } = {}) {
    this.#confine = confine;
    this.#ttlMs = options.ttlMs ?? LISTING_CACHE_MS;
    this.#racyMs = options.racyMs ?? RACY_MS;
  }

  /** Directories read right now (for tests). */
  get active(): number {
    return this.#active;
  }

  /** The listing of the held directory. The data is shared: do not modify it. */
  get(dir: Held, now = Date.now()): Promise<ListingData> {
    const version = fileVersion(dir.info);
    const hit = this.#cache.get(dir.real);
    if (hit !== undefined) {
      if (hit.version === version && now - hit.at < this.#ttlMs) return Promise.resolve(hit.data);
      this.#drop(dir.real, hit);
    }
    const key = `${dir.real}\0${version}`;
    let p = this.#inflight.get(key);
    if (p === undefined) {
      p = this.#read(dir, version);
      this.#inflight.set(key, p);
      const done = () => this.#inflight.delete(key);
      p.then(done, done);
    }
    return p;
  }

  /**
   * The listing of the held directory rendered by `render`, reused with its data: `variant`
   * must name everything the page depends on besides the entries (format, URL path, query
   * options such as sorting). The bytes are shared: do not modify them.
   */
  async rendered(
    dir: Held,
    variant: string,
    render: (data: ListingData) => Uint8Array,
  ): Promise<Uint8Array> {
    const data = await this.get(dir);
    const c = this.#cache.get(dir.real);
    const cached = c !== undefined && c.data === data ? c : undefined;
    const hit = cached?.bodies.get(variant);
    if (hit !== undefined) return hit;
    const body = render(data);
    if (cached !== undefined && body.length <= LISTING_CACHE_MAX_BODY_BYTES / 4) {
      if (cached.bodies.size >= MAX_VARIANTS_PER_DIR) {
        const [k, b] = cached.bodies.entries().next().value as [string, Uint8Array];
        cached.bodies.delete(k);
        this.#bodyBytes -= b.length;
      }
      // Oldest directories first, until the new page fits.
      for (const [k, e] of this.#cache) {
        if (this.#bodyBytes + body.length <= LISTING_CACHE_MAX_BODY_BYTES || e === cached) break;
        this.#drop(k, e);
      }
      if (this.#bodyBytes + body.length <= LISTING_CACHE_MAX_BODY_BYTES) {
        cached.bodies.set(variant, body);
        this.#bodyBytes += body.length;
      }
    }
    return body;
  }

  async #read(dir: Held, version: string): Promise<ListingData> {
    // A finished read hands its slot straight to the next in line.
    if (this.#active >= LISTING_CONCURRENCY) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else this.#active++;
    const started = Date.now();
    try {
      const data = await gatherListing(dir, this.#confine);
      if (this.#ttlMs > 0 && !isRacy(dir.info, this.#racyMs)) {
        this.#store(dir.real, { version, data, at: started, bodies: new Map() });
      }
      return data;
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#active--;
    }
  }

  #store(real: string, c: Cached): void {
    const old = this.#cache.get(real);
    if (old !== undefined) this.#drop(real, old);
    if (c.data.entries.length > LISTING_CACHE_MAX_ENTRIES) return;
    for (const [k, e] of this.#cache) {
      if (
        this.#cache.size < LISTING_CACHE_MAX_DIRS &&
        this.#cachedEntries + c.data.entries.length <= LISTING_CACHE_MAX_ENTRIES
      ) break;
      this.#drop(k, e);
    }
    this.#cache.set(real, c);
    this.#cachedEntries += c.data.entries.length;
  }

  #drop(real: string, c: Cached): void {
    this.#cache.delete(real);
    this.#cachedEntries -= c.data.entries.length;
    for (const b of c.bodies.values()) this.#bodyBytes -= b.length;
    c.bodies.clear();
  }
}
