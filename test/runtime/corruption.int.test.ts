/**
 * DESIGN invariant 8 through the runtime: a damaged stored event is detected when its stream is read
 * or hydrated, the error names the record, and nothing is written on top of it; other streams go on.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { partitionOf, type AccountState } from '../../src/index.js';
import { rejectionOf } from '../support/errors.js';
import { partitionHeads } from '../support/log-checks.js';
import { useRuntimes } from '../support/runtimes.js';

/** Flips one payload byte of the stored event `[type, id, seq]` through a raw lmdb handle. */
async function corruptEvent(dataDir: string, key: [string, string, number]): Promise<void> {
  const raw = open({ path: join(dataDir, 'log.mdb'), maxDbs: 16 });
  const events = raw.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  const value = Buffer.from(events.getBinary(key)!);
  value[value.length - 1] = value[value.length - 1]! ^ 0x01;
  events.putSync(key, value);
  await raw.close();
}

describe('a corrupted event in a running system', () => {
  const runtimes = useRuntimes('corruption');

  it('fails commands and reads of its stream with CorruptRecord naming it, writes nothing there, and serves other streams', async () => {
    const dataDir = await runtimes.dataDir();
    const before = await runtimes.start({ dataDir, workers: 1 });
    for (const id of ['damaged', 'intact']) {
      await before.execute('account', id, { type: 'Open', data: { owner: id } });
      await before.execute('account', id, { type: 'Deposit', data: { amount: 50 } });
    }
    await runtimes.close(before);
    await corruptEvent(dataDir, ['account', 'damaged', 2]);

    const rt = await runtimes.start({ dataDir, workers: 1 });
    const heads = partitionHeads(rt.log);
    for (const act of [
      () => rt.execute('account', 'damaged', { type: 'Deposit', data: { amount: 1 } }),
      () => rt.load('account', 'damaged'),
      () => rt.load('account', 'damaged', { version: 2 }),
      () => rt.history('account', 'damaged'),
    ]) {
      const err = await rejectionOf(act);
      expect(err.code).toBe('CorruptRecord');
      expect(err.message).toContain('events ["account","damaged",2]');
    }
    expect(partitionHeads(rt.log)).toEqual(heads);
    expect(rt.log.readEvent('account', 'damaged', 3)).toBeUndefined();

    const ok = await rt.execute<AccountState>('account', 'intact', { type: 'Deposit', data: { amount: 1 } });
    expect(ok.state.balance).toBe(51);
    expect(rt.log.partitionHead(partitionOf('intact', rt.partitionCount))).toBeGreaterThan(0);
  });
});
