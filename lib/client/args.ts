/**
 * The client's command line: `client.ts [options] HOST PORT FILE DIR` or
 * `client.ts [options] http://host:port/path [DIR]`, parsed with `node:util` parseArgs into
 * {@linkcode ClientOptions}. Every option and its default is in {@linkcode USAGE}.
 *
 * @example
 * ```ts
 * import { parseClientArgs } from "./args.ts";
 * const r = parseClientArgs(["-f", "127.0.0.1", "8080", "docs/a b.pdf", "out"]);
 * if (r.kind === "run") console.log(r.options.target.path, r.options.name); // /docs/a%20b.pdf a b.pdf
 * ```
 * @module
 */

import { parseArgs } from "node:util";
import { parseArgsError, usageError } from "./args_errors.ts";
import { ClientError, EXIT_TABLE } from "./errors.ts";
import { type Credentials, parseUserOption } from "./credentials.ts";
import type { Location } from "./names.ts";
import { classifyPositionals, folderName, type Job } from "./positionals.ts";
import { DEFAULT_RETRIES, DEFAULT_RETRY_BASE_MS, MAX_RETRIES } from "./retry.ts";

/** Defaults of the options, shown by --help. */
export const DEFAULTS = {
  /** Seconds allowed for the connect and for each read. */
  timeoutSeconds: 30,
  /** Redirects followed at most. */
  maxRedirects: 5,
  /** Extra round trips measured. 0: the TCP handshake alone gives the RTT, and the download
   * stays one request on one connection. */
  rttProbes: 0,
  /** Files downloaded at once (several URLs, -r), each over its own keep-alive connection. */
  parallel: 4,
  /** Folder levels below the start URL that -r descends (wget's default is 5). */
  maxDepth: 10,
  /** Connections for one file (--segments); 1 = the plain download. */
  segments: 1,
} as const;

/** Largest --parallel: more connections than this only queue at the server. */
export const MAX_PARALLEL = 32;
/** Largest --segments (aria2c allows 16 per server). */
export const MAX_SEGMENTS = 16;
/** Largest --max-depth. */
export const MAX_DEPTH_LIMIT = 100;

/** Largest --rtt-probes: enough for a stable average, too few to look like a flood. */
export const MAX_RTT_PROBES = 100;
/** Largest --max-redirects (browsers stop at about 20). */
export const MAX_REDIRECTS_LIMIT = 50;

/** Everything a download needs, after validation. */
export interface ClientOptions {
  /** The first place to ask. */
  target: Location;
  /** Where the user's FILE or URL came from, for messages. */
  source: string;
  /** Directory to save into (created when missing). */
  dir: string;
  /** The local file name inside `dir`, already checked. */
  name: string;
  /** Replace an existing DIR/NAME. @default false */
  force: boolean;
  /** Connect and per-read timeout in ms; 0 = none. @default 30000 */
  timeoutMs: number;
  /** @default 5 */
  maxRedirects: number;
  /** @default 0 */
  rttProbes: number;
  /** One JSON object on stdout instead of text. @default false */
  json: boolean;
  /** Print only errors. @default false */
  quiet: boolean;
  /** Progress bar on a terminal. @default true */
  progress: boolean;
  /** Largest body accepted, in bytes; null = no limit. @default null */
  maxSize: number | null;
  /** Resume from DIR/NAME.part even without a remembered validator (an overlap is checked).
   * @default false */
  resume: boolean;
  /** Never resume: start over even when the .part's meta matches. @default false */
  noContinue: boolean;
  /** Retries after a transient failure. @default 5 */
  retries: number;
  /** Retry a refused connection too, even to an origin that has not answered yet in this run
   * (curl's and wget's --retry-connrefused). @default false */
  retryConnRefused?: boolean;
  /** First backoff in ms (doubles per retry, jittered). @default 1000 */
  retryBaseMs: number;
  /** Overall deadline in ms, or null for none. @default null */
  maxTimeMs: number | null;
  /** `-o -`: the body goes to stdout, everything else to stderr. @default false */
  stdout: boolean;
  /** Expected sha-256, lower-case hex, or null. @default null */
  sha256: string | null;
  /** Compute the sha-256 even with nothing to check it against. @default false */
  digest: boolean;
  /** Basic credentials (-u, or the URL's user:pass@), sent only to the origin of `target`
   * (each job carries its own: {@linkcode Job.credentials}). @default null */
  credentials?: Credentials | null;
  /** PEM file of certificates trusted instead of the system's roots. @default null */
  cacert?: string | null;
  /** Skip certificate verification (-k). @default false */
  insecure?: boolean;
  /** Follow a redirect from https to http. @default false */
  allowDowngrade?: boolean;
  /** Every file asked for; the first is `target`/`source`/`name`. */
  jobs: Job[];
  /** Mirror the folder at each URL (-r). @default false */
  recursive: boolean;
  /** Folder levels -r descends below the start. @default 10 */
  maxDepth: number;
  /** Files at once. @default 4 */
  parallel: number;
  /** Connections for one file. @default 1 */
  segments: number;
  /** Request and response heads and details (-v). @default false */
  verbose: boolean;
}

/** What the command line asks for. */
export type ParsedArgs =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "run"; options: ClientOptions };

/** The --help text: every option, its default, and the exit codes. */
export const USAGE = `Usage: client.ts [options] HOST PORT FILE DIR
       client.ts [options] HOST:PORT FILE DIR
       client.ts [options] URL... [DIR]          (URL: http[s]://[USER:PASS@]HOST[:PORT]/PATH)
       client.ts -r [options] URL/ [DIR]

Download FILE from an HTTP/1.x server (https: over TLS) into DIR (created if missing;
default "." in the URL form). FILE is a path on the server ("docs/a b.pdf" is fine); the
file is saved as DIR/<last segment of FILE> ("index.html" for a path ending in "/"), first
as NAME.part, renamed to NAME once complete and verified. HOST may be a name, IPv4 or IPv6
address. Every URL given is downloaded; a last argument that is not a URL is DIR.

Options:
  -o, --output NAME       save as DIR/NAME (a plain file name; default: last segment of FILE);
                          "-o -" writes the body to stdout and everything else to stderr
  -f, --force             replace an existing DIR/NAME (default: refuse, exit 6)
  -c, --continue          resume DIR/NAME.part even without a remembered validator: the last
                          64 KiB are fetched again and compared first (default: a .part whose
                          .part.meta matches the URL and holds a validator is resumed anyway)
      --no-continue       start over even when the .part could be resumed
      --retry N           retries after a connect failure, reset, timeout, 408, 429 or 5xx;
                          each resumes with Range + If-Range (default ${DEFAULT_RETRIES}); a
                          refused connection only once that server has sent bytes in
                          this run (a restart mid-download), else it fails at once
      --retry-connrefused
                          retry a refused connection too (a server still starting)
      --retry-delay SECS  first wait between attempts, doubled each time with jitter, at
                          most 30 s; a longer Retry-After from the server is honoured
                          (default ${DEFAULT_RETRY_BASE_MS / 1000})
      --max-time SECONDS  give up after this long overall, exit 8 (default 0: no limit)
  -d, --dir DIR           save into DIR (instead of a last argument)
  -r, --recursive         mirror the folder at URL/ into DIR/<folder>/ from its listing
                          (Ferry's JSON, or the HTML of nginx, Apache, lighttpd, python
                          http.server): never above URL/ nor to another host; files already
                          there with the same size and modification time are skipped
      --max-depth N       folder levels -r descends below URL/ (default ${DEFAULTS.maxDepth})
      --parallel N        files downloaded at once, each over its own keep-alive connection
                          (default ${DEFAULTS.parallel}, at most ${MAX_PARALLEL})
      --segments N        one file over N connections with Range requests, when the server
                          gives its size, byte ranges and a strong validator; otherwise one
                          connection, saying why (default ${DEFAULTS.segments}, at most ${MAX_SEGMENTS})
      --timeout SECONDS   connect and per-read timeout, 0 = none (default ${DEFAULTS.timeoutSeconds})
      --max-redirects N   redirects followed at most (default ${DEFAULTS.maxRedirects})
      --rtt-probes N      measure N extra round trips, ping-style min/avg/max/mdev: HEAD
                          requests on the same connection when the server keeps it open,
                          else fresh TCP handshakes; one more is sent first as warm-up
                          (default ${DEFAULTS.rttProbes}: the TCP handshake alone gives the RTT)
      --max-size BYTES    stop with exit 5 when the body is larger (suffixes K, M, G, T =
                          KiB..TiB; default: no limit)
      --sha256 HEX        verify the file against this sha-256 (exit 7 on mismatch)
      --digest            print the file's sha-256 even when there is nothing to check it
                          against (it costs ~0.8 s per GiB of one core)
      --json              print one JSON object on stdout instead of text
  -v, --verbose           also print request and response heads and every timing
  -u, --user USER:PASS    HTTP Basic credentials (or https://USER:PASS@HOST/ in the URL);
                          sent only to that scheme, host and port, never to another origin
                          (http and https of one host are two); shown as "Basic ***"
      --cacert FILE       trust the PEM certificate(s) in FILE (a CA bundle, or the server's
                          self-signed certificate) instead of the system's roots
  -k, --insecure          do not verify the server's certificate (a warning is printed each
                          run; anyone on the path can read and change the download)
      --allow-downgrade   follow a redirect from https to http (default: refuse, exit 5)
  -q, --quiet             print only errors (not with -v); retries are not errors: the
                          final error says how many attempts were made
      --no-progress       no progress bar (it is shown only when stderr is a terminal)
  -h, --help              this text
  -V, --version           print the version

The body is checked against Repr-Digest / Content-Digest (sha-256, RFC 9530) when the
server sends one; without one, --sha256 or --digest, nothing is hashed. Least privilege:
  deno run --allow-net=HOST --allow-read=DIR --allow-write=DIR client.ts HOST PORT FILE DIR

A body sent with a Content-Encoding other than identity is refused (exit 5), never saved
as if it were the file. Ctrl-C keeps the .part; the same command resumes it.

${EXIT_TABLE}`;

function usage(message: string): ClientError {
  return usageError(message);
}

function integer(
  v: string | undefined,
  name: string,
  max: number,
  dflt: number,
  min = 0,
): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) > max || Number(v) < min) {
    throw usage(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

function seconds(v: string | undefined, name: string, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) > max) {
    throw usage(`${name} must be seconds from 0 to ${max}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
};

/** Parses a byte count with an optional binary suffix (`10M` = 10 MiB). */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(v.trim());
  const n = m === null ? NaN : Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  if (!Number.isSafeInteger(n)) {
    throw usage(`--max-size must be a byte count such as 1048576 or 10M, got ${JSON.stringify(v)}`);
  }
  return n;
}

/**
 * Parses the command line.
 * @throws {ClientError} usage (exit 2) with one line saying what is wrong.
 */
export function parseClientArgs(args: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: "string", short: "o" },
        force: { type: "boolean", short: "f" },
        continue: { type: "boolean", short: "c" },
        "no-continue": { type: "boolean" },
        retry: { type: "string" },
        "retry-connrefused": { type: "boolean" },
        "retry-delay": { type: "string" },
        "max-time": { type: "string" },
        timeout: { type: "string" },
        "max-redirects": { type: "string" },
        "rtt-probes": { type: "string" },
        "max-size": { type: "string" },
        sha256: { type: "string" },
        digest: { type: "boolean" },
        json: { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        "no-progress": { type: "boolean" },
        user: { type: "string", short: "u" },
        cacert: { type: "string" },
        insecure: { type: "boolean", short: "k" },
        "allow-downgrade": { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
        dir: { type: "string", short: "d" },
        recursive: { type: "boolean", short: "r" },
        "max-depth": { type: "string" },
        parallel: { type: "string" },
        segments: { type: "string" },
        verbose: { type: "boolean", short: "v" },
      },
    });
  } catch (e) {
    throw parseArgsError(e, USAGE);
  }
  const v = parsed.values;
  if (v.help) return { kind: "help" };
  if (v.version) return { kind: "version" };

  // `-o -`: the body goes to stdout; the name (for the .part of a resume) stays the derived one.
  const stdout = v.output === "-";
  if (stdout && v.recursive) {
    throw usageError("-o - writes one file to stdout; -r saves a folder", "drop -o -, or -r");
  }
  if (v.recursive && v.output !== undefined) {
    throw usageError("-o NAME names one file; -r saves a folder", "drop -o, or -r");
  }
  const { jobs, dir } = classifyPositionals(
    parsed.positionals,
    v.dir ?? null,
    stdout ? null : v.output ?? null,
    v.recursive ?? false,
  );
  if (stdout && jobs.length > 1) {
    throw usageError("-o - writes one file to stdout, but several URLs were given", "drop -o -");
  }
  if (v.recursive) { for (const j of jobs) folderName(j.target.path); }
  const { target, source, name } = jobs[0];
  if (dir === "" || dir.includes("\0")) throw usage("DIR must be a directory path");

  const timeout = v.timeout === undefined ? DEFAULTS.timeoutSeconds : Number(v.timeout);
  if (v.timeout !== undefined && (!/^\d+(\.\d+)?$/.test(v.timeout) || timeout > 86400)) {
    throw usage(`--timeout must be seconds from 0 to 86400, got ${JSON.stringify(v.timeout)}`);
  }
  const sha = v.sha256?.toLowerCase() ?? null;
  if (sha !== null && !/^[0-9a-f]{64}$/.test(sha)) {
    throw usage(`--sha256 must be 64 hex digits, got ${JSON.stringify(v.sha256!.slice(0, 80))}`);
  }
  if (v.continue && v["no-continue"]) throw usage("-c and --no-continue contradict each other");
  if (v.quiet && v.verbose) {
    throw usageError("-q (errors only) and -v (everything) contradict each other", "drop -q or -v");
  }
  // -u for every URL; else each URL's own user:pass@ (positionals.ts); each job's go only to
  // its own origin (lib/client/credentials.ts).
  if (v.user !== undefined) {
    const user = parseUserOption(v.user);
    for (const j of jobs) j.credentials = user;
  }
  const credentials = jobs[0].credentials ?? null;
  if (v.cacert !== undefined && v.insecure) {
    throw usage("--cacert and -k/--insecure exclude each other");
  }
  return {
    kind: "run",
    options: {
      target,
      source,
      dir,
      name,
      force: v.force ?? false,
      timeoutMs: Math.round(timeout * 1000),
      maxRedirects: integer(
        v["max-redirects"],
        "--max-redirects",
        MAX_REDIRECTS_LIMIT,
        DEFAULTS.maxRedirects,
      ),
      rttProbes: integer(v["rtt-probes"], "--rtt-probes", MAX_RTT_PROBES, DEFAULTS.rttProbes),
      json: v.json ?? false,
      quiet: v.quiet ?? false,
      progress: !(v["no-progress"] ?? false),
      maxSize: v["max-size"] === undefined ? null : parseSize(v["max-size"]),
      resume: v.continue ?? false,
      noContinue: v["no-continue"] ?? false,
      retries: integer(v.retry, "--retry", MAX_RETRIES, DEFAULT_RETRIES),
      retryConnRefused: v["retry-connrefused"] ?? false,
      retryBaseMs: Math.round(
        seconds(v["retry-delay"], "--retry-delay", 600, DEFAULT_RETRY_BASE_MS / 1000) * 1000,
      ),
      maxTimeMs: Math.round(seconds(v["max-time"], "--max-time", 31_536_000, 0) * 1000) || null,
      stdout,
      sha256: sha,
      digest: v.digest ?? false,
      credentials,
      cacert: v.cacert ?? null,
      insecure: v.insecure ?? false,
      allowDowngrade: v["allow-downgrade"] ?? false,
      jobs,
      recursive: v.recursive ?? false,
      maxDepth: integer(v["max-depth"], "--max-depth", MAX_DEPTH_LIMIT, DEFAULTS.maxDepth),
      // 0 connections cannot download anything: the range starts at 1, as the message says.
      parallel: integer(v.parallel, "--parallel", MAX_PARALLEL, DEFAULTS.parallel, 1),
      segments: integer(v.segments, "--segments", MAX_SEGMENTS, DEFAULTS.segments, 1),
      verbose: v.verbose ?? false,
    },
  };
}
