/**
 * End to end: a zip across the 4 GiB boundary. A sparse file (no disk cost) of 2^32 − 1 bytes
 * — the first size that needs ZIP64, 0xFFFFFFFF being the sentinel — ending in a marker byte,
 * then a small file that starts past 4 GiB (a ZIP64 offset), then the central directory, also
 * past 4 GiB (the ZIP64 end records). curl's output is saved sparse by `dd conv=sparse`;
 * Python's zipfile reads the records and checks every CRC over a streamed read. (2^32 − 3, the
 * last size without ZIP64, is left to the unit tests: one more 4 GiB file doubled the test's
 * time on a loaded machine, to ~30 s.)
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { startServer } from "./raw.ts";
import { havePeer } from "./peers.ts";

const decoder = new TextDecoder();
const BIG = 2 ** 32 - 1;

/**
 * Python reads the central directory (ZIP64 extras included) and each local header, and checks
 * each member's bytes where the saved file holds data (`SEEK_DATA`/`SEEK_HOLE`: holes read as
 * zeros): zero everywhere but the last byte, which must be "x". The CRC-32 recorded for it is
 * compared here with one computed over the same content by node:zlib (~30 GB/s) — a streamed
 * read of 4 GiB took longer than the transfer on a loaded machine.
 */
const CHECK = `
import sys, zipfile, json, struct, os
path = sys.argv[1]
z = zipfile.ZipFile(path)
fd = os.open(path, os.O_RDONLY)
extents, pos = [], 0
while True:
    try:
        start = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    pos = os.lseek(fd, start, os.SEEK_HOLE)
    extents.append((start, pos))
out = {}
for i in z.infolist():
    h = os.pread(fd, 30, i.header_offset)
    assert h[:4] == b"PK\\x03\\x04", h
    n, x = struct.unpack("<HH", h[26:30])
    a, b = i.header_offset + 30 + n + x, i.header_offset + 30 + n + x + i.file_size
    ok = True
    for s, e in extents:
        s, e = max(s, a), min(e, b)
        if s < e:
            data = os.pread(fd, e - s, s)
            if e == b:
                ok = ok and data[-1:] == b"x"
                data = data[:-1]
            ok = ok and data.count(0) == len(data)
    ok = ok and (i.file_size == 0 or os.pread(fd, 1, b - 1) == b"x")
    out[i.filename] = [i.file_size, i.header_offset, i.CRC, i.extract_version, ok]
tail = os.pread(fd, 98, os.fstat(fd).st_size - 98)  # ZIP64 end record, locator, end record
out["zip64 end"] = [tail[:4].hex(), tail[56:60].hex()]
print(json.dumps(out))
`;

/** CRC-32 of `size` − 1 zero bytes and an "x": the content of every member here. */
function expectedCrc(size: number): number {
  const zeros = new Uint8Array(1 << 20);
  let crc = 0;
  let left = size - 1;
  while (left > 0) {
    const n = Math.min(left, zeros.length);
    crc = crc32(zeros.subarray(0, n), crc);
    left -= n;
  }
  return crc32(new Uint8Array([0x78]), crc) >>> 0;
}

Deno.test("zip across 4 GiB: ZIP64 sizes, offsets and end records, read back by Python", async () => {
  if (!havePeer("curl") || !havePeer("python3") || !havePeer("dd")) return;
  const tmp = await Deno.makeTempDir({ prefix: "ferry-zip64-" });
  const server = await startServer(tmp, ["--log", "none"]);
  try {
    const dir = join(tmp, "big");
    await Deno.mkdir(dir);
    const f = await Deno.open(join(dir, "sentinel.bin"), { write: true, create: true });
    await f.truncate(BIG);
    await f.seek(BIG - 1, Deno.SeekMode.Start);
    await f.write(new Uint8Array([0x78])); // "x": the end of the file is where it should be
    f.close();
    // A small file the walk reaches after the big one (directory order is the file system's).
    let small = "";
    for (let i = 0; i < 64 && small === ""; i++) {
      await Deno.writeTextFile(join(dir, `small${i}.txt`), "\0x");
      const order: string[] = [];
      for await (const e of Deno.readDir(dir)) order.push(e.name);
      if (order.indexOf(`small${i}.txt`) > order.indexOf("sentinel.bin")) small = `small${i}.txt`;
      else await Deno.remove(join(dir, `small${i}.txt`));
    }
    assert.notDeepEqual(small, "", "no name sorts after sentinel.bin in directory order");
    const zip = join(tmp, "big.zip");
    const sh = new Deno.Command("bash", {
      args: [
        "-o",
        "pipefail",
        "-c",
        `curl -sS --fail "$1" | dd of="$2" bs=1M iflag=fullblock conv=sparse status=none`,
        "sh",
        `${server.url}big/?download=zip`,
        zip,
      ],
      stderr: "piped",
    });
    const r = await sh.output();
    assert.ok(r.success, decoder.decode(r.stderr));
    const py = await new Deno.Command("python3", {
      args: ["-c", CHECK, zip],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(py.success, decoder.decode(py.stderr));
    const got = JSON.parse(decoder.decode(py.stdout)) as Record<string, Array<number | boolean>>;
    const want = ["big/", `big/${small}`, "big/sentinel.bin", "zip64 end"];
    assert.deepEqual(Object.keys(got).sort(), want.sort());
    const [size, , crc, version, ok] = got["big/sentinel.bin"];
    assert.deepEqual(size, BIG);
    assert.deepEqual(version, 45);
    assert.ok(ok, "the member's bytes are the file's");
    assert.deepEqual(crc, expectedCrc(BIG));
    const [smallSize, offset, smallCrc, smallVersion, smallOk] = got[`big/${small}`];
    assert.deepEqual(smallSize, 2);
    assert.ok((offset as number) > 2 ** 32, `offset ${offset}`);
    assert.deepEqual(smallVersion, 45);
    assert.ok(smallOk);
    assert.deepEqual(smallCrc, expectedCrc(2));
    assert.deepEqual(got["zip64 end"], ["504b0606", "504b0607"]);
  } finally {
    await server.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
