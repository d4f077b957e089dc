/**
 * Runs one download for the CLI: wires the output (text, JSON, quiet, progress bar), turns any
 * failure into one line on stderr and an exit code, and never lets a stack trace reach a user.
 *
 * @example
 * ```ts ignore
 * import { parseClientArgs } from "./args.ts";
 * import { runClient } from "./run.ts";
 * const parsed = parseClientArgs(["http://127.0.0.1:8080/a.bin", "out"]);
 * if (parsed.kind === "run") Deno.exit(await runClient(parsed.options));
 * ```
 * @module
 */

import type { ClientOptions } from "./args.ts";
import { runDownload, type Ui } from "./download.ts";
import { ClientError, EXIT, permissionError, reasonOf } from "./errors.ts";
import { formatUrl } from "./names.ts";
import { runMany } from "./many.ts";
import {
  jsonText,
  newReport,
  type Report,
  roundMs,
  terminalText,
  textSummary,
  textSummaryCompact,
} from "./report.ts";
import { runSegmented } from "./segments.ts";
import { checkStartPermissions } from "./permissions.ts";
import { Stop } from "./stop.ts";

/** Where the CLI writes; replaceable for tests. */
export interface Io {
  /** Standard output, one block per call. */
  out(text: string): void;
  /** Standard error, one line per call. */
  err(text: string): void;
  /** Raw writes to stderr for the progress bar, or null when stderr is not a terminal. */
  tty: ((s: string) => void) | null;
}

const enc = new TextEncoder();

/** The process's own streams. */
export function processIo(): Io {
  return {
    out: (t) => console.log(t),
    err: (t) => console.error(t),
    tty: Deno.stderr.isTerminal() ? (s) => void Deno.stderr.writeSync(enc.encode(s)) : null,
  };
}

/** Any failure as a ClientError (unknown ones are reported plainly, without a stack). */
export function toClientError(e: unknown): ClientError {
  if (e instanceof ClientError) return e;
  return permissionError(e, "a resource") ??
    new ClientError(EXIT.protocol, `unexpected error: ${reasonOf(e)}`);
}

/** Rounds the report's floating-point fields for JSON. */
export function jsonReport(r: Report): Report {
  const t = r.timingsMs;
  const p = r.rtt.probes;
  const tls = r.connection?.tls;
  return {
    ...r,
    connection: r.connection === null || !tls
      ? r.connection
      : { ...r.connection, tls: { ...tls, handshakeMs: roundMs(tls.handshakeMs) } },
    timingsMs: {
      nameLookup: roundMs(t.nameLookup),
      tcpConnect: roundMs(t.tcpConnect),
      tlsHandshake: roundMs(t.tlsHandshake ?? 0),
      firstByte: roundMs(t.firstByte),
      transfer: roundMs(t.transfer),
      total: roundMs(t.total),
    },
    rtt: {
      handshakeMs: roundMs(r.rtt.handshakeMs),
      probes: p === null ? null : {
        ...p,
        warmupMs: roundMs(p.warmupMs),
        samplesMs: p.samplesMs.map(roundMs),
        minMs: roundMs(p.minMs),
        avgMs: roundMs(p.avgMs),
        maxMs: roundMs(p.maxMs),
        mdevMs: roundMs(p.mdevMs),
      },
    },
    throughputBytesPerSec: Math.round(r.throughputBytesPerSec),
  };
}

/**
 * Downloads per `options` and returns the exit code; prints per `io`. Everything printed goes
 * through {@linkcode terminalText} (server text never reaches the terminal raw). With `-o -`
 * the body owns stdout and every other line, JSON included, goes to stderr. `signals`: Ctrl-C
 * (SIGINT) stops the download — or every download of a multi-URL, -r or --segments run —,
 * keeps the .part and gives exit 130; a second Ctrl-C exits at once. `--max-time` bounds the
 * whole run the same way (exit 8).
 */
export async function runClient(
  options: ClientOptions,
  io: Io = processIo(),
  signals = true,
): Promise<number> {
  const t0 = performance.now();
  const report = newReport(formatUrl(options.target));
  const text = !options.json && !options.quiet;
  const out = options.stdout ? io.err : io.out;
  const ui: Ui = {
    info: text ? (t) => out(terminalText(t)) : () => {},
    progress: options.progress && !options.quiet ? io.tty : null,
    verbose: options.verbose,
  };
  // Asked without prompting: a missing permission is one line, never Deno's "Allow?" prompt.
  try {
    checkStartPermissions(options);
  } catch (e) {
    const err = toClientError(e);
    report.ok = false;
    report.exitCode = err.code;
    report.error = err.message;
    io.err(`ferry: ${terminalText(err.message)}`);
    if (options.json) out(jsonText(jsonReport(report)));
    return err.code;
  }
  if (options.insecure) {
    io.err(
      "ferry: warning: -k/--insecure: the server's certificate is not verified; anyone on the " +
        "path can read and change this download",
    );
  }
  const stop = new Stop(options.maxTimeMs);
  let interrupts = 0;
  const onInterrupt = () => {
    if (++interrupts > 1) Deno.exit(EXIT.interrupted);
    stop.fire("interrupt");
  };
  const listen = signals && Deno.build.os !== "windows";
  if (listen) Deno.addSignalListener("SIGINT", onInterrupt);
  if (options.recursive || options.jobs.length > 1) {
    try {
      return await runMany(options, io, stop);
    } finally {
      stop.dispose();
      if (listen) Deno.removeSignalListener("SIGINT", onInterrupt);
    }
  }
  if (options.segments > 1 && options.stdout) {
    ui.info(`* --segments ${options.segments}: one connection instead: -o - writes in order`);
  }
  try {
    await (options.segments > 1 && !options.stdout ? runSegmented : runDownload)(
      options,
      report,
      ui,
      stop,
    );
    report.exitCode = EXIT.ok;
  } catch (e) {
    const err = toClientError(e);
    report.ok = false;
    report.exitCode = err.code;
    report.error = err.message;
    io.err(`ferry: ${terminalText(err.message)}`);
  } finally {
    stop.dispose();
    if (listen) Deno.removeSignalListener("SIGINT", onInterrupt);
  }
  if (report.timingsMs.total === 0) report.timingsMs.total = performance.now() - t0;
  if (options.json) out(jsonText(jsonReport(report)));
  else if (text && report.ok) {
    out(terminalText(options.verbose ? textSummary(report) : textSummaryCompact(report)));
  }
  return report.exitCode;
}
