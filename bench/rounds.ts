/**
 * Interleaved rounds: round 1 measures every subject once, round 2 every subject again, and so
 * on, so that a slow minute of a shared machine hits every subject alike. The starting subject
 * rotates per round, so that none is always the first one after a pause.
 *
 * @module
 */

import type { Row } from "./stats.ts";
import { isRunning, type StartedServer } from "./servers.ts";

/** What one measurement gave: a value, and/or a remark (an error, a skip). */
export interface Sample {
  value?: number;
  note?: string;
}

/** Something to measure once per round. */
export interface Subject {
  name: string;
  /** Set when it cannot be measured at all. */
  unavailable?: string;
  /** Why it can no longer be measured (its server exited), checked before every round. */
  gone?: () => string | undefined;
  measure(round: number): Promise<Sample>;
}

const T0 = performance.now();

/** A progress line on stderr (tables go to stdout). */
export function progress(msg: string): void {
  console.error(`[${((performance.now() - T0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
}

/** Runs `rounds` interleaved rounds over `subjects` and collects one {@linkcode Row} each. */
export async function interleave(
  label: string,
  subjects: Subject[],
  rounds: number,
): Promise<Row[]> {
  const rows = new Map<Subject, Row>(
    subjects.map((s) => [s, { name: s.name, samples: [], unavailable: s.unavailable, notes: [] }]),
  );
  const live = subjects.filter((s) => !s.unavailable);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < live.length; i++) {
      const s = live[(i + r) % live.length];
      const row = rows.get(s)!;
      let sample: Sample;
      const goneBefore = s.gone?.();
      try {
        sample = goneBefore ? { note: goneBefore } : await s.measure(r);
      } catch (e) {
        sample = { note: `error: ${(e as Error).message}` };
      }
      const goneAfter = sample.value === undefined ? s.gone?.() : undefined;
      if (goneAfter) sample = { note: goneAfter }; // the cause, rather than its symptom
      if (sample.value !== undefined && Number.isFinite(sample.value)) {
        row.samples.push(sample.value);
      }
      if (sample.note && !row.notes.includes(sample.note)) row.notes.push(sample.note);
      const shown = sample.value === undefined ? "—" : sample.value.toFixed(3);
      progress(
        `  [${label}] round ${r + 1}/${rounds} ${s.name}: ${shown}${
          sample.note ? ` (${sample.note})` : ""
        }`,
      );
    }
  }
  for (const row of rows.values()) {
    if (!row.unavailable && row.samples.length === 0) {
      row.unavailable = row.notes.shift() ?? "no sample";
    }
  }
  return [...rows.values()];
}

/** The reason a server cannot be measured, or undefined when it is running. */
export function unavailable(s: StartedServer): string | undefined {
  return isRunning(s) ? s.exitReason() : s.unavailable;
}

/** A {@linkcode Subject.gone} for a server: its exit reason once it has exited. */
export function goneOf(s: StartedServer): () => string | undefined {
  return () => (isRunning(s) ? s.exitReason() : undefined);
}
