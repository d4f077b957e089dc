/**
 * Ferry's download client:
 * `deno run -A client.ts [options] HOST PORT FILE DIR`, `client.ts [options] URL... [DIR]`, or
 * `client.ts -r [options] URL/ [DIR]`.
 *
 * Parses the command line and hands over to `lib/client`; see `--help` for the options and the
 * exit codes.
 *
 * @module
 */

import { parseClientArgs, USAGE } from "./lib/client/args.ts";
import { ClientError } from "./lib/client/errors.ts";
import { jsonText, terminalText } from "./lib/client/report.ts";
import { runClient } from "./lib/client/run.ts";
import { VERSION } from "./lib/version.ts";

/** Runs the client with `args` (without the program name) and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseClientArgs(args);
  } catch (e) {
    if (!(e instanceof ClientError)) throw e;
    // An argument quoted back (a pasted URL, say) is shown with its controls escaped.
    console.error(`ferry: ${terminalText(e.message)}`);
    // --json promises one JSON object on stdout, a usage error included.
    if (args.includes("--json")) {
      const [error, hint] = e.message.split("\n  hint: ");
      console.log(jsonText({ ok: false, exitCode: e.code, error, hint: hint ?? null }));
    }
    return e.code;
  }
  if (parsed.kind === "help") {
    console.log(USAGE);
    return 0;
  }
  if (parsed.kind === "version") {
    console.log(`ferry client ${VERSION}`);
    return 0;
  }
  return await runClient(parsed.options);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
