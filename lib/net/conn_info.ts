/**
 * Connection parameters — host name, peer and local address, socket family, type, protocol and
 * the timeouts in force — as one type with one text format and one JSON shape, used by both the
 * server (about each client) and the client (about the server), so the two never drift apart.
 *
 * @example
 * ```ts
 * import { formatAddr } from "./conn_info.ts";
 * console.log(formatAddr({ transport: "tcp", hostname: "::1", port: 80 })); // [::1]:80
 * ```
 * @module
 */

import type { TlsInfo } from "./tls.ts";

/** IANA protocol number of TCP, as in `IPPROTO_TCP`. */
export const IPPROTO_TCP = 6;

/** Everything Ferry reports about one TCP connection. Field names are the JSON shape. */
export interface ConnParams {
  /** Host name of the other end: the name the user gave (client) or the reverse-lookup name of
   * the peer (server); null when unknown. */
  hostName: string | null;
  /** The address the host name resolved to (client side), else null. */
  resolvedAddress: string | null;
  /** Reverse-lookup name of the peer address, null when none or not looked up. */
  reverseName: string | null;
  /** The other end as `host:port` (`[v6]:port`). */
  peer: string;
  /** This end as `host:port` (`[v6]:port`). */
  local: string;
  /** Behind a trusted proxy that sent a PROXY header: the proxy as `host:port`, while `peer`
   * is the client the header named. Absent otherwise. */
  proxy?: string;
  /** "AF_INET" or "AF_INET6", from the address. */
  family: "AF_INET" | "AF_INET6";
  /** Always "SOCK_STREAM": Ferry speaks TCP. */
  type: "SOCK_STREAM";
  /** Always "TCP". */
  protocol: "TCP";
  /** {@linkcode IPPROTO_TCP}. */
  protocolNumber: number;
  /** The timeouts applied to this socket, in milliseconds, by name (connect, read, idle, ...);
   * 0 means none. */
  timeoutsMs: Record<string, number>;
  /** TLS: ALPN, handshake time and (client) how the certificate was checked; null for plain
   * TCP. Absent where the caller does not say. */
  tls?: TlsInfo | null;
}

/** Formats an address as `host:port`, IPv6 in brackets. */
export function formatAddr(addr: Deno.Addr): string {
  if (addr.transport !== "tcp" && addr.transport !== "udp") return addr.transport;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** The socket family of an address. */
export function familyOf(addr: Deno.Addr): ConnParams["family"] {
  return "hostname" in addr && addr.hostname.includes(":") ? "AF_INET6" : "AF_INET";
}

/** Builds the parameters of `conn`; names come from the caller (they need a lookup). */
export function describeConn(
  conn: Deno.Conn,
  options: {
    hostName?: string | null;
    resolvedAddress?: string | null;
    reverseName?: string | null;
    timeoutsMs?: Record<string, number>;
    tls?: TlsInfo | null;
  } = {},
): ConnParams {
  return {
    hostName: options.hostName ?? null,
    resolvedAddress: options.resolvedAddress ?? null,
    reverseName: options.reverseName ?? null,
    peer: formatAddr(conn.remoteAddr),
    local: formatAddr(conn.localAddr),
    family: familyOf(conn.remoteAddr),
    type: "SOCK_STREAM",
    protocol: "TCP",
    protocolNumber: IPPROTO_TCP,
    timeoutsMs: options.timeoutsMs ?? {},
    tls: options.tls ?? null,
  };
}

/** `10s`, `1.5s`, `250ms`, or `none` for 0. */
export function formatMs(ms: number): string {
  if (ms <= 0) return "none";
  if (ms < 1000) return `${ms}ms`;
  return `${Number((ms / 1000).toFixed(3))}s`;
}

function timeoutsText(t: Record<string, number>): string {
  const parts = Object.entries(t).map(([k, v]) => `${k}=${formatMs(v)}`);
  return parts.length > 0 ? parts.join(" ") : "none";
}

function nameText(p: ConnParams): string {
  const parts: string[] = [];
  if (p.hostName !== null) parts.push(p.hostName);
  if (p.resolvedAddress !== null && p.resolvedAddress !== p.hostName) {
    parts.push(`resolved ${p.resolvedAddress}`);
  }
  if (p.reverseName !== null && p.reverseName !== p.hostName) {
    parts.push(`reverse ${p.reverseName}`);
  }
  return parts.length > 0 ? parts.join(", ") : "(unknown)";
}

/** One line for a log: `host=... peer=... local=... family=... type=... proto=... timeouts=...`. */
export function formatConnLine(p: ConnParams): string {
  const proxy = p.proxy === undefined ? "" : ` proxy=${p.proxy}`;
  return `host=${p.hostName ?? "-"} peer=${p.peer}${proxy} local=${p.local} family=${p.family} ` +
    `type=${p.type} proto=${p.protocol}(${p.protocolNumber}) timeouts=${
      timeoutsText(p.timeoutsMs).replaceAll(" ", ",")
    }${
      p.tls
        ? ` tls=yes alpn=${p.tls.alpn ?? "-"} handshake=${p.tls.handshakeMs.toFixed(1)}ms`
        : p.tls === null
        ? " tls=no"
        : ""
    }`;
}

/** The TLS row of a connection block: `ALPN http/1.1, handshake 1.2 ms, verified (...)`. */
export function tlsText(t: TlsInfo | null | undefined): string {
  if (!t) return "no (plain TCP)";
  const parts = [`ALPN ${t.alpn ?? "none"}`, `handshake ${t.handshakeMs.toFixed(3)} ms`];
  if (t.verification !== null) parts.push(t.verification);
  return parts.join(", ");
}

/** A block of aligned lines for people, each prefixed with `indent`. */
export function formatConnBlock(p: ConnParams, indent = "  "): string {
  const rows: Array<[string, string]> = [
    ["host name", nameText(p)],
    ["peer name", p.peer],
    ...(p.proxy === undefined ? [] : [["via proxy", p.proxy] as [string, string]]),
    ["local name", p.local],
    ["family", p.family],
    ["socket type", p.type],
    ["protocol", `${p.protocol} (IPPROTO_TCP = ${p.protocolNumber})`],
    ["timeouts", timeoutsText(p.timeoutsMs)],
  ];
  if (p.tls !== undefined) rows.push(["TLS", tlsText(p.tls)]);
  return rows.map(([k, v]) => `${indent}${k.padEnd(12)}${v}`).join("\n");
}
