/**
 * IP addresses and CIDR blocks, IPv4 and IPv6: strict parsing (what a PROXY header, an
 * `X-Forwarded-For` element or `--trusted-proxy` may hold), canonical formatting (RFC 5952 for
 * IPv6) and membership. Pure: no I/O, no name lookups.
 *
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an
 * IPv4 peer) is the IPv4 address for matching, so `--trusted-proxy 192.0.2.0/24` covers it.
 *
 * @example
 * ```ts
 * import { CidrSet } from "./cidr.ts";
 * const trusted = CidrSet.parse(["127.0.0.0/8", "fd00::/8"]);
 * console.log(trusted.has("127.0.0.2"), trusted.has("::ffff:127.0.0.1"), trusted.has("::1"));
 * // true true false
 * ```
 * @module
 */

/** A parsed address: 4 bytes (IPv4) or 16 (IPv6), network order. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** A decimal octet without leading zeros (they would read as octal elsewhere), 0–255. */
const OCTET = /^(?:0|[1-9]\d{0,2})$/;

function parseIpv4Into(text: string, out: Uint8Array, at: number): boolean {
  const parts = text.split(".");
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    if (!OCTET.test(parts[i])) return false;
    const n = Number(parts[i]);
    if (n > 255) return false;
    out[at + i] = n;
  }
  return true;
}

/** Parses `a.b.c.d` (no leading zeros) or an IPv6 address in any RFC 4291 §2.2 text form
 * (no zone id, no brackets). Null when it is not exactly one address. */
export function parseIp(text: string): IpAddress | null {
  if (text.length === 0 || text.length > 45) return null;
  if (!text.includes(":")) {
    const bytes = new Uint8Array(4);
    return parseIpv4Into(text, bytes, 0) ? { family: 4, bytes } : null;
  }
  const bytes = new Uint8Array(16);
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  // An embedded IPv4 address may end the last part: it stands for two groups.
  const all = halves.length === 2 ? tail : head;
  let v4 = false;
  if (all.length > 0 && all[all.length - 1].includes(".")) {
    if (!parseIpv4Into(all[all.length - 1], bytes, 12)) return null;
    all.pop();
    v4 = true;
  }
  const words = head.length + tail.length + (v4 ? 2 : 0);
  if (halves.length === 2 ? words > 7 : words !== 8) return null;
  const put = (list: string[], from: number): boolean => {
    for (let i = 0; i < list.length; i++) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(list[i])) return false;
      const n = parseInt(list[i], 16);
      bytes[(from + i) * 2] = n >> 8;
      bytes[(from + i) * 2 + 1] = n & 0xff;
    }
    return true;
  };
  if (!put(head, 0)) return null;
  if (halves.length === 2 && !put(tail, 8 - tail.length - (v4 ? 2 : 0))) return null;
  return { family: 6, bytes };
}

/** The address an IPv4-mapped IPv6 address stands for; others unchanged. */
export function unmapIp(a: IpAddress): IpAddress {
  if (a.family !== 6) return a;
  const b = a.bytes;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return a;
  if (b[10] !== 0xff || b[11] !== 0xff) return a;
  return { family: 4, bytes: b.slice(12) };
}

/** Canonical text: dotted decimal, or RFC 5952 IPv6 (lower case, longest run of two or more
 * zero groups as `::`, the first such run on a tie). */
export function formatIp(a: IpAddress): string {
  const b = a.bytes;
  if (a.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((b[i] << 8) | b[i + 1]);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestAt < 0) return hex(w);
  return `${hex(w.slice(0, bestAt))}::${hex(w.slice(bestAt + bestLen))}`;
}

/** One CIDR block. */
export interface Cidr {
  family: 4 | 6;
  /** The network address, host bits zero. */
  bytes: Uint8Array;
  prefix: number;
}

/** Parses `ADDR/PREFIX` or a bare address (a /32 or /128). Null when malformed or when host
 * bits are set (`10.0.0.1/8` is most likely a typo for a single address or a network). */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (ip === null) return null;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p) || Number(p) > max) return null;
    prefix = Number(p);
  }
  for (let bit = prefix; bit < max; bit++) {
    if (ip.bytes[bit >> 3] & (0x80 >> (bit & 7))) return null;
  }
  return { family: ip.family, bytes: ip.bytes, prefix };
}

/** Whether `a` lies in `c` (same family; no mapping here: see {@linkcode CidrSet.has}). */
export function inCidr(c: Cidr, a: IpAddress): boolean {
  if (c.family !== a.family) return false;
  const full = c.prefix >> 3;
  for (let i = 0; i < full; i++) if (c.bytes[i] !== a.bytes[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a.bytes[full] & mask) === c.bytes[full];
}

/** A set of CIDR blocks: `--trusted-proxy`, repeated. */
export class CidrSet {
  readonly blocks: readonly Cidr[];

  constructor(blocks: readonly Cidr[]) {
    this.blocks = blocks;
  }

  /** Parses every entry; throws a `RangeError` naming the first bad one. */
  static parse(texts: readonly string[]): CidrSet {
    const blocks: Cidr[] = [];
    for (const t of texts) {
      const c = parseCidr(t.trim());
      if (c === null) {
        throw new RangeError(
          `"${t}" is not an address or CIDR block (e.g. 10.0.0.0/8, 127.0.0.1, fd00::/8; ` +
            `host bits must be zero)`,
        );
      }
      blocks.push(c);
    }
    return new CidrSet(blocks);
  }

  /** Whether the address `text` (IPv4-mapped IPv6 counts as IPv4) lies in any block; false
   * for anything that is not an address. */
  has(text: string): boolean {
    if (this.blocks.length === 0) return false;
    const ip = parseIp(text);
    return ip !== null && this.hasIp(ip);
  }

  /** {@linkcode has} for a parsed address. */
  hasIp(ip: IpAddress): boolean {
    const a = unmapIp(ip);
    for (const c of this.blocks) if (inCidr(c, a)) return true;
    return false;
  }
}
