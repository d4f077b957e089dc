/**
 * Client, issue 6: a disk that fills up mid-download → exit 6 with a clear message, and no file
 * at the final name. Simulated with a real 1 MiB tmpfs (root only: CI runs as root; elsewhere
 * the test is skipped with the reason, and under CI=true a failed mount fails it).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer } from "./raw.ts";

const CLIENT_TS = new URL("../../client.ts", import.meta.url).pathname;

async function mountTmpfs(dir: string, size: string): Promise<boolean> {
  const r = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
    stdout: "null",
    stderr: "piped",
  }).output().catch(() => null);
  if (r?.code === 0) return true;
  const why = r === null ? "no mount command" : new TextDecoder().decode(r.stderr).trim();
  if (Deno.env.get("CI") === "true") throw new Error(`cannot mount a tmpfs under CI: ${why}`);
  console.log(`  (skipped: cannot mount a tmpfs here: ${why}; run as root to include it)`);
  return false;
}

Deno.test("client.ts on a full disk: exit 6, a clear message, nothing at the final name", async () => {
  const src = await Deno.makeTempDir({ prefix: "ferry-disk-src-" });
  const mnt = await Deno.makeTempDir({ prefix: "ferry-disk-mnt-" });
  await Deno.writeFile(join(src, "big.bin"), new Uint8Array(4 * 1024 * 1024).fill(7));
  const mounted = await mountTmpfs(mnt, "1m");
  const server = mounted ? await startServer(src, ["--log", "none"]) : undefined;
  try {
    if (!mounted || server === undefined) return;
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        CLIENT_TS,
        "--no-progress",
        "127.0.0.1",
        String(server.port),
        "big.bin",
        mnt,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 6, err);
    assert.match(err, /no space|disk full|No space/i);
    assert.equal(err.trim().split("\n").length, 1, `one line on stderr: ${err}`);
    await assert.rejects(() => Deno.stat(join(mnt, "big.bin")), Deno.errors.NotFound);
  } finally {
    await server?.stop();
    if (mounted) await new Deno.Command("umount", { args: [mnt] }).output();
    await Deno.remove(mnt, { recursive: true });
    await Deno.remove(src, { recursive: true });
  }
});
