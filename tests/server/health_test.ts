import assert from "node:assert/strict";
import { join } from "node:path";
import { checkHealthPath, healthReply } from "../../lib/server/health.ts";
import type { RequestHead } from "../../lib/http/request.ts";

const req = (method: string, target: string): RequestHead => ({
  method,
  target,
  version: "HTTP/1.1",
  headers: new Map(),
  keepAlive: true,
  hasBody: false,
});
const text = (b?: Uint8Array) => new TextDecoder().decode(b);

Deno.test("healthReply(): 200 ok, then 503 once draining; never cached", () => {
  const h = { path: "/healthz", draining: false };
  const ok = healthReply(req("GET", "/healthz"), h)!;
  assert.equal(ok.status, 200);
  assert.equal(text(ok.body), "ok\n");
  assert.ok(ok.fields.some(([k, v]) => k === "Cache-Control" && v === "no-store"));
  assert.equal(healthReply(req("HEAD", "/healthz?probe=1"), h)!.status, 200);
  h.draining = true;
  const down = healthReply(req("GET", "/healthz"), h)!;
  assert.equal(down.status, 503);
  assert.equal(text(down.body), "draining\n");
});

Deno.test("healthReply(): other paths are not its business; other methods 405", () => {
  const h = { path: "/healthz", draining: false };
  for (const t of ["/", "/healthz/", "/healthzz", "/HEALTHZ", "/%68ealthz"]) {
    assert.equal(healthReply(req("GET", t), h), undefined, t);
  }
  const post = healthReply(req("POST", "/healthz"), h)!;
  assert.equal(post.status, 405);
  assert.ok(post.fields.some(([k, v]) => k === "Allow" && v === "GET, HEAD"));
});

Deno.test("checkHealthPath(): refuses odd paths and paths DIR holds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-health-" });
  try {
    await Deno.writeTextFile(join(dir, "healthz"), "a file");
    await Deno.mkdir(join(dir, "status"));
    assert.equal(checkHealthPath("/ready", dir), null);
    assert.equal(checkHealthPath("/status/ready", dir), null);
    assert.match(checkHealthPath("/healthz", dir)!, /DIR holds \/healthz/);
    assert.match(checkHealthPath("/status", dir)!, /DIR holds \/status/);
    for (const bad of ["healthz", "/", "/a/../b", "/a//b", "/a?b", "/a%20b", "/./a"]) {
      assert.match(checkHealthPath(bad, dir)!, /plain URL path/, bad);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
