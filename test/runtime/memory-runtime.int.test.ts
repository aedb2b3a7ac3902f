/**
 * `createRuntime({ log: 'memory' })`: the runtime on the in-memory adapter of the log port, with its actor
 * hosts on the main thread. The core suites run on it too (the `memory` project of vitest.config.ts);
 * this file holds what is particular to it: no data dir, nothing on disk, options checked.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createEventide, createRuntime } from '../../src/index.js';
import { rejectionOf } from '../support/errors.js';

describe('a runtime on the memory log', () => {
  it('needs no data dir, writes nothing to disk, and serves commands, loads, history and the time machine', async () => {
    const before = readdirSync(process.cwd()).sort();
    const runtime = await createRuntime({ log: 'memory', partitions: 4, workers: 2 });
    try {
      expect(runtime.dataDir).toBe('');
      await runtime.execute('account', 'm1', { type: 'Open', data: { owner: 'Ada' } });
      for (let i = 1; i <= 5; i++) await runtime.execute('account', 'm1', { type: 'Deposit', data: { amount: i } }, { commandId: `d${i}` });
      const again = await runtime.execute('account', 'm1', { type: 'Deposit', data: { amount: 3 } }, { commandId: 'd3' });
      expect(again.duplicate).toBe(true);
      expect((await runtime.load('account', 'm1')).state).toMatchObject({ balance: 15 });
      expect((await runtime.load('account', 'm1', { version: 3 })).state).toMatchObject({ balance: 3 });
      const history = await runtime.history('account', 'm1');
      expect(history.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(runtime.log.readPartition(history[0]!.partition).filter((e) => e.stream === 'm1').length).toBe(6);
    } finally {
      await runtime.close();
    }
    expect(readdirSync(process.cwd()).sort()).toEqual(before);
  });

  it('keeps nothing once closed: a new memory runtime starts empty', async () => {
    const first = await createRuntime({ log: 'memory', partitions: 2, workers: 1 });
    await first.execute('account', 'gone', { type: 'Open', data: { owner: 'x' } });
    await first.close();
    const second = await createRuntime({ log: 'memory', partitions: 2, workers: 1 });
    try {
      expect((await rejectionOf(second.load('account', 'gone'))).code).toBe('StreamNotFound');
    } finally {
      await second.close();
    }
  });

  it('runs the read models through createEventide', async () => {
    const { runtime, views, close } = await createEventide({ log: 'memory', partitions: 2, workers: 1 });
    try {
      await runtime.execute('account', 'v1', { type: 'Open', data: { owner: 'Lin' } });
      const r = await runtime.execute('account', 'v1', { type: 'Deposit', data: { amount: 40 } });
      const row = await views.get('balances', 'v1', { position: r.events[0]! });
      expect(row.row).toMatchObject({ owner: 'Lin', balance: 40 });
    } finally {
      await close();
    }
  });

  it('refuses an unknown log, and an LMDB runtime without a data dir, with InvalidOptions', async () => {
    expect((await rejectionOf(createRuntime({ log: 'disk' as never, dataDir: '/tmp/x' }))).code).toBe('InvalidOptions');
    const err = await rejectionOf(createRuntime({}));
    expect(err.code).toBe('InvalidOptions');
    expect(err.message).toContain('dataDir is required');
  });
});
