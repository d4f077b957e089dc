/**
 * Reverse lookups of peer addresses, cached per address, each bounded in time. Callers get a
 * promise that always resolves (to null on failure or timeout), so a slow resolver can delay a
 * log line but never a response.
 *
 * @example
 * ```ts ignore
 * import { ReverseDns } from "./reverse_dns.ts";
 * const dns = new ReverseDns();
 * console.log(await dns.lookup("127.0.0.1")); // "localhost" on most machines
 * ```
 * @module
 */

import { lookupService } from "node:dns";

/** Longest wait for one reverse lookup; a resolver that is slower gets "unknown". */
export const REVERSE_LOOKUP_TIMEOUT_MS = 1000;
/** Most addresses remembered; the oldest is forgotten first. Bounds memory under a flood of
 * distinct peers. */
export const REVERSE_CACHE_ENTRIES = 4096;
/** How long an answer (or a failure) is remembered. */
export const REVERSE_CACHE_TTL_MS = 5 * 60 * 1000;

/** A bounded, caching reverse resolver. */
export class ReverseDns {
  #cache = new Map<string, { at: number; name: Promise<string | null> }>();
  #timeoutMs: number;

  constructor(options: { timeoutMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? REVERSE_LOOKUP_TIMEOUT_MS;
  }

  /** The host name of `address`, or null when it has none or the lookup took too long. */
  lookup(address: string): Promise<string | null> {
    const now = Date.now();
    const hit = this.#cache.get(address);
    if (hit !== undefined && now - hit.at < REVERSE_CACHE_TTL_MS) return hit.name;
    if (this.#cache.size >= REVERSE_CACHE_ENTRIES) {
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
    const name = new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), this.#timeoutMs);
      try {
        lookupService(address, 0, (err, hostname) => {
          clearTimeout(timer);
          resolve(err || !hostname || hostname === address ? null : hostname);
        });
      } catch {
        clearTimeout(timer);
        resolve(null);
      }
    });
    this.#cache.set(address, { at: now, name });
    return name;
  }
}
