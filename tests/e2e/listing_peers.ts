/**
 * Servers with directory listings for the mirror and segment tests: nginx (autoindex, optional
 * `limit_rate`), lighttpd (mod_dirlisting), Apache (mod_autoindex, `apache2 -X`), each on a
 * free 127.0.0.1 port from a temp prefix, stopped (killed and awaited, by PID) by its disposer.
 *
 * @module
 */

import { join } from "node:path";
import { freePort, type Peer, peerPath, waitForPort } from "../client/peers.ts";

async function spawned(cmd: string, args: string[], port: number, what: string): Promise<Peer> {
  const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "null" })
    .spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
  };
  try {
    await waitForPort(port);
  } catch (e) {
    await stop();
    throw new Error(`${what} did not start: ${(e as Error).message}`);
  }
  return { origin: `http://127.0.0.1:${port}`, port, [Symbol.asyncDispose]: stop };
}

/** nginx with `autoindex on` serving `root`; `limitRate` is nginx's per-connection
 * `limit_rate` (e.g. "20m"). */
export async function startNginxIndex(
  root: string,
  prefix: string,
  options: { limitRate?: string } = {},
): Promise<Peer> {
  const port = freePort();
  const conf = join(prefix, "nginx.conf");
  const rate = options.limitRate ? `limit_rate ${options.limitRate};` : "";
  await Deno.writeTextFile(
    conf,
    `daemon off; master_process off; worker_processes 1;
pid ${prefix}/nginx.pid; error_log ${prefix}/err.log;
events {}
http { access_log off; server { listen 127.0.0.1:${port}; root ${root}; autoindex on; ${rate} } }
`,
  );
  return await spawned(
    peerPath("nginx")!,
    ["-c", conf, "-p", prefix, "-e", join(prefix, "err.log")],
    port,
    "nginx",
  );
}

/** lighttpd with mod_dirlisting serving `root` (a mimetype table, so that it sends ETag and
 * Last-Modified). */
export async function startLighttpd(root: string, prefix: string): Promise<Peer> {
  const port = freePort();
  const conf = join(prefix, "lighttpd.conf");
  await Deno.writeTextFile(
    conf,
    `server.document-root = "${root}"
server.port = ${port}
server.bind = "127.0.0.1"
server.modules = ("mod_dirlisting")
dir-listing.activate = "enable"
static-file.etags = "enable"
mimetype.assign = ("" => "application/octet-stream")
server.errorlog = "${prefix}/err.log"
`,
  );
  return await spawned(peerPath("lighttpd")!, ["-D", "-f", conf], port, "lighttpd");
}

/** Apache httpd (`apache2 -X`, one process in the foreground) with mod_autoindex serving
 * `root`. As root it serves as an unnamed user, so `root` must be world-readable. */
export async function startApache(root: string, prefix: string): Promise<Peer> {
  const port = freePort();
  const mods = "/usr/lib/apache2/modules";
  const conf = join(prefix, "httpd.conf");
  await Deno.writeTextFile(
    conf,
    `ServerRoot ${prefix}
Listen 127.0.0.1:${port}
PidFile ${prefix}/httpd.pid
ErrorLog ${prefix}/err.log
LoadModule mpm_event_module ${mods}/mod_mpm_event.so
LoadModule authz_core_module ${mods}/mod_authz_core.so
LoadModule autoindex_module ${mods}/mod_autoindex.so
ServerName localhost
DocumentRoot ${root}
<Directory ${root}>
  Options +Indexes
  Require all granted
</Directory>
`,
  );
  return await spawned(peerPath("apache2")!, ["-X", "-f", conf], port, "apache2");
}
