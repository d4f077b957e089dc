/**
 * The final response → a file: refuse error statuses (with a safe excerpt of the body), decide
 * what a resume answer means (206 append, 200 restart, 416 already complete), stream the body
 * into DIR/NAME.part (hashed when there is a digest to check), verify (Repr-Digest /
 * Content-Digest, RFC 9530, and `--sha256`), then rename into place.
 *
 * @example
 * ```ts ignore
 * import { saveResponse } from "./transfer.ts";
 * await saveResponse(hop, { opts, paths, resume: null, report, ui, t0: performance.now() });
 * ```
 * @module
 */

import { BodyError, BodyReader, type Framing, responseFraming } from "../http/body.ts";
import { parseContentRange } from "../http/range.ts";
import { parseHttpDate, type ResponseHead } from "../http/response.ts";
import type { ClientOptions } from "./args.ts";
import type { FinalHop, Ui } from "./download.ts";
import { ClientError, EXIT } from "./errors.ts";
import { readError } from "./exchange.ts";
import { formatUrl } from "./names.ts";
import { Progress } from "./progress.ts";
import type { Report } from "./report.ts";
import { readExcerpt } from "./excerpt.ts";
import { announcedDigests, hex, mismatch, verify } from "./verify.ts";
import {
  BUFFER_BYTES,
  finalize,
  hashFile,
  PartFile,
  type PartMeta,
  type SavePaths,
  writeMeta,
} from "./save.ts";

/** A .part to continue from. */
export interface ResumeFrom {
  /** Its size: the first byte asked for. */
  offset: number;
  /** What was remembered of the first attempt, or null. */
  meta: PartMeta | null;
}

/** What {@linkcode saveResponse} works with. */
export interface SaveContext {
  opts: ClientOptions;
  paths: SavePaths;
  resume: ResumeFrom | null;
  report: Report;
  ui: Ui;
  /** `performance.now()` at the start of the download. */
  t0: number;
}

/** Saves the body of `hop`'s response, or throws the {@linkcode ClientError} that explains why
 * not. */
export async function saveResponse(hop: FinalHop, ctx: SaveContext): Promise<void> {
  const { head, statusLine } = hop.result;
  const { report, paths, opts, resume } = ctx;
  const where = formatUrl(hop.to);
  if (head.status === 416 && resume !== null && await alreadyComplete(head, ctx)) return;
  if (head.status >= 400) {
    const excerpt = await readExcerpt(hop);
    throw new ClientError(
      EXIT.httpStatus,
      `${where}: the server answered ${statusLine.slice(9)}${excerpt ? ` ("${excerpt}")` : ""}; ${
        head.status === 416
          ? "the .part no longer fits the file: run again without -c to start over"
          : head.status === 401
          ? (hop.request.fields.some(([k]) => k === "Authorization")
            ? "the credentials were refused: check USER:PASS given with --user (or in the URL)"
            : "the server wants credentials: pass --user USER:PASS")
          : head.status < 500
          ? "check the path and the host"
          : "a problem on the server's side: try again later"
      }`,
    );
  }
  let framing: Framing;
  try {
    framing = responseFraming({ method: "GET", ...head });
  } catch (e) {
    if (!(e instanceof BodyError)) throw e;
    throw new ClientError(
      EXIT.protocol,
      `${where}: invalid response framing: ${e.message}; the server is broken or not speaking ` +
        `HTTP/1.1`,
    );
  }
  let offset = 0;
  let partLength: number | null = framing.kind === "length" ? framing.length : null;
  if (head.status === 206) {
    const r = checkPartial(head, resume, where);
    offset = r.offset;
    partLength = r.length;
    report.resume = "appended";
    ctx.ui.info(
      `* server sent bytes ${offset}-${offset + r.length - 1}: appending to ${paths.part}`,
    );
  } else if (resume !== null) {
    report.resume = "restarted";
    ctx.ui.info("* the server ignored the range and sent the whole file: starting over");
  }
  const total = partLength === null ? null : offset + partLength;
  report.bytes.expected = total;
  report.bytes.resumedFrom = offset;
  if (opts.maxSize !== null && total !== null && total > opts.maxSize) {
    throw tooBig(where, opts.maxSize, `the file is ${total} bytes`);
  }

  // Hash only when there is something to check the bytes against, or the user asks (sha-256
  // costs ~0.8 s per GiB of one core here, more than the rest of the download).
  const hashing = opts.sha256 !== null || opts.digest ||
    announcedDigests(head.fields, head.status).length > 0;
  // One buffer for the whole download: the .part's prefix is hashed through it, the body
  // read into it, a trailer-announced digest checked through it.
  const buf = new Uint8Array(BUFFER_BYTES);
  const part = offset > 0
    ? await PartFile.append(paths, offset, buf, hashing)
    : await PartFile.create(paths, hashing);
  report.partFile = paths.part;
  let trailers: Array<[string, string]> = [];
  try {
    if (offset === 0) await writeMeta(paths, metaOf(head, report.url, total));
    trailers = await streamBody(hop, framing, part, buf, ctx, total);
    if (partLength !== null && part.size - offset !== partLength) {
      throw new ClientError(
        EXIT.protocol,
        `${where}: received ${part.size - offset} of ${partLength} bytes of the range`,
      );
    }
  } finally {
    part.close();
  }
  const digest = part.digest() ??
    // A digest first announced in the trailers: hash the file as written.
    (announcedDigests(trailers, head.status).length > 0 ? await hashFile(paths.part, buf) : null);
  report.sha256 = digest === null ? null : hex(digest);
  report.bytes.size = part.size;
  verify(report, [...head.fields, ...trailers], head.status, opts.sha256);
  if (!report.verification.verified && report.verification.checks.length > 0) {
    throw mismatch(report, paths);
  }
  await finalize(paths, opts.force);
  report.file = paths.final;
  report.partFile = null;
  report.ok = true;
}

async function streamBody(
  hop: FinalHop,
  framing: Framing,
  part: PartFile,
  buf: Uint8Array,
  ctx: SaveContext,
  total: number | null,
): Promise<Array<[string, string]>> {
  const { report, opts } = ctx;
  const where = formatUrl(hop.to);
  const body = new BodyReader(hop.reader, framing);
  const progress = ctx.ui.progress === null
    ? null
    : new Progress({ total, start: part.size, write: ctx.ui.progress });
  const start = hop.result.headAt;
  const max = opts.maxSize;
  try {
    // Hot path: one reused buffer; the write (and hash) runs on this thread while the kernel
    // keeps filling the socket buffer (see BUFFER_BYTES for the measurements behind it).
    for (let n; (n = await body.read(buf)) !== null;) {
      if (max !== null && part.size + n > max) {
        throw tooBig(where, max, `more than ${max} bytes arrived`);
      }
      part.write(n === buf.length ? buf : buf.subarray(0, n));
      progress?.update(part.size);
    }
  } catch (e) {
    if (e instanceof BodyError) {
      throw new ClientError(
        EXIT.protocol,
        `${where}: ${e.kind === "truncated" ? "body truncated: " : ""}${e.message}; ` +
          `the data so far is kept in ${ctx.paths.part}${
            e.kind === "truncated" ? " — run again with -c to resume" : ""
          }`,
      );
    }
    throw readError(e, where, "the body");
  } finally {
    progress?.finish();
    const end = performance.now();
    report.bytes.received = body.received;
    report.timingsMs.transfer = end - start;
    report.timingsMs.total = end - ctx.t0;
    report.throughputBytesPerSec = end > start ? (body.received * 1000) / (end - start) : 0;
  }
  if (report.response !== null) report.response.trailers = body.trailers;
  return body.trailers;
}

/** RFC 9110 §14.4, §15.3.7: a 206 we can append is one we asked for, covering exactly from the
 * end of the .part, of the same total size as the first attempt. */
function checkPartial(
  head: ResponseHead,
  resume: ResumeFrom | null,
  where: string,
): { offset: number; length: number } {
  const fail = (why: string) =>
    new ClientError(EXIT.protocol, `${where}: unusable 206 Partial Content: ${why}`);
  if (resume === null) throw fail("we did not ask for a range");
  const cr = parseContentRange(head.headers.get("content-range") ?? "");
  if (cr === null || cr.kind !== "range") {
    throw fail(`Content-Range ${JSON.stringify(head.headers.get("content-range") ?? "")}`);
  }
  if (cr.start !== resume.offset) {
    throw fail(`it starts at byte ${cr.start}, the .part has ${resume.offset}; run without -c`);
  }
  const known = resume.meta?.size ?? null;
  if (cr.size === undefined || (known !== null && cr.size !== known)) {
    throw fail(`total size ${cr.size ?? "*"} differs from the first attempt's ${known ?? "?"}`);
  }
  if (cr.end !== cr.size - 1) throw fail(`it ends at byte ${cr.end}, not at the end of the file`);
  return { offset: cr.start, length: cr.end - cr.start + 1 };
}

/** A 416 whose `Content-Range: bytes *\/N` equals the .part's size: the part is the whole
 * file (RFC 9110 §15.5.17). Verifies it against --sha256 and renames it into place. */
async function alreadyComplete(head: ResponseHead, ctx: SaveContext): Promise<boolean> {
  const cr = parseContentRange(head.headers.get("content-range") ?? "");
  const known = ctx.resume?.meta?.size ?? null;
  if (cr?.kind !== "unsatisfied" || cr.size !== ctx.resume?.offset) return false;
  if (known !== null && known !== cr.size) return false;
  const { report, paths } = ctx;
  report.resume = "already-complete";
  report.bytes = { received: 0, resumedFrom: cr.size, size: cr.size, expected: cr.size };
  if (ctx.opts.sha256 !== null || ctx.opts.digest) {
    report.sha256 = hex(await hashFile(paths.part, new Uint8Array(BUFFER_BYTES)));
  }
  verify(report, [], 416, ctx.opts.sha256);
  if (!report.verification.verified && report.verification.checks.length > 0) {
    throw mismatch(report, paths);
  }
  ctx.ui.info(`* ${paths.part} already holds all ${cr.size} bytes (416): finishing it`);
  await finalize(paths, ctx.opts.force);
  report.file = paths.final;
  report.ok = true;
  return true;
}

function tooBig(where: string, max: number, what: string): ClientError {
  return new ClientError(
    EXIT.protocol,
    `${where}: ${what}, over --max-size ${max}; stopped (raise --max-size to allow it)`,
  );
}

/** What to remember for a resume: a strong ETag, else a Last-Modified that is strong because
 * the Date is at least a second later (RFC 9110 §8.8.2.2, §13.1.5). */
export function metaOf(head: ResponseHead, url: string, size: number | null): PartMeta {
  const etag = head.headers.get("etag") ?? null;
  const strongEtag = etag !== null && /^"[\x21\x23-\x7e\x80-\xff]*"$/.test(etag) ? etag : null;
  const lm = head.headers.get("last-modified") ?? null;
  const date = head.headers.get("date") ?? null;
  const strongLm = lm !== null && date !== null &&
      parseHttpDate(date) - parseHttpDate(lm) >= 1000
    ? lm
    : null;
  return { url, etag: strongEtag, lastModified: strongEtag === null ? strongLm : null, size };
}
