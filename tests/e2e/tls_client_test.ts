/**
 * End to end: `client.ts` over https against nginx with TLS and against `server.ts` with TLS,
 * the same certificate (made by openssl): with --cacert, without (exit 9 and why), with -k
 * (and its warning), a name mismatch and an expired certificate (exit 9 each), resume (-c) over
 * TLS, an http -> https redirect followed, https -> http refused (exit 5) unless
 * --allow-downgrade, and credentials never sent to another origin after a redirect (not even
 * from http to https of the same host).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CLIENT, pattern, runCli, sha256 } from "../client/cli.ts";
import { freePort, havePeer, peerPath, waitForPort } from "../client/peers.ts";
import { startServer } from "./raw.ts";
import { makeCert } from "./tls_certs.ts";

const DATA = pattern(2 * 1024 * 1024 + 3, 21);
const SUM = sha256(DATA);

/** nginx with a TLS server (and a plain one) from `conf` lines, one process, no daemon. */
async function startNginx(prefix: string, servers: string) {
  const conf = join(prefix, "nginx.conf");
  await Deno.writeTextFile(
    conf,
    `daemon off; master_process off; worker_processes 1;
pid ${prefix}/nginx.pid; error_log ${prefix}/err.log;
events {}
http {
  log_format auth '$server_port $request_uri auth=[$http_authorization]';
  access_log ${prefix}/access.log auth;
  ${servers}
}
`,
  );
  const child = new Deno.Command(peerPath("nginx")!, {
    args: ["-c", conf, "-p", prefix, "-e", join(prefix, "err.log")],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return {
    child,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.output();
    },
  };
}

/** Makes an expired self-signed certificate (2020-01-01..02) with `openssl ca -selfsign`. */
async function expiredCert(dir: string): Promise<{ certFile: string; keyFile: string }> {
  const ca = join(dir, "ca");
  await Deno.mkdir(ca);
  await Deno.writeTextFile(
    join(ca, "ca.cnf"),
    "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n" +
      "default_md=sha256\npolicy=p\ncopy_extensions=copy\nunique_subject=no\n[p]\ncommonName=supplied\n",
  );
  await Deno.writeTextFile(join(ca, "index.txt"), "");
  await Deno.writeTextFile(join(ca, "serial"), "01\n");
  const sh = (args: string[]) =>
    new Deno.Command("openssl", { args, cwd: ca, stdout: "null", stderr: "null" }).output();
  await sh([
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "exp.key",
    "-out",
    "exp.csr",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-addext",
    "basicConstraints=critical,CA:FALSE",
  ]);
  const r = await sh([
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-selfsign",
    "-keyfile",
    "exp.key",
    "-in",
    "exp.csr",
    "-out",
    "exp.pem",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200102000000Z",
  ]);
  assert.ok(r.success, "openssl ca failed");
  return { certFile: join(ca, "exp.pem"), keyFile: join(ca, "exp.key") };
}

Deno.test("client.ts over https against nginx and server.ts with the same certificate: --cacert, none (exit 9), -k, name mismatch, expired, resume", async (t) => {
  if (!havePeer("openssl") || !havePeer("nginx")) return;
  const dir = await Deno.makeTempDir({ prefix: "ferry-tlsc-" });
  const root = join(dir, "root");
  await Deno.mkdir(root);
  await Deno.writeFile(join(root, "data.bin"), DATA);
  const cert = await makeCert(dir);
  const other = await makeCert(dir, "other", ["example.test"]);
  const exp = await expiredCert(dir);
  const nginxPort = freePort();
  const otherPort = freePort();
  const expPort = freePort();
  const prefix = join(dir, "nginx");
  await Deno.mkdir(prefix);
  const nginx = await startNginx(
    prefix,
    `server { listen 127.0.0.1:${nginxPort} ssl; ssl_certificate ${cert.certFile};
      ssl_certificate_key ${cert.keyFile}; root ${root}; }
    server { listen 127.0.0.1:${otherPort} ssl; ssl_certificate ${other.certFile};
      ssl_certificate_key ${other.keyFile}; root ${root}; }
    server { listen 127.0.0.1:${expPort} ssl; ssl_certificate ${exp.certFile};
      ssl_certificate_key ${exp.keyFile}; root ${root}; }`,
  );
  const ferry = await startServer(root, [
    "--tls-cert",
    cert.certFile,
    "--tls-key",
    cert.keyFile,
    "--log",
    "none",
  ]);
  try {
    await waitForPort(nginxPort);
    for (
      const [name, base] of [
        ["nginx", `https://127.0.0.1:${nginxPort}/`],
        ["server.ts", ferry.url],
      ]
    ) {
      await t.step(`${name}: --cacert saves identical bytes; the block shows TLS`, async () => {
        const out = join(dir, `out-${name}-ca`);
        const r = await runCli(["--cacert", cert.certFile, `${base}data.bin`, out]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(sha256(await Deno.readFile(join(out, "data.bin"))), SUM);
        // Compact: the TLS handshake beside the TCP one, and the TLS row of the block.
        assert.match(r.stdout, /TCP handshake [\d.]+ ms \(≈ 1 RTT[^)]*\), TLS handshake [\d.]+ ms/);
        assert.match(r.stdout, /TLS {9}ALPN http\/1\.1, handshake [\d.]+ ms, verified \(--cacert /);
        const v = await runCli(["-v", "-f", "--cacert", cert.certFile, `${base}data.bin`, out]);
        assert.equal(v.code, 0, v.stderr);
        assert.match(v.stdout, /TCP handshake [\d.]+ ms, TLS handshake [\d.]+ ms\)/);
        const j = await runCli(["--json", "-f", "--cacert", cert.certFile, `${base}data.bin`, out]);
        const report = JSON.parse(j.stdout);
        assert.equal(report.connection.tls.alpn, "http/1.1");
        assert.ok(report.timingsMs.tlsHandshake > 0);
        assert.ok(report.timingsMs.tcpConnect > 0);
      });
      await t.step(`${name}: without the CA, exit 9 naming the unknown issuer`, async () => {
        const out = join(dir, `out-${name}-none`);
        const r = await runCli([`${base}data.bin`, out]);
        assert.equal(r.code, 9, r.stderr);
        assert.match(r.stderr, /unknown issuer.*--cacert FILE/);
        assert.equal(r.stderr.trim().split("\n").length, 1);
      });
      await t.step(`${name}: -k saves it with a warning`, async () => {
        const out = join(dir, `out-${name}-k`);
        const r = await runCli(["-k", `${base}data.bin`, out]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /warning: -k\/--insecure: the server's certificate is not verified/);
        assert.match(r.stdout, /NOT verified \(--insecure\)/);
        assert.equal(sha256(await Deno.readFile(join(out, "data.bin"))), SUM);
      });
      await t.step(`${name}: -c resumes a .part over TLS`, async () => {
        const out = join(dir, `out-${name}-c`);
        await Deno.mkdir(out);
        await Deno.writeFile(join(out, "data.bin.part"), DATA.subarray(0, 1_000_000));
        const r = await runCli(["-v", "-c", "--cacert", cert.certFile, `${base}data.bin`, out]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /resume {6}appended/);
        assert.equal(sha256(await Deno.readFile(join(out, "data.bin"))), SUM);
      });
    }
    await t.step("a certificate for another name: exit 9, name mismatch", async () => {
      const r = await runCli([
        "--cacert",
        other.certFile,
        `https://127.0.0.1:${otherPort}/data.bin`,
        join(dir, "out-name"),
      ]);
      assert.equal(r.code, 9, r.stderr);
      assert.match(r.stderr, /not valid for the name "127\.0\.0\.1".*use a host name/);
    });
    await t.step("an expired certificate: exit 9, expired", async () => {
      const r = await runCli([
        "--cacert",
        exp.certFile,
        `https://localhost:${expPort}/data.bin`,
        join(dir, "out-exp"),
      ]);
      assert.equal(r.code, 9, r.stderr);
      assert.match(r.stderr, /expired/);
    });
    await t.step("https to a plain-HTTP port: exit 9, try http://", async () => {
      const plain = await startServer(root, ["--log", "none"]);
      try {
        const r = await runCli([`https://127.0.0.1:${plain.port}/data.bin`, join(dir, "o-p")]);
        assert.equal(r.code, 9, r.stderr);
        assert.match(r.stderr, /try an http:\/\/ URL/);
      } finally {
        await plain.stop();
      }
    });
  } finally {
    await ferry.stop();
    await nginx.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client.ts redirects: http -> https followed, https -> http refused unless --allow-downgrade, credentials kept from other origins (http and https are two)", async (t) => {
  if (!havePeer("openssl") || !havePeer("nginx")) return;
  const dir = await Deno.makeTempDir({ prefix: "ferry-tlsr-" });
  const root = join(dir, "root");
  await Deno.mkdir(root);
  await Deno.writeFile(join(root, "data.bin"), DATA);
  const cert = await makeCert(dir);
  const tlsPort = freePort();
  const plainPort = freePort();
  const otherPort = freePort();
  const prefix = join(dir, "nginx");
  await Deno.mkdir(prefix);
  const nginx = await startNginx(
    prefix,
    `server { listen 127.0.0.1:${tlsPort} ssl; ssl_certificate ${cert.certFile};
      ssl_certificate_key ${cert.keyFile}; root ${root};
      location = /down { return 302 http://127.0.0.1:${plainPort}/data.bin; }
      location = /away { return 302 https://localhost:${otherPort}/data.bin; } }
    server { listen 127.0.0.1:${plainPort}; root ${root};
      location = /up { return 301 https://127.0.0.1:${tlsPort}/data.bin; } }
    server { listen 127.0.0.1:${otherPort} ssl; ssl_certificate ${cert.certFile};
      ssl_certificate_key ${cert.keyFile}; root ${root}; }`,
  );
  const ca = ["--cacert", cert.certFile];
  try {
    await waitForPort(tlsPort);
    await waitForPort(otherPort);
    await t.step(
      "http -> https of the same host is followed; credentials stay with http",
      async () => {
        const out = join(dir, "o1");
        const r = await runCli([
          "-v",
          ...ca,
          "-u",
          "ann:pw1",
          `http://127.0.0.1:${plainPort}/up`,
          out,
          "-o",
          "data.bin",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(sha256(await Deno.readFile(join(out, "data.bin"))), SUM);
        assert.match(r.stdout, /Authorization: Basic \*\*\*/);
        assert.doesNotMatch(r.stdout + r.stderr, /pw1|YW5uOnB3MQ/);
        // http and https are two origins: the https request went without the credentials.
        let log = "";
        for (let i = 0; i < 40 && !log.includes(`${tlsPort} /data.bin`); i++) {
          await new Promise((res) => setTimeout(res, 50));
          log = await Deno.readTextFile(join(prefix, "access.log")).catch(() => "");
        }
        assert.ok(log.includes(`${plainPort} /up auth=[Basic ${btoa("ann:pw1")}]`), log);
        assert.ok(log.includes(`${tlsPort} /data.bin auth=[-]`), log);
      },
    );
    await t.step("https -> http is refused (exit 5) unless --allow-downgrade", async () => {
      const url = `https://127.0.0.1:${tlsPort}/down`;
      let r = await runCli([...ca, url, join(dir, "o2"), "-o", "data.bin"]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /refusing the redirect from https.*--allow-downgrade/);
      r = await runCli([...ca, "--allow-downgrade", url, join(dir, "o3"), "-o", "data.bin"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(sha256(await Deno.readFile(join(dir, "o3", "data.bin"))), SUM);
    });
    await t.step("credentials are not sent to another origin after a redirect", async () => {
      const r = await runCli([
        ...ca,
        `https://bob:pw2@127.0.0.1:${tlsPort}/away`,
        join(dir, "o4"),
        "-o",
        "data.bin",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /pw2/);
      // nginx's access log: the first origin got them, the second did not.
      let log = "";
      for (let i = 0; i < 40 && !log.includes(`${otherPort} /data.bin`); i++) {
        await new Promise((res) => setTimeout(res, 50));
        log = await Deno.readTextFile(join(prefix, "access.log")).catch(() => "");
      }
      const bob = `Basic ${btoa("bob:pw2")}`;
      assert.ok(log.includes(`${tlsPort} /away auth=[${bob}]`), log);
      assert.ok(log.includes(`${otherPort} /data.bin auth=[-]`), log);
      assert.ok(!log.includes(`${otherPort} /data.bin auth=[Basic`), log);
    });
  } finally {
    await nginx.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client.ts: --max-time and Ctrl-C end a stalled TLS handshake (verified and -k), not --timeout", async (t) => {
  // A server that accepts and never answers the ClientHello.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  let accepted = 0;
  const accepting = (async () => {
    try {
      for await (const c of listener) {
        held.push(c);
        accepted++;
      }
    } catch { /* closed */ }
  })();
  const dir = await Deno.makeTempDir({ prefix: "ferry-tls-stall-" });
  const url = `https://127.0.0.1:${port}/f.bin`;
  // --timeout 120 would end it much later: the test's own bound (30 s) kills the client first.
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLIENT, "--timeout", "120", ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    });
  try {
    for (const mode of [[], ["-k"]]) {
      await t.step(`--max-time 1 ${mode.join(" ")}`, async () => {
        const r = await run([...mode, "--max-time", "1", url, join(dir, "a")]).output();
        const err = new TextDecoder().decode(r.stderr);
        assert.equal(r.code, 8, err);
        assert.match(err, /--max-time 1 s reached/);
      });
      await t.step(`Ctrl-C ${mode.join(" ")}`, async () => {
        const before = accepted;
        const child = run([...mode, url, join(dir, "b")]).spawn();
        for (let i = 0; i < 200 && accepted === before; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        await new Promise((r) => setTimeout(r, 200)); // into the handshake
        child.kill("SIGINT");
        const r = await child.output();
        const err = new TextDecoder().decode(r.stderr);
        assert.equal(r.code, 130, err);
        assert.match(err, /interrupted/);
      });
    }
  } finally {
    listener.close();
    for (const c of held) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await accepting;
    await Deno.remove(dir, { recursive: true });
  }
});
