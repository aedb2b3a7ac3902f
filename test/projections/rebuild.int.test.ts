/**
 * A rebuild is private to the view being rebuilt: while a fresh generation of one view catches up from
 * offset 0 (in passes of at most a few thousand events) and commands keep arriving, every other view
 * still applies each event exactly once. The guard-less `event-counts` probe makes a re-applied event
 * visible (the built-in views would hide it behind their seq guard).
 */
import { describe, expect, it } from 'vitest';
import { builtinViews, type Runtime } from '../../src/index.js';
import { balancesView, Views } from '../../src/projections/index.js';
import { fakeClock } from '../support/fake-clock.js';
import { eventCountProjection, eventCountView, type EventCountRow } from '../support/projections-event-count-view.js';
import { listAll, rowsById, truthOf, waitCaughtUp } from '../support/projections-views.js';
import { withViews } from '../support/projections-runtime.js';
import { useRuntimes } from '../support/runtimes.js';

const ACCOUNTS = 50;

/** `perAccount` deposits to every account, all sent at once. */
async function depositRound(runtime: Runtime, round: number, perAccount = 1): Promise<void> {
  await Promise.all(
    Array.from({ length: ACCOUNTS * perAccount }, (_, k) => runtime.execute('account', `rb-${k % ACCOUNTS}`, { type: 'Deposit', data: { amount: 1 + ((k + round) % 9) } })),
  );
}

describe('rebuilding one view', () => {
  const runtimes = useRuntimes('rebuild', withViews());

  // Regression test (bug found and fixed): worker-projector.ts #pass reads at most BATCH events from the lowest checkpoint of all
  // targets behind in a partition, then sets EVERY such target's checkpoint to last + 1. A live view that
  // was ahead (e.g. at 3000 while the new generation is at 0) is moved back to 2000, and the next passes
  // apply events 2000..2999 to it a second time. Seq-guarded views hide it; guard-less ones double-count.
  it('never re-applies events to the other views while it catches up under load', async () => {
    // One partition, so the rebuild's catch-up and every other view share the same passes.
    const runtime = await runtimes.start({ partitions: 1, workers: 1, durability: 'commit', mailboxCapacity: 10_000, ...withViews([...builtinViews, eventCountView]) });
    const views = await Views.open(runtime);
    await Promise.all(Array.from({ length: ACCOUNTS }, (_, a) => runtime.execute('account', `rb-${a}`, { type: 'Open', data: { owner: `o${a}` } })));
    // More events than two catch-up passes read (2 x 2000), so the rebuild needs at least three passes.
    for (let round = 0; round < 30; round++) await depositRound(runtime, round, 4);
    expect(runtime.partitions()[0]!.offset).toBeGreaterThan(6000);
    await waitCaughtUp(runtime, views, 'event-counts');

    let rebuilding = true;
    const rebuilt = views.rebuild('balances').finally(() => (rebuilding = false));
    let rounds = 0;
    while (rebuilding) await depositRound(runtime, 1000 + rounds++);
    expect((await rebuilt).state).toBe('swapped');
    expect(rounds).toBeGreaterThan(0);

    await waitCaughtUp(runtime, views, 'event-counts');
    await waitCaughtUp(runtime, views, 'balances');
    const counts = rowsById(listAll<EventCountRow>(views, 'event-counts'));
    for (let a = 0; a < ACCOUNTS; a++) {
      const head = runtime.log.streamHead('account', `rb-${a}`).version;
      expect(counts[`rb-${a}`], `rb-${a}`).toEqual({ events: head, lastSeq: head });
    }
    expect(await views.reconcile('event-counts')).toMatchObject({ drift: 0 });
    expect(rowsById(listAll(views, 'event-counts'))).toEqual(truthOf(runtime, eventCountProjection));
    expect(rowsById(listAll(views, 'balances'))).toEqual(truthOf(runtime, balancesView));
  });

  it('refuses a second rebuild of the same view while one runs with RebuildRunning, and times both ends with the given clock', async () => {
    const runtime = await runtimes.start({ partitions: 2, workers: 1, durability: 'commit' });
    const clock = fakeClock(Date.UTC(2031, 4, 6, 7, 8, 9));
    const views = await Views.open(runtime, { clock });
    await Promise.all(Array.from({ length: 10 }, (_, a) => runtime.execute('account', `rc-${a}`, { type: 'Open', data: { owner: `o${a}` } })));
    const startedAt = clock.now();
    const running = views.rebuild('balances');
    // The first one is registered before its first await: a second call in the same turn always meets it.
    const second = await views.rebuild('balances').then(
      () => null,
      (err: { code?: string; details?: unknown }) => err,
    );
    expect(second).toMatchObject({ code: 'RebuildRunning', details: { view: 'balances', generation: views.rebuildStatus('balances').generation } });
    expect(views.rebuildStatus('balances')).toMatchObject({ state: 'building', startedAt });
    clock.advance(90_000);
    expect(await running).toMatchObject({ state: 'swapped', startedAt, finishedAt: startedAt + 90_000 });
    // Once it is over, the view can be rebuilt again.
    expect((await views.rebuild('balances')).state).toBe('swapped');
    await views.close();
  });

  it('stops a running rebuild when the views close, before the runtime closes its log (no write after close)', async () => {
    const runtime = await runtimes.start({ partitions: 2, workers: 1, durability: 'commit', mailboxCapacity: 10_000 });
    const views = await Views.open(runtime);
    await Promise.all(Array.from({ length: ACCOUNTS }, (_, a) => runtime.execute('account', `rb-${a}`, { type: 'Open', data: { owner: `o${a}` } })));
    for (let round = 0; round < 10; round++) await depositRound(runtime, round, 4);
    const running = views.rebuild('balances');
    const outcome = running.then(
      () => 'swapped',
      (err: { code?: string }) => err.code,
    );
    await views.close();
    // Either it finished first, or it stopped with RuntimeClosed; either way nothing runs any more.
    expect(['swapped', 'RuntimeClosed']).toContain(await outcome);
    await runtimes.close(runtime);
    await expect(views.rebuild('balances')).rejects.toMatchObject({ code: 'RuntimeClosed' });
  });
});
