/**
 * Unit tests of the connection caps: the per-address key (IPv4, IPv6 /64, IPv4-mapped), the
 * total and per-address caps, release, and two limiters over one SharedArrayBuffer counting as
 * one (as the `--workers` threads do).
 */

import assert from "node:assert/strict";
import { addressKey, ConnLimiter, OVER_ADDRESS, OVER_TOTAL } from "../../lib/server/conn_limits.ts";

Deno.test("addressKey() counts IPv4 by address, IPv6 by /64, IPv4-mapped as IPv4", () => {
  const table: Array<[string, string]> = [
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::9", "2001:db8:1:2::/64"],
    ["2001:DB8:0001:0002:ffff::1", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
  ];
  for (const [addr, key] of table) assert.equal(addressKey(addr), key, addr);
});

Deno.test("ConnLimiter: total cap, per-address cap, release", () => {
  const caps = new ConnLimiter({ maxConnections: 5, maxPerAddress: 2 });
  const a1 = caps.acquire("10.0.0.1");
  const a2 = caps.acquire("10.0.0.1");
  assert.ok(a1 >= 0 && a2 >= 0);
  assert.equal(caps.acquire("10.0.0.1"), OVER_ADDRESS);
  assert.ok(caps.acquire("2001:db8::1") >= 0);
  // Same /64: the same count.
  assert.ok(caps.acquire("2001:db8::2") >= 0);
  assert.equal(caps.acquire("2001:db8::3"), OVER_ADDRESS);
  assert.equal(caps.open, 4);
  const b = caps.acquire("10.0.0.2");
  assert.ok(b >= 0);
  assert.equal(caps.acquire("10.0.0.3"), OVER_TOTAL);
  assert.equal(caps.open, 5, "a refused connection is not counted");
  caps.release(a1);
  assert.ok(caps.acquire("10.0.0.1") >= 0, "room again for that address after a release");
  assert.equal(caps.open, 5);
});

Deno.test("ConnLimiter: many addresses are counted apart; no per-address cap with 0", () => {
  // 5,000 addresses with 2 connections each under a cap of 8: a refusal would need strangers
  // with 7 connections in the same counter in all three rows.
  const caps = new ConnLimiter({ maxConnections: 100_000, maxPerAddress: 8 });
  const tokens: number[] = [];
  for (let i = 0; i < 10_000; i++) {
    const t = caps.acquire(`10.${i >> 16}.${(i >> 9) & 255}.${(i >> 1) & 255}`);
    assert.ok(t >= 0, `connection ${i} refused: counted with strangers in every row`);
    tokens.push(t);
  }
  // Yet each address is held to the cap.
  for (let i = 0; i < 6; i++) assert.ok(caps.acquire("10.0.0.0") >= 0);
  assert.equal(caps.acquire("10.0.0.0"), OVER_ADDRESS);
  for (const t of tokens) caps.release(t);
  const none = new ConnLimiter({ maxConnections: 3, maxPerAddress: 0 });
  assert.ok([1, 2, 3].every(() => none.acquire("10.0.0.1") >= 0));
  assert.equal(none.acquire("10.0.0.1"), OVER_TOTAL);
});

Deno.test("ConnLimiter: limiters over one SharedArrayBuffer share both caps", () => {
  const shared = ConnLimiter.sharedMemory();
  const w1 = new ConnLimiter({ maxConnections: 3, maxPerAddress: 2, shared });
  const w2 = new ConnLimiter({ maxConnections: 3, maxPerAddress: 2, shared });
  assert.ok(w1.acquire("10.0.0.1") >= 0);
  assert.ok(w2.acquire("10.0.0.1") >= 0);
  assert.equal(w1.acquire("10.0.0.1"), OVER_ADDRESS);
  const t = w2.acquire("10.0.0.2");
  assert.ok(t >= 0);
  assert.equal(w1.acquire("10.0.0.3"), OVER_TOTAL);
  w1.release(t); // released by another thread than the one that counted it: same counters
  assert.equal(w2.open, 2);
});
