/**
 * What the positional arguments mean. Three forms, told apart without guessing:
 *
 * - the seed's `HOST PORT FILE DIR`: four arguments, none a URL, the second a port number;
 * - `HOST:PORT FILE DIR`: three arguments, none a URL, the first `name:port` or `[v6]:port`;
 * - `URL... [DIR]`: every argument with a scheme is downloaded; a last one without a scheme is
 *   DIR (or `-d DIR`). Anything else that is not a URL is refused, and one that looks like a
 *   URL typed without its scheme gets "did you mean http://…".
 *
 * @example
 * ```ts
 * import { classifyPositionals } from "./positionals.ts";
 * const r = classifyPositionals(["http://h/a", "http://h/b", "out"], null);
 * console.log(r.dir, r.jobs.map((j) => j.name)); // out [ "a", "b" ]
 * ```
 * @module
 */

import { isUrl, looksLikeBareUrl, usageError } from "./args_errors.ts";
import { type Credentials, urlCredentials, withoutUserinfo } from "./credentials.ts";
import {
  checkHost,
  checkName,
  checkPort,
  encodeFilePath,
  type Location,
  nameFromPath,
  parseHttpUrl,
} from "./names.ts";

/** One file to download. */
export interface Job {
  /** The first place to ask. */
  target: Location;
  /** Where the user's FILE or URL came from, for messages. */
  source: string;
  /** The local name inside DIR (checked), or the folder name for -r. */
  name: string;
  /** Basic credentials for `target`'s origin only (the URL's user:pass@, or -u). @default null */
  credentials?: Credentials | null;
}

/** `host:port` or `[v6]:port` → its parts, else null. `::1` alone is not one. */
export function splitHostPort(text: string): { host: string; port: string } | null {
  const m = /^\[([0-9A-Fa-f:.%\w-]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]/]+):(\d+)$/.exec(text);
  return m === null ? null : { host: m[1], port: m[2] };
}

function notUrl(p: string): never {
  if (looksLikeBareUrl(p)) {
    throw usageError(
      `${JSON.stringify(p.slice(0, 80))} is not a URL (no scheme)`,
      `did you mean http://${p.slice(0, 200)} ?`,
    );
  }
  throw usageError(
    `unexpected argument ${JSON.stringify(p.slice(0, 80))}`,
    "give URL... [DIR] (each URL starting with http://), or HOST PORT FILE DIR",
  );
}

/**
 * Classifies `pos` into the files to fetch and DIR. `dirOption` is `-d DIR` or null;
 * `output` is `-o NAME` or null (one file only).
 * @throws {ClientError} usage, one line and a hint.
 */
export function classifyPositionals(
  pos: string[],
  dirOption: string | null,
  output: string | null = null,
  recursive = false,
): { jobs: Job[]; dir: string } {
  if (pos.length === 0) {
    throw usageError(
      "missing arguments",
      "give URL... [DIR], or HOST PORT FILE DIR (see --help)",
    );
  }
  const anyUrl = pos.some(isUrl);
  const seed4 = pos.length === 4 && !anyUrl && /^\d+$/.test(pos[1]);
  const hp = pos.length === 3 && !anyUrl ? splitHostPort(pos[0]) : null;
  if (pos.length === 4 && !anyUrl && !seed4 && !looksLikeBareUrl(pos[0])) {
    throw usageError(
      `PORT must be a number from 1 to 65535, got ${JSON.stringify(pos[1].slice(0, 20))}`,
      "HOST PORT FILE DIR, e.g. 127.0.0.1 8000 docs/a.pdf out",
    );
  }
  if (seed4 || hp !== null) {
    const [host, port, file, dir] = hp !== null ? [hp.host, hp.port, pos[1], pos[2]] : pos;
    if (dirOption !== null) throw usageError("DIR given twice", "drop -d or the last argument");
    const target = { host: checkHost(host), port: checkPort(port), path: encodeFilePath(file) };
    const source = `FILE ${JSON.stringify(file)}`;
    const name = checkName(output ?? nameFromPath(target.path), output !== null ? "-o" : source);
    return { jobs: [{ target, source, name }], dir };
  }
  if (!anyUrl) {
    const bare = pos.find(looksLikeBareUrl);
    if (bare !== undefined) notUrl(bare);
    throw usageError(
      `expected HOST PORT FILE DIR or URL... [DIR], got ${pos.length} argument(s) and no URL`,
      "a URL starts with http:// (see --help)",
    );
  }
  let urls = pos;
  let dir = dirOption;
  if (!isUrl(pos[pos.length - 1]) && pos.length > 1) {
    const last = pos[pos.length - 1];
    if (looksLikeBareUrl(last)) notUrl(last);
    if (dir !== null) throw usageError("DIR given twice", "drop -d or the last argument");
    dir = last;
    urls = pos.slice(0, -1);
  }
  for (const u of urls) if (!isUrl(u)) notUrl(u);
  if (output !== null && urls.length > 1) {
    throw usageError("-o NAME names one file, but several URLs were given", "drop -o");
  }
  const jobs = urls.map((url) => {
    const target = parseHttpUrl(url);
    const u = withoutUserinfo(url); // a password never reaches a message
    return {
      target,
      source: u,
      name: checkName(output ?? nameFromPath(target.path), output !== null ? "-o" : u),
      credentials: urlCredentials(url),
    };
  });
  const seen = new Map<string, string>();
  for (const j of jobs) {
    // -r saves a folder into DIR/<folder>/ (a server's root into DIR), not a file named j.name.
    const key = recursive ? folderName(j.target.path) : j.name;
    const other = seen.get(key ?? "");
    if (other !== undefined && other !== j.source) {
      throw usageError(
        recursive
          ? `${other} and ${j.source} would both be mirrored into ${
            key === null ? "DIR itself" : JSON.stringify(key)
          }`
          : `${other} and ${j.source} would both be saved as ${JSON.stringify(j.name)}`,
        "download them into different DIRs",
      );
    }
    seen.set(key ?? "", j.source);
  }
  // The same URL twice is downloaded once.
  const unique = jobs.filter((j, i) => jobs.findIndex((k) => k.source === j.source) === i);
  return { jobs: unique, dir: dir ?? "." };
}

/**
 * The local folder `-r` mirrors the folder at `path` into: its last segment, decoded and checked
 * like any saved name, or null for the server's root (mirrored into DIR itself).
 * @throws {ClientError} usage, when the segment is not a safe name.
 */
export function folderName(path: string): string | null {
  const segs = path.split("?")[0].split("/").filter((s) => s !== "");
  if (segs.length === 0) return null;
  const last = segs[segs.length - 1];
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    name = last;
  }
  try {
    return checkName(name, `-r ${path}`);
  } catch {
    throw usageError(
      `-r ${path.slice(0, 80)}: the folder name ${JSON.stringify(name.slice(0, 80))} is not a ` +
        `safe local name`,
      "mirror its parent folder, or a folder with a plain name",
    );
  }
}
