/**
 * End to end: the real `server.ts` on port 0 over a fixture directory, downloaded by curl,
 * wget, python3 urllib and Deno's fetch, and spoken to over raw sockets.
 */

import assert from "node:assert/strict";
import { pattern, sha256 } from "../client/cli.ts";
import { join } from "node:path";
import { rawRequest, startServer } from "./raw.ts";
import { havePeer } from "./peers.ts";

const FIXTURE_FILES: Record<string, number> = {
  "empty.bin": 0,
  "one.bin": 1,
  "4k.bin": 4096,
  "10m.bin": 10 * 1024 * 1024,
  "with space.txt": 100,
  "ünïcødé ✓.txt": 200,
  "hash#name.txt": 300,
  "per%cent.txt": 400,
  "q?mark.txt": 500,
};

/** Deterministic content, different for every file. */
function content(name: string, size: number): Uint8Array {
  let seed = 2166136261;
  for (const c of name) seed = Math.imul(seed ^ c.charCodeAt(0), 16777619);
  return pattern(size, seed >>> 0);
}

async function makeFixture(): Promise<{ dir: string; sums: Map<string, string> }> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-e2e-" });
  const sums = new Map<string, string>();
  for (const [name, size] of Object.entries(FIXTURE_FILES)) {
    const data = content(name, size);
    await Deno.writeFile(join(dir, name), data);
    sums.set(name, sha256(data));
  }
  await Deno.mkdir(join(dir, "sub"));
  await Deno.writeTextFile(join(dir, "sub", "inner.txt"), "inner\n");
  await Deno.mkdir(join(dir, "example.com"));
  await Deno.writeTextFile(join(dir, "<img src=x onerror=alert(1)>.txt"), "x");
  return { dir, sums };
}

const url = (base: string, name: string) => base + encodeURIComponent(name);

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: Uint8Array; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { code: r.code, out: r.stdout, err: new TextDecoder().decode(r.stderr) };
}

Deno.test("server.ts serves byte-identical files to curl, wget, python3 and fetch", async (t) => {
  const { dir, sums } = await makeFixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    await t.step("curl", async () => {
      if (!havePeer("curl")) return;
      for (const [name, sum] of sums) {
        const r = await run("curl", ["-sS", "--fail", url(server.url, name)]);
        assert.deepEqual(r.code, 0, `curl ${name}: ${r.err}`);
        assert.deepEqual(sha256(r.out), sum, name);
      }
    });
    await t.step("wget", async () => {
      if (!havePeer("wget")) return;
      for (const [name, sum] of sums) {
        const r = await run("wget", ["-q", "-O", "-", url(server.url, name)]);
        assert.deepEqual(r.code, 0, `wget ${name}: ${r.err}`);
        assert.deepEqual(sha256(r.out), sum, name);
      }
    });
    await t.step("python3 urllib", async () => {
      if (!havePeer("python3")) return;
      const script = "import sys,hashlib,urllib.request\n" +
        "for u in sys.argv[1:]:\n" +
        "  print(hashlib.sha256(urllib.request.urlopen(u).read()).hexdigest())";
      const names = [...sums.keys()];
      const r = await run("python3", ["-c", script, ...names.map((n) => url(server.url, n))]);
      assert.deepEqual(r.code, 0, r.err);
      assert.deepEqual(
        new TextDecoder().decode(r.out).trim().split("\n"),
        names.map((n) => sums.get(n)),
      );
    });
    await t.step("Deno fetch", async () => {
      for (const [name, sum] of sums) {
        const res = await fetch(url(server.url, name));
        assert.deepEqual(res.status, 200);
        assert.deepEqual(sha256(new Uint8Array(await res.arrayBuffer())), sum, name);
      }
    });
    await t.step("50 concurrent downloads are all correct", async () => {
      const names = ["4k.bin", "10m.bin", "with space.txt", "one.bin", "empty.bin"];
      const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
        const name = names[i % names.length];
        const res = await fetch(url(server.url, name));
        return [name, sha256(new Uint8Array(await res.arrayBuffer()))];
      }));
      for (const [name, sum] of results) assert.deepEqual(sum, sums.get(name), name);
    });
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts response heads: types, validators, HEAD, OPTIONS, 405, redirects", async () => {
  const { dir } = await makeFixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    let r = await rawRequest(
      server.port,
      "GET /4k.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(r.status, 200);
    for (
      const f of [
        "Content-Length: 4096",
        "Accept-Ranges: bytes",
        'ETag: "',
        "Last-Modified: ",
        "Date: ",
        "Server: ferry/",
        "X-Content-Type-Options: nosniff",
        "Content-Type: application/octet-stream",
      ]
    ) {
      assert.ok(r.text.includes(f), `missing ${f} in ${r.text.slice(0, 400)}`);
    }
    r = await rawRequest(
      server.port,
      "HEAD /with%20space.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(r.status, 200);
    assert.match(r.text, /Content-Type: text\/plain; charset=utf-8/);
    assert.match(r.text, /Content-Length: 100\r\n/);
    assert.ok(r.text.endsWith("\r\n\r\n"), "HEAD must not send a body");
    r = await rawRequest(server.port, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.deepEqual(r.status, 204);
    assert.match(r.text, /Allow: GET, HEAD, OPTIONS/);
    r = await rawRequest(
      server.port,
      "DELETE /4k.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(r.status, 405);
    assert.match(r.text, /Allow: GET, HEAD, OPTIONS/);
    r = await rawRequest(server.port, "GET /sub HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert.deepEqual(r.status, 301);
    assert.match(r.text, /Location: \/sub\/\r\n/);
    // The query survives the slash redirect: `curl -L /sub?format=json` still gets JSON.
    r = await rawRequest(
      server.port,
      "GET /sub?format=json&sort=size HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(r.status, 301);
    assert.match(r.text, /Location: \/sub\/\?format=json&sort=size\r\n/);
    // python's http.server turned this into "Location: //example.com/" (CVE-2021-28861).
    r = await rawRequest(
      server.port,
      "GET //example.com HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(r.status, 301);
    assert.match(r.text, /Location: \/example\.com\/\r\n/);
    r = await rawRequest(
      server.port,
      "GET /nope.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(r.status, 404);
    assert.ok(!r.text.includes(dir), "an error body must not echo the path");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts listing escapes markup in names and links percent-encoded", async () => {
  const { dir } = await makeFixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    const res = await fetch(server.url);
    const html = await res.text();
    assert.deepEqual(res.status, 200);
    assert.ok(!html.includes("<img src=x"), "raw markup reached the listing");
    assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;.txt"));
    assert.ok(html.includes('href="hash%23name.txt"'), "# must be percent-encoded in links");
    assert.ok(html.includes('href="q%3Fmark.txt"'), "? must be percent-encoded in links");
    const json = await (await fetch(server.url, { headers: { Accept: "application/json" } }))
      .json();
    assert.ok(
      Array.isArray(json.entries) && json.entries.length >= Object.keys(FIXTURE_FILES).length,
    );
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts keeps connections alive, pipelines in order, and closes HTTP/1.0", async () => {
  const { dir } = await makeFixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    if (havePeer("curl")) {
      const r = await run("curl", [
        "-sS",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects}\\n",
        server.url + "one.bin",
        server.url + "4k.bin",
      ]);
      assert.deepEqual(
        new TextDecoder().decode(r.out).trim().split("\n"),
        ["1", "0"],
        "curl reused the connection",
      );
    }
    const pipelined = "GET /sub/inner.txt HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /one.bin HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /sub/inner.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const r = await rawRequest(server.port, pipelined);
    const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ["200", "200", "200"]);
    const firstInner = r.text.indexOf("inner\n");
    const lengthOne = r.text.indexOf("Content-Length: 1\r\n");
    assert.ok(firstInner !== -1 && lengthOne > firstInner, "responses in request order");
    assert.ok(r.closed, "Connection: close honoured");

    const r10 = await rawRequest(server.port, "GET /sub/inner.txt HTTP/1.0\r\n\r\n");
    assert.deepEqual(r10.status, 200);
    assert.ok(r10.closed, "HTTP/1.0 without keep-alive closes");
    assert.ok(r10.text.endsWith("inner\n"));
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts lets a download in flight finish on SIGTERM, then exits 0", async () => {
  if (!havePeer("curl")) return;
  const { dir, sums } = await makeFixture();
  const server = await startServer(dir, ["--log", "none"]);
  try {
    const curl = new Deno.Command("curl", {
      args: ["-sS", "--limit-rate", "8M", server.url + "10m.bin"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await new Promise((r) => setTimeout(r, 300));
    server.proc.kill("SIGTERM");
    const out = await curl.output();
    assert.deepEqual(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(sha256(out.stdout), sums.get("10m.bin"));
    const status = await server.proc.status;
    assert.deepEqual(status.code, 0);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts command line: bad arguments exit 2, a port in use exits 1", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "f");
  await Deno.writeTextFile(file, "x");
  const cli = (...args: string[]) => run(Deno.execPath(), ["run", "-A", "server.ts", ...args]);
  try {
    for (
      const [args, msg] of [
        [["abc", dir], /PORT must be a whole number/],
        [["70000", dir], /PORT must be a whole number/],
        [["-1", dir], /./],
        [["0", join(dir, "missing")], /does not exist/],
        [["0", file], /is not a directory/],
        [["--log", "loud", "0", dir], /--log must be/],
        [["--bogus", "0", dir], /unknown option --bogus/],
      ] as Array<[string[], RegExp]>
    ) {
      const r = await cli(...args);
      assert.deepEqual(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, msg);
      assert.match(r.err, /Try 'server\.ts --help'/);
    }
    const help = await cli("--help");
    assert.deepEqual(help.code, 0);
    assert.match(new TextDecoder().decode(help.out), /--idle-timeout SEC .*default 30/);
    const version = await cli("--version");
    assert.match(new TextDecoder().decode(version.out), /ferry server \d+\.\d+\.\d+/);

    const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = String(holder.addr.port);
      const r = await cli("--host", "127.0.0.1", port, dir);
      assert.deepEqual(r.code, 1);
      assert.match(r.err, new RegExp(`port ${port} is already in use`));
      const rw = await cli("--workers", "2", "--host", "127.0.0.1", port, dir);
      assert.deepEqual(rw.code, 1, "workers must not silently share a port that is in use");
      assert.match(rw.err, new RegExp(`port ${port} is already in use`));
    } finally {
      holder.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
