/**
 * The minimum transfer rate (`--min-rate`), as a token bucket. `--write-timeout` alone is
 * refreshed by every byte taken, so a client taking a trickle held its connection, and a slot
 * of the caps, for as long as it liked.
 *
 * While a response is being written the client owes `minRate` bytes per second; what the kernel
 * accepts from us pays. The balance may run ahead by one window's worth (`minRate × window`) and
 * behind by as much; a client a whole window behind is dropped. Measuring starts one window
 * ahead (a grace period, as Kestrel's): a client that takes nothing at all is dropped after two
 * windows, if `--write-timeout` has not dropped it before. Why not "bytes per window": the
 * kernel wakes a writer only once a good part of the socket buffer has drained, so progress comes
 * in bursts — on loopback ~1.3 MB at a time — and a client well above the minimum could show
 * nothing in one window; the bucket carries its last burst over.
 *
 * @example
 * ```ts
 * import { newRateState, rateVerdict } from "./min_rate.ts";
 * const s = newRateState();
 * rateVerdict(s, 0, 1_000, 4096, 20_000); // starts measuring
 * console.log(rateVerdict(s, 0, 42_000, 4096, 20_000)); // "too slow (0 B/s over 41.0 s, ...)"
 * ```
 * @module
 */

/** What the bucket remembers of one connection. */
export interface RateState {
  /** Time of the last check (0: not measuring). */
  rateAt: number;
  /** Bytes sent at the last check. */
  rateMark: number;
  /** Bytes ahead (> 0) or behind (< 0) of the minimum. */
  rateBalance: number;
  /** When measuring began, and the bytes sent then (for the message). */
  rateFrom: number;
  rateFromSent: number;
}

/** A state that is not measuring. */
export function newRateState(): RateState {
  return { rateAt: 0, rateMark: 0, rateBalance: 0, rateFrom: 0, rateFromSent: 0 };
}

/**
 * Updates the bucket of a connection that is being written to, with `sent` bytes accepted so
 * far, at `now`. Returns why to drop it, or null. Set `rateAt = 0` to restart (the connection
 * went idle).
 */
export function rateVerdict(
  s: RateState,
  sent: number,
  now: number,
  minRate: number,
  windowMs: number,
): string | null {
  const limit = minRate * windowMs / 1000;
  if (s.rateAt === 0) {
    s.rateAt = s.rateFrom = now;
    s.rateMark = s.rateFromSent = sent;
    s.rateBalance = limit;
    return null;
  }
  const owed = minRate * (now - s.rateAt) / 1000;
  s.rateBalance = Math.min(limit, s.rateBalance + (sent - s.rateMark) - owed);
  s.rateAt = now;
  s.rateMark = sent;
  if (s.rateBalance >= -limit) return null;
  const secs = (now - s.rateFrom) / 1000;
  const avg = secs > 0 ? (sent - s.rateFromSent) / secs : 0;
  return `too slow (${Math.round(avg)} B/s over ${secs.toFixed(1)} s, min-rate ${minRate} B/s)`;
}
