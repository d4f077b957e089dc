/**
 * Test certificates made by the `openssl` program: a self-signed end-entity certificate for
 * the loopback names (its own trust anchor, as a server's self-signed certificate is), with the
 * base64 SHA-256 of its public key for Chromium's `--ignore-certificate-errors-spki-list`.
 *
 * @module
 */

import { join } from "node:path";

/** A certificate and key on disk. */
export interface TestCert {
  certFile: string;
  keyFile: string;
  /** PEM text of the certificate. */
  cert: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo (Chromium's SPKI pin format). */
  spki: string;
}

async function openssl(args: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const p = new Deno.Command("openssl", {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = p.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await p.output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/** Makes `name`.pem / `name`.key in `dir` for `names` (default localhost, 127.0.0.1, ::1). */
export async function makeCert(
  dir: string,
  name = "server",
  names = ["localhost", "127.0.0.1", "::1"],
): Promise<TestCert> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "2",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-subj",
    `/CN=${names[0]}`,
    "-addext",
    `subjectAltName=${san}`,
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "extendedKeyUsage=serverAuth",
  ]);
  const pub = await openssl(["x509", "-in", certFile, "-pubkey", "-noout"]);
  const der = await openssl(["pkey", "-pubin", "-outform", "der"], pub);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der as BufferSource));
  return {
    certFile,
    keyFile,
    cert: await Deno.readTextFile(certFile),
    spki: btoa(String.fromCharCode(...digest)),
  };
}

/** `openssl x509 -fingerprint -sha256` of `certFile`: `AB:CD:…`. */
export async function opensslFingerprint(certFile: string): Promise<string> {
  const out = new TextDecoder().decode(
    await openssl(["x509", "-in", certFile, "-noout", "-fingerprint", "-sha256"]),
  );
  return out.trim().split("=")[1];
}
