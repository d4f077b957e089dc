/**
 * The connection caps: open connections in total, and per client address, counted across every
 * `--workers` thread in one `SharedArrayBuffer` with `Atomics`, so that the caps are totals for
 * the process (with 4 workers a cap of 50 held 181 connections when each worker counted its own).
 *
 * Per address, the counts live in a count-min sketch: {@linkcode SKETCH_ROWS} rows of
 * {@linkcode SKETCH_COLUMNS} counters, each address adding 1 to one counter per row (chosen by a
 * different hash) and its count read as the smallest of them. Fixed memory whatever the number
 * of addresses, shareable between threads without a lock, and never an undercount: two
 * addresses that share a counter in every row are counted together (then one may be refused a
 * little early), never apart.
 *
 * IPv6 addresses are counted per /64 (one subscriber's network: whoever holds one address holds
 * the 2^64 around it); IPv4-mapped IPv6 addresses as the IPv4 address.
 *
 * @example
 * ```ts
 * import { ConnLimiter } from "./conn_limits.ts";
 * const caps = new ConnLimiter({ maxConnections: 2, maxPerAddress: 1 });
 * const a = caps.acquire("192.0.2.1");
 * console.log(a >= 0, caps.acquire("192.0.2.1")); // true -2 (per-address cap)
 * caps.release(a);
 * ```
 * @module
 */

/** Rows of the per-address sketch (independent hashes). */
export const SKETCH_ROWS = 3;
/** Counters per row: with 10,000 connections from 10,000 addresses a row is ~15 % occupied, so
 * an address is counted with a stranger in all three rows ~0.3 % of the time, and then only
 * with that stranger's few connections. */
export const SKETCH_COLUMNS = 1 << 14;
const MASK = SKETCH_COLUMNS - 1;
/** Int32 slots: the total, then the sketch. */
const SLOTS = 1 + SKETCH_ROWS * SKETCH_COLUMNS;

/** {@linkcode ConnLimiter.acquire}: refused by the total cap. */
export const OVER_TOTAL = -1;
/** {@linkcode ConnLimiter.acquire}: refused by the per-address cap. */
export const OVER_ADDRESS = -2;

/** Options of a {@linkcode ConnLimiter}. */
export interface ConnLimiterOptions {
  /** Open connections at most, in total. */
  maxConnections: number;
  /** Open connections per client address (IPv6: per /64) at most; 0 = no such cap. */
  maxPerAddress: number;
  /** The shared counters (from {@linkcode ConnLimiter.sharedMemory}); a private set if absent. */
  shared?: SharedArrayBuffer;
}

/** Caps on open connections, shareable across worker threads. */
export class ConnLimiter {
  readonly #counts: Int32Array;
  readonly #max: number;
  readonly #perAddress: number;

  constructor(o: ConnLimiterOptions) {
    this.#counts = new Int32Array(o.shared ?? ConnLimiter.sharedMemory());
    this.#max = o.maxConnections;
    this.#perAddress = o.maxPerAddress;
  }

  /** Memory for the counters, to hand to every worker. */
  static sharedMemory(): SharedArrayBuffer {
    return new SharedArrayBuffer(SLOTS * 4);
  }

  /** Open connections now, across every thread sharing the counters. */
  get open(): number {
    return Atomics.load(this.#counts, 0);
  }

  /**
   * Counts a new connection from `address` (its IP). Returns a token for
   * {@linkcode ConnLimiter.release} (≥ 0), or {@linkcode OVER_TOTAL} / {@linkcode OVER_ADDRESS}
   * when a cap is reached (then nothing was counted).
   */
  acquire(address: string): number {
    const c = this.#counts;
    if (Atomics.add(c, 0, 1) >= this.#max) {
      Atomics.sub(c, 0, 1);
      return OVER_TOTAL;
    }
    if (this.#perAddress <= 0) return 0;
    const key = addressKey(address);
    let token = 0;
    let least = Infinity;
    for (let row = 0; row < SKETCH_ROWS; row++) {
      const col = hash(key, row) & MASK;
      token = token * SKETCH_COLUMNS + col;
      const n = Atomics.add(c, 1 + row * SKETCH_COLUMNS + col, 1) + 1;
      if (n < least) least = n;
    }
    if (least > this.#perAddress) {
      this.#releaseSketch(token);
      Atomics.sub(c, 0, 1);
      return OVER_ADDRESS;
    }
    // +1: token 0 means "no per-address count" (cap off).
    return token + 1;
  }

  /** Uncounts a connection counted by {@linkcode ConnLimiter.acquire}. */
  release(token: number): void {
    if (token < 0) return;
    Atomics.sub(this.#counts, 0, 1);
    if (token > 0) this.#releaseSketch(token - 1);
  }

  #releaseSketch(token: number): void {
    for (let row = SKETCH_ROWS - 1; row >= 0; row--) {
      const col = token % SKETCH_COLUMNS;
      token = Math.floor(token / SKETCH_COLUMNS);
      Atomics.sub(this.#counts, 1 + row * SKETCH_COLUMNS + col, 1);
    }
  }
}

/** What the per-address cap counts by: the IPv4 address, or the /64 of an IPv6 address. */
export function addressKey(address: string): string {
  if (!address.includes(":")) return address;
  const lower = address.toLowerCase();
  const mapped = /^(?:0*:)*:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped !== null) return mapped[1];
  const zone = lower.indexOf("%");
  const bare = zone === -1 ? lower : lower.slice(0, zone);
  const [head, tail] = bare.split("::");
  const groups = head === "" ? [] : head.split(":");
  if (tail !== undefined && groups.length < 4) {
    const rest = tail === "" ? [] : tail.split(":");
    const missing = 8 - groups.length - rest.length;
    for (let i = 0; i < missing && groups.length < 4; i++) groups.push("0");
    for (const g of rest) if (groups.length < 4) groups.push(g);
  }
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":") + "::/64";
}

/** FNV-1a over the key with a per-row seed. */
function hash(key: string, row: number): number {
  let h = (0x811c9dc5 ^ Math.imul(row + 1, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}
