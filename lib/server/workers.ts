/**
 * `--workers N`: N accept loops on N threads (Web Workers), each with its own listener on the
 * same port (SO_REUSEPORT), so the kernel spreads connections across cores.
 *
 * The port check stays honest: before any listener with SO_REUSEPORT exists, the port is bound
 * once without it, which fails if anybody holds the port — otherwise a second Ferry (or a
 * stranger using SO_REUSEPORT) would silently share it.
 *
 * @module
 */

import { DEFAULTS, type ServerOptions, serverUrls } from "./listen.ts";
import { Logger } from "./log.ts";
import { ConnLimiter } from "./conn_limits.ts";

/** Messages between the main thread and a worker. */
export type WorkerMessage =
  | { type: "start"; options: ServerOptions }
  | { type: "shutdown"; graceMs?: number }
  | { type: "drain" }
  | { type: "ready" }
  | { type: "stopped" }
  | { type: "error"; name: string; message: string };

function once(worker: Worker, ...types: string[]): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    const onMessage = (e: MessageEvent<WorkerMessage>) => {
      if (!types.includes(e.data.type)) return;
      worker.removeEventListener("message", onMessage);
      resolve(e.data);
    };
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", (e) => reject(new Error(e.message)), { once: true });
  });
}

/** How the workers are started. */
export interface WorkerOptions {
  /**
   * The module each worker runs: `worker_main.ts`, or a program that calls `serveAsWorker()`
   * when it is loaded on a worker thread (`server.ts` does, so that a bundle of it, one file,
   * can start its own workers). @default this folder's worker_main.ts
   */
  module?: string;
}

/** Starts `count` workers serving `options` on one port. */
export async function startWorkers(
  options: ServerOptions,
  count: number,
  how: WorkerOptions = {},
) {
  const module = how.module ?? new URL("./worker_main.ts", import.meta.url).href;
  const hostname = options.host ?? DEFAULTS.host;
  // The honest check (see the module doc); also picks the port when 0 is asked for.
  const probe = Deno.listen({ hostname, port: options.port ?? DEFAULTS.port });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();

  const workers: Worker[] = [];
  // One set of connection counters for all: the caps are totals, not per worker.
  const sharedLimits = ConnLimiter.sharedMemory();
  try {
    for (let i = 0; i < count; i++) {
      const w = new Worker(module, { type: "module" });
      workers.push(w);
      const ready = once(w, "ready", "error");
      const { logOut: _, ...plain } = options;
      w.postMessage({
        type: "start",
        options: {
          ...plain,
          port,
          reusePort: true,
          worker: { index: i, count },
          sharedLimits,
        },
      });
      const msg = await ready;
      if (msg.type === "error") {
        const ctor = (Deno.errors as unknown as Record<string, ErrorConstructor>)[msg.name] ??
          Error;
        throw new ctor(msg.message);
      }
    }
  } catch (e) {
    for (const w of workers) w.terminate();
    throw e;
  }
  const log = new Logger(options.log ?? "text");
  return {
    log,
    urls(): string[] {
      return serverUrls(hostname, port, options.tls ? "https" : "http");
    },
    /** Every worker's health path answers 503 from now on (see Server.drain). */
    drain(): void {
      for (const w of workers) w.postMessage({ type: "drain" });
    },
    async shutdown(graceMs?: number): Promise<void> {
      await Promise.all(workers.map((w) => {
        const stopped = once(w, "stopped");
        w.postMessage({ type: "shutdown", graceMs });
        return stopped;
      }));
      for (const w of workers) w.terminate();
      await log.flush();
    },
  };
}
