/**
 * DESIGN invariant 1, the assignment: every aggregate maps to one partition (hash mod P), every
 * partition to exactly one worker (p mod W), and P is fixed when the data dir is created.
 */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createRuntime, partitionOf, type AccountState } from '../../src/index.js';
import { runTsScript } from '../support/child-process.js';
import { rejectionOf } from '../support/errors.js';
import { expectContiguousPartitions } from '../support/log-checks.js';
import { useRuntimes, ON_DISK, TEST_LOG } from '../support/runtimes.js';

describe('partition map', () => {
  const runtimes = useRuntimes('partitions');

  it.each([
    { partitions: 4, workers: 2, expectedWorkers: 2 },
    { partitions: 5, workers: 3, expectedWorkers: 3 },
    { partitions: 2, workers: 4, expectedWorkers: 2 },
  ])('lists each of $partitions partitions once, owned by worker p mod $expectedWorkers (asked for $workers workers)', async ({ partitions, workers, expectedWorkers }) => {
    const rt = await runtimes.start({ partitions, workers });
    expect(rt.partitionCount).toBe(partitions);
    expect(rt.workerCount).toBe(expectedWorkers);
    const ids = Array.from({ length: 40 }, (_, i) => `pm-${i}`);
    await Promise.all(ids.map((id) => rt.execute('account', id, { type: 'Open', data: { owner: id } })));

    const map = rt.partitions();
    expect(map.map((p) => p.partition)).toEqual(Array.from({ length: partitions }, (_, p) => p));
    for (const p of map) expect(p.worker).toBe(p.partition % expectedWorkers);

    // Offsets count the events of each partition, and each stream sits in the partition its id hashes to.
    const events = expectContiguousPartitions(rt.log);
    expect(map.map((p) => p.offset)).toEqual(events.map((e) => e.length));
    for (const id of ids) expect((await rt.history('account', id))[0]!.partition).toBe(partitionOf(id, partitions));

    // Each worker reports exactly the partitions it owns.
    const stats = await rt.stats();
    expect(stats.map((s) => s.workerIndex)).toEqual(Array.from({ length: expectedWorkers }, (_, w) => w));
    for (const s of stats) {
      expect(Object.keys(s.offsets).map(Number).sort((a, b) => a - b)).toEqual(map.filter((p) => p.worker === s.workerIndex).map((p) => p.partition));
      for (const [p, off] of Object.entries(s.offsets)) expect(off).toBe(map[Number(p)]!.offset);
    }
  });

  // One writer per LMDB log (bench/README.md "One committer per log"): a second worker would split
  // the commits and wait for the first's write transaction. The memory log has no shared writer.
  it('runs one worker on the LMDB log unless asked for more, one per core (at most P) on the memory log', async () => {
    const rt = await createRuntime({ dataDir: await runtimes.dataDir(), partitions: 4, ...TEST_LOG });
    try {
      expect(rt.workerCount).toBe(ON_DISK ? 1 : Math.min(availableParallelism(), 4));
      expect((await rt.execute('account', 'dw-1', { type: 'Open', data: { owner: 'dw' } })).version).toBe(1);
    } finally {
      await rt.close();
    }
  });

  it.runIf(ON_DISK)('keeps the partition count of an existing data dir and refuses another with PartitionMismatch', async () => {
    const dataDir = await runtimes.dataDir();
    const first = await runtimes.start({ dataDir, partitions: 3, workers: 1 });
    await first.execute('account', 'stay', { type: 'Open', data: { owner: 'ann' } });
    await runtimes.close(first);

    const err = await rejectionOf(runtimes.start({ dataDir, partitions: 6, workers: 1 }));
    expect(err.code).toBe('PartitionMismatch');
    expect(err.details).toMatchObject({ stored: 3, requested: 6 });

    const again = await runtimes.start({ dataDir, partitions: undefined, workers: 1 });
    expect(again.partitionCount).toBe(3);
    expect((await again.load<AccountState>('account', 'stay')).state.open).toBe(true);
  });

  describe('one writer per data dir', () => {
    it.runIf(ON_DISK)('refuses a second process while a runtime has the data dir open, and lets it in once closed', async () => {
      const dataDir = await runtimes.dataDir();
      const rt = await runtimes.start({ dataDir, workers: 1 });
      const refused = runTsScript(new URL('../support/open-runtime.ts', import.meta.url), [dataDir]);
      await refused.exited;
      expect(refused.lines, refused.stderr()).toEqual(['error DataDirLocked']);
      await runtimes.close(rt);
      const admitted = runTsScript(new URL('../support/open-runtime.ts', import.meta.url), [dataDir]);
      await admitted.exited;
      expect(admitted.lines, admitted.stderr()).toEqual(['opened']);
    });

    it.runIf(ON_DISK)('refuses a second runtime on a data dir that is already open in this process', async () => {
      const dataDir = await runtimes.dataDir();
      const first = await runtimes.start({ dataDir, workers: 1 });
      await first.execute('account', 'solo', { type: 'Open', data: { owner: 'ann' } });
      // Two runtimes would each own every partition and assign the same offsets twice (invariant 1).
      const err = await rejectionOf(runtimes.start({ dataDir, workers: 1 }));
      expect(err.code).toBe('DataDirLocked');
    });
  });
});
