/**
 * Baseline `raw-put`: lmdb-js async puts from one thread of the envelopes the runtime writes for the
 * throughput figure (a `Deposited` per command, round-robin over the same accounts, same key shape
 * `[aggregateType, id, seq]`, same framed msgpackr bytes from `encodeRecord`), committed in batches of
 * the actor host's size (8192) and acknowledged on `flushed` (the runtime's default `sync` durability).
 *
 * Two schedules: `pipelined` (the baseline of the table) issues one batch per event turn without
 * waiting, so lmdb-js overlaps the next commit with the previous flush, and finishes when everything is
 * flushed: the capacity of LMDB from one thread. `serialized` waits for each batch's flush before
 * issuing the next, as the actor host's drain loop does today; the gap between the two is what
 * serialized drains cost at the storage level (see bench/README.md).
 *
 * It is the floor the log could reach if nothing else happened per command: no routing, no thread hop,
 * no decide/evolve, no partition index, no encoding in the timed loop (records are encoded beforehand).
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { encodeRecord } from '../../src/log/lmdb/record-codec.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

export interface RawPutResult {
  events: number;
  seconds: number;
  rate: number;
}

export interface RawPutOptions {
  accounts: number;
  events: number;
  /** Puts per transaction (the actor host's MAX_BATCH is 8192). */
  batch?: number;
}

/** Pre-encoded records and keys, made once and reused across rounds. */
export function rawPutWorkload(o: RawPutOptions): { keys: Array<[string, string, number]>; values: Buffer[] } {
  const keys: Array<[string, string, number]> = new Array(o.events);
  const values: Buffer[] = new Array(o.events);
  const seqs = new Uint32Array(o.accounts).fill(1);
  for (let i = 0; i < o.events; i++) {
    const a = i % o.accounts;
    const id = `acct-${a}`;
    const seq = ++seqs[a]!;
    keys[i] = ['account', id, seq];
    values[i] = encodeRecord(['Deposited', { amount: 1 }, 1_700_000_000_000 + i, 0, i, null], 'events', keys[i]!);
  }
  return { keys, values };
}

export async function rawPut(
  workload: { keys: Array<[string, string, number]>; values: Buffer[] },
  schedule: 'pipelined' | 'serialized' = 'pipelined',
  batch = 8192,
): Promise<RawPutResult> {
  const dir = makeTempDir('raw-put');
  const root = open({ path: join(dir, 'raw.mdb'), maxDbs: 4, noSync: false, useWritemap: false });
  const db = root.openDB<Buffer, Array<string | number>>('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  try {
    const { keys, values } = workload;
    const t0 = performance.now();
    const commits: Array<Promise<boolean>> = [];
    for (let s = 0; s < keys.length; s += batch) {
      let last: Promise<boolean> | null = null;
      const end = Math.min(keys.length, s + batch);
      for (let i = s; i < end; i++) last = db.put(keys[i]!, values[i]!);
      if (schedule === 'serialized') await Promise.all([last, root.flushed]);
      else {
        commits.push(last!);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await Promise.all(commits);
    await root.flushed;
    const seconds = (performance.now() - t0) / 1000;
    return { events: keys.length, seconds, rate: keys.length / seconds };
  } finally {
    await root.close();
    removeTempDir(dir);
  }
}
