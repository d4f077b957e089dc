/**
 * The real client behind a load balancer: the PROXY protocol header read before anything else
 * on a connection (`--proxy-protocol`, accepted from `--trusted-proxy` sources only: anyone
 * else is closed at once), and `X-Forwarded-For` / `Forwarded` believed only as far as they
 * were written by trusted proxies. What comes out is a {@linkcode Via}: the client and the
 * proxy, for the connection parameters and the access log.
 *
 * Joined to the flow in one place each: listen.ts hands an accepted connection to
 * {@linkcode readProxyPreamble} instead of straight to serveConnection, and the connection loop
 * asks {@linkcode forwardedClient} about each request head on a connection from a trusted peer.
 *
 * @module
 */

import { CidrSet, formatIp, parseIp, unmapIp } from "../net/cidr.ts";
import { formatAddr } from "../net/conn_info.ts";
import {
  MAX_PROXY_HEADER_BYTES,
  parseProxyHeader,
  proxyHeaderBytesNeeded,
} from "../net/proxy_protocol.ts";
import { forwardedHops } from "../http/forwarded.ts";
import type { RequestHead } from "../http/request.ts";
import type { Logger } from "./log.ts";

/** `--proxy-protocol` and `--trusted-proxy`. */
export interface ProxySettings {
  /** Every connection must begin with a PROXY header (v1 or v2), and come from `trusted`. */
  proxyProtocol: boolean;
  /** The proxies whose PROXY headers and forwarding fields are believed. */
  trusted: CidrSet;
}

/** Builds the settings from the command-line values; throws a `RangeError` on a bad block. */
export function proxySettings(proxyProtocol: boolean, trusted: readonly string[]): ProxySettings {
  return { proxyProtocol, trusted: CidrSet.parse(trusted) };
}

/** Who is on the other end of a connection that came through a proxy. */
export interface Via {
  /** The client as `host:port`, as the PROXY header gave it (or the socket's peer). */
  client: string;
  /** The proxy as `host:port`; "" when the connection is the proxy's own (LOCAL, a check). */
  proxy: string;
  /** Whether the HTTP peer (the client above) is itself a trusted proxy, so that its
   * `X-Forwarded-For` / `Forwarded` fields are believed. */
  forwarded: boolean;
}

function hostOf(addr: Deno.Addr): string {
  return "hostname" in addr ? addr.hostname : "";
}

/**
 * Decides what to do with a connection just accepted, given the settings:
 * - without `--proxy-protocol`: serve it; its forwarding fields are believed if its peer is
 *   trusted;
 * - with it: a peer outside `--trusted-proxy` is closed at once (logged); from a trusted one the
 *   PROXY header is read within `timeoutMs`, and a malformed, oversized or late one closes the
 *   connection without a response (logged).
 * Resolves to the {@linkcode Via} to serve with, or null when the connection was closed.
 */
export async function readProxyPreamble(
  conn: Deno.Conn,
  settings: ProxySettings,
  o: { timeoutMs: number; log: Logger },
): Promise<Via | null> {
  const peer = formatAddr(conn.remoteAddr);
  const peerHost = hostOf(conn.remoteAddr);
  const trusted = settings.trusted.has(peerHost);
  if (!settings.proxyProtocol) {
    return { client: peer, proxy: "", forwarded: trusted };
  }
  const refuse = (why: string): null => {
    o.log.warn(`closed a connection from ${peer}: ${why}`);
    try {
      conn.close();
    } catch { /* gone */ }
    return null;
  };
  if (!trusted) return refuse("not a trusted proxy (--trusted-proxy), and --proxy-protocol is on");

  // Never a byte past the header: what follows stays in the socket for whoever reads next (the
  // request loop, or a TLS handshake, which cannot be handed bytes already read). So v2 takes
  // two reads (16 bytes, then the length they give), v1 a few (each as long as the fields still
  // missing must be at least). A peer that sends part of it and stops is closed at the deadline
  // (the spec asks for at least 3 s: the head timeout).
  const buf = new Uint8Array(MAX_PROXY_HEADER_BYTES);
  let have = 0;
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    try {
      conn.close();
    } catch { /* gone */ }
  }, o.timeoutMs);
  try {
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf.subarray(have, have + proxyHeaderBytesNeeded(buf, 0, have)));
      } catch {
        return late ? refuse(`no whole PROXY header within ${o.timeoutMs} ms`) : null;
      }
      if (n === null) {
        return refuse(
          late
            ? `no whole PROXY header within ${o.timeoutMs} ms`
            : "closed before a whole PROXY header",
        );
      }
      have += n;
      const r = parseProxyHeader(buf, 0, have);
      if (r.kind === "incomplete") continue; // the parser refuses before `have` fills `buf`
      if (r.kind === "invalid") return refuse(`bad PROXY header (${r.reason})`);
      if (r.source === null) {
        // LOCAL (the proxy's health check) or an unusable family: the socket's endpoints.
        return { client: peer, proxy: "", forwarded: trusted };
      }
      const client = formatAddr({
        transport: "tcp",
        hostname: r.source.address,
        port: r.source.port,
      });
      return {
        client,
        proxy: peer,
        forwarded: settings.trusted.has(r.source.address),
      };
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The client a request names in `X-Forwarded-For` / `Forwarded`, believing hops from the last
 * (added by the proxy that connected to us, which is trusted) backwards only while each was
 * added by a trusted proxy: the first untrusted hop is the client. "" when the request names
 * none to believe (no field, both fields, a hop without an address) — then the connection's
 * peer stands.
 */
export function forwardedClient(head: RequestHead, trusted: CidrSet): string {
  const hops = forwardedHops(head.headers);
  if (hops === null || hops.length === 0) return "";
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = hops[i] === "" ? null : parseIp(hops[i]);
    if (ip === null) return "";
    if (i === 0 || !trusted.hasIp(ip)) return formatIp(unmapIp(ip));
  }
  return "";
}
