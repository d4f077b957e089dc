/**
 * Reverse lookups never delay a response (issue 11, item 5). The server runs in this process,
 * its resolver pointed at a nameserver on loopback that swallows every query, with a lookup
 * timeout of a minute; 500 clients from 500 distinct source addresses (127.1.x.y, bound with
 * node:net's `localAddress`) each GET an uncached file. Every response must arrive long before
 * any lookup could have been answered or timed out (the test is bounded at 30 s), and exactly
 * REVERSE_MAX_IN_FLIGHT queries may have gone out: the rest were dropped, not queued.
 * Latencies are printed (`[dns] ...`), not asserted.
 */

import assert from "node:assert/strict";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect } from "node:net";
import { join } from "node:path";
import { Server } from "../../lib/server/listen.ts";
import { REVERSE_MAX_IN_FLIGHT } from "../../lib/net/reverse_dns.ts";

const CLIENTS = 500;
const CONCURRENCY = 50;
const FILE_BYTES = 128 * 1024; // over the small-file cache's 64 KiB: every GET opens the file
const TEST_BOUND_MS = 30_000;
const LOOKUP_TIMEOUT_MS = 60_000;

/** One GET from `localAddress`; resolves to the ms from connect to the last byte. */
function get(port: number, localAddress: string): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let bytes = 0;
    let head = "";
    let bodyAt = -1;
    const s = connect({ host: "127.0.0.1", port, localAddress }, () => {
      s.write("GET /u.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    });
    s.setTimeout(TEST_BOUND_MS, () => s.destroy(new Error("timeout")));
    s.on("data", (chunk: Uint8Array) => {
      if (bodyAt < 0) {
        head += new TextDecoder("latin1").decode(chunk);
        const end = head.indexOf("\r\n\r\n");
        if (end >= 0) {
          bodyAt = end + 4;
          bytes = head.length - bodyAt;
          if (!head.startsWith("HTTP/1.1 200")) s.destroy(new Error(head.slice(0, 40)));
        }
      } else bytes += chunk.length;
    });
    s.on("error", reject);
    s.on("close", () => resolve({ ms: performance.now() - t0, bytes }));
  });
}

Deno.test("reverse DNS: 500 new addresses against a silent resolver delay no response", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-dns-flood-" });
  await Deno.writeFile(join(dir, "u.bin"), new Uint8Array(FILE_BYTES).fill(7));
  const sink: UdpSocket = createSocket("udp4");
  let queries = 0;
  sink.on("message", () => queries++); // swallowed
  await new Promise<void>((r) => sink.bind(0, "127.0.0.1", () => r()));
  const lines: string[] = [];
  const server = await Server.start({
    root: dir,
    port: 0,
    log: "json",
    logOut: {
      write(p: Uint8Array) {
        lines.push(...new TextDecoder().decode(p).split("\n").filter(Boolean));
        return Promise.resolve(p.length);
      },
    },
    dns: {
      nameserver: { host: "127.0.0.1", port: sink.address().port },
      timeoutMs: LOOKUP_TIMEOUT_MS,
    },
  });
  const bound = setTimeout(() => {
    throw new Error(`not done in ${TEST_BOUND_MS} ms: a response waited for DNS`);
  }, TEST_BOUND_MS);
  try {
    const results: Array<{ ms: number; bytes: number }> = [];
    for (let i = 0; i < CLIENTS; i += CONCURRENCY) { // bounded by CLIENTS
      const batch = [];
      for (let j = i; j < Math.min(CLIENTS, i + CONCURRENCY); j++) {
        batch.push(get(server.addr.port, `127.1.${Math.floor(j / 250) + 1}.${(j % 250) + 1}`));
      }
      results.push(...await Promise.all(batch));
    }
    assert.equal(results.length, CLIENTS);
    assert.ok(results.every((r) => r.bytes === FILE_BYTES), "every body arrived whole");
    assert.equal(queries, REVERSE_MAX_IN_FLIGHT, "lookups beyond the cap were dropped");
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))].toFixed(1);
    console.log(
      `[dns] ${CLIENTS} addresses, resolver silent: GET p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, ` +
        `max ${q(1)} ms; ${queries} queries sent, the rest dropped`,
    );
  } finally {
    clearTimeout(bound);
    await server.shutdown(1_000);
    await new Promise<void>((r) => sink.close(() => r()));
    await Deno.remove(dir, { recursive: true });
  }
  // Shutdown settled the outstanding lookups: every connection is logged, as JSON, nameless.
  const connects = lines.map((l) => JSON.parse(l)).filter((e) => e.event === "connection");
  assert.equal(connects.length, CLIENTS);
  assert.ok(connects.every((e) => e.hostName === null));
});
