/**
 * RTT probes (`--rtt-probes N`): N round trips after one warm-up, summarised ping-style as
 * min/avg/max/mdev. A probe is a HEAD request on the download's own connection while the
 * server keeps it open (request written → response head read: one round trip plus the
 * server's time to answer a HEAD), and a fresh TCP handshake (connect → established, closed at
 * once) when it does not. The warm-up is discarded: it pays for cold caches on both ends.
 *
 * @example
 * ```ts
 * import { rttStats } from "./probe.ts";
 * console.log(rttStats([1, 2, 3])); // { minMs: 1, avgMs: 2, maxMs: 3, mdevMs: 0.816… }
 * ```
 * @module
 */

import type { ConnReader } from "../net/head_reader.ts";
import type { Connected } from "./connect.ts";
import { ClientError, EXIT, reasonOf } from "./errors.ts";
import { buildRequest, sendAndReadHead, willClose } from "./exchange.ts";
import { hostPort, type Location } from "./names.ts";

/** min/avg/max/mdev of a series, in ms. */
export interface RttSummary {
  /** Smallest sample. */
  minMs: number;
  /** Mean. */
  avgMs: number;
  /** Largest sample. */
  maxMs: number;
  /** Mean deviation as ping prints it: sqrt(mean(x²) − mean(x)²). */
  mdevMs: number;
}

/** What the probes measured. */
export interface ProbeResult extends RttSummary {
  /** How the round trips were made: "head" (HEAD on the same connection), "tcp-handshake", or
   * "head+tcp-handshake" when the server closed the connection part way. */
  method: "head" | "tcp-handshake" | "head+tcp-handshake";
  /** Probes counted (warm-up excluded). */
  count: number;
  /** The warm-up round trip, discarded, ms. */
  warmupMs: number;
  /** Every counted sample, ms, in order. */
  samplesMs: number[];
}

/** Summarises samples (ping's formulas). All zero for an empty series. */
export function rttStats(samples: number[]): RttSummary {
  if (samples.length === 0) return { minMs: 0, avgMs: 0, maxMs: 0, mdevMs: 0 };
  let sum = 0;
  let sum2 = 0;
  for (const s of samples) {
    sum += s;
    sum2 += s * s;
  }
  const avg = sum / samples.length;
  return {
    minMs: Math.min(...samples),
    avgMs: avg,
    maxMs: Math.max(...samples),
    mdevMs: Math.sqrt(Math.max(0, sum2 / samples.length - avg * avg)),
  };
}

/**
 * Runs `n` probes (plus one warm-up) towards `to` over `c`. Returns the result and whether `c`
 * is still open for the download.
 * @throws {ClientError} timeout (8), or connect (3) when a handshake probe fails.
 */
export async function runProbes(
  c: Connected,
  reader: ConnReader,
  to: Location,
  options: { count: number; timeoutMs: number },
): Promise<{ result: ProbeResult; open: boolean }> {
  let open = true;
  // How the counted probes (not the warm-up) were made.
  let usedHead = false;
  let usedHandshake = false;
  const times: number[] = [];
  for (let i = 0; i <= options.count; i++) {
    if (open) {
      try {
        const r = await sendAndReadHead(
          c,
          reader,
          buildRequest({ method: "HEAD", to, keepAlive: true }),
        );
        times.push(r.headAt - r.sentAt);
        if (i > 0) usedHead = true;
        if (willClose(r.head)) open = false;
        continue;
      } catch (e) {
        if (!(e instanceof ClientError) || e.code !== EXIT.protocol) throw e;
        open = false; // the server hung up: measure with handshakes instead
      }
    }
    times.push(await handshake(c, to, options.timeoutMs));
    if (i > 0) usedHandshake = true;
  }
  const samples = times.slice(1);
  return {
    open,
    result: {
      method: usedHead && usedHandshake
        ? "head+tcp-handshake"
        : usedHead
        ? "head"
        : "tcp-handshake",
      count: samples.length,
      warmupMs: times[0] ?? 0,
      samplesMs: samples,
      ...rttStats(samples),
    },
  };
}

/** One TCP handshake to the same address, closed at once; its duration in ms. */
async function handshake(c: Connected, to: Location, timeoutMs: number): Promise<number> {
  const hostname = c.connectedBy === "name" ? to.host : c.address;
  const t0 = performance.now();
  try {
    const conn = await Deno.connect({
      hostname,
      port: to.port,
      signal: timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined,
    });
    const ms = performance.now() - t0;
    conn.close();
    return ms;
  } catch (e) {
    const timedOut = e instanceof DOMException;
    throw new ClientError(
      timedOut ? EXIT.timeout : EXIT.connect,
      `RTT probe to ${hostPort(hostname, to.port)} failed: ${
        timedOut ? "timed out" : reasonOf(e)
      }; retry without --rtt-probes`,
    );
  }
}
