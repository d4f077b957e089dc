/**
 * The deno floor (`bench/floor.ts`) started for real on a free loopback port: the 4 KiB answer
 * of the small-file tables and the in-memory large bodies of the download tables, checked with
 * curl as the bench uses it. Nothing is timed.
 */

import assert from "node:assert/strict";
import { freePort } from "../../bench/servers.ts";

const FLOOR = new URL("../../bench/floor.ts", import.meta.url).pathname;

async function curl(url: string, ...extra: string[]): Promise<[number, number]> {
  const out = await new Deno.Command("curl", {
    args: [
      "-s",
      "-o",
      "/dev/null",
      "--max-time",
      "20",
      "-w",
      "%{http_code} %{size_download}",
      ...extra,
      url,
    ],
  }).output();
  const [code, size] = new TextDecoder().decode(out.stdout).split(" ").map(Number);
  return [code, size];
}

Deno.test("floor.ts answers /4k with 4 KiB and /Nm with N MiB from memory, keep-alive or close", async () => {
  const port = freePort();
  const child = new Deno.Command("deno", {
    args: ["run", "-A", FLOOR, String(port), "65536"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const url = (p: string) => `http://127.0.0.1:${port}${p}`;
    let up = false;
    for (let i = 0; i < 100 && !up; i++) { // bounded: 100 × 100 ms
      up = (await curl(url("/4k")))[0] === 200;
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(up, "the floor answers within 10 s");
    assert.deepEqual(await curl(url("/4k")), [200, 4096]);
    assert.deepEqual(await curl(url("/3m")), [200, 3 * 2 ** 20]);
    // The last write is a partial chunk: 65536 does not divide 101 KiB.
    assert.deepEqual(await curl(url("/101k"), "-H", "Connection: close"), [200, 101 * 1024]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
