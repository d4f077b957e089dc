/**
 * A tar writer as a pure encoder: one entry's metadata in, its header bytes out (POSIX ustar,
 * preceded by a pax extended header when ustar cannot hold the name or the size). The caller
 * writes the header, then the file's bytes, then {@linkcode tarPadding} zero bytes, and after the
 * last entry {@linkcode TAR_END}. No I/O, so every length is known before a byte is sent.
 *
 * @example
 * ```ts
 * import { TAR_END, tarHeader, tarPadding } from "./tar.ts";
 * const data = new TextEncoder().encode("hi\n");
 * const head = tarHeader({ name: "d/a.txt", type: "file", size: 3, mtimeMs: 0, mode: 0o644 });
 * const archive = [head, data, new Uint8Array(tarPadding(3)), TAR_END]; // 512 + 3 + 509 + 1024
 * ```
 * @module
 */

/** One archive member, as both encoders take it. */
export interface ArchiveEntry {
  /** The path inside the archive, `/`-separated, relative, without a trailing `/`. */
  name: string;
  type: "file" | "directory";
  /** Bytes of content (0 for a directory). */
  size: number;
  /** Last modification, ms since the epoch. */
  mtimeMs: number;
  /** Permission bits (`0o644`); the file type bits are added by the encoder. */
  mode: number;
}

/** A tar block: headers and content are padded to multiples of it. */
export const TAR_BLOCK = 512;
/** The end of an archive: two zero blocks (POSIX.1-2001 ustar). */
export const TAR_END: Uint8Array = new Uint8Array(2 * TAR_BLOCK);
/** Largest size the 11 octal digits of a ustar size field hold (8 GiB − 1). */
const USTAR_MAX_SIZE = 8 ** 11 - 1;
/** Largest mtime (seconds) the 11 octal digits hold. */
const USTAR_MAX_TIME = 8 ** 11 - 1;

const encoder = new TextEncoder();

/** Zero bytes after `size` bytes of content, up to the next block. */
export function tarPadding(size: number): number {
  const r = size % TAR_BLOCK;
  return r === 0 ? 0 : TAR_BLOCK - r;
}

/** Writes `value` as zero-padded octal digits plus a NUL into `field` bytes at `off`; values
 * too large for the digits are written base-256 (a GNU extension GNU tar, bsdtar and Python
 * read; the pax header carries the value too). */
function octal(h: Uint8Array, off: number, field: number, value: number): void {
  const digits = value.toString(8);
  if (digits.length <= field - 1) {
    const s = digits.padStart(field - 1, "0");
    for (let i = 0; i < s.length; i++) h[off + i] = s.charCodeAt(i);
    h[off + field - 1] = 0;
    return;
  }
  let v = value;
  for (let i = field - 1; i > 0; i--) {
    h[off + i] = v % 256;
    v = Math.floor(v / 256);
  }
  h[off] = 0x80;
}

/** Copies at most `max` bytes of `s` (ASCII) into `h` at `off`. */
function ascii(h: Uint8Array, off: number, max: number, s: string): void {
  for (let i = 0; i < s.length && i < max; i++) h[off + i] = s.charCodeAt(i);
}

/** A printable-ASCII stand-in for a name ustar cannot hold (the pax `path` has the real one). */
function asciiFallback(name: string, max: number): string {
  const s = name.replace(/[^\x20-\x7e]/g, "_");
  return s.length <= max ? s : s.slice(s.length - max);
}

/** One ustar header block. `name` must be ASCII and fit (the caller checked). */
function ustar(
  name: string,
  typeflag: number,
  size: number,
  mtimeS: number,
  mode: number,
): Uint8Array {
  const h = new Uint8Array(TAR_BLOCK);
  let prefix = "";
  let base = name;
  if (base.length > 100) {
    // Split at a "/" so that the prefix (≤ 155) and the name (≤ 100) both fit.
    const cut = name.lastIndexOf("/", 155);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  ascii(h, 0, 100, base);
  octal(h, 100, 8, mode & 0o7777);
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, Math.min(Math.max(0, mtimeS), USTAR_MAX_TIME));
  h[156] = typeflag;
  ascii(h, 257, 8, "ustar\x0000");
  ascii(h, 345, 155, prefix);
  // Checksum: the sum of all bytes with the checksum field read as spaces; six octal digits,
  // NUL, space (as GNU tar writes it).
  let sum = 8 * 32;
  for (let i = 0; i < TAR_BLOCK; i++) sum += h[i];
  const c = sum.toString(8).padStart(6, "0");
  ascii(h, 148, 6, c);
  h[154] = 0;
  h[155] = 32;
  return h;
}

/** Whether an ASCII `name` fits ustar's name field, or its prefix + name split. */
function fitsUstar(name: string): boolean {
  if (name.length <= 100) return true;
  if (name.length > 256) return false;
  const cut = name.lastIndexOf("/", 155);
  return cut > 0 && name.length - cut - 1 <= 100 && name.length - cut - 1 > 0;
}

/** One pax record `"<len> <key>=<value>\n"`, where len counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = encoder.encode(body).length;
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length > String(bodyLen).length) len++;
  return `${len}${body}`;
}

/**
 * The header bytes of `e`: a ustar block, preceded by a pax extended header (its own block plus
 * the records, padded) when the name is not printable ASCII or too long for ustar, or the size
 * does not fit 11 octal digits. A directory's name gets its trailing `/`.
 *
 * @example
 * ```ts
 * import { tarHeader } from "./tar.ts";
 * tarHeader({ name: "a", type: "file", size: 1, mtimeMs: 0, mode: 0o644 }).length; // 512
 * tarHeader({ name: "é", type: "file", size: 1, mtimeMs: 0, mode: 0o644 }).length; // 1536
 * ```
 */
export function tarHeader(e: ArchiveEntry): Uint8Array {
  const dir = e.type === "directory";
  const name = dir ? e.name + "/" : e.name;
  const size = dir ? 0 : e.size;
  const mtimeS = Math.floor(e.mtimeMs / 1000);
  const mode = e.mode & 0o7777;
  const typeflag = dir ? 0x35 /* 5 */ : 0x30; /* 0 */
  const printable = /^[\x20-\x7e]*$/.test(name);
  const records: string[] = [];
  if (!printable || !fitsUstar(name)) records.push(paxRecord("path", name));
  if (size > USTAR_MAX_SIZE) records.push(paxRecord("size", String(size)));
  const main = ustar(
    printable && fitsUstar(name) ? name : asciiFallback(name, 100),
    typeflag,
    size,
    mtimeS,
    mode,
  );
  if (records.length === 0) return main;
  const pax = encoder.encode(records.join(""));
  const paxName = asciiFallback(`PaxHeaders/${name.split("/").filter(Boolean).pop() ?? ""}`, 100);
  const paxHead = ustar(paxName, 0x78, /* x */ pax.length, mtimeS, 0o644);
  const out = new Uint8Array(2 * TAR_BLOCK + pax.length + tarPadding(pax.length));
  out.set(paxHead, 0);
  out.set(pax, TAR_BLOCK);
  out.set(main, out.length - TAR_BLOCK);
  return out;
}

/** Bytes `e` takes in the archive: header(s), content and padding. */
export function tarEntryLength(e: ArchiveEntry): number {
  const size = e.type === "directory" ? 0 : e.size;
  return tarHeader(e).length + size + tarPadding(size);
}
