/**
 * Workload 6: stalled readers. `bench/idle_holder.ts` opens N connections that each ask for a
 * large file and then read nothing; the figure is the server's RSS growth per such connection
 * (beyond a warm-up set of them), on a fresh server process per sample. Socket buffers are the
 * kernel's and not in the figure: what is measured is what the server itself pins for a client
 * that does not read.
 *
 * @module
 */

import type { Table } from "./stats.ts";
import type { ServerSpec, StartedServer } from "./servers.ts";
import { type Extra, freshHold } from "./idle.ts";
import { goneOf, interleave, type Subject, unavailable } from "./rounds.ts";

/** Options of {@linkcode stalled}. */
export interface StalledOptions {
  count: number;
  rounds: number;
  nofile: number;
  repo: string;
  /** The large file each connection asks for (and never reads). */
  path: string;
  fresh: (spec: ServerSpec) => Promise<StartedServer>;
}

/** Workload 6: server memory per stalled reader (see the module doc). */
export async function stalled(servers: StartedServer[], o: StalledOptions): Promise<Table[]> {
  const subjects: Subject[] = servers.map((s) => {
    const extra: Extra = { latency: [], rssMiB: [], notes: [] };
    return {
      name: s.spec.label,
      unavailable: unavailable(s),
      gone: goneOf(s),
      measure: () =>
        freshHold(s as never, o.count, extra, { ...o, stallPath: o.path, fresh: o.fresh }),
    };
  });
  const rows = await interleave(`stalled ${o.count}`, subjects, o.rounds);
  return [{
    better: "lower",
    reference: "ferry",
    id: "stalled-kib-per-conn",
    title: `${
      o.count.toLocaleString("en-US")
    } stalled readers (GET ${o.path}, nothing read): server memory per connection`,
    unit: "KiB/conn",
    digits: 1,
    rows,
    notes: [
      "(VmRSS while all are stalled − VmRSS with a warm-up set of min(1,000, N/10) stalled) ÷ the connections added, 0.5 s after the last request; a fresh server process per sample. The kernel's socket buffers are not in VmRSS.",
    ],
  }];
}
