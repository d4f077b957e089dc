/**
 * The zip encoder: local headers with data descriptors and UTF-8 names, ZIP64 extra fields for
 * sizes and offsets from 0xFFFFFFFF on, the ZIP64 end records from 65,535 entries on; archives
 * built from it read back byte for byte by Python's zipfile and Info-ZIP's unzip.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { ArchiveEntry } from "../../lib/archive/tar.ts";
import {
  zipCentralHeader,
  zipDescriptor,
  zipEnd,
  zipLocalHeader,
  zipLocalLength,
} from "../../lib/archive/zip.ts";
import { havePeer } from "../e2e/peers.ts";
import { sha256 } from "../client/cli.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A whole zip from the encoder alone. */
function build(items: Array<[ArchiveEntry, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [e, data] of items) {
    const crc = crc32(data);
    const local = zipLocalHeader(e);
    const desc = zipDescriptor(e, crc);
    assert.deepEqual(zipLocalLength(e), local.length + data.length + desc.length);
    central.push(zipCentralHeader(e, { crc, offset }));
    parts.push(local, data, desc);
    offset += local.length + data.length + desc.length;
  }
  const cdSize = central.reduce((n, p) => n + p.length, 0);
  parts.push(...central, zipEnd({ count: items.length, offset: offset, size: cdSize }));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const file = (name: string, data: Uint8Array): [ArchiveEntry, Uint8Array] => [
  { name, type: "file", size: data.length, mtimeMs: Date.UTC(2024, 5, 1, 12), mode: 0o644 },
  data,
];
const dir = (name: string): [ArchiveEntry, Uint8Array] => [
  { name, type: "directory", size: 0, mtimeMs: Date.UTC(2024, 5, 1, 12), mode: 0o755 },
  new Uint8Array(0),
];

async function python(script: string, path: string): Promise<string> {
  const r = await new Deno.Command("python3", {
    args: ["-c", script, path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(r.success, decoder.decode(r.stderr));
  return decoder.decode(r.stdout);
}

Deno.test("zipLocalHeader() sets the descriptor and UTF-8 flags, STORE, and no sizes", () => {
  const [e] = file("dir/é.txt", new Uint8Array(5));
  const h = zipLocalHeader(e);
  const v = new DataView(h.buffer);
  assert.deepEqual(v.getUint32(0, true), 0x04034b50);
  assert.deepEqual(v.getUint16(6, true), 0x0808);
  assert.deepEqual(v.getUint16(8, true), 0);
  assert.deepEqual(v.getUint32(14, true), 0);
  assert.deepEqual(v.getUint32(18, true), 0);
  assert.deepEqual(decoder.decode(h.subarray(30, 30 + v.getUint16(26, true))), "dir/é.txt");
  assert.deepEqual(zipDescriptor(e, 0x12345678).length, 16);
});

Deno.test("ZIP64: from 0xFFFFFFFF a size, and an offset, move to the ZIP64 extra field", () => {
  for (const size of [2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32 + 3]) {
    const e: ArchiveEntry = { name: "big", type: "file", size, mtimeMs: 0, mode: 0o644 };
    const big = size >= 2 ** 32 - 1;
    const local = new DataView(zipLocalHeader(e).buffer);
    assert.deepEqual(local.getUint32(18, true), big ? 0xffffffff : 0, `local ${size}`);
    const d = new DataView(zipDescriptor(e, 1).buffer);
    assert.deepEqual(d.byteLength, big ? 24 : 16);
    assert.deepEqual(big ? Number(d.getBigUint64(16, true)) : d.getUint32(12, true), size);
    const offset = 2 ** 32 + 7;
    const c = zipCentralHeader(e, { crc: 1, offset });
    const v = new DataView(c.buffer);
    assert.deepEqual(v.getUint16(6, true), 45);
    assert.deepEqual(v.getUint32(24, true), big ? 0xffffffff : size);
    assert.deepEqual(v.getUint32(42, true), 0xffffffff);
    // The ZIP64 extra: the sentinel fields only, in APPNOTE order.
    let at = 46 + v.getUint16(28, true);
    const end = at + v.getUint16(30, true);
    const found: bigint[] = [];
    while (at < end) {
      const id = v.getUint16(at, true);
      const len = v.getUint16(at + 2, true);
      if (id === 1) {
        for (let k = 0; k < len; k += 8) found.push(v.getBigUint64(at + 4 + k, true));
      }
      at += 4 + len;
    }
    const want = big ? [size, size, offset] : [offset];
    assert.deepEqual(found.map(Number), want);
  }
  assert.deepEqual(zipEnd({ count: 10, offset: 100, size: 100 }).length, 22);
  assert.deepEqual(zipEnd({ count: 65_535, offset: 100, size: 100 }).length, 98);
  assert.deepEqual(zipEnd({ count: 10, offset: 2 ** 32, size: 100 }).length, 98);
});

Deno.test("zip archives from the encoder read back in Python zipfile and unzip", async () => {
  if (!havePeer("python3") || !havePeer("unzip")) return;
  const tmp = await Deno.makeTempDir({ prefix: "ferry-zip-" });
  try {
    const items = [
      dir("top"),
      dir("top/empty"),
      file("top/a.txt", encoder.encode("hello\n")),
      file("top/empty.bin", new Uint8Array(0)),
      file("top/ünïcødé ✓.txt", encoder.encode("ü\n".repeat(100))),
      file("top/" + "d".repeat(120) + "/" + "f".repeat(200), encoder.encode("long\n")),
      file("top/bin", crypto.getRandomValues(new Uint8Array(65536))),
    ];
    const path = join(tmp, "a.zip");
    await Deno.writeFile(path, build(items));
    const script = "import sys,zipfile,hashlib,json\n" +
      "z=zipfile.ZipFile(sys.argv[1])\n" +
      "assert z.testzip() is None\n" +
      "print(json.dumps({i.filename:[i.flag_bits,i.compress_type,i.is_dir()," +
      "hashlib.sha256(z.read(i)).hexdigest(),i.external_attr>>16] for i in z.infolist()}))";
    const got = JSON.parse(await python(script, path));
    assert.deepEqual(Object.keys(got).length, items.length);
    for (const [e, data] of items) {
      const key = e.type === "directory" ? e.name + "/" : e.name;
      const [flags, method, isDir, sum, mode] = got[key];
      assert.deepEqual(flags & 0x800, 0x800, key);
      assert.deepEqual(method, 0);
      assert.deepEqual(isDir, e.type === "directory");
      assert.deepEqual(sum, sha256(data), key);
      assert.deepEqual(mode, (e.type === "directory" ? 0o40000 : 0o100000) | e.mode);
    }
    const t = await new Deno.Command("unzip", { args: ["-t", path], stdout: "piped" }).output();
    assert.ok(t.success, decoder.decode(t.stdout));
    assert.match(decoder.decode(t.stdout), /No errors detected/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("zip with 70,000 entries: ZIP64 end records that Python and unzip read", async () => {
  if (!havePeer("python3") || !havePeer("unzip")) return;
  const tmp = await Deno.makeTempDir({ prefix: "ferry-zip-" });
  try {
    const items = [dir("many")];
    for (let i = 0; i < 70_000; i++) items.push(file(`many/${i}`, new Uint8Array(0)));
    const path = join(tmp, "many.zip");
    await Deno.writeFile(path, build(items));
    const n = await python(
      "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nprint(len(z.infolist()))",
      path,
    );
    assert.deepEqual(Number(n), 70_001);
    const t = await new Deno.Command("unzip", { args: ["-tq", path], stdout: "piped" }).output();
    assert.ok(t.success, decoder.decode(t.stdout));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("zip records at 2^32 − 3, 2^32 − 1 and 2^32 + 3 bytes read back in Python (sparse, no data read)", async () => {
  if (!havePeer("python3")) return;
  const tmp = await Deno.makeTempDir({ prefix: "ferry-zip-" });
  try {
    for (const size of [2 ** 32 - 3, 2 ** 32 - 1, 2 ** 32 + 3]) {
      // big.bin (zeros, CRC computed here) then tail.txt, which starts past 4 GiB.
      const crcZeros = (() => {
        const zeros = new Uint8Array(1 << 20);
        let c = 0;
        for (let left = size; left > 0; left -= zeros.length) {
          c = crc32(zeros.subarray(0, Math.min(left, zeros.length)), c);
        }
        return c >>> 0;
      })();
      const big: ArchiveEntry = { name: "big.bin", type: "file", size, mtimeMs: 0, mode: 0o644 };
      const [tail, tailData] = file("tail.txt", encoder.encode("tail\n"));
      const path = join(tmp, `${size}.zip`);
      const f = await Deno.open(path, { write: true, create: true, truncate: true });
      let at = 0;
      const put = async (b: Uint8Array) => {
        await f.seek(at, Deno.SeekMode.Start);
        for (let off = 0; off < b.length;) off += await f.write(b.subarray(off));
        at += b.length;
      };
      await put(zipLocalHeader(big));
      at += size; // a hole: zeros, no disk
      await put(zipDescriptor(big, crcZeros));
      const tailOffset = at;
      await put(zipLocalHeader(tail));
      await put(tailData);
      await put(zipDescriptor(tail, crc32(tailData)));
      const cdOffset = at;
      const c1 = zipCentralHeader(big, { crc: crcZeros, offset: 0 });
      const c2 = zipCentralHeader(tail, { crc: crc32(tailData), offset: tailOffset });
      await put(c1);
      await put(c2);
      await put(zipEnd({ count: 2, offset: cdOffset, size: c1.length + c2.length }));
      f.close();
      const out = await python(
        "import sys,zipfile,json\nz=zipfile.ZipFile(sys.argv[1])\n" +
          "print(json.dumps([[i.filename,i.file_size,i.CRC,i.header_offset,i.extract_version] " +
          "for i in z.infolist()] + [z.read('tail.txt').decode()]))",
        path,
      );
      const got = JSON.parse(out);
      const big64 = size >= 2 ** 32 - 1;
      assert.deepEqual(got[0], ["big.bin", size, crcZeros, 0, big64 ? 45 : 20], String(size));
      assert.deepEqual(got[1], ["tail.txt", 5, crc32(tailData) >>> 0, tailOffset, 45]);
      assert.deepEqual(got[2], "tail\n");
      await Deno.remove(path);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
