/**
 * End to end: `client.ts` as a subprocess — where files go (never outside DIR, never over an
 * existing file without --force), local failures, usage errors, least-privilege permissions,
 * IPv6, RTT probes, and the shape of the text and JSON output.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, listDir, runCli, tempDir } from "../client/cli.ts";
import { ok, reply, startFake } from "./fake_server.ts";

Deno.test("an existing target is left untouched without --force and replaced with it", async () => {
  await using dir = await tempDir();
  await using srv = startFake(reply(ok("new")));
  const target = join(dir.path, "f.bin");
  await Deno.writeTextFile(target, "old");
  const r = await runCli(["127.0.0.1", String(srv.port), "f.bin", dir.path]);
  assert.equal(r.code, 6, r.stderr);
  assert.match(r.stderr, /already exists and was left untouched; use --force/);
  assert.equal(srv.requests.length, 0, "refused before any request");
  assert.equal(Deno.readTextFileSync(target), "old");
  const f = await runCli(["-f", "-q", "127.0.0.1", String(srv.port), "f.bin", dir.path]);
  assert.equal(f.code, 0, f.stderr);
  assert.equal(Deno.readTextFileSync(target), "new");
  assert.deepEqual(listDir(dir.path), ["f.bin"]);
});

Deno.test("a DIR that cannot be a directory gives exit 6 (works as root too)", async () => {
  await using dir = await tempDir();
  await using srv = startFake(reply(ok("x")));
  const file = join(dir.path, "regular");
  await Deno.writeTextFile(file, "I am a file");
  for (const bad of [join(file, "sub"), file]) {
    const r = await runCli(["127.0.0.1", String(srv.port), "f.bin", bad]);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /cannot create directory .*regular/);
  }
  assert.equal(Deno.readTextFileSync(file), "I am a file");
});

Deno.test("names never leave DIR: traversal is neutralised, unsafe names refused (exit 2)", async (t) => {
  await using tmp = await tempDir();
  await using srv = startFake(async (c, req) => {
    if (req.startsWith("GET /hop ")) {
      await c.write(
        "HTTP/1.1 302 Found\r\nLocation: /../../../evil.txt\r\nContent-Length: 0\r\n\r\n",
      );
    } else {
      await c.write(ok("data", ['Content-Disposition: attachment; filename="../../evil.txt"']));
    }
  });
  const dir = join(tmp.path, "a", "b");
  const port = String(srv.port);
  const saved: Array<[string[], string, RegExp]> = [
    [["../../x.txt"], "x.txt", /^GET \/x\.txt /],
    [["/abs/../../y.txt"], "y.txt", /^GET \/y\.txt /],
    [["sub/"], "index.html", /^GET \/sub\/ /],
    [["a/.."], "index.html", /^GET \/ /],
    [["hop"], "hop", /^GET \/evil\.txt /], // a redirect never renames
  ];
  for (const [file, name, wire] of saved) {
    await t.step(`FILE ${JSON.stringify(file[0])} saves DIR/${name}`, async () => {
      const before = srv.requests.length;
      const r = await runCli(["-q", "-f", "127.0.0.1", port, ...file, dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(exists(join(dir, name)));
      assert.match(srv.requests[srv.requests.length - 1], wire);
      assert.ok(srv.requests.length > before);
    });
  }
  const refused: string[][] = [
    ["-o", "../x", "127.0.0.1", port, "f", dir],
    ["-o", "/etc/x", "127.0.0.1", port, "f", dir],
    ["-o", "a\\b", "127.0.0.1", port, "f", dir],
    ["-o", "..", "127.0.0.1", port, "f", dir],
    ["-o", "", "127.0.0.1", port, "f", dir],
    ["127.0.0.1", port, "..\\..\\x", dir],
    ["127.0.0.1", port, "a\x01b", dir],
    [`${srv.origin}/a%2F..%2Fb`, dir],
    [`${srv.origin}/x%00y`, dir],
    [`${srv.origin}/%5C..%5Cz`, dir],
  ];
  for (const args of refused) {
    await t.step(`refuses ${JSON.stringify(args.slice(0, 2))}`, async () => {
      const before = srv.requests.length;
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /refusing to save as .*-o NAME/);
      assert.equal(srv.requests.length, before, "nothing asked of the server");
    });
  }
  assert.deepEqual(listDir(tmp.path), ["a"]);
  assert.deepEqual(listDir(join(tmp.path, "a")), ["b"]);
  assert.deepEqual(listDir(dir), ["hop", "index.html", "x.txt", "y.txt"]);
});

Deno.test("a symlink planted at NAME.part is replaced, never written through", async () => {
  await using tmp = await tempDir();
  await using srv = startFake(reply(ok("payload")));
  const outside = join(tmp.path, "outside.txt");
  await Deno.writeTextFile(outside, "precious");
  const dir = join(tmp.path, "d");
  await Deno.mkdir(dir);
  await Deno.symlink(outside, join(dir, "f.bin.part"));
  const r = await runCli(["-q", "127.0.0.1", String(srv.port), "f.bin", dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(Deno.readTextFileSync(outside), "precious");
  assert.equal(Deno.readTextFileSync(join(dir, "f.bin")), "payload");
  // With -c, a symlinked part is refused rather than appended through.
  await Deno.symlink(outside, join(dir, "g.bin.part"));
  const c = await runCli(["-c", "127.0.0.1", String(srv.port), "g.bin", dir]);
  assert.equal(c.code, 6, c.stderr);
  assert.equal(Deno.readTextFileSync(outside), "precious");
});

Deno.test("cannot connect or resolve: exit 3 with host and port", async () => {
  await using dir = await tempDir();
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const r = await runCli(["--retry", "0", "127.0.0.1", String(port), "f.bin", dir.path]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: connection refused`),
  );
  const n = await runCli(["no-such-host.invalid", "80", "f.bin", dir.path]);
  assert.equal(n.code, 3, n.stderr);
  assert.match(n.stderr, /cannot resolve host no-such-host\.invalid/);
  assert.deepEqual(listDir(dir.path), []);
});

Deno.test("usage errors: exit 2 with one line", async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing arguments/],
    [["h", "p", "f"], /expected HOST PORT FILE DIR or URL\.\.\. \[DIR\], got 3/],
    [["127.0.0.1", "http", "f", "d"], /PORT must be a number from 1 to 65535/],
    [["127.0.0.1", "70000", "f", "d"], /PORT must be a number/],
    [["bad host", "80", "f", "d"], /is not a host name/],
    [["ftp://example.com/x"], /ftp: URLs are not supported/],
    [["ftp://example.com/x"], /ftp: URLs are not supported/],
    [["--bogus", "http://h/x"], /unknown option "--bogus"/],
    [["--timeout", "soon", "http://h/x"], /--timeout must be seconds/],
    [["--max-redirects=-1", "http://h/x"], /--max-redirects must be an integer/],
    [["--max-redirects", "-1", "http://h/x"], /--max-redirects needs a value/],
    [["--sha256", "abc", "http://h/x"], /--sha256 must be 64 hex digits/],
    [["--max-size", "lots", "http://h/x"], /--max-size must be a byte count/],
  ];
  for (const [args, re] of cases) {
    await t.step(JSON.stringify(args), async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      // One line, then at most one hint; never the parser's own text.
      const lines = r.stderr.trim().split("\n");
      assert.ok(lines.length <= 2, r.stderr);
      if (lines.length === 2) assert.match(lines[1], /^ {2}hint: /);
      assert.doesNotMatch(r.stderr, /To specify a positional|Option '/);
    });
  }
});

Deno.test("--help lists every option with its default and the exit codes; --version", async () => {
  const r = await runCli(["--help"]);
  assert.equal(r.code, 0);
  for (
    const opt of [
      "--output",
      "--force",
      "--continue",
      "--timeout SECONDS",
      "(default 30)",
      "--max-redirects N",
      "(default 5)",
      "--rtt-probes N",
      "(default 0",
      "--max-size BYTES",
      "--sha256 HEX",
      "--json",
      "--quiet",
      "--no-progress",
      "--version",
    ]
  ) assert.ok(r.stdout.includes(opt), opt);
  // Right-aligned under each other, 130 included.
  for (const code of [0, 2, 3, 4, 5, 6, 7, 8, 130]) {
    assert.match(r.stdout, new RegExp(`^ {${5 - String(code).length}}${code}  \\w`, "m"));
  }
  const v = await runCli(["--version"]);
  assert.match(v.stdout, /^ferry client \d+\.\d+\.\d+\n$/);
});

Deno.test("least privilege: --allow-net --allow-read=DIR --allow-write=DIR is enough", async () => {
  await using dir = await tempDir();
  await using srv = startFake(reply(ok("lp")));
  const args = ["127.0.0.1", String(srv.port), "f.bin", dir.path];
  const rw = [`--allow-read=${dir.path}`, `--allow-write=${dir.path}`];
  const good = await runCli(["-q", ...args], { permissions: ["--allow-net=127.0.0.1", ...rw] });
  assert.equal(good.code, 0, good.stderr);
  assert.equal(Deno.readTextFileSync(join(dir.path, "f.bin")), "lp");

  const noWrite = await runCli(["-f", ...args], {
    permissions: ["--allow-net", `--allow-read=${dir.path}`],
  });
  assert.equal(noWrite.code, 6, noWrite.stderr);
  assert.match(noWrite.stderr, /permission denied: .*run deno with --allow-write=DIR/);
  assert.equal(noWrite.stderr.trim().split("\n").length, 1);

  const noNet = await runCli(["-f", ...args], { permissions: rw });
  assert.equal(noNet.code, 3, noNet.stderr);
  assert.match(noNet.stderr, /permission denied: network access .*--allow-net/);
});

Deno.test("IPv6: [::1] in the URL form and ::1 as HOST", async () => {
  let srv;
  try {
    srv = startFake(reply(ok("six")), { hostname: "::1" });
  } catch {
    console.log("  (skipped: no IPv6 loopback here)");
    return;
  }
  await using _srv = srv;
  await using dir = await tempDir();
  const r = await runCli(["--json", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.connection.family, "AF_INET6");
  assert.equal(j.connection.peer, `[::1]:${srv.port}`);
  assert.match(srv.requests[0], new RegExp(`\\r\\nHost: \\[::1\\]:${srv.port}\\r\\n`));
  const h = await runCli(["-q", "-f", "::1", String(srv.port), "f.bin", dir.path]);
  assert.equal(h.code, 0, h.stderr);
});

/** A server that keeps the connection open for HEAD and closes after GET, as Ferry does. */
async function keepAliveHead(c: import("./fake_server.ts").FakeConn, first: string) {
  let req: string | null = first;
  for (let i = 0; i < 50 && req !== null; i++) {
    if (req.startsWith("HEAD ")) {
      await c.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    } else {
      await c.write(ok("hello"));
      return;
    }
    req = await c.readRequest();
  }
}

Deno.test("--rtt-probes: HEAD on the same connection, or handshakes when the server closes", async () => {
  await using dir = await tempDir();
  await using keep = startFake(keepAliveHead);
  const a = await runCli(["--json", "--rtt-probes", "4", `${keep.origin}/f.bin`, dir.path]);
  assert.equal(a.code, 0, a.stderr);
  const ja = JSON.parse(a.stdout);
  assert.equal(ja.rtt.probes.method, "head");
  assert.equal(ja.rtt.probes.count, 4);
  assert.equal(ja.rtt.probes.samplesMs.length, 4);
  assert.equal(ja.connections, 1);
  assert.equal(keep.requests.filter((r) => r.startsWith("HEAD ")).length, 5, "4 + warm-up");
  assert.match(keep.requests[0], /\r\nConnection: keep-alive\r\n/);
  const p = ja.rtt.probes;
  assert.ok(p.minMs <= p.avgMs && p.avgMs <= p.maxMs && p.mdevMs >= 0);

  await using close = startFake(reply(ok("hello")));
  const b = await runCli(["--rtt-probes", "3", "-f", `${close.origin}/f.bin`, dir.path]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(
    b.stdout,
    /3 probes \(fresh TCP handshakes: the server closes after each response\)/,
  );
  assert.match(b.stdout, /min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms/);
});

Deno.test("text output shows connection, request, response, timings; --json has every field", async () => {
  await using dir = await tempDir();
  await using srv = startFake(reply(ok("hi", ["X-Evil: a\x1b[2Jb"])));
  const t = await runCli(["-v", "localhost", String(srv.port), "f.bin", dir.path]);
  assert.equal(t.code, 0, t.stderr);
  for (
    const re of [
      /host name +localhost, resolved 127\.0\.0\.1/,
      /peer name +127\.0\.0\.1:\d+/,
      /local name +127\.0\.0\.1:\d+/,
      /family +AF_INET\n/,
      /socket type SOCK_STREAM/,
      /protocol +TCP \(IPPROTO_TCP = 6\)/,
      /timeouts +connect=30s read=30s/,
      /^> GET \/f\.bin HTTP\/1\.1$/m,
      /^< HTTP\/1\.1 200 OK$/m,
      /^< X-Evil: a\\x1b\[2Jb$/m,
      /timings +name lookup [\d.]+ ms, TCP connect [\d.]+ ms, request → first byte [\d.]+ ms, transfer [\d.]+ ms, total [\d.]+ ms/,
      /rtt +TCP handshake [\d.]+ ms/,
      /sha256 +- \(not computed: nothing to check it against; --digest computes it\)/,
      /verified +no \(the server sent no/,
      /throughput +[\d.]+ \w?B\/s/,
    ]
  ) assert.match(t.stdout, re);
  assert.ok(!t.stdout.includes("\x1b"), "no raw escape from the server reaches the terminal");
  const d = await runCli([
    "-v",
    "--digest",
    "-f",
    "localhost",
    String(srv.port),
    "f.bin",
    dir.path,
  ]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(
    d.stdout,
    /sha256 +8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4\n/,
  );

  const j = JSON.parse((await runCli(["--json", "-f", `${srv.origin}/f.bin`, dir.path])).stdout);
  assert.deepEqual(Object.keys(j).sort(), [
    "bytes",
    "connection",
    "connections",
    "error",
    "exitCode",
    "file",
    "finalUrl",
    "ok",
    "partFile",
    "redirects",
    "request",
    "response",
    "resume",
    "retries",
    "rtt",
    "sha256",
    "throughputBytesPerSec",
    "timingsMs",
    "url",
    "verification",
  ]);
  assert.deepEqual(Object.keys(j.timingsMs), [
    "nameLookup",
    "tcpConnect",
    "tlsHandshake",
    "firstByte",
    "transfer",
    "total",
  ]);
  assert.deepEqual(Object.keys(j.connection).sort(), [
    "family",
    "hostName",
    "local",
    "peer",
    "protocol",
    "protocolNumber",
    "resolvedAddress",
    "reverseName",
    "timeoutsMs",
    "tls",
    "type",
  ]);
  assert.equal(j.connection.tls, null);
  assert.equal(j.ok, true);
  assert.equal(j.file, join(dir.path, "f.bin"));

  const e = await runCli(["--json", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(e.code, 6);
  const je = JSON.parse(e.stdout);
  assert.equal(je.ok, false);
  assert.equal(je.exitCode, 6);
  assert.match(je.error, /already exists/);
});

Deno.test("default output is compact: connection parameters, RTT, status, saved — at most 14 lines", async () => {
  await using dir = await tempDir();
  await using srv = startFake(reply(ok("hi", ["X-Evil: a\x1b[2Jb"])));
  const t = await runCli(["localhost", String(srv.port), "f.bin", dir.path]);
  assert.equal(t.code, 0, t.stderr);
  const lines = t.stdout.trimEnd().split("\n");
  assert.ok(lines.length <= 14, `${lines.length} lines:\n${t.stdout}`);
  for (
    const re of [
      /^\* connected to 127\.0\.0\.1:\d+: TCP handshake [\d.]+ ms \(≈ 1 RTT\)$/m,
      /host name +localhost, resolved 127\.0\.0\.1/,
      /peer name +127\.0\.0\.1:\d+/,
      /family +AF_INET\n/,
      /socket type SOCK_STREAM/,
      /protocol +TCP \(IPPROTO_TCP = 6\)/,
      /timeouts +connect=30s read=30s/,
      /^< HTTP\/1\.1 200 OK$/m,
      /^\* saved .*f\.bin: 2 B, not verified/m,
    ]
  ) assert.match(t.stdout, re);
  // One RTT figure; no heads (those are -v).
  assert.equal(t.stdout.match(/TCP handshake/g)?.length, 1);
  assert.doesNotMatch(t.stdout, /^> GET|X-Evil/m);
  const q = await runCli(["-q", "-f", "localhost", String(srv.port), "f.bin", dir.path]);
  assert.deepEqual([q.code, q.stdout, q.stderr], [0, "", ""]);
});

Deno.test("--json: a usage error is a JSON object on stdout too, with the hint apart", async () => {
  const r = await runCli(["--json", "-O", "x", "127.0.0.1:9/a"]);
  assert.equal(r.code, 2);
  const j = JSON.parse(r.stdout);
  assert.deepEqual([j.ok, j.exitCode, j.error], [false, 2, 'unknown option "-O"']);
  assert.match(j.hint, /did you mean -o\?/);
  const bare = JSON.parse((await runCli(["--json", "127.0.0.1:9/a"])).stdout);
  assert.match(bare.hint, /did you mean http:\/\/127\.0\.0\.1:9\/a/);
});
