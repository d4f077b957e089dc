/**
 * When to try a download again, and how long to wait first (`--retry N`, `--retry-delay`):
 * pure decisions, no I/O, so every rule is unit-tested.
 *
 * - What is retried: a connect that failed or timed out, a connection reset or cut mid-body, a
 *   read that timed out (`--timeout`), and the statuses that say "later" — 408, 429 and 5xx
 *   except 501 and 505, which will not change by waiting. Never: a name that does not resolve,
 *   4xx, a broken response, a checksum mismatch, a local file error, `--max-time`.
 * - A refused connection (nobody listens on that port) fails at once, as in curl and wget,
 *   unless `--retry-connrefused`, or the origin already sent bytes in this run (a restart or
 *   failover mid-download: lib/client/refused.ts).
 * - The wait: exponential backoff, `base × 2^(attempt-1)` capped at {@linkcode MAX_BACKOFF_MS},
 *   with "equal jitter" (a uniform draw in [d/2, d]) so that many clients cut at once do not
 *   come back in step. A server's `Retry-After` (RFC 9110 §10.2.3) replaces the backoff when it
 *   is longer; one longer than {@linkcode MAX_RETRY_AFTER_MS}, or longer than what is left of
 *   `--max-time`, ends the retries at once rather than sleeping into certain failure.
 *
 * @example
 * ```ts
 * import { nextDelayMs } from "./retry.ts";
 * const d = nextDelayMs({ transient: "reset", retryAfterMs: null }, 1, {
 *   retries: 5, baseMs: 1000, remainingMs: null, random: () => 1,
 * });
 * console.log(d); // 1000
 * ```
 * @module
 */

import { ClientError, type Transient } from "./errors.ts";
import { parseHttpDate } from "../http/response.ts";

/** Default --retry: like aria2c's 5; enough to ride out a restart or a few resets, few enough
 * that a dead server fails within a minute (1+2+4+8+16 s of backoff at most). */
export const DEFAULT_RETRIES = 5;
/** Default --retry-delay, the first backoff in ms. */
export const DEFAULT_RETRY_BASE_MS = 1000;
/** Longest backoff between two attempts: beyond this a user would rather see the failure. */
export const MAX_BACKOFF_MS = 30_000;
/** Longest Retry-After honoured; a server asking for more is treated as "not now". */
export const MAX_RETRY_AFTER_MS = 300_000;
/** Largest --retry. */
export const MAX_RETRIES = 100;

/** Whether an HTTP status says "try again later" (RFC 9110 §15.5.9 408, RFC 6585 §4 429,
 * 5xx but 501 Not Implemented and 505 HTTP Version Not Supported). */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 ||
    (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/**
 * RFC 9110 §10.2.3 `Retry-After: delay-seconds | HTTP-date`, in ms from `nowMs` (a date in the
 * past is 0), or null when absent or malformed.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  const at = parseHttpDate(v);
  return Number.isFinite(at) && at > 0 ? Math.max(0, at - nowMs) : null;
}

/** The backoff before attempt `retry` (1 = first retry), jittered by `random()` in [0, 1]. */
export function backoffMs(retry: number, baseMs: number, random: () => number): number {
  const d = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.min(retry - 1, 30));
  return Math.round(d / 2 + (d / 2) * random());
}

/** What {@linkcode nextDelayMs} decides from. */
export interface RetryState {
  /** --retry. */
  retries: number;
  /** --retry-delay in ms. */
  baseMs: number;
  /** What is left of --max-time, or null without one. */
  remainingMs: number | null;
  /** Uniform in [0, 1]; `Math.random` outside tests. */
  random: () => number;
  /** --retry-connrefused: a "refused" failure is retried too. @default false */
  retryRefused?: boolean;
}

/**
 * The wait in ms before retry number `retry` (1-based) after `failure`, or null to give up:
 * not transient, retries used up, or a Retry-After too long to honour.
 */
export function nextDelayMs(
  failure: { transient: Transient | null; retryAfterMs: number | null },
  retry: number,
  s: RetryState,
): number | null {
  if (failure.transient === null || retry > s.retries) return null;
  if (failure.transient === "refused" && !s.retryRefused) return null;
  const backoff = backoffMs(retry, s.baseMs, s.random);
  const after = failure.retryAfterMs;
  if (after !== null && after > MAX_RETRY_AFTER_MS) return null;
  const delay = after !== null ? Math.max(after, backoff) : backoff;
  if (s.remainingMs !== null && delay >= s.remainingMs) return null;
  return delay;
}

/**
 * The error to show once retrying ends: a transient failure's message says how many attempts
 * were made (and, for a refused connection, how to have it retried); any other error as is.
 */
export function finalError(
  e: ClientError,
  attempts: number,
  opts: { retryConnRefused?: boolean },
): ClientError {
  if (e.transient === null) return e;
  const tries = `${attempts} attempt${attempts === 1 ? "" : "s"}`;
  const note = e.transient === "refused" && !opts.retryConnRefused
    ? `${tries}; a refused connection is retried only with --retry-connrefused`
    : tries;
  return new ClientError(e.code, `${e.message} (${note})`, {
    transient: e.transient,
    retryAfterMs: e.retryAfterMs,
  });
}
