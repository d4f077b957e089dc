/**
 * A whole download: check the target, connect, (probe the RTT,) send the GET, follow redirects
 * up to the limit, then hand the final response to {@linkcode saveResponse}. One connection per
 * request: we send `Connection: close`, so a redirect — to the same server or another — gets a
 * new socket, and so does the GET after probes that the server answered with `close`.
 *
 * Around that, the attempts: a transient failure (lib/client/retry.ts decides) is retried after
 * a backoff, each retry resuming from the .part (lib/client/resume.ts); `--max-time` and Ctrl-C
 * end it through {@linkcode Stop} with the .part kept. Resume fields go to the first origin
 * only: after a redirect elsewhere no Range is sent and nothing is appended.
 *
 * @example
 * ```ts ignore
 * import { runDownload } from "./download.ts";
 * import { newReport } from "./report.ts";
 * const report = newReport("http://127.0.0.1:8080/a.bin");
 * await runDownload(options, report, { info: console.log, progress: null });
 * ```
 * @module
 */

import { describeConn } from "../net/conn_info.ts";
import { ConnReader } from "../net/head_reader.ts";
import type { ClientOptions } from "./args.ts";
import { type Connected, openConnection } from "./connect.ts";
import { ClientError, EXIT } from "./errors.ts";
import { buildRequest, type HeadResult, type Request, sendAndReadHead } from "./exchange.ts";
import { validatorOf } from "./meta.ts";
import { formatUrl, type Location, resolveLocation, sameOrigin } from "./names.ts";
import { runProbes } from "./probe.ts";
import { authorizationField, maskFields, mayReceive } from "./credentials.ts";
import { type TlsTrust, tlsTrust } from "./tls_connect.ts";
import {
  type Report,
  rttText,
  safeText,
  textConnection,
  textConnectionCompact,
  textRequest,
  textResponse,
} from "./report.ts";
import { clientReverseDns } from "./permissions.ts";
import { finalError, nextDelayMs } from "./retry.ts";
import { checkFinalFree, prepareDir, readPart, type SavePaths, savePaths } from "./save.ts";
import { StdoutSink } from "./stdout_sink.ts";
import { Stop } from "./stop.ts";
import { RestartFromZero, type ResumeFrom, resumePoint } from "./resume.ts";
import { saveResponse } from "./transfer.ts";

/** Where the output goes. */
export interface Ui {
  /** A block of text for people (a no-op under --json and -q). */
  info(text: string): void;
  /** Draws the progress bar (stderr on a terminal), or null for none. */
  progress: ((s: string) => void) | null;
  /** -v: request/response heads and every detail; otherwise the compact form. */
  verbose?: boolean;
  /** Progress of one body in a shared display (several transfers at once); replaces the
   * single-line bar when set. */
  track?: (total: number | null, start: number) => Tracker;
}

/** One transfer's line in a shared progress display. */
export interface Tracker {
  /** Bytes now in the file. */
  update(bytes: number): void;
  /** The transfer ended (its line goes away). */
  finish(): void;
}

/** The final (non-redirect) response, its connection still open at the body. */
export interface FinalHop {
  /** The connection. */
  connected: Connected;
  /** Its reader, positioned at the body. */
  reader: ConnReader;
  /** The request that got this response. */
  request: Request;
  /** The response head and its timing. */
  result: HeadResult;
  /** Where the request went. */
  to: Location;
  /** Whether the resume fields (Range, If-Range) went with the request: not after a redirect to
   * another origin, whose bytes are never appended to this one's. */
  rangeSent: boolean;
}

/** Restarts from zero in one run (a validator or overlap that did not match): one is the normal
 * case; a second means the file keeps changing under us. */
const MAX_RESTARTS = 2;

/**
 * Downloads per `opts`, filling `report`, retrying transient failures per `--retry` (each retry
 * resumes), until done or `stop` fires. Throws {@linkcode ClientError} on failure.
 */
export async function runDownload(
  opts: ClientOptions,
  report: Report,
  ui: Ui,
  stop: Stop = new Stop(null),
): Promise<void> {
  const t0 = performance.now();
  const paths = savePaths(opts.dir, opts.name);
  const sink = opts.stdout ? new StdoutSink() : null;
  if (sink === null) {
    await prepareDir(opts.dir);
    await checkFinalFree(paths, opts.force);
  }
  let fresh = opts.noContinue;
  let restarts = 0;
  for (;;) {
    try {
      await attempt(opts, report, ui, {
        paths,
        t0,
        stop,
        fresh,
        retrying: report.retries > 0,
        sink,
      });
      return;
    } catch (e) {
      if (stop.reason !== null) throw stopped(stop, opts, paths, sink);
      if (e instanceof RestartFromZero && sink === null && ++restarts <= MAX_RESTARTS) {
        ui.info(`* ${e.message}: starting over`);
        report.resume = "restarted";
        fresh = true;
        continue;
      }
      if (e instanceof RestartFromZero) throw new ClientError(EXIT.protocol, e.message);
      if (!(e instanceof ClientError)) throw e;
      // Bytes already on stdout can only be continued with a validator to hold them together.
      if (sink !== null && sink.size > 0 && validatorOf(sink.meta) === null) throw e;
      const delay = nextDelayMs(e, report.retries + 1, {
        retries: opts.retries,
        baseMs: opts.retryBaseMs,
        remainingMs: stop.remainingMs(),
        random: Math.random,
        retryRefused: opts.retryConnRefused,
      });
      if (delay === null) throw finalError(e, report.retries + 1, opts);
      report.retries++;
      ui.info(
        `* ${e.message}\n* retry ${report.retries} of ${opts.retries} in ` +
          `${(delay / 1000).toFixed(delay < 10_000 ? 2 : 0)} s` +
          (e.retryAfterMs !== null ? " (the server's Retry-After)" : ""),
      );
      fresh = false;
      await stop.sleep(delay);
      if (stop.reason !== null) throw stopped(stop, opts, paths, sink);
    }
  }
}

/** The error for a run that --max-time or Ctrl-C ended: what is kept and how to go on. */
function stopped(stop: Stop, opts: ClientOptions, paths: SavePaths, sink: StdoutSink | null) {
  let kept: string;
  if (sink !== null) {
    kept = `${sink.size} bytes written to stdout`;
  } else {
    let part = null;
    try {
      part = readPart(paths);
    } catch { /* not ours to keep */ }
    kept = part === null || part.size === 0
      ? "nothing kept"
      : `${part.size} bytes kept in ${paths.part}; ` +
        (validatorOf(part.meta) !== null || opts.resume
          ? "the same command resumes"
          : "run again with -c to resume (no validator: the last 64 KiB are compared first)");
  }
  return stop.reason === "interrupt"
    ? new ClientError(EXIT.interrupted, `interrupted: ${kept}`)
    : new ClientError(
      EXIT.timeout,
      `--max-time ${opts.maxTimeMs! / 1000} s reached: ${kept}` +
        (sink === null ? "" : "; raise --max-time"),
    );
}

interface Attempt {
  paths: SavePaths;
  t0: number;
  stop: Stop;
  /** Start over: drop any .part and meta first. */
  fresh: boolean;
  /** A retry in this run: a .part without a validator is resumed after an overlap check. */
  retrying: boolean;
  /** `-o -`: the body's destination across attempts. */
  sink: StdoutSink | null;
}

async function attempt(opts: ClientOptions, report: Report, ui: Ui, a: Attempt): Promise<void> {
  let resume: ResumeFrom | null;
  if (a.sink !== null) {
    const validator = validatorOf(a.sink.meta);
    resume = a.sink.size > 0 && validator !== null
      ? { offset: a.sink.size, partSize: a.sink.size, meta: a.sink.meta, validator, overlap: null }
      : null;
  } else if (a.fresh) {
    for (const p of [a.paths.part, a.paths.meta]) {
      // unlink never follows a link: whatever is there goes, nothing elsewhere is touched.
      await Deno.remove(p).catch(() => {});
    }
    resume = null;
  } else {
    resume = resumePoint(a.paths, report.url, ui, opts.resume || a.retrying);
  }
  // RFC 9110 §14.2 Range; §13.1.5 If-Range, with a strong validator only.
  const extra: Array<[string, string]> = [];
  if (resume !== null) {
    extra.push(["Range", `bytes=${resume.offset}-`]);
    if (resume.validator !== null) extra.push(["If-Range", resume.validator]);
  }
  const trust = await tlsTrust(opts);
  const hop = await requestFollowingRedirects(opts, report, ui, extra, { trust, stop: a.stop });
  try {
    await saveResponse(hop, {
      opts,
      paths: a.paths,
      resume: hop.rangeSent ? resume : null,
      report,
      ui,
      t0: a.t0,
      sink: a.sink,
    });
  } finally {
    a.stop.setCloser(null);
    hop.connected.source.close();
  }
}

const reverseDns = clientReverseDns();

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

async function requestFollowingRedirects(
  opts: ClientOptions,
  report: Report,
  ui: Ui,
  extra: Array<[string, string]>,
  how: { trust: TlsTrust; stop: Stop },
): Promise<FinalHop> {
  let to = opts.target;
  const seen = new Set([formatUrl(to)]);
  const { trust, stop } = how;
  const connect = (at: Location) =>
    openConnection(at, { timeoutMs: opts.timeoutMs, tls: trust, signal: stop.signal });
  for (let hops = 0;;) {
    let c = await connect(to);
    report.connections++;
    stop.setCloser(() => c.source.close());
    try {
      let reader = new ConnReader(c.source, { readTimeoutMs: opts.timeoutMs });
      if (hops === 0 && opts.rttProbes > 0) {
        const probes = await runProbes(c, reader, to, {
          count: opts.rttProbes,
          timeoutMs: opts.timeoutMs,
        });
        report.rtt.probes = probes.result;
        report.rtt.handshakeMs = c.connectMs;
        ui.info(`* RTT: ${rttText(report)}`);
        if (!probes.open) {
          c.source.close();
          c = await connect(to);
          report.connections++;
          stop.setCloser(() => c.source.close());
          reader = new ConnReader(c.source, { readTimeoutMs: opts.timeoutMs });
        }
      }
      const reverse = reverseDns.lookup(c.address);
      // Credentials and resume fields go only to the origin they were given for: the same
      // scheme, host and port (lib/client/credentials.ts, names.ts sameOrigin).
      const creds = opts.credentials && mayReceive(opts.target, to)
        ? [authorizationField(opts.credentials)]
        : [];
      const rangeSent = extra.length > 0 && sameOrigin(to, opts.target);
      if (extra.length > 0 && !rangeSent) {
        ui.info(`* ${formatUrl(to)} is another origin: not resuming there (no Range sent)`);
      }
      const request = buildRequest({
        method: "GET",
        to,
        keepAlive: false,
        extra: [...creds, ...(rangeSent ? extra : [])],
      });
      const result = await sendAndReadHead(c, reader, request);
      record(report, ui, { c, to, request, result, reverse: await reverse, opts });
      const { head, statusLine } = result;
      if (!isRedirect(head.status)) {
        return { connected: c, reader, request, result, to, rangeSent };
      }

      const where = formatUrl(to);
      const location = head.headers.get("location");
      if (location === undefined || head.status === 304) {
        throw new ClientError(
          EXIT.protocol,
          `${where}: the server answered ${statusLine} with no Location to follow`,
        );
      }
      let next: Location;
      try {
        next = resolveLocation(location, to);
      } catch (e) {
        throw e instanceof ClientError ? new ClientError(e.code, `${where}: ${e.message}`) : e;
      }
      const key = formatUrl(next);
      if (to.secure && !next.secure && !opts.allowDowngrade) {
        throw new ClientError(
          EXIT.protocol,
          `${where}: refusing the redirect from https to ${key}: the download would travel ` +
            `unencrypted; pass --allow-downgrade to follow it`,
        );
      }
      if (++hops > opts.maxRedirects) {
        throw new ClientError(
          EXIT.protocol,
          `too many redirects: more than ${opts.maxRedirects} (next: ${key}); ` +
            `raise --max-redirects if this is expected`,
        );
      }
      if (seen.has(key)) {
        throw new ClientError(EXIT.protocol, `redirect loop: ${where} sends us back to ${key}`);
      }
      seen.add(key);
      report.redirects.push({ status: head.status, from: where, to: key });
      report.finalUrl = key;
      ui.info(`* redirect ${hops} of at most ${opts.maxRedirects}: ${head.status} → ${key}`);
      c.source.close();
      to = next;
    } catch (e) {
      c.source.close();
      throw e;
    }
  }
}

function record(
  report: Report,
  ui: Ui,
  h: {
    c: Connected;
    to: Location;
    request: Request;
    result: HeadResult;
    reverse: string | null;
    opts: ClientOptions;
  },
): void {
  const { c, result } = h;
  report.connection = describeConn(c.addrs as Deno.Conn, {
    hostName: h.to.host,
    resolvedAddress: c.address,
    reverseName: h.reverse,
    timeoutsMs: { connect: h.opts.timeoutMs, read: h.opts.timeoutMs },
    tls: c.tls,
  });
  // Credentials never reach the output: Authorization is shown as "Basic ***".
  const shownFields = maskFields(h.request.fields);
  report.request = { line: h.request.line, headers: shownFields };
  report.response = {
    statusLine: result.statusLine,
    status: result.head.status,
    headers: result.head.fields,
    trailers: [],
  };
  report.timingsMs.nameLookup = c.lookupMs;
  report.timingsMs.tcpConnect = c.connectMs;
  report.timingsMs.tlsHandshake = c.tls?.handshakeMs ?? 0;
  report.timingsMs.firstByte = result.firstByteMs;
  report.rtt.handshakeMs = c.connectMs;
  if (!ui.verbose) {
    ui.info(textConnectionCompact(report.connection, c.connectMs, c.warmed, c.tls?.handshakeMs));
    ui.info(`< ${safeText(result.statusLine)}`);
    return;
  }
  ui.info(textConnection(report.connection, c.lookupMs, c.connectMs, c.tls?.handshakeMs));
  if (c.connectedBy === "name") {
    ui.info(
      "  (connected by name: --allow-net names the host, not its address, so the TCP connect " +
        "time includes a second lookup)",
    );
  }
  ui.info(textRequest(h.request.line, shownFields));
  ui.info(textResponse(result.statusLine, result.head.fields));
}
