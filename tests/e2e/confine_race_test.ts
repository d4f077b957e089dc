/**
 * Confinement under races: while a separate process swaps entries of the served directory at
 * full speed (tests/e2e/swapper.ts) — a file ↔ a symlink to an outside secret, a directory ↔ a
 * symlink to an outside directory, a file ↔ a symlink to a dotfile, a directory ↔ a symlink to
 * a dot-directory, a file ↔ a FIFO — clients
 * GET, list and hit the small-file cache. Not one byte of a secret, no outside entry and no
 * outside size may come back, and every request is answered (no hang).
 *
 * The figures (requests, leaks) are printed, so the same file run against an older server.ts
 * shows how often the check-then-open race was won there.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer } from "./raw.ts";

/** How long the swapper runs: a few seconds of full-speed swapping. */
const SWAP_MS = 2_500;
/** A request not answered within this counts as a hang (and fails the test): generous, for a
 * loaded machine; the servers this catches never answered at all. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long the swapper may take to start (a Deno process; CI machines are slow). */
const SWAPPER_START_MS = 30_000;
/** Client loops running at once. */
const CLIENTS = 6;
/** Requests per client at most (bounds the loop whatever the speed). */
const MAX_REQUESTS_PER_CLIENT = 20_000;

const SWAPPER = new URL("./swapper.ts", import.meta.url).pathname;
const MARK = "SECRET-c0nf1ne";
const SECRET_SIZE = 4099;
const BIG_SECRET_SIZE = 200_003;
const OUTSIDE_NAME = "outside-only-entry";

function padded(mark: string, size: number): string {
  return (mark + "\n").padEnd(size, "s");
}

interface Tally {
  requests: number;
  leaks: string[];
  hangs: string[];
  statuses: Map<number, number>;
}

async function fixture() {
  const base = await Deno.makeTempDir({ prefix: "ferry_race_" });
  const root = join(base, "root");
  const out = join(base, "outside");
  await Deno.mkdir(root);
  await Deno.mkdir(join(out, "odir"), { recursive: true });
  await Deno.writeTextFile(join(out, "secret"), padded(MARK, SECRET_SIZE));
  await Deno.writeTextFile(join(out, "bigsecret"), padded(MARK, BIG_SECRET_SIZE));
  await Deno.writeTextFile(join(out, "odir", "x"), padded(MARK, SECRET_SIZE));
  await Deno.writeTextFile(join(out, "odir", OUTSIDE_NAME), padded(MARK, SECRET_SIZE));
  // Inside: the masters the swapper links in, a directory and its outside twin, a dotfile.
  await Deno.writeTextFile(join(root, "pub"), "public\n");
  await Deno.writeTextFile(join(root, "bigpub"), "p".repeat(200_000));
  await Deno.mkdir(join(root, "d_dir"));
  await Deno.writeTextFile(join(root, "d_dir", "x"), "public x\n");
  await Deno.symlink(join(out, "odir"), join(root, "d_lnk"));
  await Deno.writeTextFile(join(root, ".env"), padded(MARK, SECRET_SIZE));
  // A dot-directory inside, and its public twin.
  await Deno.mkdir(join(root, ".git"));
  await Deno.writeTextFile(join(root, ".git", "x"), padded(MARK, SECRET_SIZE));
  await Deno.writeTextFile(join(root, ".git", OUTSIDE_NAME), "n");
  await Deno.mkdir(join(root, "e_dir"));
  await Deno.writeTextFile(join(root, "e_dir", "x"), "public x\n");
  await Deno.symlink(".git", join(root, "e_lnk"));
  await Deno.writeTextFile(join(root, "f"), "public\n");
  await Deno.writeTextFile(join(root, "b"), "p".repeat(200_000));
  await Deno.writeTextFile(join(root, "g"), "public\n");
  const swaps = [
    ["file", join(root, "f"), join(root, "pub"), "../outside/secret"],
    ["file", join(root, "b"), join(root, "bigpub"), join(out, "bigsecret")],
    ["file", join(root, "g"), join(root, "pub"), ".env"],
    ["dir", join(root, "d"), join(root, "d_dir"), join(root, "d_lnk")],
    ["dir", join(root, "e"), join(root, "e_dir"), join(root, "e_lnk")],
  ].flat();
  return { base, root, swaps };
}

/** What a response must never contain, whatever the swapper did. */
function leakIn(path: string, status: number, body: string): string | null {
  if (body.includes(MARK)) return `${path}: ${status} carried the secret's bytes`;
  if (body.includes(OUTSIDE_NAME)) return `${path}: ${status} listed an outside entry`;
  if (status === 200 && path.includes("json")) {
    const listing = JSON.parse(body) as { entries: Array<{ name: string; size: number }> };
    for (const e of listing.entries) {
      if (e.size === SECRET_SIZE || e.size === BIG_SECRET_SIZE) {
        return `${path}: listed ${JSON.stringify(e.name)} with an outside size ${e.size}`;
      }
      if (e.name.startsWith("x") && e.size !== "public x\n".length) {
        return `${path}: listed x with size ${e.size}`;
      }
    }
  }
  return null;
}

async function client(base: string, paths: string[], until: number, t: Tally): Promise<void> {
  for (let i = 0; i < MAX_REQUESTS_PER_CLIENT && Date.now() < until; i++) {
    const path = paths[i % paths.length].replace("#", String(i));
    const json = path.includes("json");
    t.requests++;
    try {
      const res = await fetch(base + path.replace(/^\//, ""), {
        headers: json ? { accept: "application/json" } : {},
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = await res.text();
      t.statuses.set(res.status, (t.statuses.get(res.status) ?? 0) + 1);
      const leak = leakIn(path, res.status, body);
      if (leak !== null) t.leaks.push(leak);
    } catch (e) {
      t.hangs.push(`${path}: ${e instanceof Error ? e.name : e}`);
    }
  }
}

/**
 * Starts the swapper for `ms` and resolves once it swaps, with the time until which clients
 * may race it, and its output (when it ends).
 */
async function runSwapper(
  ms: number,
  swaps: string[],
): Promise<{ until: number; done: Promise<Deno.CommandOutput> }> {
  const marker = await Deno.makeTempFile({ prefix: "ferry_swapper_" });
  await Deno.remove(marker);
  const done = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", SWAPPER, String(ms), marker, ...swaps],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const deadline = Date.now() + SWAPPER_START_MS;
  for (;;) {
    try {
      await Deno.stat(marker);
      break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) {
      await done;
      throw new Error("the swapper did not start");
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await Deno.remove(marker).catch(() => {});
  return { until: Date.now() + ms - 200, done };
}

Deno.test("confinement holds while entries are swapped with outside symlinks at full speed", async () => {
  const { base, root, swaps } = await fixture();
  const server = await startServer(root, ["--log", "none"]);
  try {
    const t: Tally = { requests: 0, leaks: [], hangs: [], statuses: new Map() };
    // Race the swapper for as long as it runs.
    const { until, done: swapper } = await runSwapper(SWAP_MS, swaps);
    const paths = [
      "/f?#", // each a cache miss: the open itself
      "/f", // the small-file cache: one win would be stored for everyone
      "/b?#", // streamed (over 64 KiB)
      "/d/x?#",
      "/d/x",
      "/d/?json#",
      "/d/?#",
      "/?json#",
      "/g?#",
      "/g",
      "/e/x?#",
      "/e/?json#",
    ];
    await Promise.all(Array.from({ length: CLIENTS }, () => client(server.url, paths, until, t)));
    const out = await swapper;
    const rounds = new TextDecoder().decode(out.stdout).trim();
    // After the race: the cache must hold nothing that leaked.
    for (const p of ["/f", "/g", "/d/x", "/e/x"]) {
      const body = await (await fetch(server.url + p.slice(1))).text();
      const leak = leakIn(p, 200, body);
      if (leak !== null) t.leaks.push("after the race: " + leak);
    }
    console.log(
      `  confine race: ${t.requests} requests, ${t.leaks.length} leaks ` +
        `(${(100 * t.leaks.length / Math.max(1, t.requests)).toFixed(2)} %), ` +
        `${t.hangs.length} hangs, swapper rounds ${rounds}, statuses ` +
        JSON.stringify(Object.fromEntries(t.statuses)),
    );
    assert.ok(out.success, "the swapper ran");
    assert.ok(Number(rounds) > 10, `the swapper swapped (${rounds} rounds)`);
    assert.ok(t.requests > 100, `clients ran (${t.requests} requests)`);
    assert.deepEqual(t.leaks.slice(0, 5), [], `${t.leaks.length} leaks`);
    assert.deepEqual(t.hangs.slice(0, 5), [], `${t.hangs.length} hangs`);
  } finally {
    await server.stop();
    await Deno.remove(base, { recursive: true });
  }
});

async function mkfifo(path: string): Promise<boolean> {
  try {
    return (await new Deno.Command("mkfifo", { args: [path], stderr: "null" }).output()).success;
  } catch {
    return false;
  }
}

/** -A: the verified open through /proc/self/fd; the narrower set: the fallback by name. */
const PERMISSION_SETS = [["-A"], ["--allow-net", "--allow-read", "--allow-sys"]];

for (const permissions of PERMISSION_SETS) {
  Deno.test(`a FIFO swapped in is answered at once, and other requests keep working (${permissions.join(" ")})`, async (t) => {
    const base = await Deno.makeTempDir({ prefix: "ferry_race_fifo_" });
    try {
      const root = join(base, "root");
      await Deno.mkdir(root);
      if (!await mkfifo(join(root, "q_fifo"))) {
        if (Deno.env.get("CI") === "true") throw new Error("mkfifo is required under CI");
        console.log("  (skipped: mkfifo is not available)");
        return;
      }
      await Deno.writeTextFile(join(root, "q_reg"), "public\n");
      await Deno.writeTextFile(join(root, "other"), "other\n");
      const server = await startServer(root, ["--log", "none"], { permissions });
      try {
        await t.step("while q is swapped between a file and a FIFO", async () => {
          const tally: Tally = { requests: 0, leaks: [], hangs: [], statuses: new Map() };
          const { until, done: swapper } = await runSwapper(SWAP_MS, [
            "dir",
            join(root, "q"),
            join(root, "q_reg"),
            join(root, "q_fifo"),
          ]);
          // Old servers opened a FIFO blocking: 64 such requests held every blocking thread.
          await Promise.all([
            ...Array.from({ length: 64 }, () => client(server.url, ["/q?#"], until, tally)),
            client(server.url, ["/other?#"], until, tally),
          ]);
          const out = await swapper;
          console.log(
            `  fifo race: ${tally.requests} requests, ${tally.hangs.length} hangs, statuses ` +
              JSON.stringify(Object.fromEntries(tally.statuses)),
          );
          assert.ok(out.success);
          assert.deepEqual(tally.hangs.slice(0, 5), [], `${tally.hangs.length} hangs`);
          for (const s of tally.statuses.keys()) assert.ok([200, 403, 404].includes(s), `${s}`);
        });
        await t.step("a FIFO in place: 64 GETs answered 403, then a file is served", async () => {
          await Deno.rename(join(root, "q_fifo"), join(root, "q"));
          const answers = await Promise.all(
            Array.from({ length: 64 }, async (_, i) => {
              const r = await fetch(`${server.url}q?${i}`, {
                signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
              });
              await r.body?.cancel();
              return r.status;
            }),
          );
          assert.deepEqual(new Set(answers), new Set([403]));
          const r = await fetch(`${server.url}other?after`, {
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          assert.equal(await r.text(), "other\n");
        });
      } finally {
        await server.stop();
      }
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  });
}
