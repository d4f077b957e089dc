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

  /**
   * A Stop for one of several downloads running at once (several URLs): it fires when this one
   * does, for the same reason, and shares its deadline, but has a closer of its own — one
   * {@linkcode setCloser} per Stop, so concurrent downloads must not share one.
   */
  child(): Stop {
    const c = new Stop(null);
    c.#deadline = this.#deadline;
    if (this.reason !== null) {
      c.fire(this.reason);
      return c;
    }
    const forward = () => c.fire(this.reason ?? "interrupt");
    this.signal.addEventListener("abort", forward, { once: true });
    c.#unlink = () => this.signal.removeEventListener("abort", forward);
    return c;
  }

  #unlink: (() => void) | null = null;

  /** Cancels the deadline timer (and a child's link to its parent). */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#unlink?.();
    this.#unlink = null;
  }
}
