/**
 * Unit tests of the archive route: which query asks for which archive, the query a redirect
 * keeps, and — over a real temporary tree, in process — that the announced length is exactly
 * what is streamed and that the walk follows GET's policy (dotfiles, links out of the root, a
 * symlink cycle, FIFOs), read back from the tar headers.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ArchiveFolder,
  archiveFormat,
  archiveReply,
  contentDisposition,
  queryOf,
} from "../../lib/server/archive.ts";
import { FileServer } from "../../lib/server/files.ts";
import { HttpError } from "../../lib/http/status.ts";
import type { RequestHead } from "../../lib/http/request.ts";
import type { Held } from "../../lib/server/verified_open.ts";

const decoder = new TextDecoder();

Deno.test("archiveFormat() reads download=tar|zip from the query; anything else there is 400", () => {
  const table: Array<[string, "tar" | "zip" | null | 400]> = [
    ["/d/?download=tar", "tar"],
    ["/d/?download=zip", "zip"],
    ["/d/?sort=name&download=zip", "zip"],
    ["/d/?download=zip#frag", "zip"],
    ["/d/", null],
    ["/d/?sort=size", null],
    ["/d/?xdownload=zip", null],
    ["/d/?download=rar", 400],
    ["/d/?download=", 400],
    ["/d/?download=ZIP", 400],
  ];
  for (const [target, want] of table) {
    let got: "tar" | "zip" | null | 400;
    try {
      got = archiveFormat(target);
    } catch (e) {
      assert.ok(e instanceof HttpError && !e.close, String(e));
      got = e.status as 400;
    }
    assert.deepEqual(got, want, target);
  }
});

Deno.test("queryOf() keeps the query for a redirect, raw bytes and spaces percent-encoded", () => {
  assert.deepEqual(queryOf("/sub"), "");
  assert.deepEqual(queryOf("/sub?x=1"), "?x=1");
  assert.deepEqual(queryOf("/sub?a=1&b=%20#frag"), "?a=1&b=%20");
  assert.deepEqual(queryOf("/sub?q=\xc3\xa9"), "?q=%C3%A9");
});

Deno.test("contentDisposition(): RFC 8187 UTF-8 name (attr-chars kept, the rest %XX), ASCII fallback", () => {
  const table: Array<[string, string]> = [
    ["docs.zip", `attachment; filename="docs.zip"; filename*=UTF-8''docs.zip`],
    [
      "été (1).zip",
      `attachment; filename="_t_ (1).zip"; filename*=UTF-8''%C3%A9t%C3%A9%20%281%29.zip`,
    ],
    [
      'a"b\\c;d%e.tar',
      `attachment; filename="a_b_c_d_e.tar"; filename*=UTF-8''a%22b%5Cc%3Bd%25e.tar`,
    ],
    ["日本.tar", `attachment; filename="__.tar"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.tar`],
  ];
  for (const [name, want] of table) assert.deepEqual(contentDisposition(name), want, name);
});

function head(target: string, method = "GET"): RequestHead {
  return {
    method,
    target,
    version: "HTTP/1.1",
    headers: new Map(),
    keepAlive: true,
    hasBody: false,
  };
}

/** The member names of a tar (pax `path` when there is one). */
function tarNames(tar: Uint8Array): string[] {
  const names: string[] = [];
  let at = 0;
  let pax: string | undefined;
  while (at + 512 <= tar.length && tar[at] !== 0) {
    const h = tar.subarray(at, at + 512);
    const field = (o: number, n: number) =>
      decoder.decode(h.subarray(o, o + n)).replace(/\0.*$/s, "");
    const size = parseInt(field(124, 12), 8);
    const type = String.fromCharCode(h[156]);
    const body = tar.subarray(at + 512, at + 512 + size);
    if (type === "x") pax = /\d+ path=(.*)\n/.exec(decoder.decode(body))?.[1];
    else {
      const prefix = field(345, 155);
      names.push(pax ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100)));
      pax = undefined;
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return names.sort();
}

/** The folder `d` as files.ts hands it over: opened and verified (held until the end). */
const helds: Held[] = [];
async function folder(files: FileServer, d: string, format: "tar" | "zip"): Promise<ArchiveFolder> {
  const held = await files.confine.open(d);
  helds.push(held);
  return { path: d, held, segments: ["d"], format };
}

Deno.test("archiveReply(): the stream is exactly Content-Length, under GET's policy", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ferry-archive-unit-" });
  try {
    const root = join(tmp, "root");
    const d = join(root, "d");
    await Deno.mkdir(join(d, "sub"), { recursive: true });
    await Deno.writeTextFile(join(d, "a.txt"), "a");
    await Deno.writeTextFile(join(d, "sub", "b.txt"), "bb");
    await Deno.writeTextFile(join(d, ".hidden"), "no");
    await Deno.writeTextFile(join(tmp, "outside.txt"), "no");
    await Deno.symlink(join(tmp, "outside.txt"), join(d, "out-link"));
    await Deno.symlink(d, join(d, "sub", "cycle")); // back to d: entered once, never again
    await Deno.symlink(join(d, "a.txt"), join(d, "in-link.txt"));
    await new Deno.Command("mkfifo", { args: [join(d, "fifo")] }).output();
    const files = await FileServer.create({ root });
    for (const format of ["tar", "zip"] as const) {
      const reply = await archiveReply(
        files,
        head(`/d/?download=${format}`),
        await folder(files, d, format),
      );
      const length = Number(reply.fields.find(([k]) => k === "Content-Length")![1]);
      assert.deepEqual(reply.length, length);
      const chunks: Uint8Array[] = [];
      await reply.stream!((p) => {
        chunks.push(p.slice());
        return Promise.resolve();
      });
      const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let off = 0;
      for (const c of chunks) {
        all.set(c, off);
        off += c.length;
      }
      assert.deepEqual(all.length, length, format);
      if (format === "tar") {
        assert.deepEqual(tarNames(all), [
          "d/",
          "d/a.txt",
          "d/in-link.txt",
          "d/sub/",
          "d/sub/b.txt",
        ]);
      } else {
        assert.deepEqual([...all.subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04]);
      }
      // HEAD: the same fields, nothing to stream.
      const h = await archiveReply(files, head("/d/", "HEAD"), await folder(files, d, format));
      assert.deepEqual(h.length, length);
      assert.deepEqual(h.stream, undefined);
    }
    // The dotfile policy and --no-archive.
    const dots = await FileServer.create({ root, dotfiles: true });
    const r = await archiveReply(dots, head("/d/?download=tar"), await folder(dots, d, "tar"));
    const parts: Uint8Array[] = [];
    await r.stream!((p) => {
      parts.push(p.slice());
      return Promise.resolve();
    });
    const tar = new Uint8Array(r.length);
    let at = 0;
    for (const p of parts) {
      tar.set(p, at);
      at += p.length;
    }
    assert.ok(tarNames(tar).includes("d/.hidden"), "with --dotfiles");
    const off = await FileServer.create({ root, archive: false });
    await assert.rejects(
      async () => archiveReply(off, head("/d/?download=tar"), await folder(off, d, "tar")),
      (e: unknown) => e instanceof HttpError && e.status === 403,
    );
  } finally {
    for (const h of helds.splice(0)) h.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
