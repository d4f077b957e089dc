/**
 * The version of a file as far as caches are concerned, and when a version cannot be trusted.
 *
 * @module
 */

/**
 * How recently a file may have changed for its version to be trusted. Timestamps are coarse
 * (Deno reports ctime in whole seconds here), so a same-size rewrite that puts the old mtime
 * back (`cp -p`, `rsync -t`) within the same second leaves the version unchanged. A version whose
 * change time is this close to now is therefore not cached — as Git treats "racily clean"
 * index entries.
 */
export const RACY_MS = 2_000;

/** `dev:ino:size:mtime:ctime`: any change of it means cached bytes or digests may be wrong. */
export function fileVersion(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
}

/** Whether `info` changed too recently (or has no timestamps) for its version to be cached. */
export function isRacy(info: Deno.FileInfo, racyMs = RACY_MS, now = Date.now()): boolean {
  if (racyMs <= 0) return false;
  if (info.mtime === null || info.ctime === null) return true;
  return now - Math.max(info.mtime.getTime(), info.ctime.getTime()) < racyMs;
}
