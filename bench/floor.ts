/**
 * The runtime's floor, for the small-file tables: the least a Deno server on raw sockets
 * (`Deno.listen`, one async task per connection, as Ferry) can do per request. It answers every
 * read with one prebuilt response — 4 KiB of body, `Connection: close` and a close when the
 * request asked for it — and does nothing else: no parsing, no files, no limits. Not a file
 * server and not for anything but the benchmark; it assumes one whole request per read, which
 * holds for wrk without pipelining.
 *
 * `deno run -A bench/floor.ts PORT`
 *
 * @module
 */

const BODY_BYTES = 4096;
const encoder = new TextEncoder();

function response(close: boolean): Uint8Array {
  const head = encoder.encode(
    `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${BODY_BYTES}\r\n` +
      (close ? "Connection: close\r\n" : "") + "\r\n",
  );
  const all = new Uint8Array(head.length + BODY_BYTES).fill(0x61);
  all.set(head);
  return all;
}

const KEEP = response(false);
const CLOSE = response(true);
const needle = encoder.encode("onnection: close");

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

async function serve(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(512);
  try {
    for (let n; (n = await conn.read(buf)) !== null;) {
      const close = asksClose(buf, n);
      await conn.write(close ? CLOSE : KEEP);
      if (close) break;
    }
  } catch { /* the peer went away */ }
  try {
    conn.close();
  } catch { /* already closed */ }
}

if (import.meta.main) {
  const port = Number(Deno.args[0]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error("usage: deno run -A bench/floor.ts PORT");
    Deno.exit(2);
  }
  for await (const conn of Deno.listen({ hostname: "127.0.0.1", port })) serve(conn);
}
