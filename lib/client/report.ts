/**
 * What a download reports: one {@linkcode Report} object, printed as JSON by `--json` and as
 * text lines for people otherwise. Connection details go through `lib/net/conn_info.ts`, the
 * same module the server logs with.
 *
 * JSON fields (`--json`, one object on stdout, also on failure):
 *
 * | field | meaning |
 * |---|---|
 * | `ok` | true when the file was saved (or there was nothing to do) |
 * | `exitCode` | the process exit code (0, 2..9) |
 * | `error` | the one-line error message, or null |
 * | `url` | the first URL asked for |
 * | `finalUrl` | the URL the body came from, after redirects |
 * | `file` | the saved path DIR/NAME, or null when nothing was saved |
 * | `partFile` | DIR/NAME.part when one was left behind (resume with `-c`), else null |
 * | `redirects` | `[{ status, from, to }]`, one per hop followed |
 * | `connections` | TCP connections opened for requests (handshake probes not counted) |
 * | `connection` | the last connection, conn_info shape: `hostName`, `resolvedAddress`, `reverseName`, `peer`, `local`, `family`, `type`, `protocol`, `protocolNumber`, `timeoutsMs`, `tls` (null, or `{ alpn, handshakeMs, verification }`) |
 * | `request` | `{ line, headers: [[name, value], ...] }` of the last request |
 * | `response` | `{ statusLine, status, headers: [[name, value], ...], trailers: [...] }` of the last response |
 * | `timingsMs` | `{ nameLookup, tcpConnect, tlsHandshake, firstByte, transfer, total }` (last hop, total overall; tlsHandshake 0 for http) |
 * | `rtt` | `{ handshakeMs, probes }`; `probes` is null or `{ method, count, warmupMs, samplesMs, minMs, avgMs, maxMs, mdevMs }` with `method` "head", "tcp-handshake" or "head+tcp-handshake" |
 * | `bytes` | `{ received, resumedFrom, size, expected }`: body bytes this run, bytes already in the .part, the file's size, the size announced (or null) |
 * | `throughputBytesPerSec` | body bytes this run / transfer time |
 * | `sha256` | hex sha-256 of the whole file, or null when not computed (no digest from the server, no `--sha256`, no `--digest`) |
 * | `verification` | `{ verified, checks: [{ source, expected, ok }] }`; `source` is "Repr-Digest", "Content-Digest" or "--sha256" |
 * | `resume` | "none", "appended", "restarted" (server ignored the range) or "already-complete" (416) |
 * | `retries` | attempts made after the first (`--retry`) |
 *
 * @module
 */

import { type ConnParams, formatConnBlock } from "../net/conn_info.ts";
import type { ProbeResult } from "./probe.ts";
import { formatBytes } from "./progress.ts";

/** One digest comparison. */
export interface Check {
  /** Where the expected value came from. */
  source: "Repr-Digest" | "Content-Digest" | "--sha256";
  /** Expected sha-256, hex. */
  expected: string;
  /** Whether the file matched. */
  ok: boolean;
}

/** Everything a download reports (the `--json` shape; see the module doc). */
export interface Report {
  ok: boolean;
  exitCode: number;
  error: string | null;
  url: string;
  finalUrl: string;
  file: string | null;
  partFile: string | null;
  redirects: Array<{ status: number; from: string; to: string }>;
  connections: number;
  connection: ConnParams | null;
  request: { line: string; headers: Array<[string, string]> } | null;
  response: {
    statusLine: string;
    status: number;
    headers: Array<[string, string]>;
    trailers: Array<[string, string]>;
  } | null;
  timingsMs: {
    nameLookup: number;
    tcpConnect: number;
    /** TLS handshake after the TCP connect (https; 0 for http), as curl's appconnect -
     * connect. Optional for reports built elsewhere. */
    tlsHandshake?: number;
    firstByte: number;
    transfer: number;
    total: number;
  };
  rtt: { handshakeMs: number; probes: ProbeResult | null };
  bytes: { received: number; resumedFrom: number; size: number; expected: number | null };
  throughputBytesPerSec: number;
  sha256: string | null;
  verification: { verified: boolean; checks: Check[] };
  resume: "none" | "appended" | "restarted" | "already-complete";
  retries: number;
}

/** An empty report for a download of `url`. */
export function newReport(url: string): Report {
  return {
    ok: false,
    exitCode: 0,
    error: null,
    url,
    finalUrl: url,
    file: null,
    partFile: null,
    redirects: [],
    connections: 0,
    connection: null,
    request: null,
    response: null,
    timingsMs: {
      nameLookup: 0,
      tcpConnect: 0,
      tlsHandshake: 0,
      firstByte: 0,
      transfer: 0,
      total: 0,
    },
    rtt: { handshakeMs: 0, probes: null },
    bytes: { received: 0, resumedFrom: 0, size: 0, expected: null },
    throughputBytesPerSec: 0,
    sha256: null,
    verification: { verified: false, checks: [] },
    resume: "none",
    retries: 0,
  };
}

/** Rounds timings to the microsecond for JSON (more digits would be noise). */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** `0.123 ms`, `12.35 ms`, `123.4 ms`; over a second `1.23 s`, `19.8 s`; over a minute
 * `2 min 05 s`. */
export function fmtMs(ms: number): string {
  if (ms >= 60_000) {
    const s = Math.round(ms / 1000);
    return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  }
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${ms < 10 ? ms.toFixed(3) : ms < 100 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

/** What a terminal would act on or that would disguise text: C0 controls but tab, DEL, C1
 * controls (U+0080–U+009F: CSI, OSC, DCS as single code points), and the bidi marks, embeddings,
 * overrides and isolates (U+200E/F, U+202A–U+202E, U+2066–U+2069) that reorder what is shown
 * (`invoice\u202efdp.exe` displays as `invoiceexe.pdf`). */
// deno-lint-ignore no-control-regex
const CONTROL = new RegExp(
  "[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]",
  "g",
);
/** The same, but line feeds pass: for blocks of our own lines that embed server text. */
// deno-lint-ignore no-control-regex
const CONTROL_BUT_LF = new RegExp(
  "[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]",
  "g",
);

function escapeChar(c: string): string {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16)}`;
}

/** Server-sent text made safe for a terminal: C0/C1 controls become `\xNN`, bidi controls
 * `\uNNNN`. */
export function safeText(s: string, max = 2000): string {
  return s.slice(0, max).replace(CONTROL, escapeChar);
}

/** A block of lines for the terminal (our messages, which may quote the server): like
 * {@linkcode safeText}, but line feeds are kept and there is no length cap. */
export function terminalText(s: string): string {
  return s.replace(CONTROL_BUT_LF, escapeChar);
}

const JSON_UNSAFE = /[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

/** JSON text with the characters JSON.stringify leaves raw but a terminal would act on (DEL, C1,
 * bidi controls, line/paragraph separators) written as `\uNNNN` escapes: the same JSON value,
 * safe to print. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(
    JSON_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The connection block for people: name, addresses, family, type, protocol, timeouts, and
 * for https the TLS row (ALPN, handshake time, verification). */
export function textConnection(
  p: ConnParams,
  lookupMs: number,
  connectMs: number,
  tlsMs?: number,
): string {
  const tls = tlsMs === undefined ? "" : `, TLS handshake ${fmtMs(tlsMs)}`;
  return `* connected (name lookup ${fmtMs(lookupMs)}, TCP handshake ${fmtMs(connectMs)}${tls})\n` +
    formatConnBlock(p);
}

/** The default (compact) connection block: one line with the handshake — the RTT — (and for
 * https the TLS handshake after it), then the seed's connection parameters. */
export function textConnectionCompact(
  p: ConnParams,
  connectMs: number,
  warmed: boolean,
  tlsMs?: number,
): string {
  return `* connected to ${p.peer}: TCP handshake ${fmtMs(connectMs)} (≈ 1 RTT${
    warmed ? "" : "; includes the runtime's first-connect start-up"
  })${tlsMs === undefined ? "" : `, TLS handshake ${fmtMs(tlsMs)}`}\n${formatConnBlock(p)}`;
}

/** The default (compact) closing lines: what was saved, how it was checked, how fast. */
export function textSummaryCompact(r: Report): string {
  const t = r.timingsMs;
  const size = `${formatBytes(r.bytes.size)}${
    r.bytes.resumedFrom > 0 ? ` (${formatBytes(r.bytes.received)} this run)` : ""
  }`;
  const checks = r.verification.checks;
  const verified = checks.length === 0
    ? "not verified (no digest from the server)"
    : r.verification.verified
    ? `sha-256 verified (${checks.map((c) => c.source).join(", ")})`
    : "sha-256 MISMATCH";
  // No file: `-o -` wrote the body to stdout.
  return `* ${r.file !== null ? `saved ${r.file}` : "wrote to stdout"}: ${size}, ${verified}\n` +
    `  first byte ${fmtMs(t.firstByte)}, total ${fmtMs(t.total)}, ` +
    `${formatBytes(Math.round(r.throughputBytesPerSec))}/s` +
    (r.resume !== "none" ? `, resume: ${r.resume}` : "") +
    (r.retries > 0 ? `, retries: ${r.retries}` : "") +
    (r.sha256 !== null ? `\n  sha-256 ${r.sha256}` : "");
}

/** Request lines, `> ` prefixed as curl -v does. */
export function textRequest(line: string, headers: Array<[string, string]>): string {
  return [`> ${line}`, ...headers.map(([k, v]) => `> ${k}: ${v}`)].join("\n");
}

/** Response lines, `< ` prefixed, server text made terminal-safe. */
export function textResponse(statusLine: string, headers: Array<[string, string]>): string {
  return [`< ${safeText(statusLine)}`, ...headers.map(([k, v]) => `< ${safeText(`${k}: ${v}`)}`)]
    .join("\n");
}

/** The closing summary of a successful download. */
export function textSummary(r: Report): string {
  const t = r.timingsMs;
  const rows: Array<[string, string]> = [
    [
      "size",
      `${formatBytes(r.bytes.size)} (${r.bytes.size} bytes)` +
      (r.bytes.resumedFrom > 0 ? `, ${r.bytes.received} received now` : ""),
    ],
    ["sha256", r.sha256 ?? "- (not computed: nothing to check it against; --digest computes it)"],
    ["verified", verificationText(r)],
    [
      "timings",
      `name lookup ${fmtMs(t.nameLookup)}, TCP connect ${fmtMs(t.tcpConnect)}, ` +
      (t.tlsHandshake ? `TLS handshake ${fmtMs(t.tlsHandshake)}, ` : "") +
      `request → first byte ${fmtMs(t.firstByte)}, transfer ${fmtMs(t.transfer)}, ` +
      `total ${fmtMs(t.total)}`,
    ],
    ["rtt", rttText(r)],
    ["throughput", `${formatBytes(Math.round(r.throughputBytesPerSec))}/s`],
  ];
  if (r.resume !== "none") rows.push(["resume", r.resume]);
  if (r.retries > 0) rows.push(["retries", String(r.retries)]);
  const head = r.file !== null ? `* saved ${r.file}` : "* wrote to stdout (-o -)";
  return [head, ...rows.map(([k, v]) => `  ${k.padEnd(12)}${v}`)].join("\n");
}

/** `yes: sha-256 matches Repr-Digest` / `no: …`. */
export function verificationText(r: Report): string {
  const checks = r.verification.checks;
  if (checks.length === 0) {
    return "no (the server sent no Repr-Digest/Content-Digest; pass --sha256 HEX to check)";
  }
  const names = checks.map((c) => c.source).join(" and ");
  return r.verification.verified
    ? `yes: sha-256 matches ${names}`
    : `NO: sha-256 does not match ${names}`;
}

/** `handshake 0.1 ms; HEAD probes (same connection) min/avg/max/mdev = …`. */
export function rttText(r: Report): string {
  const hs = `TCP handshake ${fmtMs(r.rtt.handshakeMs)}`;
  const p = r.rtt.probes;
  if (p === null) return hs;
  const how = p.method === "head"
    ? "HEAD on the same connection"
    : p.method === "tcp-handshake"
    ? "fresh TCP handshakes: the server closes after each response"
    : "HEAD, then fresh TCP handshakes after the server closed";
  const f = (x: number) => x.toFixed(3);
  return `${hs}; ${p.count} probes (${how}) min/avg/max/mdev = ` +
    `${f(p.minMs)}/${f(p.avgMs)}/${f(p.maxMs)}/${f(p.mdevMs)} ms`;
}
