/**
 * ConnReader's buffer after a large head: it grows to hold the head, and the next idle wait
 * (readRaw with nothing buffered) goes back to the small initial buffer, so that one large head
 * does not cost an idle connection 32 KiB for the rest of its life (issue 11, item 7).
 */

import assert from "node:assert/strict";
import { ConnReader, INITIAL_BUFFER_BYTES } from "../../lib/net/head_reader.ts";

/** A source that hands out the scripted chunks, then end of stream. */
function source(chunks: Uint8Array[]) {
  return {
    read(p: Uint8Array): Promise<number | null> {
      const c = chunks.shift();
      if (c === undefined) return Promise.resolve(null);
      const n = Math.min(p.length, c.length);
      p.set(c.subarray(0, n));
      if (n < c.length) chunks.unshift(c.subarray(n));
      return Promise.resolve(n);
    },
    close() {},
  };
}

Deno.test("ConnReader: the buffer grown by a 20 KiB head shrinks back at the next idle wait", async () => {
  const enc = new TextEncoder();
  const big = enc.encode(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
  const small = enc.encode("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  const r = new ConnReader(source([big, small]), { recycle: true });
  assert.equal(r.buffer.length, INITIAL_BUFFER_BYTES);
  r.filled(await r.readRaw());
  assert.equal(r.takeHeadSpan(65_536), false, "the head is not whole in the first buffer");
  const head = await r.readHead({ maxHeadBytes: 65_536 });
  assert.equal(head?.length, big.length);
  assert.ok(r.buffer.length >= big.length, `grown to ${r.buffer.length}`);
  assert.equal(r.buffered, 0);
  // The server's idle wait: nothing buffered, so the next read goes into a small buffer again.
  r.filled(await r.readRaw());
  assert.equal(r.buffer.length, INITIAL_BUFFER_BYTES);
  assert.equal(r.takeHeadSpan(65_536), true);
  assert.equal(r.spanEnd - r.spanStart, small.length);
});

Deno.test("ConnReader with recycle: the large buffer goes back to a pool and serves the next large head", async () => {
  const enc = new TextEncoder();
  const big = () => enc.encode(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(5_000)}\r\n\r\n`);
  const limits = { maxHeadBytes: 32_768 };
  const a = new ConnReader(source([big(), big()]), { recycle: true });
  a.filled(await a.readRaw());
  await a.readHead(limits);
  const grown = a.buffer;
  assert.equal(grown.length, limits.maxHeadBytes + 4, "grown straight to the full size");
  a.filled(await a.readRaw()); // idle wait: the buffer goes back to the pool
  assert.equal(a.buffer.length, INITIAL_BUFFER_BYTES);
  const b = new ConnReader(source([big()]), { recycle: true });
  b.filled(await b.readRaw());
  assert.equal((await b.readHead(limits))?.length, big().length);
  assert.equal(b.buffer, grown, "the pooled buffer is reused, not a new one allocated");
  // a's second head was read into a small buffer and is intact.
  await a.readHead(limits).then((h) => assert.equal(h?.length, big().length));
});
