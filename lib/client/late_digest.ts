/**
 * The digest of a fresh file, asked for after its body: a Ferry server sends `Repr-Digest` only
 * once its background hash (lib/server/digest_cache.ts) is done, so the first download of a
 * large file comes without one. The client then hashes the body as it writes it anyway, and
 * afterwards asks `HEAD` with `If-Match: <the GET's ETag>` for the digest of that very version,
 * polling with backoff for a bounded time while the server hashes. What comes back is checked
 * like a digest in the head, before the rename; when none comes in time, the file is saved
 * unverified and the report says so.
 *
 * Cost: sha-256 on the client (~0.7 s per GiB of one core, overlapped with the transfer), one
 * connection and a few HEAD round trips after the body; none on the server beyond the hash it
 * computes once anyway. See README "Verifying a fresh file".
 *
 * @example
 * ```ts ignore
 * import { askLateDigest, wantsLateDigest } from "./late_digest.ts";
 * if (wantsLateDigest(head)) console.log(await askLateDigest(hop, opts, 1_000, ui));
 * ```
 * @module
 */

import type { ResponseHead } from "../http/response.ts";
import { ConnReader } from "../net/head_reader.ts";
import { openConnection } from "./connect.ts";
import type { ClientOptions } from "./args.ts";
import type { FinalHop, Ui } from "./download.ts";
import { formatUrl } from "./names.ts";
import { buildRequest, sendAndReadHead, willClose } from "./exchange.ts";
import { announcedDigests } from "./verify.ts";
import { tlsTrust } from "./tls_connect.ts";

/** Ferry's default largest file it hashes (`DigestCache` maxFileBytes): above it, no digest
 * will ever come, so none is waited for. */
export const FERRY_DIGEST_MAX_BYTES = 4 * 1024 * 1024 * 1024;

/** Shortest wait for the server's hash: on loopback or a fast LAN the body can arrive faster
 * than the server hashes it (~0.7 s/GiB), and a file changed in its last 2 s is hashed only
 * after that (RACY_MS). */
export const LATE_DIGEST_MIN_WAIT_MS = 3_000;
/** Longest wait, however long the download took. */
export const LATE_DIGEST_MAX_WAIT_MS = 10_000;

/** Origins whose wait ran out in this process. */
const gaveUp = new Set<string>();

/** Whether `head` is a whole body from a Ferry server that did not know the digest yet and
 * names the version by a strong ETag (so a later HEAD can ask for the digest of exactly it). */
export function wantsLateDigest(head: ResponseHead): boolean {
  if (head.status !== 200) return false;
  if (!(head.headers.get("server") ?? "").startsWith("ferry/")) return false;
  if (announcedDigests(head.fields, head.status).length > 0) return false;
  const etag = head.headers.get("etag") ?? "";
  if (!/^"[^"]*"$/.test(etag)) return false;
  const length = Number(head.headers.get("content-length") ?? NaN);
  return Number.isFinite(length) && length > 0 && length <= FERRY_DIGEST_MAX_BYTES;
}

/** How long to wait for the server's hash after a download that took `downloadMs`. */
export function lateDigestBudgetMs(downloadMs: number): number {
  return Math.min(LATE_DIGEST_MAX_WAIT_MS, Math.max(LATE_DIGEST_MIN_WAIT_MS, downloadMs));
}

/**
 * Asks the server of `hop` (HEAD, If-Match: its ETag) for the Repr-Digest, polling with backoff
 * (50 ms doubling to 1 s) for at most `budgetMs`. Returns the Repr-Digest fields found (to be
 * verified like the head's), or none: not hashed in time, the file changed since (412), or the
 * server could not be asked — each said through `ui`. Never throws for the server's sake.
 */
export async function askLateDigest(
  hop: FinalHop,
  opts: ClientOptions,
  budgetMs: number,
  ui: Ui,
): Promise<Array<[string, string]>> {
  const etag = hop.result.head.headers.get("etag")!;
  // A server that let one wait run out (--no-digest, a full hash queue) gets one HEAD, not
  // another wait, for the rest of this run (several URLs, -r).
  const origin = formatUrl({ ...hop.to, path: "/" });
  const end = performance.now() + (gaveUp.has(origin) ? 0 : budgetMs);
  const extra: Array<[string, string]> = [["If-Match", etag]];
  const auth = hop.request.fields.find(([k]) => k === "Authorization");
  if (auth !== undefined) extra.push(auth);
  let conn: { c: Awaited<ReturnType<typeof openConnection>>; reader: ConnReader } | null = null;
  let wait = 50;
  let asked = 0;
  try {
    for (;;) {
      if (conn === null) {
        const c = await openConnection(hop.to, {
          timeoutMs: opts.timeoutMs,
          tls: await tlsTrust(opts),
        });
        conn = { c, reader: new ConnReader(c.source, { readTimeoutMs: opts.timeoutMs }) };
      }
      const request = buildRequest({ method: "HEAD", to: hop.to, keepAlive: true, extra });
      const { head } = await sendAndReadHead(conn.c, conn.reader, request);
      asked++;
      if (head.status === 412) {
        ui.info(`* ${etag} is no longer the file on the server: its digest cannot be asked for`);
        return [];
      }
      const found = head.status === 200
        ? head.fields.filter(([k]) => k.toLowerCase() === "repr-digest")
        : [];
      if (announcedDigests(found, 200).length > 0) {
        ui.info(`* Repr-Digest asked after the body (HEAD ${asked}×)`);
        return found.map(([, v]) => ["Repr-Digest", v]);
      }
      if (head.status !== 200) {
        ui.info(`* HEAD for the digest answered ${head.status}: not verified`);
        return [];
      }
      if (willClose(head)) {
        conn.c.source.close();
        conn = null;
      }
      const left = end - performance.now();
      if (left <= 0) break;
      await new Promise((r) => setTimeout(r, Math.min(wait, left)));
      wait = Math.min(wait * 2, 1_000);
    }
    ui.info(
      gaveUp.has(origin)
        ? "* the server had no digest for the file: saved unverified"
        : `* the server had no digest for the file after ${
          (budgetMs / 1000).toFixed(1)
        } s: saved unverified`,
    );
    gaveUp.add(origin);
  } catch (e) {
    ui.info(`* could not ask for the digest (${(e as Error).message}): saved unverified`);
  } finally {
    conn?.c.source.close();
  }
  return [];
}
