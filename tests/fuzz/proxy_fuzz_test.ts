/**
 * A short, bounded run of the PROXY header fuzzer in the normal suite (the long one:
 * `deno run -A tests/fuzz/proxy_fuzz.ts --long`). FUZZ_SEED replays a run.
 */

import assert from "node:assert/strict";
import { parseProxyHeader, proxyHeaderBytesNeeded } from "../../lib/net/proxy_protocol.ts";
import { formatProxyReport, fuzzProxyHeader, proxyInput } from "./proxy_fuzz.ts";
import { newSeed } from "./fuzz.ts";

const ITERATIONS = 10_000;
const MAX_MS = 2_500;

Deno.test("parseProxyHeader fuzz: valid headers read back, mutants consistent, no crash", () => {
  const fixed = Deno.env.get("FUZZ_SEED");
  const seed = fixed === undefined ? newSeed() : Number(fixed) >>> 0;
  const r = fuzzProxyHeader({ seed, iterations: ITERATIONS, maxMs: MAX_MS });
  console.log(formatProxyReport(r));
  const shown = r.failures.slice(0, 3).map((f) => JSON.stringify(f)).join("\n");
  assert.equal(r.failures.length, 0, `failures (replay with FUZZ_SEED=${seed}):\n${shown}`);
  assert.ok(r.iterations >= 1000, `only ${r.iterations} inputs within ${MAX_MS} ms`);
  // Not vacuous: each outcome is reached.
  for (const k of ["ok-v1", "ok-v2", "invalid", "incomplete"]) {
    assert.ok((r.outcomes[k] ?? 0) > 0, `no input ended ${k}: ${JSON.stringify(r.outcomes)}`);
  }
});

Deno.test("proxy fuzz inputs are a function of (seed, iteration) alone", () => {
  assert.deepEqual(proxyInput(7, 123).bytes, proxyInput(7, 123).bytes);
  assert.notDeepEqual(proxyInput(7, 123).bytes, proxyInput(8, 123).bytes);
});

Deno.test("the proxy fuzzer catches broken parsers", () => {
  const o = { seed: 5, iterations: 3_000 };
  // Crashes on a NUL anywhere.
  const crashy = fuzzProxyHeader(o, (b, s = 0, e = b.length) => {
    if (b.subarray(s, e).includes(0) && b[s] === 0x50) throw new TypeError("boom");
    return parseProxyHeader(b, s, e);
  });
  assert.ok(crashy.failures.some((f) => f.reason.includes("boom")), "a crash went unnoticed");
  // Drops the limit: waits for any length.
  const greedy = fuzzProxyHeader(o, (b, s = 0, e = b.length) => {
    const r = parseProxyHeader(b, s, e);
    return r.kind === "invalid" && r.reason.includes("over") ? { kind: "incomplete" } : r;
  });
  assert.ok(greedy.failures.length > 0, "a parser that waits past the limit went unnoticed");
  // Mixes up the source port.
  const swapped = fuzzProxyHeader(o, (b, s = 0, e = b.length) => {
    const r = parseProxyHeader(b, s, e);
    if (r.kind === "ok" && r.source !== null && r.destination !== null) {
      return { ...r, source: { ...r.source, port: r.destination.port } };
    }
    return r;
  });
  assert.ok(swapped.failures.length > 0, "a wrong source port went unnoticed");
  // Reads one byte too many.
  const greedyRead = fuzzProxyHeader(
    o,
    parseProxyHeader,
    (b, s = 0, e = b.length) => proxyHeaderBytesNeeded(b, s, e) + 1,
  );
  assert.ok(greedyRead.failures.length > 0, "reading past the header went unnoticed");
});
