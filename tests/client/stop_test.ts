/** The --max-time deadline and the interrupt: a sleep ends early, the connection is closed. */

import assert from "node:assert/strict";
import { Stop } from "../../lib/client/stop.ts";

Deno.test("Stop: the deadline ends a sleep, aborts the signal and closes what is in use", async () => {
  const stop = new Stop(30);
  let closed = 0;
  stop.setCloser(() => closed++);
  assert.ok(stop.remainingMs()! <= 30);
  await stop.sleep(10_000);
  assert.equal(stop.reason, "max-time");
  assert.ok(stop.signal.aborted);
  assert.equal(closed, 1);
  stop.fire("interrupt");
  assert.equal(stop.reason, "max-time", "the first reason wins");
  stop.setCloser(() => closed++);
  assert.equal(closed, 2, "a connection opened after the stop is closed at once");
  await stop.sleep(10_000); // returns at once
  stop.dispose();
});

Deno.test("Stop: no deadline; an interrupt fires once", async () => {
  const stop = new Stop(null);
  assert.equal(stop.remainingMs(), null);
  const slept = stop.sleep(10_000);
  stop.fire("interrupt");
  await slept;
  assert.equal(stop.reason, "interrupt");
  stop.dispose();
});

Deno.test("Stop.child: fires with its parent's reason, has its own closer, shares the deadline", async () => {
  const parent = new Stop(60_000);
  const a = parent.child();
  const b = parent.child();
  const closed: string[] = [];
  a.setCloser(() => closed.push("a"));
  b.setCloser(() => closed.push("b"));
  assert.ok(a.remainingMs()! > 50_000 && a.remainingMs()! <= 60_000);
  parent.fire("interrupt");
  assert.deepEqual(closed.sort(), ["a", "b"]);
  assert.deepEqual([a.reason, b.reason], ["interrupt", "interrupt"]);
  assert.ok(a.signal.aborted);
  await a.sleep(10_000); // returns at once
  const late = parent.child();
  assert.equal(late.reason, "interrupt");
  for (const s of [a, b, late, parent]) s.dispose();
});
