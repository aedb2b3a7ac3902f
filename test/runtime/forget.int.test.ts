/**
 * `runtime.forget(subject)` (crypto-shredding) on both logs (LMDB, and memory in the `memory` project):
 * the forgotten account's owner reads as null through every runtime read, its balance and seqs stay, the
 * other account is untouched; the owning worker's live actor is dropped (the next command's state has
 * the owner null, not the plaintext it held); the audit record is announced to subscribers once; a
 * second call records nothing new.
 */
import { describe, expect, it } from 'vitest';
import type { AccountState, EventEnvelope } from '../../src/index.js';
import { useRuntimes } from '../support/runtimes.js';

describe('runtime.forget', () => {
  const runtimes = useRuntimes('forget');

  it('redacts the subject everywhere the runtime reads, drops the live actor, and records the forget once', async () => {
    const rt = await runtimes.start({ snapshotEvery: 2 });
    for (const [id, owner] of [['acc-a', 'Ada Quince'], ['acc-b', 'Bo Rook']] as const) {
      await rt.execute('account', id, { type: 'Open', data: { owner } });
      await rt.execute('account', id, { type: 'Deposit', data: { amount: 40 } });
      await rt.execute('account', id, { type: 'Deposit', data: { amount: 2 } });
    }
    const announced: EventEnvelope[] = [];
    rt.subscribe((events) => announced.push(...events));

    expect(await rt.forget('acc-a', { by: 'dpo' })).toMatchObject({ subject: 'acc-a', deleted: true, audit: { version: 1, duplicate: false } });
    expect((await rt.load<AccountState>('account', 'acc-a')).state).toEqual({ owner: null, balance: 42, open: true });
    expect((await rt.load<AccountState>('account', 'acc-a', { version: 2 })).state).toEqual({ owner: null, balance: 40, open: true });
    expect((await rt.history('account', 'acc-a')).map((e) => [e.seq, e.data])).toEqual([[1, { owner: null }], [2, { amount: 40 }], [3, { amount: 2 }]]);
    expect((await rt.diff<AccountState>('account', 'acc-a', { version: 0 }, { version: 3 })).to.state.owner).toBeNull();
    // The worker's live actor held 'Ada Quince': it was dropped, so the next command folds it redacted.
    expect((await rt.execute<AccountState>('account', 'acc-a', { type: 'Deposit', data: { amount: 1 } })).state).toEqual({ owner: null, balance: 43, open: true });
    expect((await rt.load<AccountState>('account', 'acc-b')).state).toEqual({ owner: 'Bo Rook', balance: 42, open: true });

    expect(announced.filter((e) => e.type === 'SubjectForgotten').map((e) => [e.aggregateType, e.stream, e.data])).toEqual([['$audit', 'lifecycle', { target: { subject: 'acc-a' }, by: 'dpo', details: {} }]]);
    expect(await rt.forget('acc-a', { by: 'someone else' })).toMatchObject({ deleted: false, audit: { version: 1, duplicate: true } });
    expect(rt.log.readStream('$audit', 'lifecycle')).toHaveLength(1);
  });

  it('refuses an id outside the id pattern, and new personal data of a forgotten subject', async () => {
    const rt = await runtimes.start();
    await expect(rt.forget('no spaces')).rejects.toMatchObject({ code: 'InvalidId' });
    await rt.forget('acc-new');
    await expect(rt.execute('account', 'acc-new', { type: 'Open', data: { owner: 'X' } })).rejects.toMatchObject({ code: 'InvalidCommand' });
  });
});
