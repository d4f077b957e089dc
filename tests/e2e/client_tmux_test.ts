/**
 * The progress bar on a real terminal: `client.ts` in a tmux pane of 50 and 120 columns
 * downloading 100 MiB from nginx (`limit_rate`, so the bar is drawn for a few seconds). While it
 * runs the captured screen holds exactly one progress line; when it is done, none is left and
 * the whole output fits on a screen (today's 98 stray lines at 50 columns came from a bar wider
 * than the terminal, wrapping at each redraw).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CLIENT, tempDir } from "../client/cli.ts";
import { havePeer } from "../client/peers.ts";
import { startNginxIndex } from "./listing_peers.ts";

async function tmux(sock: string, ...args: string[]): Promise<string> {
  const r = await new Deno.Command("tmux", { args: ["-S", sock, ...args], stdin: "null" })
    .output();
  return new TextDecoder().decode(r.stdout);
}

const PROGRESS = /\d+%|ETA|\d+(\.\d+)? [KMG]iB\/s/;

async function runIn(
  columns: number,
  url: string,
  out: string,
  sockDir: string,
  options: { flags?: string; ready?: RegExp; resizeTo?: number } = {},
) {
  const sock = join(sockDir, `t${columns}`);
  const cmd = `'${Deno.execPath()}' run -A '${CLIENT}' ${
    options.flags ?? ""
  } '${url}' '${out}'; echo EXIT=$?; sleep 60`;
  const ready = options.ready ?? /\d+%/;
  await tmux(sock, "new-session", "-d", "-x", String(columns), "-y", "40", cmd);
  try {
    let during = "";
    let after = "";
    let resized = "";
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < 600 && Date.now() < deadline; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const screen = await tmux(sock, "capture-pane", "-p");
      if (screen.includes("EXIT=")) {
        after = screen;
        break;
      }
      if (during === "" && PROGRESS.test(screen) && ready.test(screen)) {
        during = screen;
        if (options.resizeTo !== undefined) {
          await tmux(sock, "resize-window", "-x", String(options.resizeTo));
        }
      } else if (during !== "" && resized === "" && options.resizeTo !== undefined) {
        // Two redraws (100 ms apart) after the resize: the new width is in effect.
        await new Promise((r) => setTimeout(r, 300));
        const s2 = await tmux(sock, "capture-pane", "-p");
        if (!s2.includes("EXIT=") && /\d+%/.test(s2)) resized = s2;
      }
    }
    return { during, after, resized };
  } finally {
    await tmux(sock, "kill-server");
  }
}

for (const columns of [50, 120]) {
  Deno.test(`progress at ${columns} columns in tmux: one line while running, none left after`, async () => {
    if (!havePeer("nginx") || !havePeer("tmux")) return;
    await using srv = await tempDir();
    await using out = await tempDir();
    await using prefix = await tempDir();
    {
      using f = await Deno.open(join(srv.path, "big.bin"), { write: true, create: true });
      await f.truncate(100 * 1024 * 1024);
    }
    await using nginx = await startNginxIndex(srv.path, prefix.path, { limitRate: "40m" });
    const resizeTo = columns > 60 ? 60 : undefined;
    const { during, after, resized } = await runIn(
      columns,
      `${nginx.origin}/big.bin`,
      out.path,
      prefix.path,
      { resizeTo },
    );
    assert.match(after, /EXIT=0/, after);
    const progressLines = (s: string) => s.split("\n").filter((l) => PROGRESS.test(l));
    assert.equal(progressLines(during).length, 1, during);
    for (const l of during.split("\n")) assert.ok(l.length <= columns, l);
    if (resizeTo !== undefined) {
      // Narrowed mid-download: the width is re-read, the bar still one line within it.
      assert.equal(progressLines(resized).length, 1, resized);
      for (const l of resized.split("\n")) assert.ok(l.length <= resizeTo, l);
    }
    // Only the summary's own throughput figure may mention a rate afterwards.
    const left = progressLines(after).filter((l) => !/first byte/.test(l));
    assert.deepEqual(left, [], after);
    const used = after.trimEnd().split("\n").length;
    assert.ok(used <= 16, `${used} lines on screen:\n${after}`);
  });
}

Deno.test("-r in tmux at 60 columns: an aggregate line plus one line per active transfer, none left after", async () => {
  if (!havePeer("nginx") || !havePeer("tmux")) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  await using prefix = await tempDir();
  await Deno.mkdir(join(srv.path, "tree"));
  for (const name of ["one.bin", "two.bin"]) {
    using f = await Deno.open(join(srv.path, "tree", name), { write: true, create: true });
    await f.truncate(40 * 1024 * 1024);
  }
  await using nginx = await startNginxIndex(srv.path, prefix.path, { limitRate: "20m" });
  const { during, after } = await runIn(60, `${nginx.origin}/tree/`, out.path, prefix.path, {
    flags: "-r",
    ready:
      /2 active[\s\S]*one\.bin[\s\S]*\d+%[\s\S]*two\.bin|2 active[\s\S]*two\.bin[\s\S]*one\.bin/,
  });
  assert.match(after, /EXIT=0/, after);
  const lines = during.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.filter((l) => /files done, \d+ active/.test(l)).length, 1, during);
  assert.equal(lines.filter((l) => /^(one|two)\.bin /.test(l)).length, 2, during);
  for (const l of during.split("\n")) assert.ok(l.length <= 60, l);
  assert.doesNotMatch(after, /active|ETA/, after);
  assert.match(after, /2 files saved/);
});

Deno.test("Ctrl-C at 50 columns with --segments 4: the terminal's ^C echo leaves no line of the display", async () => {
  if (!havePeer("nginx") || !havePeer("tmux")) return;
  await using srv = await tempDir();
  await using out = await tempDir();
  await using prefix = await tempDir();
  {
    using f = await Deno.open(join(srv.path, "big.bin"), { write: true, create: true });
    await f.truncate(100 * 1024 * 1024);
  }
  await using nginx = await startNginxIndex(srv.path, prefix.path, { limitRate: "10m" });
  const sock = join(prefix.path, "tc");
  const cmd =
    `'${Deno.execPath()}' run -A '${CLIENT}' --segments 4 '${nginx.origin}/big.bin' '${out.path}'; echo EXIT=$?; sleep 60`;
  await tmux(sock, "new-session", "-d", "-x", "50", "-y", "40", cmd);
  try {
    let during = "";
    let after = "";
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < 600 && Date.now() < deadline; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const screen = await tmux(sock, "capture-pane", "-p");
      if (screen.includes("EXIT=")) {
        after = screen;
        break;
      }
      // All four segment lines drawn (each cut to the width): interrupt.
      if (during === "" && (screen.match(/^#\d .*\d+%/gm) ?? []).length === 4) {
        during = screen;
        await tmux(sock, "send-keys", "C-c");
      }
    }
    assert.notEqual(during, "", "the display was never drawn");
    assert.match(after, /EXIT=130/, after);
    assert.match(after, /interrupted/, after);
    // Before: the aggregate line stayed, the ^C having wrapped the last segment line.
    assert.doesNotMatch(after, /segments done|\d+ active|ETA/, after);
  } finally {
    await tmux(sock, "kill-server");
  }
});
