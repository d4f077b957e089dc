/**
 * Usage errors in the house style: one line saying what is wrong, then a hint — never the raw
 * text of `node:util` parseArgs (`Unknown option '-O'. To specify a positional argument…`).
 * Unknown options get a "did you mean" from the known ones (`suggest` of lib/cli_errors.ts, as
 * the server's); a URL typed without its scheme gets
 * "did you mean http://…".
 *
 * @example
 * ```ts
 * import { isUrl, looksLikeBareUrl } from "./args_errors.ts";
 * console.log(isUrl("http://h/f"), looksLikeBareUrl("example.com/f")); // true true
 * ```
 * @module
 */

import { ClientError, EXIT } from "./errors.ts";
import { suggest } from "../cli_errors.ts";

/** A usage error: `message`, then the hint on the next line. */
export function usageError(message: string, hint = "see --help for the options"): ClientError {
  return new ClientError(EXIT.usage, `${message}\n  hint: ${hint}`);
}

/** The options a --help text lists (`-o`, `--output`, ...): the suggestions for a typo. */
export function optionsIn(usage: string): string[] {
  const heads = usage.split("\n").filter((l) => /^ {2,}-/.test(l)).map((l) =>
    // The option column: up to the gap before its description (a long option may fill it).
    l.trimStart().split(/ {2,}/)[0]
  );
  return heads.flatMap((h) => h.match(/--?[A-Za-z][\w-]*/g) ?? []);
}

/** Translates a `node:util` parseArgs error into {@linkcode usageError}; `usage` is the --help
 * text, whose options are the suggestions. */
export function parseArgsError(e: unknown, usage: string): ClientError {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string }).code;
  const flags = optionsIn(usage);
  const unknown = /^Unknown option '([^']*)'/.exec(msg)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown !== undefined) {
    const flag = unknown.split("=")[0];
    // A short option differing by case (-O for -o) is a different option, but the likely intent.
    const guess = suggest(flag, flags);
    return usageError(
      `unknown option ${JSON.stringify(flag.slice(0, 40))}`,
      guess !== undefined
        ? `did you mean ${guess}? (see --help)`
        : `see --help for the options; put -- before a positional argument that starts with -`,
    );
  }
  const named = /^Option '(?:-(\w), )?--([\w-]+)/.exec(msg);
  if (named !== null) {
    const name = `--${named[2]}`;
    if (/argument missing/.test(msg)) {
      return usageError(`option ${name} needs a value`, `e.g. ${name} VALUE (see --help)`);
    }
    if (/argument is ambiguous/.test(msg)) {
      return usageError(
        `option ${name} needs a value, and the next argument looks like an option`,
        `write ${name}=VALUE if the value starts with "-" (see --help)`,
      );
    }
    if (/does not take an argument/.test(msg)) {
      return usageError(`option ${name} takes no value`, `write ${name} alone (see --help)`);
    }
  }
  return usageError(`invalid arguments: ${msg.split("\n")[0].split(". ")[0].slice(0, 120)}`);
}

/** Whether `text` is an absolute URL with a scheme (`http://…`, `ftp://…`). */
export function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
}

/** Whether `text` looks like a URL typed without its scheme: `host:port/…`, `host/path`,
 * `www.host.tld` — what gets "did you mean http://…". */
export function looksLikeBareUrl(text: string): boolean {
  return /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9-]+)*)(:\d{1,5})?\/\S*$/i
    .test(text) &&
    (/^[^/]*:\d+\//.test(text) || /^[^/]*\.[a-z]{2,}\//i.test(text) ||
      /^(localhost|\d+\.\d+\.\d+\.\d+|\[)/i.test(text));
}
