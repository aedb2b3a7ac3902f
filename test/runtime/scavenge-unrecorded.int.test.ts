/**
 * A scavenge pass whose audit record cannot be appended (src/runtime/scavenge.ts, "Disk full"): the
 * removals it made stay made, the pass says so, and the record is kept and appended by the next pass
 * before it removes anything; while the record still cannot be appended, that pass removes nothing.
 * The Scavenger runs over a real LMDB log written by a runtime, with an audit that fails on demand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, RuntimeError, systemClock } from '../../src/kernel/index.js';
import { LmdbLog } from '../../src/log/index.js';
import { RetentionRules } from '../../src/runtime/retention.js';
import { Scavenger } from '../../src/runtime/scavenge.js';
import { createRuntime } from '../../src/runtime/index.js';
import { rejectionOf } from '../support/errors.js';
import { meterDecider, meterDomain } from '../support/meter-domain.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await removeDir(dir);
  dir = undefined;
});

describe('a scavenge whose audit record cannot be appended', () => {
  it('keeps the removals, says what was removed, and records it first in the next pass', async () => {
    dir = await makeTempDir('scavenge-unrecorded');
    const runtime = await createRuntime({ dataDir: dir, partitions: 2, workers: 1, domains: [meterDomain], snapshotEvery: 10, scavengeEveryMs: 0 });
    for (const id of ['m1', 'm2']) {
      for (let v = 0; v < 100; v += 10) await runtime.execute('meter', id, { type: 'RecordMany', data: { values: Array.from({ length: 10 }, (_, i) => v + i + 1) } });
    }
    await runtime.setRetention({ aggregateType: 'meter', id: 'm1' }, { maxCount: 25 }); // cut at 76: 1..70 may go
    await runtime.close();

    const log = LmdbLog.open(dir);
    try {
      const recorded: Record<string, unknown>[] = [];
      let failing = true;
      const scavenger = new Scavenger({
        log,
        rules: new RetentionRules(log, systemClock),
        deciders: new Map([['meter', meterDecider]]),
        snapshotEvery: 10,
        snapshotThinning: 1,
        pluginModules: [],
        acknowledged: (p) => log.partitionHead(p),
        audit: async (kind, record) => {
          if (failing) throw new RuntimeError(ErrorCodes.StorageFailed, 'the audit stream refuses writes. retry later', { cause: 'ENOSPC', outcome: 'not-applied' });
          recorded.push({ kind, ...record });
        },
        open: () => true,
      });

      const first = await rejectionOf(scavenger.run({ by: 'ops' }));
      expect(first.message).toBe('the scavenge removed 70 events of type meter but could not record it in the audit stream (the audit stream refuses writes); the next pass records it before it removes anything');
      expect(first).toMatchObject({ code: 'StorageFailed', retriable: true, details: { cause: 'ENOSPC' } });
      expect(first.details.outcome).toBeUndefined(); // the removals were made: a command's outcome says nothing here
      expect(log.streamStart('meter', 'm1')).toBe(71); // what was removed stays removed

      await log.setRetention('meter', 'm2', { maxCount: 15 }); // more to remove: 1..80
      const second = await rejectionOf(scavenger.run({ by: 'ops' }));
      expect(second.message).toBe('the scavenge pass could not record what an earlier pass removed (70 events of type meter) (the audit stream refuses writes); nothing was removed; the next pass tries again');
      expect(log.streamStart('meter', 'm2')).toBe(1); // nothing removed before the pending record is written

      failing = false;
      const third = await scavenger.run({ by: 'ops' });
      expect(third).toMatchObject({ streams: 1, events: 80 });
      expect(recorded).toEqual([
        { kind: 'ScavengeCompleted', target: { aggregateType: 'meter' }, by: 'ops', details: { streams: 1, events: 70, pages: expect.any(Number), snapshots: expect.any(Number), commands: expect.any(Number) } },
        { kind: 'ScavengeCompleted', target: { aggregateType: 'meter' }, by: 'ops', details: { streams: 1, events: 80, pages: expect.any(Number), snapshots: expect.any(Number), commands: expect.any(Number) } },
      ]);
      expect(await scavenger.run()).toMatchObject({ streams: 0, events: 0 });
      expect(recorded).toHaveLength(2);
    } finally {
      await log.close();
    }
  });
});
