/**
 * Where the two client feature sets meet (issue #11 × issue #14): `--max-time` and Ctrl-C end a
 * multi-URL run, a mirror (`-r`) and a `--segments` run too — bounded, exit 8 / 130, the .part
 * (and a segmented meta) kept; `--retry` applies to each file of a multi-URL run and of a mirror;
 * a segmented .part is never resumed by the one-connection download, with or without `-c`; the
 * mirror's output shows a server's names with bidi controls escaped.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CLIENT, exists, pattern, runCli, sha256, tempDir } from "../client/cli.ts";
import { type FakeConn, startFake } from "./fake_server.ts";

const SIZE = 1024 * 1024;
const DATA = pattern(SIZE, 31);
const ETAG = '"s1"';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A listing page with relative links to `names`. */
function listing(names: string[]): string {
  const body = `<html><body>${
    names.map((n) => `<a href="${encodeURIComponent(n)}">${n}</a>`).join("\n")
  }</body></html>`;
  return `HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${
    new TextEncoder().encode(body).length
  }\r\nConnection: close\r\n\r\n${body}`;
}

/** A server that lists /d/ (a.bin, b.bin), answers HEAD with a segmentable size, and sends
 * every file body's first 1000 bytes and then nothing (until the client goes). */
function stallingServer() {
  return startFake(async (c: FakeConn, req: string) => {
    const [method, target] = req.split(" ");
    const path = target.replace(/\?format=json$/, ""); // the listing is asked for with it
    if (path === "/d/") return void await c.write(listing(["a.bin", "b.bin"]));
    const head = `Content-Length: ${SIZE}\r\nAccept-Ranges: bytes\r\nETag: ${ETAG}\r\n`;
    if (method === "HEAD") {
      await c.write(`HTTP/1.1 200 OK\r\n${head}Connection: close\r\n\r\n`);
      return;
    }
    const m = /\r\nrange: bytes=(\d+)-(\d*)\r\n/i.exec(req);
    if (m === null) {
      await c.write(`HTTP/1.1 200 OK\r\n${head}\r\n`);
      await c.write(DATA.subarray(0, 1000));
    } else {
      const start = Number(m[1]);
      const end = m[2] === "" ? SIZE - 1 : Number(m[2]);
      await c.write(
        `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${end}/${SIZE}\r\n` +
          `Content-Length: ${end - start + 1}\r\nETag: ${ETAG}\r\n\r\n`,
      );
      await c.write(DATA.subarray(start, start + 1000));
    }
    await c.waitClosed();
  });
}

Deno.test("--max-time ends a multi-URL run, a mirror and a --segments run: exit 8, bounded, .part kept", async () => {
  await using srv = stallingServer();
  const runs: Array<[string, string[], string]> = [
    ["several URLs", [`${srv.origin}/a.bin`, `${srv.origin}/b.bin`], "a.bin.part"],
    ["-r", ["-r", `${srv.origin}/d/`], "d/a.bin.part"],
    ["--segments", ["--segments", "4", `${srv.origin}/a.bin`], "a.bin.part"],
  ];
  for (const [name, args, part] of runs) {
    await using out = await tempDir();
    const t0 = performance.now();
    const r = await runCli(["--max-time", "1", "--timeout", "60", ...args, out.path]);
    const ms = performance.now() - t0;
    assert.equal(r.code, 8, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /--max-time 1 s reached/, name);
    // Bounded: nowhere near --timeout 60 (a generous margin for a loaded machine).
    assert.ok(ms < 30_000, `${name}: ${ms} ms`);
    assert.ok(exists(join(out.path, part)), `${name}: ${part} kept`);
    if (name === "--segments") {
      const meta = JSON.parse(await Deno.readTextFile(join(out.path, "a.bin.part.meta")));
      assert.equal(meta.segments.length, 4);
      assert.match(r.stderr, /the same command resumes them/);
    }
  }
});

Deno.test("Ctrl-C ends a mirror and a --segments run: exit 130, one line, .part kept", async () => {
  await using srv = stallingServer();
  for (const args of [["-r", `${srv.origin}/d/`], ["--segments", "4", `${srv.origin}/a.bin`]]) {
    await using out = await tempDir();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLIENT, "--timeout", "60", ...args, out.path],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).spawn();
    const part = join(out.path, args[0] === "-r" ? "d/a.bin.part" : "a.bin.part");
    for (let i = 0; i < 300 && !exists(part); i++) await sleep(50);
    await sleep(200);
    child.kill("SIGINT");
    const r = await child.output();
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 130, `${args[0]}: ${stderr}`);
    assert.match(stderr, /interrupted/, args[0]);
    assert.ok(exists(part), `${args[0]}: .part kept`);
  }
});

Deno.test("--retry applies to each file of a multi-URL run and of a mirror (503 once per file)", async () => {
  const body = (p: string) => new TextEncoder().encode(`file ${p}\n`.repeat(100));
  const seen = new Map<string, number>();
  await using srv = startFake(async (c, req) => {
    const path = req.split(" ")[1].replace(/\?format=json$/, "");
    if (path === "/d/") return void await c.write(listing(["x.txt", "y.txt"]));
    const n = (seen.get(path) ?? 0) + 1;
    seen.set(path, n);
    if (n === 1) {
      await c.write(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\n" +
          "Connection: close\r\n\r\n",
      );
      return;
    }
    const b = body(path);
    await c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n`);
    await c.write(b);
  });
  await using out = await tempDir();
  const many = await runCli([
    "--json",
    "--retry-delay",
    "0.01",
    `${srv.origin}/a.txt`,
    `${srv.origin}/b.txt`,
    join(out.path, "many"),
  ]);
  assert.equal(many.code, 0, many.stderr);
  const j = JSON.parse(many.stdout);
  assert.deepEqual(j.files.map((f: { retries: number }) => f.retries), [1, 1]);
  for (const p of ["a.txt", "b.txt"]) {
    assert.equal(sha256(await Deno.readFile(join(out.path, "many", p))), sha256(body(`/${p}`)));
  }
  const mirror = await runCli([
    "-r",
    "--json",
    "--retry-delay",
    "0.01",
    `${srv.origin}/d/`,
    join(out.path, "mirror"),
  ]);
  assert.equal(mirror.code, 0, mirror.stderr);
  const m = JSON.parse(mirror.stdout);
  assert.deepEqual([m.summary.files, m.summary.failed], [2, 0]);
  for (const p of ["x.txt", "y.txt"]) {
    const got = await Deno.readFile(join(out.path, "mirror", "d", p));
    assert.equal(sha256(got), sha256(body(`/d/${p}`)));
  }
  // Without --json (and without -v) each retry is still one line.
  seen.clear();
  const text = await runCli([
    "-r",
    "--retry-delay",
    "0.01",
    `${srv.origin}/d/`,
    join(out.path, "t"),
  ]);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout.match(/^\* retry 1 of 5 in /gm)?.length, 2, text.stdout);
  // --retry 0: the 503 is a counted failure, not retried.
  seen.clear();
  const none = await runCli(["-r", "--retry", "0", `${srv.origin}/d/`, join(out.path, "none")]);
  assert.equal(none.code, 4, none.stderr);
  assert.match(none.stdout, /0 files saved .* 2 failed/);
});

Deno.test("a --segments .part is never resumed by the one-connection download, even with its validator", async () => {
  // A segmented .part and meta as a stopped --segments run leaves them: full size, holes, the
  // meta naming this URL and a strong ETag (which alone would make the plain download resume).
  await using srv = startFake(async (c, req) => {
    const m = /\r\nrange: bytes=(\d+)-\r\n/i.exec(req);
    if (m !== null) {
      // A server that honours the Range: from the .part's size that is a 416 "complete".
      await c.write(
        `HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */${SIZE}\r\n` +
          `ETag: ${ETAG}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      return;
    }
    await c.write(
      `HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\nETag: ${ETAG}\r\nConnection: close\r\n\r\n`,
    );
    await c.write(DATA);
  });
  for (const extra of [[], ["-c"]]) {
    await using out = await tempDir();
    const part = join(out.path, "f.bin.part");
    const holes = new Uint8Array(SIZE);
    holes.set(DATA.subarray(0, 1000));
    await Deno.writeFile(part, holes);
    await Deno.writeTextFile(
      part + ".meta",
      JSON.stringify({
        url: `${srv.origin}/f.bin`,
        etag: ETAG,
        lastModified: null,
        size: SIZE,
        segments: [{ start: 0, end: SIZE / 2 - 1, next: 1000 }, {
          start: SIZE / 2,
          end: SIZE - 1,
          next: SIZE / 2,
        }],
      }),
    );
    const r = await runCli([...extra, "--json", `${srv.origin}/f.bin`, out.path]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.notEqual(j.resume, "already-complete", extra.join(" "));
    assert.equal(j.bytes.received, SIZE);
    assert.equal(sha256(await Deno.readFile(join(out.path, "f.bin"))), sha256(DATA));
  }
});

Deno.test("a mirror shows a server's file name with bidi controls escaped (-v lines)", async () => {
  const evil = "invoice\u202efdp.exe";
  await using srv = startFake(async (c, req) => {
    const path = req.split(" ")[1].replace(/\?format=json$/, "");
    if (path === "/d/") return void await c.write(listing([evil]));
    await c.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  });
  await using out = await tempDir();
  const r = await runCli(["-r", "-v", `${srv.origin}/d/`, out.path]);
  assert.equal(r.code, 0, r.stderr);
  const all = r.stdout + r.stderr;
  assert.ok(!/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/.test(all), JSON.stringify(all));
  assert.match(r.stdout, /saved .*invoice\\u202efdp\.exe/);
  // The file itself has its real name.
  assert.equal(await Deno.readTextFile(join(out.path, "d", evil)), "abc");
});
