/**
 * Resume for real (issue 4): a download of a large file is cut by killing the server with
 * SIGKILL midway; the server is restarted on the same port, and `client.ts --continue`
 * completes the file with the right sha-256, appending to the .part rather than starting over.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { startServer } from "./raw.ts";

const SIZE = 192 * 1024 * 1024;
const CLIENT_TS = new URL("../../client.ts", import.meta.url).pathname;

function client(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLIENT_TS, "--no-progress", "--json", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return -1;
  }
}

Deno.test("client.ts --continue completes a download cut by a SIGKILLed server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-resume-src-" });
  const out = await Deno.makeTempDir({ prefix: "ferry-resume-out-" });
  const hash = createHash("sha256");
  {
    using f = await Deno.open(join(dir, "big.bin"), { write: true, create: true });
    const block = new Uint8Array(1 << 20);
    for (let i = 0; i < SIZE / block.length; i++) {
      for (let j = 0; j < block.length; j += 65536) {
        crypto.getRandomValues(block.subarray(j, j + 65536));
      }
      hash.update(block);
      for (let off = 0; off < block.length;) off += await f.write(block.subarray(off));
    }
  }
  const want = hash.digest("hex");
  const part = join(out, "big.bin.part");
  let server = await startServer(dir, ["--log", "none", "--no-digest"]);
  const port = server.port;
  try {
    const first = client(["--retry", "0", "127.0.0.1", String(port), "big.bin", out]);
    // Kill the server once part of the body has landed (bounded: 20 s at most).
    const until = Date.now() + 20_000;
    while ((await sizeOf(part)) < 4 * 1024 * 1024 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 2));
    }
    server.proc.kill("SIGKILL");
    await server.stop();
    const r1 = await first.output();
    const partSize = await sizeOf(part);
    assert.equal(r1.code, 5, "a body cut short is a protocol error (exit 5)");
    assert.ok(partSize > 0 && partSize < SIZE, `the .part holds a prefix (${partSize} bytes)`);
    assert.equal(await sizeOf(join(out, "big.bin")), -1, "no file at the final name");

    server = await startServer(dir, ["--log", "none", "--no-digest"], { port });
    const r2 = await client(["--continue", "--digest", "127.0.0.1", String(port), "big.bin", out])
      .output();
    const report = JSON.parse(new TextDecoder().decode(r2.stdout));
    assert.equal(r2.code, 0, new TextDecoder().decode(r2.stderr));
    assert.equal(report.resume, "appended");
    assert.equal(report.bytes.resumedFrom, partSize);
    assert.equal(
      report.sha256,
      want,
      "--digest: the printed sha-256 covers the .part's prefix too",
    );
    assert.equal(await sizeOf(join(out, "big.bin")), SIZE);
    assert.equal(await sizeOf(part), -1, "the .part is gone");
    const check = createHash("sha256");
    for await (const chunk of (await Deno.open(join(out, "big.bin"))).readable) check.update(chunk);
    assert.equal(check.digest("hex"), want, "the file on disk is byte-identical");
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});
