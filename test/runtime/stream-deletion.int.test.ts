/**
 * Stream deletion (docs/data-lifecycle.md): a soft delete makes the stream read as not found and can
 * be undone; a command re-creates it with its seqs going on and its state from `initialState()`; a hard
 * delete (tombstone) refuses every later command and read with `StreamDeleted`. Each is a `$` event in
 * the stream (so in the feed and every replay), decided by the owning actor in order with the stream's
 * commands, never handed to the decider, and recorded once in the audit stream. Runs on LMDB and memory.
 */
import { describe, expect, it } from 'vitest';
import type { EventEnvelope, Runtime } from '../../src/index.js';
import { outcomeOf, rejectionOf } from '../support/errors.js';
import { useRuntimes } from '../support/runtimes.js';

async function open(runtime: Runtime, id: string, deposits: number): Promise<void> {
  await runtime.execute('account', id, { type: 'Open', data: { owner: 'Ada' } });
  for (let i = 1; i <= deposits; i++) await runtime.execute('account', id, { type: 'Deposit', data: { amount: i } });
}

const auditOf = async (runtime: Runtime, id: string) => (await runtime.history('$audit', 'lifecycle')).filter((e) => (e.data as { target: { id?: string } }).target.id === id);

describe('stream deletion', () => {
  const runtimes = useRuntimes('deletion');

  it('a soft delete reads as not found everywhere, is in the feed, and an undelete brings the stream back as it was', async () => {
    const runtime = await runtimes.start();
    const seen: EventEnvelope[] = [];
    runtime.subscribe((events) => seen.push(...events));
    await open(runtime, 's1', 2); // version 3, balance 3
    await runtime.load('account', 's1'); // cached
    const del = await runtime.deleteStream('account', 's1', { by: 'ops' });
    expect(del).toEqual({ id: 's1', type: 'account', version: 4, changed: true });
    for (const read of [() => runtime.load('account', 's1'), () => runtime.load('account', 's1', { version: 2 }), () => runtime.history('account', 's1'), () => runtime.diff('account', 's1', { version: 1 }, {})]) {
      const err = await rejectionOf(read);
      expect(err.code).toBe('StreamNotFound');
      expect(err.details).toMatchObject({ deleted: true });
    }
    expect(seen.filter((e) => e.stream === 's1').at(-1)).toMatchObject({ type: '$StreamDeleted', seq: 4, aggregateType: 'account', data: { by: 'ops' } });
    // A retry changes nothing and records nothing more.
    expect(await runtime.deleteStream('account', 's1', { by: 'ops' })).toMatchObject({ version: 4, changed: false });

    const back = await runtime.undeleteStream('account', 's1', { by: 'ops' });
    expect(back).toEqual({ id: 's1', type: 'account', version: 5, changed: true });
    expect(await runtime.load('account', 's1')).toMatchObject({ version: 5, state: { balance: 3, owner: 'Ada', open: true } });
    expect((await runtime.history('account', 's1')).map((e) => e.type)).toEqual(['AccountOpened', 'Deposited', 'Deposited', '$StreamDeleted', '$StreamUndeleted']);
    expect((await runtime.execute('account', 's1', { type: 'Deposit', data: { amount: 10 } })).state).toMatchObject({ balance: 13 });
    expect((await auditOf(runtime, 's1')).map((e) => e.type)).toEqual(['StreamDeleted', 'StreamUndeleted']);
  });

  it('a command re-creates a soft-deleted stream from its initial state, seqs going on; an undelete then is refused', async () => {
    const runtime = await runtimes.start();
    await open(runtime, 'r1', 1);
    await runtime.deleteStream('account', 'r1');
    // The account decider refuses a deposit to an account that is not open: the state really started again.
    expect((await rejectionOf(runtime.execute('account', 'r1', { type: 'Deposit', data: { amount: 5 } }))).code).toBe('AccountNotOpen');
    const reopened = await runtime.execute('account', 'r1', { type: 'Open', data: { owner: 'Bob' } });
    expect(reopened.version).toBe(4);
    expect(reopened.state).toMatchObject({ owner: 'Bob', balance: 0, open: true });
    expect(await runtime.load('account', 'r1')).toMatchObject({ version: 4, state: { owner: 'Bob', balance: 0 } });
    const refused = await rejectionOf(runtime.undeleteStream('account', 'r1'));
    expect(refused.code).toBe('StreamNotDeleted');
    // The time machine still shows the history before the deletion.
    expect((await runtime.load('account', 'r1', { version: 2 })).state).toMatchObject({ owner: 'Ada', balance: 1 });
  });

  it('a hard delete refuses every later command and read with StreamDeleted, for good', async () => {
    const runtime = await runtimes.start();
    await open(runtime, 'h1', 1);
    expect(await runtime.deleteStream('account', 'h1', { hard: true, by: 'ops' })).toMatchObject({ version: 3, changed: true });
    const refusals = [
      () => runtime.execute('account', 'h1', { type: 'Open', data: { owner: 'Eve' } }),
      () => runtime.load('account', 'h1'),
      () => runtime.load('account', 'h1', { version: 1 }),
      () => runtime.history('account', 'h1'),
      () => runtime.undeleteStream('account', 'h1'),
      () => runtime.deleteStream('account', 'h1'),
    ];
    for (const r of refusals) expect((await rejectionOf(r)).code).toBe('StreamDeleted');
    expect(await runtime.deleteStream('account', 'h1', { hard: true })).toMatchObject({ version: 3, changed: false });
    expect((await auditOf(runtime, 'h1')).map((e) => e.type)).toEqual(['StreamTombstoned']);
  });

  it('refuses to delete what does not exist, bad ids and system streams', async () => {
    const runtime = await runtimes.start();
    expect((await rejectionOf(runtime.deleteStream('account', 'nobody'))).code).toBe('StreamNotFound');
    expect((await rejectionOf(runtime.undeleteStream('account', 'nobody'))).code).toBe('StreamNotFound');
    expect((await rejectionOf(runtime.deleteStream('account', 'bad id'))).code).toBe('InvalidId');
    expect((await rejectionOf(runtime.deleteStream('$audit', 'lifecycle'))).code).toBe('UnknownAggregateType');
    expect((await rejectionOf(runtime.deleteStream('ledger', 'x'))).code).toBe('UnknownAggregateType');
    // The runtime's own commands are not commands a client may send.
    expect((await rejectionOf(runtime.execute('account', 'x', { type: '$DeleteStream', data: {} }))).code).toBe('UnknownCommandType');
  });

  it('a hard delete racing commands on the stream: each command is decided entirely before or after it', async () => {
    const runtime = await runtimes.start();
    await open(runtime, 'race', 0);
    const deposits = Array.from({ length: 30 }, (_, i) => runtime.execute('account', 'race', { type: 'Deposit', data: { amount: 1 } }, { commandId: `d${i}` }));
    const del = runtime.deleteStream('account', 'race', { hard: true });
    const outcomes = (await Promise.allSettled(deposits)).map(outcomeOf);
    const { version } = await del;
    // Every deposit either landed before the tombstone (and is in the log) or was refused after it.
    expect(outcomes.every((o) => o === 'ok' || o === 'StreamDeleted')).toBe(true);
    const accepted = outcomes.filter((o) => o === 'ok').length;
    expect(version).toBe(1 + accepted + 1);
    const stored = runtime.log.readStream('account', 'race');
    expect(stored.map((e) => e.type)).toEqual(['AccountOpened', ...Array<string>(accepted).fill('Deposited'), '$StreamTombstoned']);
  });

  it('hydrates a deleted stream the same way from the log as live (a fresh runtime on the same data dir)', async ({ skip }) => {
    const dataDir = await runtimes.dataDir();
    const first = await runtimes.start({ dataDir, snapshotEvery: 2 });
    if (first.dataDir === '') return skip('the memory log keeps nothing past close');
    await open(first, 'p1', 4); // snapshots at 2 and 4
    await first.deleteStream('account', 'p1');
    await open(first, 'p2', 1);
    await first.deleteStream('account', 'p2');
    await first.execute('account', 'p2', { type: 'Open', data: { owner: 'Cy' } });
    await runtimes.close(first);
    const second = await runtimes.start({ dataDir, snapshotEvery: 2 });
    expect((await rejectionOf(second.load('account', 'p1'))).code).toBe('StreamNotFound');
    expect((await second.undeleteStream('account', 'p1')).version).toBe(7);
    expect((await second.load('account', 'p1')).state).toMatchObject({ balance: 10 });
    expect(await second.load('account', 'p2')).toMatchObject({ version: 4, state: { owner: 'Cy', balance: 0 } });
  });
});
