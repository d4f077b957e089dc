/**
 * Name lookup and TCP connect, each timed and bounded by the user's timeout, and a socket
 * wrapper that notes when the first byte of each response arrives.
 *
 * The name is resolved with `node:dns` lookup (getaddrinfo: /etc/hosts first, like every other
 * program on the machine), and the connect goes to the resolved address, so that the two times
 * are measured apart. When the permission is granted for the name only
 * (`--allow-net=localhost`), connecting to the address is not allowed; the connect then goes by
 * name, and its time includes the runtime's own lookup (`connectedBy` says so; the text output
 * notes it).
 *
 * @example
 * ```ts ignore
 * import { openConnection } from "./connect.ts";
 * const c = await openConnection({ host: "localhost", port: 8080, path: "/" }, { timeoutMs: 30000 });
 * console.log(c.address, c.lookupMs, c.connectMs);
 * c.conn.close();
 * ```
 * @module
 */

import { lookup } from "node:dns";
import { ClientError, EXIT, permissionError, reasonOf } from "./errors.ts";
import { hostPort, type Location } from "./names.ts";
import type { TlsInfo } from "../net/tls.ts";
import { connectInsecure, startClientTls, type TlsTrust } from "./tls_connect.ts";
import { noteHeard, originKey, refusedTransient } from "./refused.ts";
import { checkNet, lookupGranted, netGranted } from "./permissions.ts";

/** A connected socket and what it took to get it. */
export interface Connected {
  /** The socket (TLS on it for https), `setNoDelay(true)` already applied. */
  conn: Deno.Conn;
  /** Where the addresses are read (`remoteAddr`, `localAddr`): the TCP socket under TLS. */
  addrs: Pick<Deno.Conn, "remoteAddr" | "localAddr">;
  /** The socket as a read source that records first-byte times (give this to ConnReader). */
  source: TimedSource;
  /** The address connected to (no brackets). */
  address: string;
  /** Name lookup time in ms (0 for an address literal). */
  lookupMs: number;
  /** TCP connect time in ms: the three-way handshake, ≈ 1 RTT. */
  connectMs: number;
  /** "address" normally; "name" when the permission scope forced a connect by name. */
  connectedBy: "address" | "name";
  /** For https: ALPN, the TLS handshake time (apart from connectMs) and the verification;
   * null for http. */
  tls: TlsInfo | null;
  /** Whether the runtime's connect path was warmed first ({@linkcode warmUpConnect}), so
   * `connectMs` is the handshake alone. */
  warmed: boolean;
}

/** A `Deno.Conn` as a read source that remembers when data last started arriving after
 * {@linkcode TimedSource.mark}. One extra await per read; reads are megabytes, so it is noise. */
export class TimedSource {
  /** The connection read from. */
  readonly conn: Deno.Conn;
  /** `performance.now()` of the first read completed after the last mark, or 0. */
  firstByteAt = 0;
  /** The origin ({@linkcode originKey}) noted as heard from at the first byte, then null. */
  #origin: string | null;

  constructor(conn: Deno.Conn, origin: string | null = null) {
    this.conn = conn;
    this.#origin = origin;
  }

  /** Starts a new first-byte measurement (call when a request has been sent). */
  mark(): void {
    this.firstByteAt = 0;
  }

  /** Reads from the connection. */
  async read(p: Uint8Array): Promise<number | null> {
    const n = await this.conn.read(p);
    if (this.firstByteAt === 0 && n !== null && n > 0) {
      this.firstByteAt = performance.now();
      if (this.#origin !== null) {
        noteHeard(this.#origin); // a refused connect to it later is a restart: retried
        this.#origin = null;
      }
    }
    return n;
  }

  /** Closes the connection (idempotent). */
  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

function isAddress(host: string): boolean {
  return host.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

/** Resolves `host` to its addresses in the resolver's order (getaddrinfo via `node:dns`).
 * @throws {ClientError} connect (not found, no permission) or timeout. */
export function resolveHost(host: string, timeoutMs: number): Promise<string[]> {
  if (isAddress(host)) return Promise.resolve([host.split("%")[0]]);
  return new Promise((resolve, reject) => {
    const timer = timeoutMs > 0
      ? setTimeout(
        () =>
          reject(
            new ClientError(
              EXIT.timeout,
              `looking up ${host} timed out after ${timeoutMs / 1000}s; check the name and ` +
                `your DNS, or raise --timeout`,
              { transient: "timeout" },
            ),
          ),
        timeoutMs,
      )
      : undefined;
    lookup(host, { all: true }, (err, addrs) => {
      clearTimeout(timer);
      if (err) {
        reject(
          permissionError(err, host) ??
            new ClientError(
              EXIT.connect,
              `cannot resolve host ${host}: ${
                err.code === "ENOTFOUND" ? "no such name" : reasonOf(err)
              }; check the spelling, or give an IP address`,
            ),
        );
      } else {
        resolve(addrs.map((a) => a.address));
      }
    });
  });
}

let warmed: Promise<boolean> | null = null;

/**
 * Warms the runtime's connect path once per process, so the first timed handshake measures the
 * network, not the start-up: the first `Deno.connect` of a process pays 0.4–1.9 ms of one-time
 * set-up (measured on loopback, loaded 2-core VM: 0.52–1.28 ms first, 0.05–0.16 ms after; with
 * this warm-up the first is 0.10–0.31 ms), more than a LAN RTT. A connect with an abort signal
 * (ours has one: the timeout) has a start-up of its own, so the warm-up uses one too.
 * The warm-up connects to a listener of our own on 127.0.0.1 (never to the server, which would
 * see an empty connection). Without permission to listen there it is skipped, and the result
 * says the handshake includes the start-up.
 */
export function warmUpConnect(): Promise<boolean> {
  warmed ??= (async () => {
    try {
      // Asked first, so that a narrow --allow-net never turns into a permission prompt.
      if (Deno.permissions.querySync({ name: "net", host: "127.0.0.1" }).state !== "granted") {
        return false;
      }
      using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const accepted = l.accept();
      // With a signal, as the timed connect has one: that path has a start-up of its own.
      const c = await Deno.connect({
        hostname: "127.0.0.1",
        port: (l.addr as Deno.NetAddr).port,
        signal: AbortSignal.timeout(5000),
      });
      (await accepted).close();
      c.close();
      return true;
    } catch {
      return false;
    }
  })();
  return warmed;
}

async function connectOnce(
  hostname: string,
  port: number,
  timeoutMs: number,
  stop?: AbortSignal,
): Promise<Deno.TcpConn> {
  const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
  const signal = timeout && stop ? AbortSignal.any([timeout, stop]) : timeout ?? stop;
  return await Deno.connect({ hostname, port, signal });
}

/**
 * Resolves and connects to `to`, trying each address in turn; for https, then the TLS handshake
 * (a failed handshake is not retried on the next address: the certificate would be the same).
 * @throws {ClientError} connect (3), timeout (8), tls (9), with host, port and what to try.
 */
export async function openConnection(
  to: Location,
  options: { timeoutMs: number; tls?: TlsTrust; signal?: AbortSignal },
): Promise<Connected> {
  const where = hostPort(to.host, to.port);
  // Never a permission prompt (a redirect may lead to an origin not checked at start).
  checkNet(to);
  const t0 = performance.now();
  const stop = options.signal;
  // node:dns needs network access to the name itself (any port): with --allow-net=NAME:PORT
  // only, it would prompt; the connect then goes by name and the runtime resolves it.
  const addresses = !isAddress(to.host) && !lookupGranted(to.host)
    ? [to.host]
    : stop === undefined
    ? await resolveHost(to.host, options.timeoutMs)
    : await new Promise<string[]>((resolve, reject) => {
      // --max-time / Ctrl-C: stop waiting for the resolver (its thread finishes on its own).
      const abort = () => reject(stop.reason);
      if (stop.aborted) return abort();
      stop.addEventListener("abort", abort, { once: true });
      resolveHost(to.host, options.timeoutMs).then(resolve, reject).finally(() =>
        stop.removeEventListener("abort", abort)
      );
    });
  const lookupMs = performance.now() - t0;
  const warm = await warmUpConnect();
  let last: unknown = null;
  for (const address of addresses) {
    const t1 = performance.now();
    const trust = options.tls ?? { cacertFile: null, insecure: false };
    // --allow-net=NAME allows the name, not its address: asking for the address would prompt
    // on a terminal, so the connect goes by name at once.
    const byName = !isAddress(to.host) &&
      (address === to.host || !netGranted(address, to.port));
    if (to.secure && trust.insecure) {
      try {
        const r = await connectInsecure(byName ? to.host : address, to, trust, {
          timeoutMs: options.timeoutMs,
          signal: stop,
        });
        return {
          conn: r.conn,
          addrs: r.conn,
          source: new TimedSource(r.conn, originKey(to)),
          address,
          lookupMs,
          connectMs: r.connectMs,
          connectedBy: "address",
          tls: r.info,
          warmed: false, // node:net's connect path is not the one warmUpConnect warms
        };
      } catch (e) {
        if (stop?.aborted) throw stop.reason;
        if (e instanceof ClientError && e.code !== EXIT.connect) throw e;
        last = e;
        continue;
      }
    }
    try {
      let conn: Deno.TcpConn;
      let connectedBy: Connected["connectedBy"] = "address";
      if (byName) {
        conn = await connectOnce(to.host, to.port, options.timeoutMs, stop);
        connectedBy = "name";
      } else {
        try {
          conn = await connectOnce(address, to.port, options.timeoutMs, stop);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotCapable) || isAddress(to.host)) throw e;
          conn = await connectOnce(to.host, to.port, options.timeoutMs, stop);
          connectedBy = "name";
        }
      }
      const connectMs = performance.now() - t1;
      conn.setNoDelay(true);
      const peer = conn.remoteAddr.hostname;
      let tls: TlsInfo | null = null;
      let stream: Deno.Conn = conn;
      if (to.secure) {
        const r = await startClientTls(conn, to, trust, {
          timeoutMs: options.timeoutMs,
          signal: stop,
        });
        stream = r.conn;
        tls = r.info;
      }
      return {
        conn: stream,
        addrs: conn,
        source: new TimedSource(stream, originKey(to)),
        address: connectedBy === "name" ? peer : address,
        lookupMs,
        connectMs,
        connectedBy,
        tls,
        warmed: warm,
      };
    } catch (e) {
      if (stop?.aborted) throw stop.reason; // --max-time or Ctrl-C, in the connect or handshake
      if (e instanceof ClientError) throw e; // the TLS handshake's verdict
      const perm = permissionError(e, where);
      if (perm !== null) throw perm;
      last = e;
    }
  }
  if (last instanceof ClientError) {
    // tls_connect's refused connect: retried per this origin's history, as below.
    throw last.transient === "refused"
      ? new ClientError(last.code, last.message, { transient: refusedTransient(originKey(to)) })
      : last;
  }
  if (
    last instanceof DOMException && (last.name === "TimeoutError" || last.name === "AbortError")
  ) {
    throw new ClientError(
      EXIT.timeout,
      `connecting to ${where} timed out after ${options.timeoutMs / 1000}s; ` +
        `check that the server is up and reachable, or raise --timeout`,
      { transient: "timeout" },
    );
  }
  const refused = last instanceof Deno.errors.ConnectionRefused;
  throw new ClientError(
    EXIT.connect,
    `cannot connect to ${where}${addresses.length > 1 ? ` (${addresses.join(", ")})` : ""}: ${
      refused ? "connection refused" : reasonOf(last)
    }; check that the server is running and the port is right`,
    { transient: refused ? refusedTransient(originKey(to)) : "connect" },
  );
}
