/**
 * Which bytes of a file a GET or HEAD gets, and the head fields that describe them: the
 * precondition order of RFC 9110 §13.2.2, then If-Range and Range (§13.1.5, §14), and the
 * Repr-Digest of the whole file when it is already known (RFC 9530 §3).
 *
 * @module
 */

import type { RequestHead } from "../http/request.ts";
import { STATUS } from "../http/status.ts";
import { evaluateIfRange, evaluatePreconditions, makeEtag } from "../http/conditional.ts";
import { contentRange, parseRange, unsatisfiedRange } from "../http/range.ts";
import { makeBoundary, multipartByteranges, multipartContentType } from "../http/multipart.ts";
import { formatReprDigest, wantsSha256 } from "../http/digest.ts";

/** The version of a file being served: what validators and headers are made from. */
export interface FileVersion {
  size: number;
  mtimeMs: number;
  ino: number | null;
  dev: number;
  /** Content-Type value. */
  contentType: string;
  /** Last-Modified value (IMF-fixdate). */
  lastModified: string;
  /** The sha-256 of the whole file when already known. */
  digest?: Uint8Array;
}

/** One stretch of the body: optional bytes before it, then file bytes [start, end). */
export interface Part {
  prefix?: Uint8Array;
  start: number;
  end: number;
}

/** The decided response for a file. 412 and 416 come back with no parts; the caller turns
 * them into error replies (416 with the `Content-Range` field given here). */
export interface Representation {
  status: number;
  fields: Array<[string, string]>;
  /** Content-Length. */
  length: number;
  /** What to stream from the file; empty for 304/412/416 and empty files. */
  parts: Part[];
  /** Bytes after the last part (the closing boundary of a multipart body). */
  suffix?: Uint8Array;
  /** The digest advertised, if any. */
  digest?: Uint8Array;
}

/** Decides the representation of `v` for `head` (GET or HEAD). */
export function selectRepresentation(head: RequestHead, v: FileVersion): Representation {
  const etag = makeEtag(v);
  const validators = { etag, lastModifiedMs: v.mtimeMs };
  const common: Array<[string, string]> = [
    ["Last-Modified", v.lastModified],
    ["ETag", etag],
  ];

  // RFC 9110 §13.2.2 steps 1–4.
  const pre = evaluatePreconditions(head, validators);
  if (pre.status === STATUS.NotModified) {
    return { status: STATUS.NotModified, fields: common, length: 0, parts: [] };
  }
  if (pre.status === STATUS.PreconditionFailed) {
    return { status: STATUS.PreconditionFailed, fields: [], length: 0, parts: [] };
  }

  // RFC 9530 §3: the digest of the whole representation, unless the client said it does not
  // want sha-256 (Want-Repr-Digest: sha-256=0, §4).
  const want = head.headers.get("want-repr-digest");
  const digest = v.digest !== undefined && (want === undefined || wantsSha256(want))
    ? v.digest
    : undefined;
  common.push(["Accept-Ranges", "bytes"]);
  if (digest !== undefined) common.push(["Repr-Digest", formatReprDigest(digest)]);
  common.push(["X-Content-Type-Options", "nosniff"]);

  // §13.2.2 step 5: Range, when If-Range (if any) holds. HEAD gets the head GET would get.
  const rangeField = head.headers.get("range");
  if (rangeField !== undefined && evaluateIfRange(head.headers.get("if-range"), validators)) {
    const r = parseRange(rangeField, v.size);
    if (r.kind === "unsatisfiable") {
      return {
        status: STATUS.RangeNotSatisfiable,
        fields: [["Content-Range", unsatisfiedRange(v.size)], ...common],
        length: 0,
        parts: [],
      };
    }
    if (r.kind === "ranges" && r.ranges.length === 1) {
      const { start, end } = r.ranges[0];
      return {
        status: STATUS.PartialContent,
        fields: [
          ["Content-Type", v.contentType],
          ["Content-Length", String(end - start + 1)],
          ["Content-Range", contentRange(start, end, v.size)],
          ...common,
        ],
        length: end - start + 1,
        parts: [{ start, end: end + 1 }],
        digest,
      };
    }
    if (r.kind === "ranges") {
      const boundary = makeBoundary();
      const body = multipartByteranges(r.ranges, v.size, v.contentType, boundary);
      return {
        status: STATUS.PartialContent,
        fields: [
          ["Content-Type", multipartContentType(boundary)],
          ["Content-Length", String(body.contentLength)],
          ...common,
        ],
        length: body.contentLength,
        parts: body.parts.map((p) => ({ prefix: p.head, start: p.start, end: p.end + 1 })),
        suffix: body.closing,
        digest,
      };
    }
  }
  return {
    status: STATUS.OK,
    fields: [["Content-Type", v.contentType], ["Content-Length", String(v.size)], ...common],
    length: v.size,
    parts: v.size > 0 ? [{ start: 0, end: v.size }] : [],
    digest,
  };
}
