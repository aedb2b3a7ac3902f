/**
 * One runtime shared by every test of a file (started before the first, closed and its data dir removed
 * after the last): starting worker threads from sources costs seconds, and the time-machine and view
 * suites use fresh stream ids per test, so they need no fresh log per test.
 */
import { afterAll, beforeAll } from 'vitest';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/index.js';
import { Views } from '../../src/projections/index.js';
import { makeTempDir, removeDir } from './temp-dirs.js';
import { TEST_DEFAULTS } from './runtimes.js';

export interface SharedRuntime {
  readonly runtime: Runtime;
  readonly views: Views;
}

export function useSharedRuntime(label: string, options: Partial<RuntimeOptions> = {}): () => SharedRuntime {
  let dir: string | undefined;
  let shared: SharedRuntime | undefined;
  beforeAll(async () => {
    dir = await makeTempDir(label);
    const runtime = await createRuntime({ ...TEST_DEFAULTS, ...options, dataDir: dir });
    shared = { runtime, views: await Views.open(runtime) };
  });
  afterAll(async () => {
    await shared?.runtime.close();
    if (dir) await removeDir(dir);
  });
  return () => {
    if (!shared) throw new Error('the shared runtime is not started (used outside a test?)');
    return shared;
  };
}
