/**
 * ReverseDns against a real UDP nameserver on loopback (node:dgram, started by the test): it
 * answers PTR queries it is told to answer and swallows the rest. Checks answers, caching, the
 * timeout, the in-flight cap (dropped, not queued), and that forged or foreign datagrams are
 * ignored.
 */

import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { encodePtrQuery } from "../../lib/net/dns_wire.ts";
import { parseNameserver, ReverseDns } from "../../lib/net/reverse_dns.ts";

/** A response with message id `id` to a PTR query for `name`, answering `host`. */
function ptrAnswer(id: number, name: string, host: string): Uint8Array {
  const rdata: number[] = [];
  for (const l of host.split(".")) rdata.push(l.length, ...new TextEncoder().encode(l));
  rdata.push(0);
  const record = [0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, rdata.length, ...rdata];
  const out = new Uint8Array([...encodePtrQuery(id, name), ...record]);
  out[2] = 0x81; // QR, RD
  out[3] = 0x80; // RA, NOERROR
  out[7] = 1; // ANCOUNT
  return out;
}

/** A nameserver on 127.0.0.1 that answers names in `answers` and swallows the rest. */
async function nameserver(answers: Map<string, string>) {
  const socket: Socket = createSocket("udp4");
  const queries: string[] = [];
  const raw: Array<{ msg: Uint8Array; port: number }> = [];
  socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
    raw.push({ msg: new Uint8Array(msg), port: rinfo.port });
    // The question name, from the labels after the 12-byte header.
    const labels: string[] = [];
    let at = 12;
    while (msg[at] !== 0) {
      labels.push(String.fromCharCode(...msg.subarray(at + 1, at + 1 + msg[at])));
      at += 1 + msg[at];
    }
    const name = labels.join(".");
    queries.push(name);
    const host = answers.get(name);
    if (host === undefined) return; // swallowed
    socket.send(ptrAnswer((msg[0] << 8) | msg[1], name, host), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  return {
    port: socket.address().port,
    socket,
    raw,
    queries,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

Deno.test("parseNameserver() reads host, host:port, [v6]:port and a bare IPv6 address", () => {
  assert.deepEqual(parseNameserver("10.0.0.1"), { host: "10.0.0.1", port: 53 });
  assert.deepEqual(parseNameserver("127.0.0.1:5353"), { host: "127.0.0.1", port: 5353 });
  assert.deepEqual(parseNameserver("[::1]:5300"), { host: "::1", port: 5300 });
  assert.deepEqual(parseNameserver("fe80::1"), { host: "fe80::1", port: 53 });
});

Deno.test("ReverseDns: answers over UDP, caches, times out, drops past the in-flight cap", async () => {
  const ns = await nameserver(new Map([["9.8.7.127.in-addr.arpa", "peer.example"]]));
  const dns = new ReverseDns({
    nameserver: { host: "127.0.0.1", port: ns.port },
    timeoutMs: 300,
    maxInFlight: 4,
  });
  try {
    assert.equal(await dns.lookup("127.7.8.9"), "peer.example");
    assert.equal(await dns.lookup("127.7.8.9"), "peer.example"); // cached: no second query
    assert.equal(ns.queries.filter((q) => q === "9.8.7.127.in-addr.arpa").length, 1);
    // Swallowed: four go out and time out (null); the fifth and sixth are dropped at once.
    const t0 = performance.now();
    const slow = ["127.1.1.1", "127.1.1.2", "127.1.1.3", "127.1.1.4"].map((a) => dns.lookup(a));
    assert.equal(dns.inFlight, 4);
    assert.equal(await dns.lookup("127.1.1.5"), null);
    assert.equal(await dns.lookup("127.1.1.6"), null);
    assert.equal(dns.dropped, 2);
    assert.ok(performance.now() - t0 < 250, "a dropped lookup does not wait");
    assert.deepEqual(await Promise.all(slow), [null, null, null, null]);
    assert.equal(dns.inFlight, 0);
    // A dropped address is not remembered as nameless: asked again later, it is queried.
    const before = ns.queries.length;
    await dns.lookup("127.1.1.5");
    assert.equal(ns.queries.length, before + 1);
  } finally {
    dns.close();
    await ns.close();
  }
});

Deno.test("ReverseDns ignores answers from elsewhere and answers to other questions", async () => {
  const name = "3.3.3.127.in-addr.arpa";
  const ns = await nameserver(new Map()); // swallows: the test answers by hand below
  const dns = new ReverseDns({
    nameserver: { host: "127.0.0.1", port: ns.port },
    timeoutMs: 5_000,
  });
  const stranger: Socket = createSocket("udp4");
  await new Promise<void>((r) => stranger.bind(0, "127.0.0.1", () => r()));
  try {
    const pending = dns.lookup("127.3.3.3");
    for (let i = 0; i < 100 && ns.raw.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const { msg, port } = ns.raw[0];
    const id = (msg[0] << 8) | msg[1];
    const settled = { v: false };
    pending.then(() => settled.v = true);
    const send = (s: Socket, m: Uint8Array) =>
      new Promise<void>((r) => s.send(m, port, "127.0.0.1", () => r()));
    // The right answer from the wrong port; then from the nameserver, about another name.
    await send(stranger, ptrAnswer(id, name, "forged.example"));
    await send(ns.socket, ptrAnswer(id, "4.3.3.127.in-addr.arpa", "other.example"));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(settled.v, false, "neither was taken for the answer");
    await send(ns.socket, ptrAnswer(id, name, "real.example"));
    assert.equal(await pending, "real.example");
  } finally {
    dns.close();
    stranger.close();
    await ns.close();
  }
});
