/**
 * The server's command line: every option with its default ({@linkcode USAGE}), parsed and
 * checked into {@linkcode ServerOptions} ({@linkcode parseServerArgs}). Errors are one line in
 * house style ({@linkcode UsageError}: exit 2; {@linkcode PermissionError}: exit 1).
 *
 * @example
 * ```ts ignore
 * import { parseServerArgs } from "./args.ts";
 * const { options } = parseServerArgs(["8000", "."]);
 * console.log(options.port); // 8000
 * ```
 * @module
 */

import { parseArgs } from "node:util";
import { type OptionsTable, parseArgsError } from "../cli_errors.ts";
import { DEFAULTS, type ServerOptions } from "./listen.ts";
import { type AuthUser, MAX_FAILURES_PER_MINUTE, parseAuthOption } from "./auth.ts";
import { SELF_SIGNED_DAYS } from "../net/tls.ts";
import { CidrSet } from "../net/cidr.ts";
import { checkHealthPath } from "./health.ts";

const s = (ms: number) => String(ms / 1000);

/** The usage text, every option with its default. */
export const USAGE = `Usage: server.ts [options] [PORT [DIR]]

Serve the files under DIR (default: the current directory) over HTTP/1.1 on PORT (default
${DEFAULTS.port}; 0 picks a free port).

Options:
  --host ADDR             address to bind, IPv4 or IPv6 (default ${DEFAULTS.host};
                          0.0.0.0 or :: to serve other machines)
  --workers N             accept loops on N threads sharing the port (default 1)
  --max-connections N     open connections at most, in total across --workers; more get 503
                          (default ${DEFAULTS.maxConnections})
  --max-connections-per-ip N
                          open connections per client address (IPv6: per /64); more get 503;
                          0 = no cap (default ${DEFAULTS.maxConnectionsPerIp})
  --min-rate BYTES_PER_SEC
                          drop a client that takes less than this while a response is written,
                          measured over --min-rate-window; 0 = no minimum (default ${DEFAULTS.minRate})
  --min-rate-window SEC   the window of --min-rate (default ${s(DEFAULTS.minRateWindowMs)})
  --head-timeout SEC      a request head must arrive within this (default ${
  s(DEFAULTS.headTimeoutMs)
})
  --idle-timeout SEC      close keep-alive connections idle this long (default ${
  s(DEFAULTS.idleTimeoutMs)
})
  --write-timeout SEC     close a client that reads nothing this long, or a response
                          that takes this long to start (default ${s(DEFAULTS.writeTimeoutMs)})
  --max-requests N        requests per connection (default ${DEFAULTS.maxRequests})
  --grace SEC             on SIGINT/SIGTERM, let responses finish this long (default ${
  s(DEFAULTS.graceMs)
})
  --no-listing            no directory listings (403 instead)
  --no-archive            no folder downloads as tar/zip (?download=tar|zip: 403)
  --dotfiles              serve names starting with "." (default: 404)
  --follow-symlinks       serve symlinks that lead outside DIR (default: 404)
  --no-digest             do not compute or send Repr-Digest (sha-256)
  --log FORMAT            text, json or none (default text)
  --no-dns                no reverse lookups of clients in the log
  --trusted-proxy CIDR    a load balancer whose PROXY header and X-Forwarded-For /
                          Forwarded are believed (repeatable; e.g. 10.0.0.0/8, ::1;
                          default: none, the fields are ignored)
  --proxy-protocol        every connection starts with a PROXY header, v1 or v2
                          (HAProxy send-proxy / send-proxy-v2); connections from
                          outside --trusted-proxy are closed (default off)
  --health-path PATH      answer PATH with 200 "ok" (503 while draining) for load
                          balancer checks; refused if DIR holds PATH (default none)
  --drain SEC             on SIGTERM, answer the health path 503 at once and keep
                          serving for SEC, then stop as without it (default 0)
  --tls-cert FILE         serve HTTPS with this PEM certificate (chain, leaf first); needs
                          --tls-key (default: plain HTTP)
  --tls-key FILE          the PEM private key of --tls-cert
  --tls-self-signed       serve HTTPS with a new self-signed ECDSA P-256 certificate for the
                          bound address, localhost, 127.0.0.1, ::1 (and every interface when
                          bound to 0.0.0.0/::), valid ${SELF_SIGNED_DAYS} days; made by the openssl program,
                          written to a new temporary directory, path and SHA-256 printed
  --auth USER:PASS        require HTTP Basic credentials (RFC 7617) on every path, listings
                          included; repeatable (the password shows in the process list:
                          prefer --auth-file)
  --auth-file FILE        users allowed in, one "user:scrypt$N$r$p$salt$hash" line each;
                          with --auth or --auth-file: after ${MAX_FAILURES_PER_MINUTE} refused attempts in a minute
                          from one address, 429 + Retry-After for that address only; over
                          plain HTTP off loopback, a warning that passwords travel in clear
  --hash-password USER    read a password from stdin, print USER's --auth-file line, exit
  -h, --help              this text
  -V, --version           print the version

Exit codes: 0 stopped by a signal, 1 could not start (port in use, ...), 2 bad arguments
(also an unusable TLS certificate or key: missing, unreadable, mismatched, expired).`;

/** A bad argument: exit 2, one line and a hint. */
export class UsageError extends Error {}
/** Could not start for want of a permission: exit 1, not 2 (the arguments are fine). */
export class PermissionError extends Error {}

function num(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`${name} must be a number from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

function int(v: string | undefined, name: string, min: number, max: number): number | undefined {
  const n = num(v, name, min, max);
  if (n !== undefined && !Number.isInteger(n)) {
    throw new UsageError(`${name} must be a whole number, got "${v}"`);
  }
  return n;
}

const secs = (v: string | undefined, name: string) => {
  const n = num(v, name, 0.001, 86_400);
  return n === undefined ? undefined : Math.round(n * 1000);
};

/** Where the TLS certificate comes from: files, generated at start, or none (plain HTTP). */
export type TlsSource = { certFile: string; keyFile: string } | "self-signed" | null;

/** The options `parseArgs` knows; the text of each is in {@linkcode USAGE}. */
const OPTIONS = {
  host: { type: "string" },
  workers: { type: "string" },
  "max-connections": { type: "string" },
  "max-connections-per-ip": { type: "string" },
  "min-rate": { type: "string" },
  "min-rate-window": { type: "string" },
  "head-timeout": { type: "string" },
  "idle-timeout": { type: "string" },
  "write-timeout": { type: "string" },
  "max-requests": { type: "string" },
  grace: { type: "string" },
  "no-listing": { type: "boolean" },
  "no-archive": { type: "boolean" },
  dotfiles: { type: "boolean" },
  "follow-symlinks": { type: "boolean" },
  "no-digest": { type: "boolean" },
  log: { type: "string" },
  "no-dns": { type: "boolean" },
  "trusted-proxy": { type: "string", multiple: true },
  "proxy-protocol": { type: "boolean" },
  "health-path": { type: "string" },
  drain: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-self-signed": { type: "boolean" },
  auth: { type: "string", multiple: true },
  "auth-file": { type: "string" },
  "hash-password": { type: "string" }, // handled by main() before everything else
} satisfies OptionsTable;

/** Options of `python -m http.server`, miniserve and dufs that Ferry spells otherwise: said as
 * such, instead of an edit-distance guess (`--port` is two letters from `--host`). */
const FOREIGN_OPTIONS: Record<string, string> = {
  "-p": "PORT is an argument: server.ts 8080 [DIR]",
  "--port": "PORT is an argument: server.ts 8080 [DIR]",
  "-b": "the address to bind is --host ADDR",
  "--bind": "the address to bind is --host ADDR",
  "-i": "the address to bind is --host ADDR",
  "--interfaces": "the address to bind is --host ADDR",
  "-d": "DIR is an argument after PORT: server.ts 8000 DIR",
  "--directory": "DIR is an argument after PORT: server.ts 8000 DIR",
  "--dir": "DIR is an argument after PORT: server.ts 8000 DIR",
};

/** Parses the command line into server options and the worker count. */
export function parseServerArgs(
  args: string[],
): {
  options: ServerOptions;
  workers: number;
  drainMs: number;
  tls: TlsSource;
  authFile: string | null;
} {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (e) {
    const message = parseArgsError(e, OPTIONS);
    const typed = /^unknown option (\S+)/.exec(message)?.[1].replace(/=.*$/, "");
    const foreign = typed === undefined ? undefined : FOREIGN_OPTIONS[typed];
    throw new UsageError(foreign ? `unknown option ${typed}: ${foreign}` : message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 2) {
    throw new UsageError(
      `unexpected argument "${positionals[2]}" (PORT and DIR are already given)`,
    );
  }
  const [portText = String(DEFAULTS.port), root = "."] = positionals;
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(
      `PORT must be a whole number from 0 to 65535, got "${portText}"` +
        (positionals.length === 1 ? ` (to serve a directory: server.ts ${DEFAULTS.port} DIR)` : ""),
    );
  }
  // Asked without prompting: a missing --allow-read is said as such, not as "does not exist".
  if (Deno.permissions.querySync({ name: "read", path: root }).state !== "granted") {
    throw new PermissionError(
      `permission denied: reading DIR "${root}" needs --allow-read (e.g. --allow-read=${root}), ` +
        `or run with -A`,
    );
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(root);
  } catch (e) {
    throw new UsageError(
      e instanceof Deno.errors.NotFound
        ? `DIR "${root}" does not exist`
        : `DIR "${root}" cannot be read: ${(e as Error).message}`,
    );
  }
  if (!info.isDirectory) throw new UsageError(`DIR "${root}" is not a directory`);
  const log = values.log ?? "text";
  if (log !== "text" && log !== "json" && log !== "none") {
    throw new UsageError(`--log must be text, json or none, got "${log}"`);
  }
  const host = values.host ?? DEFAULTS.host;
  if (host.trim() === "") throw new UsageError("--host must not be empty");
  const certFile = values["tls-cert"];
  const keyFile = values["tls-key"];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(
      certFile === undefined ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key",
    );
  }
  if (certFile !== undefined && values["tls-self-signed"]) {
    throw new UsageError("--tls-self-signed and --tls-cert/--tls-key exclude each other");
  }
  const tls: TlsSource = certFile !== undefined
    ? { certFile, keyFile: keyFile! }
    : values["tls-self-signed"]
    ? "self-signed"
    : null;
  let users: AuthUser[] = [];
  try {
    users = (values.auth ?? []).map(parseAuthOption);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const trustedProxies = values["trusted-proxy"] ?? [];
  try {
    CidrSet.parse(trustedProxies);
  } catch (e) {
    throw new UsageError(`--trusted-proxy: ${(e as Error).message}`);
  }
  if (values["proxy-protocol"] && trustedProxies.length === 0) {
    throw new UsageError(
      "--proxy-protocol needs at least one --trusted-proxy CIDR (the load balancer's address)",
    );
  }
  const healthPath = values["health-path"];
  if (healthPath !== undefined) {
    const bad = checkHealthPath(healthPath, root);
    if (bad !== null) throw new UsageError(bad);
  }
  return {
    tls,
    authFile: values["auth-file"] ?? null,
    workers: int(values.workers, "--workers", 1, 64) ?? 1,
    drainMs: values.drain === undefined ? 0 : secs(values.drain, "--drain")!,
    options: {
      root,
      host: host.replace(/^\[(.*)\]$/, "$1"),
      port: Number(portText),
      listing: !values["no-listing"],
      archive: !values["no-archive"],
      dotfiles: values.dotfiles ?? false,
      followSymlinks: values["follow-symlinks"] ?? false,
      digests: !values["no-digest"],
      reverseDns: !values["no-dns"],
      log,
      maxConnections: int(values["max-connections"], "--max-connections", 1, 1_000_000),
      maxConnectionsPerIp: int(
        values["max-connections-per-ip"],
        "--max-connections-per-ip",
        0,
        1_000_000,
      ),
      minRate: int(values["min-rate"], "--min-rate", 0, 1e12),
      minRateWindowMs: secs(values["min-rate-window"], "--min-rate-window"),
      headTimeoutMs: secs(values["head-timeout"], "--head-timeout"),
      idleTimeoutMs: secs(values["idle-timeout"], "--idle-timeout"),
      writeTimeoutMs: secs(values["write-timeout"], "--write-timeout"),
      maxRequests: int(values["max-requests"], "--max-requests", 1, 1_000_000_000),
      graceMs: secs(values.grace, "--grace"),
      auth: users.length > 0 ? { users } : undefined,
      trustedProxies,
      proxyProtocol: values["proxy-protocol"] ?? false,
      healthPath,
    },
  };
}

/** The start-up warning for access control over plain HTTP on an address other machines can
 * reach (credentials in clear), or null: loopback only, or TLS on. */
export function plainAuthWarning(host: string, tls: boolean): string | null {
  const loopback = host === "localhost" || host === "::1" || host.startsWith("127.");
  if (tls || loopback) return null;
  return `authentication over plain HTTP on ${host}: passwords travel in clear to anyone on ` +
    `the network; add --tls-cert/--tls-key or --tls-self-signed`;
}
