/**
 * The client's TLS: the handshake on a connected socket (`Deno.startTls`, so that the TCP
 * connect and the TLS handshake are timed apart, as curl's time_connect / time_appconnect),
 * trust from the system's roots or `--cacert FILE`, and failures turned into exit 9 with what
 * was wrong (unknown issuer, name mismatch, expired) and what to try.
 *
 * `-k/--insecure`: `Deno.connectTls` / `Deno.startTls` cannot skip verification (the runtime
 * offers only the process-wide `--unsafely-ignore-certificate-errors` flag). The runtime's
 * Node-compatible `node:tls` does offer `rejectUnauthorized: false`, so an insecure connection
 * is made with it and wrapped in the few methods of `Deno.Conn` the client uses
 * (lib/net/node_tls_conn.ts).
 *
 * @module
 */

import * as nodeNet from "node:net";
import * as nodeTls from "node:tls";
import { ALPN_PROTOCOLS, type TlsInfo } from "../net/tls.ts";
import { NodeTlsConn, underNodeSocket } from "../net/node_tls_conn.ts";
import { ClientError, EXIT, reasonOf } from "./errors.ts";
import { hostPort, type Location } from "./names.ts";

/** How the server's certificate is checked. */
export interface TlsTrust {
  /** PEM certificates trusted instead of the system's roots (--cacert), or undefined. */
  caCerts?: string[];
  /** The --cacert file, for messages. */
  cacertFile: string | null;
  /** Skip verification (-k). */
  insecure: boolean;
}

/**
 * Reads a `--cacert` file: one or more PEM certificates.
 * @throws {ClientError} usage (2) when it cannot be read or holds no certificate.
 */
export async function readCaFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ClientError(EXIT.usage, `--cacert ${file}: cannot read it: ${reasonOf(e)}`);
  }
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (certs === null) {
    throw new ClientError(EXIT.usage, `--cacert ${file}: no PEM certificate in it`);
  }
  return certs;
}

/** The --cacert files read so far: read once per run, whatever the number of connections. */
const caFiles = new Map<string, Promise<string[]>>();

/**
 * The trust of a run's options (`--cacert FILE`, `-k`), the file read once.
 * @throws {ClientError} usage (2) when the --cacert file cannot be read or holds no certificate.
 */
export async function tlsTrust(
  o: { cacert?: string | null; insecure?: boolean },
): Promise<TlsTrust> {
  const file = o.cacert ?? null;
  let certs: Promise<string[]> | undefined;
  if (file !== null) {
    certs = caFiles.get(file);
    if (certs === undefined) {
      certs = readCaFile(file);
      caFiles.set(file, certs);
      certs.catch(() => caFiles.delete(file));
    }
  }
  return {
    caCerts: certs ? await certs : undefined,
    cacertFile: file,
    insecure: o.insecure ?? false,
  };
}

function verification(trust: TlsTrust): string {
  return trust.insecure
    ? "NOT verified (--insecure)"
    : trust.cacertFile !== null
    ? `verified (--cacert ${trust.cacertFile})`
    : "verified (system roots)";
}

/** A TLS failure as exit 9 (or 8 for a timeout), with the cause in words and what to try. */
export function tlsError(e: unknown, to: Location, trust: TlsTrust): ClientError {
  if (e instanceof ClientError) return e;
  const where = hostPort(to.host, to.port);
  const msg = reasonOf(e);
  let what: string;
  let hint: string;
  if (/UnknownIssuer|self.signed|unable to get local issuer/i.test(msg)) {
    what = "the certificate is signed by an unknown issuer (self-signed, or a private CA)";
    hint = trust.cacertFile !== null
      ? `${trust.cacertFile} does not contain the server's certificate or its CA`
      : "pass --cacert FILE with the server's certificate or its CA (or -k to skip " +
        "verification, unsafe)";
  } else if (/not valid for name|NotValidForName|hostname|altnames/i.test(msg)) {
    what = `the certificate is not valid for the name "${to.host}" (${
      /only valid for (.*)$/.exec(msg)?.[1] ?? msg
    })`;
    hint = "use a host name the certificate was issued for";
  } else if (/expired|not valid after|NotValidYet|not valid before/i.test(msg)) {
    what = `the certificate has expired or is not yet valid (${msg})`;
    hint = "renew the server's certificate, or check this machine's clock";
  } else if (/CaUsedAsEndEntity/i.test(msg)) {
    what = "the server presents a CA certificate as its own (CaUsedAsEndEntity)";
    hint = "the server needs an end-entity certificate (CA:FALSE)";
  } else if (
    /corrupt message|InvalidContentType|wrong version|unexpected end of file|eof/i.test(msg)
  ) {
    what = `the server did not answer in TLS (${msg})`;
    hint = "it may speak plain HTTP on this port: try an http:// URL";
  } else {
    what = msg;
    hint = "check that the server speaks TLS on this port";
  }
  return new ClientError(EXIT.tls, `TLS handshake with ${where} failed: ${what}; ${hint}`);
}

function timeoutError(to: Location, ms: number): ClientError {
  return new ClientError(
    EXIT.timeout,
    `TLS handshake with ${hostPort(to.host, to.port)} timed out after ${ms / 1000}s; check ` +
      `that the server speaks TLS on this port, or raise --timeout`,
    { transient: "timeout" },
  );
}

/** The bounds of one handshake: the per-phase timeout, and the run's stop signal (`--max-time`,
 * Ctrl-C), which ends a handshake in progress with the signal's reason. */
export interface HandshakeLimits {
  /** ms; 0 for none. */
  timeoutMs: number;
  /** Aborted when the run stops. */
  signal?: AbortSignal;
}

/**
 * Runs the TLS handshake over a connected socket: SNI and verification for `to.host`, ALPN
 * http/1.1.
 * @throws {ClientError} tls (9) or timeout (8).
 */
export async function startClientTls(
  tcp: Deno.TcpConn,
  to: Location,
  trust: TlsTrust,
  limits: HandshakeLimits,
): Promise<{ conn: Deno.TlsConn; info: TlsInfo }> {
  const { timeoutMs, signal } = limits;
  const t0 = performance.now();
  // A TlsConn made by startTls does not carry the addresses: callers keep the TCP conn's.
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.startTls(tcp, {
      hostname: to.host,
      caCerts: trust.caCerts,
      alpnProtocols: ALPN_PROTOCOLS,
    });
  } catch (e) {
    tcp.close();
    throw tlsError(e, to, trust);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ended: unknown = null; // the timeout's or the stop's error, when one of them ended it
  let onAbort: (() => void) | undefined;
  try {
    const hs = await Promise.race([
      conn.handshake(),
      new Promise<never>((_, reject) => {
        const end = (e: unknown) => {
          ended = e;
          reject(e);
        };
        if (timeoutMs > 0) timer = setTimeout(() => end(timeoutError(to, timeoutMs)), timeoutMs);
        if (signal !== undefined) {
          onAbort = () => end(signal.reason);
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort, { once: true });
        }
      }),
    ]);
    return {
      conn,
      info: {
        alpn: hs.alpnProtocol,
        handshakeMs: performance.now() - t0,
        verification: verification(trust),
      },
    };
  } catch (e) {
    try {
      conn.close();
    } catch { /* closed */ }
    throw ended !== null ? ended : tlsError(e, to, trust);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Connects with TLS and no certificate verification (`-k`), through `node:tls`; the TCP connect
 * and the handshake are timed apart from the socket's events.
 * @throws {ClientError} connect (3), tls (9) or timeout (8).
 */
export function connectInsecure(
  address: string,
  to: Location,
  trust: TlsTrust,
  limits: HandshakeLimits,
): Promise<{ conn: Deno.Conn; connectMs: number; info: TlsInfo }> {
  const { timeoutMs, signal } = limits;
  const t0 = performance.now();
  let tcpAt = 0;
  const servername = to.host.includes(":") || /^[\d.]+$/.test(to.host) ? undefined : to.host;
  return new Promise((resolve, reject) => {
    let sock: nodeTls.TLSSocket | undefined;
    const raw = nodeNet.connect({ host: address, port: to.port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (e: unknown) => {
      settle();
      (sock ?? raw).destroy();
      raw.destroy();
      reject(e);
    };
    // --max-time / Ctrl-C: the connect or the handshake in progress ends now.
    const onAbort = () => fail(signal!.reason);
    if (signal?.aborted) return fail(signal.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        fail(
          tcpAt === 0
            ? new ClientError(
              EXIT.timeout,
              `connecting to ${hostPort(to.host, to.port)} timed out after ${timeoutMs / 1000}s; ` +
                `check that the server is up and reachable, or raise --timeout`,
              { transient: "timeout" },
            )
            : timeoutError(to, timeoutMs),
        );
      }, timeoutMs);
    }
    raw.once("error", (e: Error) => {
      if (sock !== undefined) return; // the TLS socket reports it
      const refused = (e as { code?: string }).code === "ECONNREFUSED";
      fail(
        new ClientError(
          EXIT.connect,
          `cannot connect to ${hostPort(to.host, to.port)}: ${
            refused ? "connection refused" : reasonOf(e)
          }; check that the server is running and the port is right`,
          { transient: refused ? "refused" : "connect" },
        ),
      );
    });
    raw.once("connect", () => {
      tcpAt = performance.now();
      raw.setNoDelay(true);
      const s = nodeTls.connect({
        socket: raw,
        servername,
        rejectUnauthorized: false,
        ALPNProtocols: ALPN_PROTOCOLS,
      });
      sock = s;
      s.once("error", (e: Error) => fail(tlsError(e, to, trust)));
      s.once("secureConnect", () => {
        settle();
        const done = performance.now();
        const conn = new NodeTlsConn(s, underNodeSocket(raw), true);
        resolve({
          conn: conn as unknown as Deno.Conn,
          connectMs: tcpAt - t0,
          info: {
            alpn: typeof s.alpnProtocol === "string" ? s.alpnProtocol : null,
            handshakeMs: done - tcpAt,
            verification: verification(trust),
          },
        });
      });
    });
  });
}
