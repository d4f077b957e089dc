/** The retry policy: which failures are retried, the backoff, and Retry-After. */

import assert from "node:assert/strict";
import { ClientError, EXIT } from "../../lib/client/errors.ts";
import { noteHeard, originKey, refusedTransient } from "../../lib/client/refused.ts";
import {
  backoffMs,
  finalError,
  MAX_BACKOFF_MS,
  MAX_RETRY_AFTER_MS,
  nextDelayMs,
  parseRetryAfter,
  retryableStatus,
} from "../../lib/client/retry.ts";

Deno.test("retryableStatus: 408, 429 and 5xx but 501/505", () => {
  const table: Array<[number, boolean]> = [
    [408, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [599, true],
    [501, false],
    [505, false],
    [400, false],
    [403, false],
    [404, false],
    [416, false],
    [200, false],
  ];
  for (const [status, want] of table) assert.equal(retryableStatus(status), want, String(status));
});

Deno.test("parseRetryAfter: delay-seconds, HTTP-date, garbage (RFC 9110 §10.2.3)", () => {
  const now = Date.parse("Sun, 29 Nov 2026 08:00:00 GMT");
  const table: Array<[string | undefined, number | null]> = [
    [undefined, null],
    ["0", 0],
    ["3", 3000],
    [" 120 ", 120_000],
    ["Sun, 29 Nov 2026 08:00:10 GMT", 10_000],
    ["Sun, 29 Nov 2026 07:59:00 GMT", 0],
    ["-1", null],
    ["1.5", null],
    ["soon", null],
    ["", null],
  ];
  for (const [v, want] of table) assert.equal(parseRetryAfter(v, now), want, String(v));
});

Deno.test("backoffMs doubles from the base, jittered into [d/2, d], capped", () => {
  assert.equal(backoffMs(1, 1000, () => 1), 1000);
  assert.equal(backoffMs(1, 1000, () => 0), 500);
  assert.equal(backoffMs(2, 1000, () => 1), 2000);
  assert.equal(backoffMs(3, 1000, () => 1), 4000);
  assert.equal(backoffMs(5, 1000, () => 0.5), 12_000);
  assert.equal(backoffMs(20, 1000, () => 1), MAX_BACKOFF_MS);
  assert.equal(backoffMs(1000, 1000, () => 1), MAX_BACKOFF_MS, "no overflow");
  for (let i = 0; i < 100; i++) {
    const d = backoffMs(3, 1000, Math.random);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});

Deno.test("nextDelayMs: transient failures retried until the count is used up", () => {
  const s = { retries: 3, baseMs: 100, remainingMs: null, random: () => 1 };
  const reset = { transient: "reset" as const, retryAfterMs: null };
  assert.equal(nextDelayMs(reset, 1, s), 100);
  assert.equal(nextDelayMs(reset, 3, s), 400);
  assert.equal(nextDelayMs(reset, 4, s), null, "retries used up");
  assert.equal(nextDelayMs({ transient: null, retryAfterMs: null }, 1, s), null, "permanent");
  assert.equal(nextDelayMs(reset, 1, { ...s, retries: 0 }), null, "--retry 0");
});

Deno.test("nextDelayMs: Retry-After honoured when longer, refused when too long", () => {
  const s = { retries: 5, baseMs: 100, remainingMs: null, random: () => 1 };
  const status = (ms: number) => ({ transient: "status" as const, retryAfterMs: ms });
  assert.equal(nextDelayMs(status(2000), 1, s), 2000, "longer than the backoff: honoured");
  assert.equal(nextDelayMs(status(0), 1, s), 100, "shorter: the backoff stands");
  assert.equal(nextDelayMs(status(MAX_RETRY_AFTER_MS + 1), 1, s), null, "too long: give up");
  assert.equal(
    nextDelayMs(status(2000), 1, { ...s, remainingMs: 1500 }),
    null,
    "past --max-time: give up now rather than sleep into it",
  );
  assert.equal(nextDelayMs(status(1000), 1, { ...s, remainingMs: 1500 }), 1000);
});

Deno.test("nextDelayMs: a refused connection is retried only with --retry-connrefused", () => {
  const s = { retries: 5, baseMs: 100, remainingMs: null, random: () => 1 };
  const refused = { transient: "refused" as const, retryAfterMs: null };
  assert.equal(nextDelayMs(refused, 1, s), null, "curl/wget: fail at once");
  assert.equal(nextDelayMs(refused, 1, { ...s, retryRefused: true }), 100);
  assert.equal(nextDelayMs(refused, 6, { ...s, retryRefused: true }), null, "budget still holds");
});

Deno.test("refusedTransient: an origin heard from in this run is retried like any connect", () => {
  const key = originKey({ secure: false, host: "198.51.100.7", port: 8123 });
  assert.equal(refusedTransient(key), "refused");
  noteHeard(key);
  assert.equal(refusedTransient(key), "connect");
  assert.equal(
    refusedTransient(originKey({ secure: true, host: "198.51.100.7", port: 8123 })),
    "refused",
  );
});

Deno.test("finalError: a transient failure says how many attempts were made", () => {
  const refused = new ClientError(EXIT.connect, "cannot connect", { transient: "refused" });
  assert.equal(
    finalError(refused, 1, {}).message,
    "cannot connect (1 attempt; a refused connection is retried only with --retry-connrefused)",
  );
  assert.equal(
    finalError(refused, 3, { retryConnRefused: true }).message,
    "cannot connect (3 attempts)",
  );
  const reset = new ClientError(EXIT.protocol, "cut", { transient: "reset" });
  assert.equal(finalError(reset, 6, {}).message, "cut (6 attempts)");
  assert.equal(finalError(reset, 6, {}).code, EXIT.protocol);
  const notFound = new ClientError(EXIT.httpStatus, "404");
  assert.equal(finalError(notFound, 1, {}), notFound, "not transient: unchanged");
});
