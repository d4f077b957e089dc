/**
 * End to end, over raw sockets: what `server.ts` does with PROXY headers, forwarding fields, the
 * health path and the drain. (With the real HAProxy: haproxy_test.ts.)
 *
 * Deno cannot choose a connection's source address, so every raw connection here comes from
 * 127.0.0.1: "trusted" servers trust 127.0.0.1, "untrusted" ones only 127.0.0.2.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { rawRequest, type RunningServer, SERVER_TS, startServer } from "./raw.ts";
import { PROXY_V2_SIGNATURE } from "../../lib/net/proxy_protocol.ts";

const GET = "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const enc = new TextEncoder();

async function fixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-behind-proxy-" });
  await Deno.writeTextFile(join(dir, "a.txt"), "hello\n");
  return dir;
}

/** Waits (bounded) until the server's stdout matches `re`; returns the match. */
async function logLine(s: RunningServer, re: RegExp, ms = 3_000): Promise<RegExpMatchArray> {
  const until = Date.now() + ms;
  for (;;) {
    const m = s.stdout().match(re);
    if (m !== null) return m;
    if (Date.now() > until) throw new Error(`no log line ${re} in:\n${s.stdout()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function v2Header(src: number[], sport: number, dst: number[], dport: number): Uint8Array {
  return Uint8Array.from([
    ...PROXY_V2_SIGNATURE,
    0x21,
    0x11,
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

Deno.test("--proxy-protocol: v1 and v2 from a trusted proxy; the log shows client and proxy", async () => {
  const dir = await fixture();
  const s = await startServer(dir, ["--proxy-protocol", "--trusted-proxy", "127.0.0.0/8"]);
  try {
    const v1 = await rawRequest(s.port, `PROXY TCP4 192.0.2.9 127.0.0.1 5555 80\r\n${GET}`);
    assert.equal(v1.status, 200);
    assert.ok(v1.text.endsWith("hello\n"));
    await logLine(s, /#1 192\.0\.2\.9:5555 via 127\.0\.0\.1:\d+ "GET \/a\.txt HTTP\/1\.1" 200 6/);
    await logLine(s, /#1 connect .*peer=192\.0\.2\.9:5555 proxy=127\.0\.0\.1:\d+ local=/);

    const hdr = v2Header([198, 51, 100, 7], 4242, [127, 0, 0, 1], 80);
    // Header and request in separate small writes: the header may arrive in pieces.
    const v2 = await rawRequest(s.port, Uint8Array.from([...hdr, ...enc.encode(GET)]), {
      chunkBytes: 5,
      chunkDelayMs: 5,
    });
    assert.equal(v2.status, 200);
    await logLine(s, /198\.51\.100\.7:4242 via 127\.0\.0\.1:\d+ "GET \/a\.txt/);

    // v1 TCP6, keep-alive: two requests on one connection, both attributed to the client.
    const two = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" + GET;
    const v6 = await rawRequest(s.port, `PROXY TCP6 2001:db8::5 ::1 1000 80\r\n${two}`);
    assert.equal(v6.text.split("HTTP/1.1 200 OK").length, 3);
    await logLine(s, /\[2001:db8::5\]:1000 via[^]*\[2001:db8::5\]:1000 via/);
  } finally {
    await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--proxy-protocol over IPv6: a trusted ::1 proxy, an IPv4 client", async () => {
  const dir = await fixture();
  const s = await startServer(dir, [
    "--host",
    "::1",
    "--proxy-protocol",
    "--trusted-proxy",
    "::1",
  ]);
  try {
    const r = await rawRequest(s.port, `PROXY TCP4 192.0.2.10 192.0.2.1 6000 80\r\n${GET}`, {
      hostname: "::1",
    });
    assert.equal(r.status, 200);
    await logLine(s, /#1 192\.0\.2\.10:6000 via \[::1\]:\d+ "GET/);
  } finally {
    await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--proxy-protocol: JSON log lines carry peer and proxy", async () => {
  const dir = await fixture();
  const s = await startServer(dir, [
    "--log",
    "json",
    "--no-dns",
    "--proxy-protocol",
    "--trusted-proxy",
    "127.0.0.1",
  ]);
  try {
    const r = await rawRequest(s.port, `PROXY TCP4 203.0.113.5 127.0.0.1 777 80\r\n${GET}`);
    assert.equal(r.status, 200);
    await logLine(s, /"event":"request"/);
    const lines = s.stdout().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const req = lines.find((l) => l.event === "request");
    assert.equal(req.peer, "203.0.113.5:777");
    assert.match(req.proxy, /^127\.0\.0\.1:\d+$/);
    const conn = lines.find((l) => l.event === "connection");
    assert.equal(conn.peer, "203.0.113.5:777");
    assert.equal(conn.proxy, req.proxy);
  } finally {
    await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--proxy-protocol: untrusted peers, malformed and oversized headers are closed without a response, logged", async () => {
  const dir = await fixture();
  const untrusted = await startServer(dir, ["--proxy-protocol", "--trusted-proxy", "127.0.0.2"]);
  const trusted = await startServer(dir, ["--proxy-protocol", "--trusted-proxy", "127.0.0.1"]);
  try {
    const r = await rawRequest(untrusted.port, `PROXY TCP4 192.0.2.9 127.0.0.1 5555 80\r\n${GET}`);
    assert.equal(r.bytes.length, 0, r.text);
    assert.ok(r.closed);
    await logLine(untrusted, /closed a connection from 127\.0\.0\.1:\d+: not a trusted proxy/);

    const bad: Array<[string, Uint8Array | string, RegExp]> = [
      ["no header", GET, /not a PROXY header/],
      ["bad address", `PROXY TCP4 192.0.2.300 127.0.0.1 1 2\r\n${GET}`, /address/],
      ["lone LF", `PROXY TCP4 192.0.2.3 127.0.0.1 1 2\n${GET}`, /control/],
      ["no CRLF", `PROXY UNKNOWN ${"x".repeat(200)}`, /no CRLF/],
      [
        "oversized v2",
        Uint8Array.from([...PROXY_V2_SIGNATURE, 0x21, 0x11, 0xff, 0xff, ...Array(100).fill(0)]),
        /over 2048/,
      ],
    ];
    for (const [name, bytes, reason] of bad) {
      const x = await rawRequest(trusted.port, bytes);
      assert.equal(x.bytes.length, 0, `${name}: ${x.text}`);
      assert.ok(x.closed, name);
      await logLine(trusted, reason);
    }
    // Still serving.
    const ok = await rawRequest(trusted.port, `PROXY UNKNOWN\r\n${GET}`);
    assert.equal(ok.status, 200);
  } finally {
    await untrusted.stop();
    await trusted.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("X-Forwarded-For / Forwarded: believed from trusted proxies only", async () => {
  const dir = await fixture();
  const trusted = await startServer(dir, ["--trusted-proxy", "127.0.0.1"]);
  const untrusted = await startServer(dir, ["--trusted-proxy", "127.0.0.2"]);
  const plain = await startServer(dir, []);
  const req = (f: string) => `GET /a.txt HTTP/1.1\r\nHost: x\r\n${f}\r\nConnection: close\r\n\r\n`;
  try {
    let r = await rawRequest(trusted.port, req("X-Forwarded-For: 6.6.6.6, 203.0.113.7"));
    assert.equal(r.status, 200);
    await logLine(trusted, /#1 203\.0\.113\.7 via 127\.0\.0\.1:\d+ "GET/);
    r = await rawRequest(trusted.port, req('Forwarded: for="[2001:db8::9]:1";proto=http'));
    assert.equal(r.status, 200);
    await logLine(trusted, /#2 2001:db8::9 via 127\.0\.0\.1:\d+ "GET/);
    // Both fields: one of them is the client's own; neither is believed.
    r = await rawRequest(
      trusted.port,
      req("Forwarded: for=6.6.6.6\r\nX-Forwarded-For: 203.0.113.7"),
    );
    await logLine(trusted, /#3 127\.0\.0\.1:\d+ "GET/);

    // A bad head after a forwarded request on the same connection is not attributed to the
    // client the previous request named.
    r = await rawRequest(
      trusted.port,
      "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.8\r\n\r\n" +
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nBad Field: y\r\n\r\n",
    );
    assert.match(r.text, /400 Bad Request/);
    await logLine(
      trusted,
      /#4 203\.0\.113\.8 via 127\.0\.0\.1:\d+ "GET \/a\.txt[^]*#4 127\.0\.0\.1:\d+ "- - -" 400/,
    );

    for (const s of [untrusted, plain]) {
      r = await rawRequest(s.port, req("X-Forwarded-For: 6.6.6.6"));
      assert.equal(r.status, 200);
      await logLine(s, /#1 127\.0\.0\.1:\d+ "GET \/a\.txt/);
      assert.ok(!s.stdout().includes("6.6.6.6"), s.stdout());
    }
  } finally {
    await trusted.stop();
    await untrusted.stop();
    await plain.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--health-path answers 200; --drain on SIGTERM turns it 503 at once, files still served, then stops", async () => {
  const dir = await fixture();
  const s = await startServer(dir, ["--health-path", "/healthz", "--drain", "1.5"]);
  const get = (path: string) =>
    rawRequest(s.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  try {
    const up = await get("/healthz");
    assert.equal(up.status, 200);
    assert.ok(up.text.endsWith("ok\n"));
    assert.equal((await get("/a.txt")).status, 200);

    const sentAt = Date.now();
    s.proc.kill("SIGTERM");
    await logLine(s, /draining: health answers 503/);
    const down = await get("/healthz");
    assert.equal(down.status, 503);
    assert.equal((await get("/a.txt")).status, 200, "requests are still served while draining");
    const status = await s.proc.status;
    assert.equal(status.code, 0);
    assert.ok(Date.now() - sentAt >= 1_400, "stopped before the drain ended");
  } finally {
    await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts refuses to start when DIR holds the health path, or with --proxy-protocol and no trusted proxy", async () => {
  const dir = await fixture();
  try {
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SERVER_TS, ...args, "0", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
    let r = await run(["--health-path", "/a.txt"]);
    assert.equal(r.code, 2);
    assert.match(new TextDecoder().decode(r.stderr), /DIR holds \/a\.txt/);
    r = await run(["--proxy-protocol"]);
    assert.equal(r.code, 2);
    assert.match(new TextDecoder().decode(r.stderr), /needs at least one --trusted-proxy/);
    const help = new TextDecoder().decode((await run(["--help"])).stdout);
    for (
      const o of ["--trusted-proxy CIDR", "--proxy-protocol", "--health-path PATH", "--drain SEC"]
    ) {
      assert.ok(help.includes(o), `--help lacks ${o}`);
    }
    assert.match(help, /--drain SEC[^]*default 0\)/);
    r = await run(["--trusted-proxy", "10.0.0.1/8"]);
    assert.equal(r.code, 2);
    assert.match(new TextDecoder().decode(r.stderr), /host bits/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
