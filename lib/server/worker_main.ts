/**
 * The body of one `--workers` thread: runs a {@linkcode Server} on the shared port until told
 * to shut down.
 *
 * @module
 */

import { Server } from "./listen.ts";
import type { WorkerMessage } from "./workers.ts";

const scope = globalThis as unknown as {
  postMessage(m: WorkerMessage): void;
  onmessage: ((e: MessageEvent<WorkerMessage>) => void) | null;
};

/**
 * Makes this thread a worker: answers "start" by running a server and "shutdown" by stopping
 * it. Called when this module is a worker's entry, and by `server.ts` when the program itself
 * is (a bundle holds one file, so the worker must be able to start from it).
 */
export function serveAsWorker(): void {
  let server: Server | undefined;
  scope.onmessage = async (e: MessageEvent<WorkerMessage>) => {
    const msg = e.data;
    if (msg.type === "start") {
      try {
        server = await Server.start(msg.options);
        scope.postMessage({ type: "ready" });
      } catch (err) {
        scope.postMessage({ type: "error", name: (err as Error).name, message: String(err) });
      }
    } else if (msg.type === "drain") {
      server?.drain();
    } else if (msg.type === "shutdown") {
      await server?.shutdown(msg.graceMs);
      scope.postMessage({ type: "stopped" });
    }
  };
}

/** True on a worker thread (there `import.meta.main` is true for the worker's entry too). */
export function onWorkerThread(): boolean {
  const ctor = (globalThis as { WorkerGlobalScope?: new () => unknown }).WorkerGlobalScope;
  return ctor !== undefined && globalThis instanceof ctor;
}

if (import.meta.main && onWorkerThread()) serveAsWorker();
