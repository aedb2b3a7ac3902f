/**
 * The memory log beyond the port contract (test/log/contract/ covers the port): what it says of itself
 * (not durable, one log per `openMemoryLog`), when its commits resolve, and how it refuses misuse that
 * the LMDB adapter meets differently (positions taken between staging and applying, a throwing
 * `alsoInBatch`, another log's stages, gaps, writes after close).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openMemoryLog, type AppendRequest } from '../../../src/log/index.js';
import { rejectionOf } from '../../support/errors.js';

function deposit(stream: string, expectedVersion: number, partition = 0): AppendRequest {
  return { aggregateType: 'account', stream, partition, expectedVersion, events: [{ type: 'Deposited', data: { amount: 1 } }], ts: 1, meta: {} };
}

function owned(partitions = 2) {
  const log = openMemoryLog({ partitions });
  const epoch = log.claimOwnership('test');
  return { log, epoch, writer: log.openWriter('w', epoch, [0, 1].slice(0, partitions)) };
}

describe('the memory log', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is not durable (durability "commit"), and each openMemoryLog is a log of its own', async () => {
    const { log, writer } = owned();
    await writer.commit([writer.stageAppend(deposit('a', 0))]);
    expect(log.durability).toBe('commit');
    expect(openMemoryLog({ partitions: 2 }).streamHead('account', 'a').version).toBe(0);
    expect(openMemoryLog().partitions).toBe(16);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s partitions (InvalidOptions)', async (partitions) => {
    expect((await rejectionOf(() => openMemoryLog({ partitions }))).code).toBe('InvalidOptions');
  });

  it('resolves commits and view writes while timers are faked (they settle at a microtask)', async () => {
    vi.useFakeTimers();
    const { log, writer } = owned();
    await writer.commit([writer.stageAppend(deposit('a', 0))]);
    await log.views.putRow('v', 1, 'r', { n: 1 });
    expect(log.streamHead('account', 'a').version).toBe(1);
    expect(log.views.getRow('v', 1, 'r')).toEqual({ n: 1 });
  });

  it('refuses, when it applies, a batch whose offsets another writer took meanwhile; the writer\'s later batches with it', async () => {
    const { log, epoch, writer: first } = owned();
    const second = log.openWriter('second', epoch, [0]);
    // Both stage offset 0 before either applies: only applying can tell.
    const kept = first.commit([first.stageAppend(deposit('a', 0))]);
    const refused = second.commit([second.stageAppend(deposit('b', 0))]);
    const after = second.commit([second.stageAppend(deposit('c', 0))]);
    await kept;
    const err = await rejectionOf(refused);
    expect(err.code).toBe('CorruptRecord');
    expect(err.details).toEqual({ where: 'partitions [0,0]', partition: 0 });
    expect((await rejectionOf(after)).code).toBe('StorageFailed');
    expect(log.readPartition(0).map((e) => e.stream)).toEqual(['a']);
    expect(log.failure?.code).toBe('CorruptRecord');
  });

  it('refuses a batch whose alsoInBatch throws: nothing of it applies, its view writes neither, nor the writer\'s later batches', async () => {
    const { log, writer } = owned();
    const boom = new Error('a projection failed');
    const refused = writer.commit([writer.stageAppend(deposit('a', 0))], () => {
      void log.views.putRow('v', 1, 'r', { n: 1 });
      throw boom;
    });
    const after = writer.commit([writer.stageAppend(deposit('b', 0, 1))]);
    await expect(refused).rejects.toBe(boom);
    expect((await rejectionOf(after)).code).toBe('StorageFailed');
    await log.views.committed();
    expect(log.readStream('account', 'a')).toEqual([]);
    expect(log.readStream('account', 'b')).toEqual([]);
    expect(log.views.getRow('v', 1, 'r')).toBeUndefined();
    expect(log.failure?.code).toBe('Internal');
  });

  it('commits only what its own writers staged', async () => {
    const { writer } = owned();
    const other = owned().writer;
    expect((await rejectionOf(writer.commit([other.stageAppend(deposit('a', 0))]))).code).toBe('Internal');
  });

  it('refuses an append that would leave a gap in a stream (LMDB would store it and report the gap on read)', async () => {
    const { log, writer } = owned();
    const err = await rejectionOf(writer.commit([writer.stageAppend(deposit('a', 3))]));
    expect(err.code).toBe('Internal');
    expect(err.message).toMatch(/gap after seq 0/);
    expect(log.partitionHead(0)).toBe(0);
  });

  it('refuses a writer of a partition outside 0..P-1', () => {
    const log = openMemoryLog({ partitions: 2 });
    expect(() => log.openWriter('w', log.claimOwnership('test'), [2])).toThrow(/outside 0..1/);
  });

  it('lets the writes queued before close apply, refuses writes after it, and still answers reads', async () => {
    const { log, writer } = owned();
    const queued = writer.commit([writer.stageAppend(deposit('a', 0))]);
    await log.close();
    await queued;
    expect((await rejectionOf(writer.commit([writer.stageAppend(deposit('a', 1))]))).code).toBe('RuntimeClosed');
    expect((await rejectionOf(() => log.claimOwnership('late'))).code).toBe('RuntimeClosed');
    expect(log.streamHead('account', 'a').version).toBe(1);
  });
});
