/**
 * A Ferry client's `Want-Repr-Digest: sha-256=10` gets the default answer, so it is served from
 * the small-file cache (and may fill it); `sha-256=0` changes the answer (no Repr-Digest) and
 * goes to the file server every time. Real FileServer and DigestCache, real loopback socket;
 * hits are seen as requests that never reach `respond()`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ConnSet, serveConnection, type ServerContext } from "../../lib/server/connection.ts";
import { FileServer } from "../../lib/server/files.ts";
import { DigestCache } from "../../lib/server/digest_cache.ts";
import { RACY_MS } from "../../lib/server/file_version.ts";
import type { RequestHead } from "../../lib/http/request.ts";
import type { Logger } from "../../lib/server/log.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Sends `req` on `conn` and reads one response with a `length`-byte body (or none). */
async function exchange(conn: Deno.TcpConn, req: string, bodyBytes: number): Promise<string> {
  await conn.write(encoder.encode(req));
  let text = "";
  const buf = new Uint8Array(64 * 1024);
  const deadline = Date.now() + 5_000;
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0 && text.length >= end + 4 + bodyBytes) return text.slice(0, end);
    assert.ok(Date.now() < deadline, "response in time");
    const n = await conn.read(buf);
    assert.notEqual(n, null, "connection open");
    text += decoder.decode(buf.subarray(0, n!));
  }
}

Deno.test("small-file cache: Want-Repr-Digest wanting sha-256 is a cache hit, sha-256=0 is not", async () => {
  const root = await Deno.makeTempDir();
  const digests = new DigestCache();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let client: Deno.TcpConn | undefined;
  try {
    const size = 4096;
    await Deno.writeFile(join(root, "f.bin"), new Uint8Array(size).fill(0x62));
    // Cacheable only once older than RACY_MS (ctime too, which cannot be set back): wait.
    const info = await Deno.stat(join(root, "f.bin"));
    const changed = Math.max(info.mtime!.getTime(), info.ctime!.getTime());
    const wait = RACY_MS + 50 - (Date.now() - changed);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const files = await FileServer.create({ root, digests });
    const respond = files.respond.bind(files);
    const reached: string[] = [];
    files.respond = (head: RequestHead) => {
      reached.push(`${head.method} ${head.headers.get("want-repr-digest") ?? "-"}`);
      return respond(head);
    };
    const log = { enabled: false, connection() {}, access() {}, close() {}, info() {}, warn() {} };
    const ctx: ServerContext = {
      files,
      log: log as unknown as Logger,
      dns: null,
      limits: {
        headTimeoutMs: 5_000,
        idleTimeoutMs: 5_000,
        writeTimeoutMs: 5_000,
        maxRequests: 100,
      },
      conns: new ConnSet(),
      draining: false,
      nextId: 1,
      idStep: 1,
    };
    const accepted = listener.accept();
    client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const served = serveConnection(await accepted, ctx);
    const req = (method: string, want?: string) =>
      `${method} /f.bin HTTP/1.1\r\nHost: x\r\n` +
      (want === undefined ? "" : `Want-Repr-Digest: ${want}\r\n`) + "\r\n";

    // The client's own first GET fills the cache (it used to be refused).
    const first = await exchange(client, req("GET", "sha-256=10"), size);
    assert.match(first, /^HTTP\/1\.1 200 /);
    assert.match(first, /\r\nrepr-digest: sha-256=:/i);
    assert.equal(files.cache.size, 1, "stored by a request wanting sha-256");
    assert.deepEqual(reached, ["GET sha-256=10"]);

    // Then HEAD and GET with the client's field are hits, with the same digest.
    const head = await exchange(client, req("HEAD", "sha-256=10"), 0);
    const get = await exchange(client, req("GET", "sha-256=10, sha-512=3"), size);
    const plain = await exchange(client, req("GET"), size);
    assert.match(head, /\r\nrepr-digest: sha-256=:/i);
    assert.equal(get.replace(/\r\ndate: [^\r]*/i, ""), plain.replace(/\r\ndate: [^\r]*/i, ""));
    assert.deepEqual(reached, ["GET sha-256=10"], "no request reached the file server");

    // Declining sha-256 changes the answer: not a hit, and not stored.
    const declined = await exchange(client, req("GET", "sha-256=0"), size);
    assert.match(declined, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(declined, /repr-digest/i);
    assert.deepEqual(reached, ["GET sha-256=10", "GET sha-256=0"]);
    const again = await exchange(client, req("HEAD"), 0);
    assert.match(again, /\r\nrepr-digest: sha-256=:/i, "the stored entry still has the digest");
    assert.equal(reached.length, 2);

    client.close();
    client = undefined;
    await served;
  } finally {
    client?.close();
    listener.close();
    await digests.close();
    await Deno.remove(root, { recursive: true });
  }
});
