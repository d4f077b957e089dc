/**
 * Ferry's file server: `deno run -A server.ts [options] [PORT [DIR]]`.
 *
 * Parses the command line (lib/server/args.ts), checks permissions, loads TLS, starts
 * {@linkcode Server} and runs until SIGINT/SIGTERM.
 *
 * @module
 */

import { checkPermissions, tempDirectory } from "./lib/server/permissions.ts";
import { DEFAULTS, Server } from "./lib/server/listen.ts";
import { startWorkers } from "./lib/server/workers.ts";
import { onWorkerThread, serveAsWorker } from "./lib/server/worker_main.ts";
import { VERSION } from "./lib/version.ts";
import { AuthConfigError, hashPassword, parseAuthFile } from "./lib/server/auth.ts";
import { TlsFileError } from "./lib/net/tls.ts";
import {
  parseServerArgs,
  PermissionError,
  plainAuthWarning,
  USAGE,
  UsageError,
} from "./lib/server/args.ts";
import { prepareTls, removeSelfSigned } from "./lib/server/tls_setup.ts";

export { parseServerArgs, plainAuthWarning, USAGE };

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
    await removeSelfSigned();
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
  await removeSelfSigned();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onTerm);
  return 0;
}

if (import.meta.main) {
  if (onWorkerThread()) serveAsWorker(); // a --workers thread started from this very file
  else Deno.exit(await main(Deno.args));
}
