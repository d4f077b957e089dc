/**
 * The permissions the server needs, checked once at start-up — never asked for while serving.
 *
 * Deno asks interactively for a permission that was not granted when a program first needs it
 * (if stdin is a terminal). A server that did so while serving would stop every client until
 * somebody answered; so the server asks the runtime, without prompting, what it has been given
 * (`Deno.permissions.querySync`), refuses to start without what serving needs (listening on the
 * address; reading DIR is checked with the arguments, before DIR is looked at), and turns off, with a warning, the features it cannot have
 * (reverse lookups; the start-up banner lists every interface only with `--allow-sys`).
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

/** Checks, without prompting, what the server has been allowed to do. */
export function checkPermissions(needs: PermissionNeeds): PermissionVerdict {
  const verdict: PermissionVerdict = { warnings: [], reverseDns: needs.reverseDns };
  const host = needs.host.includes(":") ? `[${needs.host}]` : needs.host;
  if (!granted({ name: "net", host: `${host}:${needs.port}` })) {
    verdict.error = `permission denied: listening on ${host}:${needs.port} needs --allow-net ` +
      `(e.g. --allow-net=${host}), or run with -A`;
    return verdict;
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
