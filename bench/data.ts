/**
 * The files served in the benchmark, generated once into `.bench-data/` (gitignored) with random
 * content, so that nothing along the way can compress or deduplicate them.
 *
 * @module
 */

import { run } from "./proc.ts";

const MIB = 2 ** 20;

/** The generated files and their sizes in bytes. */
export const FILES = { "4k": 4096, "100m": 100 * MIB, "1g": 1024 * MIB } as const;

/** A generated file's name, which is also its URL path without the slash. */
export type FileName = keyof typeof FILES;

/** `crypto.getRandomValues` fills at most this many bytes per call (Web Crypto limit). */
const RANDOM_MAX_BYTES = 65_536;
/** Written per call: big enough to be quick, small enough to keep memory flat. */
const WRITE_CHUNK_BYTES = 4 * MIB;

/**
 * Writes `dir/name` with random bytes unless it already has the right size. Writes to
 * `name.tmp` first and renames, so that an interrupted run never leaves a short file behind.
 */
export async function ensureFile(dir: string, name: FileName): Promise<void> {
  const path = `${dir}/${name}`, size = FILES[name];
  if ((await Deno.stat(path).catch(() => undefined))?.size === size) return;
  console.error(`generating ${path} (${size.toLocaleString("en-US")} random bytes)…`);
  const file = await Deno.open(`${path}.tmp`, { write: true, create: true, truncate: true });
  try {
    const chunk = new Uint8Array(Math.min(size, WRITE_CHUNK_BYTES));
    for (let done = 0; done < size;) { // bounded by size
      const n = Math.min(chunk.length, size - done);
      for (let i = 0; i < n; i += RANDOM_MAX_BYTES) {
        crypto.getRandomValues(chunk.subarray(i, Math.min(n, i + RANDOM_MAX_BYTES)));
      }
      let w = 0;
      while (w < n) w += await file.write(chunk.subarray(w, n)); // write() may be partial
      done += n;
    }
  } finally {
    file.close();
  }
  await Deno.rename(`${path}.tmp`, path);
}

/** Reads a file once so that round 1 is served from the page cache, as every later round is. */
export async function warmCache(path: string): Promise<void> {
  await run("bash", ["-c", 'cat "$0" >/dev/null', path], { timeoutMs: 60_000 });
}
