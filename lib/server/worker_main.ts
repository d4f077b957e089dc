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
