import { defineConfig } from 'vitest/config';

/**
 * Two projects: every suite on the default LMDB log, and the core suites (runtime, domain, projections)
 * again on the in-memory log (`EVENTIDE_TEST_LOG=memory`, read by test/support/runtimes.ts), so the
 * runtime is proven on both adapters of the log port. Left out of the memory run: suites about what only
 * a disk or a thread has (kill -9, damaged files, the data-dir lock, reopening a data dir, a worker thread
 * that dies); single tests of that kind inside other suites are marked `it.runIf(ON_DISK)`.
 */
const MEMORY_SUITES = ['test/runtime/**/*.test.ts', 'test/domain/**/*.test.ts', 'test/projections/**/*.test.ts'];
const DISK_ONLY = [
  'test/runtime/durability.e2e.test.ts',
  'test/runtime/corruption.int.test.ts',
  'test/runtime/partition-resume.e2e.test.ts',
  'test/runtime/supervision.int.test.ts',
  'test/runtime/pages.int.test.ts',
  'test/projections/views-crash.e2e.test.ts',
  'test/projections/reconcile.int.test.ts',
  // A full disk (tmpfs) and a Scavenger over an LMDB log: they open LMDB themselves.
  'test/runtime/disk-full-pipelined.e2e.test.ts',
  'test/runtime/scavenge-disk-full.e2e.test.ts',
  'test/runtime/scavenge-unrecorded.int.test.ts',
];

export default defineConfig({
  test: {
    // Forks, not threads: tests spawn worker threads and child processes and open LMDB environments;
    // a process per test file keeps each file's native handles apart.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // expect.poll waits for something to happen (a page update, a catch-up); on a loaded 2-core CI box
    // that can take seconds. A wait, not a speed assertion: the default 1 s made slow machines fail.
    expect: { poll: { timeout: 20_000, interval: 50 } },
    projects: [
      { extends: true, test: { name: 'lmdb', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'memory', include: MEMORY_SUITES, exclude: DISK_ONLY, env: { EVENTIDE_TEST_LOG: 'memory' } } },
    ],
  },
});
