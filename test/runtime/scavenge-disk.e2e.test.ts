/**
 * A 1M-event stream with `maxCount` keeps its disk use bounded under load: commands append 1 000 000
 * readings to one meter (1 000 per command) while the background scavenge runs every 200 ms; the log
 * file grows by less than 200k of the same events take with no retention (measured first, in the same
 * file, in another partition), where unscavenged it would grow by 10 times that, and stays flat over the
 * second half. The command latencies are printed, not asserted (timing belongs in bench/: "Data
 * lifecycle"). LMDB only.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtinDomains } from '../../src/runtime/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { meterDomain } from '../support/meter-domain.js';
import { ON_DISK, useRuntimes } from '../support/runtimes.js';

const TOTAL = 1_000_000;
const PER_COMMAND = 1_000;
const KEEP = 10_000;
const REFERENCE = 100_000;

describe.runIf(ON_DISK)('scavenge: bounded disk', () => {
  const runtimes = useRuntimes('scavenge-disk', { domains: [...builtinDomains, meterDomain], partitions: 4, workers: 1, snapshotEvery: 1_000 });

  it('a 1M-event stream with maxCount stays within a bounded log file while commands go on', { timeout: 600_000 }, async () => {
    const dataDir = await runtimes.dataDir();
    const runtime = await runtimes.start({ dataDir, scavengeEveryMs: 200 });
    await runtime.setRetention({ aggregateType: 'meter', id: 'big' }, { maxCount: KEEP });
    const size = () => statSync(join(dataDir, 'log.mdb')).size;
    const values = Array.from({ length: PER_COMMAND }, (_, i) => i % 1000);
    // The yardstick: what 100k of the same events take with no retention, in the same file.
    const empty = size();
    // In another partition than the big stream: its kept events would pin the front of that partition's
    // index (dropped from its front only: docs/data-lifecycle.md, "Limits").
    const kept = ['kept', 'kept-1', 'kept-2', 'kept-3', 'kept-4', 'kept-5'].find((id) => partitionOf(id, runtime.log.partitions) !== partitionOf('big', runtime.log.partitions))!;
    for (let n = 0; n < REFERENCE; n += PER_COMMAND) await runtime.execute('meter', kept, { type: 'RecordMany', data: { values } });
    const reference = size() - empty;
    const sizes: number[] = [];
    const latencies: number[] = [];
    for (let n = 0; n < TOTAL; n += PER_COMMAND) {
      const t = performance.now();
      await runtime.execute('meter', 'big', { type: 'RecordMany', data: { values } });
      latencies.push(performance.now() - t);
      if ((n + PER_COMMAND) % 100_000 === 0) sizes.push(size());
    }
    // The last pass catches up with the last commands.
    await runtime.scavenge();
    const start = runtime.log.streamStart('meter', 'big');
    expect(runtime.log.streamHead('meter', 'big').version).toBe(TOTAL);
    // Everything up to the newest snapshot before the cut is gone; what is kept is there.
    expect(start).toBe(TOTAL - KEEP + 1);
    expect(runtime.log.readEvent('meter', 'big', start - 1)).toBeUndefined();
    expect(runtime.log.readEvent('meter', 'big', TOTAL - KEEP + 1)).toBeDefined();
    expect((await runtime.load('meter', 'big')).state).toMatchObject({ count: TOTAL });
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    console.log(`100k events with no retention: ${mib(reference)} MiB; log.mdb every 100k events of the 1M (MiB): ${sizes.map((s) => (s / 2 ** 20).toFixed(1)).join(', ')}; command (1 000 events) p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms; last pass: ${JSON.stringify(runtime.lastScavenge)}`);
    // Bounded: the 1M events grew the file by less than 200k unscavenged ones do (10x the yardstick
    // for 1M). LMDB reuses a freed page only once no read transaction can still see it, so the file grows
    // in steps (its high-water mark: the kept events plus what a pass had not removed yet, plus the pages
    // readers still pinned) and never shrinks: the bound is loose on purpose (bench/README.md, "Data lifecycle").
    const growth = sizes.at(-1)! - (empty + reference);
    console.log(`growth over the 1M events: ${mib(growth)} MiB = ${(growth / reference).toFixed(2)} x the 100k yardstick`);
    expect(growth).toBeLessThan(2 * reference);
    // And flat: the second half of the 1M events grows it by less than half the yardstick (0 in a run
    // alone on the box; readers pinning pages on a loaded box leave a step or two).
    expect(sizes.at(-1)! - sizes[4]!).toBeLessThan(reference / 2);
  });
});
