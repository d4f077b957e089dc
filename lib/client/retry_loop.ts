/**
 * `--retry` for the parts of a run that are not a whole one-file download (download.ts has its
 * own loop, which also resumes): one request of a `--segments` download, one file of a mirror.
 * A transient failure (retry.ts decides) is tried again after the backoff, while the budget
 * `--retry` lasts and `stop` (--max-time, Ctrl-C) has not fired; the wait ends when it fires.
 *
 * @example
 * ```ts ignore
 * import { withRetries } from "./retry_loop.ts";
 * const head = await withRetries(() => pool.exchange("HEAD", "/a"), { opts, stop, budget, say });
 * ```
 * @module
 */

import { ClientError } from "./errors.ts";
import { finalError, nextDelayMs } from "./retry.ts";
import type { Stop } from "./stop.ts";

/** Retries used so far, shared by everything that draws on one `--retry` budget. */
export interface RetryBudget {
  used: number;
}

/** What {@linkcode withRetries} needs. */
export interface RetryEnv {
  opts: { retries: number; retryBaseMs: number; retryConnRefused?: boolean };
  stop: Stop;
  /** The budget (`--retry N` in all), shared by the callers of one file. */
  budget: RetryBudget;
  /** A line saying what failed and when the next try is. */
  say(text: string): void;
}

/** Runs `fn`, again after each transient failure while the budget lasts; throws the last
 * failure otherwise. Never sleeps past `stop`: once it fired, the failure is thrown at once. */
export async function withRetries<T>(fn: () => Promise<T>, env: RetryEnv): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (env.stop.reason !== null || !(e instanceof ClientError)) throw e;
      const delay = nextDelayMs(e, env.budget.used + 1, {
        retries: env.opts.retries,
        baseMs: env.opts.retryBaseMs,
        remainingMs: env.stop.remainingMs(),
        random: Math.random,
        retryRefused: env.opts.retryConnRefused,
      });
      if (delay === null) throw finalError(e, env.budget.used + 1, env.opts);
      env.budget.used++;
      env.say(
        `* ${e.message}\n* retry ${env.budget.used} of ${env.opts.retries} in ` +
          `${(delay / 1000).toFixed(delay < 10_000 ? 2 : 0)} s`,
      );
      await env.stop.sleep(delay);
      if (env.stop.reason !== null) throw e;
    }
  }
}
