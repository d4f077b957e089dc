/**
 * Access control: HTTP Basic authentication (RFC 7617) on every request — files, listings,
 * everything — checked before the request is routed, so the answer without valid credentials is
 * the same 401 whether the path exists or not. Users come from `--auth USER:PASS` (compared in
 * constant time) and `--auth-file FILE` (`user:scrypt$N$r$p$salt$hash` lines, made by
 * `server.ts --hash-password`). scrypt runs on a thread of its own
 * (lib/server/auth_worker.ts), once per distinct accepted credential (then remembered) and once
 * per refused attempt — which the {@linkcode FailureLimiter} bounds per client
 * address: past {@linkcode MAX_FAILURES_PER_MINUTE} refused attempts in a minute that address
 * gets 429 with Retry-After, and nobody else is slowed.
 *
 * Passwords never leave this module: the log gets the user name only.
 *
 * @example
 * ```ts ignore
 * import { AuthGate } from "./auth.ts";
 * const gate = new AuthGate({ users: [{ user: "ann", pass: "s3cret" }] });
 * const v = await gate.check("Basic YW5uOnMzY3JldA==", "127.0.0.1"); // { user: "ann" }
 * ```
 * @module
 */

import { createHash, randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import { STATUS } from "../http/status.ts";
import { errorReply, type Reply } from "./files.ts";
import type { ScryptRequest } from "./auth_worker.ts";

/** The realm named in WWW-Authenticate. */
export const AUTH_REALM = "Ferry";
/** Refused attempts allowed per client address in {@linkcode FAILURE_WINDOW_MS}; the next get
 * 429. Ten lets a person mistype a few times; it holds a guesser to 14,400 a day. */
export const MAX_FAILURES_PER_MINUTE = 10;
/** The window of {@linkcode MAX_FAILURES_PER_MINUTE}. */
export const FAILURE_WINDOW_MS = 60_000;
/** Client addresses remembered by the limiter at most (the oldest is forgotten first): bounds
 * its memory under a spray of addresses. */
export const MAX_TRACKED_ADDRESSES = 10_000;
/** Accepted credentials remembered, so scrypt runs once per user, not per request. */
const MAX_REMEMBERED = 1_000;
/** scrypt checks waiting at most; more get 429 (try again) instead of queueing without bound. */
const MAX_SCRYPT_QUEUE = 64;
/** Longest Authorization value looked at (a real one is under 300 bytes). */
const MAX_CREDENTIALS_BYTES = 4096;
/** scrypt parameters of new hashes: N = 2^14, r = 8, p = 1 (~16 MiB, ~50 ms), as RFC 7914 §2
 * suggests for interactive logins; a 16-byte salt; a 32-byte hash. */
export const SCRYPT = { n: 1 << 14, r: 8, p: 1, saltBytes: 16, hashBytes: 32 } as const;

/** A user allowed in: a password given on the command line, or a scrypt hash from a file. */
export type AuthUser =
  | { user: string; pass: string }
  | { user: string; scrypt: { n: number; r: number; p: number; salt: string; hash: string } };

/** The parameters and result of one scrypt hash (salt and hash base64). */
type ScryptParams = { n: number; r: number; p: number; salt: string; hash: string };

/** What the gate is told (plain data: it crosses to --workers threads). */
export interface AuthConfig {
  users: AuthUser[];
}

/** The gate's verdict: the user let in, or the reply to send instead (401 or 429). */
export type AuthVerdict = { user: string; reply?: undefined } | {
  user?: undefined;
  reply: Reply;
  /** The user name that was presented and refused, for the log; null when none. */
  refused: string | null;
};

/** A bad --auth value or --auth-file line: one line for the user. */
export class AuthConfigError extends Error {}

/** Parses `--auth USER:PASS` (split at the first colon, as RFC 7617 §2 requires). */
export function parseAuthOption(v: string): AuthUser {
  const i = v.indexOf(":");
  if (i <= 0) throw new AuthConfigError(`--auth must be USER:PASS, got "${v.slice(0, 40)}"`);
  const user = v.slice(0, i);
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) {
    throw new AuthConfigError("--auth must not contain control characters");
  }
  return { user, pass: v.slice(i + 1) };
}

/** The text of one hash: `scrypt$N$r$p$salt$hash` (salt and hash base64). */
export function formatScrypt(s: ScryptParams): string {
  return `scrypt$${s.n}$${s.r}$${s.p}$${s.salt}$${s.hash}`;
}

const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

/** Hashes `password` for an --auth-file line (`server.ts --hash-password`). */
export function hashPassword(password: string, salt = randomBytes(SCRYPT.saltBytes)): string {
  const hash = scryptSync(password, salt, SCRYPT.hashBytes, {
    N: SCRYPT.n,
    r: SCRYPT.r,
    p: SCRYPT.p,
    maxmem: 256 * SCRYPT.n * SCRYPT.r,
  });
  return formatScrypt({
    n: SCRYPT.n,
    r: SCRYPT.r,
    p: SCRYPT.p,
    salt: b64(new Uint8Array(salt)),
    hash: b64(new Uint8Array(hash)),
  });
}

/**
 * Parses an --auth-file: `user:scrypt$N$r$p$salt$hash` per line; blank lines and `#` comments
 * skipped.
 * @throws {AuthConfigError} naming the file and line.
 */
export function parseAuthFile(text: string, file: string): AuthUser[] {
  const users: AuthUser[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([^:\s]+):scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/
      .exec(line);
    const n = m ? Number(m[2]) : 0;
    if (
      m === null || n < 2 || (n & (n - 1)) !== 0 || n > 1 << 20 || Number(m[3]) < 1 ||
      Number(m[3]) > 32 || Number(m[4]) < 1 || Number(m[4]) > 16
    ) {
      throw new AuthConfigError(
        `${file}:${i + 1}: not a "user:scrypt$N$r$p$salt$hash" line (make one with ` +
          `server.ts --hash-password USER)`,
      );
    }
    users.push({
      user: m[1],
      scrypt: { n, r: Number(m[3]), p: Number(m[4]), salt: m[5], hash: m[6] },
    });
  }
  if (users.length === 0) throw new AuthConfigError(`${file}: no users in it`);
  return users;
}

/**
 * Refused attempts per client address in a sliding minute. Memory is bounded: at most
 * {@linkcode MAX_TRACKED_ADDRESSES} addresses with {@linkcode MAX_FAILURES_PER_MINUTE} times
 * each.
 */
export class FailureLimiter {
  #failures = new Map<string, number[]>();
  #max: number;
  #windowMs: number;

  constructor(max = MAX_FAILURES_PER_MINUTE, windowMs = FAILURE_WINDOW_MS) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Seconds until `ip` may try again, or 0 when it may now. */
  retryAfter(ip: string, now = Date.now()): number {
    const times = this.#failures.get(ip);
    if (times === undefined) return 0;
    while (times.length > 0 && times[0] <= now - this.#windowMs) times.shift();
    if (times.length === 0) {
      this.#failures.delete(ip);
      return 0;
    }
    if (times.length < this.#max) return 0;
    return Math.max(1, Math.ceil((times[0] + this.#windowMs - now) / 1000));
  }

  /** Records a refused attempt from `ip`. */
  fail(ip: string, now = Date.now()): void {
    let times = this.#failures.get(ip);
    if (times === undefined) {
      if (this.#failures.size >= MAX_TRACKED_ADDRESSES) {
        this.#failures.delete(this.#failures.keys().next().value!);
      }
      times = [];
      this.#failures.set(ip, times);
    }
    times.push(now);
    if (times.length > this.#max) times.shift();
  }
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

/** The Basic gate; one per server (per --workers thread). */
export class AuthGate {
  #plain = new Map<string, Uint8Array>(); // user → sha-256 of "user:pass"
  #scrypt = new Map<string, ScryptParams>();
  /** Accepted Authorization values → user: one Map lookup per request instead of a hash or a
   * scrypt. The values stay in this process's memory only (as the request bytes do), bounded by
   * {@linkcode MAX_REMEMBERED}; nothing of them is ever written out. */
  #remembered = new Map<string, string>();
  #limiter = new FailureLimiter();
  #worker: Worker | null = null;
  #pending = new Map<number, (ok: boolean) => void>();
  #nextId = 1;
  #unauthorized: Reply;
  /** A hash to check unknown users against, so that they cost what known ones do. */
  #decoy: ScryptParams = {
    n: SCRYPT.n,
    r: SCRYPT.r,
    p: SCRYPT.p,
    salt: "AAAAAAAAAAAAAAAAAAAAAA==",
    hash: "",
  };

  constructor(config: AuthConfig) {
    for (const u of config.users) {
      if ("pass" in u) this.#plain.set(u.user, sha256(`${u.user}:${u.pass}`));
      else this.#scrypt.set(u.user, u.scrypt);
    }
    this.#decoy.hash = b64(new Uint8Array(32));
    // RFC 7617 §2: the challenge; §2.1: charset="UTF-8" says how user and password are encoded.
    this.#unauthorized = errorReply(STATUS.Unauthorized, "Unauthorized", [
      ["WWW-Authenticate", `Basic realm="${AUTH_REALM}", charset="UTF-8"`],
    ]);
  }

  /**
   * Checks the Authorization value of a request from `ip`. Resolves to the user, or to the
   * 401 (missing or wrong credentials) or 429 (too many refused attempts from `ip`) to send.
   */
  async check(authorization: string | undefined, ip: string): Promise<AuthVerdict> {
    const wait = this.#limiter.retryAfter(ip);
    if (wait > 0) return { reply: tooMany(wait), refused: null };
    if (authorization === undefined || authorization.length > MAX_CREDENTIALS_BYTES) {
      return { reply: this.#unauthorized, refused: null };
    }
    const known = this.#remembered.get(authorization);
    if (known !== undefined) return { user: known };
    const creds = decodeBasic(authorization);
    if (creds === null) {
      this.#limiter.fail(ip);
      return { reply: this.#unauthorized, refused: null };
    }
    const ok = await this.#verify(creds.user, creds.pass);
    if (ok === "busy") return { reply: tooMany(1), refused: null };
    if (!ok) {
      this.#limiter.fail(ip);
      return { reply: this.#unauthorized, refused: creds.user };
    }
    if (this.#remembered.size >= MAX_REMEMBERED) {
      this.#remembered.delete(this.#remembered.keys().next().value!);
    }
    this.#remembered.set(authorization, creds.user);
    return { user: creds.user };
  }

  async #verify(user: string, pass: string): Promise<boolean | "busy"> {
    const plain = this.#plain.get(user);
    if (plain !== undefined) return timingSafeEqual(sha256(`${user}:${pass}`), plain);
    const s = this.#scrypt.get(user);
    if (s === undefined && this.#scrypt.size === 0) {
      // Only plain users: compare against a value that never matches, in the same time.
      timingSafeEqual(sha256(`${user}:${pass}`), sha256(`\0${user}`));
      return false;
    }
    if (this.#pending.size >= MAX_SCRYPT_QUEUE) return "busy";
    const ok = await this.#scryptCheck(pass, s ?? this.#decoy);
    return s !== undefined && ok;
  }

  #scryptCheck(password: string, s: ScryptParams): Promise<boolean> {
    if (this.#worker === null) {
      this.#worker = new Worker(new URL("./auth_worker.ts", import.meta.url).href, {
        type: "module",
      });
      this.#worker.onmessage = (e: MessageEvent<{ id: number; ok: boolean }>) => {
        const done = this.#pending.get(e.data.id);
        this.#pending.delete(e.data.id);
        done?.(e.data.ok);
      };
    }
    const id = this.#nextId++;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    this.#pending.set(id, resolve);
    const q: ScryptRequest = {
      id,
      password,
      salt: s.salt,
      n: s.n,
      r: s.r,
      p: s.p,
      hash: s.hash,
    };
    this.#worker.postMessage(q);
    return promise;
  }

  /** Stops the scrypt thread. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = null;
    for (const done of this.#pending.values()) done(false);
    this.#pending.clear();
  }
}

function tooMany(seconds: number): Reply {
  return errorReply(STATUS.TooManyRequests, "Too Many Requests", [
    ["Retry-After", String(seconds)],
  ]);
}

/** Decodes `Basic base64(user:pass)` (RFC 7617 §2; UTF-8, §2.1); null when malformed. */
export function decodeBasic(value: string): { user: string; pass: string } | null {
  const m = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(value);
  if (m === null) return null;
  let text: string;
  try {
    const bin = atob(m[1]);
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(bin, (c) => c.charCodeAt(0)),
    );
  } catch {
    return null;
  }
  const i = text.indexOf(":");
  if (i < 0) return null;
  return { user: text.slice(0, i), pass: text.slice(i + 1) };
}
