/**
 * The few pieces of the DNS wire format (RFC 1035) a reverse lookup needs: the PTR name of an
 * address (RFC 1035 §3.5, RFC 3596 §2.5), a query for it, and the answer read back from a
 * response. Pure: bytes in, values out, no sockets (reverse_dns.ts sends and receives).
 *
 * @example
 * ```ts
 * import { decodePtrResponse, encodePtrQuery, ptrName } from "./dns_wire.ts";
 * const name = ptrName("192.0.2.1"); // "1.2.0.192.in-addr.arpa"
 * const query = encodePtrQuery(0x1234, name);
 * console.log(query.length, decodePtrResponse(query, 0x1234, name)); // 40 undefined (not a response)
 * ```
 * @module
 */

/** RFC 1035 §3.2.2: TYPE PTR. */
const TYPE_PTR = 12;
/** RFC 1035 §3.2.4: CLASS IN. */
const CLASS_IN = 1;
/** RFC 1035 §2.3.4: labels of at most 63 bytes, names of at most 255. */
const MAX_LABEL = 63;
const MAX_NAME = 255;
/** Compression pointers followed per name before it is taken for a loop. */
const MAX_POINTERS = 32;
/** Header flags: QR (response), TC (truncated), RD (recursion desired), RCODE. */
const QR = 0x8000;
const TC = 0x0200;
const RD = 0x0100;
const RCODE_MASK = 0x000f;
const RCODE_NXDOMAIN = 3;

/**
 * The name whose PTR record names `address`: `d.c.b.a.in-addr.arpa` for IPv4, the 32 nibbles
 * reversed under `ip6.arpa` for IPv6 (an IPv4-mapped IPv6 address as its IPv4 address). Null
 * for anything that is not an IP address.
 */
export function ptrName(address: string): string | null {
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(address);
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return null;
    return `${parts.reverse().join(".")}.in-addr.arpa`;
  }
  const bytes = ipv6Bytes(address);
  if (bytes === null) return null;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    nibbles.push((bytes[i] & 0xf).toString(16), (bytes[i] >> 4).toString(16));
  }
  return `${nibbles.join(".")}.ip6.arpa`;
}

/** The 16 bytes of an IPv6 address in text form (zone id ignored), or null. */
function ipv6Bytes(address: string): Uint8Array | null {
  const bare = address.replace(/%.*$/, "");
  if (!/^[0-9a-fA-F:.]+$/.test(bare) || !bare.includes(":")) return null;
  const halves = bare.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** A standard query (RD set) for the PTR record of `name`, with message id `id`. */
export function encodePtrQuery(id: number, name: string): Uint8Array {
  const labels = name.split(".").filter((l) => l !== "");
  const qname = labels.reduce((n, l) => n + 1 + l.length, 1);
  const out = new Uint8Array(12 + qname + 4);
  const view = new DataView(out.buffer);
  view.setUint16(0, id);
  view.setUint16(2, RD);
  view.setUint16(4, 1); // QDCOUNT
  let at = 12;
  for (const l of labels) {
    out[at++] = l.length;
    for (let i = 0; i < l.length; i++) out[at++] = l.charCodeAt(i);
  }
  out[at++] = 0;
  view.setUint16(at, TYPE_PTR);
  view.setUint16(at + 2, CLASS_IN);
  return out;
}

/** Reads a (possibly compressed) name at `at`; the name and the offset after it in place. */
function readName(msg: Uint8Array, at: number): { name: string; next: number } | null {
  const labels: string[] = [];
  let length = 0;
  let next = -1;
  for (let jumps = 0;;) {
    if (at >= msg.length) return null;
    const len = msg[at];
    if (len === 0) {
      if (next === -1) next = at + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= msg.length || ++jumps > MAX_POINTERS) return null;
      if (next === -1) next = at + 2;
      at = ((len & 0x3f) << 8) | msg[at + 1];
      continue;
    }
    if (len > MAX_LABEL || at + 1 + len > msg.length) return null;
    length += len + 1;
    if (length > MAX_NAME) return null;
    labels.push(String.fromCharCode(...msg.subarray(at + 1, at + 1 + len)));
    at += 1 + len;
  }
  return { name: labels.join("."), next };
}

/**
 * The PTR answer in `msg`, a response to the query with id `id` for `name`: the host name
 * (without the final dot), null when the server says there is none (NXDOMAIN, no PTR record,
 * a truncated or failed answer), or undefined when `msg` is not that response at all (other id,
 * other question, not a response, malformed) and must be ignored.
 */
export function decodePtrResponse(
  msg: Uint8Array,
  id: number,
  name: string,
): string | null | undefined {
  if (msg.length < 12) return undefined;
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const flags = view.getUint16(2);
  if (view.getUint16(0) !== id || (flags & QR) === 0 || view.getUint16(4) !== 1) return undefined;
  const q = readName(msg, 12);
  if (q === null || q.next + 4 > msg.length) return undefined;
  if (q.name.toLowerCase() !== name.toLowerCase().replace(/\.$/, "")) return undefined;
  if (view.getUint16(q.next) !== TYPE_PTR || view.getUint16(q.next + 2) !== CLASS_IN) {
    return undefined;
  }
  const rcode = flags & RCODE_MASK;
  if (rcode === RCODE_NXDOMAIN || rcode !== 0 || (flags & TC) !== 0) return null;
  let at = q.next + 4;
  const answers = view.getUint16(6);
  for (let i = 0; i < answers; i++) {
    const owner = readName(msg, at);
    if (owner === null || owner.next + 10 > msg.length) return null;
    const type = view.getUint16(owner.next);
    const klass = view.getUint16(owner.next + 2);
    const rdlength = view.getUint16(owner.next + 8);
    const rdata = owner.next + 10;
    if (rdata + rdlength > msg.length) return null;
    if (type === TYPE_PTR && klass === CLASS_IN) {
      const target = readName(msg, rdata);
      return target === null || target.name === "" ? null : target.name;
    }
    at = rdata + rdlength;
  }
  return null;
}
