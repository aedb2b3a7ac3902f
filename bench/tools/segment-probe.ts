/**
 * The segment lever of issue 13, measured at the LMDB level before building it: what does one write
 * transaction of a drain cost when the drain's events are one record (a segment keyed by partition and
 * first offset) instead of one record per event? Each drain is `drain` commands of the bench workload
 * (one Deposit per account, round-robin over `streams` accounts); per command today's LMDB adapter writes
 * the event ([type, id, seq], ~60 B), the `balances` row ([view, generation, id], ~113 B), and per drain
 * one partition-index run. Variants, each timed as one synchronous transaction on this thread:
 * - `today`: event puts + row puts + the index run;
 * - `segment`: one segment put + row puts (the per-stream index left out: it is what a segment design
 *   must still derive, one entry per stream per drain in this workload);
 * - `segment+index`: one segment put + one small per-stream index put per command + row puts;
 * - `events-only`, `segment-only`: without the view rows, to see the rows' share.
 *
 *   node --import tsx bench/tools/segment-probe.ts [drains=200] [drain=4096] [streams=10000]
 *
 * Prints CPU per command of the transaction (no fsync: `noSync`, to isolate the B-tree work from the disk).
 */
import { cpuUsage } from 'node:process';
import { open } from 'lmdb';
import { Packr } from 'msgpackr';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

const drains = Number(process.argv[2] ?? 200);
const drain = Number(process.argv[3] ?? 4096);
const streams = Number(process.argv[4] ?? 10_000);
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
const event = (seq: number) => packr.pack(['Deposited', { amount: 1 }, 1_764_000_000_000 + seq, {}, seq, undefined]);
const row = (seq: number) => packr.pack({ owner: new Uint8Array(57).fill(7), balance: seq, open: true, version: seq, updatedAt: 1_764_000_000_000 + seq });

type Variant = 'today' | 'segment' | 'segment+index' | 'events-only' | 'segment-only';

function run(variant: Variant): number {
  const dir = makeTempDir('segment-probe');
  const env = open({ path: dir, maxDbs: 8, noSync: true, compression: false });
  const events = env.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  const rows = env.openDB('rows', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  const index = env.openDB('index', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  const segments = env.openDB('segments', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  const seqs = new Uint32Array(streams);
  let next = 0;
  let offset = 0;
  let measured = 0;
  let commands = 0;
  try {
    for (let d = 0; d < drains; d++) {
      // Encoding happens before the transaction (the actor host stages first): not timed.
      const batch = Array.from({ length: drain }, () => {
        const s = next++ % streams;
        const seq = ++seqs[s]!;
        return { id: `acc-${String(s).padStart(6, '0')}`, seq, event: event(seq), row: row(seq) };
      });
      const segment = variant.startsWith('segment') ? packr.pack(batch.map((c) => c.event)) : null;
      const c0 = cpuUsage();
      env.transactionSync(() => {
        if (segment) segments.putSync([0, offset], segment);
        for (const c of batch) {
          if (!segment) events.putSync(['account', c.id, c.seq], c.event);
          if (variant === 'segment+index') index.putSync(['account', c.id, c.seq], Buffer.from([offset & 0xff]));
          if (variant !== 'events-only' && variant !== 'segment-only') rows.putSync(['balances', 1, c.id], c.row);
        }
        if (!segment) index.putSync([0, offset], Buffer.alloc(drain * 20));
      });
      const c = cpuUsage(c0);
      offset += drain;
      // The first quarter warms the B-trees up (every stream has events), then is measured.
      if (d >= drains / 4) {
        measured += c.user + c.system;
        commands += drain;
      }
    }
  } finally {
    void env.close();
    removeTempDir(dir);
  }
  return measured / commands;
}

for (const variant of ['today', 'segment', 'segment+index', 'events-only', 'segment-only'] as const) {
  console.log(`${variant.padEnd(14)} ${run(variant).toFixed(2)} us per command in the transaction`);
}
