/**
 * Ferry's file server: `deno run -A server.ts [options] [PORT [DIR]]`.
 *
 * Parses the command line, starts {@linkcode Server} and runs until SIGINT/SIGTERM.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type OptionsTable, parseArgsError } from "./lib/cli_errors.ts";
import { checkPermissions } from "./lib/server/permissions.ts";
import { DEFAULTS, Server, type ServerOptions } from "./lib/server/listen.ts";
import { startWorkers } from "./lib/server/workers.ts";
import { onWorkerThread, serveAsWorker } from "./lib/server/worker_main.ts";
import { VERSION } from "./lib/version.ts";
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
  -h, --help              this text
  -V, --version           print the version

Exit codes: 0 stopped by a signal, 1 could not start (port in use, ...), 2 bad arguments.`;

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
  dotfiles: { type: "boolean" },
  "follow-symlinks": { type: "boolean" },
  "no-digest": { type: "boolean" },
  log: { type: "string" },
  "no-dns": { type: "boolean" },
  "trusted-proxy": { type: "string", multiple: true },
  "proxy-protocol": { type: "boolean" },
  "health-path": { type: "string" },
  drain: { type: "string" },
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
): { options: ServerOptions; workers: number; drainMs: number } {
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
    workers: int(values.workers, "--workers", 1, 64) ?? 1,
    drainMs: values.drain === undefined ? 0 : secs(values.drain, "--drain")!,
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
      trustedProxies,
      proxyProtocol: values["proxy-protocol"] ?? false,
      healthPath,
    },
  };
}

/** Runs the server CLI; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    console.log(USAGE);
    return 0;
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
  const verdict = checkPermissions({
    host: options.host ?? DEFAULTS.host,
    port: options.port ?? DEFAULTS.port,
    reverseDns: options.reverseDns ?? true,
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
    return 1;
  }
  server.log.info(`Ferry ${VERSION} serving ${Deno.realPathSync(options.root)}`);
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
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onTerm);
  return 0;
}

if (import.meta.main) {
  if (onWorkerThread()) serveAsWorker(); // a --workers thread started from this very file
  else Deno.exit(await main(Deno.args));
}
