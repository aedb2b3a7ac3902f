/**
 * Baseline `raw-flush`: the latency floor of an acknowledged write on this machine's disk. One
 * lmdb-js put of one framed record, then wait for `flushed` (the runtime's default `sync` durability),
 * one at a time: every sample is one commit plus one fsync, with no batching to amortise it. A
 * command's latency under `sync` durability can be no lower; its tail follows the disk's tail.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { encodeRecord } from '../../src/log/lmdb/record-codec.js';
import { summarise, type LatencySummary } from '../support/stats.js';
import { withTempDir } from '../support/tmp.js';

export async function rawFlushLatency(samples: number): Promise<LatencySummary> {
  return withTempDir('raw-flush', async (dir) => {
    const root = open({ path: join(dir, 'log.mdb'), noSync: false, useWritemap: false });
    const db = root.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
    const value = encodeRecord(['Deposited', { amount: 1 }, 1_700_000_000_000, 0, 0, null], 'events', ['account', 'acct-0', 1]);
    const ms: number[] = [];
    try {
      for (let i = 0; i < samples; i++) {
        const t0 = performance.now();
        void db.put(['account', 'acct-0', i + 1], value);
        await root.flushed;
        ms.push(performance.now() - t0);
      }
    } finally {
      await root.close();
    }
    return summarise(ms);
  });
}
