/**
 * End to end: `client.ts` as a subprocess against a scripted fake server sending canned bytes,
 * one case per way a server can behave — and misbehave. Each case states the exit code, what
 * stderr must say, and what must (not) be left in DIR.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { exists, listDir, pattern, runCli, sha256, sha256b64, tempDir } from "../client/cli.ts";
import { ok, reply, type Script, startFake } from "./fake_server.ts";

interface Case {
  name: string;
  script: Script;
  /** FILE argument (default "f.bin"). */
  file?: string;
  args?: string[];
  code: number;
  stderr?: RegExp;
  /** Content of DIR/NAME after the run; undefined = must not exist. */
  saved?: string | Uint8Array;
  /** Whether DIR/NAME.part must exist afterwards (default: not checked). */
  part?: boolean;
  /** Longest the run may take, ms. */
  maxMs?: number;
}

const BIG = pattern(256 * 1024, 7);
const endlessHeaders: Script = async (c) => {
  await c.write("HTTP/1.1 200 OK\r\n");
  // Bounded: 4 MiB of header lines at most, or until the client hangs up.
  for (let i = 0; i < 4096; i++) {
    if (!(await c.write(`X-Filler-${i}: ${"a".repeat(1000)}\r\n`))) return;
  }
};
const endlessChunked: Script = async (c) => {
  await c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  const chunk = `10000\r\n${"z".repeat(0x10000)}\r\n`;
  // Bounded: 64 MiB at most, or until the client hangs up.
  for (let i = 0; i < 1024; i++) if (!(await c.write(chunk))) return;
};

const CASES: Case[] = [
  {
    name: "chunked body with chunk extensions and trailers (digest in a trailer)",
    script: reply(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Repr-Digest\r\n\r\n" +
        '5;ext=1;name="quoted; value"\r\nhello\r\n6 ; x\r\n world\r\n0;last\r\n' +
        `X-Trailer: yes\r\nRepr-Digest: sha-256=:${sha256b64("hello world")}:\r\n\r\n`,
    ),
    code: 0,
    saved: "hello world",
    part: false,
  },
  {
    name: "close-delimited body (no Content-Length, no chunked)",
    script: reply("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"),
    code: 0,
    saved: "until the end",
  },
  {
    name: "HTTP/1.0 response, LF-only line ends",
    script: reply("HTTP/1.0 200 OK\nContent-Length: 3\n\nabc"),
    code: 0,
    saved: "abc",
  },
  {
    name: "Transfer-Encoding wins over Content-Length",
    script: reply(
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ),
    code: 0,
    saved: "abc",
  },
  {
    name: "interim 100 and 103 responses are skipped",
    script: reply(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" +
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ),
    code: 0,
    saved: "ok",
  },
  {
    name: "204 saves an empty file",
    script: reply("HTTP/1.1 204 No Content\r\n\r\n"),
    code: 0,
    saved: "",
  },
  {
    name: "truncated body: exit 5, received X of Y, .part kept, no final file",
    script: reply("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + "x".repeat(40)),
    code: 5,
    stderr: /received 40 of 100 bytes/,
    part: true,
  },
  {
    name: "server vanishes mid-body: exit 5, .part kept",
    script: async (c) => {
      await c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG.length * 4}\r\n\r\n`);
      await c.write(BIG);
    },
    code: 5,
    stderr: new RegExp(`received ${BIG.length} of ${BIG.length * 4} bytes.*run again to resume`),
    part: true,
  },
  {
    name: "conflicting Content-Length values",
    script: reply("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    code: 5,
    stderr: /conflicting Content-Length/,
    part: false,
  },
  {
    name: "negative Content-Length",
    script: reply("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello"),
    code: 5,
    stderr: /invalid Content-Length/,
  },
  {
    name: "garbage status line",
    script: reply("ICY 200 OK\r\n\r\nnoise"),
    code: 5,
    stderr: /not an HTTP\/1\.x response/,
  },
  {
    name: "HTTP/2.0 status line is refused",
    script: reply("HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nx"),
    code: 5,
    stderr: /malformed status line/,
  },
  {
    name: "oversized head (one 70 KiB field)",
    script: reply(`HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(70 * 1024)}\r\n\r\n`),
    code: 5,
    stderr: /larger than 64 KiB/,
  },
  {
    name: "endless headers",
    script: endlessHeaders,
    code: 5,
    stderr: /larger than 64 KiB/,
  },
  {
    name: "endless chunked body stops at --max-size",
    script: endlessChunked,
    args: ["--max-size", "1M"],
    code: 5,
    stderr: /over --max-size 1048576/,
    maxMs: 10_000,
  },
  {
    name: "announced size over --max-size is refused before any byte is saved",
    script: reply("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"),
    args: ["--max-size", "4000"],
    code: 5,
    stderr: /5000 bytes, over --max-size 4000/,
    part: false,
  },
  {
    name: "absurd chunk size",
    script: reply(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nx",
    ),
    code: 5,
    stderr: /absurd chunk size/,
  },
  {
    name: "unsupported transfer coding",
    script: reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    code: 5,
    stderr: /unsupported transfer coding "gzip"/,
  },
  {
    name: "redirect loop",
    script: reply("HTTP/1.1 302 Found\r\nLocation: /f.bin\r\nContent-Length: 0\r\n\r\n"),
    code: 5,
    stderr: /redirect loop/,
  },
  {
    name: "too many redirects",
    script: async (c, req) => {
      const n = Number(/GET \/r(\d+)/.exec(req)?.[1] ?? 0);
      await c.write(`HTTP/1.1 301 Moved\r\nLocation: /r${n + 1}\r\nContent-Length: 0\r\n\r\n`);
    },
    args: ["--max-redirects", "2"],
    code: 5,
    stderr: /too many redirects: more than 2/,
  },
  {
    name: "Location with a bare CR",
    script: reply("HTTP/1.1 302 Found\r\nLocation: /a\rSet-Cookie: x=1\r\n\r\n"),
    code: 5,
  },
  {
    name: "Location with a control character",
    script: reply("HTTP/1.1 302 Found\r\nLocation: /a\x01b\r\nContent-Length: 0\r\n\r\n"),
    code: 5,
    stderr: /control characters/,
  },
  {
    name: "redirect to file: is refused",
    script: reply("HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n\r\n"),
    code: 5,
    stderr: /refusing redirect to "file:\/\/\/etc\/passwd"/,
  },
  {
    name: "redirect to ftp: is refused with the reason",
    script: reply("HTTP/1.1 301 Moved\r\nLocation: ftp://example.com/f.bin\r\n\r\n"),
    code: 5,
    stderr: /only http: and https: redirects are followed/,
  },
  {
    name: "3xx without Location",
    script: reply("HTTP/1.1 300 Multiple Choices\r\nContent-Length: 0\r\n\r\n"),
    code: 5,
    stderr: /no Location/,
  },
  {
    name: "server stalls after the head: exit 8 within --timeout",
    script: async (c) => {
      await c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
      await c.waitClosed();
    },
    args: ["--timeout", "1"],
    code: 8,
    stderr: /timed out waiting for the body/,
    part: true,
    maxMs: 4000,
  },
  {
    name: "server never answers: exit 8",
    script: async (c) => await c.waitClosed(),
    args: ["--timeout", "1"],
    code: 8,
    stderr: /timed out waiting for the response head/,
    part: false,
    maxMs: 4000,
  },
  {
    name: "digest mismatch: exit 7, data kept only as .part",
    script: reply(ok("hello", [`Repr-Digest: sha-256=:${sha256b64("other")}:`])),
    code: 7,
    stderr: /checksum mismatch: Repr-Digest/,
    part: true,
  },
  {
    name: "digest only in a trailer, wrong: the file is hashed after the body, exit 7",
    script: reply(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" +
        `Repr-Digest: sha-256=:${sha256b64("other")}:\r\n\r\n`,
    ),
    code: 7,
    stderr: /checksum mismatch: Repr-Digest/,
    part: true,
  },
  {
    name: "Content-Digest verified",
    script: reply(ok("hello", [`Content-Digest: sha-256=:${sha256b64("hello")}:`])),
    code: 0,
    saved: "hello",
  },
  {
    name: "--sha256 match",
    script: reply(ok("hello")),
    args: ["--sha256", sha256("hello").toUpperCase()],
    code: 0,
    saved: "hello",
  },
  {
    name: "--sha256 mismatch: exit 7",
    script: reply(ok("hello")),
    args: ["--sha256", sha256("world")],
    code: 7,
    stderr: /--sha256 says/,
    part: true,
  },
  {
    name: "404: exit 4, status and excerpt, no file at all",
    script: reply(
      "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 66\r\n\r\n" +
        "<html><title>404</title><h1>No such \x1b[31mfile\x07</h1></html>\r\n\r\n\r\n",
    ),
    code: 4,
    stderr: /404 Not Found \("404 No such \[31mfile"\)/,
    part: false,
  },
  {
    name: "404 whose body only repeats the status (Ferry's): said once, not twice",
    script: reply(
      "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n" +
        "404 Not Found\n",
    ),
    code: 4,
    stderr: /the server answered 404 Not Found; check the path/,
    part: false,
  },
  {
    name: "503: exit 4 with a retry hint",
    script: reply("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"),
    code: 4,
    stderr: /503 Service Unavailable \("busy"\); .*try again later/,
    part: false,
  },
  {
    name: "server closes without answering",
    script: async () => {},
    code: 5,
    stderr: /closed the connection without answering/,
  },
];

Deno.test("client.ts against a scripted fake server: exit codes, messages, files", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, async () => {
      await using dir = await tempDir();
      await using srv = startFake(c.script);
      const out = join(dir.path, "out");
      const file = c.file ?? "f.bin";
      const t0 = performance.now();
      const r = await runCli([
        "--retry",
        "0",
        ...(c.args ?? []),
        "127.0.0.1",
        String(srv.port),
        file,
        out,
      ]);
      const ms = performance.now() - t0;
      if (Deno.env.get("FERRY_TEST_VERBOSE")) console.log(r.stderr.trim());
      const info = `exit ${r.code}\nstderr: ${r.stderr}\nstdout: ${r.stdout.slice(0, 2000)}`;
      assert.equal(r.code, c.code, info);
      if (c.stderr) assert.match(r.stderr, c.stderr, info);
      if (c.code !== 0) {
        assert.equal(r.stderr.trim().split("\n").length, 1, `one line on stderr: ${info}`);
        assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
      }
      const final = join(out, "f.bin");
      if (c.saved === undefined) assert.ok(!exists(final), `no final file: ${info}`);
      else {
        const want = typeof c.saved === "string" ? new TextEncoder().encode(c.saved) : c.saved;
        assert.deepEqual(Deno.readFileSync(final), want);
      }
      if (c.part !== undefined) assert.equal(exists(final + ".part"), c.part, info);
      if (c.maxMs !== undefined) assert.ok(ms < c.maxMs, `took ${ms} ms`);
    });
  }
});

Deno.test("client.ts follows a relative redirect on a new connection, keeps the FILE name", async () => {
  await using dir = await tempDir();
  await using srv = startFake(async (c, req) => {
    if (req.startsWith("GET /docs/a%20b.pdf ")) {
      await c.write(
        "HTTP/1.1 301 Moved\r\nLocation: ../real/other.pdf\r\nContent-Length: 0\r\n\r\n",
      );
    } else await c.write(ok("pdf!"));
  });
  const r = await runCli(["127.0.0.1", String(srv.port), "docs/a b.pdf", dir.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(listDir(dir.path), ["a b.pdf"]);
  assert.equal(Deno.readTextFileSync(join(dir.path, "a b.pdf")), "pdf!");
  assert.equal(srv.requests.length, 2);
  assert.match(srv.requests[1], /^GET \/real\/other\.pdf HTTP\/1\.1\r\n/);
  assert.match(
    r.stdout,
    /redirect 1 of at most 5: 301 → http:\/\/127\.0\.0\.1:\d+\/real\/other\.pdf/,
  );
});

Deno.test("client.ts follows an absolute redirect to another port", async () => {
  await using dir = await tempDir();
  await using b = startFake(reply(ok("from b")));
  await using a = startFake(
    reply(
      `HTTP/1.1 307 Temporary Redirect\r\nLocation: ${b.origin}/x\r\nContent-Length: 0\r\n\r\n`,
    ),
  );
  const r = await runCli(["--json", `${a.origin}/f.bin`, dir.path]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.connections, 2);
  assert.deepEqual(j.redirects, [{ status: 307, from: `${a.origin}/f.bin`, to: `${b.origin}/x` }]);
  assert.equal(j.finalUrl, `${b.origin}/x`);
  assert.equal(Deno.readTextFileSync(join(dir.path, "f.bin")), "from b");
});

Deno.test("client.ts sends the documented request head", async () => {
  await using dir = await tempDir();
  await using srv = startFake(reply(ok("x")));
  const r = await runCli(["-q", "127.0.0.1", String(srv.port), "dir/ü q?#%.txt", dir.path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "", "-q prints nothing on success");
  assert.deepEqual(listDir(dir.path), ["ü q?#%.txt"]);
  const lines = srv.requests[0].split("\r\n");
  assert.equal(lines[0], "GET /dir/%C3%BC%20q%3F%23%25.txt HTTP/1.1");
  for (
    const f of [
      `Host: 127.0.0.1:${srv.port}`,
      /^User-Agent: ferry\/\d+\.\d+\.\d+$/,
      "Accept: */*",
      "Accept-Encoding: identity",
      "Connection: close",
    ]
  ) {
    assert.ok(lines.some((l) => typeof f === "string" ? l === f : f.test(l)), `${f} in ${lines}`);
  }
});
