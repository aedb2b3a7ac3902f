/**
 * Cost model of one durable Deposit, stage by stage, each timed alone on one thread (microseconds per
 * command), to say where a command's time goes without a profiler's sampling noise:
 *
 *   node --import tsx bench/tools/cost-model.ts [commands=200000]
 *
 * Stages follow the path of `runtime.execute` today: validate + route on the main thread, the command
 * batch across the thread boundary (msgpackr wire), decide + evolve, envelope + record encoding (event,
 * balances row, and the command's share of its partition's index run), the LMDB puts, the reply batch
 * back. The "before" rows time the designs they replaced. Structured clone of the same
 * batches is timed too, as the "before" of the wire change. Numbers are per command, single thread;
 * the runtime spreads them over the main thread and the workers, plus the LMDB write thread.
 */
import { deserialize, serialize } from 'node:v8';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { open } from 'lmdb';
import { accountDecider, type AccountState } from '../../src/domain/account.js';
import { assertValidId, type EventEnvelope } from '../../src/kernel/index.js';
import { encodeRecord } from '../../src/log/lmdb/record-codec.js';
import { partitionOf } from '../../src/partition/index.js';
import { createDecoder, createEncoder } from '../../src/runtime/wire.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

const N = Number(process.argv[2] ?? 200_000);
const BATCH = 4096;
const ids = Array.from({ length: 10_000 }, (_, i) => `acct-${i}`);

function time(label: string, fn: () => void, per = N): [string, number] {
  fn(); // warm
  const t0 = performance.now();
  fn();
  return [label, ((performance.now() - t0) * 1000) / per];
}

async function timeAsync(label: string, fn: () => Promise<void>, per = N): Promise<[string, number]> {
  const t0 = performance.now();
  await fn();
  return [label, ((performance.now() - t0) * 1000) / per];
}

const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: false });
const validate = ajv.compile(accountDecider.commands.Deposit);
const requests = Array.from({ length: BATCH }, (_, i) => ({ rid: i, aggregateType: 'account', id: ids[i % ids.length]!, command: { type: 'Deposit', data: { amount: 1 } }, now: 1_700_000_000_000 }));
const state0: AccountState = { owner: 'owner of acct', balance: 41, open: true };
const envelope = (i: number): EventEnvelope => ({ aggregateType: 'account', stream: ids[i % ids.length]!, type: 'Deposited', seq: 2 + i, data: { amount: 1 }, ts: 1_700_000_000_000 + i, partition: i % 16, offset: i, meta: {} });
const replies = Array.from({ length: BATCH }, (_, i) => ({ rid: i, ok: true, result: { version: 2 + i, events: [envelope(i)], state: { ...state0, balance: 42 + i } } }));
// Today's reply of a one-event commit (protocol.ts WireReply kind 3): [rid, 3, version, state, ts, partition, offset, type, data].
const compact = Array.from({ length: BATCH }, (_, i) => [i, 3, 2 + i, { ...state0, balance: 42 + i }, 1_700_000_000_000 + i, i % 16, i, 'Deposited', { amount: 1 }]);
const compactArrays = Array.from({ length: BATCH }, (_, i) => [i, 1, 2 + i, { ...state0, balance: 42 + i }, 1_700_000_000_000 + i, i % 16, i, ['Deposited'], [{ amount: 1 }]]);

const rows: Array<[string, number]> = [];
rows.push(
  time('main: validate (Ajv) + id check + partitionOf', () => {
    for (let i = 0; i < N; i++) {
      const id = ids[i % ids.length]!;
      if (!validate({ amount: 1 })) throw new Error('invalid');
      assertValidId(id);
      partitionOf(id, 16);
    }
  }),
);
const enc = createEncoder();
const dec = createDecoder();
const rounds = Math.ceil(N / BATCH);
rows.push(time('wire: command batch pack + unpack (msgpackr)', () => { for (let r = 0; r < rounds; r++) dec.unpack(enc.pack(requests)); }, rounds * BATCH));
rows.push(time('  before: command batch structured clone', () => { for (let r = 0; r < rounds; r++) deserialize(serialize(requests)); }, rounds * BATCH));
rows.push(
  time('worker: decide + evolve', () => {
    let s = state0;
    for (let i = 0; i < N; i++) {
      const ev = accountDecider.decide({ type: 'Deposit', data: { amount: 1 } }, s, { now: 0, id: 'x', version: i });
      for (const e of ev) s = accountDecider.evolve(s, e);
    }
  }),
);
const RUN = 256; // a 4096-command drain over 16 partitions: one index run of ~256 refs per partition
rows.push(
  time('worker: envelope + encodeRecord x2 (event, balances row) + 1/256 of an index run', () => {
    let run: Array<[string, string, number]> = [];
    for (let i = 0; i < N; i++) {
      const e = envelope(i);
      encodeRecord([e.type, e.data, e.ts, e.partition, e.offset, null], 'events', [e.aggregateType, e.stream, e.seq]);
      encodeRecord({ owner: 'owner of acct', balance: 42, open: true, version: e.seq, updatedAt: e.ts }, 'view_rows', ['balances', 1, e.stream]);
      run.push([e.aggregateType, e.stream, e.seq]);
      if (run.length === RUN) {
        encodeRecord(run, 'partitions', [0, i]);
        run = [];
      }
    }
  }),
);
rows.push(
  time('  before: envelope + encodeRecord x3 (event, partition ref per event, balances row)', () => {
    for (let i = 0; i < N; i++) {
      const e = envelope(i);
      encodeRecord([e.type, e.data, e.ts, e.partition, e.offset, null], 'events', [e.aggregateType, e.stream, e.seq]);
      encodeRecord([e.aggregateType, e.stream, e.seq], 'partitions', [e.partition, e.offset]);
      encodeRecord({ owner: 'owner of acct', balance: 42, open: true, version: e.seq, updatedAt: e.ts }, 'view_rows', ['balances', 1, e.stream]);
    }
  }),
);
const renc = createEncoder();
const rdec = createDecoder();
const cenc = createEncoder();
const cdec = createDecoder();
rows.push(time('wire: compact reply batch pack + unpack (msgpackr)', () => { for (let r = 0; r < rounds; r++) cdec.unpack(cenc.pack(compact)); }, rounds * BATCH));
rows.push(time('  before: compact replies with type/data arrays', () => { for (let r = 0; r < rounds; r++) cdec.unpack(cenc.pack(compactArrays)); }, rounds * BATCH));
rows.push(time('  before: full-envelope replies, msgpackr', () => { for (let r = 0; r < rounds; r++) rdec.unpack(renc.pack(replies)); }, rounds * BATCH));
rows.push(time('  before: full-envelope replies, structured clone', () => { for (let r = 0; r < rounds; r++) deserialize(serialize(replies)); }, rounds * BATCH));

const dir = makeTempDir('cost-model');
try {
  const root = open({ path: join(dir, 'c.mdb'), maxDbs: 8, noSync: false, useWritemap: false });
  const binary = { encoding: 'binary' as const, keyEncoding: 'ordered-binary' as const };
  const events = root.openDB<Buffer, Array<string | number>>('events', binary);
  const parts = root.openDB<Buffer, Array<string | number>>('partitions', binary);
  const views = root.openDB<Buffer, Array<string | number>>('views', binary);
  const ev = encodeRecord(['Deposited', { amount: 1 }, 1, 0, 0, null], 'events', ['account', 'acct-1', 1]);
  const ref = encodeRecord(['account', 'acct-1', 1], 'partitions', [0, 0]);
  const runValue = encodeRecord(Array.from({ length: RUN }, (_, i) => ['account', ids[i]!, 1]), 'partitions', [0, 0]);
  const row = encodeRecord({ owner: 'owner of acct', balance: 42, open: true, version: 1, updatedAt: 1 }, 'view_rows', ['balances', 1, 'acct-1']);
  const putAll = async (k: number): Promise<void> => {
    const commits: Promise<boolean>[] = [];
    for (let s = 0; s < N; s += 8192) {
      let last: Promise<boolean> | null = null;
      for (let i = s; i < Math.min(N, s + 8192); i++) {
        const id = ids[i % ids.length]!;
        last = events.put([`account${k}`, id, i], ev);
        if (k === 2 || k === 3) last = views.put([`balances${k}`, id], row);
        if (k === 2 && i % RUN === 0) last = parts.put([i % 16, i + k * N], runValue);
        if (k === 3) last = parts.put([i % 16, i + k * N], ref);
      }
      commits.push(last!);
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(commits);
    await root.flushed;
  };
  rows.push(await timeAsync('lmdb: 1 put per command (the raw-put baseline)', () => putAll(1)));
  rows.push(await timeAsync('lmdb: 2 puts per command + 1/256 of an index run (event, view row)', () => putAll(2)));
  rows.push(await timeAsync('  before: 3 puts per command (event, partition ref, view row)', () => putAll(3)));
  await root.close();
} finally {
  removeTempDir(dir);
}

const width = Math.max(...rows.map((r) => r[0].length));
console.log(`per command, ${N} commands, one thread:`);
for (const [label, us] of rows) console.log(`${label.padEnd(width)}  ${us.toFixed(2).padStart(7)} us`);
const main = rows.filter(([l]) => !l.startsWith('  before')).reduce((n, [, us]) => n + us, 0) - rows.find(([l]) => l.startsWith('lmdb: 1'))![1];
console.log(`sum of today's path (excluding the 1-put reference): ${main.toFixed(2)} us -> ${Math.round(1e6 / main).toLocaleString('en-US')} commands/s if it all ran on one core`);
