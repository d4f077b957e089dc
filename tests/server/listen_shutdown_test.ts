import assert from "node:assert/strict";
import { Server } from "../../lib/server/listen.ts";
import { FileServer } from "../../lib/server/files.ts";
import type { RequestHead } from "../../lib/http/request.ts";

/** A file system call that never returns cannot be made on purpose; the file server's answer
 * for one target is held forever instead, which is what the connection sees of such a call. */
Deno.test("Server.shutdown() returns even when a response is stuck forever (grace + 2 s at most)", async () => {
  const root = await Deno.makeTempDir({ prefix: "ferry_shutdown_" });
  const original = FileServer.prototype.respond;
  let reached!: () => void;
  const stuck = new Promise<void>((r) => (reached = r));
  FileServer.prototype.respond = function (this: FileServer, head: RequestHead) {
    if (head.target === "/stuck") {
      reached();
      return new Promise(() => {}); // never settles
    }
    return original.call(this, head);
  };
  const sink = { write: (p: Uint8Array) => Promise.resolve(p.length) };
  try {
    const server = await Server.start({
      root,
      port: 0,
      log: "none",
      logOut: sink,
      reverseDns: false,
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    try {
      await conn.write(new TextEncoder().encode("GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n"));
      await stuck;
      // Liveness, not timing: before, shutdown waited for the stuck task forever.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        server.shutdown(200).then(() => "returned"),
        new Promise((r) => (timer = setTimeout(() => r("still waiting"), 15_000))),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "returned");
    } finally {
      conn.close();
    }
  } finally {
    FileServer.prototype.respond = original;
    await Deno.remove(root, { recursive: true });
  }
});
