/**
 * HTTPS side by side: Ferry (`--tls-cert/--tls-key`) and nginx with TLS, the same self-signed
 * certificate (ECDSA P-256, made by lib/net/tls.ts), in interleaved rounds:
 *
 * 1. a large file (1 GiB by default) → `curl --cacert -o /dev/null`, GB/s as curl measures it;
 * 2. the 4 KiB file with keep-alive, `wrk -t2 -c50`, req/s;
 * 3. new TLS connections per second: the same with `Connection: close`.
 *
 * `deno task bench-tls [--rounds N] [--size MiB] [--seconds S]`. Medians with min–max; the
 * ratio is Ferry ÷ nginx (> 1: Ferry faster). Indicative only: server and load generator share
 * the machine's cores.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { generateSelfSigned } from "../lib/net/tls.ts";
import { onInterrupt, run, sleep, spawn, stop, stopAll } from "./proc.ts";
import { median } from "./stats.ts";
import { parseWrk } from "./workloads.ts";

const SERVER_TS = new URL("../server.ts", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitHttps(port: number, ca: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await run("curl", [
      "-s",
      "-o",
      "/dev/null",
      "--cacert",
      ca,
      `https://127.0.0.1:${port}/4k`,
    ], { timeoutMs: 5_000 });
    if (r.code === 0) return;
    await sleep(50);
  }
  throw new Error(`nothing answers https on port ${port}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "3" },
      size: { type: "string", default: "1024" },
      seconds: { type: "string", default: "5" },
    },
  });
  const rounds = Number(values.rounds);
  const sizeMiB = Number(values.size);
  const seconds = Number(values.seconds);
  const dir = await Deno.makeTempDir({ prefix: "ferry-bench-tls-" });
  const cleanup = async () => {
    await stopAll();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const off = onInterrupt(cleanup);
  try {
    const root = join(dir, "root");
    await Deno.mkdir(root);
    await Deno.writeFile(join(root, "4k"), crypto.getRandomValues(new Uint8Array(4096)));
    const block = crypto.getRandomValues(new Uint8Array(1 << 16));
    const mib = new Uint8Array(1 << 20);
    for (let i = 0; i < 16; i++) mib.set(block, i << 16);
    const f = await Deno.open(join(root, "big"), { write: true, create: true });
    for (let i = 0; i < sizeMiB; i++) {
      mib[0] = i & 255; // no two MiB alike
      await f.write(mib);
    }
    f.close();
    const { certFile, keyFile } = await generateSelfSigned(dir, ["localhost", "127.0.0.1"]);

    const ferryPort = freePort();
    const ferry = spawn(Deno.execPath(), [
      "run",
      "-A",
      SERVER_TS,
      "--tls-cert",
      certFile,
      "--tls-key",
      keyFile,
      "--log",
      "none",
      "--max-requests",
      "100000",
      "--idle-timeout",
      "120",
      String(ferryPort),
      root,
    ]);
    const nginxPort = freePort();
    const prefix = join(dir, "nginx");
    await Deno.mkdir(prefix);
    await Deno.writeTextFile(
      join(prefix, "nginx.conf"),
      `daemon off; master_process off; worker_processes 1; pid ${prefix}/nginx.pid;
error_log ${prefix}/err.log; events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000; keepalive_timeout 120s; sendfile on;
  server { listen 127.0.0.1:${nginxPort} ssl; ssl_certificate ${certFile};
    ssl_certificate_key ${keyFile}; root ${root}; } }
`,
    );
    const nginxBin = ["/usr/sbin/nginx", "nginx"].find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return p === "nginx";
      }
    })!;
    const nginx = spawn(nginxBin, ["-c", join(prefix, "nginx.conf"), "-p", prefix]);
    await waitHttps(ferryPort, certFile);
    await waitHttps(nginxPort, certFile);
    const servers: Array<[string, number]> = [["ferry", ferryPort], ["nginx", nginxPort]];
    const results = new Map<string, number[]>();
    const add = (k: string, v: number | undefined) => {
      if (v !== undefined && Number.isFinite(v)) results.set(k, [...results.get(k) ?? [], v]);
    };
    // Warm-up: one download and one short wrk per server.
    for (const [, port] of servers) {
      const url = `https://127.0.0.1:${port}`;
      await run("curl", ["-s", "-o", "/dev/null", "--cacert", certFile, `${url}/big`], {
        timeoutMs: 300_000,
      });
      await run("wrk", ["-t2", "-c50", "-d1s", `${url}/4k`], { timeoutMs: 30_000 });
      await run("wrk", ["-t2", "-c50", "-d1s", "-H", "Connection: close", `${url}/4k`], {
        timeoutMs: 30_000,
      });
    }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? servers : [...servers].reverse();
      for (const [name, port] of order) {
        const url = `https://127.0.0.1:${port}`;
        const c = await run("curl", [
          "-s",
          "-o",
          "/dev/null",
          "--cacert",
          certFile,
          "-w",
          "%{speed_download}",
          `${url}/big`,
        ], { timeoutMs: 300_000 });
        add(`${name} big`, Number(c.stdout) / 1e9);
        const d = `-d${seconds}s`;
        const k = await run("wrk", ["-t2", "-c50", d, `${url}/4k`], { timeoutMs: 120_000 });
        add(`${name} keepalive`, parseWrk(k.stdout).rps);
        const n = await run("wrk", ["-t2", "-c50", d, "-H", "Connection: close", `${url}/4k`], {
          timeoutMs: 120_000,
        });
        add(`${name} close`, parseWrk(n.stdout).rps);
        console.error(`round ${r + 1}: ${name} done`);
      }
    }
    const rows: Array<[string, string, string]> = [
      ["big", `${sizeMiB} MiB over HTTPS → curl`, "GB/s"],
      ["keepalive", "4 KiB keep-alive over HTTPS (wrk -t2 -c50)", "req/s"],
      ["close", "new TLS connections (Connection: close)", "req/s"],
    ];
    const fmt = (xs: number[] | undefined, digits: number) =>
      xs === undefined || xs.length === 0
        ? "—"
        : `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${
          Math.max(...xs).toFixed(digits)
        })`;
    console.log(`| workload | unit | ferry | nginx | ferry ÷ nginx |`);
    console.log(`| --- | --- | --- | --- | --- |`);
    for (const [key, label, unit] of rows) {
      const a = results.get(`ferry ${key}`);
      const b = results.get(`nginx ${key}`);
      const digits = unit === "GB/s" ? 2 : 0;
      const q = a && b ? `${(median(a) / median(b)).toFixed(2)}×` : "—";
      console.log(`| ${label} | ${unit} | ${fmt(a, digits)} | ${fmt(b, digits)} | ${q} |`);
    }
    await stop(ferry);
    await stop(nginx);
  } finally {
    off();
    await cleanup();
  }
}

if (import.meta.main) await main();
