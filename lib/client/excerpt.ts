/**
 * A short excerpt of an error response's body for the one-line error message: read within a
 * bounded time and size, made safe for a terminal (no control characters, no markup).
 *
 * @example
 * ```ts
 * import { excerptText } from "./excerpt.ts";
 * console.log(excerptText(new TextEncoder().encode("<h1>Not Found</h1>"))); // Not Found
 * ```
 * @module
 */

import { BodyReader, type Framing, responseFraming } from "../http/body.ts";
import type { FinalHop } from "./download.ts";

/** Bytes of an error body read for the excerpt. */
export const EXCERPT_READ_BYTES = 4096;
/** Characters of an error body shown to the user. */
export const EXCERPT_CHARS = 200;
/** Longest wait for an error body's excerpt: the status is already known, so a slow body must
 * not hold the error message back for the whole read timeout. */
export const EXCERPT_WAIT_MS = 2000;

/** Up to {@linkcode EXCERPT_CHARS} characters of an error body, tags and control characters
 * removed, read within {@linkcode EXCERPT_WAIT_MS}. Empty when there is none. */
export async function readExcerpt(hop: FinalHop): Promise<string> {
  let framing: Framing;
  try {
    framing = responseFraming({ method: "GET", ...hop.result.head });
  } catch {
    return "";
  }
  const body = new BodyReader(hop.reader, framing);
  const buf = new Uint8Array(EXCERPT_READ_BYTES);
  let have = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      hop.connected.source.close();
      resolve();
    }, EXCERPT_WAIT_MS);
  });
  const read = (async () => {
    while (have < buf.length) {
      const n = await body.read(buf.subarray(have));
      if (n === null) break;
      have += n;
    }
  })().catch(() => {});
  await Promise.race([read, deadline]);
  clearTimeout(timer);
  await read;
  return excerptText(buf.subarray(0, have));
}

/** The text of an error body for a one-line message: UTF-8 (lossy), HTML tags dropped, control
 * characters and runs of white space turned into single spaces, at most EXCERPT_CHARS. */
export function excerptText(bytes: Uint8Array): string {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes)
    .replace(/<[^>]*>/g, " ")
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\s]+/g, " ")
    .replace(/"/g, "'")
    .trim();
  return text.length > EXCERPT_CHARS ? text.slice(0, EXCERPT_CHARS - 1) + "…" : text;
}
