/**
 * `-o -`: the body goes to stdout (binary-safe, every byte exactly once, in order) instead of a
 * .part. There is nothing on disk to resume from, so what a retry needs lives here: the bytes
 * already written and the validator of the first response; a retry asks for the rest with
 * Range + If-Range, and without a validator it is not attempted once bytes are out.
 *
 * @example
 * ```ts ignore
 * import { StdoutSink } from "./stdout_sink.ts";
 * const out = new StdoutSink();
 * out.startHashing(false);
 * out.write(new TextEncoder().encode("hello\n"));
 * ```
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { ClientError, EXIT, reasonOf } from "./errors.ts";
import type { PartMeta } from "./save.ts";

/** The body's destination for `-o -`, kept across attempts. */
export class StdoutSink {
  #hash: Hash | null = null;
  #write: (p: Uint8Array) => number;
  /** Bytes written so far, over all attempts. */
  size = 0;
  /** What the first response said about the representation (for If-Range), or null. */
  meta: PartMeta | null = null;

  /** `write`: a synchronous writer (stdout unless a test says otherwise). */
  constructor(write: (p: Uint8Array) => number = (p) => Deno.stdout.writeSync(p)) {
    this.#write = write;
  }

  /** Hashes what follows (call before the first byte; later calls keep the running hash). */
  startHashing(on: boolean): void {
    if (on && this.#hash === null && this.size === 0) this.#hash = createHash("sha256");
  }

  /** Writes all of `data` (a loop: a write may be short). Hot path: no allocation.
   * @throws {ClientError} local (6): stdout is closed (a pipe reader went away) or full. */
  write(data: Uint8Array): void {
    try {
      for (let off = 0; off < data.length;) {
        off += this.#write(off === 0 ? data : data.subarray(off));
      }
    } catch (e) {
      throw new ClientError(EXIT.local, `cannot write to stdout: ${reasonOf(e)}`);
    }
    this.#hash?.update(data);
    this.size += data.length;
  }

  /** The sha-256 of every byte written, or null when not hashing (call once, at the end). */
  digest(): Uint8Array | null {
    return this.#hash === null ? null : new Uint8Array(this.#hash.digest());
  }

  /** Nothing to close: stdout stays open for the process. */
  close(): void {}
}
