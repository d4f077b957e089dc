/**
 * Command-line errors in house style, shared by both programs: one line saying what is wrong
 * (with the value), "did you mean" for a mistyped option — never the raw text of `node:util`'s
 * `parseArgs` (`Unknown option '-O'. To specify a positional argument…`).
 *
 * Imports nothing of ours: both entry points use it.
 *
 * @example
 * ```ts
 * import { parseArgsError, suggest } from "./cli_errors.ts";
 * suggest("--hots", ["--host", "--workers"]); // "--host"
 * const err = Object.assign(new Error("Unknown option '--hots'. To specify…"), {
 *   code: "ERR_PARSE_ARGS_UNKNOWN_OPTION",
 * });
 * parseArgsError(err, { host: { type: "string" } }); // "unknown option --hots (did you mean --host?)"
 * ```
 * @module
 */

/** How far (edits) a typed option may be from a real one to be suggested: one slip or swap. */
const MAX_SUGGEST_DISTANCE = 2;

/** Optimal string alignment distance (Levenshtein with adjacent swaps), small inputs only. */
function distance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The known option closest to `typed`, if one is close enough to be a typo (or `typed` is an
 * unambiguous prefix of it); otherwise undefined.
 */
export function suggest(typed: string, known: readonly string[]): string | undefined {
  const bare = typed.replace(/=.*$/, "");
  // A short option differing by case (-O for -o) is another option, but the likely intent.
  const cased = known.find((k) => k !== bare && k.toLowerCase() === bare.toLowerCase());
  if (cased !== undefined) return cased;
  if (bare.length <= 2) return undefined; // `-x` is one letter from every short option
  const prefixed = known.filter((k) => bare.length >= 4 && k.startsWith(bare));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestDistance = MAX_SUGGEST_DISTANCE + 1;
  for (const k of known) {
    const dist = distance(bare, k);
    if (dist < bestDistance) [best, bestDistance] = [k, dist];
  }
  return best;
}

/** The options table of `parseArgs`, as far as this module needs it. */
export type OptionsTable = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

/** Every spelling of the options in a `parseArgs` table: `--name` and `-s`. */
export function optionSpellings(options: OptionsTable): string[] {
  const out: string[] = [];
  for (const [name, o] of Object.entries(options)) {
    out.push(`--${name}`);
    if (o.short) out.push(`-${o.short}`);
  }
  return out;
}

/**
 * Turns an error thrown by `node:util` `parseArgs` into one line in house style; any other
 * error's message is returned as it is.
 */
export function parseArgsError(err: unknown, options: OptionsTable): string {
  const e = err as { code?: string; message?: string };
  const message = String(e?.message ?? err);
  const quoted = /'(-{1,2}[^' ]+)/.exec(message)?.[1];
  switch (e?.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const typed = quoted ?? "?";
      const hint = suggest(typed, optionSpellings(options));
      return `unknown option ${typed}` + (hint ? ` (did you mean ${hint}?)` : "");
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const opt = quoted ?? "?";
      if (/does not take an argument/.test(message)) return `${opt} takes no value`;
      if (/ambiguous/.test(message)) {
        return `${opt} needs a value (to pass one that starts with "-", write ${opt}=VALUE)`;
      }
      return `${opt} needs a value`;
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument${quoted ? ` ${quoted}` : ""}`;
    default:
      return message.split("\n")[0];
  }
}
