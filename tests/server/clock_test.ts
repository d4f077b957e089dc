/** The per-turn clocks: one read per turn of the event loop, a fresh one in the next. */

import assert from "node:assert/strict";
import { turnMs, turnPerfMs } from "../../lib/server/clock.ts";

const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* bounded busy wait */ }
};

Deno.test("turnMs and turnPerfMs hold one value through a synchronous stretch", () => {
  const wall = turnMs();
  const mono = turnPerfMs();
  spin(5);
  assert.equal(turnMs(), wall);
  assert.equal(turnPerfMs(), mono);
  assert.ok(Math.abs(wall - Date.now()) < 1_000, "it is the wall clock");
});

Deno.test("turnMs and turnPerfMs read the clock again in a later turn", async () => {
  const wall = turnMs();
  const mono = turnPerfMs();
  await new Promise((r) => setTimeout(r, 20));
  const wall2 = turnMs();
  const mono2 = turnPerfMs();
  assert.ok(wall2 - wall >= 15, `wall ${wall} then ${wall2}`);
  assert.ok(mono2 - mono >= 15, `monotonic ${mono} then ${mono2}`);
  // And after the microtasks queued before the first read: a continuation queued later reads
  // again (what a connection's next await sees).
  const first = turnPerfMs();
  spin(3);
  await Promise.resolve();
  await Promise.resolve();
  assert.ok(turnPerfMs() - first >= 2, "a later continuation gets a fresh reading");
});
