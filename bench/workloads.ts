/**
 * Workloads 1, 2 (and 5) and 4: large-file download, small-file request rate, client download
 * to disk. Each measures its subjects side by side in interleaved rounds and returns a
 * {@linkcode Table} of raw samples. Workload 3 (idle connections) is in `idle.ts`.
 *
 * @module
 */

import type { Table } from "./stats.ts";
import { cpuBetween, cpuMark, run, settle } from "./proc.ts";
import { isRunning, type RunningServer, type StartedServer } from "./servers.ts";
import { goneOf, interleave, type Sample, type Subject, unavailable } from "./rounds.ts";

/** Options of {@linkcode download}. */
export interface DownloadOptions {
  /** Path on the servers, e.g. `/100m`. */
  path: string;
  bytes: number;
  rounds: number;
  /** Rows not to run (by name), with the reason shown in the table. */
  skip?: Map<string, string>;
}

/** A download of `url` to /dev/null; curl's `speed_download`, size and status, and curl's CPU
 * seconds (user + sys, from bash's `times`; NaN when not found). */
async function curlSpeed(url: string, timeoutMs: number) {
  const r = await run("bash", [
    "-c",
    'curl -s -o /dev/null --max-time "$1" -w "%{speed_download} %{size_download} %{http_code}\\n" "$0"; times',
    url,
    String(timeoutMs / 1000),
  ], { timeoutMs: timeoutMs + 5_000 });
  const lines = r.stdout.trim().split("\n");
  const [speed, size, code] = lines[0].split(" ").map(Number);
  // `times` prints the shell's own line, then its children's: "0m0.123s 0m0.456s".
  const t = lines.at(-1)?.match(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/);
  const cpu = t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : NaN;
  return { exit: r.code, speed, size, code, cpu };
}

/**
 * Workload 1: `curl -o /dev/null` of one large file; GB/s from curl's `speed_download`, and a
 * second table of the CPU per GiB of the server and curl together, which holds on a loaded
 * machine where GB/s does not (see bench/README.md, "CPU per GiB").
 */
export async function download(servers: StartedServer[], o: DownloadOptions): Promise<Table[]> {
  const timeoutMs = Math.max(60_000, o.bytes / 20e6 * 1000); // ≥ 20 MB/s or it is broken
  const gib = o.bytes / 2 ** 30;
  const cpu = new Map<string, number[]>();
  const subjects: Subject[] = servers.map((s) => ({
    name: s.spec.label,
    unavailable: o.skip?.get(s.spec.label) ?? unavailable(s),
    gone: goneOf(s),
    async measure(round: number) {
      const srv = s as RunningServer;
      const before = cpuMark(srv.pid);
      const r = await curlSpeed(srv.url(o.path), timeoutMs);
      const after = cpuMark(srv.pid);
      if (r.code !== 200 || r.size !== o.bytes) {
        return { note: `curl exit ${r.exit}, HTTP ${r.code}, ${r.size} of ${o.bytes} bytes` };
      }
      if (round >= 0 && before && after && Number.isFinite(r.cpu)) {
        const xs = cpu.get(s.spec.label) ?? [];
        xs.push((cpuBetween(before, after) + r.cpu) / gib);
        cpu.set(s.spec.label, xs);
      }
      return { value: r.speed / 1e9 };
    },
  }));
  // Warm-up, untimed: the first request of a file may fill caches (Ferry's digest, say)...
  for (const s of subjects) if (!s.unavailable) await s.measure(-1);
  // ... and Ferry's background sha-256 of the file (~0.8 s of CPU per GiB) must not overlap a
  // timed round (of any server: they share the cores).
  for (const s of servers) if (isRunning(s)) await settle(s.pid);
  const mib = o.bytes / 2 ** 20;
  const size = mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`;
  const rows = await interleave(`download ${o.path}`, subjects, o.rounds);
  return [{
    id: `download-${o.path.slice(1)}`,
    title: `Large-file download, ${size} (curl -o /dev/null, speed_download)`,
    unit: "GB/s",
    better: "higher",
    digits: 2,
    reference: "ferry",
    rows,
    notes: ["GB/s = 10^9 bytes per second, as reported by curl."],
  }, {
    id: `download-${o.path.slice(1)}-cpu`,
    title: `Large-file download, ${size}: CPU per GiB, server + curl`,
    unit: "s/GiB",
    better: "lower",
    digits: 3,
    reference: "ferry",
    rows: rows.map((r) => {
      const samples = cpu.get(r.name) ?? [];
      return {
        name: r.name,
        samples,
        unavailable: samples.length ? undefined : r.unavailable ?? "no CPU reading",
        notes: [],
      };
    }),
    notes: [
      "CPU seconds of the server process (every thread, from /proc) and of curl (bash's times) per GiB sent, in the same transfers as the GB/s table: the work a download costs, which holds when other processes share the cores. On loopback the receiving half of TCP runs in whichever of the two gets there first, so read the sum, not the split.",
    ],
  }];
}

/** Options of {@linkcode smallFiles}. */
export interface SmallOptions {
  keepAlive: boolean;
  /** wrk `-d` in seconds for each server id (python gets a shorter run). */
  seconds: (id: string) => number;
  rounds: number;
  /** Row names by server id, when the label is not the right name here. */
  names?: Record<string, string>;
  /** Row all ratios are against. @default "ferry" */
  reference?: string;
  id?: string;
  title?: string;
  /** An untimed wrk run of this many seconds per server first (JIT, caches). @default 0 */
  warmUpSeconds?: number;
}

/** Parses wrk's output: requests per second and the count of errors it reports. */
export function parseWrk(out: string): { rps?: number; errors: number } {
  const rps = out.match(/Requests\/sec:\s*([\d.]+)/)?.[1];
  const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non2xx = out.match(/Non-2xx or 3xx responses:\s*(\d+)/)?.[1];
  const errors = (sock ? sock.slice(1).reduce((a, n) => a + Number(n), 0) : 0) +
    Number(non2xx ?? 0);
  return { rps: rps === undefined ? undefined : Number(rps), errors };
}

/** Workload 2 (and 5): `wrk -t2 -c50` on the 4 KiB file; requests per second. */
export async function smallFiles(servers: StartedServer[], o: SmallOptions): Promise<Table> {
  const errors = new Map<string, number>();
  const subjects: Subject[] = servers.map((s) => {
    const name = o.names?.[s.spec.id] ?? s.spec.label;
    const secs = o.seconds(s.spec.id);
    return {
      name,
      unavailable: unavailable(s),
      gone: goneOf(s),
      async measure(round: number) {
        const srv = s as RunningServer;
        const warm = round < 0;
        const args = [
          "-t2",
          "-c50",
          `-d${warm ? o.warmUpSeconds : secs}s`,
          ...(o.keepAlive ? [] : ["-H", "Connection: close"]),
          srv.url("/4k"),
        ];
        const r = await run("wrk", args, { timeoutMs: (secs + 30) * 1000 });
        const w = parseWrk(r.stdout);
        if (warm) return {};
        if (w.errors) errors.set(name, (errors.get(name) ?? 0) + w.errors);
        if (w.rps === undefined) {
          return { note: `wrk exit ${r.code}: ${r.stderr.trim().split("\n").at(-1) ?? ""}` };
        }
        return { value: w.rps, note: secs !== o.seconds("ferry") ? `wrk -d${secs}s` : undefined };
      },
    };
  });
  if (o.warmUpSeconds) { for (const s of subjects) if (!s.unavailable) await s.measure(-1); }
  const rows = await interleave(o.id ?? "small", subjects, o.rounds);
  for (const row of rows) {
    const n = errors.get(row.name);
    if (n) row.notes.push(`wrk reported ${n.toLocaleString("en-US")} errors`);
  }
  const mode = o.keepAlive ? "keep-alive" : "Connection: close";
  return {
    id: o.id ?? `small-${o.keepAlive ? "keepalive" : "close"}`,
    title: o.title ??
      `Small file (4 KiB) request rate, ${mode} (wrk -t2 -c50 -d${o.seconds("ferry")}s)`,
    unit: "req/s",
    better: "higher",
    digits: 0,
    reference: o.reference ?? "ferry",
    rows,
    notes: [],
  };
}

/** One downloader of workload 4. */
export interface ClientTool {
  name: string;
  unavailable?: string;
  /** Program and arguments that save `url` (on `port`, path `path`) as `out` inside `dir`. */
  argv(
    o: { port: number; path: string; url: string; dir: string; out: string },
  ): [string, string[]];
}

/** Workload 4: a client saves the file to disk from nginx; GB/s from the bench's wall time. */
export async function clientDownload(
  source: RunningServer,
  o: { tools: ClientTool[]; path: string; bytes: number; rounds: number; dir: string },
): Promise<Table> {
  const name = o.path.slice(1);
  const out = `${o.dir}/${name}`;
  const timeoutMs = Math.max(60_000, o.bytes / 20e6 * 1000);
  const subjects: Subject[] = o.tools.map((t) => ({
    name: t.name,
    unavailable: t.unavailable,
    async measure(): Promise<Sample> {
      await Deno.remove(out).catch(() => {});
      // Untimed: write back what earlier runs left dirty, so that every run starts from the
      // same page-cache state instead of paying for its predecessor's writeback.
      await run("sync", [], { timeoutMs: 120_000 });
      const [cmd, args] = t.argv({
        port: source.port,
        path: name,
        url: source.url(o.path),
        dir: o.dir,
        out,
      });
      try {
        const r = await run(cmd, args, { timeoutMs });
        const size = (await Deno.stat(out).catch(() => undefined))?.size;
        if (r.code !== 0 || size !== o.bytes) {
          const why = r.timedOut
            ? "timed out"
            : r.stderr.trim().split("\n").at(-1)?.slice(0, 160) ?? "";
          return {
            note: `exit ${r.code}, ${size ?? 0} of ${o.bytes} bytes${why ? `: ${why}` : ""}`,
          };
        }
        return { value: o.bytes / (r.ms / 1000) / 1e9 };
      } finally {
        await Deno.remove(out).catch(() => {});
      }
    },
  }));
  for (const t of o.tools.filter((t) => !t.unavailable)) { // warm-up: programs into page cache
    const out4k = `${o.dir}/4k`;
    const [cmd, args] = t.argv({
      port: source.port,
      path: "4k",
      url: source.url("/4k"),
      dir: o.dir,
      out: out4k,
    });
    await run(cmd, args, { timeoutMs: 60_000 });
    await Deno.remove(out4k).catch(() => {});
  }
  const mib = o.bytes / 2 ** 20;
  return {
    id: `client-${name}`,
    title: `Client download to disk from nginx, ${
      mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`
    } (wall time incl. process start)`,
    unit: "GB/s",
    better: "higher",
    digits: 2,
    reference: o.tools[0].name,
    rows: await interleave(`client ${o.path}`, subjects, o.rounds),
    notes: [
      "Wall time is measured by the bench from spawn to exit, so it includes each program's start-up (Deno's is a few tens of ms, curl's and wget's a few); the file is removed after every run.",
    ],
  };
}

/**
 * The downloaders of workload 4: Ferry's client (when `withFerry`), `curl -o`, `wget -q -O`.
 * Ferry's is unavailable when `client.ts` does not exist yet.
 */
export async function clientTools(repo: string, withFerry: boolean): Promise<ClientTool[]> {
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  const ferry: ClientTool = {
    name: "ferry client",
    unavailable: (await exists(`${repo}/client.ts`)) ? undefined : "client.ts not found",
    argv: (a) => [
      "deno",
      [
        "run",
        "-A",
        `${repo}/client.ts`,
        "--no-progress",
        "-q",
        "-f",
        "127.0.0.1",
        String(a.port),
        a.path,
        a.dir,
      ],
    ],
  };
  const wget = await run("bash", ["-c", "command -v wget"], { timeoutMs: 5_000 });
  return [
    ...(withFerry ? [ferry] : []),
    { name: "curl", argv: (a) => ["curl", ["-s", "-o", a.out, a.url]] },
    {
      name: "wget",
      unavailable: wget.code === 0 ? undefined : "wget not found",
      argv: (a) => ["wget", ["-q", "-O", a.out, a.url]],
    },
  ];
}

/**
 * Rows of a download table whose slowest run predicts more than `maxSeconds` for `bytes`:
 * row name → reason, so that the bigger file can skip them (python's http.server on 1 GiB).
 */
export function tooSlow(table: Table, bytes: number, maxSeconds: number): Map<string, string> {
  const skip = new Map<string, string>();
  for (const row of table.rows) {
    const gbps = row.samples.length ? Math.min(...row.samples) : 0;
    const secs = bytes / 1e9 / gbps;
    if (gbps > 0 && secs > maxSeconds) {
      skip.set(row.name, `skipped: ~${secs.toFixed(0)} s per run predicted from ${table.id}`);
    }
  }
  return skip;
}
