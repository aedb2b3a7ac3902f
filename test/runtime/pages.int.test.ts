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

describe('a wave of event pages', () => {
  const runtimes = useRuntimes('page-wave');

  it('is spread over the drains after it (at most twice their events\' share of pages, at least one), and every page is written by close', async () => {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, workers: 1, trace: true });
    // Streams written at the same pace cross a page boundary together: 200 accounts, round-robin.
    const ids = Array.from({ length: 200 }, (_, i) => `wave-${i}`);
    await Promise.all(ids.map((id) => rt.execute('account', id, { type: 'Open', data: { owner: 'o' } })));
    for (let round = 2; round <= EVENT_PAGE; round++) await Promise.all(ids.map((id) => rt.execute('account', id, { type: 'Deposit', data: { amount: 1 } })));
    const waveAt = Date.now();
    // One command per drain from here: each may carry one page of the wave, never hundreds.
    for (let i = 0; i < 60; i++) await rt.execute('account', 'other', { type: i === 0 ? 'Open' : 'Deposit', data: i === 0 ? { owner: 'o' } : { amount: 1 } });
    const { spans } = await rt.traceSpans(waveAt - 1);
    const worker = spans.filter((s) => s.thread === 'worker-0' && (s.kind === 'drain' || s.kind === 'pages'));
    let carried = 0;
    let drainSize = 0;
    for (const s of worker) {
      if (s.kind === 'drain') drainSize = s.count;
      else {
        expect(s.count).toBeLessThanOrEqual(Math.max(1, Math.ceil((2 * drainSize) / EVENT_PAGE)));
        carried += s.count;
      }
    }
    // Pages of the wave did go out with the small drains (the wave was not left for close)...
    expect(carried).toBeGreaterThan(0);
    expect(carried).toBeLessThan(ids.length);
    await runtimes.close(rt); // ...and close writes the rest
    const again = await runtimes.start({ dataDir, workers: 1 });
    for (const id of ids) expect(hydrate(again.log, noSnapshots, 'account', id)).toMatchObject({ version: EVENT_PAGE, paged: EVENT_PAGE, state: { balance: EVENT_PAGE - 1 } });
  });
});
