/**
 * The accept loop: one async task per accepted connection, a cap on open connections, back-off
 * on accept errors such as EMFILE, one sweeper for every deadline, and graceful shutdown.
 *
 * @example
 * ```ts ignore
 * import { Server } from "./listen.ts";
 * const server = await Server.start({ root: "./public", port: 0 });
 * console.log(server.addr.port);
 * await server.shutdown();
 * ```
 * @module
 */

import { createSecureContext, type SecureContext } from "node:tls";
import { ReverseDns, type ReverseDnsOptions } from "../net/reverse_dns.ts";
import { formatAddr } from "../net/conn_info.ts";
import {
  type ConnectionLimits,
  ConnSet,
  overloadReply,
  serveConnection,
  type ServerContext,
  sweep,
} from "./connection.ts";
import { FileServer } from "./files.ts";
import { type LogFormat, Logger } from "./log.ts";
import { serializeHead } from "../http/response.ts";
import { DigestCache } from "./digest_cache.ts";
import { ALPN_PROTOCOLS } from "../net/tls.ts";
import { serverTlsOver } from "../net/node_tls_conn.ts";
import { type AuthConfig, AuthGate } from "./auth.ts";
import { proxySettings, readProxyPreamble } from "./behind_proxy.ts";
import { ConnLimiter, OVER_ADDRESS } from "./conn_limits.ts";
import { largePool } from "./stream_body.ts";

/** Everything a server can be told; each field's default is in {@linkcode DEFAULTS}. */
export interface ServerOptions {
  /** Directory served. */
  root: string;
  /** Bind address. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 8000 */
  port?: number;
  /** Directory listings. @default true */
  listing?: boolean;
  /** Folders as tar/zip downloads (`?download=tar|zip`). @default true */
  archive?: boolean;
  /** Serve dotfiles. @default false */
  dotfiles?: boolean;
  /** Follow symlinks out of the root. @default false */
  followSymlinks?: boolean;
  /** Open connections at most; more are answered 503 and closed. @default 10000 */
  maxConnections?: number;
  /** Open connections per client address (IPv6: per /64); more are answered 503 and closed;
   * 0 = no such cap. @default 256 */
  maxConnectionsPerIp?: number;
  /** While a response is written, the client must take this many bytes per second over
   * {@linkcode ServerOptions.minRateWindowMs} or be dropped; 0 = no minimum. @default 4096 */
  minRate?: number;
  /** @default 20000 ms */
  minRateWindowMs?: number;
  /** The connection counters shared by every worker (set by workers.ts). */
  sharedLimits?: SharedArrayBuffer;
  /** @default 10000 ms */
  headTimeoutMs?: number;
  /** @default 30000 ms */
  idleTimeoutMs?: number;
  /** @default 30000 ms */
  writeTimeoutMs?: number;
  /** Requests per connection. @default 1000 */
  maxRequests?: number;
  /** How long shutdown lets responses in flight finish. @default 10000 ms */
  graceMs?: number;
  /** @default "text" */
  log?: LogFormat;
  /** Reverse lookups of clients for the connection log. @default true */
  reverseDns?: boolean;
  /** The resolver's nameserver, timeout and concurrency (see reverse_dns.ts). */
  dns?: ReverseDnsOptions;
  /** Compute and advertise Repr-Digest. @default true */
  digests?: boolean;
  /** Share the port with other listeners of this process (workers). @default false */
  reusePort?: boolean;
  /** This worker's index and the number of workers (connection ids interleave). @default 0, 1 */
  worker?: { index: number; count: number };
  /** Serve HTTPS with this PEM certificate chain and key (checked by lib/net/tls.ts
   * loadTlsFiles). @default undefined: plain HTTP */
  tls?: { cert: string; key: string };
  /** HTTP Basic access control on every request (lib/server/auth.ts). @default undefined */
  auth?: AuthConfig;
  /** Every connection begins with a PROXY header (v1/v2), from `trustedProxies` only; with
   * `tls`, the TLS handshake follows the header. @default false */
  proxyProtocol?: boolean;
  /** CIDR blocks (or addresses) whose PROXY headers and X-Forwarded-For / Forwarded are
   * believed. @default [] */
  trustedProxies?: string[];
  /** URL path of the health answer (200, or 503 while draining); none by default. */
  healthPath?: string;
  /** Where log lines go. @default Deno.stdout */
  logOut?: { write(p: Uint8Array): Promise<number> };
}

/** The defaults, with the reason for each. */
export const DEFAULTS = {
  host: "127.0.0.1", // serve this machine only unless asked: sharing a directory is a choice
  port: 8000, // as `python -m http.server`, which people type without thinking
  // 10,000 idle keep-alive connections fit in ~80 MiB at ≤ 8 KiB each, and leave half of the
  // usual 20,000 file descriptors for open files.
  maxConnections: 10_000,
  // A browser opens at most 6 connections per host, download managers 16 (aria2 -x) to 32
  // (IDM): 256 is far above any one client, yet keeps one address from taking the server
  // (10,000 slots take 40 addresses). Clients behind one NAT share it: raise it, or 0 for none.
  maxConnectionsPerIp: 256,
  // 4 KiB/s is 32 kbit/s, slower than any mobile data link still in use, and far above what a
  // slot-holding attacker wants to spend per connection. A client is dropped only once a whole
  // 20 s window behind (lib/server/min_rate.ts), so that a real link's stalls (a tunnel, a
  // handover) pass. Kestrel defaults to 240 B/s with a 5 s grace; ours is higher because a
  // connection here holds a file open and a slot of the caps.
  minRate: 4_096,
  minRateWindowMs: 20_000,
  headTimeoutMs: 10_000, // a real client sends its head in one packet; 10 s is generous
  idleTimeoutMs: 30_000, // browsers reuse connections within seconds; nginx uses 75 s
  writeTimeoutMs: 30_000, // a reader that takes nothing for 30 s has gone
  maxRequests: 1_000, // as nginx's keepalive_requests: bounds what one connection can hold
  graceMs: 10_000,
} as const;

/** How long the accept loop waits after an error, doubling up to the maximum. */
const ACCEPT_BACKOFF_MIN_MS = 10;
const ACCEPT_BACKOFF_MAX_MS = 1_000;
/** After the grace period and closing every socket, how long shutdown still waits for the
 * connection tasks to end before it returns anyway. */
const SHUTDOWN_STRAGGLER_MS = 2_000;
/** How often the sweeper checks deadlines: timeouts are accurate to this. */
const SWEEP_INTERVAL_MS = 250;
/** A 503 to a connection over the cap gets this long to be written. */
const OVERLOAD_WRITE_MS = 1_000;

const encoder = new TextEncoder();
const overloadBytes = (() => {
  const r = overloadReply();
  return encoder.encode(
    serializeHead(r.status, [...r.fields, ["Connection", "close"]]) +
      new TextDecoder().decode(r.body),
  );
})();

/** A running server. */
export class Server {
  readonly addr: Deno.NetAddr;
  readonly log: Logger;
  /** Resolves when the accept loop has ended and every connection has closed. */
  readonly finished: Promise<void>;
  #listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>;
  #ctx: ServerContext;
  #limiter: ConnLimiter;
  #perAddress: boolean;
  #graceMs: number;
  #sweeper: ReturnType<typeof setInterval>;
  #digests: DigestCache | undefined;
  /** With TLS and --proxy-protocol: the certificate, for the handshake after the header. */
  #tlsAfterProxy: SecureContext | null = null;
  #stopping = false;
  #acceptLoop: Promise<void>;
  /** Connections answered 503 because a cap was reached (total or per address). */
  rejected = 0;
  /** Of those, the ones refused by the per-address cap. */
  rejectedPerAddress = 0;

  private constructor(
    listener: Deno.Listener<Deno.TcpConn | Deno.TlsConn, Deno.NetAddr>,
    ctx: ServerContext,
    o: ServerOptions,
    digests: DigestCache | undefined,
  ) {
    this.#listener = listener;
    this.addr = listener.addr as Deno.NetAddr;
    this.#ctx = ctx;
    this.log = ctx.log;
    this.#limiter = ctx.limiter!;
    this.#perAddress = (o.maxConnectionsPerIp ?? DEFAULTS.maxConnectionsPerIp) > 0;
    this.#graceMs = o.graceMs ?? DEFAULTS.graceMs;
    this.#digests = digests;
    this.#sweeper = setInterval(() => sweep(ctx), SWEEP_INTERVAL_MS);
    if (o.tls !== undefined && o.proxyProtocol) {
      this.#tlsAfterProxy = createSecureContext({ cert: o.tls.cert, key: o.tls.key });
    }
    this.#acceptLoop = this.#accept();
    this.finished = this.#acceptLoop;
  }

  /**
   * Binds and starts serving. Throws `Deno.errors.AddrInUse` when the port is taken and
   * `Deno.errors.NotFound` / `NotADirectory` when the root is not a directory.
   */
  static async start(o: ServerOptions): Promise<Server> {
    const digests = o.digests === false ? undefined : new DigestCache();
    const files = await FileServer.create({
      root: o.root,
      listing: o.listing,
      archive: o.archive,
      dotfiles: o.dotfiles,
      followSymlinks: o.followSymlinks,
      digests,
    });
    // Symlinks out of the root lead where no watch of the root sees changes: then the small-file
    // cache checks every hit by stat instead.
    if (!o.followSymlinks) files.cache.watch(files.root);
    const log = new Logger(o.log ?? "text", o.logOut);
    if (!files.confine.raceProof) {
      log.warn(
        "confinement is checked by name, not on the opened file: Deno lets only --allow-all " +
          "(-A) read /proc/self/fd (or this is not Linux); renaming races inside DIR could leak",
      );
    }
    // Each worker is a thread with its own module state: the large-buffer budget is shared out.
    if (o.worker !== undefined) largePool.share(o.worker.count);
    const limits: ConnectionLimits = {
      headTimeoutMs: o.headTimeoutMs ?? DEFAULTS.headTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      writeTimeoutMs: o.writeTimeoutMs ?? DEFAULTS.writeTimeoutMs,
      maxRequests: o.maxRequests ?? DEFAULTS.maxRequests,
      minRate: o.minRate ?? DEFAULTS.minRate,
      rateWindowMs: o.minRateWindowMs ?? DEFAULTS.minRateWindowMs,
    };
    const where = {
      hostname: o.host ?? DEFAULTS.host,
      port: o.port ?? DEFAULTS.port,
      reusePort: o.reusePort ?? false,
    };
    // One task per accepted Deno.TlsConn, as for plain TCP; the handshake runs in that task.
    // Behind --proxy-protocol the PROXY header comes in clear before the handshake: then the
    // listener is plain TCP and TLS starts once the header is read (#serveProxied).
    const listener = o.tls === undefined || o.proxyProtocol
      ? Deno.listen(where)
      : Deno.listenTls({ ...where, ...o.tls, alpnProtocols: ALPN_PROTOCOLS });
    const ctx: ServerContext = {
      files,
      log,
      dns: log.enabled && o.reverseDns !== false ? new ReverseDns(o.dns) : null,
      limits,
      conns: new ConnSet(),
      draining: false,
      nextId: 1 + (o.worker?.index ?? 0),
      idStep: o.worker?.count ?? 1,
      tls: o.tls !== undefined,
      auth: o.auth === undefined ? null : new AuthGate(o.auth),
      limiter: new ConnLimiter({
        maxConnections: o.maxConnections ?? DEFAULTS.maxConnections,
        maxPerAddress: o.maxConnectionsPerIp ?? DEFAULTS.maxConnectionsPerIp,
        shared: o.sharedLimits,
      }),
    };
    if (o.proxyProtocol || (o.trustedProxies?.length ?? 0) > 0) {
      ctx.proxy = proxySettings(o.proxyProtocol ?? false, o.trustedProxies ?? []);
    }
    if (o.healthPath !== undefined) ctx.health = { path: o.healthPath, draining: false };
    return new Server(listener, ctx, o, digests);
  }

  /** Open connections now. */
  get connections(): number {
    return this.#ctx.conns.size;
  }

  async #accept(): Promise<void> {
    let backoff = 0;
    let warned = false;
    for (;;) {
      let conn: Deno.TcpConn | Deno.TlsConn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#stopping) break;
        // EMFILE/ENFILE and friends: the loop must survive them without spinning.
        backoff = Math.min(Math.max(backoff * 2, ACCEPT_BACKOFF_MIN_MS), ACCEPT_BACKOFF_MAX_MS);
        if (!warned) {
          this.log.warn(`accept failed (${(e as Error).message}); backing off and retrying`);
          warned = true;
        }
        await new Promise((r) => setTimeout(r, backoff));
        continue;
      }
      if (backoff > 0) {
        this.log.warn("accepting again");
        backoff = 0;
        warned = false;
      }
      // getpeername costs a syscall: only when the per-address cap needs the address. A trusted
      // proxy carries many clients over its one address: it counts toward the total only.
      let address = this.#perAddress ? (conn.remoteAddr as Deno.NetAddr).hostname : "";
      if (address !== "" && this.#ctx.proxy?.trusted.has(address)) address = "";
      const token = this.#limiter.acquire(address);
      if (token < 0) {
        this.rejected++;
        if (token === OVER_ADDRESS) this.rejectedPerAddress++;
        rejectConn(conn);
        continue;
      }
      if (this.#ctx.proxy === undefined) serveConnection(conn, this.#ctx, { limitToken: token });
      else this.#serveProxied(conn, token);
    }
  }

  /** A connection through a load balancer: PROXY header and trust first (behind_proxy.ts). */
  async #serveProxied(conn: Deno.TcpConn | Deno.TlsConn, limitToken: number): Promise<void> {
    const ctx = this.#ctx;
    const via = await readProxyPreamble(conn, ctx.proxy!, {
      timeoutMs: ctx.limits.headTimeoutMs,
      log: ctx.log,
    });
    if (via !== null && !this.#stopping) {
      // TLS after the header, on the same socket (lib/net/node_tls_conn.ts).
      const tls = this.#tlsAfterProxy;
      return serveConnection(
        tls === null
          ? conn
          : serverTlsOver(conn as Deno.TcpConn, tls, ALPN_PROTOCOLS) as unknown as Deno.TlsConn,
        ctx,
        { via, limitToken },
      );
    }
    this.#limiter.release(limitToken); // refused, or the header came after shutdown began
    if (via !== null) {
      try {
        conn.close();
      } catch { /* gone */ }
    }
  }

  /**
   * Starts a drain: the health path answers 503 from now on, so that a load balancer takes this
   * instance out, while requests go on being served until {@linkcode shutdown}.
   */
  drain(): void {
    if (this.#ctx.health !== undefined) this.#ctx.health.draining = true;
  }

  /**
   * Stops accepting, closes idle connections, lets responses in flight finish within the grace
   * period, then closes whatever is left.
   */
  async shutdown(graceMs = this.#graceMs): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#ctx.draining = true;
      try {
        this.#listener.close();
      } catch { /* already closed */ }
    }
    const conns = this.#ctx.conns;
    for (const s of conns) {
      if (s.phase === "head" && !s.closed) {
        s.closed = true;
        s.why = "shutdown";
        try {
          s.conn.close();
        } catch { /* gone */ }
      }
    }
    const until = Date.now() + graceMs;
    while (conns.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const s of conns) {
      try {
        s.conn.close();
      } catch { /* gone */ }
    }
    // Closed sockets end their tasks at the next await; one stuck in a file system call that
    // never returns must not hold shutdown forever.
    const hardUntil = Date.now() + SHUTDOWN_STRAGGLER_MS;
    while (conns.size > 0 && Date.now() < hardUntil) await new Promise((r) => setTimeout(r, 5));
    await this.#acceptLoop;
    clearInterval(this.#sweeper);
    this.#ctx.auth?.close();
    this.#ctx.dns?.close();
    await this.#digests?.close();
    this.#ctx.files.cache.close();
    await this.log.flush();
  }

  /** The URLs at which the server can be reached, for the start-up banner. */
  urls(): string[] {
    return serverUrls(this.addr.hostname, this.addr.port, this.#ctx.tls ? "https" : "http");
  }
}

/**
 * The URLs of a server bound to `hostname`: that address, or for a wildcard (0.0.0.0, ::) the
 * loopback address and one URL per interface address (IPv6 ones only for ::, link-local
 * fe80:: left out: they need a zone to be reached).
 */
export function serverUrls(hostname: string, port: number, scheme: "http" | "https"): string[] {
  const hosts: string[] = [];
  if (hostname === "0.0.0.0" || hostname === "::") {
    hosts.push("127.0.0.1");
    if (hostname === "::") hosts.push("::1");
    // Only when allowed: asking for it here would prompt (see permissions.ts).
    const sys = Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" });
    if (sys.state === "granted") {
      for (const i of Deno.networkInterfaces()) {
        if (i.address.startsWith("127.") || i.address === "::1") continue;
        if (i.family === "IPv6" && (hostname !== "::" || i.address.startsWith("fe80"))) continue;
        if (!hosts.includes(i.address)) hosts.push(i.address);
      }
    } // else: no --allow-sys, the loopback URL will do
  } else hosts.push(hostname);
  return hosts.map((h) => `${scheme}://${formatAddr({ transport: "tcp", hostname: h, port })}/`);
}

/** Answers 503 to a connection over the cap and closes it, spending at most a second on it. */
function rejectConn(conn: Deno.Conn): void {
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* gone */ }
  }, OVERLOAD_WRITE_MS);
  conn.write(overloadBytes).catch(() => 0).finally(() => {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* gone */ }
  });
}
