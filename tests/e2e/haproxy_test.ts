/**
 * Two `server.ts` instances over two `cp -p` replicas behind the real HAProxy (Debian's
 * `haproxy`, installed by .ci/run): TCP mode with send-proxy-v2 and HTTP mode with
 * X-Forwarded-For; a download that fails over to the other instance when the serving one is
 * killed (`client.ts --retry`, Range + If-Range); a drain during a download.
 *
 * HAProxy connects from 127.0.0.2 (`source`), the clients from 127.0.0.1, and the instances
 * trust 127.0.0.2 only, so every log line must show 127.0.0.1 as the client and 127.0.0.2 as
 * the proxy.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { havePeer } from "./peers.ts";
import { rawRequest, type RunningServer, startServer } from "./raw.ts";
import {
  freePort,
  haproxyConfig,
  randomFile,
  replica,
  type RunningHaproxy,
  startHaproxy,
  throttledRelay,
} from "./haproxy.ts";
import { CLIENT, sha256 } from "../client/cli.ts";

const BIG = 64 * 1024 * 1024;
/** The throttled link: 64 MiB in ~2.7 s, long enough to act mid-download. */
const LINK_BYTES_PER_S = 24 * 1024 * 1024;

interface Farm {
  src: string;
  big: string;
  dirs: string[];
  servers: RunningServer[];
  haproxy: RunningHaproxy;
  tmp: string;
  close(): Promise<void>;
}

/** Source tree, two replicas, two instances and HAProxy in front. */
async function farm(
  mode: "tcp" | "http",
  o: { balance?: "roundrobin" | "first"; big?: boolean; extra?: string[][] } = {},
): Promise<Farm> {
  const tmp = await Deno.makeTempDir({ prefix: "ferry-haproxy-" });
  const src = join(tmp, "src");
  await Deno.mkdir(src);
  await Deno.writeTextFile(join(src, "a.txt"), "hello from a replica\n");
  const big = o.big ? await randomFile(join(src, "big.bin"), BIG) : "";
  const dirs = [await replica(src), await replica(src)];
  const servers: RunningServer[] = [];
  let haproxy: RunningHaproxy | undefined;
  const close = async () => {
    await haproxy?.stop();
    for (const s of servers) await s.stop();
    for (const d of [tmp, ...dirs]) await Deno.remove(d, { recursive: true });
  };
  try {
    for (let i = 0; i < 2; i++) {
      const args = [
        "--no-dns",
        "--trusted-proxy",
        "127.0.0.2",
        "--health-path",
        "/healthz",
        ...(mode === "tcp" ? ["--proxy-protocol"] : []),
        ...(o.extra?.[i] ?? []),
      ];
      servers.push(await startServer(dirs[i], args));
    }
    const port = freePort();
    const config = haproxyConfig({
      mode,
      port,
      servers: servers.map((s) => s.port),
      balance: o.balance,
    });
    haproxy = await startHaproxy(tmp, config, port);
    // Both instances up: each has answered a health check.
    const until = Date.now() + 10_000;
    while (!servers.every((s) => /"GET \/healthz HTTP\/1\.1" 200/.test(s.stdout()))) {
      if (Date.now() > until) throw new Error(`no health checks: ${haproxy.stderr()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return { src, big, dirs, servers, haproxy, tmp, close };
  } catch (e) {
    await close();
    throw e;
  }
}

const GET = "GET /a.txt HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n";

/** Waits (bounded) until `f()` holds. */
async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const field = (text: string, name: string) =>
  new RegExp(`\\r\\n${name}: *([^\\r\\n]*)`, "i").exec(text)?.[1];

for (const mode of ["tcp", "http"] as const) {
  const how = mode === "tcp" ? "TCP mode, send-proxy-v2" : "HTTP mode, X-Forwarded-For";
  Deno.test(`HAProxy (${how}): both instances serve the same validators; logs show client 127.0.0.1 via proxy 127.0.0.2`, async () => {
    if (!havePeer("haproxy")) return;
    const f = await farm(mode);
    try {
      const etags = new Set<string>();
      const modified = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await rawRequest(f.haproxy.port, GET, { timeoutMs: 5_000 });
        assert.equal(r.status, 200, r.text);
        assert.ok(r.text.endsWith("hello from a replica\n"));
        etags.add(field(r.text, "etag")!);
        modified.add(field(r.text, "last-modified")!);
      }
      assert.equal(etags.size, 1, `ETags differ between replicas: ${[...etags]}`);
      assert.equal(modified.size, 1);
      // Round robin: each instance served some, and logged the client with the proxy beside.
      const line = mode === "tcp"
        ? /127\.0\.0\.1:\d+ via 127\.0\.0\.2:\d+ "GET \/a\.txt HTTP\/1\.1" 200/
        : /127\.0\.0\.1 via 127\.0\.0\.2:\d+ "GET \/a\.txt HTTP\/1\.1" 200/;
      for (const s of f.servers) {
        await until("an access line", () => line.test(s.stdout()));
      }
      if (mode === "tcp") {
        // The connection parameters too.
        for (const s of f.servers) {
          assert.match(s.stdout(), /connect .*peer=127\.0\.0\.1:\d+ proxy=127\.0\.0\.2:\d+/);
        }
        // TCP mode passes the client's own X-Forwarded-For through: not believed.
        const forged = GET.replace("Host", "X-Forwarded-For: 6.6.6.6\r\nHost");
        assert.equal((await rawRequest(f.haproxy.port, forged)).status, 200);
        await new Promise((r) => setTimeout(r, 200));
        for (const s of f.servers) assert.ok(!s.stdout().includes("6.6.6.6"));
      }
      // Nobody but the proxy gets in (TCP mode) or is believed (HTTP mode) directly.
      const direct = await rawRequest(
        f.servers[0].port,
        GET.replace("Host", "X-Forwarded-For: 6.6.6.6\r\nHost"),
      );
      if (mode === "tcp") assert.equal(direct.bytes.length, 0);
      else {
        assert.equal(direct.status, 200);
        await new Promise((r) => setTimeout(r, 200));
        assert.ok(!f.servers[0].stdout().includes("6.6.6.6"));
      }
    } finally {
      await f.close();
    }
  });
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return -1;
  }
}

/** How long a client run may take at most before the test kills it. */
const CLIENT_MAX_MS = 60_000;

/** Runs client.ts; killed if it is still running after {@linkcode CLIENT_MAX_MS}. */
function runClient(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLIENT, "--no-progress", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, CLIENT_MAX_MS);
  child.status.finally(() => clearTimeout(timer));
  return child;
}

Deno.test("HAProxy failover: a 64 MiB download resumes on the other instance (client.ts --retry, If-Range) when the serving one is killed", async () => {
  if (!havePeer("haproxy")) return;
  const f = await farm("tcp", { balance: "first", big: true });
  const link = throttledRelay(f.haproxy.port, LINK_BYTES_PER_S);
  const out = join(f.tmp, "out");
  await Deno.mkdir(out);
  try {
    const client = runClient([
      "--retry",
      "3",
      `http://127.0.0.1:${link.port}/big.bin`,
      out,
    ]);
    // `balance first`: ferry1 serves it. Kill it once part of the body has landed.
    const part = join(out, "big.bin.part");
    let partSize = -1;
    await until("8 MiB of the download", () => {
      sizeOf(part).then((n) => (partSize = n));
      return partSize >= 8 * 1024 * 1024;
    }, 20_000);
    f.servers[0].proc.kill("SIGKILL");
    const r = await client.output();
    const dec = new TextDecoder();
    assert.equal(r.code, 0, dec.decode(r.stderr));
    const got = sha256(await Deno.readFile(join(out, "big.bin")));
    assert.equal(got, f.big, "sha-256 of the resumed download");
    // The rest came from ferry2 as a 206 (Range honoured: the If-Range validator matched).
    await until(
      "ferry2's 206",
      () => /"GET \/big\.bin HTTP\/1\.1" 206/.test(f.servers[1].stdout()),
    );
    assert.match(f.servers[1].stdout(), /127\.0\.0\.1:\d+ via 127\.0\.0\.2:\d+ "GET \/big\.bin/);
  } finally {
    await link.close();
    await f.close();
  }
});

Deno.test("HAProxy drain: SIGTERM with --drain lets a download finish while HAProxy marks the instance down", async () => {
  if (!havePeer("haproxy")) return;
  const f = await farm("tcp", { balance: "first", big: true, extra: [["--drain", "4"], []] });
  const link = throttledRelay(f.haproxy.port, LINK_BYTES_PER_S);
  const out = join(f.tmp, "out");
  await Deno.mkdir(out);
  try {
    const client = runClient([`http://127.0.0.1:${link.port}/big.bin`, out]);
    const part = join(out, "big.bin.part");
    let have = -1;
    await until("4 MiB of the download", () => {
      sizeOf(part).then((n) => (have = n));
      return have >= 4 * 1024 * 1024;
    }, 20_000);
    f.servers[0].proc.kill("SIGTERM");
    await until("HAProxy to mark ferry1 down", () => /ferry1 is DOWN/.test(f.haproxy.stderr()));
    // New connections go to ferry2 now, while ferry1 is still sending the big file.
    const r = await rawRequest(f.haproxy.port, GET, { timeoutMs: 5_000 });
    assert.equal(r.status, 200);
    await until(
      "ferry2 to serve a.txt",
      () => /"GET \/a\.txt HTTP\/1\.1" 200/.test(f.servers[1].stdout()),
    );
    const done = await client.output();
    assert.equal(done.code, 0, new TextDecoder().decode(done.stderr));
    assert.equal(sha256(await Deno.readFile(join(out, "big.bin"))), f.big);
    // ferry1 served all of it, answered its health checks 503, then stopped cleanly.
    await until(
      "ferry1's 200 line",
      () => /"GET \/big\.bin HTTP\/1\.1" 200 67108864/.test(f.servers[0].stdout()),
    );
    assert.match(f.servers[0].stdout(), /"GET \/healthz HTTP\/1\.1" 503/);
    assert.equal((await f.servers[0].proc.status).code, 0);
  } finally {
    await link.close();
    await f.close();
  }
});

Deno.test("README shows the HAProxy configuration these tests run", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const config = haproxyConfig({ mode: "tcp", port: 8080, servers: [8081, 8082] });
  assert.ok(readme.includes("```\n" + config + "```"), "README's HAProxy configuration is stale");
});
