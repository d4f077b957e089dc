/**
 * Ferry's file server: `deno run -A server.ts [options] PORT DIR`.
 *
 * Parses the command line, starts {@linkcode Server} and runs until SIGINT/SIGTERM.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULTS, Server, type ServerOptions } from "./lib/server/listen.ts";
import { startWorkers } from "./lib/server/workers.ts";
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

const s = (ms: number) => String(ms / 1000);

/** The usage text, every option with its default. */
export const USAGE = `Usage: server.ts [options] PORT DIR

Serve the files under DIR over HTTP/1.1. PORT 0 picks a free port.

Options:
  --host ADDR             address to bind, IPv4 or IPv6 (default ${DEFAULTS.host};
                          0.0.0.0 or :: to serve other machines)
  --workers N             accept loops on N threads sharing the port (default 1)
  --max-connections N     open connections at most; more get 503 (default ${DEFAULTS.maxConnections})
  --head-timeout SEC      a request head must arrive within this (default ${
  s(DEFAULTS.headTimeoutMs)
})
  --idle-timeout SEC      close keep-alive connections idle this long (default ${
  s(DEFAULTS.idleTimeoutMs)
})
  --write-timeout SEC     close a client that reads nothing this long (default ${
  s(DEFAULTS.writeTimeoutMs)
})
  --max-requests N        requests per connection (default ${DEFAULTS.maxRequests})
  --grace SEC             on SIGINT/SIGTERM, let responses finish this long (default ${
  s(DEFAULTS.graceMs)
})
  --no-listing            no directory listings (403 instead)
  --dotfiles              serve names starting with "." (default: 404)
  --follow-symlinks       serve symlinks that lead outside DIR (default: 404)
  --no-digest             do not compute or send Repr-Digest (sha-256)
  --log FORMAT            text, json or none (default text)
  --no-dns                no reverse lookups of clients in the log
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
async function prepareTls(options: ServerOptions, source: TlsSource): Promise<string[]> {
  if (source === null) return [];
  if (source !== "self-signed") {
    const m = await loadTlsFiles(source.certFile, source.keyFile);
    options.tls = { cert: m.cert, key: m.key };
    return [`TLS certificate ${source.certFile} (SHA-256 ${m.fingerprint})`];
  }
  const host = options.host ?? DEFAULTS.host;
  let dir: string;
  try {
    dir = await Deno.makeTempDir({ prefix: "ferry-tls-" });
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

/** Parses the command line into server options and the worker count. */
export function parseServerArgs(
  args: string[],
): { options: ServerOptions; workers: number; tls: TlsSource; authFile: string | null } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      host: { type: "string" },
      workers: { type: "string" },
      "max-connections": { type: "string" },
      "head-timeout": { type: "string" },
      "idle-timeout": { type: "string" },
      "write-timeout": { type: "string" },
      "max-requests": { type: "string" },
      grace: { type: "string" },
      "no-listing": { type: "boolean" },
      dotfiles: { type: "boolean" },
      "follow-symlinks": { type: "boolean" },
      "no-digest": { type: "boolean" },
      log: { type: "string" },
      "no-dns": { type: "boolean" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-self-signed": { type: "boolean" },
      auth: { type: "string", multiple: true },
      "auth-file": { type: "string" },
    },
  });
  if (positionals.length !== 2) {
    throw new UsageError(
      positionals.length < 2 ? "missing PORT and DIR" : `unexpected argument "${positionals[2]}"`,
    );
  }
  const [portText, root] = positionals;
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(`PORT must be a whole number from 0 to 65535, got "${portText}"`);
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(root);
  } catch {
    throw new UsageError(`DIR "${root}" does not exist`);
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
  return {
    tls,
    authFile: values["auth-file"] ?? null,
    workers: int(values.workers, "--workers", 1, 64) ?? 1,
    options: {
      root,
      host: host.replace(/^\[(.*)\]$/, "$1"),
      port: Number(portText),
      listing: !values["no-listing"],
      dotfiles: values.dotfiles ?? false,
      followSymlinks: values["follow-symlinks"] ?? false,
      digests: !values["no-digest"],
      reverseDns: !values["no-dns"],
      log,
      maxConnections: int(values["max-connections"], "--max-connections", 1, 1_000_000),
      headTimeoutMs: secs(values["head-timeout"], "--head-timeout"),
      idleTimeoutMs: secs(values["idle-timeout"], "--idle-timeout"),
      writeTimeoutMs: secs(values["write-timeout"], "--write-timeout"),
      maxRequests: int(values["max-requests"], "--max-requests", 1, 1_000_000_000),
      graceMs: secs(values.grace, "--grace"),
      auth: users.length > 0 ? { users } : undefined,
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
  const hp = args.indexOf("--hash-password");
  if (hp >= 0) return await hashPasswordCommand(args[hp + 1] ?? "");
  if (args.includes("-V") || args.includes("--version")) {
    console.log(`ferry server ${VERSION}`);
    return 0;
  }
  let parsed: ReturnType<typeof parseServerArgs>;
  try {
    parsed = parseServerArgs(args);
  } catch (e) {
    const msg = e instanceof UsageError ? e.message : (e as Error).message.replace(/\. .*$/, "");
    console.error(`server.ts: ${msg}\n\n${USAGE}`);
    return 2;
  }
  const { options, workers } = parsed;
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
    tlsLines = await prepareTls(options, parsed.tls);
  } catch (e) {
    if (!(e instanceof TlsFileError)) throw e;
    console.error(`server.ts: ${e.message}`);
    return 2;
  }
  let server: { urls(): string[]; shutdown(graceMs?: number): Promise<void>; log: Server["log"] };
  try {
    server = workers > 1 ? await startWorkers(options, workers) : await Server.start(options);
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
    server.log.info("shutting down: finishing responses in flight (Ctrl-C again to stop now)");
    server.shutdown().then(resolve);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  await stopped;
  if (selfSignedDir !== null) await Deno.remove(selfSignedDir, { recursive: true }).catch(() => {});
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
