/**
 * `salvageLog` on a real, damaged data dir: the new dir keeps every stream's intact events up to its
 * first gap or damaged record (never splitting a command), the report lists exactly the lost events
 * (stream, seq, why), the quarantine file holds them, the damaged dir is left as it was, and the new
 * dir verifies, opens with createRuntime, gives the same balances for undamaged accounts, and takes
 * new writes.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinDomains, partitionOf, type AccountState } from '../../../src/index.js';
import { salvageLog, verifyDataDir, type LostEvent } from '../../../src/log/index.js';
import { rejectionOf } from '../../support/errors.js';
import { crashyDomain } from '../../support/crashy-domain.js';
import { flipKeyBytesInFile, flipValueByte, rewriteKeyInFile } from '../../support/log-damage.js';
import { useRuntimes } from '../../support/runtimes.js';

const P = 4;
const domains = [...builtinDomains, crashyDomain];

describe('salvageLog', () => {
  const runtimes = useRuntimes('salvage');

  it('keeps the intact prefix of each stream, lists exactly the lost events, and the new dir runs', async () => {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, partitions: P, workers: 2, domains });
    const accounts = ['acc0', 'acc1', 'acc2', 'acc3', 'acc4', 'acc5', 'victim', 'k1'];
    await Promise.all(
      accounts.map(async (id, i) => {
        await rt.execute('account', id, { type: 'Open', data: { owner: id } }, { commandId: `open-${id}` });
        for (let k = 1; k <= 8; k++) await rt.execute('account', id, { type: 'Deposit', data: { amount: k * (i + 1) } }, { commandId: `dep-${id}-${k}` });
      }),
    );
    // Three commands of three events each: seqs 1-3, 4-6, 7-9.
    for (let c = 1; c <= 3; c++) await rt.execute('crashy', 'c1', { type: 'Ok', data: { n: 3 } }, { commandId: `ok-${c}` });
    const before = new Map<string, number>();
    for (const id of accounts) before.set(id, (await rt.load<AccountState>('account', id)).state.balance);
    await runtimes.close(rt);

    await flipValueByte(dataDir, 'events', ['account', 'victim', 5]);
    await flipValueByte(dataDir, 'events', ['crashy', 'c1', 8]);
    // Derived data only: the index is re-derived, so this loses nothing.
    await flipValueByte(dataDir, 'partitions', [partitionOf('acc0', P), 0]);
    // k1's seq 3 key: byte 9 is the id's '1'; ^0x04 makes it 'k5' (no such account).
    expect(flipKeyBytesInFile(dataDir, ['account', 'k1', 3], 9, 0x04)).toBeGreaterThan(0);
    const sourceBytes = readFileSync(join(dataDir, 'log.mdb'));

    const into = join(await runtimes.dataDir(), 'salvaged');
    const report = await salvageLog(dataDir, into);

    const lost = report.lost.map((l: LostEvent) => `${l.aggregateType}/${l.id}#${l.seq}${l.toSeq ? `..${l.toSeq}` : ''} ${l.why.split(/[:(,]/)[0]!.trim()}`);
    expect(lost).toEqual([
      'account/k1#3 missing',
      'account/k1#4 intact',
      'account/k1#5 intact',
      'account/k1#6 intact',
      'account/k1#7 intact',
      'account/k1#8 intact',
      'account/k1#9 intact',
      'account/k5#3 damaged record',
      'account/victim#5 damaged record',
      'account/victim#6 intact',
      'account/victim#7 intact',
      'account/victim#8 intact',
      'account/victim#9 intact',
      // The cut after c1#7 falls inside command ok-3 (seqs 7..9): it moves to before that command.
      'crashy/c1#7 part of command ok-3',
      'crashy/c1#8 damaged record',
      'crashy/c1#9 intact',
    ]);
    expect(report.lost.find((l) => l.id === 'victim' && l.seq === 6)!.why).toBe('intact, but after the damaged record at seq 5');
    expect(report.ok).toBe(false);
    expect(report.eventsLost).toBe(16);
    expect(report.eventsKept).toBe(accounts.length * 9 + 9 - 16 + 1); // k5#3 is k1#3, listed under both names
    expect(report.streamsCut).toBe(3);
    expect(report.unreadable).toEqual([]);

    // Every lost record has a quarantine line (the missing k1#3 has none: there is no record), the intact
    // ones in full, to be re-entered by a human; the damaged ones as their stored bytes.
    const lines = readFileSync(report.quarantineFile!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { aggregateType: string; id: string; seq: number; event?: { data: unknown }; value?: string });
    expect(lines).toHaveLength(15);
    expect(lines.find((l) => l.id === 'victim' && l.seq === 7)!.event!.data).toEqual({ amount: 6 * 7 });
    expect(lines.find((l) => l.id === 'victim' && l.seq === 5)!.value).toEqual(expect.any(String));
    expect(JSON.parse(readFileSync(join(into, 'salvage-report.json'), 'utf8'))).toMatchObject({ eventsLost: 16 });

    // Never in place: the damaged dir is byte for byte what it was.
    expect(readFileSync(join(dataDir, 'log.mdb')).equals(sourceBytes)).toBe(true);

    expect((await verifyDataDir(into, { partitionOf })).ok).toBe(true);

    const again = await runtimes.start({ dataDir: into, workers: 2, domains });
    expect(again.partitionCount).toBe(P);
    for (const id of ['acc0', 'acc1', 'acc2', 'acc3', 'acc4', 'acc5']) expect((await again.load<AccountState>('account', id)).state.balance).toBe(before.get(id));
    // victim keeps deposits 1..3 (seqs 2..4) of amount k * 7; k1 keeps deposit 1 (seq 2) of amount 8.
    expect(await again.load<AccountState>('account', 'victim')).toMatchObject({ version: 4, state: { balance: 7 * (1 + 2 + 3) } });
    expect(await again.load<AccountState>('account', 'k1')).toMatchObject({ version: 2, state: { balance: 8 } });
    expect(await again.load('crashy', 'c1')).toMatchObject({ version: 6, state: { happened: 6 } });
    // Command ids were re-derived: a retried command is a duplicate, not a second deposit.
    const retry = await again.execute('account', 'acc3', { type: 'Deposit', data: { amount: 8 * 4 } }, { commandId: 'dep-acc3-8' });
    expect(retry.duplicate).toBe(true);
    const next = await again.execute<AccountState>('account', 'victim', { type: 'Deposit', data: { amount: 1 } });
    expect(next.version).toBe(5);
    // The partition index is contiguous from 0 and holds every kept event once.
    const indexed = Array.from({ length: P }, (_, p) => again.log.readPartition(p, 0, 10_000).length).reduce((a, b) => a + b, 0);
    expect(indexed).toBe(report.eventsKept + 1);
  });

  it('a key damaged to another seq of its own stream: the hole is listed once, the record as damaged', async () => {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, partitions: P });
    await rt.execute('account', 's', { type: 'Open', data: { owner: 's' } });
    for (let k = 1; k <= 5; k++) await rt.execute('account', 's', { type: 'Deposit', data: { amount: k } });
    await runtimes.close(rt);
    // The record of seq 3 now claims seq 7 (which the stream never had), in seq 3's place in its page.
    expect(rewriteKeyInFile(dataDir, ['account', 's', 3], ['account', 's', 7])).toBeGreaterThan(0);

    const into = join(await runtimes.dataDir(), 'salvaged');
    const report = await salvageLog(dataDir, into);
    expect(report.lost.map((l) => `${l.id}#${l.seq}${l.toSeq ? `..${l.toSeq}` : ''} ${l.why.split(/[:(,]/)[0]!.trim()}`)).toEqual(['s#3 missing', 's#4 intact', 's#5 intact', 's#6 intact', 's#7 damaged record']);
    // Five entries, five lost records (seq 3 is listed twice only because nothing says #7 was #3).
    expect(report.eventsLost).toBe(5);
    expect(report.eventsKept).toBe(2);
    const again = await runtimes.start({ dataDir: into });
    expect(await again.load<AccountState>('account', 's')).toMatchObject({ version: 2, state: { balance: 1 } });
  });

  it('refuses to salvage in place or into a dir that is not empty, and a data dir without a log', async () => {
    const dataDir = await runtimes.dataDir();
    const rt = await runtimes.start({ dataDir, partitions: P });
    await rt.execute('account', 'a', { type: 'Open', data: { owner: 'a' } });
    await runtimes.close(rt);
    expect((await rejectionOf(salvageLog(dataDir, dataDir))).code).toBe('InvalidOptions');
    const busy = await runtimes.dataDir();
    await runtimes.start({ dataDir: busy, partitions: P });
    expect((await rejectionOf(salvageLog(dataDir, busy))).code).toBe('AlreadyExists');
    const empty = await runtimes.dataDir();
    const err = await rejectionOf(salvageLog(empty, join(empty, 'out')));
    expect(err.code).toBe('InvalidOptions');
    expect(err.message).toContain('no event log');
    expect(readdirSync(empty)).toEqual([]);
  });
});
