/**
 * Persisted snapshots (DESIGN invariant 4): written each time a stream crosses a multiple of
 * `snapshotEvery`, carrying the decider's snapshot version; a snapshot of another version is ignored
 * (the state is the full fold), and the time machine starts from the nearest snapshot at or below.
 */
import { describe, expect, it } from 'vitest';
import { builtinDomains, type AccountState, type EventEnvelope, type Runtime } from '../../src/index.js';
import { accountV2Decider, accountV2Domain, type AccountStateV2 } from '../support/account-v2-domain.js';
import { crashyDomain } from '../support/crashy-domain.js';
import { foldAccount, fullHistory } from '../support/log-checks.js';
import { useRuntimes, useSharedRuntime, ON_DISK } from '../support/runtimes.js';

const videoDomain = builtinDomains[1]!;

function foldV2(events: readonly EventEnvelope[]): AccountStateV2 {
  return events.reduce<AccountStateV2>((s, e) => accountV2Decider.evolve(s, e as never), accountV2Decider.initialState());
}

async function openWithDeposits(rt: Runtime, id: string, deposits: number): Promise<void> {
  await rt.execute('account', id, { type: 'Open', data: { owner: 'ann' } });
  for (let i = 1; i <= deposits; i++) await rt.execute('account', id, { type: 'Deposit', data: { amount: i } });
}

describe('snapshots', () => {
  const runtimes = useRuntimes('snapshots');
  // Tests on fresh ids with snapshotEvery 3 share one runtime; the others start their own.
  const shared = useSharedRuntime({ workers: 1, snapshotEvery: 3, domains: [...builtinDomains, crashyDomain] }, 'snapshots');

  it('persists one snapshot each time a stream crosses a multiple of snapshotEvery, equal to the fold of that prefix', async () => {
    const rt = shared();
    await openWithDeposits(rt, 'acct', 9);
    const history = await fullHistory(rt, 'account', 'acct');
    for (const v of [3, 6, 9]) {
      const snap = rt.log.snapshotAtOrBelow<AccountState>('account', 'acct', v);
      expect(snap).toMatchObject({ version: v, snapshotVersion: 1, state: foldAccount(history.slice(0, v)) });
    }
    expect(rt.log.snapshotAtOrBelow('account', 'acct', 2)).toBeUndefined();
    // A command whose events go from version 2 to 7 crosses 3 and 6: a snapshot at each exact multiple,
    // taken mid-fold, so snapshot versions never depend on how events were grouped into commands.
    await rt.execute('crashy', 'jump', { type: 'Ok', data: { n: 2 } });
    await rt.execute('crashy', 'jump', { type: 'Ok', data: { n: 5 } });
    expect(rt.log.snapshotAtOrBelow('crashy', 'jump')).toMatchObject({ version: 6, state: { happened: 6 } });
    expect(rt.log.snapshotAtOrBelow('crashy', 'jump', 5)).toMatchObject({ version: 3, state: { happened: 3 } });
    expect(rt.log.snapshotVersions('crashy', 'jump')).toEqual([6, 3]);
  });

  it('persists no snapshot when snapshotEvery is 0', async () => {
    const rt = await runtimes.start({ workers: 1, snapshotEvery: 0 });
    await openWithDeposits(rt, 'never-snap', 5);
    expect(rt.log.snapshotAtOrBelow('account', 'never-snap')).toBeUndefined();
    expect((await rt.load<AccountState>('account', 'never-snap')).state.balance).toBe(15);
  });

  it('starts the time machine from the nearest snapshot, folding fewer than snapshotEvery events', async () => {
    const rt = shared();
    await openWithDeposits(rt, 'tm', 11);
    const history = await fullHistory(rt, 'account', 'tm');
    for (const v of [1, 4, 7, 11, 12]) {
      const before = rt.counters.timeMachineFolded;
      expect((await rt.load('account', 'tm', { version: v })).state).toEqual(foldAccount(history.slice(0, v)));
      expect(rt.counters.timeMachineFolded - before).toBeLessThan(3);
    }
  });

  it.runIf(ON_DISK)('ignores a snapshot written by another snapshot version: the state is the full fold, and a fresh snapshot replaces it', async () => {
    const dataDir = await runtimes.dataDir();
    const v1 = await runtimes.start({ dataDir, workers: 1, snapshotEvery: 3 });
    await openWithDeposits(v1, 'legacy', 7);
    expect(v1.log.snapshotAtOrBelow('account', 'legacy')).toMatchObject({ version: 6, snapshotVersion: 1 });
    await runtimes.close(v1);

    // The decider's state changed shape (snapshotVersion 2 counts its events): v1 snapshots lack the field.
    const v2 = await runtimes.start({ dataDir, workers: 1, snapshotEvery: 3, domains: [accountV2Domain, videoDomain] });
    const history = await fullHistory(v2, 'account', 'legacy');
    expect(history).toHaveLength(8);
    expect((await v2.load('account', 'legacy')).state).toEqual(foldV2(history));
    expect((await v2.load('account', 'legacy')).state).toMatchObject({ balance: 28, events: 8 });
    for (const v of [3, 4, 6, 7]) expect((await v2.load('account', 'legacy', { version: v })).state).toEqual(foldV2(history.slice(0, v)));

    // New commands decide on the right state, and the snapshots written from now on carry version 2.
    const next = await v2.execute<AccountStateV2>('account', 'legacy', { type: 'Withdraw', data: { amount: 28 } });
    expect(next.state).toMatchObject({ balance: 0, events: 9 });
    const fresh = v2.log.snapshotAtOrBelow<AccountStateV2>('account', 'legacy');
    expect(fresh?.snapshotVersion).toBe(2);
    expect(fresh?.state).toEqual(foldV2(v2.log.readStream('account', 'legacy', 1, fresh?.version)));
    await runtimes.close(v2);

    // And back: the original decider ignores the version-2 snapshots just the same.
    const again = await runtimes.start({ dataDir, workers: 1, snapshotEvery: 3 });
    expect((await again.load('account', 'legacy')).state).toEqual(foldAccount(await fullHistory(again, 'account', 'legacy')));
    expect((await again.load('account', 'legacy')).state).toEqual({ owner: 'ann', balance: 0, open: true });
  });
});
