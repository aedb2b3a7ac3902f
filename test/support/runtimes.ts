/**
 * A runtime factory for tests: each runtime gets its own temp data dir (or a given one), small defaults
 * (4 partitions, 2 workers) and is closed, with its dir removed, after the test even when it fails.
 * A runtime alone runs no read model: suites that need views pass `withViews()` (projections-runtime.ts).
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/index.js';
import { makeTempDir, removeDir } from './temp-dirs.js';

/** Runtime options for tests; `partitions: undefined` means "whatever the existing data dir says". */
export type TestRuntimeOptions = Omit<Partial<RuntimeOptions>, 'partitions'> & { partitions?: number | undefined };

function withDefaults(options: TestRuntimeOptions, dataDir: string): RuntimeOptions {
  const { partitions, ...rest } = { ...TEST_DEFAULTS, ...options };
  return { ...rest, dataDir, ...(partitions !== undefined ? { partitions } : {}), ...TEST_LOG };
}

/**
 * The log the core suites run on: LMDB by default; `EVENTIDE_TEST_LOG=memory` runs them again on the
 * in-memory adapter (the `memory` project in vitest.config.ts), so the runtime is proven on both.
 */
export const TEST_LOG: Pick<RuntimeOptions, 'log'> = process.env.EVENTIDE_TEST_LOG === 'memory' ? { log: 'memory' } : {};

/** False on the memory log: for tests of what only a disk has (restarts on a data dir, raw LMDB reads, the lock). */
export const ON_DISK = TEST_LOG.log !== 'memory';

export const TEST_DEFAULTS = { partitions: 4, workers: 2 } as const satisfies Partial<RuntimeOptions>;

export interface RuntimeFixture {
  /** A fresh data dir, removed after the test. */
  dataDir(): Promise<string>;
  /** Starts a runtime (on a fresh data dir unless `dataDir` is given); closed after the test. */
  start(options?: TestRuntimeOptions): Promise<Runtime>;
  /** Closes a runtime now (idempotent); its data dir stays until the test ends. */
  close(runtime: Runtime): Promise<void>;
}

/** `base`: options every `start` of this fixture gets (a start's own options win). */
export function useRuntimes(label = 'rt', base: TestRuntimeOptions = {}): RuntimeFixture {
  const dirs: string[] = [];
  const open = new Set<Runtime>();
  afterEach(async () => {
    await Promise.allSettled([...open].map((r) => r.close()));
    open.clear();
    await Promise.all(dirs.splice(0).map(removeDir));
  });
  const fixture: RuntimeFixture = {
    async dataDir() {
      const dir = await makeTempDir(label);
      dirs.push(dir);
      return dir;
    },
    async start(options = {}) {
      const dataDir = options.dataDir ?? (await fixture.dataDir());
      const runtime = await createRuntime(withDefaults({ ...base, ...options }, dataDir));
      open.add(runtime);
      return runtime;
    },
    async close(runtime) {
      open.delete(runtime);
      await runtime.close();
    },
  };
  return fixture;
}

/**
 * One runtime shared by every test of a describe block (for tables of rejections, which write nothing):
 * started before the first test, closed and its data dir removed after the last.
 */
export function useSharedRuntime(options: TestRuntimeOptions = {}, label = 'shared'): () => Runtime {
  let runtime: Runtime | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    dir = options.dataDir ?? (await makeTempDir(label));
    runtime = await createRuntime(withDefaults(options, dir));
  });
  afterAll(async () => {
    await runtime?.close();
    if (dir && !options.dataDir) await removeDir(dir);
  });
  return () => {
    if (!runtime) throw new Error('the shared runtime is not started yet');
    return runtime;
  };
}
