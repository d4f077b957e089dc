/**
 * TLS at start-up: the certificate and key from files, or a self-signed certificate made for
 * this run (`--tls-self-signed`) in a directory removed when the server stops.
 *
 * @module
 */

import { DEFAULTS, type ServerOptions } from "./listen.ts";
import { tempDirectory } from "./permissions.ts";
import { generateSelfSigned, loadTlsFiles, selfSignedNames, TlsFileError } from "../net/tls.ts";
import type { TlsSource } from "./args.ts";

/** The machine's interface addresses (for a certificate when bound to a wildcard). */
function interfaceAddresses(host: string): string[] {
  if (host !== "0.0.0.0" && host !== "::") return [];
  // Only when allowed: asking for it here would prompt (see lib/server/permissions.ts).
  if (Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state !== "granted") {
    return []; // no --allow-sys: the loopback names will do
  }
  try {
    return Deno.networkInterfaces()
      .filter((i) => host === "::" || i.family === "IPv4")
      .map((i) => i.address);
  } catch {
    return []; // no --allow-sys: the loopback names will do
  }
}

/** The directory of a --tls-self-signed certificate: removed when the server stops (the key
 * dies with the process; the next start makes a new one). */
let selfSignedDir: string | null = null;

/** Removes the --tls-self-signed certificate's directory, if one was made. */
export async function removeSelfSigned(): Promise<void> {
  if (selfSignedDir === null) return;
  await Deno.remove(selfSignedDir, { recursive: true }).catch(() => {});
  selfSignedDir = null;
}

/**
 * Loads or makes the TLS certificate into `options.tls`; returns the lines to print (the
 * self-signed certificate's path and fingerprint).
 * @throws {TlsFileError} naming the file and the problem.
 */
export async function prepareTls(
  options: ServerOptions,
  source: TlsSource,
  tempDir = tempDirectory(),
): Promise<string[]> {
  if (source === null) return [];
  if (source !== "self-signed") {
    const m = await loadTlsFiles(source.certFile, source.keyFile);
    options.tls = { cert: m.cert, key: m.key };
    return [`TLS certificate ${source.certFile} (SHA-256 ${m.fingerprint})`];
  }
  const host = options.host ?? DEFAULTS.host;
  let dir: string;
  try {
    // In the directory whose permission was checked at start (lib/server/permissions.ts).
    dir = await Deno.makeTempDir({ dir: tempDir, prefix: "ferry-tls-" });
  } catch (e) {
    throw new TlsFileError(
      `--tls-self-signed: cannot make a directory for the certificate: ${
        (e as Error).message.split("\n")[0]
      } (run deno with --allow-write, or -A)`,
    );
  }
  selfSignedDir = dir;
  const names = selfSignedNames(host, interfaceAddresses(host));
  let made: Awaited<ReturnType<typeof generateSelfSigned>>;
  try {
    made = await generateSelfSigned(dir, names);
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    selfSignedDir = null;
    throw e;
  }
  const { certFile, material } = made;
  options.tls = { cert: material.cert, key: material.key };
  return [
    `TLS self-signed certificate ${certFile} for ${names.join(", ")}`,
    `  SHA-256 fingerprint ${material.fingerprint}`,
    `  trust it with: curl --cacert ${certFile}, client.ts --cacert ${certFile}`,
  ];
}
