/**
 * The benchmark's output: the run's context (machine, versions, load), the tables as text, a
 * markdown block for the README, and the JSON file.
 *
 * @module
 */

import { ratio, renderMarkdown, renderText, summarize, type Table } from "./stats.ts";
import { run } from "./proc.ts";

/** Where and how a run happened. */
export interface RunInfo {
  date: string;
  commit: string;
  command: string;
  mode: "quick" | "full";
  rounds: number;
  cpus: number;
  kernel: string;
  /** 1, 5, 15-minute load averages at the start. */
  loadavg: number[];
  /** Share of the CPUs other processes used in the 2 s before the start. */
  busyAtStart?: number;
  versions: Record<string, string>;
  /** Command line of each server, or why it is unavailable. */
  servers: Record<string, string>;
  notes: string[];
  seconds?: number;
}

/** The first `words` words of the first line `cmd args` prints (stdout, else stderr). */
async function versionOf(cmd: string, args: string[], words: number): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 10_000 });
  const line = (r.stdout.trim() || r.stderr.trim()).split("\n")[0]?.trim();
  if (r.code === 127 || !line) return `${cmd}: not found`;
  return line.replace(/^nginx version: /, "").split(/\s+/).slice(0, words).join(" ");
}

/** Versions of every program involved. */
export async function versions(): Promise<Record<string, string>> {
  return {
    deno: `deno ${Deno.version.deno}`,
    nginx: await versionOf("nginx", ["-v"], 1),
    lighttpd: await versionOf("lighttpd", ["-v"], 1),
    python: await versionOf("python3", ["--version"], 2),
    wrk: await versionOf("wrk", ["-v"], 2),
    curl: await versionOf("curl", ["--version"], 2),
    wget: await versionOf("wget", ["--version"], 3),
  };
}

/** The abbreviated commit of the checkout (`-dirty` when files changed), or "unknown". */
export async function commitOf(repo: string): Promise<string> {
  const r = await run("git", ["-C", repo, "describe", "--always", "--dirty"], {
    timeoutMs: 10_000,
  });
  return r.code === 0 ? r.stdout.trim() : "unknown";
}

function contextLines(info: RunInfo): string[] {
  const load = info.loadavg.map((l) => l.toFixed(2)).join(" ");
  const busy = info.busyAtStart === undefined
    ? ""
    : `, CPU ${(info.busyAtStart * 100).toFixed(0)}% busy before the start`;
  return [
    `Run: ${info.date}, commit ${info.commit}, ${info.mode} mode, ${info.rounds} interleaved rounds` +
    (info.seconds ? `, ${Math.round(info.seconds)} s` : ""),
    `Command: ${info.command}`,
    `Machine: ${info.cpus} CPUs, Linux ${info.kernel}, load average at start ${load}${busy}`,
    `Versions: ${Object.values(info.versions).join("; ")}`,
  ];
}

const READING =
  "Ratios compare medians and read the same way in every table: > 1 means Ferry (the " +
  "reference row) is better — for throughput it is Ferry ÷ row (Ferry faster), for memory and " +
  "latency it is row ÷ Ferry (Ferry smaller). Server, load generator and clients share one " +
  "machine, so the numbers are indicative, not a verdict.";

/** The whole report for a terminal. */
export function textReport(info: RunInfo, tables: Table[]): string {
  return [
    "# Ferry side-by-side benchmark",
    ...contextLines(info),
    ...info.notes.map((n) => `Note: ${n}`),
    READING,
    "",
    ...tables.flatMap((t) => [renderText(t), ""]),
  ].join("\n");
}

/** The markdown block for the README. */
export function markdownReport(info: RunInfo, tables: Table[]): string {
  return [
    "<!-- bench:begin -->",
    `### Benchmark (${info.mode}, ${info.rounds} rounds, ${info.date.slice(0, 10)})`,
    "",
    ...contextLines(info).map((l) => `- ${l}`),
    ...info.notes.map((n) => `- ${n}`),
    "",
    READING,
    "",
    ...tables.flatMap((t) => [renderMarkdown(t), ""]),
    "<!-- bench:end -->",
  ].join("\n");
}

/** The JSON document: context plus every table with its raw samples and summaries. */
export function jsonReport(info: RunInfo, tables: Table[]): unknown {
  return {
    version: 1,
    ...info,
    tables: tables.map((t) => {
      const ref = t.rows.find((r) => r.name === t.reference && !r.unavailable);
      const refMedian = ref ? summarize(ref.samples)?.median : undefined;
      return {
        ...t,
        ratio: t.better === "higher" ? `${t.reference} ÷ row` : `row ÷ ${t.reference}`,
        rows: t.rows.map((r) => {
          const s = r.unavailable ? undefined : summarize(r.samples);
          return { ...r, ...s, ratio: s ? ratio(refMedian, s.median, t.better) ?? null : null };
        }),
      };
    }),
  };
}
