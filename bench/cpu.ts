/**
 * CPU per GiB of a large download, for each server, in interleaved rounds: a measure that holds
 * on a loaded machine, where wall-clock GB/s does not. For each `curl -o /dev/null` of the file
 * it reads the server's user and system time from `/proc/PID/stat` (all its threads, the
 * runtime's blocking pool included) before and after, and curl's own from bash's `times`. GB/s
 * is shown too, but only as the interleaved pairs it is.
 *
 * `deno run -A bench/cpu.ts [--path /1g] [--rounds 5] [--only ferry,lighttpd,...]
 *   [--ferry NAME=DIR ...] [--floor-chunk BYTES ...] [--running LABEL=PID:PORT ...] [--nice]`
 *
 * - `--only`: any of `ferry`, `lighttpd`, `nginx`, `nginx-nosendfile`, `deno-floor`
 *   (default: ferry, lighttpd, deno-floor).
 * - `--ferry NAME=DIR`: one more Ferry row, `server.ts` from the checkout DIR (an A/B of a
 *   change: copy the tree before it somewhere, name both).
 * - `--floor-chunk BYTES`: one more floor row per value, writing BYTES per `conn.write`.
 * - `--running LABEL=PID:PORT`: one more row, a server already running (not stopped here),
 *   e.g. a prototype that serves `.bench-data/` (GET /1g must give the file).
 * - `--nice`: servers and curl at nice -20 (root; see {@linkcode renice}).
 *
 * Files come from `.bench-data/` as for bench.ts (generated when missing).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ensureFile, type FileName, FILES, warmCache } from "./data.ts";
import { cpuSeconds, onInterrupt, run, runtimeNs, settle, stopAll } from "./proc.ts";
import {
  isRunning,
  type RunningServer,
  type ServerContext,
  type ServerSpec,
  SPECS,
  startServer,
} from "./servers.ts";
import { median } from "./stats.ts";

interface Sample {
  /** CPU s/GiB, ns-precise when no thread exited during the transfer. */
  cpu: number;
  /** The main thread's share (JS, socket writes; not the file reads of the blocking pool). */
  main: number;
  user: number;
  sys: number;
  curlUser: number;
  curlSys: number;
  gbps: number;
}

/**
 * `--nice`: every thread of the server (those it starts later inherit it) and curl at nice
 * -20, so that on a machine other work keeps busy the transfer still gets ~99 % of the cores it
 * runs on (CFS weight 88761 against 1024) for the fraction of a second it lasts: wall-clock
 * GB/s then comes close to a quiet machine's. Root only.
 */
async function renice(pid: number): Promise<void> {
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    await run("renice", ["-n", "-20", "-p", t.name], { timeoutMs: 5_000 });
  }
}

let curlPrefix = "";

async function once(srv: RunningServer, path: string, bytes: number): Promise<Sample | string> {
  const a = cpuSeconds(srv.pid);
  const ra = runtimeNs(srv.pid);
  const r = await run("bash", [
    "-c",
    `${curlPrefix}curl -s -o /dev/null --max-time 120 -w "%{http_code} %{size_download} %{speed_download}\\n" "$0"; times`,
    srv.url(path),
  ], { timeoutMs: 150_000 });
  const b = cpuSeconds(srv.pid);
  const rb = runtimeNs(srv.pid);
  const lines = r.stdout.trim().split("\n");
  const [code, size, speed] = lines[0].split(" ").map(Number);
  if (code !== 200 || size !== bytes) return `HTTP ${code}, ${size} of ${bytes} bytes`;
  // `times`: the shell's own line, then its children's: "0m0.123s 0m0.456s".
  const child = lines.at(-1)!.match(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/);
  const s = (m: string, x: string) => Number(m) * 60 + Number(x);
  const gib = bytes / 2 ** 30;
  const sameThreads = [...ra.tids].every((t) => rb.tids.has(t));
  return {
    cpu: sameThreads ? (rb.ns - ra.ns) / 1e9 / gib : (b.user + b.sys - a.user - a.sys) / gib,
    main: (rb.mainNs - ra.mainNs) / 1e9 / gib,
    user: (b.user - a.user) / gib,
    sys: (b.sys - a.sys) / gib,
    curlUser: child ? s(child[1], child[2]) / gib : NaN,
    curlSys: child ? s(child[3], child[4]) / gib : NaN,
    gbps: speed / 1e9,
  };
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      path: { type: "string", default: "/1g" },
      rounds: { type: "string", default: "5" },
      only: { type: "string", default: "ferry,lighttpd,deno-floor" },
      ferry: { type: "string", multiple: true, default: [] },
      "floor-chunk": { type: "string", multiple: true, default: [] },
      running: { type: "string", multiple: true, default: [] },
      nice: { type: "boolean", default: false },
    },
  });
  const name = values.path.slice(1) as FileName;
  const bytes = FILES[name];
  if (bytes === undefined) throw new Error(`--path must be one of ${Object.keys(FILES)}`);
  const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const dataDir = `${repo}/.bench-data`;
  await Deno.mkdir(dataDir, { recursive: true });
  for (const f of ["4k", name] as FileName[]) await ensureFile(dataDir, f);
  await warmCache(`${dataDir}/${name}`);
  if (values.nice) curlPrefix = "nice -n -20 ";
  const tmp = await Deno.makeTempDir({ prefix: "ferry-cpu-" });
  const cleanup = async () => {
    await stopAll();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  };
  const removeHandlers = onInterrupt(cleanup);
  const ctx: ServerContext = { repo, root: dataDir, tmp, nofile: 4096, maxConnections: 1024 };
  const subjects: Array<{ label: string; srv: RunningServer; samples: Sample[] }> = [];
  try {
    const plan: Array<[string, ServerSpec, ServerContext]> = [];
    for (const id of values.only.split(",").filter(Boolean)) {
      const spec = SPECS.find((s) => s.id === id);
      if (!spec) throw new Error(`unknown server ${id}`);
      plan.push([spec.label, spec, ctx]);
    }
    for (const v of values.ferry) {
      const [label, dir] = v.split("=");
      plan.push([`ferry ${label}`, SPECS[0], { ...ctx, repo: dir }]);
    }
    for (const c of values["floor-chunk"]) {
      const spec: ServerSpec = { id: `floor-${c}`, label: `floor ${c}`, kind: "floor" };
      plan.push([`deno floor, ${c} B writes`, { ...spec, floorChunk: Number(c) }, ctx]);
    }
    for (const [label, spec, c] of plan) {
      const s = await startServer(spec, c);
      if (!isRunning(s)) throw new Error(`${label}: ${s.unavailable}`);
      if (values.nice) await renice(s.pid);
      subjects.push({ label, srv: s, samples: [] });
      await once(s, values.path, bytes); // warm-up, untimed
      await settle(s.pid);
    }
    for (const v of values.running) {
      const [label, pidPort] = v.split("=");
      const [pid, port] = pidPort.split(":").map(Number);
      const s: RunningServer = {
        spec: { id: label, label, kind: "ferry" },
        port,
        pid,
        command: "(started elsewhere)",
        url: (path) => `http://127.0.0.1:${port}${path}`,
        stop: () => Promise.resolve(),
        exitReason: () => undefined,
      };
      if (values.nice) await renice(pid);
      subjects.push({ label, srv: s, samples: [] });
      await once(s, values.path, bytes);
      await settle(pid);
    }
    const rounds = Number(values.rounds);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < subjects.length; i++) {
        const s = subjects[(i + r) % subjects.length];
        const x = await once(s.srv, values.path, bytes);
        if (typeof x === "string") console.error(`${s.label}: ${x}`);
        else s.samples.push(x);
        console.error(
          `round ${r + 1} ${s.label}: ${
            typeof x === "string" ? x : `${x.cpu.toFixed(3)} s/GiB, ${x.gbps.toFixed(2)} GB/s`
          }`,
        );
      }
    }
  } finally {
    await cleanup();
    removeHandlers();
  }
  const load = Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
  console.log(
    `${values.path}, ${values.rounds} interleaved rounds${
      values.nice ? ", nice -20" : ""
    }, medians (min–max); load ${load}`,
  );
  console.log(
    "server".padEnd(34) + "CPU s/GiB".padStart(18) + "main".padStart(7) + "user".padStart(7) +
      "sys".padStart(7) +
      "curl s/GiB".padStart(12) + "GB/s".padStart(18),
  );
  const fmt = (xs: number[], d: number) =>
    `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
  for (const s of subjects) {
    const x = s.samples;
    if (x.length === 0) continue;
    console.log(
      s.label.padEnd(34) + fmt(x.map((v) => v.cpu), 3).padStart(18) +
        median(x.map((v) => v.main)).toFixed(3).padStart(7) +
        median(x.map((v) => v.user)).toFixed(3).padStart(7) +
        median(x.map((v) => v.sys)).toFixed(3).padStart(7) +
        median(x.map((v) => v.curlUser + v.curlSys)).toFixed(3).padStart(12) +
        fmt(x.map((v) => v.gbps), 2).padStart(18),
    );
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
