/**
 * A separate process that swaps directory entries at full speed, as an attacker who can rename
 * inside the served directory would, until DURATION_MS has passed (or a bounded number of
 * rounds). Prints the number of rounds. Each swap is one atomic rename, round robin over:
 *
 * - `file TARGET MASTER LINK`: TARGET is replaced, never absent, by a hard link of the regular
 *   file MASTER, then by a symlink whose text is LINK, and so on.
 * - `dir TARGET A B`: TARGET becomes the entry A (a directory), then B (a symlink), and so on;
 *   a directory cannot be renamed over, so TARGET is briefly absent between the two.
 *
 * Usage: `deno run --allow-read --allow-write swapper.ts DURATION_MS MARKER [file|dir ...]...`
 * (MARKER: a file created when swapping starts, for the test to wait on).
 *
 * @module
 */

/** Rounds at most, whatever the duration (every loop bounded). */
const MAX_ROUNDS = 50_000_000;

function fileSwap(target: string, master: string, link: string): void {
  const tmp = `${target}~swap`;
  try {
    Deno.linkSync(master, tmp);
    Deno.renameSync(tmp, target);
  } catch { /* the next round goes on */ }
  try {
    Deno.symlinkSync(link, tmp);
    Deno.renameSync(tmp, target);
  } catch { /* the next round goes on */ }
}

function dirSwap(target: string, a: string, b: string): void {
  for (const parked of [a, b]) {
    try {
      Deno.renameSync(parked, target);
      Deno.renameSync(target, parked);
    } catch { /* the next round goes on */ }
  }
}

if (import.meta.main) {
  const [durationText, marker, ...rest] = Deno.args;
  const swaps: Array<() => void> = [];
  for (let i = 0; i + 3 < rest.length; i += 4) {
    const [kind, target, x, y] = rest.slice(i, i + 4);
    swaps.push(kind === "file" ? () => fileSwap(target, x, y) : () => dirSwap(target, x, y));
  }
  Deno.writeTextFileSync(marker, "started");
  const until = Date.now() + Number(durationText);
  let rounds = 0;
  while (rounds < MAX_ROUNDS && (rounds & 63 || Date.now() < until)) {
    for (const swap of swaps) swap();
    rounds++;
  }
  console.log(rounds);
}
