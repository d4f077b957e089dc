/**
 * A whole download: check the target, connect, (probe the RTT,) send the GET, follow redirects
 * up to the limit, then hand the final response to {@linkcode saveResponse}. One connection per
 * request: we send `Connection: close`, so a redirect — to the same server or another — gets a
 * new socket, and so does the GET after probes that the server answered with `close`.
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
import { ReverseDns } from "../net/reverse_dns.ts";
import type { ClientOptions } from "./args.ts";
import { type Connected, openConnection } from "./connect.ts";
import { ClientError, EXIT } from "./errors.ts";
import { buildRequest, type HeadResult, type Request, sendAndReadHead } from "./exchange.ts";
import { formatUrl, type Location, resolveLocation } from "./names.ts";
import { runProbes } from "./probe.ts";
import { authorizationField, maskFields, mayReceive } from "./credentials.ts";
import { readCaFile, type TlsTrust } from "./tls_connect.ts";
import { type Report, rttText, textConnection, textRequest, textResponse } from "./report.ts";
import {
  checkFinalFree,
  type PartMeta,
  prepareDir,
  readPart,
  removeMeta,
  savePaths,
} from "./save.ts";
import { type ResumeFrom, saveResponse } from "./transfer.ts";

/** Where the output goes. */
export interface Ui {
  /** A block of text for people (a no-op under --json and -q). */
  info(text: string): void;
  /** Draws the progress bar (stderr on a terminal), or null for none. */
  progress: ((s: string) => void) | null;
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
}

/** Downloads per `opts`, filling `report`. Throws {@linkcode ClientError} on failure. */
export async function runDownload(opts: ClientOptions, report: Report, ui: Ui): Promise<void> {
  const t0 = performance.now();
  const paths = savePaths(opts.dir, opts.name);
  await prepareDir(opts.dir);
  await checkFinalFree(paths, opts.force);
  const resume = opts.resume ? await resumePoint(paths, report.url, ui) : null;
  // RFC 9110 §14.2 Range; §13.1.5 If-Range, with a strong validator only.
  const extra: Array<[string, string]> = [];
  if (resume !== null) {
    extra.push(["Range", `bytes=${resume.offset}-`]);
    const validator = resume.meta?.etag ?? resume.meta?.lastModified ?? null;
    if (validator !== null) extra.push(["If-Range", validator]);
  }
  const trust: TlsTrust = {
    caCerts: opts.cacert ? await readCaFile(opts.cacert) : undefined,
    cacertFile: opts.cacert ?? null,
    insecure: opts.insecure ?? false,
  };
  const hop = await requestFollowingRedirects(opts, report, ui, extra, trust);
  try {
    await saveResponse(hop, { opts, paths, resume, report, ui, t0 });
  } finally {
    hop.connected.source.close();
  }
}

/** The .part to resume, or null to start over (none, empty, or from another URL). */
async function resumePoint(
  paths: ReturnType<typeof savePaths>,
  url: string,
  ui: Ui,
): Promise<ResumeFrom | null> {
  const part = await readPart(paths);
  if (part === null || part.size === 0) return null;
  const meta: PartMeta | null = part.meta;
  if (meta !== null && meta.url !== url) {
    ui.info(`* ${paths.part} came from ${meta.url}, not ${url}: starting over`);
    await removeMeta(paths);
    return null;
  }
  ui.info(
    `* resuming ${paths.part} at byte ${part.size}` +
      (meta?.etag ?? meta?.lastModified ? "" : " (no validator remembered: If-Range not sent)"),
  );
  return { offset: part.size, meta };
}

const reverseDns = new ReverseDns();

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

async function requestFollowingRedirects(
  opts: ClientOptions,
  report: Report,
  ui: Ui,
  extra: Array<[string, string]>,
  trust: TlsTrust,
): Promise<FinalHop> {
  let to = opts.target;
  const seen = new Set([formatUrl(to)]);
  const connect = (at: Location) => openConnection(at, { timeoutMs: opts.timeoutMs, tls: trust });
  for (let hops = 0;;) {
    let c = await connect(to);
    report.connections++;
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
          reader = new ConnReader(c.source, { readTimeoutMs: opts.timeoutMs });
        }
      }
      const reverse = reverseDns.lookup(c.address);
      // Credentials go only to the origin they were given for (lib/client/credentials.ts).
      const creds = opts.credentials && mayReceive(opts.target, to)
        ? [authorizationField(opts.credentials)]
        : [];
      const request = buildRequest({
        method: "GET",
        to,
        keepAlive: false,
        extra: [...creds, ...extra],
      });
      const result = await sendAndReadHead(c, reader, request);
      record(report, ui, { c, to, request, result, reverse: await reverse, opts });
      const { head, statusLine } = result;
      if (!isRedirect(head.status)) return { connected: c, reader, request, result, to };

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
