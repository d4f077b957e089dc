/**
 * Behind a caching proxy, the real nginx `proxy_cache`: an expired entry is revalidated and
 * Ferry answers 304; the HTML and JSON listings of one folder are never served for each other
 * (Vary: Accept), even where the proxy is told to cache them; a Range request through the cache
 * gets the right bytes.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { havePeer, peerPath } from "./peers.ts";
import { startServer } from "./raw.ts";
import { freePort } from "./haproxy.ts";
import { pattern } from "../client/cli.ts";

/** How long nginx keeps an entry fresh: short, so that the test sees it expire. */
const FRESH_S = 1;

async function startCachingNginx(prefix: string, upstream: number) {
  const port = freePort();
  const conf = join(prefix, "nginx.conf");
  const proxy = `proxy_pass http://127.0.0.1:${upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache ferry;
      proxy_cache_revalidate on;
      add_header X-Cache-Status $upstream_cache_status always;`;
  await Deno.writeTextFile(
    conf,
    `daemon off; master_process off; worker_processes 1;
pid ${prefix}/nginx.pid; error_log ${prefix}/err.log;
events {}
http {
  access_log off;
  proxy_cache_path ${prefix}/cache levels=1 keys_zone=ferry:1m max_size=64m inactive=1h use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    # As deployed: Ferry's own Cache-Control is obeyed.
    location / {
      ${proxy}
      proxy_cache_valid 200 206 ${FRESH_S}s;
    }
    # Told to cache even what Ferry marks no-cache (listings): only Vary keeps them apart.
    location /forced/ {
      ${proxy}
      proxy_ignore_headers Cache-Control Expires;
      proxy_cache_valid 200 1m;
    }
  }
}
`,
  );
  const child = new Deno.Command(peerPath("nginx")!, {
    args: ["-c", conf, "-p", prefix, "-e", join(prefix, "err.log")],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (Date.now() > until) {
        child.kill("SIGKILL");
        await child.status;
        throw new Error("nginx did not start");
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    base: `http://127.0.0.1:${port}`,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

Deno.test("nginx proxy_cache in front of Ferry: 304 revalidation, listings kept apart by Vary: Accept, ranges right", async () => {
  if (!havePeer("nginx")) return;
  const tmp = await Deno.makeTempDir({ prefix: "ferry-proxy-cache-" });
  const root = join(tmp, "root");
  const prefix = join(tmp, "nginx");
  await Deno.mkdir(join(root, "forced", "folder"), { recursive: true });
  await Deno.mkdir(prefix);
  const data = pattern(100_000, 7);
  await Deno.writeFile(join(root, "data.bin"), data);
  await Deno.writeTextFile(join(root, "forced", "folder", "x.txt"), "x\n");
  await Deno.mkdir(join(root, "folder"));
  await Deno.writeTextFile(join(root, "folder", "y.txt"), "y\n");
  const ferry = await startServer(root, ["--no-dns"]);
  const nginx = await startCachingNginx(prefix, ferry.port);
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await fetch(nginx.base + path, { headers });
    return {
      status: r.status,
      cache: r.headers.get("x-cache-status"),
      type: r.headers.get("content-type") ?? "",
      etag: r.headers.get("etag"),
      body: new Uint8Array(await r.arrayBuffer()),
    };
  };
  try {
    // Revalidation: MISS, HIT, then (expired) REVALIDATED by a 304 from Ferry.
    const first = await get("/data.bin");
    assert.equal(first.status, 200);
    assert.equal(first.cache, "MISS");
    assert.deepEqual(first.body, data);
    assert.equal((await get("/data.bin")).cache, "HIT");
    // nginx counts in whole seconds and expires an entry strictly after its last one.
    await new Promise((r) => setTimeout(r, FRESH_S * 1000 + 1_200));
    const again = await get("/data.bin");
    assert.equal(again.status, 200);
    assert.equal(again.cache, "REVALIDATED");
    assert.equal(again.etag, first.etag);
    assert.deepEqual(again.body, data);
    const until = Date.now() + 3_000;
    while (!/"GET \/data\.bin HTTP\/1\.1" 304 0/.test(ferry.stdout()) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(ferry.stdout(), /"GET \/data\.bin HTTP\/1\.1" 304 0/);

    // Listings: alternate JSON and HTML; each answer is what was asked for — where nginx obeys
    // Ferry's no-cache, and where it is told to cache them anyway (then Vary: Accept alone
    // keeps them apart).
    for (const path of ["/folder/", "/forced/folder/"]) {
      for (let i = 0; i < 3; i++) {
        const json = await get(path, { Accept: "application/json" });
        assert.equal(json.status, 200);
        assert.match(json.type, /^application\/json/, `${path}: JSON asked, got ${json.type}`);
        JSON.parse(new TextDecoder().decode(json.body));
        const html = await get(path, { Accept: "text/html" });
        assert.match(html.type, /^text\/html/, `${path}: HTML asked, got ${html.type}`);
        assert.match(new TextDecoder().decode(html.body), /<html/i);
      }
    }
    // The forced location did cache: a repeat of the last variant is a hit.
    assert.equal((await get("/forced/folder/", { Accept: "text/html" })).cache, "HIT");

    // Ranges through the cache, on a miss and on a hit.
    for (
      const [range, from, to] of [["bytes=100-199", 100, 200], [
        "bytes=-500",
        99_500,
        100_000,
      ]] as const
    ) {
      for (let i = 0; i < 2; i++) {
        const r = await get("/data.bin", { Range: range });
        assert.equal(r.status, 206, `${range} #${i}`);
        assert.deepEqual(r.body, data.subarray(from, to), `${range} #${i} (${r.cache})`);
      }
    }
  } finally {
    await nginx.stop();
    await ferry.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
