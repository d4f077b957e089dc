/**
 * The client's exit codes and the one error type that carries one, plus the translation of
 * runtime errors (permissions, sockets, files) into a one-line message a user can act on.
 *
 * @example
 * ```ts
 * import { ClientError, EXIT } from "./errors.ts";
 * throw new ClientError(EXIT.usage, "PORT must be a number from 1 to 65535, got \"x\"");
 * ```
 * @module
 */

/** Exit codes (stable; documented in --help and the README). */
export const EXIT = {
  /** Saved, or nothing to do. */
  ok: 0,
  /** Usage error: bad arguments, unsafe name. */
  usage: 2,
  /** Cannot resolve the host or connect to it. */
  connect: 3,
  /** The server answered 4xx/5xx. */
  httpStatus: 4,
  /** Protocol error or truncated body. */
  protocol: 5,
  /** Local file error: target exists, permission, disk full, not a directory. */
  local: 6,
  /** Checksum mismatch. */
  checksum: 7,
  /** Timed out. */
  timeout: 8,
  /** TLS handshake or certificate verification failed. */
  tls: 9,
  /** Interrupted (SIGINT, Ctrl-C): the .part is kept and the same command resumes. */
  interrupted: 130,
} as const;

/** One of the {@linkcode EXIT} values. */
export type ExitCode = typeof EXIT[keyof typeof EXIT];

/** The exit-code table as printed by --help. */
export const EXIT_TABLE = `Exit codes:
    0  saved (or nothing to do)
    2  usage error
    3  cannot resolve or connect
    4  the server answered with an error status (4xx/5xx)
    5  protocol error or truncated body
    6  local file error (target exists without --force, permission, disk full)
    7  checksum mismatch
    8  timed out (--timeout per read, --max-time overall)
    9  TLS handshake or certificate verification failed
  130  interrupted (Ctrl-C); the .part is kept and the same command resumes`;

/** A failure that may pass (for --retry): connect failed, connection reset or cut, timed out,
 * or a status that says "later" (408, 429, 5xx); "refused": a connection refused by an origin
 * not heard from yet in this run, retried only with --retry-connrefused (lib/client/refused.ts). */
export type Transient = "connect" | "refused" | "reset" | "timeout" | "status";

/** A failure with the exit code it maps to. `message` is the one line shown to the user. */
export class ClientError extends Error {
  /** The process exit code. */
  readonly code: ExitCode;
  /** Set when trying again may succeed. */
  readonly transient: Transient | null;
  /** A server's Retry-After, in ms, when it sent one. */
  readonly retryAfterMs: number | null;

  constructor(
    code: ExitCode,
    message: string,
    options: { transient?: Transient; retryAfterMs?: number | null } = {},
  ) {
    super(message);
    this.name = "ClientError";
    this.code = code;
    this.transient = options.transient ?? null;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

/** The reason text of a runtime error, without Deno's "(os error N)" and stack. */
export function reasonOf(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0].replace(/ \(os error \d+\)/, "").slice(0, 300);
}

/** A permission the runtime refused (Deno.errors.NotCapable / PermissionDenied from the
 * permission system, or node:dns's getaddrinfo EPERM), or null when `e` is something else. */
export function permissionError(e: unknown, subject: string): ClientError | null {
  const msg = e instanceof Error ? e.message : "";
  const denied = e instanceof Deno.errors.NotCapable ||
    (e instanceof Deno.errors.PermissionDenied && /--allow-/.test(msg)) ||
    (/getaddrinfo/.test(msg) && (e as { code?: string }).code === "EPERM");
  if (!denied) return null;
  const flag = /--allow-[a-z]+/.exec(msg)?.[0] ?? "--allow-net";
  const code = flag === "--allow-net" ? EXIT.connect : EXIT.local;
  const what = flag === "--allow-net" ? "network access" : `${flag.slice(8)} access`;
  return new ClientError(
    code,
    `permission denied: ${what} to ${subject} was not granted; run deno with ${flag}=${
      flag === "--allow-net" ? "HOST" : "DIR"
    } (or -A)`,
  );
}

/** Wraps a local file operation's failure: exit 6 with the path and the reason, or the
 * permission message. */
export function fileError(e: unknown, what: string, path: string): ClientError {
  if (e instanceof ClientError) return e;
  const perm = permissionError(e, path);
  if (perm !== null) return perm;
  const code = (e as { code?: string }).code;
  const hint = code === "ENOSPC"
    ? "free some disk space and retry with -c to resume"
    : code === "EROFS" || code === "EACCES" || e instanceof Deno.errors.PermissionDenied
    ? "choose a writable DIR"
    : code === "ENOTDIR" || e instanceof Deno.errors.NotADirectory
    ? "DIR (or one of its parents) is not a directory"
    : "check DIR";
  return new ClientError(EXIT.local, `cannot ${what} ${path}: ${reasonOf(e)}; ${hint}`);
}
