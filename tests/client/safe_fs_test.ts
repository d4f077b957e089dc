/** SafeFile never opens through a link, never blocks on a FIFO, refuses devices and hard links;
 * replaceFileSafely replaces a planted link instead of writing through it. */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  readSmallFile,
  replaceFileSafely,
  SafeFile,
  UnsafeFileError,
} from "../../lib/client/safe_fs.ts";
import { tempDir } from "./cli.ts";

async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(r.code, 0, "mkfifo");
}

Deno.test("SafeFile.openExisting refuses a symlink, FIFO, device, directory and hard link", async () => {
  await using tmp = await tempDir();
  const outside = join(tmp.path, "outside");
  await Deno.writeTextFile(outside, "precious");
  const link = join(tmp.path, "link");
  await Deno.symlink(outside, link);
  const fifo = join(tmp.path, "fifo");
  await mkfifo(fifo);
  const hard = join(tmp.path, "hard");
  await Deno.link(outside, hard);
  const dir = join(tmp.path, "dir");
  await Deno.mkdir(dir);
  const cases: Array<[string, "read" | "rw", RegExp]> = [
    [link, "rw", /symbolic link/],
    [link, "read", /symbolic link/],
    [fifo, "rw", /not a regular file/],
    [fifo, "read", /not a regular file/],
    ["/dev/zero", "read", /not a regular file/],
    ["/dev/null", "rw", /not a regular file/],
    [hard, "rw", /2 hard links/],
    [dir, "read", /not a regular file/],
  ];
  for (const [path, mode, re] of cases) {
    assert.throws(() => SafeFile.openExisting(path, mode), (e: unknown) => {
      assert.ok(e instanceof UnsafeFileError, String(e));
      assert.match(String(e), re, `${path} ${mode}`);
      return true;
    });
  }
  assert.equal(await Deno.readTextFile(outside), "precious");
  // A plain file is fine.
  using f = SafeFile.openExisting(join(tmp.path, "outside"), "read");
  assert.equal(f.size(), 8);
});

Deno.test("SafeFile.createNew refuses any existing name, a dangling symlink included", async () => {
  await using tmp = await tempDir();
  const target = join(tmp.path, "not-yet");
  const link = join(tmp.path, "link");
  await Deno.symlink(target, link);
  assert.throws(() => SafeFile.createNew(link), (e: unknown) => {
    return (e as { code?: string }).code === "EEXIST";
  });
  assert.throws(() => Deno.statSync(target), Deno.errors.NotFound);
  const f = SafeFile.createNew(join(tmp.path, "new"));
  f.write(new TextEncoder().encode("abc"));
  f.seek(1);
  f.write(new TextEncoder().encode("X"));
  f.close();
  assert.equal(await Deno.readTextFile(join(tmp.path, "new")), "aXc");
});

Deno.test("replaceFileSafely replaces a symlink planted at the name, its target untouched", async () => {
  await using tmp = await tempDir();
  const outside = join(tmp.path, "outside");
  await Deno.writeTextFile(outside, "precious");
  const dir = join(tmp.path, "d");
  await Deno.mkdir(dir);
  const meta = join(dir, "f.part.meta");
  await Deno.symlink(outside, meta);
  replaceFileSafely(dir, meta, "{}\n");
  assert.equal(await Deno.readTextFile(outside), "precious");
  assert.ok((await Deno.lstat(meta)).isFile);
  assert.equal(await Deno.readTextFile(meta), "{}\n");
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f.part.meta"], "no temp left");
});

Deno.test("readSmallFile: capped, never blocks on a FIFO, null when absent", async () => {
  await using tmp = await tempDir();
  const small = join(tmp.path, "small");
  await Deno.writeTextFile(small, "12345");
  assert.equal(new TextDecoder().decode(readSmallFile(small, 5)!), "12345");
  assert.throws(() => readSmallFile(small, 4), /larger than 4 bytes/);
  assert.equal(readSmallFile(join(tmp.path, "none"), 10), null);
  const fifo = join(tmp.path, "fifo");
  await mkfifo(fifo);
  assert.throws(() => readSmallFile(fifo, 10), /not a regular file/);
  assert.throws(() => readSmallFile("/dev/zero", 10), /not a regular file/);
});
