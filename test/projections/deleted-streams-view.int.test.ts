/**
 * Read models and stream deletion (docs/data-lifecycle.md): the `balances` view asks for the runtime's
 * `$` events (`streamLifecycle`): a soft-deleted account keeps its row marked `deleted`, an undelete
 * clears the mark, a re-creation starts the row again, a tombstone removes it. The rows still equal a
 * fold of the log and a rebuild (DESIGN invariant 5). A view that does not ask never sees them.
 */
import { describe, expect, it } from 'vitest';
import { balancesView, type BalanceRow } from '../../src/projections/index.js';
import { applyEvent } from '../../src/projections/types.js';
import { useSharedRuntime } from '../support/projections-runtime.js';
import { freshReads, listAll, rowsById, truthOf, waitCaughtUp } from '../support/projections-views.js';
import type { EventEnvelope } from '../../src/index.js';

describe('views and deleted streams', () => {
  const shared = useSharedRuntime('deleted-views', { durability: 'commit' });

  it('balances marks soft-deleted rows, starts re-created ones again, drops tombstoned ones; rows equal a fold and a rebuild', async () => {
    const { runtime, views } = shared();
    for (const id of ['v-soft', 'v-back', 'v-again', 'v-hard']) {
      await runtime.execute('account', id, { type: 'Open', data: { owner: id } });
      await runtime.execute('account', id, { type: 'Deposit', data: { amount: 7 } });
      await runtime.deleteStream('account', id);
    }
    await runtime.undeleteStream('account', 'v-back');
    await runtime.execute('account', 'v-again', { type: 'Open', data: { owner: 'new' } });
    await runtime.deleteStream('account', 'v-hard', { hard: true });
    await waitCaughtUp(runtime, views, 'balances');

    const live = rowsById(listAll<BalanceRow>(views, 'balances'));
    expect(live['v-soft']).toMatchObject({ owner: 'v-soft', balance: 7, deleted: true, version: 3 });
    expect(live['v-back']).toEqual(expect.objectContaining({ owner: 'v-back', balance: 7, version: 4 }));
    expect(live['v-back']?.deleted).toBeUndefined();
    expect(live['v-again']).toMatchObject({ owner: 'new', balance: 0, open: true, version: 4 });
    expect(live['v-again']?.deleted).toBeUndefined();
    expect(live['v-hard']).toBeUndefined();
    expect(live).toEqual(truthOf(runtime, balancesView));

    expect(await views.rebuild('balances')).toMatchObject({ state: 'swapped' });
    await freshReads();
    expect(rowsById(listAll<BalanceRow>(views, 'balances'))).toEqual(live);
    expect(await views.reconcile('balances')).toMatchObject({ drift: 0, mismatches: [] });
  });

  it('a view that does not ask for stream lifecycle events never gets them', () => {
    const seen: string[] = [];
    const view = { name: 'types', aggregateTypes: ['account'], apply: (_row: unknown, e: EventEnvelope) => (seen.push(e.type), 1) };
    const event = (type: string): EventEnvelope => ({ aggregateType: 'account', stream: 'x', type, seq: 1, data: {}, ts: 0, partition: 0, offset: 0, meta: {} });
    for (const type of ['AccountOpened', '$StreamDeleted', '$StreamUndeleted', '$StreamTombstoned']) applyEvent(view, undefined, event(type));
    expect(seen).toEqual(['AccountOpened']);
  });
});
