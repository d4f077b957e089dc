import assert from "node:assert/strict";
import {
  fingerprintOf,
  loadTlsFiles,
  selfSignedNames,
  subjectAltName,
  TlsFileError,
} from "../../lib/net/tls.ts";
import { makeCert, opensslFingerprint } from "../e2e/tls_certs.ts";
import { havePeer } from "../e2e/peers.ts";

Deno.test("selfSignedNames() covers the bound address and loopback names, interfaces on a wildcard", () => {
  const cases: Array<[string, string[], string[]]> = [
    ["127.0.0.1", [], ["127.0.0.1", "localhost", "::1"]],
    ["192.168.1.5", [], ["192.168.1.5", "localhost", "127.0.0.1", "::1"]],
    ["0.0.0.0", ["10.0.0.2", "127.0.0.1"], ["localhost", "127.0.0.1", "::1", "10.0.0.2"]],
    ["::", ["fe80::1%eth0"], ["localhost", "127.0.0.1", "::1", "fe80::1"]],
  ];
  for (const [host, extra, want] of cases) assert.deepEqual(selfSignedNames(host, extra), want);
  assert.equal(
    subjectAltName(["localhost", "127.0.0.1", "::1"]),
    "DNS:localhost,IP:127.0.0.1,IP:::1",
  );
});

Deno.test("loadTlsFiles() accepts a good pair and names the file of an expired or not-yet-valid certificate", async () => {
  if (!havePeer("openssl")) return;
  const dir = await Deno.makeTempDir({ prefix: "ferry-tls-unit-" });
  try {
    const c = await makeCert(dir);
    const m = await loadTlsFiles(c.certFile, c.keyFile);
    assert.equal(m.fingerprint, await opensslFingerprint(c.certFile));
    assert.equal(fingerprintOf(c.cert), m.fingerprint);
    const later = new Date(Date.now() + 10 * 86_400_000);
    await assert.rejects(
      () => loadTlsFiles(c.certFile, c.keyFile, later),
      (e) => e instanceof TlsFileError && /server\.pem expired on \d{4}-/.test(e.message),
    );
    const earlier = new Date(Date.now() - 10 * 86_400_000);
    await assert.rejects(
      () => loadTlsFiles(c.certFile, c.keyFile, earlier),
      (e) => e instanceof TlsFileError && /server\.pem is not valid before/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
