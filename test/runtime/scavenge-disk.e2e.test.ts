/**
 * A 1M-event stream with `maxCount` keeps its disk use bounded under load: commands append 1 000 000
 * readings to one meter (1 000 per command) while the background scavenge runs every 200 ms. Two sizes,
 * each against a yardstick measured first in the same file (what 100k of the same events take with no
 * retention, in the same partition, where they stay in front of the big stream's index records):
 * - the pages in use (every database's B-tree and overflow pages, from LMDB's own stats): what the
 *   scavenge controls. Over the second half they stay under the yardstick at every sample, where
 *   unscavenged they would be 5 to 10 times it;
 * - the file: LMDB's high-water mark, which also holds the freed pages a read transaction still pinned
 *   when a write needed room (bench/README.md, "Why the log file grows in steps"). On a loaded box a
 *   preempted reader can pin seconds of freed pages (a CI run grew the file by 0.64x the yardstick over the
 *   second half), so its bound is the loose one: 3x the yardstick for 1M events.
 * The command latencies are printed, not asserted (timing belongs in bench/: "Data lifecycle"). LMDB only.
 */
import { statSync } from 'node:fs';
import { open, type RootDatabase } from 'lmdb';
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

/**
 * Bytes of the pages in use by every database of the file (LMDB's stats; free pages not counted). The
 * databases are opened once, before any write: `openDB` runs a synchronous write transaction, which on
 * the main thread could wait for this thread's own pending async write (the scavenge's step) forever.
 */
function livePages(root: RootDatabase): () => number {
  const dbs = [...root.getKeys()].filter((name): name is string => typeof name === 'string').map((name) => root.openDB({ name }));
  return () => {
    let bytes = 0;
    for (const db of dbs) {
      const stats = db.getStats() as { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
      bytes += (stats.treeBranchPageCount + stats.treeLeafPageCount + stats.overflowPages) * stats.pageSize;
    }
    return bytes;
  };
}

describe.runIf(ON_DISK)('scavenge: bounded disk', () => {
  const runtimes = useRuntimes('scavenge-disk', { domains: [...builtinDomains, meterDomain], partitions: 4, workers: 1, snapshotEvery: 1_000 });

  it('a 1M-event stream with maxCount stays within a bounded log file while commands go on', { timeout: 600_000 }, async () => {
    const dataDir = await runtimes.dataDir();
    const runtime = await runtimes.start({ dataDir, scavengeEveryMs: 200 });
    // lmdb-js shares the runtime's environment with this open (same file, same process): reads only.
    const root = open({ path: join(dataDir, 'log.mdb'), maxDbs: 16 });
    const live = livePages(root);
    await runtime.setRetention({ aggregateType: 'meter', id: 'big' }, { maxCount: KEEP });
    const size = () => statSync(join(dataDir, 'log.mdb')).size;
    const values = Array.from({ length: PER_COMMAND }, (_, i) => i % 1000);
    // The yardstick: what 100k of the same events take with no retention, in the same file.
    const empty = size();
    const emptyLive = live();
    // In the big stream's partition: its kept events pin the front of that partition's index, so the big
    // stream's refs leave it only by the rewrite around each step (prefix-removal.ts).
    const kept = ['kept', 'kept-1', 'kept-2', 'kept-3', 'kept-4', 'kept-5'].find((id) => partitionOf(id, runtime.log.partitions) === partitionOf('big', runtime.log.partitions))!;
    for (let n = 0; n < REFERENCE; n += PER_COMMAND) await runtime.execute('meter', kept, { type: 'RecordMany', data: { values } });
    const reference = size() - empty;
    const referenceLive = live() - emptyLive;
    const sizes: number[] = [];
    const lives: number[] = [];
    const backlog: number[] = [];
    const latencies: number[] = [];
    for (let n = 0; n < TOTAL; n += PER_COMMAND) {
      const t = performance.now();
      await runtime.execute('meter', 'big', { type: 'RecordMany', data: { values } });
      latencies.push(performance.now() - t);
      if ((n + PER_COMMAND) % 100_000 === 0) {
        sizes.push(size());
        lives.push(live() - emptyLive - referenceLive);
        backlog.push(runtime.log.streamHead('meter', 'big').version - runtime.log.streamStart('meter', 'big') + 1);
      }
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
    console.log(
      `100k events with no retention: file +${mib(reference)} MiB, pages in use +${mib(referenceLive)} MiB; every 100k events of the 1M: log.mdb ${sizes.map(mib).join(', ')} MiB; ` +
        `pages in use past the yardstick's ${lives.map(mib).join(', ')} MiB; its stored events ${backlog.join(', ')}; ` +
        `command (1 000 events) p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms; last pass: ${JSON.stringify(runtime.lastScavenge)}`,
    );
    // Bounded: what is in use stays under what 100k unscavenged events take, all through the second half.
    for (const bytes of lives.slice(4)) expect(bytes).toBeLessThan(referenceLive);
    // The file grows in steps (its high-water mark: the kept events, what a pass had not removed yet, the
    // pages readers still pinned) and never shrinks: its bound is the loose one (see the header).
    const growth = sizes.at(-1)! - (empty + reference);
    console.log(`file growth over the 1M events: ${mib(growth)} MiB = ${(growth / reference).toFixed(2)} x the 100k yardstick`);
    expect(growth).toBeLessThan(3 * reference);
  });
});
