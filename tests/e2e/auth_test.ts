/**
 * End to end: `server.ts --auth/--auth-file` (HTTP Basic) against curl and `client.ts`: 401
 * without or with wrong credentials — the same 401 for a path that exists and one that does
 * not, listings included — 200 with the right ones (curl -u, client --user, URL userinfo), the
 * 429 after repeated failures while another address is still served, and no password in any
 * log line (text and JSON).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { pattern, runCli, sha256 } from "../client/cli.ts";
import { startServer } from "./raw.ts";
import { havePeer } from "./peers.ts";
import { MAX_FAILURES_PER_MINUTE } from "../../lib/server/auth.ts";

const SERVER_TS = new URL("../../server.ts", import.meta.url).pathname;
const dec = new TextDecoder();
const DATA = pattern(300_000, 5);

async function curl(args: string[]) {
  const r = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "20", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: r.stdout, text: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** `server.ts --hash-password USER` with `password` on stdin: the --auth-file line. */
async function hashLine(user: string, password: string): Promise<string> {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SERVER_TS, "--hash-password", user],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(password + "\n"));
  await w.close();
  const out = await p.output();
  assert.ok(out.success, dec.decode(out.stderr));
  return dec.decode(out.stdout).trim();
}

/** The head of a curl -i answer without Date (which changes by the second). */
const headOf = (text: string) =>
  text.split("\r\n\r\n")[0].split("\r\n").filter((l) => !l.startsWith("Date:")).join("\n");

Deno.test("server.ts --auth/--auth-file: 401 the same for every path, 200 with the right credentials (curl, client --user, URL userinfo), 429 per address, no password logged", async (t) => {
  if (!havePeer("curl")) return;
  const dir = await Deno.makeTempDir({ prefix: "ferry-auth-" });
  const root = join(dir, "root");
  await Deno.mkdir(join(root, "sub"), { recursive: true });
  await Deno.writeFile(join(root, "data.bin"), DATA);
  const users = join(dir, "users");
  const line = await hashLine("bob", "hunter2 ü");
  assert.match(line, /^bob:scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  await Deno.writeTextFile(users, `# users\n${line}\n`);
  const servers = [
    await startServer(root, ["--auth", "ann:pass word:1", "--auth-file", users]),
    await startServer(root, ["--auth", "ann:pass word:1", "--log", "json"]),
  ];
  const [server, jsonServer] = servers;
  const url = `${server.url}data.bin`;
  const secrets = ["pass word:1", "hunter2", btoa("ann:pass word:1")];
  try {
    await t.step(
      "curl: 401 with the challenge; identical for an existing path, a missing one and the listing",
      async () => {
        const a = await curl(["-i", url]);
        const b = await curl(["-i", `${server.url}no-such-file`]);
        const c = await curl(["-i", `${server.url}sub/`]);
        const d = await curl(["-i", "-u", "ann:wrong", `${server.url}no-such-file`]);
        assert.match(a.text, /^HTTP\/1\.1 401 Unauthorized\r\n/);
        assert.match(a.text, /\r\nWWW-Authenticate: Basic realm="Ferry", charset="UTF-8"\r\n/);
        assert.equal(headOf(b.text), headOf(a.text));
        assert.equal(headOf(c.text), headOf(a.text));
        assert.equal(headOf(d.text), headOf(a.text));
        assert.equal(b.text.split("\r\n\r\n")[1], a.text.split("\r\n\r\n")[1]);
      },
    );
    await t.step(
      "curl -u: wrong 401, right 200 (--auth and --auth-file users, UTF-8)",
      async () => {
        assert.match((await curl(["-i", "-u", "ann:pass", url])).text, /^HTTP\/1\.1 401/);
        let r = await curl(["--fail", "-u", "ann:pass word:1", url]);
        assert.equal(r.code, 0, r.err);
        assert.equal(sha256(r.out), sha256(DATA));
        r = await curl(["--fail", "-u", "bob:hunter2 ü", url]);
        assert.equal(r.code, 0, r.err);
        assert.equal(sha256(r.out), sha256(DATA));
        r = await curl(["--fail", "-u", "ann:pass word:1", `${server.url}sub/`]);
        assert.equal(r.code, 0, "the listing with credentials");
        assert.match((await curl(["-i", "-u", "nobody:x", url])).text, /^HTTP\/1\.1 401/);
      },
    );
    await t.step(
      "client.ts: none → exit 4 with the --user hint; wrong → exit 4; --user and URL userinfo → saved",
      async () => {
        let r = await runCli([url, join(dir, "c1")]);
        assert.equal(r.code, 4, r.stderr);
        assert.match(r.stderr, /401.*pass --user USER:PASS/);
        r = await runCli(["--user", "ann:nope", url, join(dir, "c2")]);
        assert.equal(r.code, 4, r.stderr);
        assert.match(r.stderr, /credentials were refused/);
        r = await runCli(["-v", "--user", "ann:pass word:1", url, join(dir, "c3")]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(sha256(await Deno.readFile(join(dir, "c3", "data.bin"))), sha256(DATA));
        assert.match(r.stdout, /> Authorization: Basic \*\*\*\n/);
        const withUser = url.replace("://", "://bob:hunter2%20%C3%BC@");
        r = await runCli([withUser, join(dir, "c4")]);
        assert.equal(r.code, 0, r.stderr);
        r = await runCli(["--json", "-u", "ann:pass word:1", url, join(dir, "c5")]);
        assert.equal(r.code, 0, r.stderr);
        const headers: Array<[string, string]> = JSON.parse(r.stdout).request.headers;
        assert.deepEqual(headers.find(([k]) => k === "Authorization"), [
          "Authorization",
          "Basic ***",
        ]);
        for (const s of secrets) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), s);
      },
    );
    await t.step(
      `after ${MAX_FAILURES_PER_MINUTE} refused attempts: 429 + Retry-After for that address; another address still gets 200`,
      async () => {
        const from = ["--interface", "127.0.0.3"];
        for (let i = 0; i < MAX_FAILURES_PER_MINUTE; i++) {
          const r = await curl([
            ...from,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            "ann:x",
            url,
          ]);
          assert.equal(r.text, "401", r.err);
        }
        const r = await curl([...from, "-i", "-u", "ann:pass word:1", url]);
        assert.match(r.text, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
        const after = Number(/\r\nRetry-After: (\d+)\r\n/.exec(r.text)?.[1]);
        assert.ok(after >= 1 && after <= 60, r.text.slice(0, 300));
        const other = await curl([
          "--interface",
          "127.0.0.4",
          "--fail",
          "-u",
          "ann:pass word:1",
          url,
        ]);
        assert.equal(other.code, 0, other.err);
        assert.equal(sha256(other.out), sha256(DATA));
      },
    );
    await t.step("JSON log: the user per request, never a password", async () => {
      const r = await curl(["--fail", "-o", "/dev/null", "-u", "ann:pass word:1", jsonServer.url]);
      assert.equal(r.code, 0);
      await curl(["-o", "/dev/null", "-u", "ann:wrong-pw", jsonServer.url]);
      let log = "";
      for (let i = 0; i < 40 && !log.includes("(refused)"); i++) {
        await new Promise((res) => setTimeout(res, 50));
        log = jsonServer.stdout();
      }
      const requests = log.split("\n").filter((l) => l.includes('"event":"request"')).map((l) =>
        JSON.parse(l)
      );
      assert.ok(requests.some((e) => e.user === "ann" && e.status === 200), log);
      assert.ok(requests.some((e) => e.user === "ann (refused)" && e.status === 401), log);
      assert.ok(!log.includes("wrong-pw"));
    });
    await t.step("no password or credential in any log line", () => {
      for (const s of servers) {
        const out = s.stdout() + s.stderr();
        assert.match(out, /user="ann"|"user":"ann"/);
        for (const secret of [...secrets, "wrong-pw", "ann:x"]) {
          assert.ok(!out.includes(secret), `log contains ${secret}`);
        }
      }
    });
  } finally {
    for (const s of servers) await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts refuses a bad --auth or --auth-file with exit 2 and one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferry-auth-bad-" });
  const bad = join(dir, "bad");
  await Deno.writeTextFile(bad, "# c\nann:plaintext\n");
  const cases: Array<[string[], RegExp]> = [
    [["--auth", "nocolon"], /--auth must be USER:PASS/],
    [["--auth-file", bad], /bad:2: not a "user:scrypt/],
    [["--auth-file", join(dir, "missing")], /cannot read --auth-file .*missing/],
  ];
  try {
    for (const [args, want] of cases) {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SERVER_TS, ...args, "0", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(r.code, 2, args.join(" "));
      assert.match(dec.decode(r.stderr).split("\n")[0], want);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
