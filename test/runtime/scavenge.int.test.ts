/**
 * The scavenge (docs/data-lifecycle.md, "Scavenge"): what retention hides is physically removed, behind
 * a snapshot of the decider's current version, never past what the read models consumed, never from a
 * type a view folds whole. The current state, the time machine from the cut on and history keep working;
 * what was removed stays gone when the settings are relaxed. Runs on LMDB and on the memory log.
 */
import { describe, expect, it } from 'vitest';
import { createEventide, type Runtime } from '../../src/index.js';
import { builtinDomains } from '../../src/runtime/index.js';
import { builtinViews } from '../../src/projections/index.js';
import { join } from 'node:path';
import { salvageLog, verifyDataDir } from '../../src/log/lmdb/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { rejectionOf } from '../support/errors.js';
import { meterDomain } from '../support/meter-domain.js';
import { meterLastViewModule } from '../support/meter-last-view.js';
import { withViews } from '../support/projections-runtime.js';
import { ON_DISK, TEST_DEFAULTS, TEST_LOG, useRuntimes } from '../support/runtimes.js';

const domains = [...builtinDomains, meterDomain];
const seqs = (events: { seq: number }[]): number[] => events.map((e) => e.seq);
const sum = (n: number): number => (n * (n + 1)) / 2;

/** Meter `id` gets readings 1..n, ten per command, command ids `<id>-c1`, `<id>-c2`, ... */
async function readings(runtime: Runtime, id: string, n: number): Promise<void> {
  for (let v = 0; v < n; v += 10) {
    const values = Array.from({ length: Math.min(10, n - v) }, (_, i) => v + i + 1);
    await runtime.execute('meter', id, { type: 'RecordMany', data: { values } }, { commandId: `${id}-c${v / 10 + 1}` });
  }
}

describe('scavenge', () => {
  const runtimes = useRuntimes('scavenge', { domains, snapshotEvery: 10, scavengeEveryMs: 0 });

  it('removes what retention hides behind a snapshot: the state, the time machine from the cut and history still answer; relaxed settings do not bring it back', async () => {
    const dataDir = await runtimes.dataDir();
    let runtime = await runtimes.start({ dataDir });
    await readings(runtime, 'm1', 100);
    await readings(runtime, 'm2', 30); // no retention: untouched
    await runtime.setRetention({ aggregateType: 'meter', id: 'm1' }, { maxCount: 25 }); // cut: 76

    const report = await runtime.scavenge();
    // The newest snapshot before the cut is at 70: events 1..70 go, with the command records of c1..c7.
    expect(report).toMatchObject({ streams: 1, events: 70, commands: 7, skipped: [] });
    expect(runtime.lastScavenge).toMatchObject({ report: { events: 70 } });
    expect(runtime.log.streamStart('meter', 'm1')).toBe(71);
    expect(runtime.log.streamStart('meter', 'm2')).toBe(1);
    expect(runtime.log.readEvent('meter', 'm1', 70)).toBeUndefined();
    expect(runtime.log.snapshotVersions('meter', 'm1').at(-1)).toBe(70);

    const check = async (rt: Runtime) => {
      expect((await rt.load('meter', 'm1')).state).toEqual({ count: 100, sum: sum(100) });
      expect((await rt.load('meter', 'm1', { version: 76 })).state).toEqual({ count: 76, sum: sum(76) });
      expect((await rejectionOf(rt.load('meter', 'm1', { version: 75 }))).code).toBe('Gone');
      expect(seqs(await rt.history('meter', 'm1'))).toEqual(Array.from({ length: 25 }, (_, i) => 76 + i));
      expect((await rt.load('meter', 'm2')).state).toEqual({ count: 30, sum: sum(30) });
      expect(seqs(await rt.history('meter', 'm2'))[0]).toBe(1);
    };
    await check(runtime);
    // Recorded in the audit stream, with the counts.
    const audit = (await runtime.history('$audit', 'lifecycle')).filter((e) => e.type === 'ScavengeCompleted');
    expect(audit.map((e) => e.data)).toEqual([expect.objectContaining({ target: { aggregateType: 'meter' }, by: null, details: expect.objectContaining({ streams: 1, events: 70, commands: 7 }) })]);
    // Nothing left to remove: a second pass removes nothing and records nothing.
    expect(await runtime.scavenge()).toMatchObject({ streams: 0, events: 0 });

    // Relaxed settings show what is still stored, never what was removed.
    await runtime.setRetention({ aggregateType: 'meter', id: 'm1' }, null);
    expect(seqs(await runtime.history('meter', 'm1'))[0]).toBe(71);
    const gone = await rejectionOf(runtime.load('meter', 'm1', { version: 70 }));
    expect(gone).toMatchObject({ code: 'Gone', details: { firstVersion: 71 } });
    expect((await runtime.load('meter', 'm1', { version: 71 })).state).toEqual({ count: 71, sum: sum(71) });
    await runtime.setRetention({ aggregateType: 'meter', id: 'm1' }, { maxCount: 25 });

    // Commands go on after the head; the id of a command whose events were removed is not recognised
    // any more (idempotency reaches back as far as retention keeps events), a kept one still is.
    const kept = await runtime.execute('meter', 'm1', { type: 'RecordMany', data: { values: [91, 92, 93, 94, 95, 96, 97, 98, 99, 100] } }, { commandId: 'm1-c10' });
    expect(kept).toMatchObject({ version: 100, duplicate: true });
    const again = await runtime.execute('meter', 'm1', { type: 'RecordMany', data: { values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } }, { commandId: 'm1-c1' });
    expect(again.version).toBe(110);

    if (ON_DISK) {
      // From the disk alone: hydration, the time machine and verify agree.
      await runtimes.close(runtime);
      const report = await verifyDataDir(dataDir, { partitionOf });
      expect(report.ok, JSON.stringify(report.partitions.flatMap((p) => p.problems))).toBe(true);
      // A salvage of the scavenged dir keeps the stream from its start, with the snapshot it hydrates from.
      const into = join(await runtimes.dataDir(), 'salvaged');
      const salvaged = await salvageLog(dataDir, into);
      expect(salvaged).toMatchObject({ ok: true, lost: [], derived: { snapshots: 1 } });
      for (const dir of [dataDir, into]) {
        runtime = await runtimes.start({ dataDir: dir });
        expect((await runtime.load('meter', 'm1')).state).toEqual({ count: 110, sum: sum(100) + sum(10) });
        expect((await runtime.load('meter', 'm1', { version: 100 })).state).toEqual({ count: 100, sum: sum(100) });
        expect(seqs(await runtime.history('meter', 'm1'))[0]).toBe(86);
        expect(runtime.log.streamStart('meter', 'm1')).toBe(71);
        await runtimes.close(runtime);
      }
      expect((await verifyDataDir(into, { partitionOf })).ok).toBe(true);
    }
  });

  it('leaves a type a view folds whole, passes over what a view has not consumed, and lets a view that follows retention rebuild to the same rows', async () => {
    const app = await createEventide({ ...TEST_DEFAULTS, ...TEST_LOG, dataDir: await runtimes.dataDir(), domains, views: [...builtinViews, meterLastViewModule], snapshotEvery: 10, scavengeEveryMs: 0 });
    try {
      const { runtime, views } = app;
      await runtime.execute('account', 'a1', { type: 'Open', data: { owner: 'Ada' } });
      for (let i = 0; i < 29; i++) await runtime.execute('account', 'a1', { type: 'Deposit', data: { amount: 1 } });
      await readings(runtime, 'm1', 100);
      await runtime.setRetention({ aggregateType: 'account' }, { maxCount: 5 });
      await runtime.setRetention({ aggregateType: 'meter' }, { maxCount: 25 });
      const last = runtime.log.readEvent('meter', 'm1', 100)!;
      await views.waitFor('meter-last', { partition: last.partition, offset: last.offset });
      const a1 = runtime.log.streamHead('account', 'a1');
      await views.waitFor('balances', { partition: partitionOf('a1', runtime.log.partitions), offset: a1.offset! });

      const report = await runtime.scavenge();
      expect(report).toMatchObject({ streams: 1, events: 70 });
      expect(report.skipped).toEqual([{ aggregateType: 'account', reason: expect.stringContaining('view balances folds every account event') }]);
      expect(runtime.log.streamStart('account', 'a1')).toBe(1);
      expect((await views.get('balances', 'a1')).row).toMatchObject({ balance: 29 });

      const before = (await views.get('meter-last', 'm1')).row;
      expect(before).toEqual({ last: 100, seq: 100 });
      const rebuilt = await views.rebuild('meter-last');
      expect(rebuilt.state).toBe('swapped');
      expect((await views.get('meter-last', 'm1')).row).toEqual(before);
    } finally {
      await app.close();
    }
  });

  it('never removes an event a guard has not consumed, nor past it in the partition index', async () => {
    const runtime = await runtimes.start();
    await readings(runtime, 'm1', 100);
    await runtime.setRetention({ aggregateType: 'meter', id: 'm1' }, { maxCount: 25 });
    const p = runtime.log.readEvent('meter', 'm1', 1)!.partition;
    const upTo = runtime.log.readEvent('meter', 'm1', 45)!.offset;
    const unguard = runtime.guardScavenge({ name: 'slow reader', consumed: (q) => (q === p ? upTo : Number.MAX_SAFE_INTEGER), keeps: () => null });
    // Read up to event 44: the newest snapshot whose event it has read is at 40.
    expect(await runtime.scavenge()).toMatchObject({ streams: 1, events: 40 });
    expect(runtime.log.streamStart('meter', 'm1')).toBe(41);
    expect(runtime.log.partitionStart(p)).toBeLessThanOrEqual(upTo);
    unguard();
    expect(await runtime.scavenge()).toMatchObject({ streams: 1, events: 30 });
    expect(runtime.log.streamStart('meter', 'm1')).toBe(71);
  });

  it('starts hydration only from a snapshot the thinning keeps for good', async () => {
    // Thinning 3: of the snapshots at multiples of 10, those older than the newest ten go unless their
    // index is a multiple of 3. The one at 70 (index 7) would go later; 60 (index 6) stays.
    const runtime = await runtimes.start({ snapshotThinning: 3 });
    await readings(runtime, 'm1', 100);
    await runtime.setRetention({ aggregateType: 'meter', id: 'm1' }, { maxCount: 25 });
    expect(await runtime.scavenge()).toMatchObject({ streams: 1, events: 60 });
    expect(runtime.log.streamStart('meter', 'm1')).toBe(61);
    expect((await runtime.load('meter', 'm1', { version: 76 })).state).toEqual({ count: 76, sum: sum(76) });
  });

  it('removes nothing while a worker plugin reads the log with no guard registered', async () => {
    const runtime = await runtimes.start({ ...withViews() });
    await readings(runtime, 'm1', 100);
    await runtime.setRetention({ aggregateType: 'meter', id: 'm1' }, { maxCount: 25 });
    const report = await runtime.scavenge();
    expect(report).toMatchObject({ streams: 0, events: 0 });
    expect(report.skipped[0]!.reason).toContain('registered no scavenge guard');
    expect(runtime.log.streamStart('meter', 'm1')).toBe(1);
  });

  it('refuses a scavenge of an unknown type or of an id without its type', async () => {
    const runtime = await runtimes.start();
    expect((await rejectionOf(runtime.scavenge({ aggregateType: 'nope' }))).code).toBe('UnknownAggregateType');
    expect((await rejectionOf(runtime.scavenge({ id: 'm1' }))).code).toBe('InvalidQuery');
    expect((await rejectionOf(runtime.scavenge({ aggregateType: 'meter', id: 'bad id' }))).code).toBe('InvalidId');
  });
});
