import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DIGEST_CHUNK_BYTES, DigestCache } from "../../lib/server/digest_cache.ts";

const HELLO_SHA256_B64 = "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=";

function b64(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : btoa(String.fromCharCode(...bytes));
}

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ferry_digest_cache_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `data` at `path` with an explicit mtime, so versions differ even within one ms. */
async function writeAt(path: string, data: string | Uint8Array, mtimeSec: number) {
  if (typeof data === "string") await Deno.writeTextFile(path, data);
  else await Deno.writeFile(path, data);
  await Deno.utime(path, mtimeSec, mtimeSec);
  return await Deno.stat(path);
}

Deno.test("DigestCache computes the sha-256 of a file in the background", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/hello.txt`;
    const info = await writeAt(path, "hello world", 1_700_000_000);
    const cache = new DigestCache({ racyMs: 0 });
    try {
      assert.equal(cache.get(path, info), undefined, "nothing before a request");
      cache.request(path, info);
      assert.equal(cache.get(path, info), undefined, "request() never blocks for the hash");
      await cache.settled();
      assert.equal(b64(cache.get(path, info)), HELLO_SHA256_B64);
      assert.equal(cache.size, 1);
    } finally {
      await cache.close();
    }
  });
});

Deno.test("DigestCache hashes a multi-chunk file exactly (chunk boundary ± 3 bytes)", async () => {
  await withDir(async (dir) => {
    const cache = new DigestCache({ racyMs: 0 });
    try {
      for (
        const size of [0, DIGEST_CHUNK_BYTES - 3, DIGEST_CHUNK_BYTES, 2 * DIGEST_CHUNK_BYTES + 3]
      ) {
        const data = new Uint8Array(size);
        for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff;
        const path = `${dir}/f${size}`;
        const info = await writeAt(path, data, 1_700_000_000);
        cache.request(path, info);
        await cache.settled();
        const want = btoa(String.fromCharCode(...createHash("sha256").update(data).digest()));
        assert.equal(b64(cache.get(path, info)), want, `size ${size}`);
      }
    } finally {
      await cache.close();
    }
  });
});

Deno.test("DigestCache.get() is undefined once the file is rewritten (new size and mtime)", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/a.txt`;
    const before = await writeAt(path, "hello world", 1_700_000_000);
    const cache = new DigestCache({ racyMs: 0 });
    try {
      cache.request(path, before);
      await cache.settled();
      assert.ok(cache.get(path, before) !== undefined);
      const after = await writeAt(path, "hello world, again", 1_700_000_100);
      assert.equal(cache.get(path, after), undefined, "never stale");
      assert.equal(cache.size, 0, "the stale entry is dropped");
      cache.request(path, after);
      await cache.settled();
      const want = btoa(
        String.fromCharCode(...createHash("sha256").update("hello world, again").digest()),
      );
      assert.equal(b64(cache.get(path, after)), want);
    } finally {
      await cache.close();
    }
  });
});

Deno.test("DigestCache.get() is undefined for a same-size rewrite with another mtime", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/a.txt`;
    const before = await writeAt(path, "hello world", 1_700_000_000);
    const cache = new DigestCache({ racyMs: 0 });
    try {
      cache.request(path, before);
      await cache.settled();
      const after = await writeAt(path, "HELLO WORLD", 1_700_000_001);
      assert.equal(after.size, before.size);
      assert.equal(cache.get(path, after), undefined);
    } finally {
      await cache.close();
    }
  });
});

Deno.test("DigestCache discards a hash when the file changed after the stat it was asked for", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/a.txt`;
    const stale = await writeAt(path, "hello world", 1_700_000_000);
    const fresh = await writeAt(path, "something else", 1_700_000_100);
    const cache = new DigestCache({ racyMs: 0 });
    try {
      cache.request(path, stale);
      await cache.settled();
      assert.equal(cache.get(path, stale), undefined);
      assert.equal(cache.get(path, fresh), undefined);
      assert.equal(cache.size, 0);
    } finally {
      await cache.close();
    }
  });
});

Deno.test("DigestCache evicts the least recently used entry beyond maxEntries", async () => {
  await withDir(async (dir) => {
    const cache = new DigestCache({ racyMs: 0, maxEntries: 2 });
    try {
      const infos: Deno.FileInfo[] = [];
      for (let i = 0; i < 3; i++) {
        infos.push(await writeAt(`${dir}/${i}`, `file ${i}`, 1_700_000_000));
      }
      cache.request(`${dir}/0`, infos[0]);
      cache.request(`${dir}/1`, infos[1]);
      await cache.settled();
      assert.ok(cache.get(`${dir}/0`, infos[0]) !== undefined, "0 is now the most recent");
      cache.request(`${dir}/2`, infos[2]);
      await cache.settled();
      assert.equal(cache.size, 2);
      assert.ok(cache.get(`${dir}/0`, infos[0]) !== undefined);
      assert.equal(cache.get(`${dir}/1`, infos[1]), undefined, "1 was least recently used");
      assert.ok(cache.get(`${dir}/2`, infos[2]) !== undefined);
    } finally {
      await cache.close();
    }
  });
});

Deno.test("DigestCache stays within maxMemoryBytes", async () => {
  await withDir(async (dir) => {
    // Each entry costs a few hundred bytes; 1 KiB holds only a couple.
    const cache = new DigestCache({ racyMs: 0, maxMemoryBytes: 1024 });
    try {
      for (let i = 0; i < 10; i++) {
        const path = `${dir}/${"n".repeat(50)}${i}`;
        cache.request(path, await writeAt(path, String(i), 1_700_000_000));
      }
      await cache.settled();
      assert.ok(cache.size >= 1 && cache.size < 10, `size ${cache.size}`);
    } finally {
      await cache.close();
    }
  });
});

Deno.test("DigestCache does not hash files above maxFileBytes, nor anything when it is 0", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/a.txt`;
    const info = await writeAt(path, "hello world", 1_700_000_000); // 11 bytes
    for (const maxFileBytes of [10, 0]) {
      const cache = new DigestCache({ racyMs: 0, maxFileBytes });
      try {
        cache.request(path, info);
        await cache.settled();
        assert.equal(cache.get(path, info), undefined, `maxFileBytes ${maxFileBytes}`);
      } finally {
        await cache.close();
      }
    }
    const exact = new DigestCache({ racyMs: 0, maxFileBytes: 11 });
    try {
      exact.request(path, info);
      await exact.settled();
      assert.equal(
        b64(exact.get(path, info)),
        HELLO_SHA256_B64,
        "a file of exactly the limit is hashed",
      );
    } finally {
      await exact.close();
    }
  });
});

Deno.test("DigestCache ignores directories, vanished files and requests after close", async () => {
  await withDir(async (dir) => {
    const cache = new DigestCache({ racyMs: 0 });
    const path = `${dir}/gone.txt`;
    const info = await writeAt(path, "hello world", 1_700_000_000);
    await Deno.remove(path);
    cache.request(dir, await Deno.stat(dir));
    cache.request(path, info);
    await cache.settled();
    assert.equal(cache.size, 0);
    await cache.close();
    const back = await writeAt(path, "hello world", 1_700_000_000);
    cache.request(path, back);
    await cache.settled();
    assert.equal(cache.get(path, back), undefined);
  });
});

Deno.test("DigestCache.close() drops queued work and stops the running hash", async () => {
  await withDir(async (dir) => {
    const big = new Uint8Array(8 * DIGEST_CHUNK_BYTES);
    const cache = new DigestCache({ racyMs: 0, concurrency: 1 });
    const infos: Array<[string, Deno.FileInfo]> = [];
    for (let i = 0; i < 4; i++) {
      const path = `${dir}/big${i}`;
      infos.push([path, await writeAt(path, big, 1_700_000_000)]);
    }
    for (const [path, info] of infos) cache.request(path, info);
    await cache.close(); // resolves only once the running hash has closed its file
    await cache.settled();
    for (const [path, info] of infos) assert.equal(cache.get(path, info), undefined);
    await cache.close(); // idempotent
  });
});

Deno.test("DigestCache hashes a file once however often it is requested", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/a.txt`;
    const info = await writeAt(path, "hello world", 1_700_000_000);
    const cache = new DigestCache({ racyMs: 0, maxPending: 1, concurrency: 2 });
    try {
      for (let i = 0; i < 100; i++) cache.request(path, info);
      await cache.settled();
      assert.equal(b64(cache.get(path, info)), HELLO_SHA256_B64);
      assert.equal(cache.size, 1);
    } finally {
      await cache.close();
    }
  });
});

Deno.test("DigestCache never hashes or stores a file that changed within racyMs", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/fresh.txt`;
    await Deno.writeTextFile(path, "hello world");
    const info = await Deno.stat(path); // ctime is now: a same-second rewrite could hide
    const cache = new DigestCache(); // the default racyMs (RACY_MS)
    try {
      cache.request(path, info);
      cache.put(path, info, new Uint8Array(32));
      await cache.settled();
      assert.equal(cache.get(path, info), undefined);
      assert.equal(cache.size, 0);
    } finally {
      await cache.close();
    }
  });
});
