/**
 * Unit tests of streaming with bounded memory (issue 11, item 4), over a real temp file and a
 * fake connection whose socket "fills up" after a set number of bytes and then takes nothing
 * until the test lets it: what a write waits with, what the sweeper takes back, the budget
 * across streams, and that the bytes that finally arrive are the file's, in order.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  LARGE_CHUNK_BYTES,
  largePool,
  SMALL_CHUNK_BYTES,
  STALL_MS,
  streamRange,
  type StreamTarget,
} from "../../lib/server/stream_body.ts";

const MIB = 1 << 20;
const tick = () => new Promise((r) => setTimeout(r, 5));

/** A connection that accepts `room` bytes, then stalls every write until `open()`. */
function fakeConn(room: number) {
  const got: Uint8Array[] = [];
  const laterBuffers: number[] = []; // buffer sizes of the writes after open()
  let stalled: { p: Uint8Array; resolve: (n: number) => void } | null = null;
  let unlimited = false;
  const conn = {
    write(p: Uint8Array): Promise<number> {
      if (unlimited) laterBuffers.push(p.buffer.byteLength);
      if (unlimited || room > 0) {
        const n = unlimited ? p.length : Math.min(room, p.length);
        if (!unlimited) room -= n;
        got.push(p.slice(0, n));
        return Promise.resolve(n);
      }
      return new Promise((resolve) => stalled = { p, resolve });
    },
  };
  const target: StreamTarget = { conn, deadline: 0, sent: 0, stream: null };
  return {
    target,
    got,
    laterBuffers,
    /** The buffer size the stalled write pins (its whole ArrayBuffer), or 0 if none stalls. */
    pinned: () => stalled?.p.buffer.byteLength ?? 0,
    /** The client reads again: the stalled write completes whole, and so do all later ones. */
    open() {
      unlimited = true;
      if (stalled !== null) {
        got.push(stalled.p.slice());
        stalled.resolve(stalled.p.length);
        stalled = null;
      }
    },
  };
}

async function makeFile(bytes: number): Promise<{ dir: string; path: string; data: Uint8Array }> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-stream-" });
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 131 + (i >> 12)) & 0xff;
  const path = join(dir, "f.bin");
  await Deno.writeFile(path, data);
  return { dir, path, data };
}

function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("streamRange: a full socket is waited on with a small copy; a stall gives the large buffers back; the bytes stay right", async () => {
  const { dir, path, data } = await makeFile(8 * MIB);
  const file = await Deno.open(path);
  try {
    // The socket takes 2.5 MiB, then nothing: the third 1 MiB write is short.
    const c = fakeConn(2.5 * MIB);
    const done = streamRange(c.target, file, 0, data.length, 30_000);
    for (let i = 0; i < 200 && c.pinned() === 0; i++) await tick();
    assert.ok(c.pinned() > 0, "a write is waiting");
    assert.ok(c.pinned() <= SMALL_CHUNK_BYTES, `the waiting write pins ${c.pinned()} bytes`);
    assert.equal(largePool.leased, 2, "the stream still holds its two large buffers");
    assert.ok(c.target.stream !== null);
    c.target.stream.releaseIfStalled(Date.now() + STALL_MS); // the sweeper, STALL_MS later
    for (let i = 0; i < 100 && largePool.leased > 0; i++) await tick();
    assert.equal(largePool.leased, 0, "both large buffers are back in the budget");
    c.open();
    await done;
    assert.ok(
      c.laterBuffers.length > 0 && c.laterBuffers.every((n) => n <= SMALL_CHUNK_BYTES),
      "after a stall the rest goes in small chunks (no 1 MiB buffer in the next wait)",
    );
    assert.equal(c.target.sent, data.length);
    assert.deepEqual(
      joined(c.got),
      data,
      "every byte once, in order, after resuming from the file",
    );
  } finally {
    file.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("streamRange: large buffers in use never exceed the budget, whatever the clients do", async () => {
  const { dir, path, data } = await makeFile(3 * MIB);
  const streams = 24; // more than the budget's 16 pairs
  const files = await Promise.all(Array.from({ length: streams }, () => Deno.open(path)));
  try {
    // Clients that take nothing at all: every first write stalls.
    const conns = files.map(() => fakeConn(0));
    const done = conns.map((c, i) => streamRange(c.target, files[i], 0, data.length, 30_000));
    for (let i = 0; i < 200 && conns.some((c) => c.pinned() === 0); i++) await tick();
    assert.ok(conns.every((c) => c.pinned() > 0), "every stream is waiting");
    assert.ok(largePool.leased <= largePool.max, `${largePool.leased} large buffers leased`);
    const large = conns.filter((c) => c.pinned() === LARGE_CHUNK_BYTES).length;
    const small = conns.filter((c) => c.pinned() <= SMALL_CHUNK_BYTES).length;
    assert.equal(large, largePool.max / 2, "streams within the budget got large buffers");
    assert.equal(small, streams - large, "the others wait with small ones");
    for (const c of conns) c.open();
    await Promise.all(done);
    for (const c of conns) assert.deepEqual(joined(c.got), data);
    assert.equal(largePool.leased, 0);
  } finally {
    for (const f of files) f.close();
    await Deno.remove(dir, { recursive: true });
  }
});
