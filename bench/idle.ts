/**
 * Workload 3: many idle keep-alive connections. `bench/idle_holder.ts`, a process of its own
 * with a raised open-file limit, opens them; meanwhile the bench reads the server's RSS and times
 * fresh requests.
 *
 * @module
 */

import type { Row, Table } from "./stats.ts";
import { drain, rssKiB, run, sleep, spawn, stop } from "./proc.ts";
import { isRunning, type RunningServer, type ServerSpec, type StartedServer } from "./servers.ts";
import { goneOf, interleave, type Sample, type Subject, unavailable } from "./rounds.ts";

/** Samples of fresh-request latency taken per server per round while connections are held. */
const LATENCY_PROBES = 5;
/** Connections opened at once by the idle holder. */
const IDLE_BATCH = 200;
/** After the last connection is open, let the server settle before reading its RSS. */
const IDLE_SETTLE_MS = 500;
/** python http.server speaks HTTP/1.0 and closes every connection: a few show it. */
const PYTHON_IDLE_CAP = 20;
/** Connections below lighttpd's max-fds / 2 left free for the fresh-request probes. */
const LIGHTTPD_FD_ROOM = 100;
/** Options of {@linkcode idle}. */
export interface IdleOptions {
  count: number;
  rounds: number;
  /** Open-file limit for the holder process. */
  nofile: number;
  repo: string;
  /**
   * Starts a fresh instance of a server for one sample, if given. Memory must be measured on a
   * process that has not held connections before: one that has keeps the memory it grew (V8's
   * heap, malloc's arenas) and then shows almost no growth for the next set of connections —
   * measured here, Ferry's per-connection figure fell from ~7 KiB in round 1 to ~0.2 in rounds
   * 2 and 3 of the same process, nginx's and lighttpd's to 0.0.
   */
  fresh?: (spec: ServerSpec) => Promise<StartedServer>;
  /** Stalled readers instead of idle connections: each sends `GET stallPath` and reads
   * nothing (bench/stalled.ts). */
  stallPath?: string;
}

/** A line reader over a child's stdout, each read with a time limit. */
function lines(stream: ReadableStream<Uint8Array>) {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let buf = "";
  drain(stream, 4096, (t) => {
    buf += t;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      queue.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    wake?.();
  }).finally(() => wake?.());
  return async (timeoutMs: number): Promise<string | undefined> => {
    const deadline = Date.now() + timeoutMs;
    while (queue.length === 0 && Date.now() < deadline) { // bounded by the deadline
      await Promise.race([
        new Promise<void>((r) => wake = r),
        sleep(Math.min(1_000, deadline - Date.now())),
      ]);
    }
    return queue.shift();
  };
}

/** Fresh-request latency: a new connection per `curl`, its own `time_total`, in ms. */
async function latencyMs(srv: RunningServer): Promise<number | undefined> {
  const r = await run("curl", [
    "-s",
    "-o",
    "/dev/null",
    "--max-time",
    "5",
    "-w",
    "%{http_code} %{time_total}",
    srv.url("/4k"),
  ], { timeoutMs: 10_000 });
  const [code, t] = r.stdout.trim().split(" ");
  return code === "200" ? Number(t) * 1000 : undefined;
}

/**
 * Connections a server is offered: python's http.server closes each one anyway; lighttpd
 * accepts at most max-fds / 2 (the open-file limit / 2) and must keep room for the probes.
 */
function capOf(kind: string, nofile: number): number {
  if (kind === "python") return PYTHON_IDLE_CAP;
  if (kind === "lighttpd") return Math.floor(nofile / 2) - LIGHTTPD_FD_ROOM;
  return Infinity;
}

/** What one hold measured, beside the per-connection figure the rounds collect. */
export interface Extra {
  latency: number[];
  rssMiB: number[];
  notes: string[];
}

function noteOnce(notes: string[], note: string | undefined): void {
  if (note && !notes.includes(note)) notes.push(note);
}

/**
 * Connections opened and kept before the baseline is read, so that what is measured is the
 * cost of one more idle connection, not the server's one-time warm-up (first requests, JIT,
 * thread pools: ~12 MiB for Deno, which the nginx and lighttpd processes do not have).
 */
const WARM_CONNECTIONS = 1_000;

/** A running idle holder process. */
interface Holder {
  ready: Ready | null;
  say(cmd: string): Promise<void>;
  next(timeoutMs: number): Promise<string | undefined>;
  close(): Promise<void>;
}

async function openHolder(srv: RunningServer, count: number, o: IdleOptions): Promise<Holder> {
  const holder = spawn("deno", [
    "run",
    "-A",
    `${o.repo}/bench/idle_holder.ts`,
    String(srv.port),
    String(count),
    String(IDLE_BATCH),
    "600",
    ...(o.stallPath === undefined ? [] : [o.stallPath]),
  ], { nofile: o.nofile, stdin: "piped", stdout: "piped" });
  const writer = holder.stdin.getWriter();
  const say = (cmd: string) => writer.write(new TextEncoder().encode(cmd + "\n")).catch(() => {});
  const next = lines(holder.stdout);
  const close = async () => {
    await say("close");
    await writer.close().catch(() => {});
    await Promise.race([holder.status, sleep(10_000)]);
    await stop(holder);
  };
  try {
    const ready = JSON.parse((await next(300_000)) ?? "null") as Ready | null;
    return { ready, say, next, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Holds `count` connections once: first a warm-up set, then the rest; the figure is the RSS
 * growth from the second set divided by its connections. Always closes both sets.
 */
async function holdOnce(
  srv: RunningServer,
  count: number,
  extra: Extra,
  o: IdleOptions,
): Promise<Sample> {
  const warmCount = Math.min(WARM_CONNECTIONS, Math.floor(count / 10));
  const warm = warmCount > 0 ? await openHolder(srv, warmCount, o) : undefined;
  let main: Holder | undefined;
  try {
    await sleep(IDLE_SETTLE_MS);
    const baseline = rssKiB(srv.pid);
    main = await openHolder(srv, count - warmCount, o);
    const ready = main.ready;
    if (!ready) return { note: "idle holder gave no answer" };
    await sleep(IDLE_SETTLE_MS);
    const rss = rssKiB(srv.pid);
    await main.say("count");
    const open = (JSON.parse((await main.next(10_000)) ?? "{}") as { open?: number }).open ?? 0;
    for (let i = 0; i < (o.stallPath === undefined ? LATENCY_PROBES : 0); i++) {
      const ms = await latencyMs(srv);
      if (ms !== undefined) extra.latency.push(ms);
    }
    const failed = ready.failed
      ? `${ready.failed} of ${count} failed to open (${ready.error})`
      : undefined;
    noteOnce(extra.notes, failed);
    if (count < o.count) {
      noteOnce(extra.notes, `${count.toLocaleString("en-US")} connections offered`);
    }
    if (open === 0) {
      const why = srv.spec.kind === "python" ? " (HTTP/1.0)" : "";
      return { note: `server closed all ${ready.held} connections${why}` };
    }
    if (baseline === undefined || rss === undefined) return { note: "no RSS in /proc" };
    extra.rssMiB.push(rss / 1024);
    const held = open < count - warmCount ? `${open} of ${count - warmCount} held` : undefined;
    return {
      value: (rss - baseline) / open,
      note: [failed, held].filter(Boolean).join("; ") || undefined,
    };
  } finally {
    await main?.close();
    await warm?.close();
  }
}

/** {@linkcode holdOnce} on a fresh instance of the server (see {@linkcode IdleOptions.fresh}),
 * stopped afterwards; on `srv` itself without `fresh`. */
export async function freshHold(
  srv: RunningServer,
  count: number,
  extra: Extra,
  o: IdleOptions,
): Promise<Sample> {
  if (o.fresh === undefined) return await holdOnce(srv, count, extra, o);
  const s = await o.fresh(srv.spec);
  if (!isRunning(s)) return { note: `a fresh instance did not start: ${s.unavailable}` };
  try {
    return await holdOnce(s, count, extra, o);
  } finally {
    await s.stop();
  }
}

/** The holder's first line. */
interface Ready {
  held: number;
  failed: number;
  error: string;
}

/**
 * Workload 3: hold `count` idle keep-alive connections (from `bench/idle_holder.ts`) and
 * measure, while they are held, the server's RSS growth per connection beyond a warm-up set
 * (see {@linkcode WARM_CONNECTIONS}), its whole RSS, and the latency of fresh requests.
 */
export async function idle(servers: StartedServer[], o: IdleOptions): Promise<Table[]> {
  const extras = new Map<string, Extra>();
  const subjects: Subject[] = servers.map((s) => {
    const count = Math.min(o.count, capOf(s.spec.kind, o.nofile));
    const extra: Extra = { latency: [], rssMiB: [], notes: [] };
    extras.set(s.spec.label, extra);
    return {
      name: s.spec.label,
      unavailable: unavailable(s),
      gone: goneOf(s),
      measure: () => freshHold(s as RunningServer, count, extra, o),
    };
  });
  const rows = await interleave(`idle ${o.count}`, subjects, o.rounds);
  const rowsOf = (pick: (e: Extra) => number[], withNotes: boolean): Row[] =>
    rows.map((r) => {
      const e = extras.get(r.name)!;
      const samples = pick(e);
      return {
        name: r.name,
        samples,
        unavailable: samples.length === 0 ? r.unavailable ?? "no sample" : undefined,
        notes: withNotes ? e.notes : [],
      };
    });
  const n = o.count.toLocaleString("en-US");
  const capNotes = servers.some((s) => s.spec.kind === "python")
    ? [
      `python's http.server speaks HTTP/1.0 by default and closes every connection after one response, so it holds none (it is offered ${PYTHON_IDLE_CAP}, not the full count).`,
    ]
    : [];
  const lighttpd = servers.find((s) => s.spec.kind === "lighttpd");
  const lighttpdCap = capOf("lighttpd", o.nofile);
  if (lighttpd && lighttpdCap < o.count) {
    capNotes.push(
      `lighttpd is offered ${
        lighttpdCap.toLocaleString("en-US")
      }: it accepts at most max-fds / 2 = ${
        Math.floor(o.nofile / 2).toLocaleString("en-US")
      } connections (open-file hard limit ${
        o.nofile.toLocaleString("en-US")
      }), and the probes need room.`,
    );
  }
  const common = { better: "lower" as const, reference: "ferry" };
  return [{
    ...common,
    id: "idle-kib-per-conn",
    title: `${n} idle keep-alive connections: server memory per connection`,
    unit: "KiB/conn",
    digits: 1,
    rows,
    notes: [
      "(VmRSS while holding all − VmRSS while holding a warm-up set of min(1,000, N/10)) ÷ the connections added. Each connection made one GET /4k and was then left open and idle. Every sample is taken on a fresh server process (a process that held connections before reuses the memory it grew and shows almost none).",
      ...capNotes,
    ],
  }, {
    ...common,
    id: "idle-rss",
    title: `${n} idle keep-alive connections: server RSS while holding them`,
    unit: "MiB",
    digits: 1,
    rows: rowsOf((e) => e.rssMiB, false),
    notes: ["The whole process (VmRSS), runtime included."],
  }, {
    ...common,
    id: "idle-latency",
    title: `Fresh request (new connection, curl time_total) while ${n} idle connections are held`,
    unit: "ms",
    digits: 2,
    rows: rowsOf((e) => e.latency, true),
    notes: [`${LATENCY_PROBES} requests per server per round.`],
  }];
}
