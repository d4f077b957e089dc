/**
 * Ferry's file server: `deno run -A server.ts [options] [PORT [DIR]]`.
 *
 * Parses the command line, starts {@linkcode Server} and runs until SIGINT/SIGTERM.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type OptionsTable, parseArgsError } from "./lib/cli_errors.ts";
import { checkPermissions, tempDirectory } from "./lib/server/permissions.ts";
import { DEFAULTS, Server, type ServerOptions } from "./lib/server/listen.ts";
import { startWorkers } from "./lib/server/workers.ts";
import { onWorkerThread, serveAsWorker } from "./lib/server/worker_main.ts";
import { VERSION } from "./lib/version.ts";
import {
  AuthConfigError,
  type AuthUser,
  hashPassword,
  MAX_FAILURES_PER_MINUTE,
  parseAuthFile,
  parseAuthOption,
} from "./lib/server/auth.ts";
import {
  generateSelfSigned,
  loadTlsFiles,
  SELF_SIGNED_DAYS,
  selfSignedNames,
  TlsFileError,
} from "./lib/net/tls.ts";
import { CidrSet } from "./lib/net/cidr.ts";
import { checkHealthPath } from "./lib/server/health.ts";

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

class UsageError extends Error {}
/** Could not start for want of a permission: exit 1, not 2 (the arguments are fine). */
class PermissionError extends Error {}

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

/** The machine's interface addresses (for a certificate when bound to a wildcard). */
function interfaceAddresses(host: string): string[] {
  if (host !== "0.0.0.0" && host !== "::") return [];
  // Only when allowed: asking for it here would prompt (see lib/server/permissions.ts).
  if (Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state !== "granted") {
    return []; // no --allow-sys: the loopback names will do
  }
  try {
    return Deno.networkInterfaces()
      .filter((i) => host === "::" || i.family === "IPv4")
      .map((i) => i.address);
  } catch {
    return []; // no --allow-sys: the loopback names will do
  }
}

/** The directory of a --tls-self-signed certificate: removed when the server stops (the key
 * dies with the process; the next start makes a new one). */
let selfSignedDir: string | null = null;

/**
 * Loads or makes the TLS certificate into `options.tls`; returns the lines to print (the
 * self-signed certificate's path and fingerprint).
 * @throws {TlsFileError} naming the file and the problem.
 */
async function prepareTls(
  options: ServerOptions,
  source: TlsSource,
  tempDir = tempDirectory(),
): Promise<string[]> {
  if (source === null) return [];
  if (source !== "self-signed") {
    const m = await loadTlsFiles(source.certFile, source.keyFile);
    options.tls = { cert: m.cert, key: m.key };
    return [`TLS certificate ${source.certFile} (SHA-256 ${m.fingerprint})`];
  }
  const host = options.host ?? DEFAULTS.host;
  let dir: string;
  try {
    // In the directory whose permission was checked at start (lib/server/permissions.ts).
    dir = await Deno.makeTempDir({ dir: tempDir, prefix: "ferry-tls-" });
  } catch (e) {
    throw new TlsFileError(
      `--tls-self-signed: cannot make a directory for the certificate: ${
        (e as Error).message.split("\n")[0]
      } (run deno with --allow-write, or -A)`,
    );
  }
  selfSignedDir = dir;
  const names = selfSignedNames(host, interfaceAddresses(host));
  let made: Awaited<ReturnType<typeof generateSelfSigned>>;
  try {
    made = await generateSelfSigned(dir, names);
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    selfSignedDir = null;
    throw e;
  }
  const { certFile, material } = made;
  options.tls = { cert: material.cert, key: material.key };
  return [
    `TLS self-signed certificate ${certFile} for ${names.join(", ")}`,
    `  SHA-256 fingerprint ${material.fingerprint}`,
    `  trust it with: curl --cacert ${certFile}, client.ts --cacert ${certFile}`,
  ];
}

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

/** `--hash-password USER`: reads one line (the password) from stdin, prints the file line. */
async function hashPasswordCommand(user: string): Promise<number> {
  if (user === "" || user.includes(":") || /\s/.test(user)) {
    console.error("server.ts: --hash-password needs a USER without ':' or spaces");
    return 2;
  }
  if (Deno.stdin.isTerminal()) console.error(`password for ${user} (read from stdin):`);
  const chunks: Uint8Array[] = [];
  for await (const c of Deno.stdin.readable) chunks.push(c);
  const text = new TextDecoder().decode(await new Blob(chunks as BlobPart[]).arrayBuffer());
  const password = text.replace(/\r?\n$/, "");
  if (password === "") {
    console.error("server.ts: --hash-password: empty password on stdin");
    return 2;
  }
  console.log(`${user}:${hashPassword(password)}`);
  return 0;
}

/** Runs the server CLI; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    console.log(USAGE);
    return 0;
  }
  // Before PORT/DIR and the rest: it only prints a line for an --auth-file.
  const hp = args.findIndex((a) => a === "--hash-password" || a.startsWith("--hash-password="));
  if (hp >= 0) {
    const a = args[hp];
    return await hashPasswordCommand(
      a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[hp + 1] ?? "",
    );
  }
  if (args.includes("-V") || args.includes("--version")) {
    console.log(`ferry server ${VERSION}`);
    return 0;
  }
  let parsed: ReturnType<typeof parseServerArgs>;
  try {
    parsed = parseServerArgs(args);
  } catch (e) {
    if (e instanceof PermissionError) {
      console.error(`server.ts: ${e.message}`);
      return 1;
    }
    const msg = e instanceof UsageError ? e.message : (e as Error).message.split("\n")[0];
    console.error(`server.ts: ${msg}\nTry 'server.ts --help' for every option and its default.`);
    return 2;
  }
  const { options, workers, drainMs } = parsed;
  const certTemp = parsed.tls === "self-signed" ? tempDirectory() : undefined;
  const verdict = checkPermissions({
    host: options.host ?? DEFAULTS.host,
    port: options.port ?? DEFAULTS.port,
    reverseDns: options.reverseDns ?? true,
    files: [
      ...(parsed.tls !== null && parsed.tls !== "self-signed"
        ? [
          { option: "--tls-cert", path: parsed.tls.certFile },
          { option: "--tls-key", path: parsed.tls.keyFile },
        ]
        : []),
      ...(parsed.authFile !== null ? [{ option: "--auth-file", path: parsed.authFile }] : []),
    ],
    selfSignedIn: certTemp,
  });
  if (verdict.error) {
    console.error(`server.ts: ${verdict.error}`);
    return 1;
  }
  for (const w of verdict.warnings) console.error(`server.ts: warning: ${w}`);
  options.reverseDns = verdict.reverseDns;
  // SO_REUSEPORT is behind --unstable-net, and asking for it without the flag ends the whole
  // process from inside the worker: say so before. Deno.listenDatagram exists only with the flag.
  if (workers > 1 && typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    console.error(
      "server.ts: --workers needs the runtime flag --unstable-net (for SO_REUSEPORT): run " +
        "deno run -A --unstable-net server.ts ..., or install with deno install -g -A --unstable-net",
    );
    return 1;
  }
  if (parsed.authFile !== null) {
    try {
      const users = parseAuthFile(await Deno.readTextFile(parsed.authFile), parsed.authFile);
      options.auth = { users: [...options.auth?.users ?? [], ...users] };
    } catch (e) {
      const msg = e instanceof AuthConfigError
        ? e.message
        : `cannot read --auth-file ${parsed.authFile}: ${(e as Error).message.split("\n")[0]}`;
      console.error(`server.ts: ${msg}`);
      return 2;
    }
  }
  let tlsLines: string[];
  try {
    tlsLines = await prepareTls(options, parsed.tls, certTemp);
  } catch (e) {
    if (!(e instanceof TlsFileError)) throw e;
    console.error(`server.ts: ${e.message}`);
    return 2;
  }
  let server: {
    urls(): string[];
    shutdown(graceMs?: number): Promise<void>;
    drain(): void;
    log: Server["log"];
  };
  try {
    server = workers > 1
      ? await startWorkers(options, workers, { module: import.meta.url })
      : await Server.start(options);
  } catch (e) {
    const where = `${options.host}:${options.port}`;
    if (e instanceof Deno.errors.AddrInUse) {
      console.error(
        `server.ts: port ${options.port} is already in use on ${options.host} ` +
          `(address ${where}); choose another PORT, or 0 for a free one`,
      );
    } else if (
      e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied ||
      /Requires \w+ access/.test((e as Error).message)
    ) {
      console.error(
        `server.ts: permission denied: ${(e as Error).message}; run with ` +
          `--allow-net --allow-read (and --allow-sys for the start-up URLs), or -A`,
      );
    } else {
      console.error(`server.ts: cannot listen on ${where}: ${(e as Error).message}`);
    }
    if (selfSignedDir !== null) {
      await Deno.remove(selfSignedDir, { recursive: true }).catch(() => {});
    }
    return 1;
  }
  server.log.info(`Ferry ${VERSION} serving ${Deno.realPathSync(options.root)}`);
  for (const line of tlsLines) server.log.info(line);
  if (options.auth !== undefined) {
    server.log.info(`HTTP Basic authentication: ${options.auth.users.length} user(s)`);
    const warning = plainAuthWarning(options.host ?? DEFAULTS.host, options.tls !== undefined);
    if (warning !== null) server.log.warn(warning);
  }
  for (const url of server.urls()) server.log.info(`  ${url}`);
  server.log.info("Press Ctrl-C to stop.");

  let signals = 0;
  const { promise: stopped, resolve } = Promise.withResolvers<void>();
  const onSignal = () => {
    signals++;
    if (signals > 1) Deno.exit(1); // a second signal: stop at once
    server.log.info(
      "shutting down: finishing responses in flight (a second Ctrl-C or signal stops now)",
    );
    server.shutdown().then(resolve);
  };
  // --drain: SIGTERM (what orchestrators send) first takes the instance out of the balancer.
  const onTerm = () => {
    if (drainMs <= 0 || signals > 0) return onSignal();
    signals++;
    server.drain();
    server.log.info(
      `draining: health answers 503, still serving for ${
        drainMs / 1000
      } s (signal again to stop now)`,
    );
    setTimeout(() => {
      signals = 0;
      onSignal();
    }, drainMs);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onTerm);
  await stopped;
  if (selfSignedDir !== null) await Deno.remove(selfSignedDir, { recursive: true }).catch(() => {});
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onTerm);
  return 0;
}

if (import.meta.main) {
  if (onWorkerThread()) serveAsWorker(); // a --workers thread started from this very file
  else Deno.exit(await main(Deno.args));
}
