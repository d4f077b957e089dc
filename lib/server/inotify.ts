/**
 * Change notification for the small-file cache: Linux inotify, called through libc by FFI,
 * watching only for changes — never for reads.
 *
 * Why not `Deno.watchFs`: it also subscribes to access events (open, read, close without
 * write), so every read of any file under the served tree — by nginx, a backup, a build, `cat` —
 * woke Ferry up. Measured here: an idle Ferry burnt 1.41 s of CPU during 5 s of wrk against
 * nginx serving the same directory, and nginx fell from 86,571 to 53,147 req/s (the kernel
 * queues an event per read for every watcher). The mask below has no access bits.
 *
 * The queue is drained without blocking (`read` on an `IN_NONBLOCK` descriptor, ~0.3 µs when
 * empty, against ~1.6 µs for a `Deno.statSync`), so a caller can ask {@linkcode ChangeWatch.changed}
 * before cache hits (small_cache.ts: once per turn of the event loop): a change made before the
 * request arrived is always seen, since the kernel queues the event within the syscall that
 * made the change.
 *
 * Needs Linux and the `ffi` permission (`-A` or `--allow-ffi`); {@linkcode ChangeWatch.open}
 * returns null otherwise, and never prompts.
 *
 * @example
 * ```ts ignore
 * import { ChangeWatch } from "./inotify.ts";
 * const w = ChangeWatch.open();
 * if (w !== null && w.watchDir("/srv/files")) {
 *   // ... later, before trusting anything cached from /srv/files:
 *   if (w.changed()) console.log("something under a watched directory changed");
 * }
 * w?.close();
 * ```
 * @module
 */

// <sys/inotify.h>
const IN_MODIFY = 0x2;
const IN_ATTRIB = 0x4;
const IN_CLOSE_WRITE = 0x8;
const IN_MOVED_FROM = 0x40;
const IN_MOVED_TO = 0x80;
const IN_CREATE = 0x100;
const IN_DELETE = 0x200;
const IN_DELETE_SELF = 0x400;
const IN_MOVE_SELF = 0x800;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
/** Everything that changes what a path holds; no IN_ACCESS, IN_OPEN, IN_CLOSE_NOWRITE. */
const CHANGE_MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
  IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;
/**
 * Watches one instance adds at most (each costs the kernel ~1 KiB and counts against the user's
 * `max_user_watches`, shared with every other program of the user): a crawl over many
 * directories must not exhaust it. {@linkcode ChangeWatch.full} tells the owner to start over.
 */
export const MAX_WATCHES = 1024;
/** The buffer each drain reads events into (an event is 16 bytes plus a name). */
const DRAIN_BYTES = 4096;
const DRAIN_BYTES_USIZE = BigInt(DRAIN_BYTES);
/** Reads per drain at most (each takes up to a buffer of events): bounds one call. */
const MAX_DRAIN_READS = 64;

const SYMBOLS = {
  inotify_init1: { parameters: ["i32"], result: "i32" },
  inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

/** libc's symbols, or null where they cannot be had (not Linux, no ffi permission). */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return null;
  try {
    // querySync never prompts; dlopen without the permission would.
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
  } catch {
    return null;
  }
  for (const name of ["libc.so.6", `libc.musl-${Deno.build.arch}.so.1`]) {
    try {
      libc = Deno.dlopen(name, SYMBOLS).symbols;
      break;
    } catch { /* try the next name */ }
  }
  return libc;
}

const encoder = new TextEncoder();

/** One inotify instance watching directories for changes (not recursive: one watch per
 * directory). */
export class ChangeWatch {
  #c: Libc;
  #fd: number;
  #buf = new Uint8Array(DRAIN_BYTES);
  #dirs = new Set<string>();
  /** Watches added over the instance's life (a re-added directory counts again): the kernel
   * holds at most this many. */
  #added = 0;

  private constructor(c: Libc, fd: number) {
    this.#c = c;
    this.#fd = fd;
  }

  /** A new watch, or null when inotify is not available here. */
  static open(): ChangeWatch | null {
    const c = loadLibc();
    if (c === null) return null;
    const fd = c.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    return fd < 0 ? null : new ChangeWatch(c, fd);
  }

  /** Watches `dir` (idempotent). False when the watch could not be added (the per-user watch
   * limit, {@linkcode MAX_WATCHES}, a path that is gone, a closed watch). */
  watchDir(dir: string): boolean {
    if (this.#dirs.has(dir)) return true;
    if (this.#fd < 0 || this.full || dir.includes("\0")) return false;
    if (this.#c.inotify_add_watch(this.#fd, encoder.encode(`${dir}\0`), CHANGE_MASK) < 0) {
      return false;
    }
    this.#added++;
    this.#dirs.add(dir);
    return true;
  }

  /** Whether {@linkcode MAX_WATCHES} watches were added: close it and open a fresh one (which
   * drops them all) to watch more. */
  get full(): boolean {
    return this.#added >= MAX_WATCHES;
  }

  /**
   * Whether any change event arrived since the last call (the queue is emptied). After a
   * change the set of watched directories is forgotten, so that a directory replaced under the
   * same path is watched again when asked. A closed watch reports a change on every call.
   */
  changed(): boolean {
    if (this.#fd < 0) return true;
    let any = false;
    for (let i = 0; i < MAX_DRAIN_READS; i++) {
      if (Number(this.#c.read(this.#fd, this.#buf, DRAIN_BYTES_USIZE)) <= 0) break;
      any = true;
    }
    if (any) this.#dirs.clear();
    return any;
  }

  /** Closes the descriptor (idempotent). */
  close(): void {
    if (this.#fd < 0) return;
    this.#c.close(this.#fd);
    this.#fd = -1;
    this.#dirs.clear();
  }
}
