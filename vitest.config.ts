import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
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
  },
});
