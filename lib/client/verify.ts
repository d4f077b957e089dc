/**
 * Checksum verification: the file's sha-256 against `Repr-Digest` / `Content-Digest`
 * (RFC 9530, in the head or the trailers) and against the user's `--sha256`.
 *
 * @example
 * ```ts ignore
 * import { verify } from "./verify.ts";
 * verify(report, head.fields, 200, null);
 * console.log(report.verification);
 * ```
 * @module
 */

import { parseDigestField } from "../http/digest.ts";
import { ClientError, EXIT } from "./errors.ts";
import type { Check, Report } from "./report.ts";
import type { SavePaths } from "./save.ts";

/** Lower-case hex of bytes. */
export const hex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** The sha-256 digests a response announces for its data: Repr-Digest always, Content-Digest
 * only when the body is the whole representation (not for a 206). */
export function announcedDigests(
  fields: Array<[string, string]>,
  status: number,
): Array<Omit<Check, "ok">> {
  const found: Array<Omit<Check, "ok">> = [];
  const sources: Array<Check["source"]> = status === 206
    ? ["Repr-Digest"]
    : ["Repr-Digest", "Content-Digest"];
  for (const source of sources) {
    for (const [name, value] of fields) {
      if (name.toLowerCase() !== source.toLowerCase()) continue;
      const d = parseDigestField(value).get("sha-256");
      if (d !== undefined) found.push({ source, expected: hex(d) });
    }
  }
  return found;
}

/** Fills report.verification: the digests of {@linkcode announcedDigests} and the user's
 * --sha256, against report.sha256. */
export function verify(
  report: Report,
  fields: Array<[string, string]>,
  status: number,
  userSha: string | null,
): void {
  const actual = report.sha256 ?? "";
  const checks: Check[] = announcedDigests(fields, status).map((d) => ({
    ...d,
    ok: d.expected === actual,
  }));
  if (userSha !== null) {
    checks.push({ source: "--sha256", expected: userSha, ok: userSha === actual });
  }
  report.verification = { verified: checks.length > 0 && checks.every((c) => c.ok), checks };
}

/** The exit-7 error for a failed check; the .part is kept (and named in the report). */
export function mismatch(report: Report, paths: SavePaths): ClientError {
  const bad = report.verification.checks.find((c) => !c.ok)!;
  report.partFile = paths.part;
  return new ClientError(
    EXIT.checksum,
    `checksum mismatch: ${bad.source} says sha-256 ${bad.expected}, the data has ${report.sha256}; ` +
      `kept only as ${paths.part} — download again without -c`,
  );
}

/**
 * {@linkcode verify}, then the {@linkcode mismatch} error thrown when a check failed: what every
 * way of saving a download does before the bytes take their final name.
 * @throws {ClientError} checksum (7).
 */
export function verifyOrThrow(
  report: Report,
  fields: Array<[string, string]>,
  status: number,
  options: { userSha: string | null; paths: SavePaths },
): void {
  verify(report, fields, status, options.userSha);
  if (!report.verification.verified && report.verification.checks.length > 0) {
    throw mismatch(report, options.paths);
  }
}
