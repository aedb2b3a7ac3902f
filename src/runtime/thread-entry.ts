/**
 * Where a worker entry lives. Built (dist/), entries are `.js` files started directly. Run from sources
 * (vitest, tsx), Node cannot start a `.ts` worker by itself, so the thread starts `workers/ts-bootstrap.mjs`,
 * which registers tsx and then imports the entry.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

const fromSources = import.meta.url.endsWith('.ts');

/** The file URL of `workers/<name>` (`.ts` from sources, `.js` when built). */
export function workerEntry(name: string): URL {
  return new URL(`../../workers/${name}${fromSources ? '.ts' : '.js'}`, import.meta.url);
}

export function spawnWorker(name: string, workerData: Record<string, unknown>, options: WorkerOptions = {}): Worker {
  const entry = workerEntry(name);
  if (!fromSources) return new Worker(entry, { ...options, workerData });
  return new Worker(new URL('../../workers/ts-bootstrap.mjs', import.meta.url), { ...options, workerData: { ...workerData, entry: entry.href } });
}

/** For pools (piscina) that take a file name: the module a task thread should load for `workers/<name>`. */
export function taskModule(name: string): { filename: string; workerData?: Record<string, unknown> } {
  const entry = workerEntry(name);
  if (!fromSources) return { filename: entry.href };
  return { filename: new URL('../../workers/ts-task-bootstrap.mjs', import.meta.url).href, workerData: { entry: entry.href } };
}
