/**
 * A short, bounded fuzz run in the normal suite (the long run is `deno task fuzz`). The seed is
 * printed; set FUZZ_SEED to replay a run, and see tests/fuzz/fuzz.ts to replay one input.
 */

import assert from "node:assert/strict";
import { parseRequestHead } from "../../lib/http/request.ts";
import { parseTarget } from "../../lib/http/target.ts";
import { readPlainHead } from "../../lib/http/plain_head.ts";
import {
  formatReport,
  fuzzPlainHead,
  type FuzzReport,
  fuzzRequestHead,
  fuzzTarget,
  mulberry32,
  newSeed,
  requestInput,
  targetInput,
} from "./fuzz.ts";

/** Inputs per fuzzer in the normal suite, and the time each may take at most. */
const ITERATIONS = 10_000;
const MAX_MS = 2_500;

function seed(): number {
  const fixed = Deno.env.get("FUZZ_SEED");
  return fixed === undefined ? newSeed() : Number(fixed) >>> 0;
}

function assertClean(r: FuzzReport): void {
  console.log(formatReport(r));
  const shown = r.failures.slice(0, 3).map((f) => JSON.stringify(f)).join("\n");
  assert.deepEqual(r.failures.length, 0, `failures (replay with FUZZ_SEED=${r.seed}):\n${shown}`);
  assert.deepEqual(r.slow, 0, "parses slower than 50 ms");
  assert.ok(r.iterations >= 1000, `only ${r.iterations} inputs within ${MAX_MS} ms`);
}

Deno.test("mulberry32 is deterministic per seed and spreads over [0, 1)", () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  assert.notDeepEqual(mulberry32(43)(), mulberry32(42)());
});

Deno.test("fuzz inputs are a function of (seed, iteration) alone, so one can be replayed", () => {
  assert.deepEqual(requestInput(7, 123).bytes, requestInput(7, 123).bytes);
  assert.deepEqual(targetInput(7, 123), targetInput(7, 123));
  assert.notDeepEqual(targetInput(7, 123), targetInput(8, 123));
});

Deno.test("parseRequestHead fuzz: only HttpErrors, invariants hold, no parse over 50 ms", () => {
  assertClean(fuzzRequestHead({ seed: seed(), iterations: ITERATIONS, maxMs: MAX_MS }));
});

Deno.test("parseTarget fuzz: 400 or segments that cannot climb, agreeing with a reference", () => {
  assertClean(fuzzTarget({ seed: seed(), iterations: ITERATIONS, maxMs: MAX_MS }));
});

Deno.test("the fuzz harness catches broken parsers (it is not vacuous)", () => {
  const o = { seed: 99, iterations: 2000 };
  // A target parser that lets a climbing ".." through as a segment.
  const leaky = fuzzTarget(o, {
    parseRequestHead,
    readPlainHead,
    parseTarget: (t) => {
      const r = parseTarget(t.replace(/%2e%2e/gi, "x"));
      return /%2e%2e/i.test(t) ? { ...r, segments: [...r.segments, ".."] } : r;
    },
  });
  assert.ok(leaky.failures.length > 0, "a '..' segment went unnoticed");
  // A head parser that crashes with a TypeError on a NUL byte, and one that forgets Host.
  const crashy = fuzzRequestHead(o, {
    parseTarget,
    readPlainHead,
    parseRequestHead: (b, s, e) => {
      if (b.subarray(s, e).includes(0)) throw new TypeError("boom");
      return parseRequestHead(b, s, e);
    },
  });
  assert.ok(crashy.failures.some((f) => f.reason.includes("TypeError")), "a crash went unnoticed");
  const hostless = fuzzRequestHead(o, {
    parseTarget,
    readPlainHead,
    parseRequestHead: (b, s, e) => {
      const h = parseRequestHead(b, s, e);
      h.headers.delete("host");
      return h;
    },
  });
  assert.ok(hostless.failures.length > 0, "a lost Host field went unnoticed");
  // Fast paths that each skip one check: they read a copy of the head without its Range
  // fields, or with every Host value replaced by a good one.
  const loose = (edit: (text: string) => string) =>
    fuzzPlainHead({ seed: 99, iterations: 20_000 }, {
      parseTarget,
      parseRequestHead,
      readPlainHead: (b, s, e) => {
        const text = edit(new TextDecoder("latin1").decode(b.subarray(s, e)));
        const copy = Uint8Array.from(text, (c) => c.charCodeAt(0));
        return readPlainHead(copy, 0, copy.length);
      },
    });
  const noRange = loose((t) => t.replace(/\r\nrange:[^\r]*/gi, ""));
  assert.ok(noRange.failures.some((f) => f.reason.includes("range")), "Range went unnoticed");
  const goodHost = loose((t) => t.replace(/(\r\nhost:)[^\r]*/gi, "$1x"));
  assert.ok(goodHost.failures.length > 0, "a bad Host went unnoticed");
});

Deno.test("readPlainHead fuzz: whatever the fast path takes, the full parser reads the same", () => {
  const r = fuzzPlainHead({ seed: seed(), iterations: ITERATIONS, maxMs: MAX_MS });
  assertClean(r);
  // Not vacuous: a good share of the inputs takes each path.
  const taken = r.outcomes.plain ?? 0;
  const full = r.outcomes.full ?? 0;
  assert.ok(taken > 0.15 * (taken + full), `fast path took ${taken} of ${taken + full} sampled`);
  assert.ok(full > 0.15 * (taken + full), `full parser took ${full} of ${taken + full} sampled`);
});
