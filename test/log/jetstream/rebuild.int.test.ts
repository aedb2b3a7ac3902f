/**
 * The cache rebuilt from the log of record: a wiped local dir comes back, at open, with every event in
 * every partition in offset order, the command ids and the heads, so a writer goes on where the log
 * is. Snapshots and view rows do not come back (derived data, kept by the cache alone: a fold and a
 * projection make them again). And what the log of record's checks refuse: a message that is not an
 * eventide batch, at open and under a writer; a cache of another log.
 */
import { rmSync } from 'node:fs';
import { expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { LmdbLog, type EventLog } from '../../../src/log/index.js';
import { rejectionOf } from '../../support/errors.js';
import { deposits, ownerWriter } from '../contract/contract-support.js';
import { describeOnNats, partitionsOf } from './jetstream-support.js';

/** 600 deposits over 40 accounts in 8 partitions, in batches of 64 commands, every command with an id. */
async function fill(log: EventLog): Promise<void> {
  const { writer } = ownerWriter(log, 'filler');
  const versions = new Map<string, number>();
  const pending: Promise<unknown>[] = [];
  for (let batch = 0; batch < 10; batch++) {
    const staged = [];
    for (let i = 0; i < 60; i++) {
      const n = batch * 60 + i;
      const id = `acc-${n % 40}`;
      const v = versions.get(id) ?? 0;
      staged.push(writer.stageAppend(deposits(id, v, n % 40 % 8, 1, { commandId: `cmd-${n}`, digest: `d-${n}`, meta: { commandId: `cmd-${n}` } })));
      versions.set(id, v + 1);
    }
    pending.push(writer.commit(staged));
  }
  await Promise.all(pending);
}

describeOnNats('JetStreamLog: the cache rebuilt from the log of record', 1, (fx) => {
  it('rebuilds a wiped cache dir at open: every partition, command ids and heads equal the original; a writer goes on from there', async () => {
    const name = fx.newName();
    const dir = await fx.tempDir();
    const log = await fx.open(name, { partitions: 8, localDir: dir });
    await fill(log);
    const { writer } = ownerWriter(log, 'snapshots');
    await writer.commit([writer.stageSnapshot('account', 'acc-1', { version: 5, snapshotVersion: 1, state: { balance: 1 }, ts: 1 })]);
    const before = partitionsOf(log);
    expect(before.flat()).toHaveLength(600);
    const envelopes = Array.from({ length: 8 }, (_, p) => log.readPartition(p, 0, 1000));
    const heads = Array.from({ length: 8 }, (_, p) => log.partitionHead(p));
    const tips = Array.from({ length: 8 }, (_, p) => log.tip(p));
    await log.close();
    rmSync(dir, { recursive: true, force: true });

    const rebuilt = await fx.open(name, { localDir: dir });
    expect(rebuilt.partitions).toBe(8);
    expect(partitionsOf(rebuilt)).toEqual(before);
    for (let p = 0; p < 8; p++) {
      expect(rebuilt.readPartition(p, 0, 1000)).toEqual(envelopes[p]);
      expect(rebuilt.partitionHead(p)).toBe(heads[p]);
      expect(rebuilt.tip(p)).toEqual(tips[p]);
    }
    expect(rebuilt.findCommand('account', 'acc-3', 'cmd-43')).toEqual({ first: 2, last: 2, digest: 'd-43' });
    expect(rebuilt.readEvent('account', 'acc-3', 2)).toMatchObject({ meta: { commandId: 'cmd-43' }, data: { amount: 20 } });
    expect([...rebuilt.iterateStreamIds('account')]).toHaveLength(40);
    // Derived data stays with the cache that made it.
    expect(rebuilt.snapshotAtOrBelow('account', 'acc-1')).toBeUndefined();
    const { writer: next } = ownerWriter(rebuilt, 'next');
    await next.commit([next.stageAppend(deposits('acc-0', 15, 0))]);
    expect(partitionsOf(rebuilt)[0]!.at(-1)).toBe(`acc-0#16@${heads[0]}`);
  });

  it('reads a rebuilt cache equal to one kept across the writes, event for event', async () => {
    const name = fx.newName();
    const kept = await fx.open(name, { partitions: 8 });
    await fill(kept);
    const rebuilt = await fx.open(name);
    for (let p = 0; p < 8; p++) expect(rebuilt.readPartition(p, 0, 1000)).toEqual(kept.readPartition(p, 0, 1000));
  });

  it('refuses to open over a message that is not an eventide batch (CorruptLog naming the stream and seq)', async () => {
    const name = fx.newName();
    const log = await fx.open(name, { partitions: 2 });
    const { writer } = ownerWriter(log);
    await writer.commit([writer.stageAppend(deposits('a', 0, 1))]);
    const nc = await connect({ servers: fx.nats.urls });
    await jetstream(nc).publish(`evt.${name}.p.1`, new TextEncoder().encode('not a batch'));
    await nc.close();
    const err = await rejectionOf(fx.open(name));
    expect(err.code).toBe('CorruptLog');
    expect(err.message).toContain(`EVT_${name}_P1#2`);
    // The writer that expected seq 1 to be the last finds a stranger there: it stops, saying what it found.
    const stopped = await rejectionOf(writer.commit([writer.stageAppend(deposits('a', 1, 1))]));
    expect(stopped.code).toBe('CorruptLog');
    expect(stopped.message).toContain('not this log\'s');
  });

  it('refuses a cache dir of another log (InvalidOptions), and a partition count other than the log\'s (PartitionMismatch)', async () => {
    const first = fx.newName();
    const dir = await fx.tempDir();
    const log = await fx.open(first, { partitions: 2, localDir: dir });
    await log.close();
    const second = fx.newName();
    expect((await rejectionOf(fx.open(second, { partitions: 2, localDir: dir }))).code).toBe('InvalidOptions');
    expect((await rejectionOf(fx.open(first, { partitions: 3 }))).code).toBe('PartitionMismatch');
    expect((await rejectionOf(fx.open('bad name', {}))).code).toBe('InvalidOptions');
    // An embedded data dir with events is not an empty cache.
    const embeddedDir = await fx.tempDir();
    const embedded = LmdbLog.open(embeddedDir, { partitions: 2 });
    const { writer } = ownerWriter(embedded);
    await writer.commit([writer.stageAppend(deposits('a', 0, 0))]);
    await embedded.close();
    const err = await rejectionOf(fx.open(fx.newName(), { partitions: 2, localDir: embeddedDir }));
    expect(err.code).toBe('InvalidOptions');
    expect(err.message).toContain('not a cache');
  });
});
