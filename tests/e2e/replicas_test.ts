/**
 * Validators stable across replicas: the same tree copied with `cp -p` and with `rsync -a`,
 * each served by its own instance, gives the same ETag, Last-Modified and Repr-Digest for every
 * file — though every copy has other inode numbers. A copy that does not keep mtimes (plain
 * `cp`) gives other ETags: what README says a replica must preserve.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { havePeer, peerPath } from "./peers.ts";
import { rawRequest, startServer } from "./raw.ts";
import { pattern } from "../client/cli.ts";

async function copy(cmd: string, args: string[]): Promise<void> {
  const r = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

const FILES: Record<string, number> = { "small.txt": 100, "sub/big.bin": 300_000 };

async function validators(port: number, path: string) {
  const r = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, {
    timeoutMs: 5_000,
  });
  assert.equal(r.status, 200, path);
  const head = r.text.slice(0, r.text.indexOf("\r\n\r\n"));
  const f = (n: string) => new RegExp(`\\r\\n${n}: *([^\\r\\n]*)`, "i").exec(head)?.[1];
  return { etag: f("etag"), lastModified: f("last-modified"), digest: f("repr-digest") };
}

Deno.test("replicas made by cp -p and rsync -a give identical ETag, Last-Modified and Repr-Digest", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ferry-replicas-" });
  const src = join(tmp, "src");
  await Deno.mkdir(join(src, "sub"), { recursive: true });
  for (const [name, size] of Object.entries(FILES)) {
    await Deno.writeFile(join(src, name), pattern(size, size));
    // An mtime with a sub-millisecond part, as real files have.
    await copy("touch", ["-d", "2024-02-29 12:34:56.789123456", join(src, name)]);
  }
  const copies: Array<[string, string]> = [["cp -p", join(tmp, "cp")]];
  await copy("cp", ["-p", "-R", src, copies[0][1]]);
  if (havePeer("rsync")) {
    copies.push(["rsync -a", join(tmp, "rsync")]);
    await copy(peerPath("rsync")!, ["-a", `${src}/`, `${join(tmp, "rsync")}/`]);
  }
  const plain = join(tmp, "plain");
  await copy("cp", ["-R", src, plain]); // mtimes not kept
  const servers = [];
  try {
    for (const [, dir] of [["source", src], ...copies]) {
      servers.push(await startServer(dir, ["--log", "none"]));
    }
    const plainServer = await startServer(plain, ["--log", "none"]);
    servers.push(plainServer);
    for (const name of Object.keys(FILES)) {
      // Different inodes: the copies are not hard links, so the test is not vacuous.
      const inodes = new Set(
        [src, ...copies.map(([, d]) => d)].map((d) => Deno.statSync(join(d, name)).ino),
      );
      assert.equal(inodes.size, 1 + copies.length, `${name}: inodes ${[...inodes]}`);
      const want = await validators(servers[0].port, `/${name}`);
      assert.ok(want.etag !== undefined && want.lastModified !== undefined);
      for (let i = 0; i < copies.length; i++) {
        const got = await validators(servers[i + 1].port, `/${name}`);
        assert.equal(got.etag, want.etag, `${copies[i][0]}: ${name} ETag`);
        assert.equal(got.lastModified, want.lastModified, `${copies[i][0]}: ${name} Last-Modified`);
      }
      const other = await validators(plainServer.port, `/${name}`);
      assert.notEqual(
        other.etag,
        want.etag,
        `plain cp (new mtime) must change the ETag of ${name}`,
      );
    }
    // Repr-Digest: content only. The big file's digest is computed in the background after
    // the first request; ask until every server has it (bounded).
    for (const name of Object.keys(FILES)) {
      const digests = new Set<string | undefined>();
      for (const s of servers) {
        let d: string | undefined;
        for (let i = 0; i < 100 && d === undefined; i++) {
          d = (await validators(s.port, `/${name}`)).digest;
          if (d === undefined) await new Promise((r) => setTimeout(r, 30));
        }
        digests.add(d);
      }
      assert.equal(digests.size, 1, `${name}: Repr-Digest differs: ${[...digests]}`);
      assert.ok([...digests][0] !== undefined, `${name}: no Repr-Digest`);
    }
  } finally {
    for (const s of servers) await s.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
