/**
 * Helpers for tests that run `client.ts` as a subprocess, so exit codes and output are real.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

/** Absolute path of client.ts. */
export const CLIENT = fileURLToPath(new URL("../../client.ts", import.meta.url));

/** What a client run produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A client.ts ...args` (or with `permissions` instead of -A). */
export async function runCli(
  args: string[],
  options: { permissions?: string[]; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.permissions ?? ["-A"]), CLIENT, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

/** Lists the names in `dir` (sorted), [] when it does not exist. */
export function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Whether `path` exists (without following a final symlink). */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Hex sha-256 of bytes. */
export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Base64 sha-256, as in `Repr-Digest: sha-256=:<this>:`. */
export function sha256b64(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("base64");
}

/** Deterministic pseudo-random bytes (xorshift), different per seed. */
export function pattern(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A fresh temp directory, removed by the returned disposer. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "ferry-client-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}
