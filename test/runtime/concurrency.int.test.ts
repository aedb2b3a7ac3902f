/**
 * DESIGN invariant 1 under load: one writer per aggregate, so hundreds of concurrent commands on one
 * aggregate or across many lose no update, seqs stay 1..n with no gap, and optimistic concurrency
 * (`expectedVersion`) lets exactly one of several racing writers win.
 */
import { describe, expect, it } from 'vitest';
import type { AccountState, ExecuteResult, Runtime } from '../../src/index.js';
import { outcomeOf } from '../support/errors.js';
import { expectContiguousPartitions, expectContiguousSeqs, foldAccount, fullHistory } from '../support/log-checks.js';
import { useSharedRuntime } from '../support/runtimes.js';

const open = (rt: Runtime, id: string) => rt.execute('account', id, { type: 'Open', data: { owner: id } });
const deposit = (rt: Runtime, id: string, amount: number, options = {}) => rt.execute<AccountState>('account', id, { type: 'Deposit', data: { amount } }, options);

describe('concurrency', () => {
  // One runtime for the file (each test uses its own account ids); closed and removed after the last test.
  const runtime = useSharedRuntime({}, 'concurrency');

  it('applies 800 concurrent deposits on one account, each exactly once, in seq order 1..n', async () => {
    const rt = runtime();
    await open(rt, 'hot');
    const amounts = Array.from({ length: 800 }, (_, i) => 1 + ((i * 37) % 101));
    const results = await Promise.all(amounts.map((a) => deposit(rt, 'hot', a)));
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(amounts.map((_, i) => i + 2));
    // Per-aggregate order is arrival order: the i-th call got version i + 2.
    expect(results.map((r) => r.version)).toEqual(amounts.map((_, i) => i + 2));
    const total = amounts.reduce((a, b) => a + b, 0);
    const history = await fullHistory(rt, 'account', 'hot');
    expectContiguousSeqs(history);
    expect(history.slice(1).map((e) => (e.data as { amount: number }).amount)).toEqual(amounts);
    expect(foldAccount(history).balance).toBe(total);
    expect((await rt.load<AccountState>('account', 'hot')).state.balance).toBe(total);
    expectContiguousPartitions(rt.log);
  });

  it('sheds what overflows the default 1024-command mailbox, and the balance is the sum of the acknowledged deposits', async () => {
    const rt = runtime();
    await open(rt, 'flooded');
    const settled = await Promise.allSettled(Array.from({ length: 1500 }, (_, i) => deposit(rt, 'flooded', 1 + (i % 7))));
    const outcomes = settled.map(outcomeOf);
    expect(new Set(outcomes)).toEqual(new Set(['ok', 'Overloaded']));
    const acked = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(acked.length).toBeLessThanOrEqual(1024);
    const ackedSum = acked.reduce((sum, r) => sum + (r.events[0]!.data as { amount: number }).amount, 0);
    const history = await fullHistory(rt, 'account', 'flooded');
    expectContiguousSeqs(history);
    expect(history).toHaveLength(acked.length + 1);
    expect((await rt.load<AccountState>('account', 'flooded')).state.balance).toBe(ackedSum);
  });

  it('keeps 150 accounts apart under 1500 interleaved concurrent deposits: no lost update anywhere', async () => {
    const rt = runtime();
    const ids = Array.from({ length: 150 }, (_, i) => `many-${i}`);
    await Promise.all(ids.map((id) => open(rt, id)));
    const calls: Array<{ id: string; amount: number }> = [];
    for (let round = 0; round < 10; round++) for (const [i, id] of ids.entries()) calls.push({ id, amount: 1 + ((round * 13 + i) % 50) });
    const results = await Promise.all(calls.map((c) => deposit(rt, c.id, c.amount)));
    expect(results).toHaveLength(1500);
    for (const id of ids) {
      const expected = calls.filter((c) => c.id === id).reduce((sum, c) => sum + c.amount, 0);
      const history = await fullHistory(rt, 'account', id);
      expectContiguousSeqs(history, id);
      expect(history).toHaveLength(11);
      expect(foldAccount(history).balance).toBe(expected);
      expect((await rt.load<AccountState>('account', id)).state.balance).toBe(expected);
    }
    const ours = expectContiguousPartitions(rt.log)
      .flat()
      .filter((e) => e.stream.startsWith('many-'));
    expect(ours).toHaveLength(150 * 11);
    // Each stream lives in exactly one partition.
    for (const id of ids) expect(new Set(ours.filter((e) => e.stream === id).map((e) => e.partition)).size).toBe(1);
  });

  it('decides 6 000 commands sent in one turn over 10 accounts in arrival order per account, each once', async () => {
    const rt = runtime();
    const ids = Array.from({ length: 10 }, (_, i) => `wide-${i}`);
    await Promise.all(ids.map((id) => open(rt, id)));
    const calls = Array.from({ length: 6_000 }, (_, i) => ({ id: ids[i % ids.length]!, amount: 1 + (i % 9) }));
    const results = await Promise.all(calls.map((c) => deposit(rt, c.id, c.amount)));
    for (const id of ids) {
      const mine = calls.flatMap((c, i) => (c.id === id ? [{ ...c, version: results[i]!.version }] : []));
      // Arrival order per aggregate: the k-th call for an account got version k + 2.
      expect(mine.map((c) => c.version)).toEqual(mine.map((_, k) => k + 2));
      const history = await fullHistory(rt, 'account', id);
      expectContiguousSeqs(history);
      expect(history.slice(1).map((e) => (e.data as { amount: number }).amount)).toEqual(mine.map((c) => c.amount));
    }
    expectContiguousPartitions(rt.log);
  });

  it('lets exactly one of 25 writers racing on the same expectedVersion win; the others get VersionConflict {expected, actual}', async () => {
    const rt = runtime();
    await open(rt, 'race');
    await deposit(rt, 'race', 10);
    const settled = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => deposit(rt, 'race', 100 + i, { expectedVersion: 2 })));
    const winners = settled.filter((r): r is PromiseFulfilledResult<ExecuteResult<AccountState>> => r.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    expect(winners[0]!.value.version).toBe(3);
    for (const r of settled) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'VersionConflict', details: { expected: 2, actual: 3 } });
    }
    const history = await fullHistory(rt, 'account', 'race');
    expect(history).toHaveLength(3);
    expect((await rt.load<AccountState>('account', 'race')).state.balance).toBe(10 + (winners[0]!.value.events[0]!.data as { amount: number }).amount);
  });

  it('lets a chain of writers that each read-then-write with expectedVersion all succeed in turn', async () => {
    const rt = runtime();
    await open(rt, 'chain');
    let version = 1;
    for (let i = 0; i < 20; i++) version = (await deposit(rt, 'chain', 1, { expectedVersion: version })).version;
    expect(version).toBe(21);
    expect((await rt.load<AccountState>('account', 'chain')).state.balance).toBe(20);
  });

  it('creates a new stream only once when several writers race with expectedVersion 0', async () => {
    const rt = runtime();
    const settled = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => rt.execute('account', 'born', { type: 'Open', data: { owner: `o${i}` } }, { expectedVersion: 0 })),
    );
    expect(settled.map(outcomeOf).filter((o) => o === 'ok')).toHaveLength(1);
    expect(settled.map(outcomeOf).filter((o) => o === 'VersionConflict')).toHaveLength(9);
    expect(await fullHistory(rt, 'account', 'born')).toHaveLength(1);
  });
});
