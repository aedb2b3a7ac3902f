/**
 * Runtimes with read models for the projection suites. `useSharedRuntime`: one runtime and its views,
 * shared by every test of a file (started before the first, closed and its data dir removed after the
 * last): starting worker threads from sources costs seconds, and the time-machine and view suites use
 * fresh stream ids per test, so they need no fresh log per test. `withViews`: the runtime options that
 * run the projection engine, for suites that start their own runtimes (`useRuntimes(label, withViews())`).
 */
import { afterAll, beforeAll } from 'vitest';
import { builtinViews, createEventide, projectionEngine, type DomainModule, type Eventide, type EventideOptions, type Runtime, type WorkerPluginSpec } from '../../src/index.js';
import type { Views } from '../../src/projections/index.js';
import { makeTempDir, removeDir } from './temp-dirs.js';
import { TEST_DEFAULTS, TEST_LOG } from './runtimes.js';

export interface SharedRuntime {
  readonly runtime: Runtime;
  readonly views: Views;
}

/** Runtime options that run the projection engine with `views` (default: the built-in ones), as `createEventide` does. */
export function withViews(views: readonly DomainModule[] = builtinViews): { workerPlugins: WorkerPluginSpec[] } {
  return { workerPlugins: [projectionEngine(views)] };
}

export function useSharedRuntime(label: string, options: Partial<EventideOptions> = {}): () => SharedRuntime {
  let dir: string | undefined;
  let shared: Eventide | undefined;
  beforeAll(async () => {
    dir = await makeTempDir(label);
    shared = await createEventide({ ...TEST_DEFAULTS, ...options, dataDir: dir, ...TEST_LOG });
  });
  afterAll(async () => {
    await shared?.close();
    if (dir) await removeDir(dir);
  });
  return () => {
    if (!shared) throw new Error('the shared runtime is not started (used outside a test?)');
    return shared;
  };
}
