/**
 * client.ts on a terminal never waits at Deno's permission prompt: a missing permission —
 * network to the URL's origin, read/write in DIR, network to the origin a redirect leads to —
 * is one line naming the flag, with exit 3 (network) or 6 (files), as without a terminal.
 * script(1) gives the client a pseudo-terminal, where Deno would prompt; `timeout` bounds a
 * prompt that would wait forever.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CLIENT, listDir, tempDir } from "../client/cli.ts";
import { ok, reply, startFake } from "./fake_server.ts";
import { peerPath } from "./peers.ts";

/** Runs `deno run PERMS client.ts ARGS` under script(1); null when script(1) is missing. */
async function onTerminal(
  perms: string[],
  args: string[],
): Promise<{ code: number; out: string } | null> {
  const script = peerPath("script");
  if (script === null) {
    if (Deno.env.get("CI") === "true") throw new Error("script(1) (bsdutils) is missing");
    console.log("  (skipped: script(1) not found, no pseudo-terminal to test with)");
    return null;
  }
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const cmd = ["timeout", "20", Deno.execPath(), "run", ...perms, CLIENT, ...args].map(quote)
    .join(" ");
  const r = await new Deno.Command(script, {
    args: ["-qec", cmd, "/dev/null"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: (dec.decode(r.stdout) + dec.decode(r.stderr)).replaceAll("\r", "") };
}

const PROMPT = /Allow\?|Deno requests|Granted|┏|\[y\/n/;

Deno.test("client.ts on a terminal never waits at a permission prompt: one line, the flag, exit 3 or 6", async (t) => {
  await using srv = startFake(reply(ok("perm")));
  await using dir = await tempDir();
  const out = join(dir.path, "d");
  const url = `http://127.0.0.1:${srv.port}/f`;
  const rw = [`--allow-read=${dir.path}`, `--allow-write=${dir.path}`];

  await t.step("no permissions: network to the origin, exit 3", async () => {
    const r = await onTerminal([], [url, out]);
    if (r === null) return;
    assert.equal(r.code, 3, r.out);
    assert.equal(
      r.out,
      `ferry: permission denied: network access to 127.0.0.1:${srv.port} was not granted; ` +
        "run deno with --allow-net=127.0.0.1 (or -A)\n",
    );
  });
  await t.step("network only: read access to DIR, exit 6", async () => {
    const r = await onTerminal(["--allow-net=127.0.0.1"], [url, out]);
    if (r === null) return;
    assert.equal(r.code, 6, r.out);
    assert.match(
      r.out,
      /^ferry: permission denied: read access to .* run deno with --allow-read=DIR/,
    );
    assert.doesNotMatch(r.out, PROMPT);
    assert.equal(r.out.trim().split("\n").length, 1);
  });
  await t.step("--allow-net=localhost:PORT (the name, one port): downloads by name", async () => {
    const r = await onTerminal(
      [`--allow-net=localhost:${srv.port}`, ...rw],
      ["-q", `http://localhost:${srv.port}/f`, out],
    );
    if (r === null) return;
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, PROMPT);
    assert.equal(Deno.readTextFileSync(join(out, "f")), "perm");
  });
  // Nothing was requested from the server by the refused runs.
  assert.equal(srv.requests.length, 1);
});

Deno.test("client.ts on a terminal: a redirect to an origin not allowed is one line, exit 3, no prompt", async () => {
  await using other = startFake(reply(ok("elsewhere")));
  await using srv = startFake(
    reply(
      `HTTP/1.1 302 Found\r\nLocation: http://localhost:${other.port}/g\r\n` +
        "Content-Length: 0\r\nConnection: close\r\n\r\n",
    ),
  );
  await using dir = await tempDir();
  const r = await onTerminal(
    ["--allow-net=127.0.0.1", `--allow-read=${dir.path}`, `--allow-write=${dir.path}`],
    ["-q", `http://127.0.0.1:${srv.port}/f`, dir.path],
  );
  if (r === null) return;
  assert.equal(r.code, 3, r.out);
  assert.equal(
    r.out,
    `ferry: permission denied: network access to localhost:${other.port} was not granted; ` +
      "run deno with --allow-net=localhost (or -A)\n",
  );
  assert.equal(other.requests.length, 0);
  assert.deepEqual(listDir(dir.path), []);
});
