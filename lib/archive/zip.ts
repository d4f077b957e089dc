/**
 * A zip writer as a pure encoder (APPNOTE.TXT 6.3.10): entries STOREd (no compression: a
 * folder download is limited by the disk and the network, not worth the CPU), names in UTF-8
 * (general purpose bit 11), content followed by a data descriptor (bit 3) so the CRC-32 can be
 * computed while streaming, and ZIP64 records where a size or offset reaches 0xFFFFFFFF or the
 * entry count 0xFFFF. Headers in, bytes out: every length is known before a byte is sent.
 *
 * Per file: {@linkcode zipLocalHeader}, the content, {@linkcode zipDescriptor}; then, for every
 * entry in the same order, {@linkcode zipCentralHeader}; then {@linkcode zipEnd}.
 *
 * @example
 * ```ts
 * import { zipCentralHeader, zipDescriptor, zipEnd, zipLocalHeader } from "./zip.ts";
 * import { crc32 } from "node:zlib";
 * const data = new TextEncoder().encode("hi\n");
 * const e = { name: "a.txt", type: "file" as const, size: 3, mtimeMs: 0, mode: 0o644 };
 * const local = zipLocalHeader(e);
 * const desc = zipDescriptor(e, crc32(data));
 * const central = zipCentralHeader(e, { crc: crc32(data), offset: 0 });
 * const end = zipEnd({ count: 1, offset: local.length + 3 + desc.length, size: central.length });
 * ```
 * @module
 */

import type { ArchiveEntry } from "./tar.ts";

export type { ArchiveEntry };

/** The 32-bit sentinel meaning "see the ZIP64 extra field". */
const MAX32 = 0xffffffff;
/** The 16-bit sentinel meaning "see the ZIP64 end of central directory record". */
const MAX16 = 0xffff;
/** Version needed to extract: 2.0 (directories, deflate-era basics) and 4.5 (ZIP64). */
const V20 = 20;
const V45 = 45;
/** Version made by: Unix (3) in the high byte, so the external attributes carry a mode. */
const MADE_BY_UNIX = 3 << 8;
/** General purpose flags: bit 3 (sizes and CRC in a data descriptor), bit 11 (UTF-8 names). */
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
/** Extra field ids: ZIP64 extended information, and extended timestamp ("UT", UTC mtime). */
const EXTRA_ZIP64 = 0x0001;
const EXTRA_TIME = 0x5455;

const encoder = new TextEncoder();

/** Whether `e`'s content needs ZIP64 sizes (then its local header carries a ZIP64 extra field
 * and its descriptor 8-byte sizes, as APPNOTE 4.3.9.2 ties the two together). */
export function zipNeeds64(e: ArchiveEntry): boolean {
  return e.type === "file" && e.size >= MAX32;
}

function entryName(e: ArchiveEntry): Uint8Array {
  return encoder.encode(e.type === "directory" ? e.name + "/" : e.name);
}

/** MS-DOS date and time (local time, 2-second steps, 1980–2107), as zip tools write them. */
function dosDateTime(ms: number): [number, number] {
  const d = new Date(Math.max(ms, Date.UTC(1980, 0, 2)));
  const year = Math.min(Math.max(d.getFullYear(), 1980), 2107);
  const date = ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  const time = (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1);
  return [date, time];
}

/** The "UT" extra field (flags: mtime present), when the mtime fits 32 unsigned bits. */
function timeExtra(ms: number): Uint8Array {
  const s = Math.floor(ms / 1000);
  if (!(s >= 0 && s <= MAX32)) return new Uint8Array(0);
  const x = new Uint8Array(9);
  const v = new DataView(x.buffer);
  v.setUint16(0, EXTRA_TIME, true);
  v.setUint16(2, 5, true);
  x[4] = 1;
  v.setUint32(5, s, true);
  return x;
}

/** External attributes: the Unix mode in the high 16 bits; MS-DOS directory bit for folders. */
function externalAttrs(e: ArchiveEntry): number {
  const dir = e.type === "directory";
  const mode = (dir ? 0o040000 : 0o100000) | (e.mode & 0o7777);
  return (mode * 0x10000 + (dir ? 0x10 : 0)) >>> 0;
}

function setU64(v: DataView, off: number, n: number): void {
  v.setUint32(off, n % 0x100000000, true);
  v.setUint32(off + 4, Math.floor(n / 0x100000000), true);
}

/**
 * The local file header of `e`. A file's CRC and sizes are left 0 (bit 3: they follow in the
 * descriptor); a directory has no content and no descriptor.
 */
export function zipLocalHeader(e: ArchiveEntry): Uint8Array {
  const name = entryName(e);
  const z64 = zipNeeds64(e);
  const file = e.type === "file";
  const t = timeExtra(e.mtimeMs);
  const extraLen = t.length + (z64 ? 20 : 0);
  const h = new Uint8Array(30 + name.length + extraLen);
  const v = new DataView(h.buffer);
  const [date, time] = dosDateTime(e.mtimeMs);
  v.setUint32(0, 0x04034b50, true);
  v.setUint16(4, z64 ? V45 : V20, true);
  v.setUint16(6, FLAG_UTF8 | (file ? FLAG_DESCRIPTOR : 0), true);
  v.setUint16(8, 0, true); // method: stored
  v.setUint16(10, time, true);
  v.setUint16(12, date, true);
  // CRC-32 (14) and sizes (18, 22) stay 0, or 0xFFFFFFFF pointing at the ZIP64 extra.
  if (z64) {
    v.setUint32(18, MAX32, true);
    v.setUint32(22, MAX32, true);
  }
  v.setUint16(26, name.length, true);
  v.setUint16(28, extraLen, true);
  h.set(name, 30);
  let off = 30 + name.length;
  h.set(t, off);
  off += t.length;
  if (z64) {
    v.setUint16(off, EXTRA_ZIP64, true);
    v.setUint16(off + 2, 16, true); // both sizes, 0: known only from the descriptor
  }
  return h;
}

/** The data descriptor after a file's content: signature, CRC-32, compressed and uncompressed
 * size (8 bytes each for ZIP64 entries). Directories have none (an empty array). */
export function zipDescriptor(e: ArchiveEntry, crc: number): Uint8Array {
  if (e.type !== "file") return new Uint8Array(0);
  const z64 = zipNeeds64(e);
  const d = new Uint8Array(z64 ? 24 : 16);
  const v = new DataView(d.buffer);
  v.setUint32(0, 0x08074b50, true);
  v.setUint32(4, crc >>> 0, true);
  if (z64) {
    setU64(v, 8, e.size);
    setU64(v, 16, e.size);
  } else {
    v.setUint32(8, e.size, true);
    v.setUint32(12, e.size, true);
  }
  return d;
}

/** The central directory header of `e`, with its CRC-32, whose local header starts at
 * `offset`. */
export function zipCentralHeader(
  e: ArchiveEntry,
  at: { crc: number; offset: number },
): Uint8Array {
  const { crc, offset } = at;
  const name = entryName(e);
  const size = e.type === "file" ? e.size : 0;
  const bigSize = size >= MAX32;
  const bigOffset = offset >= MAX32;
  const t = timeExtra(e.mtimeMs);
  const z64Len = (bigSize ? 16 : 0) + (bigOffset ? 8 : 0);
  const extraLen = t.length + (z64Len > 0 ? 4 + z64Len : 0);
  const h = new Uint8Array(46 + name.length + extraLen);
  const v = new DataView(h.buffer);
  const [date, time] = dosDateTime(e.mtimeMs);
  const needed = bigSize || bigOffset ? V45 : V20;
  v.setUint32(0, 0x02014b50, true);
  v.setUint16(4, MADE_BY_UNIX | V45, true);
  v.setUint16(6, needed, true);
  v.setUint16(8, FLAG_UTF8 | (e.type === "file" ? FLAG_DESCRIPTOR : 0), true);
  v.setUint16(10, 0, true);
  v.setUint16(12, time, true);
  v.setUint16(14, date, true);
  v.setUint32(16, crc >>> 0, true);
  v.setUint32(20, bigSize ? MAX32 : size, true);
  v.setUint32(24, bigSize ? MAX32 : size, true);
  v.setUint16(28, name.length, true);
  v.setUint16(30, extraLen, true);
  // comment length (32), disk number start (34), internal attributes (36): 0
  v.setUint32(38, externalAttrs(e), true);
  v.setUint32(42, bigOffset ? MAX32 : offset, true);
  h.set(name, 46);
  let off = 46 + name.length;
  h.set(t, off);
  off += t.length;
  if (z64Len > 0) {
    // APPNOTE 4.5.3: only the fields whose header value is the sentinel, in this order.
    v.setUint16(off, EXTRA_ZIP64, true);
    v.setUint16(off + 2, z64Len, true);
    off += 4;
    if (bigSize) {
      setU64(v, off, size);
      setU64(v, off + 8, size);
      off += 16;
    }
    if (bigOffset) setU64(v, off, offset);
  }
  return h;
}

/**
 * The end of the archive for `count` entries whose central directory (`size` bytes) starts at
 * `offset`: the ZIP64 end of central directory record and its locator when any of the three
 * overflows its classic field, then the classic record (with sentinels where it overflowed).
 */
export function zipEnd(cd: { count: number; offset: number; size: number }): Uint8Array {
  const { count, offset: cdOffset, size: cdSize } = cd;
  const z64 = count >= MAX16 || cdOffset >= MAX32 || cdSize >= MAX32;
  const out = new Uint8Array((z64 ? 56 + 20 : 0) + 22);
  const v = new DataView(out.buffer);
  let off = 0;
  if (z64) {
    v.setUint32(0, 0x06064b50, true);
    setU64(v, 4, 44); // size of the rest of this record
    v.setUint16(12, MADE_BY_UNIX | V45, true);
    v.setUint16(14, V45, true);
    // this disk (16), disk with the central directory (20): 0
    setU64(v, 24, count);
    setU64(v, 32, count);
    setU64(v, 40, cdSize);
    setU64(v, 48, cdOffset);
    // The locator: where the record above starts.
    v.setUint32(56, 0x07064b50, true);
    v.setUint32(60, 0, true);
    setU64(v, 64, cdOffset + cdSize);
    v.setUint32(72, 1, true); // total disks
    off = 76;
  }
  v.setUint32(off, 0x06054b50, true);
  v.setUint16(off + 8, Math.min(count, MAX16), true);
  v.setUint16(off + 10, Math.min(count, MAX16), true);
  v.setUint32(off + 12, Math.min(cdSize, MAX32), true);
  v.setUint32(off + 16, Math.min(cdOffset, MAX32), true);
  return out;
}

/** The local part of `e` in the archive: header, content and descriptor. */
export function zipLocalLength(e: ArchiveEntry): number {
  const size = e.type === "file" ? e.size : 0;
  return zipLocalHeader(e).length + size + (e.type === "file" ? (zipNeeds64(e) ? 24 : 16) : 0);
}
