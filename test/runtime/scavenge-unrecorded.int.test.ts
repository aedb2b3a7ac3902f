/**
 * A scavenge pass whose audit record cannot be appended (src/runtime/scavenge.ts, "Disk full"): the
 * removals it made stay made, the pass says so, and the record is kept and appended by the next pass
 * before it removes anything; while the record still cannot be appended, that pass removes nothing.
 * A pass the log stops mid-type (`writable` throws between steps) says what it removed, and the next
 * pass records that too. The Scavenger runs over a real LMDB log written by a runtime, with an audit
 * and a `writable` check that fail on demand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, RuntimeError, systemClock } from '../../src/kernel/index.js';
import { LmdbLog } from '../../src/log/index.js';
import { RetentionRules } from '../../src/runtime/retention.js';
import { Scavenger, type ScavengeParts } from '../../src/runtime/scavenge.js';
import { createRuntime } from '../../src/runtime/index.js';
import { rejectionOf } from '../support/errors.js';
import { meterDecider, meterDomain } from '../support/meter-domain.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await removeDir(dir);
  dir = undefined;
});

/** A log of meters m1 and m2 with 100 readings each (snapshots every 10), m1 cut at 76: 1..70 may go. */
async function seededLog(): Promise<LmdbLog> {
  dir = await makeTempDir('scavenge-unrecorded');
  const runtime = await createRuntime({ dataDir: dir, partitions: 2, workers: 1, domains: [meterDomain], snapshotEvery: 10, scavengeEveryMs: 0 });
  for (const id of ['m1', 'm2']) {
    for (let v = 0; v < 100; v += 10) await runtime.execute('meter', id, { type: 'RecordMany', data: { values: Array.from({ length: 10 }, (_, i) => v + i + 1) } });
  }
  await runtime.setRetention({ aggregateType: 'meter', id: 'm1' }, { maxCount: 25 });
  await runtime.close();
  return LmdbLog.open(dir);
}

function scavengerOver(log: LmdbLog, parts: Pick<ScavengeParts, 'audit'> & Partial<ScavengeParts>): Scavenger {
  return new Scavenger({
    log,
    rules: new RetentionRules(log, systemClock),
    deciders: new Map([['meter', meterDecider]]),
    snapshotEvery: 10,
    snapshotThinning: 1,
    pluginModules: [],
    acknowledged: (p) => log.partitionHead(p),
    open: () => true,
    ...parts,
  });
}

describe('a scavenge whose audit record cannot be appended', () => {
  it('keeps the removals, says what was removed, and records it first in the next pass', async () => {
    const log = await seededLog();
    try {
      const recorded: Record<string, unknown>[] = [];
      let failing = true;
      const scavenger = scavengerOver(log, {
        audit: async (kind, record) => {
          if (failing) throw new RuntimeError(ErrorCodes.StorageFailed, 'the audit stream refuses writes. retry later', { cause: 'ENOSPC', outcome: 'not-applied' });
          recorded.push({ kind, ...record });
        },
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

  it('stopped by the log between two steps of a type: says what it removed, and the next pass records it', async () => {
    const log = await seededLog();
    try {
      const recorded: Record<string, unknown>[] = [];
      let checks = 0;
      let stopAt = 4; // checks: at the start, then before each step: the fourth comes after two steps of 20
      const scavenger = scavengerOver(log, {
        audit: async (kind, record) => void recorded.push({ kind, ...record }),
        writable: () => {
          if (++checks === stopAt) throw new RuntimeError(ErrorCodes.StorageFailed, 'disk full (ENOSPC): 10 bytes free on /data. refused', { cause: 'ENOSPC', outcome: 'not-applied' });
        },
      });
      const stopped = await rejectionOf(scavenger.run({ budget: 20 }));
      expect(stopped.message).toMatch(/^the scavenge pass stopped: the log refuses writes now \(disk full \(ENOSPC\): 10 bytes free on \/data\); it stopped after removing 40 events and 0 index offsets/);
      expect(log.streamStart('meter', 'm1')).toBe(41);
      expect(recorded).toEqual([]);

      stopAt = 0;
      expect(await scavenger.run({ budget: 20 })).toMatchObject({ streams: 1, events: 30 });
      expect(recorded.map((r) => (r as { details: { events: number } }).details.events)).toEqual([40, 30]);
      expect(log.streamStart('meter', 'm1')).toBe(71);
    } finally {
      await log.close();
    }
  });
});
