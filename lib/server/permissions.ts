/**
 * The permissions the server needs, checked once at start-up — never asked for while serving.
 *
 * Deno asks interactively for a permission that was not granted when a program first needs it
 * (if stdin is a terminal). A server that did so while serving would stop every client until
 * somebody answered; so the server asks the runtime, without prompting, what it has been given
 * (`Deno.permissions.querySync`), refuses to start without what serving needs (listening on the
 * address; reading DIR is checked with the arguments, before DIR is looked at; reading the files
 * named by --tls-cert, --tls-key and --auth-file; for --tls-self-signed, running `openssl` and
 * writing and reading a new directory in the temporary directory), and turns off, with a
 * warning, the features it cannot have (reverse lookups; the start-up banner lists every
 * interface only with `--allow-sys`).
 *
 * @example
 * ```ts ignore
 * import { checkPermissions } from "./permissions.ts";
 * const verdict = checkPermissions({ host: "127.0.0.1", port: 8000, reverseDns: true });
 * for (const w of verdict.warnings) console.warn(w);
 * if (verdict.error) throw new Error(verdict.error);
 * ```
 * @module
 */

import { systemNameserver } from "../net/reverse_dns.ts";

/** What start-up needs to know of the server's options. */
export interface PermissionNeeds {
  /** Bind address and port: net permission for them is required. */
  host: string;
  port: number;
  /** Reverse lookups of clients, turned off when not permitted. */
  reverseDns: boolean;
  /** Files read at start, with the option that names each (--tls-cert, --tls-key,
   * --auth-file): read permission is required. */
  files?: Array<{ option: string; path: string }>;
  /** --tls-self-signed: the directory in which a new one receives the certificate made by the
   * `openssl` program: running openssl and writing and reading there are required. */
  selfSignedIn?: string;
}

/** The verdict: an error that stops the start, warnings, and the features to turn off. */
export interface PermissionVerdict {
  /** Set when the server cannot serve at all: the one line to print. */
  error?: string;
  /** One line each, printed at start. */
  warnings: string[];
  /** False when reverse lookups must be turned off. */
  reverseDns: boolean;
}

const granted = (d: Deno.PermissionDescriptor) => Deno.permissions.querySync(d).state === "granted";

/**
 * The temporary directory, as the runtime would choose it: `$TMPDIR` when the program may read
 * that variable (asked without prompting), else `/tmp`. Given to `Deno.makeTempDir` as its
 * `dir`, so that the directory used is the one whose permission was checked.
 */
export function tempDirectory(): string {
  const fallback = "/tmp";
  if (!granted({ name: "env", variable: "TMPDIR" })) return fallback;
  const t = Deno.env.get("TMPDIR");
  return t === undefined || t === "" ? fallback : t;
}

/** Checks, without prompting, what the server has been allowed to do. */
export function checkPermissions(needs: PermissionNeeds): PermissionVerdict {
  const verdict: PermissionVerdict = { warnings: [], reverseDns: needs.reverseDns };
  const host = needs.host.includes(":") ? `[${needs.host}]` : needs.host;
  if (!granted({ name: "net", host: `${host}:${needs.port}` })) {
    verdict.error = `permission denied: listening on ${host}:${needs.port} needs --allow-net ` +
      `(e.g. --allow-net=${host}), or run with -A`;
    return verdict;
  }
  for (const f of needs.files ?? []) {
    if (!granted({ name: "read", path: f.path })) {
      verdict.error = `permission denied: reading ${f.option} ${f.path} needs --allow-read ` +
        `(e.g. --allow-read=${f.path}), or run with -A`;
      return verdict;
    }
  }
  const tmp = needs.selfSignedIn;
  if (tmp !== undefined) {
    if (!granted({ name: "run", command: "openssl" })) {
      verdict.error = "permission denied: --tls-self-signed runs the openssl program: it needs " +
        "--allow-run=openssl, or run with -A";
      return verdict;
    }
    if (!granted({ name: "write", path: tmp }) || !granted({ name: "read", path: tmp })) {
      verdict.error = `permission denied: --tls-self-signed writes its certificate to a new ` +
        `directory in ${tmp}: it needs --allow-write=${tmp} --allow-read=${tmp}, or run with -A`;
      return verdict;
    }
  }
  // Reverse lookups ask the system's nameserver over UDP (lib/net/reverse_dns.ts): reading
  // /etc/resolv.conf (or $FERRY_DNS_SERVER) and sending to that address must both be allowed.
  if (needs.reverseDns) {
    const ns = systemNameserver();
    const nsHost = ns === null ? "" : ns.host.includes(":") ? `[${ns.host}]` : ns.host;
    const why = ns === null
      ? "finding the nameserver needs --allow-read=/etc/resolv.conf"
      : granted({ name: "net", host: `${nsHost}:${ns.port}` })
      ? ""
      : `asking the nameserver needs --allow-net=${nsHost}:${ns.port}`;
    if (why !== "") {
      verdict.reverseDns = false;
      verdict.warnings.push(`reverse DNS off: ${why} (or pass --no-dns to silence this)`);
    }
  }
  return verdict;
}
