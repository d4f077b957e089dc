/**
 * Request → response for the files under one root: safe resolution (no byte from outside the
 * root), stat, open, and the response head. The body itself is streamed by the connection.
 *
 * The checks, in order: the target is normalized by {@linkcode parseTarget} (bad escapes, NUL,
 * backslashes and climbing above the root → 400); dotfiles → 404 unless allowed; then the
 * verified open (lib/server/verified_open.ts): the object is held first, and where it really is
 * (symlinks resolved, as the kernel reports it for the held descriptor) must lie inside the
 * real root with no hidden segment, else 404 — so a name swapped between check and open cannot
 * leak; only a regular file is then opened for reading, through that descriptor (FIFOs, sockets
 * and devices → 403, never opened). Directory listings are read through the held directory.
 * Error bodies carry only the status text: never a path, never an internal error message.
 *
 * @example
 * ```ts ignore
 * import { FileServer } from "./files.ts";
 * const files = await FileServer.create({ root: "./public" });
 * const reply = await files.respond(head);
 * ```
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { ALLOW, type RequestHead } from "../http/request.ts";
import { HttpError, reasonPhrase, STATUS } from "../http/status.ts";
import { parseTarget } from "../http/target.ts";
import { httpDate } from "../http/response.ts";
import { wantsSha256 } from "../http/digest.ts";
import { contentType } from "./mime.ts";
import { encodePathSegment } from "./escape.ts";
import { chooseListing, listingFields, parseListingQuery, renderListing } from "./listing_page.ts";
import { ListingCache } from "./listing_entries.ts";
import { Confinement, type Held } from "./verified_open.ts";
import { type Representation, selectRepresentation } from "./representation.ts";
import type { DigestCache } from "./digest_cache.ts";
import { SMALL_FILE_MAX_BYTES, SmallFileCache } from "./small_cache.ts";
import { VERSION } from "../version.ts";
import { archiveFormat, archiveReply, queryOf } from "./archive.ts";

/** What the file server may serve. */
export interface FileServerOptions {
  /** The directory served. */
  root: string;
  /** Serve directory listings when there is no index.html. @default true */
  listing?: boolean;
  /** Serve names that start with a dot. @default false */
  dotfiles?: boolean;
  /** Follow symlinks that lead outside the root. @default false */
  followSymlinks?: boolean;
  /** A digest cache for `Repr-Digest`; none → no digests. */
  digests?: DigestCache;
  /** Serve folders as tar or zip (`?download=tar|zip`). @default true */
  archive?: boolean;
}

/** A response, ready for the connection to send: head fields, and a body in memory or a file
 * range to stream. `Date`, `Server` and `Connection` are added by the connection. */
export interface Reply {
  status: number;
  fields: Array<[string, string]>;
  /** Body bytes in memory (errors, redirects, listings). */
  body?: Uint8Array;
  /** A file to stream, with the parts of it to send (one part, or several for multipart). */
  file?: { handle: Deno.FsFile; parts: Representation["parts"]; suffix?: Uint8Array };
  /** A body produced while sending (folder archives): writes exactly `length` bytes through
   * `write`, or throws, and then the connection is closed mid-body. */
  stream?: (write: (p: Uint8Array) => Promise<void>) => Promise<void>;
  /** The Content-Length of the body (also for HEAD, which sends none). */
  length: number;
  /** Close the connection after this response. */
  close?: boolean;
}

const encoder = new TextEncoder();

/** Builds the one kind of error response: status text as the body, never internal detail. */
export function errorReply(
  status: number,
  message = reasonPhrase(status),
  fields: ReadonlyArray<readonly [string, string]> = [],
  close = false,
): Reply {
  const body = encoder.encode(`${status} ${message}\n`);
  return {
    status,
    fields: [
      ["Content-Type", "text/plain; charset=utf-8"],
      ["Content-Length", String(body.length)],
      ["X-Content-Type-Options", "nosniff"],
      ...fields.map(([k, v]) => [k, v] as [string, string]),
    ],
    body,
    length: body.length,
    close,
  };
}

/** Maps any error to a reply: an HttpError keeps its status and public message; anything else
 * becomes a 500 whose body says nothing of the cause. */
export function replyForError(e: unknown): Reply {
  if (e instanceof HttpError) return errorReply(e.status, e.message, e.fields, e.close);
  if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
    return errorReply(STATUS.NotFound);
  }
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return errorReply(STATUS.Forbidden);
  }
  if (e instanceof Deno.errors.IsADirectory) return errorReply(STATUS.Forbidden);
  // A symlink loop (ELOOP) or a name longer than the file system allows (ENAMETOOLONG): no
  // such file can be served, so it does not exist as far as the client is concerned.
  if (e instanceof Deno.errors.FilesystemLoop || /\(os error 36\)/.test(String(e))) {
    return errorReply(STATUS.NotFound);
  }
  return errorReply(STATUS.InternalServerError);
}

/** Serves the files under one root. */
export class FileServer {
  readonly root: string;
  readonly listing: boolean;
  readonly dotfiles: boolean;
  readonly followSymlinks: boolean;
  readonly digests: DigestCache | undefined;
  readonly archive: boolean;
  /** Whole small responses, for plain GET/HEAD (see {@linkcode SmallFileCache}). */
  readonly cache = new SmallFileCache();
  /** Opens under the root's policy, verified on what was opened. */
  readonly confine: Confinement;
  /** Listing data, shared by concurrent requests and reused while a directory is unchanged. */
  readonly listings: ListingCache;

  private constructor(confine: Confinement, o: FileServerOptions) {
    this.confine = confine;
    this.listings = new ListingCache(confine);
    this.root = confine.root;
    this.listing = o.listing ?? true;
    this.dotfiles = o.dotfiles ?? false;
    this.followSymlinks = o.followSymlinks ?? false;
    this.digests = o.digests;
    this.archive = o.archive ?? true;
  }

  /** Resolves the root to its real path once, so every later check compares real paths. */
  static async create(o: FileServerOptions): Promise<FileServer> {
    const confine = await Confinement.create({
      root: o.root,
      dotfiles: o.dotfiles ?? false,
      followSymlinks: o.followSymlinks ?? false,
    });
    return new FileServer(confine, o);
  }

  /** Answers one request head. Throws only for errors {@linkcode replyForError} maps. */
  async respond(head: RequestHead): Promise<Reply> {
    const target = parseTarget(head.target);
    if (head.method === "OPTIONS") {
      return { status: STATUS.NoContent, fields: [["Allow", ALLOW]], length: 0 };
    }
    if (target.asterisk) throw new HttpError(STATUS.BadRequest, "Bad Request: * is for OPTIONS");
    if (!this.dotfiles && target.segments.some((s) => s.charCodeAt(0) === 46 /* . */)) {
      return errorReply(STATUS.NotFound);
    }
    const path = join(this.root, ...target.segments);
    const held = await this.confine.open(path);
    try {
      return await this.#respondHeld(head, target, path, held);
    } finally {
      held.close();
    }
  }

  /** Answers for the verified object `held`, which the request named `path`. */
  async #respondHeld(
    head: RequestHead,
    target: ReturnType<typeof parseTarget>,
    path: string,
    held: Held,
  ): Promise<Reply> {
    const info = held.info;
    if (info.isDirectory) {
      if (!target.trailingSlash && target.segments.length > 0) {
        // The query is kept (`/dir?format=json` → `/dir/?format=json`), as nginx and Apache do;
        // raw bytes a Location must not carry (a raw UTF-8 target's) are percent-encoded.
        const location = "/" + target.segments.map(encodePathSegment).join("/") + "/" +
          queryOf(head.target);
        const reply = errorReply(STATUS.MovedPermanently);
        reply.fields.push(["Location", location]);
        return reply;
      }
      const format = archiveFormat(head.target);
      if (format !== null) {
        return await archiveReply(this, head, { path, held, segments: target.segments, format });
      }
      // index.html of this very directory (looked up through its descriptor), verified too —
      // except for an explicit `?format=json` with listings on: that asks for the listing (a
      // mirror's request: index.html is then one of its entries, not the folder's stand-in).
      // A plain GET, or JSON asked for by Accept only, still gets index.html.
      const wantsJson = this.listing && parseListingQuery(head.target).format === "json";
      let index: Held | undefined;
      if (!wantsJson) {
        try {
          index = await this.confine.open(`${held.path}/index.html`);
        } catch (e) {
          if (
            !(e instanceof Deno.errors.NotFound) && !(e instanceof HttpError) &&
            !(e instanceof Deno.errors.NotADirectory)
          ) throw e;
        }
      }
      if (index !== undefined) {
        try {
          if (index.info.isFile) return await this.#file(head, join(path, "index.html"), index);
        } finally {
          index.close();
        }
      }
      if (!this.listing) return errorReply(STATUS.Forbidden);
      const choice = chooseListing({ target: head.target, accept: head.headers.get("accept") });
      // The page is reused while the directory is unchanged (lib/server/listing_entries.ts):
      // the variant names all the page depends on besides the entries.
      const body = await this.listings.rendered(
        held,
        `${choice.key}\0${target.path}`,
        ({ entries, truncated }) =>
          renderListing(target.path, entries, choice, {
            archive: this.archive && this.listing,
            truncated,
          }),
      );
      return {
        status: STATUS.OK,
        fields: listingFields(choice.json, body.length),
        body,
        length: body.length,
      };
    }
    if (!info.isFile) return errorReply(STATUS.Forbidden);
    // "/file.txt/" names a directory that does not exist (as nginx answers).
    if (target.trailingSlash) return errorReply(STATUS.NotFound);
    return await this.#file(head, path, held);
  }

  /**
   * Opens the verified regular file `held` (named `path` by the request: the key of the caches)
   * and decides the representation (conditionals, ranges).
   */
  async #file(head: RequestHead, path: string, held: Held): Promise<Reply> {
    const handle = await this.confine.openFile(held);
    try {
      // The stat of the held inode, which is the one opened: the size and version we announce
      // are those of what we will read.
      const info = held.info;
      const mtime = info.mtime?.getTime() ?? 0;
      const v = {
        size: info.size,
        mtimeMs: mtime,
        ino: info.ino,
        dev: info.dev,
        contentType: contentType(path),
        lastModified: httpDate(mtime),
        digest: this.digests?.get(path, info),
      };
      let rep = selectRepresentation(head, v);
      const small = info.size <= SMALL_FILE_MAX_BYTES;
      if (this.digests !== undefined && v.digest === undefined && !small) {
        this.digests.request(path, info);
      }
      if (rep.status === STATUS.PreconditionFailed || rep.status === STATUS.RangeNotSatisfiable) {
        handle.close();
        return errorReply(rep.status, undefined, rep.fields.filter(([k]) => k === "Content-Range"));
      }
      if (rep.status === STATUS.OK && small) {
        // Small: read whole, send with the head in one write, and remember for next time. The
        // digest of a small file costs microseconds, so it is computed here, not in background.
        const body = new Uint8Array(info.size);
        let off = 0;
        while (off < body.length) {
          const n = await handle.read(body.subarray(off));
          if (n === null) break;
          off += n;
        }
        handle.close();
        if (off < body.length) return errorReply(STATUS.InternalServerError);
        if (this.digests !== undefined && v.digest === undefined) {
          v.digest = new Uint8Array(createHash("sha256").update(body).digest());
          this.digests.put(path, info, v.digest);
          rep = selectRepresentation(head, v);
        }
        // Declining sha-256 changes the answer (no Repr-Digest): that one is not remembered.
        const want = head.headers.get("want-repr-digest");
        if (want === undefined || wantsSha256(want)) {
          this.cache.store(head.target, path, info, `ferry/${VERSION}`, rep.fields, body);
        }
        return { status: rep.status, fields: rep.fields, length: rep.length, body };
      }
      if (rep.parts.length === 0 || head.method === "HEAD") {
        handle.close();
        return { status: rep.status, fields: rep.fields, length: rep.length };
      }
      return {
        status: rep.status,
        fields: rep.fields,
        length: rep.length,
        file: { handle, parts: rep.parts, suffix: rep.suffix },
      };
    } catch (e) {
      handle.close();
      throw e;
    }
  }
}
