/**
 * The live-actor bound (`maxLiveActors`): a worker keeps at most that many aggregates in memory once its
 * batches are answered, passivating the others (CLOCK: an aggregate used again since the last eviction
 * walk gets a second chance), and a passivated aggregate comes back from the log with the same state.
 */
import { describe, expect, it } from 'vitest';
import { useRuntimes } from '../support/runtimes.js';

describe('live actors', () => {
  const runtimes = useRuntimes('passivation');

  it('stay within maxLiveActors per worker, and passivated ones come back with their state', async () => {
    const rt = await runtimes.start({ workers: 1, maxLiveActors: 8 });
    const ids = Array.from({ length: 60 }, (_, i) => `acct-${i}`);
    await Promise.all(ids.map((id) => rt.execute('account', id, { type: 'Open', data: { owner: id } })));
    for (let round = 1; round <= 3; round++) {
      await Promise.all(ids.map((id) => rt.execute('account', id, { type: 'Deposit', data: { amount: round } })));
      // Sequential commands too: one drain each, so eviction runs between them.
      for (const id of ids.slice(0, 20)) await rt.execute('account', id, { type: 'Deposit', data: { amount: 100 } });
      const [stats] = await rt.stats();
      expect(stats!.liveActors).toBeLessThanOrEqual(8);
    }
    for (const [i, id] of ids.entries()) {
      const { state, version } = await rt.load<{ balance: number }>('account', id);
      expect({ id, balance: state.balance, version }).toEqual({ id, balance: 6 + (i < 20 ? 300 : 0), version: i < 20 ? 7 : 4 });
    }
  });

  it('stays bounded under one hot aggregate among many cold ones, and the hot one keeps its state', async () => {
    const rt = await runtimes.start({ workers: 1, maxLiveActors: 4 });
    await rt.execute('account', 'hot', { type: 'Open', data: { owner: 'h' } });
    for (let i = 0; i < 40; i++) {
      await rt.execute('account', `cold-${i}`, { type: 'Open', data: { owner: 'c' } });
      await rt.execute('account', 'hot', { type: 'Deposit', data: { amount: 1 } });
      await rt.execute('account', `cold-${i}`, { type: 'Deposit', data: { amount: 1 } });
    }
    const [stats] = await rt.stats();
    expect(stats!.liveActors).toBeLessThanOrEqual(4);
    expect((await rt.load<{ balance: number }>('account', 'hot')).state.balance).toBe(40);
  });
});
