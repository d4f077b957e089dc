/**
 * Child processes of the benchmark: every one is tracked from spawn to exit, so that an error
 * or Ctrl-C stops all of them (SIGTERM, then SIGKILL) and none outlives the run.
 *
 * @module
 */

/** How long a process gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Output kept from a command: wrk/curl print a few hundred bytes; more is noise. */
const MAX_OUTPUT_CHARS = 64 * 1024;

const live = new Map<Deno.ChildProcess, Promise<Deno.CommandStatus>>();

/** Options of {@linkcode spawn}. */
export interface SpawnOptions {
  /** Raise the open-file limit to this (via `bash -c 'ulimit -n'`) before exec. */
  nofile?: number;
  /** Append stdout and stderr to this file instead (via the bash wrapper). */
  logFile?: string;
  /** @default "null" */
  stdout?: "piped" | "null";
  /** @default "null" */
  stderr?: "piped" | "null";
  /** @default "null" */
  stdin?: "piped" | "null";
  cwd?: string;
}

/**
 * Starts `cmd args…` and tracks it until it exits. With `nofile` or `logFile` it runs through
 * `bash -c '…; exec "$@"'`, so the pid is still the program's own (for /proc/PID/status).
 */
export function spawn(cmd: string, args: string[], o: SpawnOptions = {}): Deno.ChildProcess {
  let file = cmd, argv = args;
  if (o.nofile !== undefined || o.logFile !== undefined) {
    const script = 'if [ -n "$1" ]; then ulimit -n "$1" 2>/dev/null; fi; log="$2"; shift 2; ' +
      'if [ -n "$log" ]; then exec "$@" >>"$log" 2>&1; else exec "$@"; fi';
    file = "bash";
    argv = ["-c", script, "bash", String(o.nofile ?? ""), o.logFile ?? "", cmd, ...args];
  }
  const child = new Deno.Command(file, {
    args: argv,
    cwd: o.cwd,
    stdin: o.stdin ?? "null",
    stdout: o.stdout ?? "null",
    stderr: o.stderr ?? "null",
  }).spawn();
  const status = child.status.finally(() => live.delete(child));
  live.set(child, status);
  return child;
}

/** Sends SIGTERM, waits up to {@linkcode STOP_GRACE_MS}, then SIGKILL; resolves on exit. */
export async function stop(child: Deno.ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  const status = live.get(child);
  if (!status) return; // already exited
  const send = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* exited meanwhile */ }
  };
  send("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), graceMs));
  const first = await Promise.race([status, timedOut]);
  clearTimeout(timer);
  if (first === "timeout") {
    send("SIGKILL");
    await status;
  }
}

/** Stops every process this module started that is still running (in parallel). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live.keys()].map((c) => stop(c)));
}

/** The outcome of {@linkcode run}. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, including the program's start-up. */
  ms: number;
  timedOut: boolean;
}

/** Drains a byte stream to text, keeping at most the last `max` characters. */
export async function drain(
  stream: ReadableStream<Uint8Array>,
  max = MAX_OUTPUT_CHARS,
  onText?: (text: string) => void,
): Promise<string> {
  let kept = "";
  const dec = new TextDecoder();
  for await (const chunk of stream) {
    const t = dec.decode(chunk, { stream: true });
    onText?.(t);
    kept = (kept + t).slice(-max);
  }
  return kept;
}

/**
 * Runs a command to completion with a time limit (SIGKILL when exceeded), collecting stdout and
 * stderr. A program that cannot be started gives code 127 and the reason in `stderr`.
 */
export async function run(
  cmd: string,
  args: string[],
  o: { timeoutMs: number; nofile?: number },
): Promise<RunResult> {
  const t0 = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = spawn(cmd, args, { stdout: "piped", stderr: "piped", nofile: o.nofile });
  } catch (e) {
    return {
      code: 127,
      stdout: "",
      stderr: `${cmd}: ${(e as Error).message}`,
      ms: 0,
      timedOut: false,
    };
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  }, o.timeoutMs);
  const [stdout, stderr, status] = await Promise.all([
    drain(child.stdout),
    drain(child.stderr),
    child.status,
  ]);
  const ms = performance.now() - t0;
  clearTimeout(timer);
  return { code: status.code, stdout, stderr, ms, timedOut };
}

/** Soft and hard open-file limits of this process, from /proc/self/limits (Linux). */
export function fdLimits(): { soft: number; hard: number } | undefined {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
      .find((l) => l.startsWith("Max open files"));
    const m = line?.match(/Max open files\s+(\S+)\s+(\S+)/);
    if (!m) return undefined;
    const n = (s: string) => (s === "unlimited" ? Infinity : Number(s));
    return { soft: n(m[1]), hard: n(m[2]) };
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in KiB (VmRSS in /proc/PID/status), or undefined. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The share of all CPUs that was busy (not idle or iowait) during `ms`, from /proc/stat; what
 * else runs on the machine before the bench starts its own work. Undefined off Linux.
 */
export async function cpuBusy(ms: number): Promise<number | undefined> {
  const read = () => {
    try {
      const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
        .map(Number);
      return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + (f[4] ?? 0) };
    } catch {
      return undefined;
    }
  };
  const a = read();
  await sleep(ms);
  const b = read();
  if (!a || !b || b.total === a.total) return undefined;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}

/** Whether `name` is an executable on PATH. */
export async function onPath(name: string): Promise<boolean> {
  const r = await run("bash", ["-c", `command -v "$0" >/dev/null`, name], { timeoutMs: 5_000 });
  return r.code === 0;
}

/** Runs `cleanup` once on SIGINT or SIGTERM, then exits with 130 (SIGINT) or 143 (SIGTERM). */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  let once = false;
  const handler = (sig: Deno.Signal) => async () => {
    if (once) return;
    once = true;
    console.error(`\nbench: ${sig}: stopping every process started…`);
    await cleanup().catch(() => {});
    Deno.exit(sig === "SIGINT" ? 130 : 143);
  };
  const onInt = handler("SIGINT"), onTerm = handler("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  return () => {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  };
}

/**
 * CPU time of a process in seconds, precise to the nanosecond: the sum of its live threads'
 * run time from `/proc/PID/task/TID/schedstat`, and which threads those were (a thread that
 * exits between two readings takes its time with it; then the coarser
 * utime + stime of `/proc/PID/stat`, which keeps exited threads, is the one to use).
 */
export function runtimeNs(pid: number): { ns: number; mainNs: number; tids: Set<string> } {
  let ns = 0, mainNs = 0;
  const tids = new Set<string>();
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const x = Number(
        Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[0],
      );
      ns += x;
      if (t.name === String(pid)) mainNs = x; // the main thread: Deno's JS and its socket ops
      tids.add(t.name);
    } catch { /* exited meanwhile */ }
  }
  return { ns, mainNs, tids };
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime and stime of a process (all threads, live and exited), in seconds (10 ms ticks). */
export function cpuSeconds(pid: number): { user: number; sys: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(f[11]) / TICKS_PER_S, sys: Number(f[12]) / TICKS_PER_S };
}

/**
 * A process's CPU time at one moment, for {@linkcode cpuBetween}: ns-precise from the threads'
 * schedstat, with the 10 ms-tick total of `/proc/PID/stat` for when a thread exited in between.
 * Undefined when /proc cannot be read.
 */
export function cpuMark(
  pid: number,
): { ns: number; tids: Set<string>; ticksS: number } | undefined {
  try {
    const { ns, tids } = runtimeNs(pid);
    const { user, sys } = cpuSeconds(pid);
    return { ns, tids, ticksS: user + sys };
  } catch {
    return undefined;
  }
}

/** Seconds of CPU between two {@linkcode cpuMark}s of one process. */
export function cpuBetween(
  a: NonNullable<ReturnType<typeof cpuMark>>,
  b: NonNullable<ReturnType<typeof cpuMark>>,
): number {
  const same = [...a.tids].every((t) => b.tids.has(t));
  return same ? (b.ns - a.ns) / 1e9 : b.ticksS - a.ticksS;
}

/**
 * Waits (at most 20 s) until the process uses no more than 2 % of a CPU over 300 ms: the
 * first request of a file starts Ferry's background sha-256 of it (~0.8 s of CPU per GiB on
 * the serving thread), which must not be charged to the next transfer.
 */
export async function settle(pid: number, maxMs = 20_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) { // bounded by the deadline
    try {
      const a = runtimeNs(pid).ns;
      await sleep(300);
      if (runtimeNs(pid).ns - a < 0.02 * 300e6) return;
    } catch {
      return; // the process is gone (or not Linux): nothing to wait for
    }
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
