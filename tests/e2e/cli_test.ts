/**
 * End to end: the server's first five minutes — the command line with its defaults and its
 * errors, permissions checked at start (never a prompt while serving), and the ways to
 * distribute both programs offline (`deno install -g`, `deno bundle`), `--workers` included.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256 } from "../client/cli.ts";
import { SERVER_TS, startServer } from "./raw.ts";
import { parseServerArgs } from "../../server.ts";
import { DEFAULTS } from "../../lib/server/listen.ts";
import { parseArgsError, suggest } from "../../lib/cli_errors.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;
const CLIENT_TS = join(REPO_ROOT, "client.ts");
const decoder = new TextDecoder();

async function run(
  args: string[],
  options: { cmd?: string; cwd?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(options.cmd ?? Deno.execPath(), {
    args,
    cwd: options.cwd ?? REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: r.code, out: decoder.decode(r.stdout), err: decoder.decode(r.stderr) };
}

async function fixture(): Promise<{ dir: string; sum: string }> {
  const dir = await Deno.makeTempDir({ prefix: "ferry-cli-" });
  const data = new TextEncoder().encode("hello from the first five minutes\n".repeat(100));
  await Deno.writeFile(join(dir, "hello.txt"), data);
  return { dir, sum: sha256(data) };
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

Deno.test("parseServerArgs: PORT defaults to 8000 and DIR to the current directory", () => {
  assert.equal(DEFAULTS.port, 8000);
  const none = parseServerArgs([]).options;
  assert.equal(none.port, 8000);
  assert.equal(none.root, ".");
  const portOnly = parseServerArgs(["9089"]).options;
  assert.equal(portOnly.port, 9089);
  assert.equal(portOnly.root, ".");
  const seed = parseServerArgs(["9089", REPO_ROOT]).options;
  assert.equal(seed.port, 9089);
  assert.equal(seed.root, REPO_ROOT);
});

Deno.test("suggest() and parseArgsError(): house-style lines with 'did you mean'", () => {
  const known = ["--host", "--workers", "--no-listing", "--dotfiles", "-h"];
  for (
    const [typed, want] of [
      ["--hots", "--host"],
      ["--worker", "--workers"],
      ["--wrokers", "--workers"],
      ["--no-list", "--no-listing"],
      ["--dotfile=1", "--dotfiles"],
      ["--zzzzzz", undefined],
      ["-x", undefined],
      ["-H", "-h"],
      ["--HOST", "--host"],
    ] as Array<[string, string | undefined]>
  ) assert.equal(suggest(typed, known), want, typed);
  const err = (code: string, message: string) => Object.assign(new Error(message), { code });
  const table = { host: { type: "string" as const }, dotfiles: { type: "boolean" as const } };
  for (
    const [e, want] of [
      [
        err(
          "ERR_PARSE_ARGS_UNKNOWN_OPTION",
          "Unknown option '--hots'. To specify a positional argument starting with a '-', " +
            "place it at the end of the command after '--', as in '-- \"--hots\"",
        ),
        "unknown option --hots (did you mean --host?)",
      ],
      [
        err("ERR_PARSE_ARGS_INVALID_OPTION_VALUE", "Option '--host <value>' argument missing"),
        "--host needs a value",
      ],
      [
        err(
          "ERR_PARSE_ARGS_INVALID_OPTION_VALUE",
          "Option '--host' argument is ambiguous.\nDid you forget to specify the option " +
            "argument for '--host'?\nTo specify an option argument starting with a dash use " +
            "'--host=-XYZ'.",
        ),
        '--host needs a value (to pass one that starts with "-", write --host=VALUE)',
      ],
      [
        err("ERR_PARSE_ARGS_INVALID_OPTION_VALUE", "Option '--dotfiles' does not take an argument"),
        "--dotfiles takes no value",
      ],
    ] as Array<[Error, string]>
  ) assert.equal(parseArgsError(e, table), want);
});

Deno.test("server.ts: every argument error is one line and a hint, exit 2", async () => {
  const { dir } = await fixture();
  const file = join(dir, "hello.txt");
  try {
    for (
      const [args, msg] of [
        [
          ["abc"],
          /^server\.ts: PORT must be a whole number .*got "abc" \(to serve a directory: server\.ts 8000 DIR\)$/,
        ],
        [["70000", dir], /^server\.ts: PORT must be a whole number from 0 to 65535, got "70000"$/],
        [["0", join(dir, "missing")], /^server\.ts: DIR ".*missing" does not exist$/],
        [["0", file], /^server\.ts: DIR ".*hello\.txt" is not a directory$/],
        [["0", dir, "extra"], /^server\.ts: unexpected argument "extra"/],
        [
          ["--hots", "::1", "0", dir],
          /^server\.ts: unknown option --hots \(did you mean --host\?\)$/,
        ],
        [["--wrokers", "2", "0", dir], /did you mean --workers\?/],
        [["--bogus", "0", dir], /^server\.ts: unknown option --bogus$/],
        // Options of python -m http.server, miniserve, dufs: said, not guessed (--port ≠ --host).
        [["--port", "0", dir], /^server\.ts: unknown option --port: PORT is an argument: /],
        [["--port=0", dir], /^server\.ts: unknown option --port: PORT is an argument: /],
        [["-b", "::1", "0"], /^server\.ts: unknown option -b: the address to bind is --host ADDR$/],
        [["--directory", dir], /^server\.ts: unknown option --directory: DIR is an argument/],
        [["0", dir, "--host"], /^server\.ts: --host needs a value$/],
        [["--host", "--workers", "0", dir], /^server\.ts: --host needs a value \(to pass one/],
        [["--dotfiles=yes", "0", dir], /^server\.ts: --dotfiles takes no value$/],
        [["--log", "loud", "0", dir], /^server\.ts: --log must be text, json or none, got "loud"$/],
      ] as Array<[string[], RegExp]>
    ) {
      const r = await run(["run", "-A", SERVER_TS, ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      const lines = r.err.trimEnd().split("\n");
      assert.equal(lines.length, 2, `one line and a hint for ${args.join(" ")}: ${r.err}`);
      assert.match(lines[0], msg);
      assert.equal(lines[1], "Try 'server.ts --help' for every option and its default.");
      assert.doesNotMatch(r.err, /To specify|Did you forget|Option '/);
      assert.equal((r.err.match(/"/g) ?? []).length % 2, 0, `balanced quotes: ${r.err}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts with PORT only serves the current directory", async () => {
  const { dir, sum } = await fixture();
  const server = await startServer(dir, [], {
    launch: {
      cmd: Deno.execPath(),
      args: ["run", "-A", SERVER_TS, "--log", "none", "0"],
      cwd: dir,
    },
  });
  try {
    const r = await fetch(`${server.url}hello.txt`);
    assert.equal(r.status, 200);
    assert.equal(sha256(new Uint8Array(await r.arrayBuffer())), sum);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts: a missing permission is said as such, at start, exit 1", async () => {
  const { dir } = await fixture();
  try {
    const noRead = await run(["run", "--allow-net", SERVER_TS, "0", dir]);
    assert.equal(noRead.code, 1, noRead.err);
    assert.match(noRead.err, /permission denied: reading DIR ".*" needs --allow-read/);
    assert.doesNotMatch(noRead.err, /does not exist/);
    const noNet = await run(["run", `--allow-read=${dir}`, SERVER_TS, "0", dir]);
    assert.equal(noNet.code, 1, noNet.err);
    assert.match(noNet.err, /permission denied: listening on 127\.0\.0\.1:0 needs --allow-net/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts with a restricted --allow-net serves, reverse DNS off with a warning", async () => {
  const { dir, sum } = await fixture();
  const server = await startServer(dir, [], {
    launch: {
      cmd: Deno.execPath(),
      args: ["run", `--allow-read=${dir}`, "--allow-net=127.0.0.1", SERVER_TS, "0", dir],
    },
  });
  try {
    const r = await fetch(`${server.url}hello.txt`);
    assert.equal(sha256(new Uint8Array(await r.arrayBuffer())), sum);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
  assert.match(server.stderr(), /warning: reverse DNS off: .*needs --allow-(read|net)=/);
});

Deno.test("server.ts on a terminal never waits at a permission prompt", async (t) => {
  const script = ["/usr/bin/script", "/bin/script"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!script) {
    if (Deno.env.get("CI") === "true") throw new Error("script(1) (bsdutils) is missing");
    console.log("  (skipped: script(1) not found, no pseudo-terminal to test with)");
    return;
  }
  const { dir } = await fixture();
  try {
    await t.step("without --allow-read: exits 1 with the reason instead of prompting", async () => {
      // script(1) gives the server a pseudo-terminal, where Deno would prompt; stdin stays
      // /dev/null, so a prompt would fail or hang rather than be answered. `timeout` bounds it.
      const cmd = `timeout 20 ${Deno.execPath()} run --allow-net ${SERVER_TS} 0 ${dir}`;
      const r = await run(["-qec", cmd, "/dev/null"], { cmd: script });
      assert.equal(r.code, 1, r.out + r.err);
      assert.match(r.out, /permission denied: reading DIR/);
      assert.doesNotMatch(r.out, /Allow\?|Deno requests|Granted|┏/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts --workers without --unstable-net: a clear line, exit 1", async () => {
  const { dir } = await fixture();
  try {
    const r = await run(["run", "-A", "--no-config", SERVER_TS, "--workers", "2", "0", dir]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /--workers needs the runtime flag --unstable-net/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno install -g and deno bundle: both programs work offline, --workers too", async (t) => {
  const { dir, sum } = await fixture();
  const scratch = await Deno.makeTempDir({ prefix: "ferry-dist-" });
  const download = async (client: { cmd: string; args: string[] }, port: number, into: string) => {
    const r = await run([...client.args, "127.0.0.1", String(port), "hello.txt", into], {
      cmd: client.cmd,
      cwd: scratch,
    });
    assert.equal(r.code, 0, r.out + r.err);
    assert.equal(sha256(await Deno.readFile(join(into, "hello.txt"))), sum);
  };
  try {
    await t.step("deno install -g (as the README says), --workers 2", async () => {
      const root = join(scratch, "root");
      for (
        const [name, file, perms] of [
          ["ferry-server", SERVER_TS, ["-A", "--unstable-net"]],
          ["ferry-client", CLIENT_TS, ["--allow-net", "--allow-read", "--allow-write"]],
        ] as Array<[string, string, string[]]>
      ) {
        const r = await run(["install", "-g", ...perms, "--root", root, "-n", name, file]);
        assert.equal(r.code, 0, r.err);
      }
      const server = await startServer(dir, [], {
        launch: {
          cmd: join(root, "bin", "ferry-server"),
          args: ["--workers", "2", "--log", "none", "0", dir],
          cwd: scratch,
        },
      });
      try {
        const r = await get(`${server.url}hello.txt`);
        assert.equal(r.status, 200);
        await download(
          { cmd: join(root, "bin", "ferry-client"), args: [] },
          server.port,
          join(scratch, "dl1"),
        );
      } finally {
        await server.stop();
      }
    });
    await t.step("deno bundle: one file per tool, --workers 2 from the bundle", async () => {
      const out = join(scratch, "dist");
      for (const [file, name] of [[SERVER_TS, "ferry-server.js"], [CLIENT_TS, "ferry-client.js"]]) {
        const r = await run(["bundle", "-q", "-o", join(out, name), file]);
        assert.equal(r.code, 0, r.err);
      }
      // Copied elsewhere, so that nothing can be loaded from the repository beside it.
      const alone = join(scratch, "alone");
      await Deno.mkdir(alone);
      for (const name of ["ferry-server.js", "ferry-client.js"]) {
        await Deno.copyFile(join(out, name), join(alone, name));
      }
      const server = await startServer(dir, [], {
        launch: {
          cmd: Deno.execPath(),
          args: [
            "run",
            "-A",
            "--unstable-net",
            "--no-config",
            join(alone, "ferry-server.js"),
            "--workers",
            "2",
            "--log",
            "none",
            "0",
            dir,
          ],
          cwd: alone,
        },
      });
      try {
        for (let i = 0; i < 4; i++) assert.equal((await get(`${server.url}hello.txt`)).status, 200);
        await download(
          {
            cmd: Deno.execPath(),
            args: ["run", "-A", "--no-config", join(alone, "ferry-client.js")],
          },
          server.port,
          join(scratch, "dl2"),
        );
      } finally {
        await server.stop();
      }
    });
  } finally {
    await Deno.remove(scratch, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});
