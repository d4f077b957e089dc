/**
 * Workload 6 (`--only many`): the client on many files and on one big file over several
 * connections, side by side with the tools people use for that.
 *
 * - Mirror: a folder of 1,000 × 4 KiB files (10 folders of 100) from nginx autoindex:
 *   `client.ts -r` (4 keep-alive connections) vs `wget -r -np` (one). Wall seconds.
 * - Segments: 256 MiB (sparse) from nginx with `limit_rate 20m` per connection:
 *   `client.ts --segments 4`, `client.ts` over one connection, `aria2c -x4 -s4`. Wall seconds;
 *   the note gives the one-connection ÷ segmented ratio.
 *
 * Its own nginx (autoindex; a second server block with the rate limit) from a temp prefix,
 * stopped at the end.
 *
 * @module
 */

import { run, spawn, stop } from "./proc.ts";
import { interleave, type Sample, type Subject } from "./rounds.ts";
import { median, type Table } from "./stats.ts";

const MIRROR_FILES = 1000;
const SEGMENTED_BYTES = 256 * 1024 * 1024;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nginx did not start on ${port}`);
}

async function onPath(cmd: string): Promise<boolean> {
  return (await run("bash", ["-c", `command -v ${cmd}`], { timeoutMs: 5000 })).code === 0;
}

/** Seconds of one run of `cmd args` that must exit 0; `check` then validates the result. */
async function timed(cmd: string, args: string[], check: () => Promise<string | null>) {
  const r = await run(cmd, args, { timeoutMs: 120_000 });
  if (r.code !== 0) {
    return { note: `exit ${r.code}: ${r.stderr.trim().split("\n").at(-1)?.slice(0, 120)}` };
  }
  const bad = await check();
  return bad === null ? { value: r.ms / 1000 } : { note: bad };
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    n += e.isDirectory ? await countFiles(`${dir}/${e.name}`) : e.isFile ? 1 : 0;
  }
  return n;
}

/** Runs workload 6; `repo` is where client.ts is, `tmp` a scratch folder on the same disk. */
export async function clientMany(
  o: { repo: string; tmp: string; rounds: number; quick: boolean },
): Promise<Table[]> {
  const root = await Deno.makeTempDir({ dir: o.tmp, prefix: "many-" });
  const tree = `${root}/www/tree`;
  for (let d = 0; d < 10; d++) {
    await Deno.mkdir(`${tree}/d${d}`, { recursive: true });
    for (let f = 0; f < MIRROR_FILES / 10; f++) {
      await Deno.writeFile(`${tree}/d${d}/f${f}.bin`, new Uint8Array(4096).fill(d * 7 + f));
    }
  }
  {
    using f = await Deno.open(`${root}/www/big.bin`, { write: true, create: true });
    await f.truncate(SEGMENTED_BYTES);
  }
  const port = freePort();
  const slow = freePort();
  await Deno.writeTextFile(
    `${root}/nginx.conf`,
    `daemon off; master_process off; worker_processes 1;
pid ${root}/nginx.pid; error_log ${root}/err.log;
events {}
http { access_log off;
  server { listen 127.0.0.1:${port}; root ${root}/www; autoindex on; }
  server { listen 127.0.0.1:${slow}; root ${root}/www; limit_rate 20m; }
}
`,
  );
  const nginxBin = (await onPath("nginx")) ? "nginx" : "/usr/sbin/nginx";
  const nginx = spawn(nginxBin, ["-c", `${root}/nginx.conf`, "-p", root, "-e", `${root}/err.log`]);
  const out = `${root}/out`;
  const fresh = async () => {
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.mkdir(out);
  };
  const client = ["run", "-A", `${o.repo}/client.ts`, "--no-progress", "-q"];
  try {
    await waitPort(port);
    await waitPort(slow);
    const wget = await onPath("wget");
    const aria = await onPath("aria2c");
    const mirrorUrl = `http://127.0.0.1:${port}/tree/`;
    const mirrorCheck = async () => {
      const n = await countFiles(out);
      return n === MIRROR_FILES ? null : `${n} of ${MIRROR_FILES} files`;
    };
    const mirror: Subject[] = [
      {
        name: "ferry client -r (4 connections)",
        async measure(): Promise<Sample> {
          await fresh();
          return await timed("deno", [...client, "-r", mirrorUrl, out], mirrorCheck);
        },
      },
      {
        name: "wget -r -np",
        unavailable: wget ? undefined : "wget not found",
        async measure(): Promise<Sample> {
          await fresh();
          return await timed(
            "wget",
            ["-q", "-r", "-np", "-nH", "-R", "index.html*", "-P", out, mirrorUrl],
            mirrorCheck,
          );
        },
      },
    ];
    const bigUrl = `http://127.0.0.1:${slow}/big.bin`;
    const bigCheck = async () => {
      const st = await Deno.stat(`${out}/big.bin`).catch(() => null);
      return st?.size === SEGMENTED_BYTES ? null : `size ${st?.size ?? "none"}`;
    };
    const segmented: Subject[] = [
      {
        name: "ferry client --segments 4",
        async measure(): Promise<Sample> {
          await fresh();
          return await timed("deno", [...client, "--segments", "4", bigUrl, out], bigCheck);
        },
      },
      {
        name: "aria2c -x4 -s4",
        unavailable: aria ? undefined : "aria2c not found",
        async measure(): Promise<Sample> {
          await fresh();
          return await timed(
            "aria2c",
            ["-q", "-x4", "-s4", "--file-allocation=none", "-d", out, "-o", "big.bin", bigUrl],
            bigCheck,
          );
        },
      },
      {
        name: "ferry client (1 connection)",
        async measure(): Promise<Sample> {
          await fresh();
          return await timed("deno", [...client, bigUrl, out], bigCheck);
        },
      },
    ];
    const mirrorRows = await interleave("mirror", mirror, o.rounds);
    // One connection at 20 MB/s takes ~13 s a run: one round is enough to give the ratio.
    const segRows = await interleave("segments", segmented, o.quick ? 1 : Math.min(2, o.rounds));
    const med = (name: string) => median(segRows.find((r) => r.name === name)?.samples ?? []);
    const ratio = med("ferry client (1 connection)") / med("ferry client --segments 4");
    const vsAria = med("aria2c -x4 -s4") / med("ferry client --segments 4");
    return [
      {
        id: "many-mirror",
        title: `Mirror ${MIRROR_FILES} × 4 KiB files (10 folders) from nginx autoindex`,
        unit: "s",
        better: "lower",
        digits: 2,
        reference: mirror[0].name,
        rows: mirrorRows,
        notes: ["Wall time from spawn to exit, Deno's start-up (~50 ms) included."],
      },
      {
        id: "many-segments",
        title: "256 MiB from nginx with limit_rate 20m per connection",
        unit: "s",
        better: "lower",
        digits: 2,
        reference: segmented[0].name,
        rows: segRows,
        notes: [
          `one connection ÷ --segments 4 = ${ratio.toFixed(2)}× ; aria2c ÷ ferry = ${
            vsAria.toFixed(2)
          }`,
        ],
      },
    ];
  } finally {
    await stop(nginx);
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
