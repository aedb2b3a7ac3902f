/**
 * Retention (docs/data-lifecycle.md): `maxAge`, `maxCount` and `truncateBefore`, per stream or per type,
 * make the events before a stream's cut unreadable at once (history, version/at loads, diff answer
 * `Gone` with the first readable version), while the current state still folds every event. Every
 * change is recorded once in the audit stream. Runs on LMDB and on the memory log (vitest projects).
 */
import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/index.js';
import { fakeClock, type FakeClock } from '../support/fake-clock.js';
import { rejectionOf } from '../support/errors.js';
import { useRuntimes } from '../support/runtimes.js';

/**
 * Opens account `id` and deposits 1, 2, ..., `deposits`: version = deposits + 1, balance = the sum. With
 * a fake clock, each command one second after the one before.
 */
async function account(runtime: Runtime, id: string, deposits: number, clock?: FakeClock): Promise<void> {
  await runtime.execute('account', id, { type: 'Open', data: { owner: 'Ada' } });
  for (let i = 1; i <= deposits; i++) {
    clock?.advance(1000);
    await runtime.execute('account', id, { type: 'Deposit', data: { amount: i } });
  }
}

const seqs = (events: { seq: number }[]): number[] => events.map((e) => e.seq);

async function auditKinds(runtime: Runtime): Promise<string[]> {
  return (await runtime.history('$audit', 'lifecycle').catch(() => [])).map((e) => e.type);
}

describe('retention', () => {
  const runtimes = useRuntimes('retention');

  it('truncateBefore hides the versions before it from history, the time machine and diff; the current state still counts them', async () => {
    const clock = fakeClock(Date.UTC(2032, 0, 1));
    const runtime = await runtimes.start({ clock });
    await account(runtime, 't1', 5, clock); // versions 1..6 a second apart, balance 15
    const set = await runtime.setRetention({ aggregateType: 'account', id: 't1' }, { truncateBefore: 4 }, { by: 'ops' });
    expect(set).toMatchObject({ changed: true, settings: { truncateBefore: 4 }, stream: { source: 'stream', head: 6, firstVersion: 4 } });

    // History without `from` starts at the cut; a `from` before it is Gone, naming the first readable version.
    expect(seqs(await runtime.history('account', 't1'))).toEqual([4, 5, 6]);
    expect(seqs(await runtime.history('account', 't1', { from: 5 }))).toEqual([5, 6]);
    const gone = await rejectionOf(runtime.history('account', 't1', { from: 2 }));
    expect(gone.code).toBe('Gone');
    expect(gone.details).toMatchObject({ firstVersion: 4, head: 6, type: 'account', id: 't1' });
    // The time machine: a version or a time before the cut is Gone; at or after it, as before.
    expect((await rejectionOf(runtime.load('account', 't1', { version: 3 }))).code).toBe('Gone');
    expect((await runtime.load('account', 't1', { version: 4 })).state).toMatchObject({ balance: 6 });
    const t0 = runtime.log.readEvent('account', 't1', 1)!.ts;
    expect((await rejectionOf(runtime.load('account', 't1', { at: t0 + 1500 }))).code).toBe('Gone');
    expect((await runtime.load('account', 't1', { at: t0 + 3000 })).version).toBe(4);
    // Diff: a start before the cut (or before the first event) is Gone too.
    expect((await rejectionOf(runtime.diff('account', 't1', { version: 0 }, {}))).code).toBe('Gone');
    expect((await rejectionOf(runtime.diff('account', 't1', { version: 2 }, {}))).code).toBe('Gone');
    const d = await runtime.diff('account', 't1', { version: 4 }, { version: 6 });
    expect(seqs(d.events)).toEqual([5, 6]);
    // The current state folds every event, as before.
    expect((await runtime.load('account', 't1')).state).toMatchObject({ balance: 15 });
    const next = await runtime.execute('account', 't1', { type: 'Deposit', data: { amount: 100 } });
    expect(next.version).toBe(7);
    expect(next.state).toMatchObject({ balance: 115 });
    // Other streams are not touched.
    await account(runtime, 't2', 1);
    expect(seqs(await runtime.history('account', 't2'))).toEqual([1, 2]);
  });

  it('maxCount keeps the newest events readable as the stream grows', async () => {
    const runtime = await runtimes.start();
    await account(runtime, 'c1', 2); // versions 1..3
    await runtime.setRetention({ aggregateType: 'account', id: 'c1' }, { maxCount: 2 });
    expect(seqs(await runtime.history('account', 'c1'))).toEqual([2, 3]);
    await runtime.execute('account', 'c1', { type: 'Deposit', data: { amount: 10 } });
    await runtime.execute('account', 'c1', { type: 'Deposit', data: { amount: 20 } });
    expect(seqs(await runtime.history('account', 'c1'))).toEqual([4, 5]);
    expect(runtime.retention({ aggregateType: 'account', id: 'c1' }).stream).toEqual({ effective: { maxCount: 2 }, source: 'stream', head: 5, firstVersion: 4 });
    expect((await rejectionOf(runtime.load('account', 'c1', { version: 3 }))).details).toMatchObject({ firstVersion: 4 });
    expect((await runtime.load('account', 'c1')).state).toMatchObject({ balance: 33 });
  });

  it('maxAge hides events older than the age by the runtime clock, and uncovers nothing when removed', async () => {
    const clock = fakeClock(Date.UTC(2032, 0, 1));
    const runtime = await runtimes.start({ clock });
    await runtime.execute('account', 'a1', { type: 'Open', data: { owner: 'Ada' } });
    clock.advance(60_000);
    await runtime.execute('account', 'a1', { type: 'Deposit', data: { amount: 1 } });
    clock.advance(60_000);
    await runtime.execute('account', 'a1', { type: 'Deposit', data: { amount: 2 } });
    await runtime.setRetention({ aggregateType: 'account', id: 'a1' }, { maxAge: 90_000 });
    // Now = t0 + 120 s: the Open (t0) is older than 90 s, the first deposit (t0 + 60 s) is not.
    expect(seqs(await runtime.history('account', 'a1'))).toEqual([2, 3]);
    clock.advance(30_001);
    expect(seqs(await runtime.history('account', 'a1'))).toEqual([3]);
    clock.advance(60_000);
    // Every event is older than the age: none is readable, the state still is.
    expect(await runtime.history('account', 'a1')).toEqual([]);
    expect((await rejectionOf(runtime.load('account', 'a1', { version: 3 }))).details).toMatchObject({ firstVersion: 4, head: 3 });
    expect((await runtime.load('account', 'a1')).state).toMatchObject({ balance: 3 });
    // Settings decide visibility only: removed, everything reads again (nothing was scavenged).
    await runtime.setRetention({ aggregateType: 'account', id: 'a1' }, null);
    expect(seqs(await runtime.history('account', 'a1'))).toEqual([1, 2, 3]);
  });

  it('a type-wide setting applies to each stream without its own; a stream record replaces it whole', async () => {
    const runtime = await runtimes.start();
    await account(runtime, 'x1', 3);
    await account(runtime, 'x2', 3);
    await runtime.setRetention({ aggregateType: 'account' }, { maxCount: 1 });
    expect(runtime.retention({ aggregateType: 'account' })).toEqual({ aggregateType: 'account', settings: { maxCount: 1 } });
    expect(seqs(await runtime.history('account', 'x1'))).toEqual([4]);
    expect(seqs(await runtime.history('account', 'x2'))).toEqual([4]);
    // `{}` on a stream: no limit there, whatever its type says.
    await runtime.setRetention({ aggregateType: 'account', id: 'x2' }, {});
    expect(seqs(await runtime.history('account', 'x2'))).toEqual([1, 2, 3, 4]);
    expect(runtime.retention({ aggregateType: 'account', id: 'x2' }).stream?.source).toBe('stream');
    await runtime.setRetention({ aggregateType: 'account', id: 'x2' }, null);
    expect(runtime.retention({ aggregateType: 'account', id: 'x2' }).stream).toMatchObject({ source: 'type', firstVersion: 4 });
  });

  it('records every change once in the audit stream, and nothing for a change to the same settings', async () => {
    const runtime = await runtimes.start();
    await account(runtime, 'r1', 1);
    const before = (await auditKinds(runtime)).length;
    await runtime.setRetention({ aggregateType: 'account', id: 'r1' }, { maxCount: 5 }, { by: 'ops' });
    const again = await runtime.setRetention({ aggregateType: 'account', id: 'r1' }, { maxCount: 5 }, { by: 'ops' });
    expect(again.changed).toBe(false);
    await runtime.setRetention({ aggregateType: 'account' }, { maxAge: 1000 }, { commandId: 'ret-1' });
    const records = (await runtime.history('$audit', 'lifecycle')).slice(before);
    expect(records.map((e) => e.type)).toEqual(['RetentionSet', 'RetentionSet']);
    expect(records[0]!.data).toEqual({ target: { aggregateType: 'account', id: 'r1' }, by: 'ops', details: { settings: { maxCount: 5 }, previous: null } });
    expect(records[1]!.meta.commandId).toBe('ret-1');
    // The same audit command id again (a retry after an unknown outcome, say): recorded once.
    await runtime.setRetention({ aggregateType: 'account' }, null, { commandId: 'ret-2' });
    await runtime.audit('RetentionSet', { target: { aggregateType: 'account' }, by: null, details: { settings: null, previous: { maxAge: 1000 } } }, { commandId: 'ret-2' });
    expect((await auditKinds(runtime)).length).toBe(before + 3);
  });

  it('refuses what it cannot mean: maxCount 0, a cut beyond the head, truncateBefore on a type, bad ids, system and unknown types', async () => {
    const runtime = await runtimes.start();
    await account(runtime, 'b1', 2); // version 3
    const cases: [Promise<unknown>, string][] = [
      [runtime.setRetention({ aggregateType: 'account', id: 'b1' }, { maxCount: 0 }), 'InvalidQuery'],
      [runtime.setRetention({ aggregateType: 'account', id: 'b1' }, { maxAge: -5 }), 'InvalidQuery'],
      [runtime.setRetention({ aggregateType: 'account', id: 'b1' }, { maxAge: 1.5 }), 'InvalidQuery'],
      [runtime.setRetention({ aggregateType: 'account', id: 'b1' }, { truncateBefore: 5 }), 'InvalidQuery'],
      [runtime.setRetention({ aggregateType: 'account', id: 'b1' }, { keep: 1 } as never), 'InvalidQuery'],
      [runtime.setRetention({ aggregateType: 'account' }, { truncateBefore: 2 }), 'InvalidQuery'],
      [runtime.setRetention({ aggregateType: 'account', id: 'no/slash' }, { maxCount: 1 }), 'InvalidId'],
      [runtime.setRetention({ aggregateType: 'account', id: '' }, { maxCount: 1 }), 'InvalidId'],
      [runtime.setRetention({ aggregateType: '$audit', id: 'lifecycle' }, { maxCount: 1 }), 'UnknownAggregateType'],
      [runtime.setRetention({ aggregateType: 'ledger' }, { maxCount: 1 }), 'UnknownAggregateType'],
    ];
    for (const [call, code] of cases) expect((await rejectionOf(call)).code).toBe(code);
    // The head + 1 is the furthest cut: every event so far hidden, the next one readable.
    await runtime.setRetention({ aggregateType: 'account', id: 'b1' }, { truncateBefore: 4 });
    expect(await runtime.history('account', 'b1')).toEqual([]);
    expect((await rejectionOf(runtime.setRetention({ aggregateType: 'account', id: 'b1' }, { truncateBefore: 5 }))).details).toMatchObject({ head: 3 });
    await runtime.execute('account', 'b1', { type: 'Deposit', data: { amount: 1 } });
    expect(seqs(await runtime.history('account', 'b1'))).toEqual([4]);
    expect(runtime.retention({ aggregateType: 'account', id: 'b1' }).settings).toEqual({ truncateBefore: 4 });
  });

  it('a retention change racing with commands loses none of them: the cut follows the head they reached', async () => {
    const runtime = await runtimes.start();
    await account(runtime, 'race', 0);
    const deposits = Array.from({ length: 40 }, (_, i) => runtime.execute('account', 'race', { type: 'Deposit', data: { amount: i + 1 } }));
    const set = runtime.setRetention({ aggregateType: 'account', id: 'race' }, { maxCount: 3 });
    await Promise.all([...deposits, set]);
    const history = await runtime.history('account', 'race');
    expect(seqs(history)).toEqual([39, 40, 41]);
    expect((await runtime.load('account', 'race')).state).toMatchObject({ balance: (40 * 41) / 2 });
  });
});
