/** withRetries: the --retry loop of a segment's range and a mirror's file. */

import assert from "node:assert/strict";
import { ClientError, EXIT } from "../../lib/client/errors.ts";
import { withRetries } from "../../lib/client/retry_loop.ts";
import { Stop } from "../../lib/client/stop.ts";

const reset = () => new ClientError(EXIT.protocol, "reset", { transient: "reset" });

Deno.test("withRetries: transient failures are retried within the budget, then the last is thrown", async () => {
  const stop = new Stop(null);
  const said: string[] = [];
  const env = {
    opts: { retries: 2, retryBaseMs: 1 },
    stop,
    budget: { used: 0 },
    say: (t: string) => said.push(t),
  };
  let calls = 0;
  assert.equal(
    await withRetries(() => ++calls < 3 ? Promise.reject(reset()) : Promise.resolve("ok"), env),
    "ok",
  );
  assert.deepEqual([calls, env.budget.used, said.length], [3, 2, 2]);
  assert.match(said[1], /retry 2 of 2/);
  // The budget is shared: nothing left for the next caller.
  calls = 0;
  await assert.rejects(withRetries(() => (calls++, Promise.reject(reset())), env), /reset/);
  assert.equal(calls, 1);
  stop.dispose();
});

Deno.test("withRetries: not transient, or stopped, is thrown at once", async () => {
  const stop = new Stop(null);
  const env = {
    opts: { retries: 5, retryBaseMs: 60_000 },
    stop,
    budget: { used: 0 },
    say: () => {},
  };
  let calls = 0;
  const notFound = new ClientError(EXIT.httpStatus, "404");
  await assert.rejects(withRetries(() => (calls++, Promise.reject(notFound)), env), /404/);
  assert.equal(calls, 1);
  // A 60 s backoff ends when the run is stopped; no further attempt.
  calls = 0;
  setTimeout(() => stop.fire("interrupt"), 20);
  const t0 = performance.now();
  await assert.rejects(withRetries(() => (calls++, Promise.reject(reset())), env), /reset/);
  assert.equal(calls, 1);
  assert.ok(performance.now() - t0 < 30_000);
  stop.dispose();
});
