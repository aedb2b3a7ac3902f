/**
 * Helpers for the projection suites: wait until a view has caught up with the log, read every row of a
 * view through its paged list, the truth of a view as a fresh fold of the log, and the views CLI.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Runtime } from '../../src/index.js';
import { foldPartitions, type AnyProjection, type ViewRow, type Views } from '../../src/projections/index.js';

const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/** A generous bound for waits that only fail when something is broken (never a timing assertion). */
export const CATCH_UP_TIMEOUT_MS = 60_000;

/**
 * Lets this thread's raw LMDB reads (runtime.log.*, used by the checks themselves) see every commit made
 * so far. lmdb-js keeps a thread's read snapshot until a `setTimeout(0)` renews it; the runtime's own
 * read APIs refresh it themselves (LmdbLog.refreshReads), raw reads in a test wait past that timer.
 */
export async function freshReads(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 2));
}

/**
 * Resolves once `view` has applied every event the runtime has acknowledged so far: for each partition
 * with events, waits for its last offset (read-your-writes token `{partition, offset: head - 1}`).
 */
export async function waitCaughtUp(runtime: Runtime, views: Views, view: string): Promise<void> {
  await Promise.all(
    runtime
      .partitions()
      .filter((p) => p.offset > 0)
      .map((p) => views.waitFor(view, { partition: p.partition, offset: p.offset - 1 }, CATCH_UP_TIMEOUT_MS)),
  );
  expect(views.lag(view).map((l) => l.lag)).toEqual(runtime.partitions().map(() => 0));
  await freshReads();
}

/** Every row of a view, by walking its paged list; fails if a page repeats or skips order. */
export function listAll<R = unknown>(views: Views, view: string, limit = 1000): ViewRow<R>[] {
  const out: ViewRow<R>[] = [];
  let after: string | undefined;
  for (;;) {
    const page = views.list<R>(view, { limit, ...(after !== undefined ? { after } : {}) });
    out.push(...page.rows);
    if (page.next === undefined) return out;
    expect(page.rows.length).toBe(limit);
    after = page.next;
  }
}

/** Rows of a view as a plain object, id -> row. */
export function rowsById<R>(rows: readonly ViewRow<R>[]): Record<string, R> {
  return Object.fromEntries(rows.map((r) => [r.id, r.row]));
}

/** The truth: a fresh fold of every partition of the log, up to the partition heads the runtime knows. */
export function truthOf(runtime: Runtime, projection: AnyProjection): Record<string, unknown> {
  const parts = runtime.partitions();
  const rows = foldPartitions(
    runtime.log,
    projection,
    parts.map((p) => p.partition),
    (p) => parts[p]!.offset,
  );
  return Object.fromEntries(rows);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node --import tsx scripts/views.ts ...args` and collects its output (never rejects). */
export function runViewsCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/views.ts', ...args], { cwd: projectRoot, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
