/**
 * The minimum-rate bucket over simulated clients, checked every 250 ms as the sweeper does:
 * trickle readers are dropped, bursty readers above the minimum are not, a fast reader that
 * turns into a trickle is dropped soon after.
 */

import assert from "node:assert/strict";
import { newRateState, rateVerdict } from "../../lib/server/min_rate.ts";

const SWEEP_MS = 250;

/** Runs a client whose accepted bytes at time t (ms from the start) are `sentAt(t)`, for at most
 * `maxMs`; the time of the drop, or -1. */
function simulate(
  sentAt: (t: number) => number,
  minRate: number,
  windowMs: number,
  maxMs: number,
): { at: number; why: string | null } {
  const s = newRateState();
  const t0 = 1_000_000;
  for (let t = 0; t <= maxMs; t += SWEEP_MS) { // bounded by maxMs
    const why = rateVerdict(s, sentAt(t), t0 + t, minRate, windowMs);
    if (why !== null) return { at: t, why };
  }
  return { at: -1, why: null };
}

/** Bytes in bursts of `burst` every `everyMs` (the kernel waking the writer), first at 0. */
const bursts = (burst: number, everyMs: number) => (t: number) =>
  burst * (1 + Math.floor(t / everyMs));

Deno.test("min rate: who is dropped, and when", () => {
  const KIB = 1024;
  const table: Array<{
    what: string;
    sentAt: (t: number) => number;
    minRate: number;
    windowMs: number;
    drop: [number, number] | null; // dropped between these times (ms), or never within 10 min
  }> = [
    {
      what: "nothing after the first burst: dropped two windows in",
      sentAt: () => 4_000_000,
      minRate: 4096,
      windowMs: 20_000,
      drop: [40_000, 40_500],
    },
    {
      what: "16 KiB every 1.5 s (10.9 KB/s) against --min-rate 16384",
      sentAt: bursts(16 * KIB, 1_500),
      minRate: 16_384,
      windowMs: 20_000,
      drop: [100_000, 130_000], // 5.5 KB/s short: two windows of 327 KB
    },
    {
      what: "16 KiB every 1.5 s against the default 4096: not dropped",
      sentAt: bursts(16 * KIB, 1_500),
      minRate: 4096,
      windowMs: 20_000,
      drop: null,
    },
    {
      what: "1.3 MB every 25 s (52 KB/s, loopback's bursts): not dropped",
      sentAt: bursts(1_300_000, 25_000),
      minRate: 4096,
      windowMs: 20_000,
      drop: null,
    },
    {
      what: "exactly the minimum, smoothly: not dropped",
      sentAt: (t) => Math.floor(4096 * t / 1000),
      minRate: 4096,
      windowMs: 20_000,
      drop: null,
    },
    {
      what: "fast for a minute, then nothing: dropped two windows after",
      sentAt: (t) => Math.min(t, 60_000) * 10_000,
      minRate: 4096,
      windowMs: 20_000,
      drop: [100_000, 100_500],
    },
  ];
  for (const c of table) {
    const r = simulate(c.sentAt, c.minRate, c.windowMs, 600_000);
    if (c.drop === null) assert.equal(r.at, -1, `${c.what}: dropped at ${r.at} (${r.why})`);
    else {
      assert.ok(r.at >= c.drop[0] && r.at <= c.drop[1], `${c.what}: dropped at ${r.at}`);
      assert.match(
        r.why!,
        new RegExp(`^too slow \\(\\d+ B/s over [\\d.]+ s, min-rate ${c.minRate} B/s\\)$`),
      );
    }
  }
});

Deno.test("min rate: an idle wait restarts the bucket", () => {
  const s = newRateState();
  assert.equal(rateVerdict(s, 0, 1_000, 4096, 1_000), null);
  assert.equal(rateVerdict(s, 0, 1_900, 4096, 1_000), null);
  s.rateAt = 0; // the connection waited for its next request
  assert.equal(rateVerdict(s, 0, 60_000, 4096, 1_000), null, "measuring starts again");
  assert.equal(rateVerdict(s, 0, 61_500, 4096, 1_000), null, "one window of grace");
  assert.notEqual(rateVerdict(s, 0, 62_500, 4096, 1_000), null);
});
