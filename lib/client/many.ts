/**
 * Several URLs and `-r` folders in one run: up to `--parallel` at once under one progress
 * display (progress_board.ts), one line per file saved, a closing summary (files, bytes, time,
 * skipped, failed), and the exit code — 0 only if every file landed, else the most severe code
 * among the failures (mirror.ts {@linkcode SEVERITY}).
 *
 * Each file gets `--retry` (download.ts's attempts, or mirror.ts's per file); `stop`
 * (`--max-time`, Ctrl-C) ends every transfer at once — their .part files kept — and no new one
 * starts; the run then exits 8 or 130. Every line printed goes through report.ts terminalText
 * (server-chosen names and messages with C0/C1 and bidi controls escaped).
 *
 * `--json` prints one object: `{ ok, exitCode, error, files: [report, ...], mirrors: [...],
 * summary: { files, bytes, ms, skipped, failed } }`, each report shaped as for one file.
 *
 * @example
 * ```ts ignore
 * import { runMany } from "./many.ts";
 * Deno.exit(await runMany(options, processIo()));
 * ```
 * @module
 */

import type { ClientOptions } from "./args.ts";
import { runDownload } from "./download.ts";
import { runSegmented } from "./segments.ts";
import { mirror, type MirrorResult, worse } from "./mirror.ts";
import { formatUrl } from "./names.ts";
import { ProgressBoard } from "./progress_board.ts";
import { formatBytes } from "./progress.ts";
import { describeConn } from "../net/conn_info.ts";
import { EXIT } from "./errors.ts";
import {
  fmtMs,
  jsonText,
  newReport,
  type Report,
  terminalText,
  textConnectionCompact,
} from "./report.ts";
import { type Io, jsonReport, toClientError } from "./run.ts";
import { Stop } from "./stop.ts";

/** The closing summary line. */
export function summaryText(
  s: { files: number; bytes: number; ms: number; skipped: number; failed: number },
): string {
  return `* ${s.files} file${s.files === 1 ? "" : "s"} saved (${formatBytes(s.bytes)}) in ` +
    `${fmtMs(s.ms)}, ${s.skipped} skipped (already there), ${s.failed} failed`;
}

/** Runs every job of `opts` (files and/or -r folders); returns the exit code. */
export async function runMany(
  opts: ClientOptions,
  io: Io,
  stop: Stop = new Stop(null),
): Promise<number> {
  const t0 = performance.now();
  const text = !opts.json && !opts.quiet;
  const board = new ProgressBoard({ write: opts.progress && !opts.quiet ? io.tty : null });
  const out = (t: string) => text && board.println(terminalText(t), io.out);
  const warn = (t: string) => board.println(terminalText(t), io.err);
  // Without -v a job's own lines are left out, but for its retries: a pause is explained.
  const retryLines = (t: string) => void (t.includes("\n* retry ") && out(t));
  const reports: Report[] = [];
  const mirrors: MirrorResult[] = [];
  let exitCode = 0;

  const one = async (i: number) => {
    const job = opts.jobs[i];
    if (opts.recursive) {
      const m = await mirror(job, opts, {
        board,
        stop,
        // -v: every detail; otherwise only the retries (as for a URL's download below).
        say: opts.verbose ? out : retryLines,
        warn,
        connected: (c, host) => {
          const params = describeConn(c.addrs as Deno.Conn, {
            hostName: host,
            resolvedAddress: c.address,
            timeoutsMs: { connect: opts.timeoutMs, read: opts.timeoutMs },
            tls: c.tls,
          });
          out(textConnectionCompact(params, c.connectMs, c.warmed, c.tls?.handshakeMs));
        },
      });
      mirrors.push(m);
      exitCode = worse(exitCode, m.exitCode);
      out(
        `* ${m.url} → ${m.into}: ${m.files} saved (${m.verified} verified by sha-256), ` +
          `${m.skipped} skipped, ${m.failed} failed, ${m.listings} listings, ` +
          `${m.connections} connections${
            m.tooDeep > 0 ? `, ${m.tooDeep} folders below --max-depth` : ""
          }`,
      );
      if (m.indexPages.length > 0) {
        // Such a folder holds what its page links to, which may be less than the server has.
        out(
          `* ${m.indexPages.length} folder${m.indexPages.length === 1 ? "" : "s"} had an ` +
            `index page instead of a listing (saved as index.html, its links followed): ` +
            m.indexPages.slice(0, 5).join(", ") + (m.indexPages.length > 5 ? ", …" : ""),
        );
      }
      return;
    }
    const report = newReport(formatUrl(job.target));
    reports.push(report);
    board.expected = opts.jobs.length;
    // Its own Stop (linked to the run's): each download closes its own connection when stopped.
    const jobStop = stop.child();
    try {
      await (opts.segments > 1 ? runSegmented : runDownload)(
        { ...opts, ...job, jobs: [job] },
        report,
        {
          // Its retries are worth a line (-v shows them all), nothing else of it is.
          info: opts.verbose ? out : retryLines,
          progress: null,
          track: board.trackAs(job.name),
          verbose: false,
        },
        jobStop,
      );
      report.exitCode = 0;
      out(
        `* saved ${report.file}: ${formatBytes(report.bytes.size)}${
          report.verification.verified ? ", sha-256 verified" : ""
        }`,
      );
    } catch (e) {
      const err = toClientError(e);
      report.ok = false;
      report.exitCode = err.code;
      report.error = err.message;
      exitCode = worse(exitCode, err.code);
      warn(`ferry: ${err.message}`);
    } finally {
      jobStop.dispose();
    }
    board.done++;
  };

  // Nothing a job throws may end the run with a stack trace: it becomes a failure like any.
  const guarded = async (i: number) => {
    try {
      await one(i);
    } catch (e) {
      const err = toClientError(e);
      exitCode = worse(exitCode, err.code);
      warn(`ferry: ${err.message}`);
    }
  };
  let next = 0;
  const lanes = opts.recursive ? 1 : Math.min(opts.parallel, opts.jobs.length);
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < opts.jobs.length && stop.reason === null) await guarded(next++);
    }),
  );
  board.finish();
  if (stop.reason !== null) {
    // Every transfer was ended, its .part kept; the summary below says what landed before.
    const code = stop.reason === "interrupt" ? EXIT.interrupted : EXIT.timeout;
    const why = stop.reason === "interrupt"
      ? "interrupted"
      : `--max-time ${opts.maxTimeMs! / 1000} s reached`;
    exitCode = code;
    warn(`ferry: ${why}: no further file started; each unfinished file's .part is kept`);
  }
  const summary = {
    files: reports.filter((r) => r.ok).length + mirrors.reduce((n, m) => n + m.files, 0),
    bytes: reports.reduce((n, r) => n + (r.ok ? r.bytes.size : 0), 0) +
      mirrors.reduce((n, m) => n + m.bytes, 0),
    ms: performance.now() - t0,
    skipped: mirrors.reduce((n, m) => n + m.skipped, 0),
    failed: reports.filter((r) => !r.ok).length + mirrors.reduce((n, m) => n + m.failed, 0),
  };
  if (opts.json) {
    io.out(jsonText({
      ok: exitCode === 0,
      exitCode,
      error: exitCode === 0
        ? null
        : stop.reason === "interrupt"
        ? "interrupted"
        : stop.reason === "max-time"
        ? "--max-time reached"
        : `${summary.failed} failed`,
      files: reports.map(jsonReport),
      mirrors: mirrors.map((m) => ({ ...m, ms: Math.round(m.ms) })),
      summary: { ...summary, ms: Math.round(summary.ms) },
    }));
  } else if (text) {
    io.out(summaryText(summary));
  }
  return exitCode;
}
