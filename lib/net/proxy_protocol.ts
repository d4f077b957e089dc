/**
 * The PROXY protocol header (HAProxy's `doc/proxy-protocol.txt`), versions 1 (text) and 2
 * (binary), as a load balancer (`send-proxy`, `send-proxy-v2`) puts it before the first byte of
 * a connection: the client's address and port as the proxy saw them. Pure: bytes in, a result
 * out, so that it is unit-tested from the spec and fuzzed without sockets.
 *
 * The parser is called again with more bytes while it answers `incomplete`; it refuses as early
 * as it can (the first byte that cannot begin a header), and never waits for more than
 * {@linkcode MAX_PROXY_HEADER_BYTES}.
 *
 * @example
 * ```ts
 * import { parseProxyHeader } from "./proxy_protocol.ts";
 * const bytes = new TextEncoder().encode("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /");
 * const r = parseProxyHeader(bytes);
 * if (r.kind === "ok") console.log(r.length, r.source); // 45 { address: "192.0.2.1", port: 56324 }
 * ```
 * @module
 */

import { formatIp, parseIp } from "./cidr.ts";

/** Longest version 1 line, CRLF included (spec §2.1: "PROXY UNKNOWN" with two full IPv6
 * addresses and ports). */
export const PROXY_V1_MAX_BYTES = 107;
/** Longest version 2 header accepted, the 16 fixed bytes included. The spec allows 16 + 65535;
 * the addresses take at most 216 bytes (AF_UNIX) and the TLVs HAProxy adds (ALPN, authority,
 * unique id, SSL version, cipher and client-certificate CN) a few hundred more, so 2 KiB is
 * ample while bounding what an unauthenticated peer can make us hold. */
export const MAX_PROXY_HEADER_BYTES = 2048;

/** The 12-byte version 2 signature (spec §2.2). */
export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);
const V1_PREFIX = Uint8Array.from("PROXY ", (c) => c.charCodeAt(0));

/** An address and port from the header. */
export interface ProxyEndpoint {
  /** Canonical text (dotted decimal, or RFC 5952 IPv6). */
  address: string;
  port: number;
}

/** What a header said. */
export interface ProxyHeader {
  kind: "ok";
  version: 1 | 2;
  /** Header bytes: what follows them is the proxied stream. */
  length: number;
  /** "proxy": relayed for a client; "local": the proxy's own connection (a health check). */
  command: "proxy" | "local";
  /** The client and the address it connected to; null when the header gives none to use
   * (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX, or a datagram protocol): then the real connection's
   * endpoints stand, as the spec asks. */
  source: ProxyEndpoint | null;
  destination: ProxyEndpoint | null;
}

/** The result of {@linkcode parseProxyHeader}. */
export type ProxyParse =
  | ProxyHeader
  | { kind: "incomplete" }
  | { kind: "invalid"; reason: string };

const invalid = (reason: string): ProxyParse => ({ kind: "invalid", reason });
const INCOMPLETE: ProxyParse = { kind: "incomplete" };

/** Whether `buf[start, end)` is a prefix of `sig` (or holds all of it). */
function matchesPrefix(buf: Uint8Array, start: number, end: number, sig: Uint8Array): boolean {
  const n = Math.min(end - start, sig.length);
  for (let i = 0; i < n; i++) if (buf[start + i] !== sig[i]) return false;
  return true;
}

/**
 * Parses the PROXY header at `buf[start, end)`: `ok` with its length and addresses,
 * `incomplete` when more bytes may still make it whole, or `invalid` with the reason (the
 * connection must then be closed without a response).
 */
export function parseProxyHeader(buf: Uint8Array, start = 0, end = buf.length): ProxyParse {
  if (end <= start) return INCOMPLETE;
  if (buf[start] === 0x50) {
    if (!matchesPrefix(buf, start, end, V1_PREFIX)) return invalid("not a PROXY header");
    return parseV1(buf, start, end);
  }
  if (buf[start] === 0x0d) {
    if (!matchesPrefix(buf, start, end, PROXY_V2_SIGNATURE)) {
      return invalid("not a PROXY header");
    }
    return parseV2(buf, start, end);
  }
  return invalid("not a PROXY header");
}

/** The shortest header of either version: `PROXY UNKNOWN\r\n` (15); v2 has 16 fixed bytes. */
export const PROXY_MIN_HEADER_BYTES = 15;

/**
 * How many more bytes may be read after the incomplete header in `buf[start, end)` without
 * reading past its end, whatever the header turns out to be (at least 1). Reading no more than
 * this leaves the bytes after the header in the socket — for a TLS handshake that follows it,
 * which cannot be given bytes already read.
 *
 * v2: the 16 fixed bytes, then exactly the length they announce. v1: from the fields still
 * missing — each needs a separator and a character — and the CRLF.
 */
export function proxyHeaderBytesNeeded(buf: Uint8Array, start = 0, end = buf.length): number {
  const have = end - start;
  if (have < PROXY_MIN_HEADER_BYTES) return PROXY_MIN_HEADER_BYTES - have;
  if (buf[start] === 0x0d) {
    if (have < 16) return 16 - have;
    return Math.max(1, 16 + ((buf[start + 14] << 8) | buf[start + 15]) - have);
  }
  // v1: "PROXY" SP proto [SP src SP dst SP sport SP dport] CRLF.
  if (buf[end - 1] === 0x0d) return 1;
  let spaces = 0;
  for (let i = start; i < end; i++) if (buf[i] === 0x20) spaces++;
  // Until the protocol is known to be TCP4/TCP6, only the CRLF is certain (UNKNOWN may end at
  // any point).
  const proto = String.fromCharCode(...buf.subarray(start + 6, start + 11));
  if (proto !== "TCP4 " && proto !== "TCP6 ") return 2;
  const tokenEmpty = buf[end - 1] === 0x20;
  return (tokenEmpty ? 1 : 0) + 2 * Math.max(0, 5 - spaces) + 2;
}

const V1_PORT = /^(?:0|[1-9]\d{0,4})$/;

function parseV1(buf: Uint8Array, start: number, end: number): ProxyParse {
  const limit = Math.min(end, start + PROXY_V1_MAX_BYTES);
  let cr = -1;
  for (let i = start + V1_PREFIX.length; i < limit; i++) {
    const c = buf[i];
    if (c === 0x0d) {
      cr = i;
      break;
    }
    // Printable US-ASCII only: a LF alone, NUL or any control ends the matter now.
    if (c < 0x20 || c > 0x7e) return invalid("v1: a control or non-ASCII byte in the line");
  }
  if (cr < 0) {
    return end - start >= PROXY_V1_MAX_BYTES
      ? invalid(`v1: no CRLF within ${PROXY_V1_MAX_BYTES} bytes`)
      : INCOMPLETE;
  }
  if (cr + 1 >= end) return cr + 1 < start + PROXY_V1_MAX_BYTES ? INCOMPLETE : invalid("v1: no LF");
  if (buf[cr + 1] !== 0x0a) return invalid("v1: CR not followed by LF");
  const length = cr + 2 - start;
  const line = String.fromCharCode(...buf.subarray(start, cr));
  const fields = line.split(" ");
  const proto = fields[1];
  if (proto === "UNKNOWN") {
    // The rest of the line is to be ignored (spec §2.1).
    return { kind: "ok", version: 1, length, command: "proxy", source: null, destination: null };
  }
  if (proto !== "TCP4" && proto !== "TCP6") return invalid("v1: protocol not TCP4, TCP6, UNKNOWN");
  if (fields.length !== 6) return invalid("v1: not exactly four fields after the protocol");
  const family = proto === "TCP4" ? 4 : 6;
  const src = parseIp(fields[2]);
  const dst = parseIp(fields[3]);
  if (src === null || dst === null) return invalid("v1: an address does not parse");
  if (src.family !== family || dst.family !== family) {
    return invalid(`v1: an address is not of the family ${proto} announces`);
  }
  if (!V1_PORT.test(fields[4]) || !V1_PORT.test(fields[5])) return invalid("v1: a bad port");
  const sport = Number(fields[4]);
  const dport = Number(fields[5]);
  if (sport > 65535 || dport > 65535) return invalid("v1: a port over 65535");
  return {
    kind: "ok",
    version: 1,
    length,
    command: "proxy",
    source: { address: formatIp(src), port: sport },
    destination: { address: formatIp(dst), port: dport },
  };
}

/** Address block bytes per family (spec §2.2): AF_INET, AF_INET6, AF_UNIX. */
const ADDRESS_BYTES = [0, 12, 36, 216];

function parseV2(buf: Uint8Array, start: number, end: number): ProxyParse {
  if (end - start < 16) return INCOMPLETE;
  const verCmd = buf[start + 12];
  if (verCmd >> 4 !== 2) return invalid("v2: version is not 2");
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid("v2: command is neither LOCAL nor PROXY");
  const famProto = buf[start + 13];
  const family = famProto >> 4;
  const proto = famProto & 0x0f;
  if (family > 3) return invalid("v2: unknown address family");
  if (proto > 2) return invalid("v2: unknown transport protocol");
  const len = (buf[start + 14] << 8) | buf[start + 15];
  const length = 16 + len;
  if (length > MAX_PROXY_HEADER_BYTES) {
    return invalid(`v2: header of ${length} bytes, over ${MAX_PROXY_HEADER_BYTES}`);
  }
  if (end - start < length) return INCOMPLETE;
  // The receiver must skip `len` bytes whatever the command (§2.2); LOCAL ignores them.
  if (cmd === 0) {
    return { kind: "ok", version: 2, length, command: "local", source: null, destination: null };
  }
  const addrBytes = ADDRESS_BYTES[family];
  if (family !== 0 && len < addrBytes) return invalid("v2: shorter than its address block");
  if (family !== 0) {
    // TLVs (§2.2.1): type, 16-bit length, value, each wholly inside the header.
    let p = start + 16 + addrBytes;
    const stop = start + length;
    while (p < stop) {
      if (stop - p < 3) return invalid("v2: a truncated TLV");
      const tlvLen = (buf[p + 1] << 8) | buf[p + 2];
      p += 3 + tlvLen;
      if (p > stop) return invalid("v2: a TLV overruns the header");
    }
  }
  // AF_UNSPEC, AF_UNIX and datagrams say nothing an HTTP server over TCP can use: the spec
  // lets the receiver fall back to the real endpoints.
  if (family === 0 || family === 3 || proto !== 1) {
    return { kind: "ok", version: 2, length, command: "proxy", source: null, destination: null };
  }
  const a = start + 16;
  const w = family === 1 ? 4 : 16;
  const src = formatIp({ family: family === 1 ? 4 : 6, bytes: buf.slice(a, a + w) });
  const dst = formatIp({ family: family === 1 ? 4 : 6, bytes: buf.slice(a + w, a + 2 * w) });
  const sport = (buf[a + 2 * w] << 8) | buf[a + 2 * w + 1];
  const dport = (buf[a + 2 * w + 2] << 8) | buf[a + 2 * w + 3];
  return {
    kind: "ok",
    version: 2,
    length,
    command: "proxy",
    source: { address: src, port: sport },
    destination: { address: dst, port: dport },
  };
}
