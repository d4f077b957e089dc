/**
 * Connection and access log lines, as text for people or JSON for scripts, written through a
 * bounded buffer so that a slow terminal or pipe never blocks serving.
 *
 * @example
 * ```ts ignore
 * import { Logger } from "./log.ts";
 * const log = new Logger("text");
 * log.info("listening on http://127.0.0.1:8080/");
 * await log.flush();
 * ```
 * @module
 */

import { type ConnParams, formatConnLine } from "../net/conn_info.ts";
import { escapeControl } from "./escape.ts";
import { turnMs } from "./clock.ts";

/** Log formats. */
export type LogFormat = "text" | "json" | "none";

/** Most bytes waiting to be written; past it, lines are dropped (and counted) instead of
 * growing memory without bound when stdout is not being read. */
export const MAX_LOG_BUFFER_BYTES = 1 << 20;
/** Buffered lines are written at the latest this long after the first of them. */
export const LOG_FLUSH_MS = 50;

/** One served request, as logged. */
export interface AccessEntry {
  /** Connection number. */
  conn: number;
  /** The client as `host:port` (behind a trusted proxy: the client it names, without a port
   * when it came from X-Forwarded-For / Forwarded). */
  peer: string;
  /** Behind a trusted proxy: the proxy as `host:port`. Absent otherwise. */
  proxy?: string;
  method: string;
  /** The request target as sent (escaped on output). */
  target: string;
  version: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
  /** From head received to response sent. */
  ms: number;
  /** The User-Agent field as sent (escaped on output), null when absent. */
  userAgent?: string | null;
  /** The response was cut short (`bytes` is then what was sent of its body). */
  aborted?: boolean;
  /** The authenticated user (or `name (refused)`), when access control is on. Never a
   * password. */
  user?: string;
}

const encoder = new TextEncoder();

/** A buffered writer of log lines to stdout (or any writer). */
export class Logger {
  readonly format: LogFormat;
  #out: { write(p: Uint8Array): Promise<number> };
  #pending: string[] = [];
  #pendingBytes = 0;
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;

  constructor(
    format: LogFormat,
    out: { write(p: Uint8Array): Promise<number> } = Deno.stdout,
  ) {
    this.format = format;
    this.#out = out;
  }

  /** Whether per-connection and per-request lines are written at all. */
  get enabled(): boolean {
    return this.format !== "none";
  }

  /** A line for people (start-up, shutdown); printed in every format but JSON turns it into
   * `{"event":"info","message":...}`. */
  info(message: string): void {
    if (this.format === "json") this.#push(JSON.stringify({ event: "info", message }));
    else this.#push(message);
  }

  /** An error worth telling the operator (logged once per kind by callers). */
  warn(message: string): void {
    if (this.format === "json") this.#push(JSON.stringify({ event: "warn", message }));
    else this.#push(`warning: ${message}`);
  }

  /** A client connected: its connection parameters. */
  connection(id: number, p: ConnParams): void {
    if (this.format === "none") return;
    if (this.format === "json") {
      this.#push(JSON.stringify({ event: "connection", conn: id, time: iso(), ...p }));
    } else {
      // A reverse name is the client's to choose (its PTR record): escape it like a target.
      const names = {
        ...p,
        hostName: p.hostName === null ? null : escapeControl(p.hostName),
        reverseName: p.reverseName === null ? null : escapeControl(p.reverseName),
      };
      this.#push(`${iso()} #${id} connect ${formatConnLine(names)}`);
    }
  }

  /** A request was answered. */
  access(e: AccessEntry): void {
    if (this.format === "none") return;
    if (this.format === "json") {
      this.#push(JSON.stringify({
        event: "request",
        time: iso(),
        ...e,
        method: readable(e.method),
        target: readable(e.target),
        version: readable(e.version),
        userAgent: typeof e.userAgent === "string" ? readable(e.userAgent) : null,
        aborted: e.aborted === true,
      }));
    } else {
      const ua = typeof e.userAgent === "string" ? readableText(e.userAgent) : "-";
      this.#push(
        `${iso()} #${e.conn} ${e.peer}${e.proxy === undefined ? "" : ` via ${e.proxy}`} "${
          readableText(e.method)
        } ` +
          `${readableText(e.target)} ${readableText(e.version)}" ` +
          `${e.status} ${e.bytes} ${tenths(e.ms)}ms "${ua}"` +
          (e.user === undefined ? "" : ` user=${JSON.stringify(escapeControl(e.user))}`) +
          (e.aborted ? " aborted" : ""),
      );
    }
  }

  /** A connection closed. */
  close(id: number, peer: string, requests: number, bytes: number, ms: number, why: string) {
    if (this.format === "none") return;
    if (this.format === "json") {
      this.#push(
        JSON.stringify({ event: "close", time: iso(), conn: id, peer, requests, bytes, ms, why }),
      );
    } else {
      this.#push(
        `${iso()} #${id} close peer=${peer} requests=${requests} bytes=${bytes} ` +
          `duration=${ms.toFixed(0)}ms reason=${why}`,
      );
    }
  }

  #push(line: string): void {
    if (this.#pendingBytes > MAX_LOG_BUFFER_BYTES) {
      this.#dropped++;
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += line.length + 1;
    this.#schedule();
  }

  /** Arms the flush timer unless a write or a timer is already under way. */
  #schedule(): void {
    if (this.#timer !== undefined || this.#writing !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#startDrain();
    }, LOG_FLUSH_MS);
  }

  /** Starts the one writer; lines pushed while it finishes are scheduled again after it. */
  #startDrain(): Promise<void> {
    this.#writing = this.#drain().finally(() => {
      this.#writing = undefined;
      if (this.#pending.length > 0) this.#schedule();
    });
    return this.#writing;
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0 || this.#dropped > 0) {
      if (this.#dropped > 0) {
        // In JSON every line stays JSON; `lines` counts exactly the lines left out since the
        // previous notice.
        this.#pending.push(
          this.format === "json"
            ? JSON.stringify({ event: "dropped", time: iso(), lines: this.#dropped })
            : `(${this.#dropped} log lines dropped: output too slow)`,
        );
        this.#dropped = 0;
      }
      const text = this.#pending.join("\n") + "\n";
      this.#pending = [];
      this.#pendingBytes = 0;
      const bytes = encoder.encode(text);
      try {
        let off = 0;
        while (off < bytes.length) off += await this.#out.write(bytes.subarray(off));
      } catch {
        // stdout gone (closed pipe): logging stops, serving goes on.
        this.#pending = [];
        return;
      }
    }
  }

  /** Writes everything buffered; call before exit. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#writing !== undefined || this.#pending.length > 0 || this.#dropped > 0) {
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      await (this.#writing ?? this.#startDrain());
    }
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `s` (one char per byte, as heads are decoded) as the UTF-8 text its bytes encode; `s` itself
 * when it is ASCII or already text (a code unit over 0xFF); null when the bytes are not UTF-8. */
function asUtf8(s: string): string | null {
  let i = 0;
  while (i < s.length && s.charCodeAt(i) < 0x80) i++;
  if (i === s.length) return s;
  const bytes = new Uint8Array(s.length);
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c > 0xff) return s;
    bytes[k] = c;
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

const hexByte = (c: string) => `\\x${c.charCodeAt(0).toString(16)}`;

/**
 * Request text (one char per byte, as heads are decoded) made readable for the JSON log: bytes
 * that form UTF-8 shown as the characters they encode (a raw UTF-8 target, as busybox wget
 * sends), otherwise each byte 0x80–0xFF as `\xNN`, as nginx logs them.
 *
 * @example
 * ```ts
 * import { readable } from "./log.ts";
 * readable("/\xc3\xa9"); // "/é"
 * readable("/\xe9"); // "/\\xe9"
 * ```
 */
export function readable(s: string): string {
  return asUtf8(s) ?? s.replace(/[\x80-\xff]/g, hexByte);
}

/** The same for the text log, with {@linkcode escapeControl}'s escapes (controls, `\`, `"`). */
function readableText(s: string): string {
  const text = asUtf8(s);
  // escapeControl writes 0x80–0x9F as \xNN already; the rest of the bytes follow suit.
  return text !== null ? escapeControl(text) : escapeControl(s).replace(/[\xa0-\xff]/g, hexByte);
}

/** `ms` with one decimal, as `toFixed(1)` gives for the durations logged (≥ 0, < 2^31 / 10),
 * without its cost (a runtime call: ~90 ns, as much as the rest of the line). */
export function tenths(ms: number): string {
  if (!(ms >= 0 && ms < 2e8)) return ms.toFixed(1);
  const t = Math.round(ms * 10);
  return `${(t / 10) | 0}.${t % 10}`;
}

/** The current time, ISO 8601 with milliseconds; cached per millisecond. */
let isoAt = 0;
let isoText = "";
function iso(): string {
  const now = turnMs();
  if (now !== isoAt) {
    isoAt = now;
    isoText = new Date(now).toISOString();
  }
  return isoText;
}
