/** Command-line parsing: both forms, every option, and what is refused (exit 2). */

import assert from "node:assert/strict";
import { DEFAULTS, parseClientArgs, parseSize } from "../../lib/client/args.ts";
import { ClientError, EXIT } from "../../lib/client/errors.ts";

function run(args: string[]) {
  const r = parseClientArgs(args);
  assert.equal(r.kind, "run");
  return (r as Extract<typeof r, { kind: "run" }>).options;
}

Deno.test("parseClientArgs: HOST PORT FILE DIR with defaults", () => {
  const o = run(["example.com", "8080", "docs/a b.pdf", "out"]);
  assert.deepEqual(o.target, { host: "example.com", port: 8080, path: "/docs/a%20b.pdf" });
  assert.equal(o.name, "a b.pdf");
  assert.equal(o.dir, "out");
  assert.equal(o.timeoutMs, DEFAULTS.timeoutSeconds * 1000);
  assert.equal(o.maxRedirects, DEFAULTS.maxRedirects);
  assert.equal(o.rttProbes, DEFAULTS.rttProbes);
  assert.deepEqual(
    [o.force, o.json, o.quiet, o.progress, o.resume, o.maxSize, o.sha256, o.digest],
    [false, false, false, true, false, null, null, false],
  );
});

Deno.test("parseClientArgs: URL form, DIR defaults to .", () => {
  const o = run(["http://[::1]:9000/a/b%20c.txt?x=1"]);
  assert.deepEqual(o.target, { host: "::1", port: 9000, path: "/a/b%20c.txt?x=1" });
  assert.equal(o.name, "b c.txt");
  assert.equal(o.dir, ".");
  const p = run(["HTTP://Example.COM/", "d"]);
  assert.deepEqual(p.target, { host: "example.com", port: 80, path: "/" });
  assert.equal(p.name, "index.html");
});

Deno.test("parseClientArgs: every option", () => {
  const o = run([
    "-o",
    "x.bin",
    "-f",
    "-c",
    "-q",
    "--timeout",
    "1.5",
    "--max-redirects=0",
    "--rtt-probes",
    "4",
    "--max-size",
    "10M",
    "--sha256",
    "AB".repeat(32),
    "--json",
    "--no-progress",
    "--digest",
    "::1",
    "80",
    "f",
    "d",
  ]);
  assert.equal(o.name, "x.bin");
  assert.equal(o.target.host, "::1");
  assert.deepEqual(
    [o.force, o.resume, o.quiet, o.json, o.progress, o.digest],
    [true, true, true, true, false, true],
  );
  assert.equal(o.timeoutMs, 1500);
  assert.equal(o.maxRedirects, 0);
  assert.equal(o.rttProbes, 4);
  assert.equal(o.maxSize, 10 * 1024 * 1024);
  assert.equal(o.sha256, "ab".repeat(32));
  assert.equal(run(["--timeout", "0", "h", "1", "f", "d"]).timeoutMs, 0);
  assert.equal(run(["[::1]", "1", "f", "d"]).target.host, "::1");
});

Deno.test("parseClientArgs: --help and --version win", () => {
  assert.deepEqual(parseClientArgs(["--help", "junk"]), { kind: "help" });
  assert.deepEqual(parseClientArgs(["-V"]), { kind: "version" });
});

const REFUSED: Array<[string[], RegExp]> = [
  [[], /missing arguments/],
  [["a", "b"], /expected HOST PORT FILE DIR or URL\.\.\. \[DIR\], got 2/],
  [
    ["127.0.0.1:8000/a.txt"],
    /not a URL \(no scheme\)\n {2}hint: did you mean http:\/\/127\.0\.0\.1:8000\/a\.txt/,
  ],
  [["http://h/a", "example.com/b", "d"], /did you mean http:\/\/example\.com\/b/],
  [["http://h/a", "x", "d"], /unexpected argument "x"/],
  [["http://h/a", "http://g/a"], /would both be saved as "a"/],
  [["-o", "n", "http://h/a", "http://h/b"], /-o NAME names one file/],
  [["-d", "x", "http://h/a", "y"], /DIR given twice/],
  [["-r", "-o", "n", "http://h/a/"], /-r saves a folder/],
  [["-O", "n", "http://h/a"], /unknown option "-O"\n {2}hint: did you mean -o\?/],
  [["--segmnts", "4", "http://h/a"], /did you mean --segments\?/],
  [["--parallel", "99", "http://h/a"], /--parallel must be an integer from 1 to 32/],
  [["--parallel", "0", "http://h/a"], /--parallel must be an integer from 1 to 32, got "0"/],
  [["--segments", "0", "http://h/a"], /--segments must be an integer from 1 to 16, got "0"/],
  [
    ["-q", "-v", "http://h/a"],
    /-q \(errors only\) and -v \(everything\) contradict.*\n {2}hint: drop -q or -v$/,
  ],
  [["--retry-connrefsed", "http://h/a"], /did you mean --retry-connrefused\?/],
  [["h", "0", "f", "d"], /PORT must be a number from 1 to 65535/],
  [["h", "1e3", "f", "d"], /PORT/],
  [["h\r\nX: y", "80", "f", "d"], /not a host name/],
  [["--", "-h", "80", "f", "d"], /not a host name/],
  [["h", "80", "f", ""], /DIR must be a directory path/],
  [["ftp://h/x"], /ftp: URLs are not supported/],
  [["-u", "nocolon", "https://h/x"], /USER:PASS/],
  [["--cacert", "ca.pem", "-k", "https://h/x"], /exclude each other/],
  [["http://"], /not a valid URL/],
  [["--timeout", "-1", "h", "1", "f", "d"], /argument is ambiguous|--timeout/],
  [["--timeout=1e9", "h", "1", "f", "d"], /--timeout must be seconds/],
  [["--rtt-probes", "1000", "h", "1", "f", "d"], /--rtt-probes must be an integer from 0 to 100/],
  [["--max-redirects", "x", "h", "1", "f", "d"], /--max-redirects must be an integer/],
  [["--sha256", "g".repeat(64), "h", "1", "f", "d"], /--sha256 must be 64 hex digits/],
  [["--json=1", "h", "1", "f", "d"], /option --json takes no value/],
  [["-o", "a/b", "h", "1", "f", "d"], /contains a path separator/],
];

Deno.test("parseClientArgs refuses bad command lines with a usage error", async (t) => {
  for (const [args, re] of REFUSED) {
    await t.step(JSON.stringify(args), () => {
      assert.throws(() => parseClientArgs(args), (e) => {
        assert.ok(e instanceof ClientError, String(e));
        assert.equal(e.code, EXIT.usage);
        assert.match(e.message, re);
        // One line, then at most one hint line.
        const lines = e.message.split("\n");
        assert.ok(lines.length <= 2 && (lines.length === 1 || lines[1].startsWith("  hint: ")));
        return true;
      });
    });
  }
});

Deno.test("parseSize: plain bytes and binary suffixes", () => {
  const table: Array<[string, number]> = [
    ["0", 0],
    ["1048576", 1048576],
    ["10k", 10240],
    ["10K", 10240],
    ["1.5M", 1572864],
    ["2G", 2 * 2 ** 30],
    ["1TiB", 2 ** 40],
    ["3MB", 3 * 2 ** 20],
  ];
  for (const [text, n] of table) assert.equal(parseSize(text), n, text);
  for (const bad of ["", "x", "-1", "1Q", "1e3"]) assert.throws(() => parseSize(bad), ClientError);
});

Deno.test("parseClientArgs: URL... [DIR], -d, HOST:PORT FILE DIR and the seed form side by side", () => {
  const many = run(["http://h:81/a.txt", "http://[::1]:9/b%20c", "out"]);
  assert.equal(many.dir, "out");
  assert.deepEqual(many.jobs.map((j) => [j.target.host, j.target.port, j.name]), [
    ["h", 81, "a.txt"],
    ["::1", 9, "b c"],
  ]);
  assert.equal(many.target, many.jobs[0].target);
  const d = run(["-d", "x", "http://h/a", "http://h/b"]);
  assert.deepEqual([d.dir, d.jobs.length], ["x", 2]);
  assert.equal(run(["http://h/a"]).dir, ".");
  // The same URL twice is fetched once.
  assert.equal(run(["http://h/a", "http://h/a"]).jobs.length, 1);
  const hp = run(["127.0.0.1:8000", "docs/a b.pdf", "out"]);
  assert.deepEqual(hp.target, { host: "127.0.0.1", port: 8000, path: "/docs/a%20b.pdf" });
  assert.equal(hp.dir, "out");
  const v6 = run(["[::1]:8000", "f", "out"]);
  assert.deepEqual([v6.target.host, v6.target.port], ["::1", 8000]);
  // Seed form: four arguments, the second a port; "::1" is a host, not HOST:PORT.
  const seed = run(["::1", "8000", "f", "out"]);
  assert.deepEqual([seed.target.host, seed.target.port, seed.dir], ["::1", 8000, "out"]);
  const r = run([
    "-r",
    "--max-depth",
    "3",
    "--parallel",
    "8",
    "--segments",
    "4",
    "-v",
    "http://h/d/",
  ]);
  assert.deepEqual([r.recursive, r.maxDepth, r.parallel, r.segments, r.verbose], [
    true,
    3,
    8,
    4,
    true,
  ]);
  const dflt = run(["http://h/a"]);
  assert.deepEqual(
    [dflt.recursive, dflt.maxDepth, dflt.parallel, dflt.segments, dflt.verbose],
    [false, DEFAULTS.maxDepth, DEFAULTS.parallel, DEFAULTS.segments, false],
  );
});

Deno.test("parseClientArgs: -r refuses a folder whose name is unsafe once decoded", () => {
  assert.throws(
    () => parseClientArgs(["-r", "http://h/a%2Fb/"]),
    /folder name "a\/b" is not a safe/,
  );
  assert.equal(run(["-r", "http://h/"]).recursive, true); // the root: into DIR itself
});

Deno.test("parseClientArgs: -r with several URL/ checks the folders they go into, not index.html", () => {
  // Each URL/ would be "index.html" as a file; mirrored, they go into DIR/a and DIR/b.
  const r = parseClientArgs(["-r", "http://h/a/", "http://h/x/b/", "out"]);
  assert.equal(r.kind, "run");
  if (r.kind === "run") assert.equal(r.options.jobs.length, 2);
  assert.throws(
    () => parseClientArgs(["-r", "http://h/a/", "http://g/a/", "out"]),
    /http:\/\/h\/a\/ and http:\/\/g\/a\/ would both be mirrored into "a"/,
  );
  assert.throws(
    () => parseClientArgs(["-r", "http://h/", "http://g/"]),
    /would both be mirrored into DIR itself/,
  );
});

Deno.test("parseClientArgs: --retry, --retry-delay, --max-time, --no-continue, -o -", () => {
  const d = run(["http://h/a.bin"]);
  assert.deepEqual(
    [d.retries, d.retryBaseMs, d.maxTimeMs, d.noContinue, d.stdout],
    [5, 1000, null, false, false],
  );
  const o = run([
    "--retry",
    "2",
    "--retry-delay",
    "0.25",
    "--max-time",
    "90",
    "--no-continue",
    "-o",
    "-",
    "http://h/a.bin",
  ]);
  assert.deepEqual(
    [o.retries, o.retryBaseMs, o.maxTimeMs, o.noContinue, o.stdout, o.name],
    [2, 250, 90_000, true, true, "a.bin"],
  );
  assert.equal(run(["--max-time", "0", "http://h/a"]).maxTimeMs, null, "0 = no limit");
  for (
    const bad of [
      ["--retry", "-1"],
      ["--retry", "101"],
      ["--retry", "x"],
      ["--retry-delay", "1e3"],
      ["--max-time", "-5"],
      ["--max-time", "soon"],
      ["-c", "--no-continue"],
    ]
  ) {
    assert.throws(
      () => parseClientArgs([...bad, "http://h/a"]),
      (e: unknown) => e instanceof ClientError && e.code === EXIT.usage,
      bad.join(" "),
    );
  }
});

Deno.test("parseClientArgs: -o - is one file to stdout: refused with -r or several URLs", () => {
  for (
    const bad of [
      ["-o", "-", "-r", "http://h/d/"],
      ["-o", "-", "http://h/a", "http://h/b"],
    ]
  ) {
    assert.throws(
      () => parseClientArgs(bad),
      (e: unknown) => e instanceof ClientError && e.code === EXIT.usage && /-o -/.test(e.message),
      bad.join(" "),
    );
  }
  // The seed form and -d keep working with -o -.
  const seed = run(["-o", "-", "127.0.0.1", "8000", "docs/a.txt", "out"]);
  assert.deepEqual([seed.stdout, seed.name, seed.dir], [true, "a.txt", "out"]);
  assert.equal(run(["-o", "-", "-d", "x", "http://h/a"]).stdout, true);
});
