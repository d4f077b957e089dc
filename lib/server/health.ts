/**
 * `--health-path PATH`: an answer for a load balancer's checks — 200 while serving, 503 from the
 * moment a drain starts (`--drain SEC` on SIGTERM), so that the balancer takes the instance out
 * while requests in flight and new ones still get served. Off by default; never shadows a file:
 * the server refuses to start when DIR holds PATH ({@linkcode checkHealthPath}).
 *
 * @module
 */

import type { RequestHead } from "../http/request.ts";
import { STATUS } from "../http/status.ts";
import type { Reply } from "./files.ts";

/** The health path and whether the server is draining. */
export interface HealthState {
  /** The URL path answered, e.g. `/healthz` (the query is ignored). */
  path: string;
  /** Set when a drain starts: the answer turns to 503 and stays so. */
  draining: boolean;
}

const encoder = new TextEncoder();
const OK_BODY = encoder.encode("ok\n");
const DRAINING_BODY = encoder.encode("draining\n");

/**
 * Checks a `--health-path` value: a plain absolute URL path (letters, digits, `-._~/`, no
 * empty, `.` or `..` segment) that names nothing under `root`. Returns an error message, or
 * null when it is fine.
 */
export function checkHealthPath(path: string, root: string): string | null {
  if (
    !/^(\/[A-Za-z0-9._~-]+)+$/.test(path) || path.split("/").some((s) => s === "." || s === "..")
  ) {
    return `--health-path must be a plain URL path such as /healthz (letters, digits, -._~ and /), got "${path}"`;
  }
  try {
    Deno.lstatSync(`${root}${path}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    return `cannot check --health-path ${path} in DIR: ${(e as Error).message}`;
  }
  return `DIR holds ${path}, which --health-path would shadow; choose another --health-path`;
}

/** Whether `target` asks for the health path (the query ignored); false without one. */
export function isHealthTarget(target: string, h: HealthState | undefined): boolean {
  if (h === undefined) return false;
  const q = target.indexOf("?");
  return (q < 0 ? target : target.slice(0, q)) === h.path;
}

/** The answer to `head` when it asks for the health path, else undefined. */
export function healthReply(head: RequestHead, h: HealthState): Reply | undefined {
  if (!isHealthTarget(head.target, h)) return undefined;
  const fields: Array<[string, string]> = [
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Cache-Control", "no-store"],
  ];
  if (head.method !== "GET" && head.method !== "HEAD") {
    const body = encoder.encode("405 Method Not Allowed\n");
    fields.push(["Allow", "GET, HEAD"], ["Content-Length", String(body.length)]);
    return { status: STATUS.MethodNotAllowed, fields, body, length: body.length };
  }
  const body = h.draining ? DRAINING_BODY : OK_BODY;
  fields.push(["Content-Length", String(body.length)]);
  if (h.draining) fields.push(["Retry-After", "1"]);
  return {
    status: h.draining ? STATUS.ServiceUnavailable : STATUS.OK,
    fields,
    body,
    length: body.length,
  };
}
