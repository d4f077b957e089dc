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
import { validatorOf } from "./meta.ts";
import { checkOverlap, checkValidator, RestartFromZero, type ResumeFrom } from "./resume.ts";
import { parseRetryAfter, retryableStatus } from "./retry.ts";
import type { StdoutSink } from "./stdout_sink.ts";
import { formatUrl } from "./names.ts";
import { Progress } from "./progress.ts";
import type { Report } from "./report.ts";
import { readExcerpt } from "./excerpt.ts";
import { announcedDigests, hex, verifyOrThrow } from "./verify.ts";
import { askLateDigest, lateDigestBudgetMs, wantsLateDigest } from "./late_digest.ts";
import {
  BUFFER_BYTES,
  finalize,
  hashFile,
  land,
  PartFile,
  type PartMeta,
  type SavePaths,
  writeMeta,
} from "./save.ts";

export type { ResumeFrom } from "./resume.ts";

/** What {@linkcode saveResponse} works with. */
export interface SaveContext {
  opts: ClientOptions;
  paths: SavePaths;
  resume: ResumeFrom | null;
  report: Report;
  ui: Ui;
  /** `performance.now()` at the start of the download. */
  t0: number;
  /** `-o -`: where the body goes instead of a .part; null otherwise. */
  sink?: StdoutSink | null;
}

/** Saves the body of `hop`'s response, or throws the {@linkcode ClientError} that explains why
 * not. */
export async function saveResponse(hop: FinalHop, ctx: SaveContext): Promise<void> {
  const { head, statusLine } = hop.result;
  const { report, paths, opts, resume } = ctx;
  const where = formatUrl(hop.to);
  const sink = ctx.sink ?? null;
  if (head.status === 416 && resume !== null && sink === null && await alreadyComplete(head, ctx)) {
    return;
  }
  if (head.status >= 400) {
    const status = statusLine.slice(9);
    // A body that only repeats the status line ("404 Not Found", as Ferry's) says nothing more.
    const body = await readExcerpt(hop);
    const excerpt = body === status || body === statusLine ? "" : body;
    const later = retryableStatus(head.status);
    throw new ClientError(
      EXIT.httpStatus,
      `${where}: the server answered ${status}${excerpt ? ` ("${excerpt}")` : ""}; ${
        head.status === 416
          ? "the .part no longer fits the file: run again with --no-continue to start over"
          : head.status === 401
          ? (hop.request.fields.some(([k]) => k === "Authorization")
            ? "the credentials were refused: check USER:PASS given with --user (or in the URL)"
            : "the server wants credentials: pass --user USER:PASS")
          : head.status < 500 && !later
          ? "check the path and the host"
          : "the server asks to try again later"
      }`,
      later
        ? {
          transient: "status",
          retryAfterMs: parseRetryAfter(head.headers.get("retry-after"), Date.now()),
        }
        : {},
    );
  }
  // We ask for identity (Accept-Encoding); encoded bytes saved as the file would be a corrupt
  // file that looks complete (nginx `gzip_static always` sends them anyway). RFC 9110 §8.4.
  const coding = (head.headers.get("content-encoding") ?? "").trim().toLowerCase();
  if (coding !== "" && coding !== "identity") {
    throw new ClientError(
      EXIT.protocol,
      `${where}: the server sent the body with Content-Encoding ${
        JSON.stringify(coding.slice(0, 40))
      } although we asked for identity; refusing to save encoded bytes as the file ` +
        `(the server forces compression: fetch the compressed file by its own name, or ask ` +
        `its operator to honour Accept-Encoding)`,
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
      `* server sent bytes ${offset}-${offset + r.length - 1}: appending to ${
        sink === null ? paths.part : "stdout"
      }`,
    );
  } else if (resume !== null) {
    report.resume = "restarted";
    ctx.ui.info("* the server ignored the range and sent the whole file: starting over");
  }
  const total = partLength === null ? null : offset + partLength;
  report.bytes.expected = total;
  // With an overlap, the bytes from `offset` to the .part's end are fetched again, not new.
  report.bytes.resumedFrom = head.status === 206 && resume !== null ? resume.partSize : offset;
  if (opts.maxSize !== null && total !== null && total > opts.maxSize) {
    throw tooBig(where, opts.maxSize, `the file is ${total} bytes`);
  }

  // Hash only when there is something to check the bytes against, or the user asks (sha-256
  // costs ~0.8 s per GiB of one core here, more than the rest of the download).
  // A Ferry server that has not hashed a fresh file yet: hash it too, and ask after the body.
  const late = sink === null && wantsLateDigest(head);
  const hashing = opts.sha256 !== null || opts.digest || late ||
    announcedDigests(head.fields, head.status).length > 0;
  // One buffer for the whole download: the .part's prefix is hashed through it, the body
  // read into it, a trailer-announced digest checked through it.
  // Sized to the file when it is smaller and nothing is resumed (an overlap needs its 64 KiB):
  // many small downloads (several URLs, -r) would otherwise each have the kernel zero 1 MiB
  // they never use.
  const buf = new Uint8Array(
    total !== null && offset === 0
      ? Math.min(BUFFER_BYTES, Math.max(total, 16 * 1024))
      : BUFFER_BYTES,
  );
  const body = new BodyReader(hop.reader, framing);
  if (head.status === 206 && resume?.overlap) await checkOverlap(body, resume, buf, where);
  if (sink !== null && sink.size !== offset) {
    // 200 after bytes went out: they cannot be taken back.
    throw new ClientError(
      EXIT.protocol,
      `${where}: the server restarted the body after ${sink.size} bytes were written to ` +
        `stdout; they cannot be taken back — run again`,
    );
  }
  sink?.startHashing(hashing);
  const part = sink !== null
    ? sink
    : resume !== null && head.status === 206
    ? PartFile.append(paths, resume.partSize, buf, hashing)
    : PartFile.create(paths, hashing);
  if (sink === null) report.partFile = paths.part;
  let trailers: Array<[string, string]> = [];
  try {
    const meta = metaOf(head, report.url, total);
    if (sink !== null) {
      if (offset === 0) sink.meta = meta;
    } else if (offset === 0 || (validatorOf(resume?.meta ?? null) === null && validatorOf(meta))) {
      // Fresh, or resumed by overlap from a 206 that names a validator: remember it, so a
      // later attempt resumes with If-Range.
      writeMeta(paths, meta);
    }
    trailers = await streamBody(hop, body, part, buf, ctx, total);
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
    (sink === null && announcedDigests(trailers, head.status).length > 0
      ? hashFile(paths.part, buf)
      : null);
  report.sha256 = digest === null ? null : hex(digest);
  report.bytes.size = part.size;
  if (sink !== null) {
    // Nothing to rename; a digest can be checked only when every byte was hashed.
    if (digest !== null) {
      verifyOrThrow(report, [...head.fields, ...trailers], head.status, {
        userSha: opts.sha256,
        paths,
      });
    }
    report.ok = true;
    return;
  }
  const asked = late && announcedDigests(trailers, head.status).length === 0
    ? await askLateDigest(hop, opts, lateDigestBudgetMs(performance.now() - ctx.t0), ctx.ui)
    : [];
  verifyOrThrow(report, [...head.fields, ...trailers, ...asked], head.status, {
    userSha: opts.sha256,
    paths,
  });
  await land(report, paths, opts.force);
}

async function streamBody(
  hop: FinalHop,
  body: BodyReader,
  part: PartFile | StdoutSink,
  buf: Uint8Array,
  ctx: SaveContext,
  total: number | null,
): Promise<Array<[string, string]>> {
  const { report, opts } = ctx;
  const where = formatUrl(hop.to);
  const progress = ctx.ui.track !== undefined
    ? ctx.ui.track(total, part.size)
    : ctx.ui.progress === null
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
          (ctx.sink ? `${part.size} bytes written to stdout` : (
            `the data so far is kept in ${ctx.paths.part}${
              e.kind === "truncated" ? " — run again to resume" : ""
            }`
          )),
        e.kind === "truncated" ? { transient: "reset" } : {},
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
  checkValidator(head, resume, where);
  return { offset: cr.start, length: cr.end - cr.start + 1 };
}

/** A 416 whose `Content-Range: bytes *\/N` equals the .part's size, for a .part resumed with a
 * validator that the 416 does not contradict: the part is the whole file (RFC 9110 §15.5.17).
 * Verifies it against --sha256 and renames it into place. */
async function alreadyComplete(head: ResponseHead, ctx: SaveContext): Promise<boolean> {
  const cr = parseContentRange(head.headers.get("content-range") ?? "");
  const known = ctx.resume?.meta?.size ?? null;
  const v = ctx.resume?.validator ?? null;
  if (v === null || cr?.kind !== "unsatisfied" || cr.size !== ctx.resume?.partSize) return false;
  if (known !== null && known !== cr.size) return false;
  const field = v.startsWith('"') ? "etag" : "last-modified";
  const got = head.headers.get(field);
  if (got !== undefined && got !== v) {
    throw new RestartFromZero(`the 416's ${field} ${JSON.stringify(got)} is not ${v}`);
  }
  const { report, paths } = ctx;
  report.resume = "already-complete";
  report.bytes = { received: 0, resumedFrom: cr.size, size: cr.size, expected: cr.size };
  if (ctx.opts.sha256 !== null || ctx.opts.digest) {
    report.sha256 = hex(hashFile(paths.part, new Uint8Array(BUFFER_BYTES)));
  }
  verifyOrThrow(report, [], 416, { userSha: ctx.opts.sha256, paths });
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
