/**
 * The versioned log (src/runtime/versioned-log.ts) over the in-memory adapter: reads decoded, appends
 * stamped, `storedReads` as stored, no wrapper at all when no decider declares versions (or personal data), and idempotent:
 * a log already versioned (the in-memory runtime's log, shared by createRuntime with its actor hosts) is
 * never wrapped a second time, so pages keep reading what is stored.
 */
import { describe, expect, it, vi } from 'vitest';
import { accountDecider, type AnyDecider } from '../../src/index.js';
import { openMemoryLog, type EventLog } from '../../src/log/index.js';
import { isVersioned, storedReads, versionedLog } from '../../src/runtime/index.js';
import { RuntimeError } from '../../src/kernel/index.js';

/** A `note` whose `Written` went v1 `{ text }` -> v2 `{ text, lang }`. */
const noteDecider: AnyDecider = {
  type: 'note',
  snapshotVersion: 1,
  commands: {},
  publicCommands: [],
  events: { Written: { version: 2, upcast: { 1: (d: { text: string }) => ({ text: d.text, lang: 'en' }) } } },
  initialState: () => [],
  decide: () => [],
  evolve: (s: unknown[], e: { data: unknown }) => [...s, e.data],
};

async function written(log: EventLog, seq: number, data: unknown): Promise<void> {
  const writer = log.openWriter(`w-${seq}`, log.claimOwnership('test'), [0]);
  await writer.commit([writer.stageAppend({ aggregateType: 'note', stream: 'n1', partition: 0, expectedVersion: seq - 1, events: [{ type: 'Written', data }], ts: seq, meta: {} })]);
  log.refreshReads();
}

describe('versionedLog', () => {
  it('is the log itself when no decider declares versions or personal data', () => {
    const log = openMemoryLog({ partitions: 1 });
    const { personalData: _personal, ...plainAccount } = accountDecider;
    expect(versionedLog(log, [plainAccount as AnyDecider])).toBe(log);
    expect(isVersioned(log)).toBe(false);
    expect(storedReads(log)).toBe(log);
  });

  it('decodes reads and stamps appends; storedReads reads what is stored', async () => {
    const raw = openMemoryLog({ partitions: 1 });
    const log = versionedLog(raw, [noteDecider]);
    expect(isVersioned(log)).toBe(true);
    await written(raw, 1, { text: 'old' }); // as a build before version 2 wrote it
    await written(log, 2, { text: 'new', lang: 'fr' });
    expect(raw.readStream('note', 'n1').map((e) => [e.data, e.schemaVersion])).toEqual([[{ text: 'old' }, undefined], [{ text: 'new', lang: 'fr' }, 2]]);
    expect(storedReads(log).readStream('note', 'n1')).toEqual(raw.readStream('note', 'n1'));
    expect(log.readStream('note', 'n1').map((e) => [e.data, e.schemaVersion])).toEqual([[{ text: 'old', lang: 'en' }, 2], [{ text: 'new', lang: 'fr' }, 2]]);
    expect(log.foldStream('note', 'n1', 1, 2, [] as unknown[], noteDecider.evolve).state).toEqual([{ text: 'old', lang: 'en' }, { text: 'new', lang: 'fr' }]);
  });

  it('is idempotent: a versioned log comes back as it is, and storedReads still reaches the stored events', async () => {
    const raw = openMemoryLog({ partitions: 1 });
    const log = versionedLog(raw, [noteDecider]);
    // What an actor host given the runtime's shared log does.
    const again = versionedLog(log, [noteDecider, accountDecider]);
    expect(again).toBe(log);
    await written(raw, 1, { text: 'old' });
    expect(storedReads(again)).toBe(raw);
    expect(storedReads(again).readEvent('note', 'n1', 1)?.data).toEqual({ text: 'old' });
  });

  it('commits nothing sealed before its keys are durable: a key store that cannot persist refuses the batch and every later one', async () => {
    const raw = openMemoryLog({ partitions: 1 });
    const persist = vi.spyOn(raw.subjectKeys, 'persist').mockImplementation(() => {
      throw new RuntimeError('StorageFailed' as never, 'ENOSPC: no space left on device');
    });
    const log = versionedLog(raw, [accountDecider]);
    const writer = log.openWriter('w', log.claimOwnership('test'), [0]);
    const open = (id: string) => writer.stageAppend({ aggregateType: 'account', stream: id, partition: 0, expectedVersion: 0, events: [{ type: 'AccountOpened', data: { owner: 'Ada' } }], ts: 1, meta: {} });
    await expect(writer.commit([open('a')])).rejects.toMatchObject({ code: 'StorageFailed', details: { outcome: 'not-applied' } });
    persist.mockRestore();
    await expect(writer.commit([open('b')])).rejects.toMatchObject({ code: 'StorageFailed' });
    expect(writer.failure).toMatchObject({ code: 'StorageFailed' });
    raw.refreshReads();
    expect(raw.partitionHead(0)).toBe(0);
  });
});
