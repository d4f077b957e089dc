/**
 * The tar encoder: ustar headers (checksum, fields, prefix split), pax extended headers for
 * names ustar cannot hold and sizes past 8 GiB, and archives built from it read back byte for
 * byte by Python's tarfile and GNU tar.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ArchiveEntry,
  TAR_END,
  tarEntryLength,
  tarHeader,
  tarPadding,
} from "../../lib/archive/tar.ts";
import { havePeer } from "../e2e/peers.ts";
import { sha256 } from "../client/cli.ts";

const decoder = new TextDecoder();

function field(h: Uint8Array, off: number, len: number): string {
  const s = decoder.decode(h.subarray(off, off + len));
  const nul = s.indexOf("\0");
  return nul < 0 ? s : s.slice(0, nul);
}

/** An archive of `files` (name → content) and `dirs`, from the encoder alone. */
function build(files: Array<[string, Uint8Array]>, dirs: string[] = []): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const d of dirs) {
    parts.push(tarHeader({ name: d, type: "directory", size: 0, mtimeMs: 1e12, mode: 0o755 }));
  }
  for (const [name, data] of files) {
    const e: ArchiveEntry = { name, type: "file", size: data.length, mtimeMs: 1e12, mode: 0o644 };
    const h = tarHeader(e);
    assert.deepEqual(tarEntryLength(e), h.length + data.length + tarPadding(data.length));
    parts.push(h, data, new Uint8Array(tarPadding(data.length)));
  }
  parts.push(TAR_END);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

Deno.test("tarHeader() writes a ustar block with a valid checksum and octal fields", () => {
  const h = tarHeader({ name: "d/a.txt", type: "file", size: 1234, mtimeMs: 1.7e12, mode: 0o640 });
  assert.deepEqual(h.length, 512);
  assert.deepEqual(field(h, 0, 100), "d/a.txt");
  assert.deepEqual(field(h, 100, 8), "0000640");
  assert.deepEqual(parseInt(field(h, 124, 12), 8), 1234);
  assert.deepEqual(parseInt(field(h, 136, 12), 8), 1.7e9);
  assert.deepEqual(String.fromCharCode(h[156]), "0");
  assert.deepEqual(decoder.decode(h.subarray(257, 265)), "ustar\x0000");
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  assert.deepEqual(parseInt(field(h, 148, 8), 8), sum);
  const d = tarHeader({ name: "d", type: "directory", size: 0, mtimeMs: 0, mode: 0o755 });
  assert.deepEqual(field(d, 0, 100), "d/");
  assert.deepEqual(String.fromCharCode(d[156]), "5");
});

Deno.test("tarHeader() splits a long ASCII path into prefix + name, and uses pax past that", () => {
  const split = "p".repeat(120) + "/" + "n".repeat(90);
  const h = tarHeader({ name: split, type: "file", size: 0, mtimeMs: 0, mode: 0o644 });
  assert.deepEqual(h.length, 512);
  assert.deepEqual(field(h, 345, 155), "p".repeat(120));
  assert.deepEqual(field(h, 0, 100), "n".repeat(90));
  // A last segment over 100 bytes cannot be split: a pax header carries the path.
  const long = "p/" + "n".repeat(150);
  const x = tarHeader({ name: long, type: "file", size: 0, mtimeMs: 0, mode: 0o644 });
  assert.deepEqual(String.fromCharCode(x[156]), "x");
  assert.ok(decoder.decode(x.subarray(512, 1024)).includes(` path=${long}\n`));
});

Deno.test("tarHeader() puts sizes past 8 GiB in pax and base-256", () => {
  const size = 2 ** 33 + 5;
  const h = tarHeader({ name: "big", type: "file", size, mtimeMs: 0, mode: 0o644 });
  assert.ok(decoder.decode(h.subarray(512, 1024)).includes(` size=${size}\n`));
  const main = h.subarray(h.length - 512);
  assert.deepEqual(main[124], 0x80);
  let v = 0;
  for (let i = 125; i < 136; i++) v = v * 256 + main[i];
  assert.deepEqual(v, size);
});

Deno.test("tar archives from the encoder read back byte for byte in Python and GNU tar", async () => {
  if (!havePeer("python3") || !havePeer("tar")) return;
  const dir = await Deno.makeTempDir({ prefix: "ferry-tar-" });
  try {
    const files: Array<[string, Uint8Array]> = [];
    const names = [
      "top/a.txt",
      "top/ünïcødé ✓.txt",
      "top/日本語/ファイル.bin",
      "top/" + "x".repeat(101),
      "top/" + "y".repeat(100) + "/" + "z".repeat(100) + "/" + "w".repeat(60), // > 255 bytes
      "top/" + "é".repeat(120), // 240 bytes, non-ASCII
    ];
    // pax record lengths on both sides of the 2- and 3-digit boundaries (self-counting length).
    for (let n = 78; n < 96; n++) names.push("top/ü" + "r".repeat(n));
    for (let n = 985; n < 1000; n++) {
      names.push("top/" + ("s".repeat(200) + "/").repeat(4) + "t".repeat(n - 804));
    }
    names.forEach((name, i) =>
      files.push([name, new TextEncoder().encode(`${i}:${name}\n`.repeat(i % 7))])
    );
    const tar = build(files, ["top", "top/empty"]);
    const path = join(dir, "t.tar");
    await Deno.writeFile(path, tar);
    const script = "import sys,tarfile,hashlib,json\n" +
      "t=tarfile.open(sys.argv[1])\n" +
      "print(json.dumps({m.name:(m.type.decode(),hashlib.sha256(t.extractfile(m).read()).hexdigest() if m.isfile() else None) for m in t.getmembers()}))";
    const py = await new Deno.Command("python3", { args: ["-c", script, path], stdout: "piped" })
      .output();
    assert.ok(py.success);
    const got = JSON.parse(decoder.decode(py.stdout));
    for (const [name, data] of files) assert.deepEqual(got[name], ["0", sha256(data)], name);
    assert.deepEqual(got["top/empty"], ["5", null]);
    assert.deepEqual(Object.keys(got).length, files.length + 2);
    // GNU tar extracts the same names.
    const out = join(dir, "x");
    await Deno.mkdir(out);
    const t = await new Deno.Command("tar", { args: ["-xf", path, "-C", out], stderr: "piped" })
      .output();
    assert.ok(t.success, decoder.decode(t.stderr));
    for (const [name, data] of files) {
      assert.deepEqual(sha256(await Deno.readFile(join(out, name))), sha256(data), name);
    }
    assert.ok((await Deno.stat(join(out, "top/empty"))).isDirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
