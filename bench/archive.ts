/**
 * Folder archives: Ferry's `?download=tar` and `?download=zip` (fetched by curl to /dev/null)
 * beside the local floors, `tar -c DIR | cat > /dev/null` and `zip -0 -r - DIR > /dev/null`,
 * over two folders: 1,000 files of 4 KiB (per-file cost) and 4 files of 256 MiB (throughput).
 * GB/s of archive bytes, every subject once per round, interleaved.
 *
 * `deno run -A bench/archive.ts [--quick]` (also `deno task bench --only archive`)
 *
 * @module
 */

import { progress } from "./rounds.ts";
import type { Table } from "./stats.ts";
import { renderText } from "./stats.ts";

const MIB = 1024 * 1024;
/** The two folders: name → [files, bytes each]. */
const FOLDERS = { "small": [1000, 4096], "large": [4, 256 * MIB] } as const;
type Folder = keyof typeof FOLDERS;

/** Writes the folder unless it is already there, complete (random bytes: nothing compresses). */
async function ensureFolder(dataDir: string, name: Folder): Promise<string> {
  const [count, size] = FOLDERS[name];
  const dir = `${dataDir}/archive-${name}`;
  await Deno.mkdir(dir, { recursive: true });
  const chunk = new Uint8Array(Math.min(size, 4 * MIB));
  for (let i = 0; i < chunk.length; i += 65536) {
    crypto.getRandomValues(chunk.subarray(i, Math.min(chunk.length, i + 65536)));
  }
  for (let i = 0; i < count; i++) {
    const path = `${dir}/f${String(i).padStart(4, "0")}.bin`;
    if ((await Deno.stat(path).catch(() => undefined))?.size === size) continue;
    const f = await Deno.open(path, { write: true, create: true, truncate: true });
    try {
      chunk[0] = i & 0xff; // no two files alike
      for (let done = 0; done < size;) {
        const n = Math.min(chunk.length, size - done);
        let w = 0;
        while (w < n) w += await f.write(chunk.subarray(w, n));
        done += n;
      }
    } finally {
      f.close();
    }
  }
  return dir;
}

/** Runs `bash -c script`, returns the seconds it took and its stdout (throws on failure). */
async function timed(script: string, args: string[]): Promise<[number, string]> {
  const t0 = performance.now();
  const r = await new Deno.Command("bash", {
    args: ["-c", script, "bash", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const s = (performance.now() - t0) / 1000;
  if (!r.success) throw new Error(`${script}: ${new TextDecoder().decode(r.stderr).trim()}`);
  return [s, new TextDecoder().decode(r.stdout).trim()];
}

/** Starts `server.ts` on port 0 over `root`; resolves to its base URL and a stop function. */
async function startFerry(
  repo: string,
  root: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${repo}/server.ts`, "--log", "none", "0", root],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  let m: RegExpExecArray | null = null;
  while ((m = /(http:\/\/\S+\/)/.exec(text)) === null && Date.now() < deadline) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe empty */ }
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await drain.catch(() => {});
  };
  if (m === null) {
    await stop();
    throw new Error("server.ts did not start");
  }
  return { url: m[1], stop };
}

/** The archive tables, one per folder. */
export async function archiveTables(
  o: { repo: string; dataDir: string; rounds: number; quick: boolean },
): Promise<Table[]> {
  const tables: Table[] = [];
  const folders: Folder[] = o.quick ? ["small"] : ["small", "large"];
  const dirs = new Map<Folder, string>();
  for (const f of folders) dirs.set(f, await ensureFolder(o.dataDir, f));
  await timed('cat "$1"/*/* > /dev/null', [o.dataDir]); // warm the page cache
  const ferry = await startFerry(o.repo, o.dataDir);
  try {
    for (const f of folders) {
      const dir = dirs.get(f)!;
      const name = dir.split("/").pop()!;
      const subjects: Array<[string, () => Promise<number>]> = [];
      for (const format of ["tar", "zip"]) {
        subjects.push([`ferry ?download=${format}`, async () => {
          const [s, out] = await timed(
            'curl -sS --fail -o /dev/null -w "%{size_download}" "$1"',
            [`${ferry.url}${name}/?download=${format}`],
          );
          return Number(out) / s / 1e9;
        }]);
      }
      subjects.push(["tar -c DIR | cat", async () => {
        const [s, out] = await timed('tar -cf - -C "$1" "$2" | wc -c', [o.dataDir, name]);
        return Number(out) / s / 1e9;
      }]);
      subjects.push(["zip -0 -r - DIR", async () => {
        const [s, out] = await timed('cd "$1" && zip -q -0 -r - "$2" | wc -c', [o.dataDir, name]);
        return Number(out) / s / 1e9;
      }]);
      const rows = subjects.map(([n]) => ({
        name: n,
        samples: [] as number[],
        notes: [] as string[],
      }));
      for (let r = 0; r < o.rounds; r++) {
        progress(`archive ${f}: round ${r + 1}/${o.rounds}`);
        for (const [i, [, run]] of subjects.entries()) rows[i].samples.push(await run());
      }
      const [count, size] = FOLDERS[f];
      tables.push({
        id: `archive-${f}`,
        title: `Folder as archive: ${count.toLocaleString("en-US")} × ${
          size >= MIB ? `${size / MIB} MiB` : `${size / 1024} KiB`
        } (archive bytes, page cache warm)`,
        unit: "GB/s",
        better: "higher",
        digits: 2,
        reference: "ferry ?download=tar",
        rows,
        notes: [
          "ferry: through HTTP on loopback (curl -o /dev/null), both walks included; the floors " +
          "write to a pipe, no network.",
        ],
      });
    }
  } finally {
    await ferry.stop();
  }
  return tables;
}

if (import.meta.main) {
  const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const quick = Deno.args.includes("--quick");
  const tables = await archiveTables({
    repo,
    dataDir: `${repo}/.bench-data`,
    rounds: quick ? 1 : 3,
    quick,
  });
  for (const t of tables) console.log(renderText(t) + "\n");
}
