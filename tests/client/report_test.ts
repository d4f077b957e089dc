/** Report formatting, RTT statistics, the progress line and the error-body excerpt. */

import assert from "node:assert/strict";
import { rttStats } from "../../lib/client/probe.ts";
import { formatBytes, formatEta, Progress, progressLine } from "../../lib/client/progress.ts";
import {
  fmtMs,
  jsonText,
  newReport,
  rttText,
  safeText,
  terminalText,
  textResponse,
  textSummary,
  textSummaryCompact,
  verificationText,
} from "../../lib/client/report.ts";
import { jsonReport } from "../../lib/client/run.ts";
import { EXCERPT_CHARS, excerptText } from "../../lib/client/excerpt.ts";

Deno.test("rttStats computes ping's min/avg/max/mdev", () => {
  const s = rttStats([1, 2, 3, 4]);
  assert.deepEqual([s.minMs, s.avgMs, s.maxMs], [1, 2.5, 4]);
  assert.ok(Math.abs(s.mdevMs - Math.sqrt(1.25)) < 1e-12);
  assert.deepEqual(rttStats([5]), { minMs: 5, avgMs: 5, maxMs: 5, mdevMs: 0 });
  assert.deepEqual(rttStats([]), { minMs: 0, avgMs: 0, maxMs: 0, mdevMs: 0 });
});

Deno.test("formatBytes, formatEta and fmtMs", () => {
  const bytes: Array<[number, string]> = [
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.00 KiB"],
    [10 * 1024 * 1024, "10.0 MiB"],
    [1.5 * 2 ** 30, "1.50 GiB"],
    [300 * 2 ** 40, "300 TiB"],
  ];
  for (const [n, s] of bytes) assert.equal(formatBytes(n), s);
  assert.equal(formatEta(7), "0:07");
  assert.equal(formatEta(3723), "1:02:03");
  assert.equal(formatEta(Infinity), "--:--");
  assert.equal(fmtMs(0.1234), "0.123 ms");
  assert.equal(fmtMs(12.345), "12.35 ms");
  assert.equal(fmtMs(1234.56), "1.23 s");
  assert.equal(fmtMs(19830.6), "19.8 s");
  assert.equal(fmtMs(125_400), "2 min 05 s");
});

Deno.test("progressLine: percent, speed and ETA when the size is known; bytes and speed when not", () => {
  const known = progressLine(512 * 1024, 1024 * 1024, 1000);
  assert.equal(
    known,
    `[${"#".repeat(12)}${"-".repeat(12)}]  50%  512 KiB / 1.00 MiB  512 KiB/s  ETA 0:01`,
  );
  assert.equal(progressLine(2048, null, 1000), "2.00 KiB  2.00 KiB/s");
  assert.match(progressLine(100, 100, 10, 90), /100%.*1000 B\/s/, "speed counts this run only");
});

Deno.test("Progress redraws at most every 100 ms and clears its line", () => {
  const out: string[] = [];
  const p = new Progress({ total: 100, start: 0, write: (s) => out.push(s) });
  for (let i = 0; i < 1000; i++) p.update(i % 100);
  assert.equal(out.length, 1, "a burst of updates draws once");
  // Back to the line's start, erase (ED), draw.
  assert.ok(out[0].startsWith("\r\x1b[J["), out[0]);
  p.finish();
  assert.equal(out[out.length - 1], "\r\x1b[J");
  const silent: string[] = [];
  new Progress({ total: null, start: 0, write: (s) => silent.push(s) }).finish();
  assert.deepEqual(silent, [], "nothing drawn, nothing to clear");
});

Deno.test("safeText and textResponse neutralise terminal control sequences", () => {
  assert.equal(safeText("a\x1b[2Jb\x07\tc"), "a\\x1b[2Jb\\x07\tc");
  assert.equal(
    textResponse("HTTP/1.1 200 OK", [["X", "\x1b]0;pwned\x07"]]),
    "< HTTP/1.1 200 OK\n< X: \\x1b]0;pwned\\x07",
  );
});

Deno.test("excerptText: tags dropped, controls and whitespace collapsed, bounded", () => {
  const enc = new TextEncoder();
  assert.equal(
    excerptText(enc.encode("<html><title>404 Not Found</title>\r\n<h1>Not\x1b[31m Found</h1>")),
    "404 Not Found Not [31m Found",
  );
  assert.equal(excerptText(enc.encode('say "hi"')), "say 'hi'");
  assert.equal(excerptText(new Uint8Array([0xff, 0xfe, 0x41])), "\ufffd\ufffdA");
  const long = excerptText(enc.encode("x".repeat(1000)));
  assert.equal(long.length, EXCERPT_CHARS);
  assert.ok(long.endsWith("…"));
  assert.equal(excerptText(new Uint8Array(0)), "");
});

Deno.test("verification, RTT and summary texts", () => {
  const r = newReport("http://h/x");
  assert.match(verificationText(r), /^no \(the server sent no/);
  r.verification = {
    verified: true,
    checks: [{ source: "Repr-Digest", expected: "ab", ok: true }],
  };
  assert.equal(verificationText(r), "yes: sha-256 matches Repr-Digest");
  r.verification = {
    verified: false,
    checks: [
      { source: "Repr-Digest", expected: "ab", ok: true },
      { source: "--sha256", expected: "cd", ok: false },
    ],
  };
  assert.match(verificationText(r), /^NO: sha-256 does not match Repr-Digest and --sha256/);
  r.rtt = { handshakeMs: 0.25, probes: null };
  assert.equal(rttText(r), "TCP handshake 0.250 ms");
  r.rtt.probes = {
    method: "head",
    count: 2,
    warmupMs: 3,
    samplesMs: [1, 2],
    ...rttStats([1, 2]),
  };
  assert.equal(
    rttText(r),
    "TCP handshake 0.250 ms; 2 probes (HEAD on the same connection) min/avg/max/mdev = 1.000/1.500/2.000/0.500 ms",
  );
  r.file = "d/x";
  r.bytes = { received: 10, resumedFrom: 5, size: 15, expected: 15 };
  r.resume = "appended";
  const s = textSummary(r);
  assert.match(s, /^\* saved d\/x\n/);
  assert.match(s, /size +15 B \(15 bytes\), 10 received now/);
  assert.match(s, /resume +appended/);
});

Deno.test("-o -: the summary says the body went to stdout, not 'saved nothing'", () => {
  const r = newReport("http://h/x");
  r.bytes = { received: 3, resumedFrom: 0, size: 3, expected: 3 };
  assert.match(textSummaryCompact(r), /^\* wrote to stdout: 3 B, not verified/);
  assert.match(textSummary(r), /^\* wrote to stdout \(-o -\)\n/);
  r.file = "d/x";
  assert.match(textSummaryCompact(r), /^\* saved d\/x: 3 B/);
});

Deno.test("jsonReport rounds timings to the microsecond, leaves the rest", () => {
  const r = newReport("http://h/x");
  r.timingsMs.total = 1.23456789;
  r.throughputBytesPerSec = 10.6;
  const j = jsonReport(r);
  assert.equal(j.timingsMs.total, 1.235);
  assert.equal(j.throughputBytesPerSec, 11);
  assert.equal(j.url, "http://h/x");
});

Deno.test("safeText and terminalText escape C1 controls and bidi overrides, keep other text", () => {
  const table: Array<[string, string]> = [
    ["a\u009b2Jb", "a\\x9b2Jb"], // 8-bit CSI
    ["\u009d0;title\u0007", "\\x9d0;title\\x07"], // 8-bit OSC ... BEL
    ["\u0090q\u009c", "\\x90q\\x9c"], // DCS ... ST
    ["invoice\u202efdp.exe", "invoice\\u202efdp.exe"],
    ["\u202a\u202b\u202c\u202d", "\\u202a\\u202b\\u202c\\u202d"],
    ["\u2066x\u2067y\u2068z\u2069", "\\u2066x\\u2067y\\u2068z\\u2069"],
    ["\u200e\u200f", "\\u200e\\u200f"],
    ["café – naïve € ✓ 日本", "café – naïve € ✓ 日本"],
  ];
  for (const [input, want] of table) {
    assert.equal(safeText(input), want, JSON.stringify(input));
    assert.equal(terminalText(input), want, JSON.stringify(input));
  }
  assert.equal(terminalText("line 1\nline\u202e 2\r"), "line 1\nline\\u202e 2\\x0d");
  assert.equal(safeText("a\nb"), "a\\x0ab");
});

Deno.test("jsonText: the same JSON value, with DEL, C1 and bidi controls escaped", () => {
  const v = { h: "a\u009b2J\u007f\u202eb\u2028", n: 1, ok: "café" };
  const text = jsonText(v);
  assert.deepEqual(JSON.parse(text), v);
  assert.doesNotMatch(text, /[\u007f-\u009f\u202e\u2028]/);
  assert.match(text, /\\u009b/);
  assert.match(text, /café/);
});
