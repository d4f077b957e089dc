/**
 * A refused connection, as curl and wget treat it: a port nobody listens on fails at once, not
 * after `--retry` backoffs — unless the user asks (`--retry-connrefused`), or the same run has
 * already received bytes from that origin (the server restarted or failed over mid-download,
 * and will be back). This module remembers the origins heard from in this process.
 *
 * @example
 * ```ts
 * import { noteHeard, originKey, refusedTransient } from "./refused.ts";
 * const key = originKey({ secure: false, host: "127.0.0.1", port: 8080 });
 * console.log(refusedTransient(key)); // "refused": not retried without --retry-connrefused
 * noteHeard(key);
 * console.log(refusedTransient(key)); // "connect": retried like any failed connect
 * ```
 * @module
 */

import type { Transient } from "./errors.ts";

/** Origins that sent at least one byte in this run. Bounded by the origins a run talks to. */
const heard = new Set<string>();

/** `http://host:port` or `https://host:port`: what "the same server" means here. */
export function originKey(to: { secure?: boolean; host: string; port: number }): string {
  return `${to.secure ? "https" : "http"}://${to.host}:${to.port}`;
}

/** Records that `key` sent bytes (call on the first byte read from a connection). */
export function noteHeard(key: string): void {
  heard.add(key);
}

/** The transient kind of a refused connect to `key`: "connect" (retried under --retry) once
 * the origin was heard from in this run, else "refused" (retried only with
 * --retry-connrefused). */
export function refusedTransient(key: string): Transient {
  return heard.has(key) ? "connect" : "refused";
}
