/**
 * TLS material for both sides: loading and checking a PEM certificate and key before the
 * server listens (so that a bad file is one clear line at start, not a handshake failure per
 * client), generating a self-signed end-entity certificate with the `openssl` program, the
 * SHA-256 fingerprint people compare, and the TLS fields of a connection's parameters.
 *
 * What the runtime exposes about a TLS connection is the negotiated ALPN protocol
 * (`Deno.TlsConn.handshake()`): the protocol version, the cipher suite, the SNI name the client
 * sent and the peer's certificate are not exposed, and so are never reported.
 *
 * @example
 * ```ts ignore
 * import { loadTlsFiles } from "./tls.ts";
 * const { cert, key, fingerprint } = await loadTlsFiles("cert.pem", "key.pem");
 * const listener = Deno.listenTls({ port: 8443, cert, key, alpnProtocols: ["http/1.1"] });
 * ```
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";

/** The only application protocol Ferry speaks, offered and accepted by ALPN (RFC 7301). */
export const ALPN_PROTOCOLS = ["http/1.1"];
/** Validity of a generated self-signed certificate: long enough for a sharing session, short
 * enough that a forgotten one does not stay trusted for years. */
export const SELF_SIGNED_DAYS = 30;
/** How long `openssl` may take to make a key and a certificate (it takes ~20 ms). */
const OPENSSL_TIMEOUT_MS = 20_000;

/** A certificate and key, checked, as PEM text. */
export interface TlsMaterial {
  /** PEM certificate chain (leaf first). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** SHA-256 fingerprint of the leaf certificate, `AB:CD:…` as `openssl x509 -fingerprint`. */
  fingerprint: string;
  /** The leaf's notAfter. */
  validTo: Date;
}

/** A certificate or key that cannot be used: `message` names the file and the problem. */
export class TlsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TlsFileError";
  }
}

/** What the TLS handshake of one connection gave: the fields the runtime exposes. */
export interface TlsInfo {
  /** The negotiated ALPN protocol, or null when none was agreed. */
  alpn: string | null;
  /** Handshake time in ms (client: after the TCP connect; server: from accept). */
  handshakeMs: number;
  /** Client side: how the server's certificate was checked — "verified (system roots)",
   * "verified (--cacert FILE)" or "NOT verified (--insecure)"; null on the server. */
  verification: string | null;
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
      ? "permission denied"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a directory"
      : (e as Error).message.split("\n")[0];
    throw new TlsFileError(`cannot read ${what} ${file}: ${why}`);
  }
}

/**
 * Reads and checks a certificate and its key: both PEM, the key matching the certificate, the
 * certificate valid now and not a CA certificate (a CA used as a server's own certificate is
 * refused by rustls-based clients, Deno's included: `CaUsedAsEndEntity`).
 * @throws {TlsFileError} naming the file and the problem.
 */
export async function loadTlsFiles(
  certFile: string,
  keyFile: string,
  now = new Date(),
): Promise<TlsMaterial> {
  const cert = await readPem(certFile, "certificate");
  const key = await readPem(keyFile, "key");
  if (!cert.includes("-----BEGIN CERTIFICATE-----")) {
    throw new TlsFileError(`certificate ${certFile} holds no PEM certificate`);
  }
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch (e) {
    throw new TlsFileError(
      `certificate ${certFile} cannot be parsed: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  let pk;
  try {
    pk = createPrivateKey(key);
  } catch {
    throw new TlsFileError(`key ${keyFile} holds no PEM private key`);
  }
  if (!x.checkPrivateKey(pk)) {
    throw new TlsFileError(`key ${keyFile} does not match certificate ${certFile}`);
  }
  const validTo = new Date(x.validTo);
  const validFrom = new Date(x.validFrom);
  if (validTo.getTime() < now.getTime()) {
    throw new TlsFileError(`certificate ${certFile} expired on ${validTo.toISOString()}`);
  }
  if (validFrom.getTime() > now.getTime()) {
    throw new TlsFileError(
      `certificate ${certFile} is not valid before ${validFrom.toISOString()}`,
    );
  }
  if (x.ca) {
    throw new TlsFileError(
      `certificate ${certFile} is a CA certificate (CA:TRUE); clients refuse it as a ` +
        `server's own (CaUsedAsEndEntity): use an end-entity certificate (CA:FALSE)`,
    );
  }
  // The runtime's own check catches what node:crypto lets through (an unsupported key type);
  // only where it may listen without a prompt (else the real listener reports it).
  const mayListen = Deno.permissions.querySync({ name: "net", host: "127.0.0.1:0" }).state ===
    "granted";
  try {
    if (mayListen) Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key }).close();
  } catch (e) {
    throw new TlsFileError(
      `certificate ${certFile} / key ${keyFile} rejected by the TLS stack: ${
        (e as Error).message.split("\n")[0]
      }`,
    );
  }
  return { cert, key, fingerprint: x.fingerprint256, validTo };
}

/** The SHA-256 fingerprint of the first certificate in `pem`, `AB:CD:…`. */
export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * The names a self-signed certificate covers: the bound address (unless a wildcard),
 * `localhost`, 127.0.0.1, ::1, and the extra addresses given (the interfaces, when bound to a
 * wildcard). Duplicates removed, order kept.
 */
export function selfSignedNames(host: string, extra: string[] = []): string[] {
  const names = ["localhost", "127.0.0.1", "::1"];
  if (host !== "0.0.0.0" && host !== "::") names.unshift(host);
  for (const a of extra) names.push(a.split("%")[0]);
  return [...new Set(names)];
}

/** `DNS:name` or `IP:addr` entries for subjectAltName. */
export function subjectAltName(names: string[]): string {
  return names.map((n) =>
    n.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(n) ? `IP:${n}` : `DNS:${n}`
  ).join(",");
}

/**
 * Generates an ECDSA P-256 key and a self-signed end-entity certificate (CA:FALSE,
 * keyUsage digitalSignature, extendedKeyUsage serverAuth) for `names` with the `openssl`
 * program, writing `cert.pem` and `key.pem` (mode 0600) into `dir`. Runs as a child process:
 * nothing of it blocks this process's threads.
 * @throws {TlsFileError} when openssl is missing or fails, saying what to do instead.
 */
export async function generateSelfSigned(
  dir: string,
  names: string[],
): Promise<{ certFile: string; keyFile: string; material: TlsMaterial }> {
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  const args = [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-sha256",
    "-nodes",
    "-days",
    String(SELF_SIGNED_DAYS),
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-subj",
    `/CN=${names[0]}/O=Ferry self-signed`,
    "-addext",
    `subjectAltName=${subjectAltName(names)}`,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "keyUsage=critical,digitalSignature",
    "-addext",
    "extendedKeyUsage=serverAuth",
  ];
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("openssl", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(OPENSSL_TIMEOUT_MS),
    }).output();
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "the openssl program is not installed (apt-get install openssl)"
      : e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied
      ? "running openssl was not allowed (run deno with --allow-run=openssl, or -A)"
      : (e as Error).message.split("\n")[0];
    throw new TlsFileError(
      `--tls-self-signed: ${why}; or make a certificate yourself and pass --tls-cert/--tls-key`,
    );
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    throw new TlsFileError(`--tls-self-signed: openssl failed: ${err.slice(0, 300)}`);
  }
  await Deno.chmod(keyFile, 0o600).catch(() => {});
  return { certFile, keyFile, material: await loadTlsFiles(certFile, keyFile) };
}

/**
 * Runs the server side of the handshake on an accepted connection and returns what it gave.
 * A stalled handshake is ended from outside (the caller closes the connection at its
 * deadline, which rejects the handshake).
 */
export async function serverHandshake(conn: Deno.TlsConn, startedAt: number): Promise<TlsInfo> {
  const hs = await conn.handshake();
  return { alpn: hs.alpnProtocol, handshakeMs: performance.now() - startedAt, verification: null };
}

/** A handshake failure in a few words for a log: what the runtime said, with the usual causes
 * named (plain HTTP sent to the TLS port; a client that does not trust the certificate). */
export function handshakeFailure(e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  if (/InvalidContentType|corrupt message|not a TLS|HTTP request/i.test(msg)) {
    return "TLS handshake failed: plain HTTP sent to the TLS port";
  }
  if (/UnknownCA|BadCertificate|CertificateUnknown|alert/i.test(msg)) {
    return `TLS handshake failed: the client refused the certificate (${msg.slice(0, 120)})`;
  }
  return `TLS handshake failed: ${msg.slice(0, 160)}`;
}
