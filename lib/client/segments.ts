/**
 * `--segments N`: one file over N connections, each fetching its own byte range (RFC 9110
 * §14.2) and writing it at its offset in the one DIR/NAME.part, as aria2c `-x N -s N` does.
 *
 * Used only when a HEAD shows it is safe: a 200 with a Content-Length of at least
 * {@linkcode MIN_SEGMENT_BYTES} per segment, `Accept-Ranges: bytes`, and a strong validator
 * (a strong ETag, or a Last-Modified at least a second older than Date — transfer.ts metaOf).
 * Otherwise the plain one-connection download runs, after a line saying why.
 *
 * Every 206 is checked before a byte of it is written: its Content-Range is exactly the range
 * asked for, of the same total size, and it carries the same validator as the HEAD. A different
 * validator means the file changed on the server: the .part is thrown away and the download
 * starts over (at most {@linkcode MAX_RESTARTS} times), so a file is never spliced from two
 * versions. The state of each segment (`start`, `end`, `next` byte) is kept in the resume meta
 * (DIR/NAME.part.meta, field `segments`, rewritten every {@linkcode META_INTERVAL_MS}), so a run
 * that stops resumes each segment where it was. At the end the whole file is hashed and checked
 * when the server sent a digest (Repr-Digest) or `--sha256` was given; without one, what is
 * checked is that every byte of every range arrived.
 *
 * Files go through safe_fs.ts like every other download: the .part is opened without following
 * a link (created `O_EXCL|O_NOFOLLOW`, or an existing one kept only when it is a regular file
 * with one link), the meta read as untrusted input (meta.ts checks `segments` too) and replaced
 * by rename. A transient failure of one range (a reset, a timeout, a 5xx) is retried from that
 * range's next byte while `--retry` lasts (one budget for the whole file); `--max-time` and
 * Ctrl-C close every connection, keep the .part and its meta, and end the run (exit 8 / 130).
 *
 * @example
 * ```ts ignore
 * import { runSegmented } from "./segments.ts";
 * await runSegmented({ ...options, segments: 4 }, report, ui);
 * ```
 * @module
 */

import { BodyReader, responseFraming } from "../http/body.ts";
import { parseContentRange } from "../http/range.ts";
import type { ResponseHead } from "../http/response.ts";
import { describeConn } from "../net/conn_info.ts";
import { clientReverseDns } from "./permissions.ts";
import type { ClientOptions } from "./args.ts";
import { runDownload, type Ui } from "./download.ts";
import { ClientError, EXIT, fileError } from "./errors.ts";
import { readError, willClose } from "./exchange.ts";
import { type Exchange, KeepAlivePool, type PooledConn } from "./keep_alive.ts";
import { authorizationField, maskFields } from "./credentials.ts";
import { tlsTrust } from "./tls_connect.ts";
import { formatUrl } from "./names.ts";
import { ProgressBoard } from "./progress_board.ts";
import {
  type Report,
  safeText,
  textConnection,
  textConnectionCompact,
  textRequest,
  textResponse,
} from "./report.ts";
import { parseRetryAfter, retryableStatus } from "./retry.ts";
import { type RetryBudget, withRetries } from "./retry_loop.ts";
import { SafeFile } from "./safe_fs.ts";
import {
  BUFFER_BYTES,
  checkFinalFree,
  hashFile,
  isSegmentedPart,
  land,
  type PartMeta,
  prepareDir,
  readPart,
  removeMeta,
  type SavePaths,
  savePaths,
  type SegmentState,
  writeMeta,
} from "./save.ts";
import { Stop } from "./stop.ts";
import { metaOf } from "./transfer.ts";

export { isSegmentedPart, type SegmentState };
import { announcedDigests, hex, verifyOrThrow } from "./verify.ts";

/** Smallest segment worth its own connection: below this, a handshake and a request cost more
 * than the parallelism saves. */
export const MIN_SEGMENT_BYTES = 256 * 1024;
/** Fresh starts after the file changed on the server mid-download. */
export const MAX_RESTARTS = 2;
/** How often the per-segment state is written to the meta while bytes arrive. */
export const META_INTERVAL_MS = 1000;
/** Buffer per segment (socket → file). Smaller than save.ts's: N of them live at once. */
const SEGMENT_BUFFER_BYTES = 256 * 1024;

/** The meta of a segmented .part: the usual fields plus `segments`. */
export interface SegmentedMeta extends PartMeta {
  segments: SegmentState[];
}

/** The file changed on the server (another validator, another size). */
class ChangedError extends Error {}

/** `n` ranges covering `size` bytes, as equal as possible. */
export function splitRanges(size: number, n: number): SegmentState[] {
  const out: SegmentState[] = [];
  const step = Math.ceil(size / n);
  for (let start = 0; start < size; start += step) {
    const end = Math.min(size, start + step) - 1;
    out.push({ start, end, next: start });
  }
  return out;
}

/** Why a HEAD answer does not allow segments, or null when it does. */
export function whyNotSegmented(head: ResponseHead): string | null {
  if (head.status !== 200) return `HEAD answered ${head.status}, not 200`;
  const len = head.headers.get("content-length");
  if (len === undefined || !/^\d+$/.test(len)) return "the server gave no size (Content-Length)";
  if (!/\bbytes\b/i.test(head.headers.get("accept-ranges") ?? "")) {
    return "the server does not announce byte ranges (Accept-Ranges: bytes)";
  }
  const m = metaOf(head, "", Number(len));
  if (m.etag === null && m.lastModified === null) {
    return "the server gave no strong validator (a strong ETag, or a Last-Modified older than Date)";
  }
  if (Number(len) < MIN_SEGMENT_BYTES * 2) {
    return `the file is too small to split (${len} bytes)`;
  }
  return null;
}

/** The meta of an earlier segmented run of the same representation, or null. The .part is
 * opened without following a link and the meta schema-checked (save.ts readPart, meta.ts); a
 * .part that is a link or not a regular file is not resumed (it is replaced, never written
 * through). */
function readSegmentedMeta(paths: SavePaths, want: PartMeta): SegmentedMeta | null {
  let part;
  try {
    part = readPart(paths);
  } catch {
    return null;
  }
  const m = part?.meta;
  if (part === null || m === null || m === undefined || part.size !== want.size) return null;
  if (m.url !== want.url || m.etag !== want.etag || m.lastModified !== want.lastModified) {
    return null;
  }
  if (m.size !== want.size || m.segments === undefined) return null;
  return { ...want, segments: m.segments.map((g) => ({ ...g })) };
}

/** Checks a 206 against the range asked for and the validator of the HEAD (RFC 9110 §14.4). */
function checkRange(ex: Exchange, seg: SegmentState, want: PartMeta, where: string): number {
  const { head, statusLine } = ex.result;
  if (head.status !== 206 && head.status !== 200) {
    // An error status need not carry the validator: it is a failure of this range (retried
    // when it says "later"), not a sign that the file changed.
    throw new ClientError(
      head.status >= 400 ? EXIT.httpStatus : EXIT.protocol,
      `${where}: range ${seg.next}-${seg.end} answered ${safeText(statusLine.slice(9), 80)}`,
      retryableStatus(head.status)
        ? {
          transient: "status",
          retryAfterMs: parseRetryAfter(head.headers.get("retry-after"), Date.now()),
        }
        : {},
    );
  }
  const etag = head.headers.get("etag") ?? null;
  const lm = head.headers.get("last-modified") ?? null;
  if (
    (want.etag !== null && etag !== want.etag) ||
    (want.etag === null && lm !== want.lastModified) ||
    (head.status === 200)
  ) {
    throw new ChangedError(
      head.status === 200
        ? "the server sent the whole file instead of the range"
        : `the validator changed (ETag ${want.etag ?? "-"} → ${safeText(etag ?? "-", 80)})`,
    );
  }
  const cr = parseContentRange(head.headers.get("content-range") ?? "");
  if (cr === null || cr.kind !== "range" || cr.size !== want.size) {
    if (cr?.kind === "range" && cr.size !== want.size) {
      throw new ChangedError(`the size changed (${want.size} → ${cr.size})`);
    }
    throw new ClientError(
      EXIT.protocol,
      `${where}: unusable 206: Content-Range ${
        JSON.stringify(head.headers.get("content-range") ?? "")
      }`,
    );
  }
  if (cr.start !== seg.next || cr.end !== seg.end) {
    throw new ClientError(
      EXIT.protocol,
      `${where}: asked for bytes ${seg.next}-${seg.end}, got ${cr.start}-${cr.end}`,
    );
  }
  return cr.end - cr.start + 1;
}

/** Downloads per `opts` over `opts.segments` connections (see the module doc). */
export async function runSegmented(
  opts: ClientOptions,
  report: Report,
  ui: Ui,
  stop: Stop = new Stop(null),
): Promise<void> {
  const t0 = performance.now();
  const paths = savePaths(opts.dir, opts.name);
  await prepareDir(opts.dir);
  await checkFinalFree(paths, opts.force);
  // Every segment goes to the one origin: its credentials go along, over the same TLS trust.
  const pool = new KeepAlivePool(opts.target, {
    timeoutMs: opts.timeoutMs,
    signal: stop.signal,
    tls: await tlsTrust(opts),
    authorization: opts.credentials ? authorizationField(opts.credentials) : null,
  });
  const budget: RetryBudget = { used: 0 };
  const retry = { opts, stop, budget, say: (t: string) => ui.info(t) };
  try {
    for (let attempt = 0;; attempt++) {
      let hx: Exchange;
      try {
        hx = await withRetries(() => pool.exchange("HEAD", opts.target.path), retry);
      } catch (e) {
        if (stop.reason !== null) throw stoppedError(stop, opts, paths);
        throw e;
      } finally {
        report.retries = budget.used;
      }
      pool.release(hx.conn, !willClose(hx.result.head));
      if (attempt === 0) await recordHead(report, ui, hx, opts);
      const why = whyNotSegmented(hx.result.head);
      if (why !== null) {
        ui.info(`* --segments ${opts.segments}: one connection instead: ${why}`);
        pool.close();
        return await runDownload(opts, report, ui, stop);
      }
      try {
        await fetchSegments(opts, report, ui, {
          pool,
          paths,
          head: hx.result.head,
          t0,
          stop,
          budget,
        });
        return;
      } catch (e) {
        if (stop.reason !== null) throw stoppedError(stop, opts, paths);
        if (!(e instanceof ChangedError)) throw e;
        await Deno.remove(paths.part).catch(() => {});
        await removeMeta(paths);
        if (attempt + 1 > MAX_RESTARTS) {
          throw new ClientError(
            EXIT.protocol,
            `${formatUrl(opts.target)}: the file kept changing during the download ` +
              `(${e.message}); tried ${MAX_RESTARTS + 1} times — try again later`,
          );
        }
        ui.info(`* ${e.message}: the file changed on the server; starting over`);
        report.resume = "restarted";
      }
    }
  } finally {
    pool.close();
  }
}

/** The error for a segmented run that --max-time or Ctrl-C ended: the .part and its meta are
 * kept, and the same command resumes every segment where it was. */
function stoppedError(stop: Stop, opts: ClientOptions, paths: SavePaths): ClientError {
  const kept = isSegmentedPart(paths)
    ? `${paths.part} kept with its segments; the same command resumes them`
    : "nothing kept";
  return stop.reason === "interrupt"
    ? new ClientError(EXIT.interrupted, `interrupted: ${kept}`)
    : new ClientError(EXIT.timeout, `--max-time ${opts.maxTimeMs! / 1000} s reached: ${kept}`);
}

async function recordHead(
  report: Report,
  ui: Ui,
  hx: Exchange,
  opts: ClientOptions,
): Promise<void> {
  const c = hx.conn.connected;
  report.connection = describeConn(c.addrs as Deno.Conn, {
    hostName: opts.target.host,
    resolvedAddress: c.address,
    reverseName: await clientReverseDns().lookup(c.address),
    timeoutsMs: { connect: opts.timeoutMs, read: opts.timeoutMs },
    tls: c.tls,
  });
  report.timingsMs.nameLookup = c.lookupMs;
  report.timingsMs.tcpConnect = c.connectMs;
  report.timingsMs.tlsHandshake = c.tls?.handshakeMs ?? 0;
  report.rtt.handshakeMs = c.connectMs;
  report.timingsMs.firstByte = hx.result.firstByteMs;
  // Credentials never reach the output: Authorization is shown as "Basic ***".
  report.request = { line: hx.request.line, headers: maskFields(hx.request.fields) };
  report.response = {
    statusLine: hx.result.statusLine,
    status: hx.result.head.status,
    headers: hx.result.head.fields,
    trailers: [],
  };
  if (ui.verbose) {
    // -v: the heads, as a one-connection download shows them (server text escaped).
    ui.info(textConnection(report.connection, c.lookupMs, c.connectMs, c.tls?.handshakeMs));
    ui.info(headsText(hx));
    return;
  }
  ui.info(textConnectionCompact(report.connection, c.connectMs, c.warmed, c.tls?.handshakeMs));
  ui.info(`< ${safeText(hx.result.statusLine)} (HEAD)`);
}

/** One exchange's request and response heads for -v (Authorization shown as "Basic ***"). */
function headsText(hx: Exchange): string {
  return textRequest(hx.request.line, maskFields(hx.request.fields)) + "\n" +
    textResponse(hx.result.statusLine, hx.result.head.fields);
}

async function fetchSegments(
  opts: ClientOptions,
  report: Report,
  ui: Ui,
  s: {
    pool: KeepAlivePool;
    paths: SavePaths;
    head: ResponseHead;
    t0: number;
    stop: Stop;
    budget: RetryBudget;
  },
): Promise<void> {
  const { pool, paths, head } = s;
  const url = formatUrl(opts.target);
  const size = Number(head.headers.get("content-length"));
  if (opts.maxSize !== null && size > opts.maxSize) {
    throw new ClientError(
      EXIT.protocol,
      `${url}: the file is ${size} bytes, over --max-size ${opts.maxSize}; stopped (raise ` +
        `--max-size to allow it)`,
    );
  }
  const want = metaOf(head, url, size);
  const old = readSegmentedMeta(paths, want);
  const meta: SegmentedMeta = old ?? { ...want, segments: splitRanges(size, opts.segments) };
  const have = meta.segments.reduce((n, g) => n + (g.next - g.start), 0);
  if (old !== null) {
    ui.info(
      `* resuming ${paths.part}: ${have} of ${size} bytes in ${meta.segments.length} segments`,
    );
    report.resume = "appended";
  }
  // One descriptor for every segment: each write is a positioned write with no await between
  // seek and write, so segments never move each other's position; and the path is opened once
  // through safe_fs.ts: a fresh part with O_CREAT|O_EXCL|O_NOFOLLOW (the old one, or whatever
  // is planted at its name, unlinked first), an existing one with O_NOFOLLOW and kept only as a
  // regular file with one link — never written through a link.
  let file: SafeFile;
  try {
    if (old !== null) {
      file = SafeFile.openExisting(paths.part, "rw");
      if (file.size() !== size) {
        file.close();
        throw new ClientError(EXIT.local, `${paths.part} changed while being opened; retry`);
      }
    } else {
      try {
        Deno.removeSync(paths.part);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      file = SafeFile.createNew(paths.part);
      file.truncate(size);
    }
  } catch (e) {
    throw fileError(e, "create", paths.part);
  }
  using _closer = file;
  writeMeta(paths, meta);
  report.partFile = paths.part;
  report.bytes.expected = size;
  report.bytes.resumedFrom = have;
  const board = new ProgressBoard({ write: ui.progress, unit: "segments" });
  board.expected = meta.segments.length;
  const digests: Array<[string, string]> = [...head.fields];
  const active = new Set<PooledConn>();
  let stopped = false;
  const saveMeta = () => {
    try {
      writeMeta(paths, meta);
    } catch { /* the next write, or the final one, reports it */ }
  };
  const timer = setInterval(saveMeta, META_INTERVAL_MS);
  const tStart = performance.now();
  let received = 0;

  const one = async (seg: SegmentState, i: number) => {
    if (seg.next > seg.end) {
      board.done++;
      return;
    }
    const where = `${url} (segment ${i + 1})`;
    const ex = await s.pool.exchange("GET", opts.target.path, [[
      "Range",
      `bytes=${seg.next}-${seg.end}`,
    ]]);
    active.add(ex.conn);
    if (ui.verbose) board.println(`* segment ${i + 1}:\n${headsText(ex)}`, ui.info);
    let reusable = false;
    const tracker = board.add(`#${i + 1}`, seg.end - seg.start + 1, seg.next - seg.start);
    try {
      if (stopped) throw new ChangedError("stopped");
      const length = checkRange(ex, seg, want, where);
      for (const f of ex.result.head.fields) {
        const known = digests.some(([k, v]) => k.toLowerCase() === "repr-digest" && v === f[1]);
        if (f[0].toLowerCase() === "repr-digest" && !known) digests.push(f);
      }
      const body = new BodyReader(
        ex.conn.reader,
        responseFraming({ method: "GET", ...ex.result.head }),
      );
      const buf = new Uint8Array(SEGMENT_BUFFER_BYTES);
      let got = 0;
      try {
        for (let n; (n = await body.read(buf)) !== null;) {
          if (stopped) throw new ChangedError("stopped");
          file.seek(seg.next);
          try {
            file.write(buf.subarray(0, n));
          } catch (e) {
            throw fileError(e, "write", paths.part);
          }
          got += n;
          seg.next += n;
          received += n;
          tracker.update(seg.next - seg.start);
        }
      } catch (e) {
        if (e instanceof ChangedError || e instanceof ClientError) throw e;
        if (e instanceof Deno.errors.BadResource && stopped) throw new ChangedError("stopped");
        throw readError(e, where, "a segment");
      }
      if (got !== length) {
        throw new ClientError(EXIT.protocol, `${where}: received ${got} of ${length} bytes`);
      }
      reusable = !willClose(ex.result.head);
      board.done++;
    } finally {
      tracker.finish();
      active.delete(ex.conn);
      pool.release(ex.conn, reusable);
    }
  };

  let first: unknown = null;
  const retry = {
    opts,
    stop: s.stop,
    budget: s.budget,
    say: (t: string) => board.println(t, ui.info),
  };
  const stopAll = () => {
    stopped = true;
    for (const c of active) c.connected.source.close();
  };
  s.stop.signal.addEventListener("abort", stopAll);
  try {
    await Promise.all(
      meta.segments.map(async (seg, i) => {
        try {
          // A transient failure retries this range from its next byte (not when the file
          // changed, nor once another range failed for good or the run was stopped).
          await withRetries(async () => {
            if (stopped) throw new ChangedError("stopped");
            await one(seg, i);
          }, retry);
        } catch (e) {
          // The first failure stops the others: their connections are closed under them, and
          // what they throw then is only a consequence.
          if (stopped) return;
          first = e;
          stopAll();
        }
      }),
    );
    if (s.stop.reason !== null) throw stoppedError(s.stop, opts, paths);
    if (first !== null) throw first;
  } finally {
    s.stop.signal.removeEventListener("abort", stopAll);
    report.retries = s.budget.used;
    clearInterval(timer);
    board.finish();
    const end = performance.now();
    report.connections = pool.opened;
    report.bytes.received = received;
    report.timingsMs.transfer = end - tStart;
    report.timingsMs.total = end - s.t0;
    report.throughputBytesPerSec = end > tStart ? (received * 1000) / (end - tStart) : 0;
    saveMeta();
  }
  for (const g of meta.segments) {
    if (g.next !== g.end + 1) {
      throw new ClientError(EXIT.protocol, `${url}: bytes ${g.next}-${g.end} never arrived`);
    }
  }
  report.bytes.size = size;
  const announced = announcedDigests(digests, 206).length > 0;
  if (announced || opts.sha256 !== null || opts.digest) {
    report.sha256 = hex(hashFile(paths.part, new Uint8Array(BUFFER_BYTES)));
  }
  verifyOrThrow(report, digests.filter(([k]) => k.toLowerCase() === "repr-digest"), 206, {
    userSha: opts.sha256,
    paths,
  });
  await land(report, paths, opts.force);
  ui.info(`* ${meta.segments.length} segments over ${pool.opened} connections`);
}
