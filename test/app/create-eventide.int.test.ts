/**
 * `createEventide`, the composition root for embedders: the runtime with the projection engine in its
 * workers and the views open on it. `createRuntime` alone knows no projection: it runs no engine, and
 * `Views.open` says how to get one instead of failing somewhere deeper.
 */
import { describe, expect, it } from 'vitest';
import { createEventide, createRuntime, PROJECTION_ENGINE_MODULE, type RuntimeOptions } from '../../src/index.js';
import { Views, type BalanceRow } from '../../src/projections/index.js';
import { rejectionOf } from '../support/errors.js';
import { useTempDirs } from '../support/temp-dirs.js';
import { TEST_DEFAULTS } from '../support/runtimes.js';

const tempDir = useTempDirs('eventide');

describe('createEventide', () => {
  it('returns the runtime with its views: a command is readable in the balances view at its position', async () => {
    const eventide = await createEventide({ ...TEST_DEFAULTS, dataDir: await tempDir() });
    try {
      expect(eventide.runtime.workerPlugins.map((p) => p.module)).toEqual([PROJECTION_ENGINE_MODULE]);
      expect(eventide.views.names()).toEqual(['balances', 'videos']);
      const { events } = await eventide.runtime.execute('account', 'acc-1', { type: 'Open', data: { owner: 'Ada' } });
      const { partition, offset } = events.at(-1)!;
      const { row } = await eventide.views.get<BalanceRow>('balances', 'acc-1', { position: { partition, offset } });
      expect(row).toMatchObject({ owner: 'Ada', balance: 0, open: true, version: 1 });
    } finally {
      await eventide.close();
    }
    // Closed: the views and then the runtime; closing again is a no-op.
    expect(eventide.runtime.health().reasons).toEqual([{ kind: 'closed', message: 'closed' }]);
    await eventide.close();
  });

  it('runs only the views it is given', async () => {
    const balances = new URL('../../src/projections/views/balances.ts', import.meta.url);
    const eventide = await createEventide({ ...TEST_DEFAULTS, dataDir: await tempDir(), views: [balances] });
    try {
      expect(eventide.views.names()).toEqual(['balances']);
    } finally {
      await eventide.close();
    }
  });

  it('refuses a view module that is no absolute path or file URL before it takes the data dir', async () => {
    const dataDir = await tempDir();
    expect((await rejectionOf(createEventide({ ...TEST_DEFAULTS, dataDir, views: ['views/mine.js'] }))).code).toBe('InvalidOptions');
    const eventide = await createEventide({ ...TEST_DEFAULTS, dataDir });
    await eventide.close();
  });
});

describe('createRuntime alone', () => {
  it('runs no projection engine, and Views.open says how to get one', async () => {
    const runtime = await createRuntime({ ...TEST_DEFAULTS, dataDir: await tempDir() });
    try {
      expect(runtime.workerPlugins).toEqual([]);
      const err = await rejectionOf(Views.open(runtime));
      expect(err.code).toBe('InvalidOptions');
      expect(err.message).toMatch(/createEventide/);
    } finally {
      await runtime.close();
    }
  });

  it('refuses the views option it no longer has, instead of running without read models', async () => {
    const options = { ...TEST_DEFAULTS, dataDir: await tempDir(), views: [] } as RuntimeOptions;
    const err = await rejectionOf(createRuntime(options));
    expect(err.code).toBe('InvalidOptions');
    expect(err.message).toMatch(/createEventide/);
  });
});
