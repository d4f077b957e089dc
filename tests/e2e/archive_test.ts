/**
 * End to end: folders downloaded as tar and zip from the real `server.ts` by curl, unpacked by
 * GNU tar, Info-ZIP unzip and Python's tarfile/zipfile, and compared file by file (sha-256) with
 * the tree on disk — 10,000 small files, unicode and long names, empty folders — under the same
 * dotfile, symlink and FIFO policy as GET; and a file that changes while it is being sent cuts
 * the transfer (curl fails) instead of finishing a wrong archive.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pattern, sha256 } from "../client/cli.ts";
import { rawRequest, startServer } from "./raw.ts";
import { havePeer } from "./peers.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Files of the fixture as path (relative to the served folder) → sha-256. */
type Tree = Map<string, string>;

const LONG_DIR = "d".repeat(120);
const LONG_FILE = "f".repeat(200); // with LONG_DIR and the prefix: a path over 255 bytes
const EMPTY_DIRS = ["tree/empty", "tree/nested/empty/deeper"];

/** The fixture: DIR/tree with everything that must be archived, plus what must not be. */
async function makeTree(root: string): Promise<Tree> {
  const files: Tree = new Map();
  const put = async (rel: string, data: Uint8Array) => {
    await Deno.writeFile(join(root, rel), data);
    files.set(rel, sha256(data));
  };
  const base = join(root, "tree");
  await Deno.mkdir(join(base, "many"), { recursive: true });
  for (let d = 0; d < 100; d++) await Deno.mkdir(join(base, "many", `d${d}`));
  for (let i = 0; i < 10_000; i++) {
    // Synchronous: 10,000 async writes (open, write, close each) took seconds on a loaded box.
    const rel = `tree/many/d${i % 100}/f${i}.txt`;
    const data = encoder.encode(`file ${i}\n`.repeat(i % 5));
    Deno.writeFileSync(join(root, rel), data);
    files.set(rel, sha256(data));
  }
  await Deno.mkdir(join(base, "ünïcødé ✓", "日本語"), { recursive: true });
  await put("tree/ünïcødé ✓/日本語/ファイル.txt", encoder.encode("こんにちは\n"));
  await put("tree/ünïcødé ✓/é.bin", pattern(100_000, 7));
  await Deno.mkdir(join(base, LONG_DIR));
  await put(`tree/${LONG_DIR}/${LONG_FILE}`, encoder.encode("long\n"));
  await put("tree/big.bin", pattern(3 * 1024 * 1024 + 17, 11));
  for (const d of EMPTY_DIRS) await Deno.mkdir(join(root, d), { recursive: true });
  // Not archived: a dotfile and a dot-folder, a FIFO, a link out of the root, a broken link.
  await Deno.writeTextFile(join(base, ".secret"), "no");
  await Deno.mkdir(join(base, ".git"));
  await Deno.writeTextFile(join(base, ".git", "config"), "no");
  await new Deno.Command("mkfifo", { args: [join(base, "fifo")] }).output();
  await Deno.writeTextFile(join(root, "..", "outside-" + root.split("/").pop()), "no");
  await Deno.symlink(join(root, "..", "outside-" + root.split("/").pop()), join(base, "out"));
  await Deno.symlink(join(base, "nowhere"), join(base, "broken"));
  // Archived, as GET serves it: a link that stays inside the root (as the file it names).
  await Deno.symlink(join(base, "big.bin"), join(base, "link-in.bin"));
  files.set("tree/link-in.bin", files.get("tree/big.bin")!);
  return files;
}

/** Every file under `dir` as path relative to `dir` → sha-256, and the folders. */
async function readTree(dir: string, rel = ""): Promise<{ files: Tree; dirs: Set<string> }> {
  const files: Tree = new Map();
  const dirs = new Set<string>();
  const walk = async (d: string, r: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      const rp = r === "" ? e.name : `${r}/${e.name}`;
      if (e.isDirectory) {
        dirs.add(rp);
        await walk(p, rp);
      } else files.set(rp, sha256(await Deno.readFile(p)));
    }
  };
  await walk(dir, rel);
  return { files, dirs };
}

function assertSameTree(got: { files: Tree; dirs: Set<string> }, want: Tree, how: string): void {
  const missing = [...want.keys()].filter((k) => !got.files.has(k));
  const extra = [...got.files.keys()].filter((k) => !want.has(k));
  assert.deepEqual(missing, [], `${how}: missing`);
  assert.deepEqual(extra, [], `${how}: not in the tree`);
  for (const [k, v] of want) assert.deepEqual(got.files.get(k), v, `${how}: ${k}`);
  for (const d of EMPTY_DIRS) assert.ok(got.dirs.has(d), `${how}: empty folder ${d}`);
}

async function run(cmd: string, args: string[], cwd?: string) {
  const r = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  return { code: r.code, out: decoder.decode(r.stdout), err: decoder.decode(r.stderr) };
}

Deno.test("folders as tar and zip: curl + tar/unzip/python recreate the tree byte for byte", async (t) => {
  if (!havePeer("curl")) return;
  const tmp = await Deno.makeTempDir({ prefix: "ferry-archive-" });
  const root = join(tmp, "site");
  await Deno.mkdir(root);
  const want = await makeTree(root);
  const server = await startServer(root, ["--log", "none"]);
  try {
    const base = server.url + "tree/";
    for (const format of ["tar", "zip"] as const) {
      const file = join(tmp, `tree.${format}`);
      const headers = join(tmp, `${format}.head`);
      await t.step(`${format}: curl downloads it whole`, async () => {
        const r = await run("curl", [
          "-sS",
          "--fail",
          "-D",
          headers,
          "-o",
          file,
          `${base}?download=${format}`,
        ]);
        assert.deepEqual(r.code, 0, r.err);
        const head = await Deno.readTextFile(headers);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
        assert.deepEqual((await Deno.stat(file)).size, length);
        assert.match(
          head,
          new RegExp(
            `content-disposition: attachment; filename="tree.${format}"; filename\\*=UTF-8''tree.${format}`,
            "i",
          ),
        );
        // HEAD announces the same length, without a body.
        const h = await rawRequest(
          server.port,
          `HEAD /tree/?download=${format} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        );
        assert.match(h.text, new RegExp(`content-length: ${length}\r\n`, "i"));
      });
      if (format === "tar" && havePeer("tar")) {
        await t.step("tar -x", async () => {
          const out = join(tmp, "x-tar");
          await Deno.mkdir(out);
          const r = await run("tar", ["-xf", file, "-C", out]);
          assert.deepEqual(r.code, 0, r.err);
          assertSameTree(await readTree(out), want, "tar -x");
        });
      }
      if (format === "zip" && havePeer("unzip")) {
        await t.step("unzip -t, unzip", async () => {
          const test = await run("unzip", ["-tq", file]);
          assert.deepEqual(test.code, 0, test.out);
          const out = join(tmp, "x-zip");
          await Deno.mkdir(out);
          const r = await run("unzip", ["-q", file, "-d", out]);
          assert.deepEqual(r.code, 0, r.err);
          assertSameTree(await readTree(out), want, "unzip");
        });
      }
      if (havePeer("python3")) {
        await t.step(`python ${format}file`, async () => {
          const script = format === "zip"
            ? "import sys,zipfile,hashlib,json\nz=zipfile.ZipFile(sys.argv[1])\n" +
              "print(json.dumps({i.filename:hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist() if not i.is_dir()}))"
            : "import sys,tarfile,hashlib,json\nt=tarfile.open(sys.argv[1])\n" +
              "print(json.dumps({m.name:hashlib.sha256(t.extractfile(m).read()).hexdigest() for m in t.getmembers() if m.isfile()}))";
          const r = await run("python3", ["-c", script, file]);
          assert.deepEqual(r.code, 0, r.err);
          const got = new Map(Object.entries(JSON.parse(r.out) as Record<string, string>));
          assertSameTree({ files: got, dirs: new Set(EMPTY_DIRS) }, want, `python ${format}`);
        });
      }
    }
    await t.step("a unicode folder's name: filename* in UTF-8, an ASCII fallback", async () => {
      const r = await rawRequest(
        server.port,
        `HEAD /tree/%C3%BCn%C3%AFc%C3%B8d%C3%A9%20%E2%9C%93/?download=zip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      assert.match(
        r.text,
        /content-disposition: attachment; filename="_n_c_d_ _\.zip"; filename\*=UTF-8''%C3%BCn%C3%AFc%C3%B8d%C3%A9%20%E2%9C%93\.zip\r\n/i,
      );
    });
    await t.step(
      "an unknown format is 400; a folder outside is 404; no slash redirects with the query",
      async () => {
        const bad = await rawRequest(
          server.port,
          "GET /tree/?download=rar HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert.deepEqual(bad.status, 400);
        const dot = await rawRequest(
          server.port,
          "GET /tree/.git/?download=tar HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert.deepEqual(dot.status, 404);
        const redirect = await rawRequest(
          server.port,
          "GET /tree?download=zip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert.deepEqual(redirect.status, 301);
        assert.match(redirect.text, /\r\nlocation: \/tree\/\?download=zip\r\n/i);
      },
    );
  } finally {
    await server.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("--no-archive answers 403 and the listing page offers no archive links; --no-listing 403", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "ferry-archive-" });
  try {
    await Deno.writeTextFile(join(tmp, "a.txt"), "a");
    // With archives on, the listing page links both formats.
    const on = await startServer(tmp, ["--log", "none"]);
    try {
      const page = await (await fetch(on.url)).text();
      assert.ok(page.includes(`href="?download=zip"`) && page.includes(`href="?download=tar"`));
    } finally {
      await on.stop();
    }
    for (const flag of ["--no-archive", "--no-listing"]) {
      const server = await startServer(tmp, ["--log", "none", flag]);
      try {
        for (const f of ["tar", "zip"]) {
          const r = await rawRequest(
            server.port,
            `GET /?download=${f} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
          );
          assert.deepEqual(r.status, 403, `${flag} ${f}`);
        }
        if (flag === "--no-archive") {
          const page = await (await fetch(server.url)).text();
          assert.ok(page.includes("a.txt") && !page.includes("?download="), "no archive links");
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a file that shrinks, grows or vanishes mid-archive cuts the transfer (curl fails), logged as aborted", async (t) => {
  if (!havePeer("curl")) return;
  const tmp = await Deno.makeTempDir({ prefix: "ferry-archive-" });
  // 32 MiB, sparse: more than the socket buffers and the server's two buffers hold, so the
  // server is still reading it when the test changes it (curl reads at 16 MiB/s).
  const SIZE = 32 * 1024 * 1024;
  const server = await startServer(tmp, ["--no-dns"]);
  try {
    // What each change does to the folder; `first` is the file sent first (in directory order).
    const changes: Array<[string, (dir: string, first: string) => Promise<void>]> = [
      ["the file being sent shrinks", (dir, first) => Deno.truncate(join(dir, first), 1024 * 1024)],
      ["the file being sent grows", async (dir, first) => {
        const f = await Deno.open(join(dir, first), { append: true });
        await f.write(new Uint8Array(4096).fill(1));
        f.close();
      }],
      // Files after the first, past the server's read-ahead of 32 (not yet opened), vanish.
      ["files not opened yet vanish", async (dir, first) => {
        for await (const e of Deno.readDir(dir)) {
          if (e.name !== first) await Deno.remove(join(dir, e.name));
        }
      }],
    ];
    for (const format of ["tar", "zip"]) {
      for (const [what, change] of changes) {
        await t.step(`${format}: ${what}`, async () => {
          const dir = join(tmp, `${format}-${what.replaceAll(" ", "-")}`);
          await Deno.mkdir(dir);
          await Deno.writeFile(join(dir, "big.bin"), new Uint8Array(0));
          await Deno.truncate(join(dir, "big.bin"), SIZE);
          // 40 small files that the walk reaches after big.bin (directory order is the file
          // system's: names that come before it are dropped), so that big.bin is being sent
          // when the change comes, and some of them are not opened yet.
          let after = 0;
          for (let i = 0; i < 1000 && after < 40; i++) {
            await Deno.writeTextFile(join(dir, `s${i}.txt`), `small ${i}\n`);
            let seenBig = false;
            let isAfter = false;
            for await (const e of Deno.readDir(dir)) {
              if (e.name === "big.bin") seenBig = true;
              else if (e.name === `s${i}.txt`) isAfter = seenBig;
            }
            if (isAfter) after++;
            else await Deno.remove(join(dir, `s${i}.txt`));
          }
          assert.deepEqual(after, 40);
          const first = "big.bin";
          const curl = new Deno.Command("curl", {
            args: [
              "-sS",
              "--limit-rate",
              "16M",
              "-o",
              join(tmp, `${format}-${what.replaceAll(" ", "-")}.out`),
              `${server.url}${format}-${what.replaceAll(" ", "-")}/?download=${format}`,
            ],
            stdout: "null",
            stderr: "piped",
          }).spawn();
          // The change comes once body bytes arrive: the first walk is over (the length is
          // announced) and big.bin is being sent.
          const deadline = Date.now() + 10_000;
          while (Date.now() < deadline) {
            const got = await Deno.stat(join(tmp, `${format}-${what.replaceAll(" ", "-")}.out`))
              .catch(() => null);
            if (got !== null && got.size > 65536) break;
            await new Promise((r) => setTimeout(r, 10));
          }
          await change(dir, first);
          const r = await curl.output();
          assert.notDeepEqual(r.code, 0, "curl must see a cut transfer, not a complete archive");
          // Cut short: closed before the announced length (18), or reset (56).
          assert.ok([18, 56].includes(r.code), `curl exit ${r.code}`);
          assert.match(decoder.decode(r.stderr), /transfer closed|end of response|reset/i);
        });
      }
    }
    // The log names each cut response: the body bytes that went out, and "aborted".
    const deadline = Date.now() + 3000;
    let lines: string[] = [];
    while (Date.now() < deadline) {
      lines = server.stdout().split("\n").filter((l) => /download=/.test(l) && / aborted$/.test(l));
      if (lines.length === 6) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(lines.length, 6, server.stdout());
    for (const l of lines) {
      const m = /" 200 (\d+) [\d.]+ms "curl\/[^"]*" aborted$/.exec(l);
      assert.ok(m !== null, l);
      assert.ok(Number(m[1]) > 0 && Number(m[1]) < 2 * SIZE, l);
    }
  } finally {
    await server.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
