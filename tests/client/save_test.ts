/** The .part / meta / rename dance, and the validators remembered for a resume. */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ClientError, EXIT } from "../../lib/client/errors.ts";
import {
  BUFFER_BYTES,
  checkFinalFree,
  finalize,
  hashFile,
  PartFile,
  prepareDir,
  readPart,
  savePaths,
  writeMeta,
} from "../../lib/client/save.ts";
import { metaOf } from "../../lib/client/transfer.ts";
import { parseResponseHead } from "../../lib/http/response.ts";
import { tempDir } from "./cli.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

Deno.test("PartFile: create, write, append with the prefix hashed once, finalize", async () => {
  await using tmp = await tempDir();
  const paths = savePaths(join(tmp.path, "new", "dir"), "f.bin");
  await prepareDir(paths.dir);
  const a = await PartFile.create(paths, true);
  a.write(new TextEncoder().encode("hello "));
  a.close();
  assert.equal(hex(a.digest()!), sha("hello "));
  await writeMeta(paths, { url: "http://h/f.bin", etag: '"e"', lastModified: null, size: 11 });
  const part = await readPart(paths);
  assert.deepEqual(part, {
    size: 6,
    meta: { url: "http://h/f.bin", etag: '"e"', lastModified: null, size: 11 },
    metaProblem: null,
  });

  const b = await PartFile.append(paths, 6, new Uint8Array(4), true);
  b.write(new TextEncoder().encode("world"));
  b.close();
  assert.equal(b.size, 11);
  assert.equal(hex(b.digest()!), sha("hello world"), "digest covers the whole file");
  await finalize(paths, false);
  assert.equal(await Deno.readTextFile(paths.final), "hello world");
  assert.equal(await readPart(paths), null);
  await assert.rejects(Deno.stat(paths.meta), Deno.errors.NotFound);
  assert.equal(hex(await hashFile(paths.final, new Uint8Array(3))), sha("hello world"));
});

Deno.test("PartFile.append truncates anything past the size it was told", async () => {
  await using tmp = await tempDir();
  const paths = savePaths(tmp.path, "f");
  await Deno.writeTextFile(paths.part, "abcXYZ");
  const p = await PartFile.append(paths, 3, new Uint8Array(16), true);
  p.write(new TextEncoder().encode("d"));
  p.close();
  assert.equal(await Deno.readTextFile(paths.part), "abcd");
});

Deno.test("PartFile.write appends every byte in order and hashes them; without hashing, no digest", async () => {
  await using tmp = await tempDir();
  for (const hashing of [true, false]) {
    const paths = savePaths(tmp.path, `f-${hashing}`);
    const part = await PartFile.create(paths, hashing);
    const want = createHash("sha256");
    const sizes = [1, BUFFER_BYTES, 3, 0, 4096, 7];
    let total = 0;
    for (const [i, size] of sizes.entries()) {
      const chunk = new Uint8Array(size).fill(i + 1);
      want.update(chunk);
      part.write(chunk);
      total += size;
      assert.equal(part.size, total);
    }
    part.close();
    const digest = part.digest();
    if (hashing) assert.equal(hex(digest!), want.digest("hex"));
    else assert.equal(digest, null);
    const got = await Deno.readFile(paths.part);
    assert.equal(got.length, total);
    let off = 0;
    for (const [i, size] of sizes.entries()) {
      assert.ok(got.subarray(off, off + size).every((b) => b === i + 1), `chunk ${i} in place`);
      off += size;
    }
  }
});

Deno.test("PartFile.append without hashing keeps the prefix and drops what is past it", async () => {
  await using tmp = await tempDir();
  const paths = savePaths(tmp.path, "f");
  await Deno.writeTextFile(paths.part, "hello, and more");
  const part = await PartFile.append(paths, 5, new Uint8Array(4), false);
  part.write(new TextEncoder().encode(" world"));
  part.close();
  assert.equal(part.digest(), null);
  assert.equal(await Deno.readTextFile(paths.part), "hello world");
  assert.throws(
    () => PartFile.append(paths, 100, new Uint8Array(4), false),
    (e: unknown) => e instanceof ClientError && e.code === EXIT.local && /changed/.test(e.message),
    "a part shorter than the size it should have is refused",
  );
});

Deno.test("PartFile.write: a failed write is exit 6 naming the file", async () => {
  await using tmp = await tempDir();
  const paths = savePaths(tmp.path, "f");
  const part = await PartFile.create(paths, true);
  part.close(); // the write below fails as it would on a vanished disk
  assert.throws(() => part.write(new Uint8Array(10)), (e: unknown) => {
    assert.ok(e instanceof ClientError && e.code === EXIT.local, String(e));
    assert.match(e.message, /cannot write .*f\.part/);
    return true;
  });
});

Deno.test("checkFinalFree and finalize never replace a file without force", async () => {
  await using tmp = await tempDir();
  const paths = savePaths(tmp.path, "f");
  await checkFinalFree(paths, false);
  await Deno.writeTextFile(paths.final, "old");
  await assert.rejects(checkFinalFree(paths, false), (e) => {
    assert.ok(e instanceof ClientError && e.code === EXIT.local);
    assert.match(e.message, /already exists and was left untouched; use --force/);
    return true;
  });
  await checkFinalFree(paths, true);
  await Deno.writeTextFile(paths.part, "new");
  await assert.rejects(finalize(paths, false), ClientError);
  assert.equal(await Deno.readTextFile(paths.final), "old");
  await finalize(paths, true);
  assert.equal(await Deno.readTextFile(paths.final), "new");
  await Deno.mkdir(join(tmp.path, "d"));
  await assert.rejects(checkFinalFree(savePaths(tmp.path, "d"), true), /is a directory/);
});

Deno.test("prepareDir refuses a path under a regular file with exit 6", async () => {
  await using tmp = await tempDir();
  const file = join(tmp.path, "file");
  await Deno.writeTextFile(file, "x");
  for (const dir of [file, join(file, "sub")]) {
    await assert.rejects(prepareDir(dir), (e) => {
      assert.ok(e instanceof ClientError && e.code === EXIT.local, String(e));
      assert.match(e.message, /not a directory/i);
      return true;
    });
  }
});

Deno.test("readPart ignores a meta it cannot read, refuses a part that is not a file", async () => {
  await using tmp = await tempDir();
  const paths = savePaths(tmp.path, "f");
  await Deno.writeTextFile(paths.part, "abc");
  await Deno.writeTextFile(paths.meta, "{not json");
  assert.deepEqual(readPart(paths), {
    size: 3,
    meta: null,
    metaProblem: `${paths.meta} is not JSON`,
  });
  await Deno.remove(paths.part);
  await Deno.mkdir(paths.part);
  assert.throws(() => readPart(paths), /not a regular file/);
});

function head(text: string) {
  return parseResponseHead(new TextEncoder().encode(text + "\r\n\r\n"));
}

Deno.test("metaOf keeps a strong ETag, else a Last-Modified a second older than Date (RFC 9110 §8.8.2.2)", () => {
  const lm = "Tue, 24 Nov 2026 10:00:00 GMT";
  const table: Array<[string, string | null, string | null]> = [
    [`HTTP/1.1 200 OK\r\nETag: "abc"\r\nLast-Modified: ${lm}`, '"abc"', null],
    [
      `HTTP/1.1 200 OK\r\nETag: W/"abc"\r\nLast-Modified: ${lm}\r\nDate: Tue, 24 Nov 2026 10:00:05 GMT`,
      null,
      lm,
    ],
    [`HTTP/1.1 200 OK\r\nLast-Modified: ${lm}\r\nDate: ${lm}`, null, null],
    [`HTTP/1.1 200 OK\r\nLast-Modified: ${lm}`, null, null],
    [`HTTP/1.1 200 OK\r\nETag: abc`, null, null],
  ];
  for (const [text, etag, lastModified] of table) {
    assert.deepEqual(metaOf(head(text), "http://h/x", 5), {
      url: "http://h/x",
      etag,
      lastModified,
      size: 5,
    }, text);
  }
});
