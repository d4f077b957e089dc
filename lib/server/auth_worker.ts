/**
 * The thread that checks scrypt hashes for lib/server/auth.ts: scrypt costs ~50 ms of CPU and
 * 16 MiB by design, which must neither stall the event loop nor occupy the runtime's blocking
 * pool, where file reads run.
 *
 * @module
 */

import { scryptSync, timingSafeEqual } from "node:crypto";

/** A check asked of the worker. */
export interface ScryptRequest {
  id: number;
  password: string;
  salt: string;
  n: number;
  r: number;
  p: number;
  /** The stored hash, base64. */
  hash: string;
}

const scope = globalThis as unknown as {
  postMessage(m: { id: number; ok: boolean }): void;
  onmessage: ((e: MessageEvent<ScryptRequest>) => void) | null;
};

scope.onmessage = (e: MessageEvent<ScryptRequest>) => {
  const q = e.data;
  let ok = false;
  try {
    const want = Uint8Array.from(atob(q.hash), (c) => c.charCodeAt(0));
    const got = scryptSync(
      q.password,
      Uint8Array.from(atob(q.salt), (c) => c.charCodeAt(0)),
      want.length,
      {
        N: q.n,
        r: q.r,
        p: q.p,
        maxmem: 256 * q.n * q.r,
      },
    );
    ok = timingSafeEqual(got, want);
  } catch {
    ok = false;
  }
  scope.postMessage({ id: q.id, ok });
};
