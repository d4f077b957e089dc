/**
 * End to end: TLS together with the load-balancer features — a PROXY header in clear, then the
 * TLS handshake on the same connection (raw sockets with `Deno.startTls`, and curl through the
 * real HAProxy with `send-proxy-v2`, in TCP passthrough and with HAProxy's own `ssl` to the
 * server); the health path answered without credentials while files and listings need them;
 * and the start-up permission checks for the TLS files and `--tls-self-signed`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { SERVER_TS, startServer } from "./raw.ts";
import { makeCert } from "./tls_certs.ts";
import { freePort, PROXY_SOURCE, startHaproxy } from "./haproxy.ts";
import { havePeer } from "./peers.ts";
import { PROXY_V2_SIGNATURE } from "../../lib/net/proxy_protocol.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Every exchange here ends within this. */
const EXCHANGE_MS = 10_000;

function v2Header(src: number[], sport: number, dst: number[], dport: number): Uint8Array {
  return Uint8Array.from([
    ...PROXY_V2_SIGNATURE,
    0x21, // v2, PROXY
    0x11, // TCP over IPv4
    0,
    12,
    ...src,
    ...dst,
    sport >> 8,
    sport & 0xff,
    dport >> 8,
    dport & 0xff,
  ]);
}

/** Connects, writes `preamble` in clear, then runs a TLS handshake trusting `ca` and sends
 * `request`; resolves to every byte read until the server closes. */
async function proxiedTls(
  port: number,
  preamble: Uint8Array,
  request: string,
  ca: string,
): Promise<Uint8Array> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => {
    try {
      tcp.close();
    } catch { /* closed */ }
  }, EXCHANGE_MS);
  try {
    for (let p = preamble; p.length > 0;) p = p.subarray(await tcp.write(p));
    const tls = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [ca] });
    const hs = await tls.handshake();
    assert.equal(hs.alpnProtocol, null); // the client offered none
    await tls.write(enc.encode(request));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await tls.read(buf);
      } catch (e) {
        if (e instanceof Deno.errors.UnexpectedEof) break; // closed without close_notify
        throw e;
      }
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    try {
      tls.close();
    } catch { /* closed */ }
    return new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
  } finally {
    clearTimeout(timer);
  }
}

async function logLine(s: { stdout(): string }, re: RegExp, ms = 3_000): Promise<void> {
  const until = Date.now() + ms;
  while (!re.test(s.stdout())) {
    if (Date.now() > until) throw new Error(`no log line ${re} in:\n${s.stdout()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function fixture() {
  const dir = await Deno.makeTempDir({ prefix: "ferry-tls-proxy-" });
  const root = join(dir, "root");
  await Deno.mkdir(root);
  await Deno.writeTextFile(join(root, "a.txt"), "hello\n");
  // Larger than the runtime's buffers and TLS records: flow control through the node:tls path.
  const big = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;
  await Deno.writeFile(join(root, "big.bin"), big);
  const cert = await makeCert(dir);
  return { dir, root, cert, bigSum: sha256(big), bigLength: big.length };
}

Deno.test("--proxy-protocol with TLS: the PROXY v2 header in clear, then the handshake on the same connection", async () => {
  if (!havePeer("openssl")) return;
  const f = await fixture();
  const s = await startServer(f.root, [
    "--tls-cert",
    f.cert.certFile,
    "--tls-key",
    f.cert.keyFile,
    "--proxy-protocol",
    "--trusted-proxy",
    "127.0.0.1",
    "--head-timeout",
    "1",
  ]);
  try {
    assert.match(s.url, /^https:\/\//);
    const hdr = v2Header([198, 51, 100, 7], 4242, [127, 0, 0, 1], 443);
    // Two requests on one connection (keep-alive over the node:tls path), then a large file.
    const two = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const bytes = await proxiedTls(s.port, hdr, two, f.cert.cert);
    const text = dec.decode(bytes.subarray(0, 400));
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(text.includes("\r\n\r\nhello\nHTTP/1.1 200 OK\r\n"), text);
    const second = bytes.indexOf(0x0a, text.indexOf("hello\nHTTP")) + 1; // after "hello\n"
    const rest = bytes.subarray(second);
    const headEnd = dec.decode(rest.subarray(0, 1000)).indexOf("\r\n\r\n") + 4;
    const body = rest.subarray(headEnd);
    assert.equal(body.length, f.bigLength);
    assert.equal(sha256(body), f.bigSum);
    // The client the header named, with the proxy beside it, and the TLS fields.
    await logLine(s, /#1 connect .*peer=198\.51\.100\.7:4242 proxy=127\.0\.0\.1:\d+ .*tls=yes/);
    await logLine(
      s,
      /#1 198\.51\.100\.7:4242 via 127\.0\.0\.1:\d+ "GET \/big\.bin HTTP\/1\.1" 200/,
    );

    // A v1 header works the same way.
    const v1 = await proxiedTls(
      s.port,
      enc.encode("PROXY TCP4 192.0.2.9 127.0.0.1 5555 443\r\n"),
      "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      f.cert.cert,
    );
    assert.match(dec.decode(v1), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello\n$/);
    await logLine(s, /192\.0\.2\.9:5555 via 127\.0\.0\.1:\d+ "GET \/a\.txt/);

    // A header, then no handshake: closed at the head timeout (1 s here), logged as such.
    const stall = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    await stall.write(v2Header([192, 0, 2, 77], 7777, [127, 0, 0, 1], 443));
    const bound = setTimeout(() => stall.close(), EXCHANGE_MS);
    const got = await stall.read(new Uint8Array(100)).catch(() => -1);
    clearTimeout(bound);
    assert.equal(got, null, "closed by the server, before the test's bound");
    stall.close();
    await logLine(s, /close .*192\.0\.2\.77:7777 .*reason=head timeout/);

    // No header: closed without a response, as without TLS.
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    await tcp.write(enc.encode("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
    const buf = new Uint8Array(100);
    const n = await tcp.read(buf).catch(() => null);
    assert.equal(n, null);
    tcp.close();
  } finally {
    await s.stop();
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("--auth with --health-path: the health path answers without credentials; files and listings need them", async () => {
  if (!havePeer("openssl")) return;
  const f = await fixture();
  const s = await startServer(f.root, [
    "--tls-cert",
    f.cert.certFile,
    "--tls-key",
    f.cert.keyFile,
    "--proxy-protocol",
    "--trusted-proxy",
    "127.0.0.1",
    "--auth",
    "ann:pw",
    "--health-path",
    "/healthz",
  ]);
  const ask = async (path: string, auth?: string) => {
    const bytes = await proxiedTls(
      s.port,
      v2Header([203, 0, 113, 5], 777, [127, 0, 0, 1], 443),
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
        (auth ? `Authorization: Basic ${btoa(auth)}\r\n` : "") + "\r\n",
      f.cert.cert,
    );
    const text = dec.decode(bytes);
    return { status: Number(text.slice(9, 12)), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  };
  try {
    const health = await ask("/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.body, "ok\n");
    assert.equal((await ask("/healthz?x=1")).status, 200);
    for (const path of ["/a.txt", "/", "/?format=json", "/big.bin", "/nothing-here"]) {
      assert.equal((await ask(path)).status, 401, path);
      assert.equal((await ask(path, "ann:wrong")).status, 401, path);
    }
    const ok = await ask("/a.txt", "ann:pw");
    assert.equal(ok.status, 200);
    assert.equal(ok.body, "hello\n");
    assert.equal((await ask("/", "ann:pw")).status, 200);
    await logLine(
      s,
      /203\.0\.113\.5:777 via 127\.0\.0\.1:\d+ "GET \/a\.txt HTTP\/1\.1" 200 6 .*user="ann"/,
    );
  } finally {
    await s.stop();
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("HAProxy send-proxy-v2 in front of TLS: curl https through TCP passthrough, and HAProxy's own ssl to the server", async () => {
  if (!havePeer("openssl") || !havePeer("haproxy") || !havePeer("curl")) return;
  const f = await fixture();
  const s = await startServer(f.root, [
    "--tls-cert",
    f.cert.certFile,
    "--tls-key",
    f.cert.keyFile,
    "--proxy-protocol",
    "--trusted-proxy",
    PROXY_SOURCE,
    "--health-path",
    "/healthz",
  ]);
  const passthrough = freePort();
  const terminating = freePort();
  // Passthrough: the client's TLS goes through untouched, after HAProxy's PROXY header.
  // Re-encrypting: HAProxy speaks TLS to the server itself (`ssl verify none`), after the header.
  const config = `global
    maxconn 64

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s

frontend pass
    bind 127.0.0.1:${passthrough}
    default_backend ferry_pass

frontend plain
    bind 127.0.0.1:${terminating}
    default_backend ferry_ssl

backend ferry_pass
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host ferry
    http-check expect status 200
    server ferry 127.0.0.1:${s.port} source ${PROXY_SOURCE} send-proxy-v2 check check-ssl verify none inter 300ms

backend ferry_ssl
    server ferry 127.0.0.1:${s.port} source ${PROXY_SOURCE} send-proxy-v2 ssl verify none
`;
  const haproxy = await startHaproxy(f.dir, config, passthrough);
  try {
    const curl = async (args: string[]) => {
      const r = await new Deno.Command("curl", {
        args: ["-sS", "--max-time", "20", ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: r.code, out: r.stdout, err: dec.decode(r.stderr) };
    };
    const a = await curl([
      "--cacert",
      f.cert.certFile,
      `https://localhost:${passthrough}/big.bin`,
    ]);
    assert.equal(a.code, 0, a.err);
    assert.equal(sha256(a.out), f.bigSum);
    const b = await curl([`http://127.0.0.1:${terminating}/a.txt`]);
    assert.equal(b.code, 0, b.err);
    assert.equal(dec.decode(b.out), "hello\n");
    // The log names the client (curl, 127.0.0.1) with the proxy (HAProxy, from 127.0.0.2).
    await logLine(s, /127\.0\.0\.1:\d+ via 127\.0\.0\.2:\d+ "GET \/big\.bin HTTP\/1\.1" 200/);
    await logLine(s, /127\.0\.0\.1:\d+ via 127\.0\.0\.2:\d+ "GET \/a\.txt HTTP\/1\.1" 200/);
    // HAProxy's health check over TLS after the header reached the health path.
    await logLine(s, /"GET \/healthz HTTP\/1\.1" 200/, 5_000);
  } finally {
    await haproxy.stop();
    await s.stop();
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("server.ts TLS permissions are checked at start: one line, exit 1, no prompt", async (t) => {
  if (!havePeer("openssl")) return;
  const script = ["/usr/bin/script", "/bin/script"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  const f = await fixture();
  // On a pseudo-terminal (script(1)) where Deno would prompt, when there is one; stdin stays
  // /dev/null, so a prompt would fail or hang rather than be answered. `timeout` bounds it.
  const run = async (args: string[]) => {
    const deno = [Deno.execPath(), "run", ...args];
    const out = script !== undefined
      ? await new Deno.Command(script, {
        args: ["-qec", `timeout 20 ${deno.join(" ")}`, "/dev/null"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output()
      : await new Deno.Command(deno[0], {
        args: deno.slice(1),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
  };
  const base = ["--allow-net", `--allow-read=${f.root},${join(SERVER_TS, "..")}`];
  try {
    await t.step("--tls-cert outside --allow-read", async () => {
      const r = await run([
        ...base,
        SERVER_TS,
        "--tls-cert",
        f.cert.certFile,
        "--tls-key",
        f.cert.keyFile,
        "0",
        f.root,
      ]);
      assert.equal(r.code, 1, r.text);
      assert.match(r.text, /permission denied: reading --tls-cert .*needs --allow-read/);
      assert.doesNotMatch(r.text, /Allow\?|Deno requests|Granted|┏/);
    });
    await t.step("--tls-self-signed without --allow-run=openssl", async () => {
      const r = await run([...base, SERVER_TS, "--tls-self-signed", "0", f.root]);
      assert.equal(r.code, 1, r.text);
      assert.match(
        r.text,
        /--tls-self-signed runs the openssl program: it needs --allow-run=openssl/,
      );
      assert.doesNotMatch(r.text, /Allow\?|Deno requests|Granted|┏/);
    });
    await t.step("--tls-self-signed without write access to the temporary directory", async () => {
      const r = await run([
        ...base,
        "--allow-run=openssl",
        SERVER_TS,
        "--tls-self-signed",
        "0",
        f.root,
      ]);
      assert.equal(r.code, 1, r.text);
      assert.match(r.text, /--tls-self-signed writes its certificate to a new directory in \/tmp/);
      assert.doesNotMatch(r.text, /Allow\?|Deno requests|Granted|┏/);
    });
    await t.step("with the permissions given, it starts (https)", async () => {
      const tmp = join(f.dir, "tmp");
      await Deno.mkdir(tmp);
      const perms = [
        "--allow-net",
        `--allow-read=${f.root},${join(SERVER_TS, "..")},${tmp}`,
        "--allow-run=openssl",
        "--allow-env=TMPDIR",
        `--allow-write=${tmp}`,
      ];
      const s = await startServer(f.root, [], {
        launch: {
          cmd: "env",
          args: [
            `TMPDIR=${tmp}`,
            Deno.execPath(),
            "run",
            ...perms,
            SERVER_TS,
            "--tls-self-signed",
            "0",
            f.root,
          ],
        },
      });
      try {
        assert.match(s.url, /^https:/);
        assert.match(s.stdout(), new RegExp(`TLS self-signed certificate ${tmp}/ferry-tls-`));
      } finally {
        await s.stop();
      }
    });
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});
