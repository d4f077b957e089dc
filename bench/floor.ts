/**
 * The runtime's floor: the least a Deno server on raw sockets (`Deno.listen`, one async task per
 * connection, as Ferry) can do per request, and the most it can send. Not a file server and not
 * for anything but the benchmark; it assumes one whole request per read, which holds for wrk and
 * curl without pipelining.
 *
 * - `GET /4k` (and any path it does not know): one prebuilt response — 4 KiB of body,
 *   `Connection: close` and a close when the request asked for it — and nothing else: no
 *   parsing, no files, no limits. The small-file tables' "deno floor" row.
 * - `GET /100m`, `GET /1g` (any `/N[kmg]`): the head, then N KiB/MiB/GiB of bytes written from
 *   one prebuilt buffer in memory, `CHUNK` bytes per `conn.write`, each awaited before the next:
 *   the raw Deno socket write ceiling of a large download, without the file reads Ferry does.
 *   The download tables' "deno floor" row.
 *
 * `deno run -A bench/floor.ts PORT [CHUNK]` (CHUNK in bytes, default {@linkcode CHUNK_BYTES})
 *
 * @module
 */

const BODY_BYTES = 4096;
/**
 * Bytes per write of a large body. Measured here (`bench/cpu.ts --floor-chunk`, 1 GiB → curl -o
 * /dev/null, 3 interleaved rounds on the loaded 2-core machine, 2026-11-29), server CPU s/GiB and
 * GB/s medians: 64 KiB 0.07 / 2.77, 256 KiB 0.06 / 2.74, 1 MiB 0.14 / 2.93, 4 MiB 0.08 / 2.80 —
 * the same within the noise (the server's share of CPU swings with who runs the loopback receive
 * path). 1 MiB is also Ferry's stream chunk, so the two rows differ only by Ferry's file reads
 * and bookkeeping.
 */
export const CHUNK_BYTES = 1 << 20;
const encoder = new TextEncoder();

function head(length: number, close: boolean): Uint8Array {
  return encoder.encode(
    `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n` +
      (close ? "Connection: close\r\n" : "") + "\r\n",
  );
}

function response(close: boolean): Uint8Array {
  const h = head(BODY_BYTES, close);
  const all = new Uint8Array(h.length + BODY_BYTES).fill(0x61);
  all.set(h);
  return all;
}

const KEEP = response(false);
const CLOSE = response(true);
const needle = encoder.encode("onnection: close");
const UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** Whether the bytes hold "Connection: close" (case of the first letter aside). */
function asksClose(b: Uint8Array, n: number): boolean {
  outer: for (
    let i = b.indexOf(needle[0]);
    i !== -1 && i + needle.length <= n;
    i = b.indexOf(needle[0], i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (b[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** The body size a `GET /N[kmg]` asks for, or 0 for the prebuilt 4 KiB response. */
function bigSize(b: Uint8Array, n: number): number {
  // "GET /4k " — the small-file path — is decided on two bytes.
  if (b[5] === 0x34 && b[6] === 0x6b && b[7] === 0x20) return 0;
  const line = new TextDecoder().decode(b.subarray(0, Math.min(n, 64)));
  const m = line.match(/^GET \/(\d+)([kmg]) /);
  const size = m ? Number(m[1]) * UNITS[m[2]] : 0;
  return size > BODY_BYTES ? size : 0;
}

async function writeAll(conn: Deno.Conn, p: Uint8Array): Promise<void> {
  for (let off = 0; off < p.length;) off += await conn.write(off === 0 ? p : p.subarray(off));
}

async function serve(conn: Deno.TcpConn, chunk: Uint8Array): Promise<void> {
  const buf = new Uint8Array(512);
  try {
    for (let n; (n = await conn.read(buf)) !== null;) {
      const close = asksClose(buf, n);
      const size = bigSize(buf, n);
      if (size === 0) await conn.write(close ? CLOSE : KEEP);
      else {
        conn.setNoDelay(true);
        await writeAll(conn, head(size, close));
        for (let left = size; left > 0; left -= chunk.length) {
          await writeAll(conn, left >= chunk.length ? chunk : chunk.subarray(0, left));
        }
      }
      if (close) break;
    }
  } catch { /* the peer went away */ }
  try {
    conn.close();
  } catch { /* already closed */ }
}

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  const chunkBytes = Number(Deno.args[1] ?? CHUNK_BYTES);
  if (
    !Number.isInteger(port) || port < 1 || port > 65535 || !Number.isInteger(chunkBytes) ||
    chunkBytes < 1
  ) {
    console.error("usage: deno run -A bench/floor.ts PORT [CHUNK]");
    Deno.exit(2);
  }
  const chunk = new Uint8Array(chunkBytes).fill(0x61);
  for await (const conn of Deno.listen({ hostname: "127.0.0.1", port })) serve(conn, chunk);
}
