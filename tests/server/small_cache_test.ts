import assert from "node:assert/strict";
import { SmallFileCache } from "../../lib/server/small_cache.ts";
import { RACY_MS } from "../../lib/server/file_version.ts";
import { MAX_WATCHES } from "../../lib/server/inotify.ts";

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

/** Files under a fresh real directory, old enough (RACY_MS) to be cached. */
async function oldFiles(files: string[]): Promise<string> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "ferry_small_cache_watch_" }));
  for (const f of files) {
    await Deno.mkdir(`${dir}/${f}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(`${dir}/${f}`, "hello");
    const then = (Date.now() - 10 * RACY_MS) / 1000;
    await Deno.utime(`${dir}/${f}`, then, then);
  }
  // ctime cannot be set back: wait until it is RACY_MS old.
  await new Promise((r) => setTimeout(r, RACY_MS + 50));
  return dir;
}

Deno.test({
  name: "SmallFileCache with a watch: changes empty it at the next hit, reads never do",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    const dir = await oldFiles(["f.txt", "g.txt", "a/b/deep.txt", "x/y.txt"]);
    const cache = new SmallFileCache();
    const put = async (target: string) => {
      const path = `${dir}${target}`;
      cache.store(target, path, await Deno.stat(path), "ferry/test", fields, body);
      assert.ok(cache.lookup(target, true, 1, "x") !== undefined, `${target} is cached`);
    };
    try {
      assert.equal(cache.watch(dir), true, "inotify is available (Linux, -A)");

      await t.step(
        "reading the files (as another server would) leaves the cache alone",
        async () => {
          await put("/f.txt");
          for (let i = 0; i < 200; i++) {
            using f = await Deno.open(`${dir}/f.txt`);
            await f.read(new Uint8Array(16));
          }
          await Deno.readDir(dir)[Symbol.asyncIterator]().next();
          assert.ok(cache.lookup("/f.txt", true, 1, "x") !== undefined, "still a hit");
        },
      );

      await t.step("a new file in a watched directory empties it", async () => {
        await put("/f.txt");
        await Deno.writeTextFile(`${dir}/other.txt`, "x");
        assert.equal(cache.lookup("/f.txt", true, 1, "x"), undefined, "no stale hit");
        assert.equal(cache.size, 0);
      });

      await t.step("a same-size rewrite of another cached file empties it", async () => {
        await put("/f.txt");
        await put("/g.txt");
        await Deno.writeTextFile(`${dir}/g.txt`, "HELLO");
        assert.equal(cache.lookup("/f.txt", true, 1, "x"), undefined);
        assert.equal(cache.size, 0);
      });

      await t.step(
        "renaming a parent directory away and putting another in its place",
        async () => {
          await put("/a/b/deep.txt");
          await Deno.rename(`${dir}/a`, `${dir}/gone`);
          await Deno.mkdir(`${dir}/a/b`, { recursive: true });
          await Deno.writeTextFile(`${dir}/a/b/deep.txt`, "NEWER");
          assert.equal(cache.lookup("/a/b/deep.txt", true, 1, "x"), undefined);
        },
      );

      await t.step("a change in a directory of a cached file deep down is seen", async () => {
        await put("/x/y.txt");
        await Deno.writeTextFile(`${dir}/x/new.txt`, "x");
        assert.equal(cache.lookup("/x/y.txt", true, 1, "x"), undefined);
      });

      await t.step("after close(), every hit is checked by stat again", async () => {
        cache.close();
        await put("/f.txt");
        await Deno.writeTextFile(`${dir}/f.txt`, "HELLO"); // same size, so only a stat sees it
        assert.equal(cache.lookup("/f.txt", true, 1, "x"), undefined);
      });
    } finally {
      cache.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** inotify watches this process holds, from /proc/self/fdinfo (one "inotify wd:" line each). */
function inotifyWatches(): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fdinfo")) {
    try {
      n += Deno.readTextFileSync(`/proc/self/fdinfo/${e.name}`).split("\n")
        .filter((l) => l.startsWith("inotify wd:")).length;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

Deno.test({
  name:
    "SmallFileCache with a watch: a crawl over many directories holds a bounded number of watches",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const count = MAX_WATCHES + 200;
    const dir = await oldFiles(Array.from({ length: count }, (_, i) => `d${i}/f.txt`));
    const cache = new SmallFileCache();
    const before = inotifyWatches();
    try {
      assert.equal(cache.watch(dir), true);
      for (let i = 0; i < count; i++) {
        const path = `${dir}/d${i}/f.txt`;
        cache.store(`/d${i}/f.txt`, path, await Deno.stat(path), "ferry/test", fields, body);
      }
      const held = inotifyWatches() - before;
      assert.ok(held <= MAX_WATCHES + 1, `${held} watches held for ${count} directories`);
      const last = `/d${count - 1}/f.txt`;
      assert.ok(cache.lookup(last, true, 1, "x") !== undefined, "the latest entry is cached");
      await Deno.writeTextFile(`${dir}/d${count - 1}/new.txt`, "x");
      assert.equal(cache.lookup(last, true, 1, "x"), undefined, "the fresh watch sees changes");
    } finally {
      cache.close();
      await Deno.remove(dir, { recursive: true });
    }
    assert.equal(inotifyWatches(), before, "close() released every watch");
  },
});
