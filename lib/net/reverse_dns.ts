/**
 * Reverse lookups of peer addresses, for the connection log: PTR queries sent by Ferry itself
 * over UDP to the first nameserver of /etc/resolv.conf, cached per address, each bounded in
 * time, at most {@linkcode REVERSE_MAX_IN_FLIGHT} at once (more are dropped: the log line then
 * has no name). Callers get a promise that always resolves (to null on failure, timeout or
 * drop), so a slow resolver can delay a log line but never a response.
 *
 * Why not `node:dns` `lookupService`: it calls getnameinfo(3) on one of the runtime's blocking
 * threads — the pool file I/O runs on — and holds it for the resolver's whole timeout: 64
 * addresses with an unanswered PTR stalled every uncached request for 20 s. A UDP socket is
 * event-driven I/O: no thread waits on it.
 *
 * Not done: TCP fallback for truncated answers, more than one nameserver, /etc/hosts. A name
 * that cannot be had this way is logged as none. The query id is random and the answer must
 * come from the nameserver and repeat the question, but the source port is one per server: the
 * name is only ever logged (escaped), never trusted.
 *
 * @example
 * ```ts ignore
 * import { ReverseDns } from "./reverse_dns.ts";
 * const dns = new ReverseDns();
 * console.log(await dns.lookup("127.0.0.1"));
 * dns.close();
 * ```
 * @module
 */

import { createSocket, type Socket } from "node:dgram";
import { decodePtrResponse, encodePtrQuery, ptrName } from "./dns_wire.ts";

/** Longest wait for one reverse lookup; a resolver that is slower gets "unknown". */
export const REVERSE_LOOKUP_TIMEOUT_MS = 1000;
/** Most addresses remembered; the oldest is forgotten first. Bounds memory under a flood of
 * distinct peers. */
export const REVERSE_CACHE_ENTRIES = 4096;
/** How long an answer (or a failure) is remembered. */
export const REVERSE_CACHE_TTL_MS = 5 * 60 * 1000;
/** Queries outstanding at once; more are dropped (not queued) so that a flood of new addresses
 * against a resolver that does not answer costs a fixed amount. */
export const REVERSE_MAX_IN_FLIGHT = 64;
/** The environment variable that names the nameserver (`HOST:PORT` or `HOST`), instead of
 * /etc/resolv.conf. */
export const NAMESERVER_ENV = "FERRY_DNS_SERVER";
const DNS_PORT = 53;
const RESOLV_CONF = "/etc/resolv.conf";

/** Where queries go. */
export interface Nameserver {
  host: string;
  port: number;
}

/** Options of a {@linkcode ReverseDns}. */
export interface ReverseDnsOptions {
  /** @default REVERSE_LOOKUP_TIMEOUT_MS */
  timeoutMs?: number;
  /** @default REVERSE_MAX_IN_FLIGHT */
  maxInFlight?: number;
  /** @default $FERRY_DNS_SERVER, else the first nameserver of /etc/resolv.conf */
  nameserver?: Nameserver | null;
}

/** `HOST:PORT`, `[V6]:PORT` or a bare host (port 53). */
export function parseNameserver(text: string): Nameserver | null {
  const t = text.trim();
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(t) ?? /^([^:]+)(?::(\d+))?$/.exec(t);
  if (m !== null) return { host: m[1], port: m[2] === undefined ? DNS_PORT : Number(m[2]) };
  if (t.includes(":")) return { host: t, port: DNS_PORT }; // a bare IPv6 address
  return null;
}

/** The nameserver to ask: `$FERRY_DNS_SERVER`, else the first `nameserver` line of
 * /etc/resolv.conf; null when neither can be read. */
export function systemNameserver(): Nameserver | null {
  // Asked first so that a missing permission never turns into a prompt.
  const granted = (d: Deno.PermissionDescriptor) => {
    try {
      return Deno.permissions.querySync(d).state === "granted";
    } catch {
      return false;
    }
  };
  if (granted({ name: "env", variable: NAMESERVER_ENV })) {
    const env = Deno.env.get(NAMESERVER_ENV);
    if (env !== undefined && env !== "") return parseNameserver(env);
  }
  if (!granted({ name: "read", path: RESOLV_CONF })) return null;
  try {
    const conf = Deno.readTextFileSync(RESOLV_CONF);
    const m = /^\s*nameserver\s+(\S+)/m.exec(conf);
    return m === null ? null : { host: m[1].replace(/%.*$/, ""), port: DNS_PORT };
  } catch {
    return null;
  }
}

interface Pending {
  name: string;
  resolve(v: string | null): void;
  timer: ReturnType<typeof setTimeout>;
}

/** A bounded, caching reverse resolver on its own UDP socket. */
export class ReverseDns {
  #cache = new Map<string, { at: number; name: Promise<string | null> }>();
  #timeoutMs: number;
  #maxInFlight: number;
  #server: Nameserver | null;
  #socket: Socket | null = null;
  #pending = new Map<number, Pending>();
  #closed = false;
  /** Lookups dropped because {@linkcode REVERSE_MAX_IN_FLIGHT} were outstanding. */
  dropped = 0;
  /** Queries sent. */
  sent = 0;

  constructor(options: ReverseDnsOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? REVERSE_LOOKUP_TIMEOUT_MS;
    this.#maxInFlight = options.maxInFlight ?? REVERSE_MAX_IN_FLIGHT;
    this.#server = options.nameserver === undefined ? systemNameserver() : options.nameserver;
  }

  /** Queries outstanding now. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** The host name of `address`, or null when it has none, the lookup took too long, or too
   * many were outstanding. Never rejects. */
  lookup(address: string): Promise<string | null> {
    const now = Date.now();
    const hit = this.#cache.get(address);
    if (hit !== undefined && now - hit.at < REVERSE_CACHE_TTL_MS) return hit.name;
    const qname = ptrName(address);
    if (qname === null || this.#server === null || this.#closed) return Promise.resolve(null);
    if (this.#pending.size >= this.#maxInFlight) {
      this.dropped++;
      return Promise.resolve(null); // not cached: a later connection may try again
    }
    if (this.#cache.size >= REVERSE_CACHE_ENTRIES) {
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
    const name = this.#query(qname);
    this.#cache.set(address, { at: now, name });
    return name;
  }

  #query(qname: string): Promise<string | null> {
    const socket = this.#open();
    if (socket === null) return Promise.resolve(null);
    let id = 0;
    for (let i = 0; i < 8; i++) { // a free id among 65,536 with ≤ maxInFlight taken
      id = crypto.getRandomValues(new Uint16Array(1))[0];
      if (!this.#pending.has(id)) break;
    }
    if (this.#pending.has(id)) return Promise.resolve(null);
    const { promise, resolve } = Promise.withResolvers<string | null>();
    const timer = setTimeout(() => this.#settle(id, null), this.#timeoutMs);
    this.#pending.set(id, { name: qname, resolve, timer });
    this.sent++;
    try {
      socket.send(encodePtrQuery(id, qname), this.#server!.port, this.#server!.host, (err) => {
        if (err) this.#settle(id, null);
      });
    } catch {
      this.#settle(id, null);
    }
    return promise;
  }

  #settle(id: number, name: string | null): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(name);
  }

  #open(): Socket | null {
    if (this.#socket !== null) return this.#socket;
    try {
      const server = this.#server!;
      const socket = createSocket(server.host.includes(":") ? "udp6" : "udp4");
      socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
        if (rinfo.port !== server.port || !sameHost(rinfo.address, server.host)) return;
        if (msg.length < 2) return;
        const id = (msg[0] << 8) | msg[1];
        const p = this.#pending.get(id);
        if (p === undefined) return;
        const name = decodePtrResponse(msg, id, p.name);
        if (name !== undefined) this.#settle(id, name);
      });
      socket.on("error", () => {});
      this.#socket = socket;
      return socket;
    } catch {
      this.#server = null;
      return null;
    }
  }

  /** Settles every outstanding lookup (to null) and closes the socket. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, null);
    try {
      this.#socket?.close();
    } catch { /* closed */ }
    this.#socket = null;
  }
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => h.toLowerCase().replace(/^::ffff:/, "");
  return norm(a) === norm(b);
}
