/**
 * Helpers for the memory tests that hold many connections to a real `server.ts`: the server's
 * resident memory and thread count from /proc (Linux), and closing every held socket.
 *
 * @module
 */

import type { Socket } from "node:net";

function statusField(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(
    Deno.readTextFileSync(`/proc/${pid}/status`),
  );
  return m === null ? NaN : Number(m[1]);
}

/** The process's resident memory (VmRSS), KiB. */
export function rssKiB(pid: number): number {
  return statusField(pid, "VmRSS");
}

/** The process's thread count. */
export function threads(pid: number): number {
  return statusField(pid, "Threads");
}

/** Destroys every socket and waits until each has closed. */
export async function closeAll(sockets: Socket[]): Promise<void> {
  await Promise.all(sockets.map((s) =>
    new Promise<void>((r) => {
      if (s.destroyed) return r();
      s.once("close", () => r());
      s.destroy();
    })
  ));
}

/**
 * Server options for holding many stalled readers from one address: no log, no per-address
 * cap, and neither the write timeout nor the minimum rate dropping them while they are
 * measured.
 */
export const STALLED_SERVER_ARGS: readonly string[] = [
  "--log",
  "none",
  "--max-connections-per-ip",
  "0",
  "--write-timeout",
  "120",
  "--min-rate",
  "0",
];
