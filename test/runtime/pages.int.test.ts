/**
 * Event pages (log/lmdb/pages.ts): the actor host writes a page of EVENT_PAGE events once they
 * are all durable, and hydration folds whole pages instead of reading the events one by one. Pages are
 * derived: hydrating with them gives exactly the state and version of the event-by-event fold.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_PAGE, accountDecider, hydrate, type AnyDecider } from '../../src/index.js';
import { useRuntimes } from '../support/runtimes.js';

// A snapshot version no stored snapshot has: hydration then folds the whole stream from the log.
const noSnapshots: AnyDecider = { ...accountDecider, snapshotVersion: -1 } as AnyDecider;

describe('event pages', () => {
  const runtimes = useRuntimes('pages');

  it('are written by the owning worker once durable, and hydration folds them to the same state', async () => {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, workers: 1 });
    const n = 3 * EVENT_PAGE + 9; // Open + deposits: three whole pages and a partial one
    await rt.execute('account', 'long', { type: 'Open', data: { owner: 'o' } });
    let expected = 0;
    for (let i = 1; i < n; i++) {
      // Mostly one command per drain, sometimes a burst: pages complete inside either.
      if (i % 50 === 0) {
        await Promise.all([1, 2, 3].map((a) => rt.execute('account', 'long', { type: 'Deposit', data: { amount: a } })));
        expected += 6;
        i += 2;
      } else {
        await rt.execute('account', 'long', { type: 'Deposit', data: { amount: i } });
        expected += i;
      }
    }
    const head = rt.log.streamHead('account', 'long').version;
    rt.log.refreshReads();
    const running = hydrate(rt.log, noSnapshots, 'account', 'long');
    expect(running).toMatchObject({ version: head, state: { balance: expected, open: true } });
    // The last whole page may still wait for a later drain; the earlier ones are written.
    expect(running.paged).toBeGreaterThanOrEqual(2 * EVENT_PAGE);

    await runtimes.close(rt); // writes the pages still waiting
    const again = await runtimes.start({ dataDir, workers: 1 });
    const cold = hydrate(again.log, noSnapshots, 'account', 'long');
    expect(cold).toMatchObject({ version: head, folded: head, state: { balance: expected, open: true } });
    expect(cold.paged).toBe(Math.floor(head / EVENT_PAGE) * EVENT_PAGE);
    // The time machine folds pages too, and agrees with the actor's live state at every page edge.
    for (const v of [EVENT_PAGE - 1, EVENT_PAGE, EVENT_PAGE + 1, 2 * EVENT_PAGE + 7, head]) {
      const viaPages = hydrate(again.log, noSnapshots, 'account', 'long', v);
      const loaded = await again.load('account', 'long', { version: v });
      expect(viaPages.state).toEqual(loaded.state);
      expect(viaPages.version).toBe(v);
    }
    expect((await again.load('account', 'long')).state).toEqual(cold.state);
  });
});
