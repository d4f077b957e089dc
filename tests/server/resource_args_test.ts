/**
 * The resource options on the command line (issue 11): parsed into server options, defaults
 * documented in --help, bad values refused.
 */

import assert from "node:assert/strict";
import { parseServerArgs, USAGE } from "../../server.ts";
import { DEFAULTS } from "../../lib/server/listen.ts";

const DIR = Deno.cwd();

Deno.test("server.ts parses --max-connections-per-ip, --min-rate, --min-rate-window", () => {
  const { options } = parseServerArgs([
    "--max-connections-per-ip",
    "0",
    "--min-rate",
    "1024",
    "--min-rate-window",
    "2.5",
    "0",
    DIR,
  ]);
  assert.equal(options.maxConnectionsPerIp, 0);
  assert.equal(options.minRate, 1024);
  assert.equal(options.minRateWindowMs, 2500);
  const none = parseServerArgs(["0", DIR]).options;
  assert.equal(none.maxConnectionsPerIp, undefined, "the default applies");
  for (
    const bad of [
      ["--max-connections-per-ip=-1"],
      ["--max-connections-per-ip", "2.5"],
      ["--min-rate", "x"],
      ["--min-rate-window", "0"],
    ]
  ) {
    assert.throws(() => parseServerArgs([...bad, "0", DIR]), /must be/, bad.join(" "));
  }
});

Deno.test("--help names each resource option with its default", () => {
  assert.match(
    USAGE,
    new RegExp(`--max-connections-per-ip N[\\s\\S]*default ${DEFAULTS.maxConnectionsPerIp}\\)`),
  );
  assert.match(
    USAGE,
    new RegExp(`--min-rate BYTES_PER_SEC[\\s\\S]*default ${DEFAULTS.minRate}\\)`),
  );
  assert.match(USAGE, /--min-rate-window SEC\s+the window of --min-rate \(default 20\)/);
});
