import assert from "node:assert/strict";
import {
  type ConnParams,
  familyOf,
  formatAddr,
  formatConnBlock,
  formatConnLine,
  formatMs,
} from "../../lib/net/conn_info.ts";

const v4: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 8080 };
const v6: Deno.NetAddr = { transport: "tcp", hostname: "::1", port: 443 };

Deno.test("formatAddr() brackets IPv6 and familyOf() tells the family", () => {
  assert.equal(formatAddr(v4), "127.0.0.1:8080");
  assert.equal(formatAddr(v6), "[::1]:443");
  assert.equal(familyOf(v4), "AF_INET");
  assert.equal(familyOf(v6), "AF_INET6");
});

Deno.test("formatMs() prints none, ms and s", () => {
  assert.equal(formatMs(0), "none");
  assert.equal(formatMs(250), "250ms");
  assert.equal(formatMs(1500), "1.5s");
  assert.equal(formatMs(30000), "30s");
});

Deno.test("one ConnParams gives the log line, the block and the JSON shape", () => {
  const p: ConnParams = {
    hostName: "example",
    resolvedAddress: "::1",
    reverseName: "localhost",
    peer: "[::1]:443",
    local: "[::1]:50000",
    family: "AF_INET6",
    type: "SOCK_STREAM",
    protocol: "TCP",
    protocolNumber: 6,
    timeoutsMs: { connect: 30000, read: 30000 },
  };
  assert.equal(
    formatConnLine(p),
    "host=example peer=[::1]:443 local=[::1]:50000 family=AF_INET6 type=SOCK_STREAM " +
      "proto=TCP(6) timeouts=connect=30s,read=30s",
  );
  const block = formatConnBlock(p);
  assert.match(block, /host name\s+example, resolved ::1, reverse localhost/);
  assert.match(block, /protocol\s+TCP \(IPPROTO_TCP = 6\)/);
  assert.match(block, /timeouts\s+connect=30s read=30s/);
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(p))), [
    "hostName",
    "resolvedAddress",
    "reverseName",
    "peer",
    "local",
    "family",
    "type",
    "protocol",
    "protocolNumber",
    "timeoutsMs",
  ]);
});

Deno.test("describeConn() reads a real loopback connection", async () => {
  const { describeConn } = await import("../../lib/net/conn_info.ts");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await accepted;
  try {
    const p = describeConn(conn, { hostName: "localhost", timeoutsMs: { read: 1000 } });
    assert.equal(p.peer, `127.0.0.1:${listener.addr.port}`);
    assert.equal(p.local, formatAddr(server.remoteAddr));
    assert.equal(p.family, "AF_INET");
    assert.equal(p.protocol, "TCP");
  } finally {
    conn.close();
    server.close();
    listener.close();
  }
});
