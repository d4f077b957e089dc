/**
 * A sturdier download (issue #14, issue #11 item 12): retries that resume, Retry-After,
 * --max-time, Ctrl-C, automatic resume, `-o -`, and Content-Encoding refused — each against a
 * scripted server that misbehaves on purpose, and nginx for the forced gzip.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CLIENT, exists, listDir, pattern, runCli, sha256, tempDir } from "../client/cli.ts";
import { havePeer, startNginx } from "../client/peers.ts";
import { type FakeConn, type Script, startFake } from "./fake_server.ts";

const DATA = pattern(300_000, 21);
const ETAG = '"r1"';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers a request like nginx (Range + If-Range against ETAG); `cut` ends the body after that
 * many bytes of this response by closing the connection. */
async function serveRange(c: FakeConn, req: string, cut?: number): Promise<void> {
  const range = /\r\nRange: bytes=(\d+)-\r\n/i.exec(req);
  const ifRange = /\r\nIf-Range: (.*)\r\n/i.exec(req)?.[1];
  const start = range !== null && (ifRange === undefined || ifRange === ETAG)
    ? Number(range[1])
    : 0;
  const common = `ETag: ${ETAG}\r\nConnection: close\r\n`;
  await c.write(
    start > 0
      ? `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${
        DATA.length - 1
      }/${DATA.length}\r\nContent-Length: ${DATA.length - start}\r\n${common}\r\n`
      : `HTTP/1.1 200 OK\r\nContent-Length: ${DATA.length}\r\n${common}\r\n`,
  );
  await c.write(DATA.subarray(start, cut === undefined ? DATA.length : start + cut));
}

/** Sends the head, then one byte every `everyMs` (at most 400 bytes), like a stalled link that
 * never trips a per-read timeout. */
function drip(everyMs: number): Script {
  return async (c, req, index) => {
    if (index > 0) return await serveRange(c, req); // a later run: serve at full speed
    await c.write(
      `HTTP/1.1 200 OK\r\nContent-Length: ${DATA.length}\r\nETag: ${ETAG}\r\n\r\n`,
    );
    for (let i = 0; i < 400; i++) {
      if (!(await c.write(DATA.subarray(i, i + 1)))) return;
      await sleep(everyMs);
    }
  };
}

Deno.test("--retry: a server that resets mid-body twice, then serves → exit 0, one resumed file", async () => {
  await using dir = await tempDir();
  await using srv = startFake((c, req, index) =>
    serveRange(c, req, index < 2 ? 50_000 : undefined)
  );
  const r = await runCli(["--json", "--retry-delay", "0.05", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.retries, 2);
  assert.equal(j.resume, "appended");
  assert.equal(j.bytes.resumedFrom, 100_000);
  assert.equal(srv.requests.length, 3);
  assert.doesNotMatch(srv.requests[0], /Range/);
  for (const [i, from] of [[1, 50_000], [2, 100_000]]) {
    assert.match(srv.requests[i], new RegExp(`\\r\\nRange: bytes=${from}-\\r\\n`));
    assert.match(srv.requests[i], new RegExp(`\\r\\nIf-Range: ${ETAG}\\r\\n`));
  }
  assert.deepEqual(listDir(dir.path), ["f.bin"]);
  assert.equal(sha256(await Deno.readFile(join(dir.path, "f.bin"))), sha256(DATA));
});

Deno.test("--retry: 503 with Retry-After is honoured, then the file is fetched", async () => {
  await using dir = await tempDir();
  const at: number[] = [];
  await using srv = startFake(async (c, req, index) => {
    at.push(performance.now());
    if (index === 0) {
      await c.write(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 4\r\n\r\nbusy",
      );
    } else await serveRange(c, req);
  });
  const r = await runCli(["--retry-delay", "0.01", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /503 Service Unavailable.*\n\* retry 1 of 5 in 2\.00 s \(the server's Retry-After\)/,
  );
  // A lower bound only: the client may not come back sooner than it was asked to.
  assert.ok(at[1] - at[0] >= 1900, `came back after ${at[1] - at[0]} ms`);
  assert.equal(sha256(await Deno.readFile(join(dir.path, "f.bin"))), sha256(DATA));
});

Deno.test("--retry: a Retry-After too long, or a 404, ends at once with exit 4", async () => {
  await using dir = await tempDir();
  await using srv = startFake(async (c, req) => {
    await c.write(
      req.startsWith("GET /gone")
        ? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        : "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 86400\r\nContent-Length: 0\r\n\r\n",
    );
  });
  const long = await runCli([`${srv.origin}/f.bin`, dir.path]);
  assert.equal(long.code, 4, long.stderr);
  const gone = await runCli([`${srv.origin}/gone`, dir.path]);
  assert.equal(gone.code, 4, gone.stderr);
  assert.equal(srv.requests.length, 2, "neither was retried");
});

Deno.test("--max-time stops a server that drips a byte inside --timeout: exit 8, .part kept", async () => {
  await using dir = await tempDir();
  await using srv = startFake(drip(50));
  const r = await runCli(["--max-time", "2", "--timeout", "5", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(r.code, 8, r.stderr);
  assert.match(
    r.stderr,
    /^ferry: --max-time 2 s reached: \d+ bytes kept in .*f\.bin\.part; the same command resumes\n$/,
  );
  assert.ok(exists(join(dir.path, "f.bin.part")));
  assert.ok(!exists(join(dir.path, "f.bin")));
});

Deno.test("Ctrl-C (SIGINT): one line, exit 130, .part kept; the same command resumes", async () => {
  await using dir = await tempDir();
  await using srv = startFake(drip(20));
  const args = ["run", "-A", CLIENT, "--json", `${srv.origin}/f.bin`, dir.path];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const part = join(dir.path, "f.bin.part");
  for (let i = 0; i < 300; i++) {
    const size = exists(part) ? Deno.statSync(part).size : 0;
    if (size >= 5) break;
    await sleep(50);
  }
  child.kill("SIGINT");
  const r = await child.output();
  const stderr = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 130, stderr);
  assert.match(
    stderr,
    /^ferry: interrupted: \d+ bytes kept in .*f\.bin\.part; the same command resumes\n$/,
  );
  const kept = Deno.statSync(part).size;
  assert.ok(kept >= 5, `kept ${kept}`);

  const again = await runCli(args.slice(3));
  assert.equal(again.code, 0, again.stderr);
  const j = JSON.parse(again.stdout);
  assert.equal(j.resume, "appended");
  assert.equal(j.bytes.resumedFrom, kept);
  assert.equal(sha256(await Deno.readFile(join(dir.path, "f.bin"))), sha256(DATA));
});

Deno.test("automatic resume: a .part whose meta matches is resumed without -c; --no-continue starts over", async () => {
  await using dir = await tempDir();
  await using srv = startFake((c, req) => serveRange(c, req));
  const final = join(dir.path, "f.bin");
  const meta = { url: `${srv.origin}/f.bin`, etag: ETAG, lastModified: null, size: DATA.length };
  await Deno.writeFile(final + ".part", DATA.subarray(0, 120_000));
  await Deno.writeTextFile(final + ".part.meta", JSON.stringify(meta));
  const r = await runCli(["--json", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(srv.requests[0], /\r\nRange: bytes=120000-\r\n/);
  assert.equal(JSON.parse(r.stdout).resume, "appended");
  assert.equal(sha256(await Deno.readFile(final)), sha256(DATA));

  await Deno.remove(final);
  await Deno.writeFile(final + ".part", new Uint8Array(120_000).fill(0x41));
  await Deno.writeTextFile(final + ".part.meta", JSON.stringify(meta));
  const n = await runCli(["--no-continue", "--json", `${srv.origin}/f.bin`, dir.path]);
  assert.equal(n.code, 0, n.stderr);
  assert.doesNotMatch(srv.requests[1], /Range/);
  assert.equal(sha256(await Deno.readFile(final)), sha256(DATA));
});

Deno.test("-o -: the body on stdout (binary-safe, resumed after a reset), everything else on stderr", async () => {
  await using dir = await tempDir();
  await using srv = startFake((c, req, index) =>
    serveRange(c, req, index === 0 ? 70_000 : undefined)
  );
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLIENT,
      "-o",
      "-",
      "--retry-delay",
      "0.05",
      `${srv.origin}/f.bin`,
      dir.path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 0, stderr);
  assert.equal(sha256(r.stdout), sha256(DATA), "every byte exactly once, in order");
  assert.match(stderr, /< HTTP\/1\.1 200 OK/);
  assert.match(stderr, /retry 1 of 5/);
  assert.match(srv.requests[1], /\r\nRange: bytes=70000-\r\n/);
  assert.deepEqual(listDir(dir.path), [], "nothing written to DIR");

  const j = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLIENT, "-o", "-", "--json", `${srv.origin}/f.bin`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(j.code, 0);
  assert.equal(sha256(j.stdout), sha256(DATA));
  assert.equal(JSON.parse(new TextDecoder().decode(j.stderr)).ok, true, "the JSON on stderr");

  // --segments writes at offsets into a .part: with -o - it is one connection, said on stderr.
  const seg = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLIENT, "-o", "-", "--segments", "4", `${srv.origin}/f.bin`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const segErr = new TextDecoder().decode(seg.stderr);
  assert.equal(seg.code, 0, segErr);
  assert.equal(sha256(seg.stdout), sha256(DATA));
  assert.match(segErr, /--segments 4: one connection instead: -o - writes in order/);
});

Deno.test("Content-Encoding other than identity is never saved as the file (exit 5)", async () => {
  await using dir = await tempDir();
  await using srv = startFake(async (c) => {
    await c.write(
      "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\n\x1f\x8b\x08",
    );
  });
  const r = await runCli([`${srv.origin}/f.txt`, dir.path]);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /Content-Encoding "gzip" although we asked for identity/);
  assert.deepEqual(listDir(dir.path), []);
});

Deno.test("nginx with gzip_static always: the forced gzip body is refused, not saved (exit 5)", async () => {
  if (!havePeer("nginx") || !havePeer("gzip")) return;
  await using root = await tempDir();
  await using prefix = await tempDir();
  await using out = await tempDir();
  await Deno.writeTextFile(join(root.path, "a.txt"), "hello ".repeat(1000));
  const gz = await new Deno.Command("gzip", { args: ["-k", join(root.path, "a.txt")] }).output();
  assert.equal(gz.code, 0);
  await using nginx = await startNginx(root.path, prefix.path, "gzip_static always;");
  // -v: the response headers are shown only in the verbose output (the default is compact).
  const r = await runCli(["-v", `${nginx.origin}/a.txt`, out.path]);
  assert.equal(r.code, 5, r.stdout + r.stderr);
  assert.match(r.stdout, /< Content-Encoding: gzip/i);
  assert.match(r.stderr, /Content-Encoding "gzip"/);
  assert.deepEqual(listDir(out.path), []);
});

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("a refused connection fails at once (curl/wget): exit 3, one line saying 1 attempt, -q silent", async () => {
  await using dir = await tempDir();
  const url = `http://127.0.0.1:${closedPort()}/f.bin`;
  // Were it retried, the run would sleep about a second and say "2 attempts".
  const r = await runCli(["-q", "--retry", "1", "--retry-delay", "1", url, dir.path]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, "");
  assert.equal(
    r.stderr,
    `ferry: cannot connect to 127.0.0.1:${url.split(":")[2].split("/")[0]}: connection refused; ` +
      "check that the server is running and the port is right " +
      "(1 attempt; a refused connection is retried only with --retry-connrefused)\n",
  );
  // The same without -q: no retry lines either.
  const v = await runCli(["--retry", "1", "--retry-delay", "1", url, dir.path]);
  assert.equal(v.code, 3);
  assert.doesNotMatch(v.stdout, /retry/);
});

Deno.test("--retry-connrefused: connection refused is retried, then exit 3 saying how many attempts", async () => {
  await using dir = await tempDir();
  const args = ["--retry", "2", "--retry-delay", "0.01", "--retry-connrefused"];
  const r = await runCli([...args, `http://127.0.0.1:${closedPort()}/f.bin`, dir.path]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout, /retry 1 of 2/);
  assert.match(r.stdout, /retry 2 of 2/);
  assert.match(r.stderr, /^ferry: cannot connect to .*connection refused.*\(3 attempts\)\n$/);
  // -q: the retries are not errors; only the final line is printed.
  const q = await runCli(["-q", ...args, `http://127.0.0.1:${closedPort()}/f.bin`, dir.path]);
  assert.equal(q.code, 3);
  assert.equal(q.stdout, "");
  assert.equal(q.stderr.trim().split("\n").length, 1, q.stderr);
  assert.match(q.stderr, /\(3 attempts\)/);
});

Deno.test("--retry: a server that sent bytes, then refuses (a restart), is retried and resumed", async () => {
  await using dir = await tempDir();
  const first = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (first.addr as Deno.NetAddr).port;
  // The first server sends half the body, then goes away: port closed, connections refused.
  const serveOnce = async (l: Deno.Listener, cut?: number) => {
    const conn = await l.accept();
    if (cut !== undefined) l.close();
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf) ?? 0;
    const c: FakeConn = {
      write: async (d) => {
        try {
          await conn.write(typeof d === "string" ? new TextEncoder().encode(d) : d);
          return true;
        } catch {
          return false;
        }
      },
    } as FakeConn;
    await serveRange(c, new TextDecoder().decode(buf.subarray(0, n)), cut);
    conn.close();
  };
  const served = serveOnce(first, 100_000);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLIENT,
      "--retry",
      "5",
      "--retry-delay",
      "0.05",
      `http://127.0.0.1:${port}/f.bin`,
      dir.path,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  // The server comes back only once the client has said it retries the refused connect.
  let out = "";
  const dec = new TextDecoder();
  let second: Promise<void> | null = null;
  for await (const chunk of child.stdout) {
    out += dec.decode(chunk, { stream: true });
    if (second === null && /connection refused[^\n]*\n\* retry \d of 5/.test(out)) {
      second = serveOnce(Deno.listen({ hostname: "127.0.0.1", port }));
    }
  }
  const { code } = await child.status;
  await served;
  assert.ok(second !== null, out);
  await second;
  assert.equal(code, 0, await stderr);
  assert.equal(sha256(Deno.readFileSync(join(dir.path, "f.bin"))), sha256(DATA));
});

Deno.test("--retry: a head that never comes (--timeout) is retried", async () => {
  await using dir = await tempDir();
  await using srv = startFake(async (c, req, index) => {
    if (index === 0) return await c.waitClosed(); // say nothing until the client gives up
    await serveRange(c, req);
  });
  const r = await runCli([
    "--json",
    "--timeout",
    "1",
    "--retry-delay",
    "0.01",
    `${srv.origin}/f.bin`,
    dir.path,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).retries >= 1);
  assert.equal(sha256(await Deno.readFile(join(dir.path, "f.bin"))), sha256(DATA));
});

/** A server that answers the first connection with half the body and a TCP RST (SO_LINGER 0),
 * then serves ranges: a real reset, which Deno's own sockets cannot send. */
const RST_SERVER = `
import socket, sys, re
data = open(sys.argv[1], "rb").read()
etag = sys.argv[2]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
s.settimeout(20)
print(s.getsockname()[1], flush=True)
for i in range(2):
    c, _ = s.accept()
    req = b""
    while b"\\r\\n\\r\\n" not in req:
        req += c.recv(4096)
    m = re.search(rb"\\r\\nRange: bytes=(\\d+)-\\r\\n", req)
    start = int(m.group(1)) if m else 0
    if i == 0:
        c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nETag: %s\\r\\n\\r\\n" % (len(data), etag.encode()))
        c.sendall(data[: len(data) // 2])
        import struct
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    else:
        c.sendall(b"HTTP/1.1 206 Partial Content\\r\\nContent-Range: bytes %d-%d/%d\\r\\nContent-Length: %d\\r\\nETag: %s\\r\\nConnection: close\\r\\n\\r\\n" % (start, len(data) - 1, len(data), len(data) - start, etag.encode()))
        c.sendall(data[start:])
        c.close()
`;

Deno.test("--retry: a TCP reset (RST) mid-body is retried and resumed", async () => {
  if (!havePeer("python3")) return;
  await using dir = await tempDir();
  const src = join(dir.path, "src.bin");
  await Deno.writeFile(src, DATA);
  const py = new Deno.Command("python3", {
    args: ["-c", RST_SERVER, src, ETAG],
    stdout: "piped",
    stderr: "inherit",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const reader = py.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await reader.read()).value?.trim());
  const out = join(dir.path, "out");
  const r = await runCli(["--json", "--retry-delay", "0.01", `http://127.0.0.1:${port}/f`, out]);
  await reader.cancel();
  await py.status;
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.retries, 1);
  assert.equal(j.resume, "appended");
  assert.ok(j.bytes.resumedFrom > 0 && j.bytes.resumedFrom <= DATA.length / 2);
  assert.equal(sha256(await Deno.readFile(join(out, "f"))), sha256(DATA));
});
