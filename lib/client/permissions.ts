/**
 * The client's permissions, asked without prompting: on a terminal, Deno would stop at an
 * interactive "Allow?" prompt for a permission not granted on the command line. The client
 * never waits there. At start it queries (`Deno.permissions.querySync`, which never prompts)
 * network access to every URL's host:port and read/write access to DIR, and before each
 * connect — a redirect may lead to another origin — network access to that host:port. A
 * missing one is one line naming the flag, with the exit code a refused permission has always
 * had without a terminal: 3 for the network, 6 for files.
 *
 * @example
 * ```ts ignore
 * import { checkNet, checkStartPermissions } from "./permissions.ts";
 * checkStartPermissions(options); // throws ClientError(3 or 6) instead of prompting
 * checkNet({ host: "127.0.0.1", port: 8080, secure: false, path: "/" });
 * ```
 * @module
 */

import type { ClientOptions } from "./args.ts";
import { ClientError, EXIT } from "./errors.ts";
import { hostPort } from "./names.ts";
import { type Nameserver, ReverseDns, systemNameserver } from "../net/reverse_dns.ts";

function granted(d: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(d).state === "granted";
  } catch {
    return false;
  }
}

/** Whether connecting to `host`:`port` is allowed (never prompts). */
export function netGranted(host: string, port: number): boolean {
  return granted({ name: "net", host: hostPort(host, port) });
}

/** Whether resolving `name` with node:dns is allowed: it needs network access to the name on
 * any port (never prompts). */
export function lookupGranted(name: string): boolean {
  return granted({ name: "net", host: name });
}

/** Throws the one-line permission error (exit 3) unless network access to `to` is granted. */
export function checkNet(to: { host: string; port: number }): void {
  if (netGranted(to.host, to.port)) return;
  const where = hostPort(to.host, to.port);
  throw new ClientError(
    EXIT.connect,
    `permission denied: network access to ${where} was not granted; run deno with ` +
      `--allow-net=${to.host.includes(":") ? `[${to.host}]` : to.host} (or -A)`,
  );
}

function checkPath(kind: "read" | "write", path: string, what: string): void {
  if (granted({ name: kind, path })) return;
  throw new ClientError(
    EXIT.local,
    `permission denied: ${kind} access to ${path} was not granted; run deno with ` +
      `--allow-${kind}=${what} (or -A)`,
  );
}

/** Checks, before anything is done, every permission the run is known to need: the network to
 * each URL's origin, read and write in DIR (not for `-o -`), read of `--cacert`. */
export function checkStartPermissions(opts: ClientOptions): void {
  for (const job of opts.jobs.length > 0 ? opts.jobs : [{ target: opts.target }]) {
    checkNet(job.target);
  }
  if (!opts.stdout) {
    checkPath("read", opts.dir, "DIR");
    checkPath("write", opts.dir, "DIR");
  }
  if (opts.cacert) checkPath("read", opts.cacert, "FILE");
}

/** A reverse resolver that asks only when the network to the nameserver is granted (its UDP
 * query would otherwise prompt on a terminal); else it answers null at once. */
export function clientReverseDns(): ReverseDns {
  const ns: Nameserver | null = systemNameserver();
  return new ReverseDns({
    nameserver: ns !== null && netGranted(ns.host, ns.port) ? ns : null,
  });
}
