/**
 * Ferry's side-by-side benchmark against nginx, lighttpd and python's http.server.
 *
 * `deno run -A bench/bench.ts [--quick] [--only NAME,...] [--rounds N] [--json]`
 *
 * Every server is started once, health-checked, measured in interleaved rounds, and stopped at
 * the end — also on an error or Ctrl-C. See bench/README.md for what each workload measures.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ensureFile, type FileName, FILES, warmCache } from "./data.ts";
import { idle } from "./idle.ts";
import { stalled } from "./stalled.ts";
import { cpuBusy, fdLimits, onInterrupt, onPath, stopAll } from "./proc.ts";
import {
  commitOf,
  jsonReport,
  markdownReport,
  type RunInfo,
  textReport,
  versions,
} from "./report.ts";
import { progress } from "./rounds.ts";
import {
  isRunning,
  type ServerContext,
  SPECS,
  type StartedServer,
  startServer,
} from "./servers.ts";
import type { Table } from "./stats.ts";
import { clientDownload, clientTools, download, smallFiles, tooSlow } from "./workloads.ts";
import { clientMany } from "./client_many.ts";
import { archiveTables } from "./archive.ts";

const USAGE = `Usage: deno run -A bench/bench.ts [--quick] [--only NAME,...] [--rounds N] [--json]

  --quick         smoke run (< 2 min): ferry, nginx, lighttpd and the deno floor only (unless
                  --only names servers), 100 MiB only, wrk -d2s, 1,000 idle connections
  --only LIST     workloads and/or servers, comma-separated (none named: all of them)
                    workloads: download, small, idle, client, workers, stalled, many,
                               archive
                    servers:   ferry, nginx, nginx-nosendfile, lighttpd, python
  --rounds N      interleaved rounds (default 3; quick: 2)
  --json          also write bench/results/latest.json`;

const WORKLOADS = [
  "download",
  "small",
  "idle",
  "client",
  "workers",
  "stalled",
  "many",
  "archive",
];
/** Stalled readers (workload 6), full and quick. */
const STALLED_COUNT = 2_000;
const STALLED_QUICK = 500;
/** Server ids `--only` knows; Ferry's variants (`ferry-log-text`, `ferry-w2`) follow `ferry`. */
const PEERS = ["ferry", "nginx", "nginx-nosendfile", "lighttpd", "python"];
/** The servers of `--quick` when `--only` names none: the rows the bars are set against. */
const QUICK_PEERS = ["ferry", "nginx", "lighttpd"];
const FLOOR_NOTE = "deno floor: not a file server — bench/floor.ts answers every read with one " +
  "prebuilt 4 KiB response on the same Deno raw-socket API as Ferry (no parsing, no files): " +
  "the most any Deno server written this way can do here.";

const FLOOR_DOWNLOAD_NOTE = "deno floor: not a file server — bench/floor.ts writes the body " +
  "from one 1 MiB buffer in memory (awaited conn.write after conn.write, no file reads) on the " +
  "same Deno raw-socket API as Ferry: the runtime's write ceiling. Its ratio is Ferry's share of it.";
const FLOOR_IDLE_NOTE = "deno floor: bench/floor.ts, one awaited conn.read into a 512-byte " +
  "buffer per connection and nothing else: what any Deno server on raw sockets pays per idle " +
  "connection (most of it is the pending read op).";

/** A download predicted to take longer than this per run is skipped (python on 1 GiB). */
const MAX_DOWNLOAD_S = 10;
/** Descriptors a server or the idle holder needs beyond the idle connections themselves. */
const FD_MARGIN = 500;
/** Other processes using more than this share of the CPUs at the start earn a warning. */
const BUSY_WARN = 0.2;
/** Never ask for more descriptors than this, whatever the hard limit. */
const NOFILE_CAP = 65_536;

const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const dataDir = `${repo}/.bench-data`;

/** The parsed command line. */
interface Options {
  help: boolean;
  quick: boolean;
  json: boolean;
  rounds: number;
  workloads: Set<string>;
  servers: Set<string>;
  /** `--quick` without servers named: also leaves out `ferry --log text`. */
  subset: boolean;
}

function parse(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      rounds: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const only = (values.only ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const bad = only.find((n) => !WORKLOADS.includes(n) && !PEERS.includes(n));
  if (bad) throw new Error(`--only: unknown name "${bad}"`);
  const rounds = values.rounds === undefined ? (values.quick ? 2 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
    throw new Error(`--rounds must be an integer from 1 to 20, got "${values.rounds}"`);
  }
  const wl = only.filter((n) => WORKLOADS.includes(n));
  const sv = only.filter((n) => PEERS.includes(n));
  return {
    help: values.help,
    quick: values.quick,
    json: values.json,
    rounds,
    workloads: new Set(wl.length ? wl : WORKLOADS),
    servers: new Set(sv.length ? sv : values.quick ? QUICK_PEERS : PEERS),
    subset: values.quick && sv.length === 0,
  };
}

/** Server ids each selected workload needs; each is started once for the whole run. */
function serversToStart(o: Options): Set<string> {
  const want = new Set<string>();
  const add = (ids: string[]) => ids.filter(selected(o)).forEach((id) => want.add(id));
  if (o.workloads.has("download")) add([...PEERS, "deno-floor"]);
  if (o.workloads.has("small")) {
    add([...PEERS, ...(o.subset ? [] : ["ferry-log-text"]), "deno-floor"]);
  }
  if (o.workloads.has("idle")) add(["ferry", "nginx", "lighttpd", "python", "deno-floor"]);
  if (o.workloads.has("stalled")) add(["ferry", "nginx", "lighttpd"]);
  if (o.workloads.has("workers")) add(["ferry-w2", "ferry"]);
  if (o.workloads.has("client")) want.add("nginx"); // the source of the client downloads
  return want;
}

function selected(o: Options): (id: string) => boolean {
  // Ferry's variants, and the runtime's floor that puts Ferry's figures in context, come with it.
  return (id) => o.servers.has(id === "deno-floor" ? "ferry" : id.replace(/-(log-text|w2)$/, ""));
}

/** Runs the selected workloads over the started servers; one or more tables each. */
async function measure(
  o: Options,
  started: Map<string, StartedServer>,
  ctx: ServerContext,
  idleCount: number,
  notes: string[],
): Promise<Table[]> {
  const tables: Table[] = [];
  // Only what --only selected: nginx may run for the client workload alone.
  const pick = (ids: string[]) =>
    ids.filter((id) => selected(o)(id) && started.has(id)).map((id) => started.get(id)!);
  const wrkSeconds = o.quick ? 2 : 10;
  const seconds = (id: string) => (id === "python" ? (o.quick ? 2 : 3) : wrkSeconds);
  // Idle connections first: its memory baseline is each server's RSS before any real work.
  if (o.workloads.has("idle") && idleCount > 0) {
    progress(`workload 3: ${idleCount} idle connections`);
    const servers = pick(["ferry", "nginx", "lighttpd", "python", "deno-floor"]);
    const idleTables = await idle(servers, {
      count: idleCount,
      rounds: o.rounds,
      nofile: ctx.nofile,
      repo,
      fresh: (spec) => startServer(spec, ctx),
    });
    idleTables[0].notes.push(
      "nginx with sendfile off is left out: idle connections do no file I/O.",
    );
    if (started.has("deno-floor")) idleTables[0].notes.push(FLOOR_IDLE_NOTE);
    tables.push(...idleTables);
  }
  if (o.workloads.has("stalled")) {
    const count = Math.min(o.quick ? STALLED_QUICK : STALLED_COUNT, idleCount);
    progress(`workload 6: ${count} stalled readers`);
    tables.push(
      ...await stalled(pick(["ferry", "nginx", "lighttpd"]), {
        count,
        rounds: o.rounds,
        nofile: ctx.nofile,
        repo,
        path: "/100m",
        fresh: (spec) => startServer(spec, ctx),
      }),
    );
  }
  if (o.workloads.has("download")) {
    progress("workload 1: large-file download");
    let skip = new Map<string, string>();
    for (const size of (o.quick ? ["100m"] : ["100m", "1g"]) as FileName[]) {
      const [t, cpu] = await download(pick([...PEERS, "deno-floor"]), {
        path: `/${size}`,
        bytes: FILES[size],
        rounds: o.rounds,
        skip,
      });
      if (started.has("deno-floor")) t.notes.push(FLOOR_DOWNLOAD_NOTE);
      tables.push(t, cpu);
      skip = tooSlow(t, FILES["1g"], MAX_DOWNLOAD_S);
    }
  }
  if (o.workloads.has("small")) {
    progress("workload 2: small-file request rate");
    const servers = pick(["ferry", "ferry-log-text", ...PEERS.slice(1), "deno-floor"]);
    tables.push(
      await smallFiles(servers, { keepAlive: true, seconds, rounds: o.rounds, warmUpSeconds: 1 }),
    );
    if (started.has("ferry-log-text")) {
      tables.at(-1)!.notes.push("ferry --log text: default logging, stdout to /dev/null.");
    }
    tables.push(
      await smallFiles(servers.filter((s) => s.spec.id !== "ferry-log-text"), {
        keepAlive: false,
        seconds,
        rounds: o.rounds,
      }),
    );
    if (started.has("deno-floor")) {
      for (const t of tables.slice(-2)) t.notes.push(FLOOR_NOTE);
    }
  }
  if (o.workloads.has("client")) {
    progress("workload 4: client download to disk");
    const nginx = started.get("nginx");
    const file: FileName = o.quick ? "100m" : "1g";
    if (isRunning(nginx)) {
      const tools = await clientTools(repo, o.servers.has("ferry"));
      const dir = await Deno.makeTempDir({ dir: dataDir, prefix: "out-" }); // same filesystem
      try {
        tables.push(
          await clientDownload(nginx, {
            tools,
            path: `/${file}`,
            bytes: FILES[file],
            rounds: o.rounds,
            dir,
          }),
        );
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    } else {
      const why = nginx ? nginx.unavailable : "not started";
      notes.push(`client workload skipped: nginx, its source, is unavailable (${why})`);
    }
  }
  if (o.workloads.has("workers") && o.servers.has("ferry")) {
    progress("workload 5: Ferry --workers 2 vs --workers 1");
    tables.push(
      await smallFiles(pick(["ferry-w2", "ferry"]), {
        keepAlive: true,
        seconds: () => wrkSeconds,
        rounds: o.rounds,
        names: { "ferry": "ferry --workers 1" },
        reference: "ferry --workers 2",
        id: "workers",
        title:
          `Multi-core: Ferry --workers 2 vs 1, 4 KiB keep-alive (wrk -t2 -c50 -d${wrkSeconds}s)`,
      }),
    );
    tables.at(-1)!.notes.push(
      "wrk runs on the same 2 cores, so a second worker competes with the load generator.",
    );
  }
  if (o.workloads.has("many")) {
    progress("workload 7: client mirror (vs wget -r) and --segments (vs aria2c)");
    await Deno.mkdir(dataDir, { recursive: true });
    tables.push(...await clientMany({ repo, tmp: dataDir, rounds: o.rounds, quick: o.quick }));
  }
  if (o.workloads.has("archive") && o.servers.has("ferry")) {
    progress("workload 8: folders as tar and zip");
    tables.push(...await archiveTables({ repo, dataDir, rounds: o.rounds, quick: o.quick }));
  }
  const order = (t: Table) => WORKLOADS.indexOf(t.id.split("-")[0]);
  return tables.sort((a, b) => order(a) - order(b)); // as numbered, whatever the run order
}

/** Runs the benchmark; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  let o: Options;
  try {
    o = parse(args);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  for (const tool of ["curl", "wrk"]) {
    if (!(await onPath(tool))) {
      console.error(
        `bench: ${tool} not found; apt-get install -y nginx-light lighttpd wrk curl wget python3`,
      );
      return 1;
    }
  }
  const t0 = performance.now();
  const notes: string[] = [];
  // The idle workload needs COUNT descriptors in the server and as many in the holder process.
  const wantIdle = o.quick ? 1_000 : 10_000;
  const hard = fdLimits()?.hard ?? 1024;
  const nofile = Math.min(hard, NOFILE_CAP);
  const idleCount = Math.max(0, Math.min(wantIdle, nofile - FD_MARGIN));
  if (o.workloads.has("idle") && idleCount < wantIdle) {
    notes.push(
      `idle connections scaled down from ${wantIdle} to ${idleCount}: the open-file hard limit is ${hard}`,
    );
  }
  const load = Deno.loadavg();
  const cpus = navigator.hardwareConcurrency;
  const busy = await cpuBusy(2_000);
  if (busy !== undefined && busy > BUSY_WARN) {
    notes.push(
      `the machine was busy before the start (${
        (busy * 100).toFixed(0)
      }% of ${cpus} CPUs used by other processes): the numbers are noisier than usual`,
    );
  }

  const tmp = await Deno.makeTempDir({ prefix: "ferry-bench-" });
  const cleanup = async () => {
    await stopAll();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  };
  const removeHandlers = onInterrupt(cleanup);
  const started = new Map<string, StartedServer>();
  let tables: Table[] = [];
  try {
    await Deno.mkdir(dataDir, { recursive: true });
    const files: FileName[] = ["4k", "100m", ...(o.quick ? [] : ["1g" as const])];
    for (const f of files) await ensureFile(dataDir, f);
    for (const f of files) await warmCache(`${dataDir}/${f}`);
    const ctx: ServerContext = {
      repo,
      root: dataDir,
      tmp,
      nofile,
      maxConnections: Math.max(idleCount + 100, 1024),
    };
    const want = serversToStart(o);
    for (const spec of SPECS.filter((s) => want.has(s.id))) {
      progress(`starting ${spec.label}…`);
      const s = await startServer(spec, ctx);
      started.set(spec.id, s);
      progress(isRunning(s) ? `  port ${s.port}, pid ${s.pid}` : `  unavailable: ${s.unavailable}`);
    }
    tables = await measure(o, started, ctx, idleCount, notes);
  } finally {
    await cleanup();
    removeHandlers();
  }

  const info: RunInfo = {
    date: new Date().toISOString(),
    commit: await commitOf(repo),
    command: `deno run -A bench/bench.ts ${args.join(" ")}`.trim(),
    mode: o.quick ? "quick" : "full",
    rounds: o.rounds,
    cpus,
    kernel: Deno.osRelease(),
    loadavg: load,
    busyAtStart: busy,
    versions: await versions(),
    servers: Object.fromEntries(
      [...started].map((
        [id, s],
      ) => [id, isRunning(s) ? s.command : `unavailable: ${s.unavailable}`]),
    ),
    notes,
    seconds: (performance.now() - t0) / 1000,
  };
  console.log(textReport(info, tables));
  console.log(markdownReport(info, tables));
  if (o.json) {
    await Deno.mkdir(`${repo}/bench/results`, { recursive: true });
    const json = JSON.stringify(jsonReport(info, tables), null, 2) + "\n";
    await Deno.writeTextFile(`${repo}/bench/results/latest.json`, json);
    progress("wrote bench/results/latest.json");
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
