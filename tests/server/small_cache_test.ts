import assert from "node:assert/strict";
import { SmallFileCache } from "../../lib/server/small_cache.ts";
import { RACY_MS } from "../../lib/server/file_version.ts";

async function withFile(content: string, fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ferry_small_cache_" });
  try {
    const path = `${dir}/f.txt`;
    await Deno.writeTextFile(path, content);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const fields: Array<[string, string]> = [["Content-Length", "5"]];
const body = new TextEncoder().encode("hello");

Deno.test("SmallFileCache does not store a version the path no longer holds", async () => {
  await withFile("hello", async (path) => {
    const info = await Deno.stat(path);
    const cache = new SmallFileCache();
    // Read at one version, but the path now has another (other times): never stored.
    const old = { ...info, mtime: new Date(0), ctime: new Date(0) };
    cache.store("/f.txt", path, old, "ferry/test", fields, body);
    assert.equal(cache.size, 0);
  });
});

Deno.test("SmallFileCache does not store a file that changed within RACY_MS", async () => {
  await withFile("hello", async (path) => {
    const info = await Deno.stat(path);
    const cache = new SmallFileCache();
    cache.store("/f.txt", path, info, "ferry/test", fields, body);
    assert.equal(cache.size, 0, `a file younger than ${RACY_MS} ms is not cached`);
  });
});

Deno.test("SmallFileCache hit: whole response in one buffer, head length, Connection: close variant", async () => {
  await withFile("hello", async (path) => {
    const then = (Date.now() - 10 * RACY_MS) / 1000;
    await Deno.utime(path, then, then);
    // ctime is still now; wait out the racy window only if the clock requires it.
    const info = await Deno.stat(path);
    const cache = new SmallFileCache();
    const racy = Date.now() - info.ctime!.getTime() < RACY_MS;
    if (racy) {
      await new Promise((r) => setTimeout(r, RACY_MS + 50 - (Date.now() - info.ctime!.getTime())));
    }
    cache.store("/f.txt", path, info, "ferry/test", fields, body);
    const keep = cache.lookup("/f.txt", true, 7, "Thu, 01 Jan 1970 00:00:07 GMT")!;
    const text = new TextDecoder().decode(keep.bytes);
    assert.ok(text.startsWith("HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:07 GMT\r\n"));
    assert.ok(text.endsWith("\r\n\r\nhello"));
    assert.equal(keep.headLength, keep.bytes.length - 5);
    assert.ok(!text.includes("Connection: close"));
    const close = cache.lookup("/f.txt", false, 7, "Thu, 01 Jan 1970 00:00:07 GMT")!;
    assert.ok(new TextDecoder().decode(close.bytes).includes("Connection: close\r\n\r\nhello"));
    // A rewrite changes the version: the next lookup misses.
    await Deno.writeTextFile(path, "HELLO");
    assert.equal(cache.lookup("/f.txt", true, 7, "x"), undefined);
  });
});

Deno.test("SmallFileCache with a watch: a change under the root empties it at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry_small_cache_watch_" });
  const cache = new SmallFileCache();
  try {
    const path = `${dir}/f.txt`;
    await Deno.writeTextFile(path, "hello");
    const then = (Date.now() - 10 * RACY_MS) / 1000;
    await Deno.utime(path, then, then);
    const info = await Deno.stat(path);
    const wait = RACY_MS + 50 - (Date.now() - info.ctime!.getTime());
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    cache.watch(dir);
    cache.store("/f.txt", path, info, "ferry/test", fields, body);
    assert.equal(cache.size, 1);
    assert.ok(cache.lookup("/f.txt", true, 1, "x") !== undefined);
    await Deno.writeTextFile(`${dir}/other.txt`, "x");
    for (let i = 0; i < 100 && cache.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(cache.size, 0, "the watch emptied the cache");
  } finally {
    cache.close();
    await new Promise((r) => setTimeout(r, 10));
    await Deno.remove(dir, { recursive: true });
  }
});
