/**
 * Where a download continues from, and the proofs that what is appended belongs to what is
 * already there (issue #11 item 10): the .part and its meta read as untrusted input; a strong
 * validator sent as If-Range and then checked on the 206 itself; without a validator, an overlap
 * of the .part's last {@linkcode OVERLAP_BYTES} fetched again and compared. Whatever fails a
 * proof is never appended: the download restarts from byte 0 ({@linkcode RestartFromZero}).
 *
 * @example
 * ```ts ignore
 * import { resumePoint } from "./resume.ts";
 * const from = resumePoint(savePaths("out", "a.bin"), url, { info: console.log }, false);
 * if (from !== null) console.log(from.offset, from.validator);
 * ```
 * @module
 */

import type { BodyReader } from "../http/body.ts";
import { BodyError } from "../http/body.ts";
import type { ResponseHead } from "../http/response.ts";
import { ClientError, EXIT } from "./errors.ts";
import { readError } from "./exchange.ts";
import { validatorOf } from "./meta.ts";
import { isSegmentedPart, type PartMeta, readPart, readPartTail, type SavePaths } from "./save.ts";

/** A .part to continue from. */
export interface ResumeFrom {
  /** The first byte asked for: the .part's size, or less by the overlap. */
  offset: number;
  /** The .part's size. */
  partSize: number;
  /** What was remembered of the first attempt, or null. */
  meta: PartMeta | null;
  /** The If-Range sent (a strong ETag or Last-Modified), or null. */
  validator: string | null;
  /** Without a validator: the .part's last bytes (from `offset`), which the 206 must repeat
   * exactly before anything is appended; else null. */
  overlap: Uint8Array | null;
}

/** The .part cannot be continued (the server's validator or overlap differs): the download
 * starts again from byte 0 in the same run. */
export class RestartFromZero extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RestartFromZero";
  }
}

/** Bytes of the .part fetched again and compared when resuming without a validator (`-c`, or
 * a retry after a response that had none): enough that a different file or version is all but
 * certain to differ somewhere in them, small next to any download worth resuming. */
export const OVERLAP_BYTES = 64 * 1024;

/**
 * The .part to resume, or null to start over. Never a `--segments` .part (full-sized with
 * holes: see {@linkcode isSegmentedPart}). Resumed: a .part whose meta (a regular file,
 * well-formed) names this URL and holds a validator — sent as If-Range; with `unproven`
 * (`-c`, or a retry) also one without a validator, from {@linkcode OVERLAP_BYTES} before its
 * end, the overlap compared before anything is appended.
 */
export function resumePoint(
  paths: SavePaths,
  url: string,
  ui: { info(text: string): void },
  unproven: boolean,
): ResumeFrom | null {
  let part;
  try {
    part = readPart(paths);
  } catch (e) {
    if (unproven) throw e;
    // Not asked to resume: whatever is at the .part's name is replaced (never written through).
    return null;
  }
  if (part === null || part.size === 0) return null;
  if (isSegmentedPart(paths)) {
    // Full-sized with holes: appending at its size, or proving an overlap at its end, would
    // "finish" a file that lacks bytes in the middle.
    ui.info(
      `* ${paths.part} holds --segments ranges with gaps: starting over (--segments resumes it)`,
    );
    return null;
  }
  if (part.metaProblem !== null) ui.info(`* ${part.metaProblem}: not used`);
  const meta = part.meta;
  if (meta !== null && meta.url !== url) {
    ui.info(`* ${paths.part} came from ${meta.url}, not ${url}: starting over`);
    return null;
  }
  const validator = validatorOf(meta);
  if (validator !== null) {
    ui.info(`* resuming ${paths.part} at byte ${part.size} (If-Range: ${validator})`);
    return { offset: part.size, partSize: part.size, meta, validator, overlap: null };
  }
  if (!unproven) {
    ui.info(
      `* ${paths.part} has no remembered validator: starting over (-c resumes it after ` +
        `comparing its last ${OVERLAP_BYTES / 1024} KiB with the server's)`,
    );
    return null;
  }
  const overlap = readPartTail(paths, OVERLAP_BYTES);
  const offset = part.size - overlap.length;
  ui.info(
    `* resuming ${paths.part} at byte ${part.size}: no validator remembered, so bytes ` +
      `${offset}-${part.size - 1} are fetched again and compared first`,
  );
  return { offset, partSize: offset + overlap.length, meta, validator: null, overlap };
}

/** RFC 9110 §13.1.5: a server that honours If-Range sends 206 only when the validator
 * matches. One that ignores If-Range would splice two versions: the 206's own ETag (or
 * Last-Modified) must equal the If-Range sent, or the download restarts from zero. */
export function checkValidator(head: ResponseHead, resume: ResumeFrom, where: string): void {
  const v = resume.validator;
  if (v !== null) {
    const field = v.startsWith('"') ? "etag" : "last-modified";
    const got = head.headers.get(field);
    if (got !== v) {
      throw new RestartFromZero(
        `${where}: the 206's ${field === "etag" ? "ETag" : "Last-Modified"} is ${
          JSON.stringify(got ?? null)
        }, not the If-Range we sent (${v}): the file changed, its bytes are not appended`,
      );
    }
  }
}

/** Reads the overlap the 206 repeats and compares it with the .part's last bytes: equal, or
 * the .part is not a prefix of this file and the download restarts. */
export async function checkOverlap(
  body: BodyReader,
  resume: ResumeFrom,
  buf: Uint8Array,
  where: string,
): Promise<void> {
  const want = resume.overlap!;
  let have = 0;
  try {
    while (have < want.length) {
      const n = await body.read(buf.subarray(have, want.length));
      if (n === null) break;
      have += n;
    }
  } catch (e) {
    throw e instanceof BodyError
      ? new ClientError(EXIT.protocol, `${where}: ${e.message}`, { transient: "reset" })
      : readError(e, where, "the overlap");
  }
  for (let i = 0; i < want.length; i++) {
    if (i >= have || buf[i] !== want[i]) {
      throw new RestartFromZero(
        `${where}: the server's bytes ${resume.offset}-${resume.partSize - 1} differ from the ` +
          `.part's (at byte ${resume.offset + i}): it is not a prefix of this file`,
      );
    }
  }
}
