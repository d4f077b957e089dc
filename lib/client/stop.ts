/**
 * Stopping a download from outside its flow: the `--max-time` deadline and Ctrl-C (SIGINT).
 * Either one aborts {@linkcode Stop.signal} (a pending connect or backoff sleep ends) and closes
 * the connection in use (a pending read fails at once); the download then unwinds through its
 * normal `finally` blocks, so the .part is closed with every byte written so far, and
 * {@linkcode Stop.reason} tells the caller which exit code to give (8 or 130).
 *
 * @example
 * ```ts
 * import { Stop } from "./stop.ts";
 * const stop = new Stop(50);
 * await stop.sleep(10_000); // returns after ~50 ms: the deadline fired
 * console.log(stop.reason); // "max-time"
 * stop.dispose();
 * ```
 * @module
 */

/** Why a download was stopped. */
export type StopReason = "max-time" | "interrupt";

/** The deadline and the interrupt of one run. */
export class Stop {
  #ctl = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closer: (() => void) | null = null;
  #deadline: number | null;
  /** Set once stopped. */
  reason: StopReason | null = null;

  /** `maxTimeMs`: the overall deadline from now, or null for none. */
  constructor(maxTimeMs: number | null) {
    this.#deadline = maxTimeMs === null ? null : performance.now() + maxTimeMs;
    if (maxTimeMs !== null) this.#timer = setTimeout(() => this.fire("max-time"), maxTimeMs);
  }

  /** Aborted when stopped. */
  get signal(): AbortSignal {
    return this.#ctl.signal;
  }

  /** Stops now (the first reason wins). */
  fire(reason: StopReason): void {
    if (this.reason !== null) return;
    this.reason = reason;
    clearTimeout(this.#timer);
    this.#ctl.abort(new DOMException(reason, "AbortError"));
    this.#closer?.();
  }

  /** Names what to close when stopped (the connection in use); null when none. Closing a
   * socket makes its pending read fail at once. */
  setCloser(close: (() => void) | null): void {
    this.#closer = close;
    if (close !== null && this.reason !== null) close();
  }

  /** What is left of the deadline in ms, or null without one. */
  remainingMs(): number | null {
    return this.#deadline === null ? null : Math.max(0, this.#deadline - performance.now());
  }

  /** Waits `ms`, or less when stopped meanwhile. */
  sleep(ms: number): Promise<void> {
    if (this.reason !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.signal.removeEventListener("abort", done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.signal.addEventListener("abort", done);
    });
  }

  /** Cancels the deadline timer. */
  dispose(): void {
    clearTimeout(this.#timer);
  }
}
