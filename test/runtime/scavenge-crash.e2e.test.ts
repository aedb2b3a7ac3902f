/**
 * A scavenge killed with SIGKILL at random points (a real child process) loses nothing that should stay:
 * after each kill, `verify` finds the log intact, every stream's state is whole, every event at or after
 * its cut is there and contiguous from the stream's start to its head; the next pass finishes the job.
 * LMDB only (a memory log has nothing to survive a kill).
 */
import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/index.js';
import { builtinDomains } from '../../src/runtime/index.js';
import { verifyDataDir } from '../../src/log/lmdb/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { runTsScript } from '../support/child-process.js';
import { meterDomain } from '../support/meter-domain.js';
import { ON_DISK, useRuntimes } from '../support/runtimes.js';

const METERS = 40;
const READINGS = 200;
const KEEP = 30;
const sum = (n: number): number => (n * (n + 1)) / 2;
const child = new URL('../support/scavenge-child.ts', import.meta.url);

describe.runIf(ON_DISK)('scavenge under kill -9', () => {
  const runtimes = useRuntimes('scavenge-crash', { domains: [...builtinDomains, meterDomain], partitions: 4, workers: 1, snapshotEvery: 10, scavengeEveryMs: 0 });

  /** Everything that must hold whatever the scavenge got to; returns each meter's start. */
  async function check(runtime: Runtime): Promise<number[]> {
    const starts: number[] = [];
    for (let m = 0; m < METERS; m++) {
      const id = `m${m}`;
      expect((await runtime.load('meter', id)).state).toEqual({ count: READINGS, sum: sum(READINGS) });
      const start = runtime.log.streamStart('meter', id);
      // Never past the cut (READINGS - KEEP + 1), and always right after a kept snapshot or mid-way of a step.
      expect(start).toBeLessThanOrEqual(READINGS - KEEP + 1);
      const events = runtime.log.readStream('meter', id);
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: READINGS - start + 1 }, (_, i) => start + i));
      expect(events.map((e) => (e.data as { value: number }).value)).toEqual(events.map((e) => e.seq));
      // The time machine from the cut on.
      expect((await runtime.load('meter', id, { version: READINGS - KEEP + 1 })).state).toEqual({ count: READINGS - KEEP + 1, sum: sum(READINGS - KEEP + 1) });
      starts.push(start);
    }
    return starts;
  }

  it('leaves a consistent prefix removed after every kill, and the next pass completes it', { timeout: 240_000 }, async () => {
    const dataDir = await runtimes.dataDir();
    let runtime = await runtimes.start({ dataDir });
    // Every meter's command of a round sent at once: one drain, so a partition's index records mix meters
    // and the scavenge rewrites them around what it removes (prefix-removal.ts) as well as dropping them.
    for (let v = 0; v < READINGS; v += 50) {
      const values = Array.from({ length: 50 }, (_, i) => v + i + 1);
      await Promise.all(Array.from({ length: METERS }, (_, m) => runtime.execute('meter', `m${m}`, { type: 'RecordMany', data: { values } }, { commandId: `m${m}-${v}` })));
    }
    await runtime.setRetention({ aggregateType: 'meter' }, { maxCount: KEEP });
    await runtimes.close(runtime);

    let partial = 0;
    let previous = Array.from({ length: METERS }, () => 1);
    for (let round = 0; round < 6; round++) {
      const run = runTsScript(child, [dataDir, '8']);
      await run.waitForLines(1);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 600)));
      const lines = await run.kill();
      const verified = await verifyDataDir(dataDir, { partitionOf });
      expect(verified.ok, JSON.stringify([...verified.partitions.flatMap((p) => p.problems), ...verified.other.problems])).toBe(true);
      runtime = await runtimes.start({ dataDir });
      const starts = await check(runtime);
      await runtimes.close(runtime);
      // Marks only move forward.
      starts.forEach((s, i) => expect(s).toBeGreaterThanOrEqual(previous[i]!));
      previous = starts;
      const done = lines.some((l) => l.startsWith('done'));
      if (!done && starts.some((s) => s > 1) && starts.some((s) => s < READINGS - KEEP + 1)) partial++;
      if (done) break;
    }
    // The kills did land mid-pass (else this test proved nothing about them).
    expect(partial).toBeGreaterThan(0);

    runtime = await runtimes.start({ dataDir });
    const report = await runtime.scavenge();
    expect(report.skipped).toEqual([]);
    const starts = await check(runtime);
    // The newest snapshot before the cut (171) is at 170.
    expect(starts).toEqual(Array.from({ length: METERS }, () => 171));
    await runtimes.close(runtime);
    const verified = await verifyDataDir(dataDir, { partitionOf });
    expect(verified.ok).toBe(true);
  });
});
