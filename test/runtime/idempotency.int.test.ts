/**
 * Idempotency: the same commandId on the same stream returns the first result (same version, same
 * events, `duplicate: true`) and writes nothing, whether the retry comes later, in the same batch, or
 * after a restart.
 */
import { describe, expect, it } from 'vitest';
import { builtinDomains, type AccountState, type Runtime } from '../../src/index.js';
import { crashyDomain } from '../support/crashy-domain.js';
import { partitionHeads } from '../support/log-checks.js';
import { useRuntimes, useSharedRuntime, ON_DISK } from '../support/runtimes.js';

const deposit = (amount: number) => ({ type: 'Deposit', data: { amount } });

async function opened(rt: Runtime, id: string): Promise<void> {
  await rt.execute('account', id, { type: 'Open', data: { owner: 'ann' } });
}

describe('idempotency', () => {
  // Tests that need no restart share one runtime (each uses its own ids); the restart test starts its own.
  const runtime = useSharedRuntime({}, 'idempotency');
  const runtimes = useRuntimes('idempotency');

  it('answers a sequential retry with the first result, marked duplicate, and writes nothing', async () => {
    const rt = runtime();
    await opened(rt, 'a');
    const first = await rt.execute<AccountState>('account', 'a', deposit(40), { commandId: 'dep-1' });
    const heads = partitionHeads(rt.log);
    const again = await rt.execute<AccountState>('account', 'a', deposit(40), { commandId: 'dep-1' });
    expect(first.duplicate).toBeUndefined();
    expect(again.duplicate).toBe(true);
    expect(again.version).toBe(first.version);
    expect(again.events).toEqual(first.events);
    expect(again.state).toEqual(first.state);
    expect(partitionHeads(rt.log)).toEqual(heads);
    expect(await rt.history('account', 'a')).toHaveLength(2);
    expect((await rt.load<AccountState>('account', 'a')).state.balance).toBe(40);
    expect(rt.log.findCommand('account', 'a', 'dep-1')).toMatchObject({ first: 2, last: 2, digest: expect.stringMatching(/^v1:/) });
  });

  it('answers a retry with the state right after the first attempt even when the stream moved on', async () => {
    const rt = runtime();
    await opened(rt, 'moved');
    const first = await rt.execute<AccountState>('account', 'moved', deposit(5), { commandId: 'once' });
    await rt.execute('account', 'moved', deposit(7));
    const again = await rt.execute<AccountState>('account', 'moved', deposit(5), { commandId: 'once' });
    expect(again).toMatchObject({ version: 2, duplicate: true, state: { balance: 5 } });
    expect(again.events).toEqual(first.events);
    expect((await rt.load<AccountState>('account', 'moved')).state.balance).toBe(12);
  });

  it('answers two copies sent in the same batch with one write: one original, one duplicate', async () => {
    const rt = runtime();
    await opened(rt, 'b');
    const [x, y] = await Promise.all([
      rt.execute<AccountState>('account', 'b', deposit(9), { commandId: 'twin' }),
      rt.execute<AccountState>('account', 'b', deposit(9), { commandId: 'twin' }),
    ]);
    expect([x.duplicate, y.duplicate]).toEqual([undefined, true]);
    expect(y.version).toBe(x.version);
    expect(y.events).toEqual(x.events);
    const history = await rt.history('account', 'b');
    expect(history).toHaveLength(2);
    expect(history[1]!.meta).toEqual({ commandId: 'twin' });
    expect((await rt.load<AccountState>('account', 'b')).state.balance).toBe(9);
  });

  it('treats the same commandId on another stream as another command', async () => {
    const rt = runtime();
    await opened(rt, 'c1');
    await opened(rt, 'c2');
    const one = await rt.execute('account', 'c1', deposit(1), { commandId: 'shared' });
    const two = await rt.execute('account', 'c2', deposit(1), { commandId: 'shared' });
    expect(one.duplicate).toBeUndefined();
    expect(two.duplicate).toBeUndefined();
  });

  it('returns the first result of a retry even when its expectedVersion is stale by now', async () => {
    const rt = runtime();
    await opened(rt, 'ev');
    const first = await rt.execute('account', 'ev', deposit(3), { commandId: 'ev-1', expectedVersion: 1 });
    const again = await rt.execute('account', 'ev', deposit(3), { commandId: 'ev-1', expectedVersion: 1 });
    expect(again).toMatchObject({ version: first.version, duplicate: true });
  });

  it('does not remember a rejected command: a retry after the rule is satisfied is applied', async () => {
    const rt = runtime();
    await opened(rt, 'r');
    await expect(rt.execute('account', 'r', { type: 'Withdraw', data: { amount: 5 } }, { commandId: 'w-1' })).rejects.toMatchObject({ code: 'InsufficientFunds' });
    await rt.execute('account', 'r', deposit(5));
    const retried = await rt.execute<AccountState>('account', 'r', { type: 'Withdraw', data: { amount: 5 } }, { commandId: 'w-1' });
    expect(retried.duplicate).toBeUndefined();
    expect(retried.state.balance).toBe(0);
  });

  it.runIf(ON_DISK)('remembers a multi-event command across a restart and replays all of its events', async () => {
    const dataDir = await runtimes.dataDir();
    const domains = [...builtinDomains, crashyDomain];
    const rt = await runtimes.start({ dataDir, domains });
    const first = await rt.execute('crashy', 'k', { type: 'Ok', data: { n: 3 } }, { commandId: 'triple' });
    expect(first.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    await runtimes.close(rt);
    const again = await runtimes.start({ dataDir, domains, workers: 1 });
    const retry = await again.execute('crashy', 'k', { type: 'Ok', data: { n: 3 } }, { commandId: 'triple' });
    expect(retry).toMatchObject({ version: 3, duplicate: true, state: { happened: 3 } });
    expect(retry.events).toEqual(first.events);
    expect(await again.history('crashy', 'k')).toHaveLength(3);
  });

  it('does not tell subscribers about a duplicate: they see each committed event once', async () => {
    const rt = runtime();
    const seen: string[] = [];
    const unsubscribe = rt.subscribe((events) => seen.push(...events.filter((e) => e.stream === 's').map((e) => `${e.stream}#${e.seq}`)));
    try {
      await opened(rt, 's');
      await Promise.all([rt.execute('account', 's', deposit(1), { commandId: 'x' }), rt.execute('account', 's', deposit(1), { commandId: 'x' })]);
      await rt.execute('account', 's', deposit(1), { commandId: 'x' });
      expect(seen).toEqual(['s#1', 's#2']);
    } finally {
      unsubscribe();
    }
  });

  describe('a commandId reused for a different command', () => {
    it('is refused with IdempotencyKeyReused and writes nothing, later or in the same batch', async () => {
      const rt = runtime();
      await opened(rt, 'reuse');
      await rt.execute('account', 'reuse', deposit(10), { commandId: 'k-1' });
      const heads = partitionHeads(rt.log);
      for (const other of [deposit(11), { type: 'Withdraw', data: { amount: 10 } }]) {
        await expect(rt.execute('account', 'reuse', other, { commandId: 'k-1' })).rejects.toMatchObject({ code: 'IdempotencyKeyReused', details: { commandId: 'k-1' } });
      }
      expect(partitionHeads(rt.log)).toEqual(heads);
      const [a, b] = await Promise.allSettled([
        rt.execute('account', 'reuse', deposit(1), { commandId: 'k-2' }),
        rt.execute('account', 'reuse', deposit(2), { commandId: 'k-2' }),
      ]);
      expect(a.status).toBe('fulfilled');
      expect(b).toMatchObject({ status: 'rejected', reason: { code: 'IdempotencyKeyReused' } });
      expect((await rt.load<AccountState>('account', 'reuse')).state.balance).toBe(11);
    });

    it('is told apart from a true retry whose JSON keys come in another order', async () => {
      const rt = runtime();
      await rt.execute('account', 'order', { type: 'Open', data: { owner: 'ann' } }, { commandId: 'open-1' });
      const again = await rt.execute('account', 'order', { type: 'Open', data: JSON.parse('{"owner":"ann"}') as object }, { commandId: 'open-1' });
      expect(again.duplicate).toBe(true);
      await expect(rt.execute('account', 'order', { type: 'Open', data: { owner: 'bob' } }, { commandId: 'open-1' })).rejects.toMatchObject({ code: 'IdempotencyKeyReused' });
    });

    it.runIf(ON_DISK)('is refused after a restart too (the digest is stored with the command id)', async () => {
      const dataDir = await runtimes.dataDir();
      const rt = await runtimes.start({ dataDir });
      await opened(rt, 'kept');
      await rt.execute('account', 'kept', deposit(4), { commandId: 'k' });
      await runtimes.close(rt);
      const again = await runtimes.start({ dataDir, workers: 1 });
      await expect(again.execute('account', 'kept', deposit(5), { commandId: 'k' })).rejects.toMatchObject({ code: 'IdempotencyKeyReused' });
      expect(await again.execute('account', 'kept', deposit(4), { commandId: 'k' })).toMatchObject({ duplicate: true, version: 2 });
    });
  });
});
