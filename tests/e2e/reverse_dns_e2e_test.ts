/**
 * End to end, reverse DNS (issue 11, item 5): `server.ts` asks the nameserver named by
 * `$FERRY_DNS_SERVER` over UDP and logs the answer as the client's host name — in the text and
 * in the JSON log. The nameserver is a node:dgram socket on loopback started by the test.
 */

import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { join } from "node:path";
import { encodePtrQuery } from "../../lib/net/dns_wire.ts";
import { rawRequest, startServer } from "./raw.ts";

/** Answers every PTR query with `host`. */
async function nameserver(host: string) {
  const socket: Socket = createSocket("udp4");
  let queries = 0;
  socket.on("message", (msg: Uint8Array, rinfo: { address: string; port: number }) => {
    queries++;
    const labels: string[] = [];
    for (let at = 12; msg[at] !== 0; at += 1 + msg[at]) {
      labels.push(String.fromCharCode(...msg.subarray(at + 1, at + 1 + msg[at])));
    }
    const rdata: number[] = [];
    for (const l of host.split(".")) rdata.push(l.length, ...new TextEncoder().encode(l));
    rdata.push(0);
    const out = new Uint8Array([
      ...encodePtrQuery((msg[0] << 8) | msg[1], labels.join(".")),
      ...[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, rdata.length, ...rdata],
    ]);
    out[2] = 0x81;
    out[3] = 0x80;
    out[7] = 1;
    socket.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  return {
    port: socket.address().port,
    queries: () => queries,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

for (const format of ["text", "json"] as const) {
  Deno.test(`server.ts --log ${format} names the client from $FERRY_DNS_SERVER over UDP`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "ferry-dns-e2e-" });
    await Deno.writeTextFile(join(dir, "a.txt"), "a\n");
    const ns = await nameserver("client.test.example");
    const server = await startServer(dir, ["--log", format], {
      env: { FERRY_DNS_SERVER: `127.0.0.1:${ns.port}` },
    });
    try {
      const r = await rawRequest(
        server.port,
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      assert.match(r.text, /^HTTP\/1\.1 200/);
      let line: string | undefined;
      for (let i = 0; i < 100 && line === undefined; i++) { // the line waits for the answer
        await new Promise((res) => setTimeout(res, 20));
        line = server.stdout().split("\n").find((l) => /connect|"connection"/.test(l));
      }
      assert.ok(line !== undefined, "a connection line was logged");
      if (format === "json") {
        const e = JSON.parse(line);
        assert.equal(e.hostName, "client.test.example");
        assert.equal(e.reverseName, "client.test.example");
      } else assert.match(line, /host=client\.test\.example /);
      assert.equal(ns.queries(), 1);
    } finally {
      await server.stop();
      await ns.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
