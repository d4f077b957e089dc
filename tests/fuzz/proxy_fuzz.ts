/**
 * Seeded fuzzing of `parseProxyHeader` (lib/net/proxy_protocol.ts), the first code that sees a
 * load balancer's — or an impostor's — bytes, in the manner of tests/fuzz/fuzz.ts:
 *
 * - Valid headers (v1 TCP4/TCP6/UNKNOWN, v2 PROXY/LOCAL over IPv4/IPv6/UNSPEC/UNIX with random
 *   TLVs), followed by random stream bytes, must parse to exactly the generated addresses and
 *   length.
 * - Mutated ones (byte flips, insertions, deletions, truncation, length-field edits) may give any
 *   result, but never a crash, and the result must be consistent: `ok` never longer than the
 *   input or than {@linkcode MAX_PROXY_HEADER_BYTES}, with addresses that re-parse and ports in
 *   range, and the same result on the header's own bytes; `incomplete` only for inputs shorter
 *   than the limit and decided once the limit's worth of bytes more have come; `invalid` stays invalid when more bytes arrive (the server closes at once,
 *   it must never be that waiting would have helped); any prefix of an `ok` header is
 *   `incomplete`, and reading as much as `proxyHeaderBytesNeeded` allows, step by step, lands
 *   exactly on the header's end.
 *
 * Each input is derived from (seed, iteration) alone.
 *
 * ```sh
 * deno run -A tests/fuzz/proxy_fuzz.ts --long                # 1,000,000 inputs or 120 s
 * deno run -A tests/fuzz/proxy_fuzz.ts --seed 1234 --only 4711
 * ```
 * @module
 */

import {
  MAX_PROXY_HEADER_BYTES,
  parseProxyHeader,
  PROXY_V2_SIGNATURE,
  proxyHeaderBytesNeeded,
  type ProxyParse,
} from "../../lib/net/proxy_protocol.ts";
import { formatIp, parseIp } from "../../lib/net/cidr.ts";
import { byteString, inputRng, newSeed, SLOW_MS } from "./fuzz.ts";

/** The parser under test; replaceable so the harness can prove it catches a broken one. */
export type ProxyParser = typeof parseProxyHeader;

/** One input: bytes, and what a valid one must parse to (undefined for mutated ones). */
export interface ProxyInput {
  bytes: Uint8Array;
  expect?: { length: number; source: string | null; command: "proxy" | "local" };
}

/** What a run did. */
export interface ProxyFuzzReport {
  seed: number;
  iterations: number;
  ms: number;
  slow: number;
  outcomes: Record<string, number>;
  failures: Array<{ seed: number; iteration: number; input: string; reason: string }>;
}

class Gen {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): number[] {
    return Array.from({ length: n }, () => this.int(256));
  }
}

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const be16 = (n: number) => [n >> 8, n & 0xff];

/** A random address of a family; IPv6 with runs of zeros now and then (to exercise `::`). */
function address(g: Gen, family: 4 | 6): Uint8Array {
  const b = Uint8Array.from(g.bytes(family === 4 ? 4 : 16));
  if (family === 6 && g.chance(0.5)) b.fill(0, g.int(8) * 2, g.int(8) * 2 + g.int(10) * 2);
  return b;
}

/** A random valid header, with what it must parse to. */
function validHeader(g: Gen): ProxyInput {
  if (g.chance(0.5)) {
    const kind = g.pick(["TCP4", "TCP6", "UNKNOWN"] as const);
    if (kind === "UNKNOWN") {
      const rest = g.chance(0.5) ? "" : " " + "x".repeat(g.int(80));
      const b = ascii(`PROXY UNKNOWN${rest}\r\n`);
      return {
        bytes: Uint8Array.from(b),
        expect: { length: b.length, source: null, command: "proxy" },
      };
    }
    const fam = kind === "TCP4" ? 4 : 6;
    const src = formatIp({ family: fam, bytes: address(g, fam) });
    const dst = formatIp({ family: fam, bytes: address(g, fam) });
    const sp = g.int(65536);
    const b = ascii(`PROXY ${kind} ${src} ${dst} ${sp} ${g.int(65536)}\r\n`);
    return {
      bytes: Uint8Array.from(b),
      expect: { length: b.length, source: `${src}|${sp}`, command: "proxy" },
    };
  }
  const local = g.chance(0.2);
  const famProto = g.pick([0x11, 0x21, 0x00, 0x31, 0x12, 0x22]);
  const fam = famProto >> 4;
  const body: number[] = [];
  let source: string | null = null;
  if (fam === 1 || fam === 2) {
    const f = fam === 1 ? 4 : 6;
    const s = address(g, f);
    const sp = g.int(65536);
    body.push(...s, ...address(g, f), ...be16(sp), ...be16(g.int(65536)));
    if ((famProto & 0x0f) === 1) source = `${formatIp({ family: f, bytes: s })}|${sp}`;
  } else if (fam === 3) body.push(...g.bytes(216));
  if (fam !== 0) {
    for (let n = g.int(4); n > 0; n--) {
      const len = g.int(40);
      body.push(g.int(256), ...be16(len), ...g.bytes(len));
    }
  } else body.push(...g.bytes(g.int(30)));
  if (local) source = null;
  const bytes = Uint8Array.from([
    ...PROXY_V2_SIGNATURE,
    local ? 0x20 : 0x21,
    famProto,
    ...be16(body.length),
    ...body,
  ]);
  return { bytes, expect: { length: bytes.length, source, command: local ? "local" : "proxy" } };
}

const INTERESTING = [0x00, 0x0a, 0x0d, 0x20, 0x3a, 0x2e, 0x30, 0x39, 0x7f, 0xff, 0x21, 0x11];

function mutate(g: Gen, input: Uint8Array): Uint8Array {
  const b = Array.from(input);
  for (let n = 1 + g.int(3); n > 0; n--) {
    const at = g.int(b.length + 1);
    switch (g.int(7)) {
      case 0:
        if (b.length > 0) {
          b[Math.min(at, b.length - 1)] = g.chance(0.6) ? g.pick(INTERESTING) : g.int(256);
        }
        break;
      case 1:
        b.splice(at, 0, g.pick(INTERESTING));
        break;
      case 2:
        b.splice(at, 1);
        break;
      case 3:
        b.length = at;
        break;
      case 4: // a v2 length field of another value
        if (b.length >= 16 && b[0] === 0x0d) {
          const v = g.pick([0, 1, 11, 12, 35, 36, 215, 216, MAX_PROXY_HEADER_BYTES - 16, 65535]);
          b[14] = v >> 8;
          b[15] = v & 0xff;
        }
        break;
      case 5: // the ver/cmd or fam/proto byte
        if (b.length >= 14 && b[0] === 0x0d) b[12 + g.int(2)] = g.int(256);
        break;
      case 6: // digits in a v1 line
        if (b[0] === 0x50) b.splice(at, 0, ...ascii(String(g.int(100000))));
        break;
    }
  }
  return Uint8Array.from(b);
}

/** The input of one iteration: a function of (seed, iteration) alone. */
export function proxyInput(seed: number, iteration: number): ProxyInput {
  const g = new Gen(inputRng(seed, iteration));
  const valid = validHeader(g);
  const tail = g.chance(0.5) ? ascii("GET / HTTP/1.1\r\nHost: x\r\n\r\n") : g.bytes(g.int(20));
  if (g.chance(0.3)) {
    return { bytes: Uint8Array.from([...valid.bytes, ...tail]), expect: valid.expect };
  }
  return { bytes: mutate(g, Uint8Array.from([...valid.bytes, ...tail])) };
}

function key(r: ProxyParse): string {
  return r.kind === "ok" ? `ok-v${r.version}` : r.kind;
}

function safe(parse: ProxyParser, b: Uint8Array, end = b.length): ProxyParse | string {
  try {
    return parse(b, 0, end);
  } catch (e) {
    return `crash: ${(e as Error)?.stack ?? e}`;
  }
}

/** Checks one input; a string describes the failure. */
export function checkProxyInput(
  parse: ProxyParser,
  input: ProxyInput,
  needed: typeof proxyHeaderBytesNeeded = proxyHeaderBytesNeeded,
): string | undefined {
  const b = input.bytes;
  const r = safe(parse, b);
  if (typeof r === "string") return r;
  if (input.expect !== undefined) {
    if (r.kind !== "ok") return `a valid header gave ${JSON.stringify(r)}`;
    const src = r.source === null ? null : `${r.source.address}|${r.source.port}`;
    if (r.length !== input.expect.length) return `length ${r.length}, want ${input.expect.length}`;
    if (src !== input.expect.source) return `source ${src}, want ${input.expect.source}`;
    if (r.command !== input.expect.command) return `command ${r.command}`;
  }
  if (r.kind === "ok") {
    if (r.length <= 0 || r.length > b.length) return `length ${r.length} of ${b.length} bytes`;
    if (r.length > MAX_PROXY_HEADER_BYTES) return `length ${r.length} over the limit`;
    for (const e of [r.source, r.destination]) {
      if (e === null) continue;
      const ip = parseIp(e.address);
      if (ip === null || formatIp(ip) !== e.address) return `address ${e.address} not canonical`;
      if (!(Number.isInteger(e.port) && e.port >= 0 && e.port <= 65535)) return `port ${e.port}`;
    }
    const own = safe(parse, b, r.length);
    if (typeof own === "string") return own;
    if (JSON.stringify(own) !== JSON.stringify(r)) return "another result on its own bytes";
    const cut = Math.floor(r.length / 2);
    const prefix = safe(parse, b, cut);
    if (typeof prefix === "string") return prefix;
    if (prefix.kind !== "incomplete") return `prefix of ${cut} bytes: ${prefix.kind}`;
    // Reading what proxyHeaderBytesNeeded allows, prefix after prefix, ends exactly at the
    // header's end: never a byte of what follows it (a TLS handshake cannot be given those).
    let at = 0;
    for (let reads = 0; at < r.length; reads++) {
      if (reads > r.length) return "bytesNeeded does not progress";
      const need = needed(b, 0, at);
      if (!(need >= 1)) return `bytesNeeded ${need} after ${at} bytes`;
      at += need;
      if (at > r.length) return `bytesNeeded reads ${at - r.length} bytes past the header`;
    }
  } else if (r.kind === "incomplete") {
    if (b.length >= MAX_PROXY_HEADER_BYTES) return `incomplete at ${b.length} bytes`;
    // However the header goes on, the parser decides within the limit: it never waits longer.
    const padded = new Uint8Array(b.length + MAX_PROXY_HEADER_BYTES);
    padded.set(b);
    const decided = safe(parse, padded);
    if (typeof decided === "string") return decided;
    if (decided.kind === "incomplete") return "still incomplete past the limit";
  } else {
    // Invalid must not depend on bytes not yet seen.
    const more = Uint8Array.from([...b, ...ascii("PROXY UNKNOWN\r\n"), ...PROXY_V2_SIGNATURE]);
    const again = safe(parse, more);
    if (typeof again === "string") return again;
    if (again.kind !== "invalid") return `invalid became ${again.kind} with more bytes`;
  }
  return undefined;
}

/** Runs the fuzzer. */
export function fuzzProxyHeader(
  o: { seed: number; iterations: number; maxMs?: number; only?: number },
  parse: ProxyParser = parseProxyHeader,
  needed: typeof proxyHeaderBytesNeeded = proxyHeaderBytesNeeded,
): ProxyFuzzReport {
  const report: ProxyFuzzReport = {
    seed: o.seed,
    iterations: 0,
    ms: 0,
    slow: 0,
    outcomes: {},
    failures: [],
  };
  const started = performance.now();
  const first = o.only ?? 0;
  const last = o.only !== undefined ? o.only + 1 : o.iterations;
  for (let i = first; i < last; i++) {
    if ((i & 63) === 0 && performance.now() - started > (o.maxMs ?? Infinity)) break;
    const input = proxyInput(o.seed, i);
    let t0 = performance.now();
    let reason = checkProxyInput(parse, input, needed);
    let ms = performance.now() - t0;
    // Over the limit: re-timed twice, the minimum kept, so that a GC pause or a busy machine
    // is not blamed on the parser (as fuzz.ts does).
    for (let again = 0; again < 2 && ms > SLOW_MS; again++) {
      t0 = performance.now();
      checkProxyInput(parse, input, needed);
      ms = Math.min(ms, performance.now() - t0);
    }
    if (ms > SLOW_MS) {
      report.slow++;
      reason ??= `slow: ${ms.toFixed(1)} ms`;
    }
    report.iterations++;
    const r = safe(parse, input.bytes);
    const k = typeof r === "string" ? "crash" : key(r);
    report.outcomes[k] = (report.outcomes[k] ?? 0) + 1;
    if (reason !== undefined && report.failures.length < 10) {
      report.failures.push({ seed: o.seed, iteration: i, input: byteString(input.bytes), reason });
    }
  }
  report.ms = performance.now() - started;
  return report;
}

/** One line for people. */
export function formatProxyReport(r: ProxyFuzzReport): string {
  const outcomes = Object.entries(r.outcomes).sort().map(([k, v]) => `${k}:${v}`).join(" ");
  return `proxy: seed ${r.seed}, ${r.iterations} inputs in ${(r.ms / 1000).toFixed(2)} s, ` +
    `slow ${r.slow}, failures ${r.failures.length}; outcomes ${outcomes}`;
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
}

/** The command line: see the module doc. Resolves to the exit code. */
export function main(args: string[]): number {
  const long = args.includes("--long");
  const seed = Number(argValue(args, "--seed") ?? newSeed()) >>> 0;
  const only = argValue(args, "--only");
  const r = fuzzProxyHeader({
    seed,
    iterations: Number(argValue(args, "--iterations") ?? (long ? 1_000_000 : 20_000)),
    maxMs: (long ? 120 : 30) * 1000,
    only: only === undefined ? undefined : Number(only),
  });
  console.log(formatProxyReport(r));
  for (const f of r.failures) console.log(JSON.stringify(f));
  return r.failures.length === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(main(Deno.args));
