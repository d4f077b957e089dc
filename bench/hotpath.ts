/**
 * The JavaScript cost of one cached request, without the kernel: Ferry's `serveConnection` over
 * in-memory connections that always have the next request ready and take every write at once.
 * On these shared machines a wrk run moves by ±10–20 % from one minute to the next; this moves
 * by a few per cent, so it shows changes to the hot path (the head read, the cache hit, the
 * bookkeeping, the access log) that wrk cannot. It is not the benchmark: real requests also
 * cost the socket reads and writes, several times this.
 *
 * ```sh
 * deno run -A bench/hotpath.ts                 # --log none and --log text, 7 rounds each
 * deno run -A bench/hotpath.ts --rounds 15 --head 'GET /4k HTTP/1.1\r\nHost: x\r\n\r\n'
 * ```
 * Prints the minimum and median µs per request of each logging mode, interleaved by round.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ConnSet, serveConnection, type ServerContext } from "../lib/server/connection.ts";
import { DigestCache } from "../lib/server/digest_cache.ts";
import { FileServer } from "../lib/server/files.ts";
import { Logger } from "../lib/server/log.ts";
import { ensureFile } from "./data.ts";

const CONNECTIONS = 50;
const REQUESTS_PER_CONNECTION = 4000;

/** A connection that reads `head` `left` times, then EOF; every write is taken whole. */
class MemoryConn {
  remoteAddr = { transport: "tcp", hostname: "127.0.0.1", port: 50000 };
  localAddr = { transport: "tcp", hostname: "127.0.0.1", port: 8080 };
  constructor(readonly head: Uint8Array, public left: number, readonly closed: () => void) {}
  read(p: Uint8Array): Promise<number | null> {
    if (this.left-- <= 0) return Promise.resolve(null);
    p.set(this.head);
    return Promise.resolve(this.head.length);
  }
  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(p.length);
  }
  setNoDelay(): void {}
  close(): void {
    this.closed();
  }
}

/** µs per request over CONNECTIONS × `per` requests. */
async function round(files: FileServer, head: Uint8Array, log: "none" | "text", per: number) {
  const sink = { write: (p: Uint8Array) => Promise.resolve(p.length) };
  const ctx: ServerContext = {
    files,
    log: new Logger(log, sink),
    dns: null,
    limits: { headTimeoutMs: 1e9, idleTimeoutMs: 1e9, writeTimeoutMs: 1e9, maxRequests: 1e9 },
    conns: new ConnSet(),
    draining: false,
    nextId: 1,
    idStep: 1,
  };
  const t = performance.now();
  const done: Promise<void>[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const { promise, resolve } = Promise.withResolvers<void>();
    serveConnection(new MemoryConn(head, per, resolve) as unknown as Deno.TcpConn, ctx);
    done.push(promise);
  }
  await Promise.all(done);
  await ctx.log.flush();
  return (performance.now() - t) * 1000 / (CONNECTIONS * per);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { rounds: { type: "string", default: "7" }, head: { type: "string" } },
  });
  const rounds = Number(values.rounds);
  const dir = new URL("../.bench-data", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  await ensureFile(dir, "4k");
  const text = (values.head ?? "GET /4k HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
    .replaceAll("\\r", "\r").replaceAll("\\n", "\n");
  const head = new TextEncoder().encode(text);
  // As server.ts sets it up (the digest makes the cached responses the same bytes).
  const digests = new DigestCache();
  const files = await FileServer.create({ root: dir, listing: false, dotfiles: false, digests });
  files.cache.watch(files.root);
  // Warm-up: fills the cache, lets the JIT settle.
  for (const log of ["none", "text"] as const) await round(files, head, log, 1000);
  const samples = { none: [] as number[], text: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    for (const log of r % 2 === 0 ? ["none", "text"] as const : ["text", "none"] as const) {
      samples[log].push(await round(files, head, log, REQUESTS_PER_CONNECTION));
    }
  }
  for (const log of ["none", "text"] as const) {
    const xs = samples[log].sort((a, b) => a - b);
    console.log(
      `--log ${log}: min ${xs[0].toFixed(3)} µs/request, median ${
        xs[xs.length >> 1].toFixed(3)
      } (${rounds} rounds of ${CONNECTIONS} × ${REQUESTS_PER_CONNECTION})`,
    );
  }
  files.cache.close();
  await digests.close();
}
